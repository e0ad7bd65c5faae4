//! The configuration file (TOML): raw form as written, checked once at load, then turned
//! into the limits each layer takes. Every key is documented in `iotw.example.toml`, which
//! `iotw config default` prints; unknown keys are errors naming the file, line and key.

use anyhow::Result;
use iotw_decode::DecodeLimits;
use iotw_flow::defrag::DefragLimits;
use iotw_flow::reassembly::ReassemblyLimits;
use iotw_flow::FlowConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The documented default configuration.
pub const EXAMPLE: &str = include_str!("../../../iotw.example.toml");

pub use iotw_event::Dur;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub capture: CaptureCfg,
    pub flow: FlowCfg,
    pub reassembly: ReassemblyLimits,
    pub defrag: DefragCfg,
    pub decode: DecodeLimits,
    pub http: iotw_decode::http::HttpOptions,
    pub tls: TlsCfg,
    pub output: OutputCfg,
    pub elasticsearch: ElasticCfg,
    pub logstash: LogstashCfg,
    pub spool: SpoolCfg,
    pub anomalies: AnomalyCfg,
    pub genesys: GenesysCfg,
    pub enrich: EnrichCfg,
    pub fireman: FiremanCfg,
}

/// Alert rules (`[fireman]`): ElastAlert 2 rule files, run over every document (docs/fireman.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FiremanCfg {
    /// Rule files, or folders whose `*.yaml`/`*.yml` files are rules; relative to the config file.
    pub rules: Vec<PathBuf>,
    /// Where the rules' memory (windows, baselines, realert timers) is kept across restarts;
    /// empty: not kept. Relative to the config file.
    pub state_file: PathBuf,
    /// How often the memory is saved while a run goes on (besides at its end); 0: at the end only.
    pub save_every: Dur,
    /// Live capture: when no document has come for a second, the rules' clock moves to the
    /// wall clock less this, so a flatline on a network gone quiet still fires.
    pub quiet_lag: Dur,
}

impl Default for FiremanCfg {
    fn default() -> Self {
        FiremanCfg {
            rules: Vec::new(),
            state_file: PathBuf::new(),
            save_every: Dur(60_000_000_000),
            quiet_lag: Dur(5_000_000_000),
        }
    }
}

impl FiremanCfg {
    /// Every rule, read and checked; a mistake names the file, the key and its line.
    pub fn load(&self) -> Result<Vec<iotw_fireman::Rule>, iotw_fireman::RuleError> {
        let mut out = Vec::new();
        for p in &self.rules {
            out.extend(iotw_fireman::load_all(p)?);
        }
        Ok(out)
    }
}

/// TLS decryption (`[tls]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsCfg {
    /// NSS key logs (SSLKEYLOGFILE format) to decrypt with; read again as they grow.
    pub keylog_files: Vec<PathBuf>,
}

/// Which live-capture implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// AF_PACKET on Linux; libpcap/Npcap elsewhere (feature `libpcap`).
    Auto,
    /// libpcap/Npcap even on Linux (needs the `libpcap` feature).
    Libpcap,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureCfg {
    /// Live-capture backend.
    pub backend: Backend,
    /// Interfaces to capture on when none is given with `-i`.
    pub interfaces: Vec<String>,
    /// tcpdump-syntax filter applied in the kernel (live) or before decoding (files).
    pub filter: String,
    /// Bytes kept of each live packet.
    pub snaplen: u32,
    /// AF_PACKET ring: block size in bytes (a power of two, multiple of the page size).
    pub ring_block_size: u32,
    /// AF_PACKET ring: number of blocks.
    pub ring_blocks: u32,
    /// Blocks of frames queued between capture threads and the pipeline (live only).
    pub queue_blocks: usize,
    /// Largest packet accepted from a capture file.
    pub max_file_packet: usize,
    /// Largest pcapng block accepted from a capture file.
    pub max_file_block: usize,
}

impl Default for CaptureCfg {
    fn default() -> Self {
        CaptureCfg {
            backend: Backend::Auto,
            interfaces: Vec::new(),
            filter: String::new(),
            snaplen: 262_144,
            ring_block_size: 1 << 20,
            ring_blocks: 64,
            queue_blocks: 256,
            max_file_packet: 262_144,
            max_file_block: 16 << 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowCfg {
    pub tcp_idle: Dur,
    pub udp_idle: Dur,
    pub signalling_idle: Dur,
    pub other_idle: Dur,
    pub tcp_closed_linger: Dur,
    /// Report long flows this often; "0s" disables periodic reports.
    pub active_report: Dur,
    pub max_flows: usize,
    pub community_id_seed: u16,
}

impl Default for FlowCfg {
    fn default() -> Self {
        let d = FlowConfig::default();
        FlowCfg {
            tcp_idle: Dur(d.tcp_idle),
            udp_idle: Dur(d.udp_idle),
            signalling_idle: Dur(d.signalling_idle),
            other_idle: Dur(d.other_idle),
            tcp_closed_linger: Dur(d.tcp_closed_linger),
            active_report: Dur(d.active_report.unwrap_or(0)),
            max_flows: d.max_flows,
            community_id_seed: d.community_id_seed,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefragCfg {
    pub max_datagram: usize,
    pub max_pending: usize,
    pub max_fragments: usize,
    pub timeout: Dur,
}

impl Default for DefragCfg {
    fn default() -> Self {
        let d = DefragLimits::default();
        DefragCfg {
            max_datagram: d.max_datagram,
            max_pending: d.max_pending,
            max_fragments: d.max_fragments,
            timeout: Dur(d.timeout),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// The embedded SQLite store in the data directory.
    Store,
    /// One JSON document per line.
    Ndjson,
    /// Elasticsearch or OpenSearch (`[elasticsearch]`), through the disk spool (`[spool]`).
    Elasticsearch,
    /// Logstash's beats input (`[logstash]`), through the disk spool (`[spool]`).
    Logstash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogstashProtocol {
    Beats,
    JsonLines,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogstashCfg {
    /// `beats` (lumberjack v2, acknowledged) or `json_lines` (a `tcp` input, one event per line).
    pub protocol: LogstashProtocol,
    /// `host:port` of each Logstash input, used round robin.
    pub hosts: Vec<String>,
    /// Events per window (acknowledged together).
    pub window: usize,
    /// zlib level of the compressed frames, 0 to 9.
    pub compression_level: u32,
    pub timeout: Dur,
    /// Windows in flight at once (a connection each).
    pub concurrency: usize,
    /// TLS on the connections (the input's `ssl_enabled => true`).
    pub tls: bool,
    /// PEM file of the CA certificates that signed the input's certificate; empty: the Mozilla
    /// roots.
    pub ca_file: PathBuf,
    /// PEM files of a client certificate (chain) and its key, for inputs that require one.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Accept any server certificate (encrypted, not authenticated). Logged on every start.
    pub insecure_skip_verify: bool,
}

impl Default for LogstashCfg {
    fn default() -> Self {
        LogstashCfg {
            protocol: LogstashProtocol::Beats,
            hosts: vec!["127.0.0.1:5044".into()],
            window: 2048,
            compression_level: 3,
            timeout: Dur(30_000_000_000),
            concurrency: 1,
            tls: false,
            ca_file: PathBuf::new(),
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            insecure_skip_verify: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexModeCfg {
    /// `<index_prefix>-<dataset>-YYYY.MM.DD`.
    Daily,
    /// Data streams `<index_prefix>-<dataset>`.
    DataStream,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticCfg {
    /// Base URLs of the cluster's nodes, tried in turn when one fails.
    pub urls: Vec<String>,
    pub index_mode: IndexModeCfg,
    pub index_prefix: String,
    /// Basic authentication (both set), or an API key (the base64 `encoded` form).
    pub username: String,
    pub password: String,
    pub api_key: String,
    /// AWS SigV4 (Amazon OpenSearch Service / OpenSearch Serverless) when set: the region...
    pub aws_region: String,
    /// ...the service (`es` for domains, `aoss` for Serverless)...
    pub aws_service: String,
    /// ...and the shared-file profile (empty: `AWS_PROFILE` or `default`).
    pub aws_profile: String,
    /// PEM file of the certificate authorities to trust; empty: the Mozilla roots.
    pub ca_file: PathBuf,
    /// Accept any server certificate (logged as a warning at every start).
    pub insecure_skip_verify: bool,
    pub gzip: bool,
    /// A bulk request carries at most this many documents and about this many bytes.
    pub max_documents: usize,
    pub max_bytes: usize,
    /// How long spooled documents wait for more before being sent.
    pub flush_interval: Dur,
    /// Bulk requests in flight at once.
    pub concurrency: usize,
    pub timeout: Dur,
    /// Backoff before sending again: from `retry_initial`, doubling, at most `retry_max`.
    pub retry_initial: Dur,
    pub retry_max: Dur,
    /// Documents the server refuses for good (mapping conflicts); empty: `<data_dir>/dead-letter.ndjson`.
    pub dead_letter_path: PathBuf,
    /// Reading files: how long to wait at the end for everything to be delivered ("0s": no
    /// limit); what is left stays in the spool for the next run.
    pub drain_timeout: Dur,
}

impl std::fmt::Debug for ElasticCfg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs: only whether they are set.
        let secret = |s: &str| if s.is_empty() { "" } else { "***" };
        f.debug_struct("ElasticCfg")
            .field("urls", &self.urls)
            .field("index_mode", &self.index_mode)
            .field("index_prefix", &self.index_prefix)
            .field("username", &self.username)
            .field("password", &secret(&self.password))
            .field("api_key", &secret(&self.api_key))
            .field("aws_region", &self.aws_region)
            .field("aws_service", &self.aws_service)
            .field("aws_profile", &self.aws_profile)
            .field("ca_file", &self.ca_file)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("gzip", &self.gzip)
            .field("max_documents", &self.max_documents)
            .field("max_bytes", &self.max_bytes)
            .field("flush_interval", &self.flush_interval)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field("retry_initial", &self.retry_initial)
            .field("retry_max", &self.retry_max)
            .field("dead_letter_path", &self.dead_letter_path)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

impl Default for ElasticCfg {
    fn default() -> Self {
        ElasticCfg {
            urls: vec!["http://127.0.0.1:9200".into()],
            index_mode: IndexModeCfg::Daily,
            index_prefix: "iotw".into(),
            username: String::new(),
            password: String::new(),
            api_key: String::new(),
            aws_region: String::new(),
            aws_service: "es".into(),
            aws_profile: String::new(),
            ca_file: PathBuf::new(),
            insecure_skip_verify: false,
            gzip: true,
            max_documents: 1000,
            max_bytes: 5 << 20,
            flush_interval: Dur(1_000_000_000),
            concurrency: 2,
            timeout: Dur(60_000_000_000),
            retry_initial: Dur(500_000_000),
            retry_max: Dur(30_000_000_000),
            dead_letter_path: PathBuf::new(),
            drain_timeout: Dur(0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncCfg {
    Always,
    Interval,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFullCfg {
    Block,
    DropNewest,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolCfg {
    /// Where the spool lives; empty: `<data_dir>/spool`.
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub segment_bytes: u64,
    pub fsync: FsyncCfg,
    pub fsync_interval: Dur,
    pub when_full: WhenFullCfg,
}

impl Default for SpoolCfg {
    fn default() -> Self {
        SpoolCfg {
            dir: PathBuf::new(),
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            fsync: FsyncCfg::Interval,
            fsync_interval: Dur(1_000_000_000),
            when_full: WhenFullCfg::Block,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputCfg {
    pub kind: OutputKind,
    pub data_dir: PathBuf,
    /// NDJSON destination: a file path, or "-" for standard output.
    pub ndjson_path: String,
    /// NDJSON as Elasticsearch bulk lines (action + document).
    pub bulk: bool,
    pub bulk_index_prefix: String,
    /// Documents per batch handed to the sink.
    pub batch_size: usize,
    /// Batches queued between the pipeline and the sink.
    pub queue_batches: usize,
}

impl Default for OutputCfg {
    fn default() -> Self {
        OutputCfg {
            kind: OutputKind::Store,
            data_dir: PathBuf::from("./iotw-data"),
            ndjson_path: "-".into(),
            bulk: false,
            bulk_index_prefix: "iotw".into(),
            batch_size: 256,
            queue_batches: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyCfg {
    /// Anomaly documents per reason code per second of packet time; the rest are counted only.
    pub max_documents_per_second: u32,
}

impl Default for AnomalyCfg {
    fn default() -> Self {
        AnomalyCfg { max_documents_per_second: 100 }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenesysCfg {
    /// A wire profile file (TOML, from `iotw genesys calibrate`); empty: the built-in one.
    /// A relative path is relative to the config file.
    pub profile: PathBuf,
    /// The profile loaded from `profile` (or the built-in one).
    #[serde(skip)]
    pub wire: iotw_decode::genesys::WireProfile,
}

/// Enrichment on the agent (`[enrich]`): geotagging and masking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichCfg {
    /// Place phone numbers (UK dialling codes) and UK postcodes.
    pub geotag: bool,
    /// Digits dialled for an outside line before a number (e.g. "9").
    pub outside_line: String,
    /// More text fields (dotted names) searched for UK postcodes, besides attached data.
    pub postcode_fields: Vec<String>,
    pub ip: IpGeoCfg,
    /// Private address ranges and where they are.
    pub sites: Vec<SiteCfg>,
    pub mask: MaskCfg,
}

impl Default for EnrichCfg {
    fn default() -> Self {
        EnrichCfg {
            geotag: true,
            outside_line: String::new(),
            postcode_fields: Vec::new(),
            ip: IpGeoCfg::default(),
            sites: Vec::new(),
            mask: MaskCfg::default(),
        }
    }
}

/// IP geolocation databases (`[enrich.ip]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpGeoCfg {
    /// MaxMind DBs with cities or countries (GeoIP2, GeoLite2, DB-IP Lite), asked in order.
    pub city_databases: Vec<PathBuf>,
    /// MaxMind DBs with autonomous systems, asked in order.
    pub asn_databases: Vec<PathBuf>,
}

/// One row of the site table (`[[enrich.sites]]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteCfg {
    pub cidr: String,
    pub name: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// Masking of personal data (`[enrich.mask]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskCfg {
    /// "off", "standard" or "strict".
    pub preset: String,
    /// The site's hashing secret (every agent of a site the same), or a file holding it.
    pub secret: String,
    pub secret_file: PathBuf,
    /// Per-kind actions over the preset: "keep", "hash", "truncate" or "drop" ("" = preset's).
    pub phone: String,
    pub postcode: String,
    pub user_data: String,
    /// Per field (dotted name, `*` for one segment) over everything else.
    pub fields: std::collections::BTreeMap<String, String>,
}

impl Default for MaskCfg {
    fn default() -> Self {
        MaskCfg {
            preset: "off".into(),
            secret: String::new(),
            secret_file: PathBuf::new(),
            phone: String::new(),
            postcode: String::new(),
            user_data: String::new(),
            fields: Default::default(),
        }
    }
}

/// A mistake in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Finds the line where `section.key` is set, for validation errors.
fn locate(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(s) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = s.trim().to_owned();
        } else if current == section && t.split('=').next().is_some_and(|k| k.trim() == key) {
            return Some(i + 1);
        }
    }
    None
}

/// Parses and validates a config text. All mistakes name their key and line.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let cfg: Config = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        ConfigError { path: path.to_owned(), line, column, key: None, message: e.message().trim().to_owned() }
    })?;
    let problems = validate(&cfg);
    if let Some((section, key, message)) = problems.into_iter().next() {
        return Err(ConfigError {
            path: path.to_owned(),
            line: locate(text, section, key),
            column: None,
            key: Some(format!("{section}.{key}")),
            message,
        });
    }
    let mut cfg = cfg;
    if !cfg.genesys.profile.as_os_str().is_empty() {
        let file = path.parent().unwrap_or(Path::new(".")).join(&cfg.genesys.profile);
        let err = |message: String| ConfigError {
            path: path.to_owned(),
            line: locate(text, "genesys", "profile"),
            column: None,
            key: Some("genesys.profile".into()),
            message,
        };
        let profile_text = std::fs::read_to_string(&file).map_err(|e| err(format!("{}: {e}", file.display())))?;
        cfg.genesys.wire = iotw_decode::genesys::WireProfile::parse(&profile_text)
            .map_err(|e| err(format!("{}: {e}", file.display())))?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    for p in cfg.fireman.rules.iter_mut().chain([&mut cfg.fireman.state_file]) {
        if !p.as_os_str().is_empty() && p.is_relative() {
            *p = dir.join(&*p);
        }
    }
    if let Err(e) = cfg.fireman.load() {
        return Err(ConfigError {
            path: path.into(),
            line: locate(text, "fireman", "rules"),
            column: None,
            key: Some("fireman.rules".into()),
            message: e.to_string(),
        });
    }
    let ip = &mut cfg.enrich.ip;
    for p in ip.city_databases.iter_mut().chain(ip.asn_databases.iter_mut()).chain([&mut cfg.enrich.mask.secret_file]) {
        if !p.as_os_str().is_empty() && p.is_relative() {
            *p = dir.join(&*p);
        }
    }
    Ok(cfg)
}

pub fn load(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(parse(path, &text)?)
}

/// Range checks that the types cannot express: `(section, key, message)`.
fn validate(c: &Config) -> Vec<(&'static str, &'static str, String)> {
    let mut p = Vec::new();
    let mut positive = |section, key, v: usize| {
        if v == 0 {
            p.push((section, key, "must be greater than 0".to_owned()));
        }
    };
    positive("flow", "max_flows", c.flow.max_flows);
    positive("reassembly", "max_segments_per_stream", c.reassembly.max_segments_per_stream);
    positive("defrag", "max_pending", c.defrag.max_pending);
    positive("defrag", "max_fragments", c.defrag.max_fragments);
    positive("decode", "max_message", c.decode.max_message);
    positive("decode", "max_probe", c.decode.max_probe);
    positive("http", "max_head", c.http.max_head);
    positive("output", "batch_size", c.output.batch_size);
    positive("output", "queue_batches", c.output.queue_batches);
    positive("capture", "queue_blocks", c.capture.queue_blocks);
    positive("elasticsearch", "max_documents", c.elasticsearch.max_documents);
    positive("elasticsearch", "max_bytes", c.elasticsearch.max_bytes);
    positive("elasticsearch", "concurrency", c.elasticsearch.concurrency);
    positive("logstash", "window", c.logstash.window);
    positive("logstash", "concurrency", c.logstash.concurrency);
    if let Err((key, e)) = crate::enrichment::policy(&c.enrich) {
        p.push(("enrich.mask", key, e));
    }
    for s in &c.enrich.sites {
        if let Err(e) = iotw_enrich::ipgeo::Site::new(&s.cidr, &s.name, None) {
            p.push(("enrich.sites", "cidr", e.to_string()));
        }
        if s.lat.is_some() != s.lon.is_some() {
            p.push(("enrich.sites", "lat", "lat and lon go together".to_owned()));
        }
    }
    if c.elasticsearch.urls.is_empty() {
        p.push(("elasticsearch", "urls", "needs at least one URL".to_owned()));
    }
    for u in &c.elasticsearch.urls {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            p.push(("elasticsearch", "urls", format!("{u}: must start with http:// or https://")));
        }
    }
    if c.elasticsearch.username.is_empty() != c.elasticsearch.password.is_empty() {
        p.push(("elasticsearch", "username", "username and password go together".to_owned()));
    }
    if !c.elasticsearch.username.is_empty() && !c.elasticsearch.api_key.is_empty() {
        p.push(("elasticsearch", "api_key", "give an API key or a username and password, not both".to_owned()));
    }
    for (key, d) in [("timeout", c.elasticsearch.timeout), ("retry_initial", c.elasticsearch.retry_initial)] {
        if d.0 <= 0 {
            p.push(("elasticsearch", key, "must be longer than 0s".to_owned()));
        }
    }
    if !matches!(c.elasticsearch.aws_service.as_str(), "es" | "aoss") {
        p.push(("elasticsearch", "aws_service", "must be \"es\" (domains) or \"aoss\" (Serverless)".to_owned()));
    }
    if !c.elasticsearch.aws_region.is_empty()
        && (!c.elasticsearch.username.is_empty() || !c.elasticsearch.api_key.is_empty())
    {
        p.push((
            "elasticsearch",
            "aws_region",
            "AWS signing replaces basic authentication and API keys: give one".to_owned(),
        ));
    }
    if c.elasticsearch.retry_max.0 < c.elasticsearch.retry_initial.0 {
        p.push(("elasticsearch", "retry_max", "must be at least retry_initial".to_owned()));
    }
    if c.logstash.compression_level > 9 {
        p.push(("logstash", "compression_level", "must be 0 to 9".to_owned()));
    }
    if c.logstash.hosts.is_empty() || c.logstash.hosts.iter().any(|h| !h.contains(':')) {
        p.push(("logstash", "hosts", "needs host:port entries".to_owned()));
    }
    if c.logstash.cert_file.as_os_str().is_empty() != c.logstash.key_file.as_os_str().is_empty() {
        p.push(("logstash", "cert_file", "cert_file and key_file go together".to_owned()));
    }
    if !c.logstash.tls
        && (!c.logstash.ca_file.as_os_str().is_empty()
            || !c.logstash.cert_file.as_os_str().is_empty()
            || c.logstash.insecure_skip_verify)
    {
        p.push(("logstash", "tls", "ca_file, cert_file and insecure_skip_verify need tls = true".to_owned()));
    }
    if c.logstash.insecure_skip_verify && !c.logstash.ca_file.as_os_str().is_empty() {
        p.push(("logstash", "insecure_skip_verify", "a ca_file is not checked when verification is off".to_owned()));
    }
    if c.spool.segment_bytes == 0 || c.spool.max_bytes < c.spool.segment_bytes {
        p.push(("spool", "max_bytes", "must be at least segment_bytes, which must be greater than 0".to_owned()));
    }
    if c.decode.max_depth > 24 {
        // Documents nest at most 32 objects deep, and decoded structures sit a few levels in.
        p.push(("decode", "max_depth", "must be at most 24".to_owned()));
    }
    for (key, d) in [
        ("tcp_idle", c.flow.tcp_idle),
        ("udp_idle", c.flow.udp_idle),
        ("signalling_idle", c.flow.signalling_idle),
        ("other_idle", c.flow.other_idle),
    ] {
        if d.0 <= 0 {
            p.push(("flow", key, "must be longer than 0s".to_owned()));
        }
    }
    if c.defrag.timeout.0 <= 0 {
        p.push(("defrag", "timeout", "must be longer than 0s".to_owned()));
    }
    if c.defrag.max_datagram > 65_535 {
        p.push(("defrag", "max_datagram", "cannot exceed 65535 (jumbograms are not reassembled)".to_owned()));
    }
    let bs = c.capture.ring_block_size;
    if !bs.is_power_of_two() || bs < 4096 {
        p.push(("capture", "ring_block_size", "must be a power of two of at least 4096".to_owned()));
    }
    if c.capture.ring_blocks == 0 {
        p.push(("capture", "ring_blocks", "must be greater than 0".to_owned()));
    }
    if c.capture.snaplen < 64 {
        p.push(("capture", "snaplen", "must be at least 64".to_owned()));
    }
    if c.capture.snaplen as u64 >= bs as u64 {
        p.push(("capture", "snaplen", format!("must be smaller than ring_block_size ({bs})")));
    }
    if let Err(e) = iotw_capture::filter::parse(&c.capture.filter) {
        p.push(("capture", "filter", e.to_string()));
    }
    p
}

impl Config {
    pub fn flow_config(&self) -> FlowConfig {
        FlowConfig {
            tcp_idle: self.flow.tcp_idle.0,
            udp_idle: self.flow.udp_idle.0,
            signalling_idle: self.flow.signalling_idle.0,
            other_idle: self.flow.other_idle.0,
            tcp_closed_linger: self.flow.tcp_closed_linger.0,
            active_report: (self.flow.active_report.0 > 0).then_some(self.flow.active_report.0),
            max_flows: self.flow.max_flows,
            community_id_seed: self.flow.community_id_seed,
            reassembly: self.reassembly,
            defrag: DefragLimits {
                max_datagram: self.defrag.max_datagram,
                max_pending: self.defrag.max_pending,
                max_fragments: self.defrag.max_fragments,
                timeout: self.defrag.timeout.0,
            },
        }
    }

    pub fn decode_limits(&self) -> DecodeLimits {
        self.decode
    }

    pub fn file_limits(&self) -> iotw_capture::FileLimits {
        iotw_capture::FileLimits { max_packet: self.capture.max_file_packet, max_block: self.capture.max_file_block }
    }

    /// The Elasticsearch client's settings.
    pub fn elastic(&self) -> iotw_ship::elastic::ElasticConfig {
        use iotw_ship::elastic::{Auth, IndexMode};
        let e = &self.elasticsearch;
        let dur = |d: Dur| std::time::Duration::from_nanos(u64::try_from(d.0).unwrap_or(0));
        let prefix = e.index_prefix.clone();
        iotw_ship::elastic::ElasticConfig {
            urls: e.urls.clone(),
            auth: if !e.aws_region.is_empty() {
                Auth::Aws(iotw_ship::aws::AwsConfig {
                    region: e.aws_region.clone(),
                    service: e.aws_service.clone(),
                    profile: (!e.aws_profile.is_empty()).then(|| e.aws_profile.clone()),
                })
            } else if !e.api_key.is_empty() {
                Auth::ApiKey(e.api_key.clone())
            } else if !e.username.is_empty() {
                Auth::Basic { username: e.username.clone(), password: e.password.clone() }
            } else {
                Auth::None
            },
            ca_file: (!e.ca_file.as_os_str().is_empty()).then(|| e.ca_file.clone()),
            insecure: e.insecure_skip_verify,
            gzip: e.gzip,
            index: match e.index_mode {
                IndexModeCfg::Daily => IndexMode::Daily { prefix },
                IndexModeCfg::DataStream => IndexMode::DataStream { prefix },
            },
            max_documents: e.max_documents,
            max_bytes: e.max_bytes,
            flush_interval: dur(e.flush_interval),
            concurrency: e.concurrency,
            timeout: dur(e.timeout),
            retry_initial: dur(e.retry_initial),
            retry_max: dur(e.retry_max),
            dead_letter: if e.dead_letter_path.as_os_str().is_empty() {
                self.output.data_dir.join("dead-letter.ndjson")
            } else {
                e.dead_letter_path.clone()
            },
        }
    }

    /// The Logstash sender's settings (retries as `[elasticsearch]`'s); reading the TLS files
    /// can fail.
    pub fn logstash(&self) -> Result<iotw_ship::logstash::LogstashConfig, String> {
        let dur = |d: Dur| std::time::Duration::from_nanos(u64::try_from(d.0).unwrap_or(0));
        let l = &self.logstash;
        let path = |p: &PathBuf| (!p.as_os_str().is_empty()).then(|| p.clone());
        let tls = if l.tls {
            let settings = iotw_ship::tls::TlsSettings {
                ca_file: path(&l.ca_file),
                client_cert: path(&l.cert_file).zip(path(&l.key_file)),
                insecure: l.insecure_skip_verify,
            };
            Some(iotw_ship::tls::client_config(&settings)?)
        } else {
            None
        };
        Ok(iotw_ship::logstash::LogstashConfig {
            hosts: l.hosts.clone(),
            window: l.window,
            compression_level: l.compression_level,
            timeout: dur(l.timeout),
            retry_initial: dur(self.elasticsearch.retry_initial),
            retry_max: dur(self.elasticsearch.retry_max),
            concurrency: l.concurrency,
            index_prefix: self.elasticsearch.index_prefix.clone(),
            tls,
        })
    }

    /// The disk spool of a network sink named `sink`.
    pub fn spool(&self, sink: &str) -> (PathBuf, iotw_ship::spool::SpoolConfig) {
        use iotw_ship::spool::{Fsync, SpoolConfig, WhenFull};
        let s = &self.spool;
        let dir = if s.dir.as_os_str().is_empty() { self.output.data_dir.join("spool") } else { s.dir.clone() };
        let cfg = SpoolConfig {
            max_bytes: s.max_bytes,
            segment_bytes: s.segment_bytes,
            fsync: match s.fsync {
                FsyncCfg::Always => Fsync::Always,
                FsyncCfg::Interval => {
                    Fsync::Every(std::time::Duration::from_nanos(u64::try_from(s.fsync_interval.0).unwrap_or(0)))
                }
                FsyncCfg::Never => Fsync::Never,
            },
            when_full: match s.when_full {
                WhenFullCfg::Block => WhenFull::Block,
                WhenFullCfg::DropNewest => WhenFull::DropNewest,
            },
        };
        (dir.join(sink), cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("t.toml"), text)
    }

    #[test]
    fn the_example_is_valid_and_equals_the_defaults() {
        let c = check(EXAMPLE).unwrap();
        let d = Config::default();
        assert_eq!(format!("{c:?}"), format!("{d:?}"), "iotw.example.toml must state the defaults");
    }

    #[test]
    fn every_key_of_the_example_is_documented() {
        let mut comment = false;
        for (i, line) in EXAMPLE.lines().enumerate() {
            let t = line.trim();
            if t.starts_with('#') {
                comment = true;
            } else if t.contains('=') {
                assert!(comment, "line {}: `{t}` has no comment above it", i + 1);
                comment = false;
            } else if t.starts_with('[') {
                comment = false;
            }
        }
    }

    #[test]
    fn enrichment_mistakes_name_their_key() {
        let e = check("[enrich.mask]\npreset = \"standard\"\nphone = \"scramble\"\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("enrich.mask.phone"), Some(3)), "{e}");
        let e = check("[enrich.mask]\npreset = \"medium\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("enrich.mask.preset"), "{e}");
        let e = check("[[enrich.sites]]\ncidr = \"10.0.0.0/33\"\nname = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
        let ok = check(
            "[enrich.mask]\npreset = \"strict\"\n[enrich.mask.fields]\n\"genesys.user_data.Segment\" = \"keep\"\n",
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = check("[flow]\ntcp_idle = \"5m\"\nmax_flow = 10\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.to_string().starts_with("t.toml:3:1: unknown field `max_flow`"), "{e}");
    }

    #[test]
    fn bad_duration_and_range_name_their_key() {
        let e = check("[flow]\n\nudp_idle = \"5 parsecs\"\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("duration"), "{e}");
        let e = check("[output]\nbatch_size = 0\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("output.batch_size")));
        let e = check("[decode]\nmax_depth = 100\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("decode.max_depth")), "{e}");
        let e = check("[genesys]\nprofile = \"no-such-profile.toml\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("genesys.profile"), "{e}");
        let e = check("[capture]\nfilter = \"port 99999\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("capture.filter"), "{e}");
    }

    #[test]
    fn logstash_tls_settings_that_cannot_work_are_refused() {
        let e = check("[logstash]\nca_file = \"ca.pem\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (None, Some("logstash.tls")), "{e}");
        let e = check("[logstash]\ntls = true\ncert_file = \"c.pem\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("logstash.cert_file"), "{e}");
        let c = check("[logstash]\ntls = true\nca_file = \"/no/such/ca.pem\"\n").unwrap_or_else(|e| panic!("{e}"));
        let e = c.logstash().unwrap_err();
        assert!(e.contains("/no/such/ca.pem"), "reading the file fails naming it: {e}");
    }
}
