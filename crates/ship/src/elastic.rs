//! Elasticsearch and OpenSearch: documents from the [`Spool`] to `_bulk`, with the `create`
//! action and each document's deterministic `_id`, so that a retry never makes a second copy.
//!
//! Per item of a bulk answer: 200/201 stored; 409 already stored (a success); 429 and 5xx
//! sent again after a backoff; any other status (a mapping conflict, a bad value) written to
//! the dead-letter file with the server's reason, and counted — never dropped in silence. A
//! request that fails as a whole (no connection, timeout, 429, 5xx, 401/403...) is sent again
//! after a backoff (exponential, with jitter), to the next endpoint that is not resting; a
//! 413 splits it. A spool claim is acknowledged only when every one of its documents is
//! stored, already there, or dead-lettered.
//!
//! Server flavour (Elasticsearch 7/8/9, OpenSearch 1/2/3) is read from `GET /`. Daily
//! indices `<prefix>-<dataset>-YYYY.MM.DD`, or data streams `<prefix>-<dataset>` (which need
//! Elasticsearch 7.9+ or OpenSearch).
//!
//! AWS SigV4 signing is [`crate::aws`]'s. Not here yet: index templates (`iotw setup`).

use crate::spool::{decode_batch, Claim, Spool, SpooledDoc};
use crate::ShipCounters;
use base64::Engine;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to reach the cluster and what to send it.
#[derive(Debug, Clone)]
pub struct ElasticConfig {
    /// Base URLs (`http://host:9200`), tried in turn when one fails.
    pub urls: Vec<String>,
    pub auth: Auth,
    /// PEM file of the certificate authorities to trust (else the Mozilla roots).
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. Loudly logged by the caller.
    pub insecure: bool,
    pub gzip: bool,
    pub index: IndexMode,
    pub max_documents: usize,
    pub max_bytes: usize,
    /// How long a worker waits for spooled documents before sending what it has.
    pub flush_interval: Duration,
    /// Bulk requests in flight at once.
    pub concurrency: usize,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub dead_letter: PathBuf,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic {
        username: String,
        password: String,
    },
    /// The `id:key` pair base64-encoded, as Elasticsearch hands it out (`encoded`).
    ApiKey(String),
    /// AWS SigV4 (Amazon OpenSearch Service, OpenSearch Serverless).
    Aws(crate::aws::AwsConfig),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs.
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(***)"),
            Auth::Aws(a) => write!(f, "Aws({}, {})", a.region, a.service),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexMode {
    Daily { prefix: String },
    DataStream { prefix: String },
}

impl IndexMode {
    /// Where a document goes.
    pub fn target(&self, dataset: &str, ts: i64) -> String {
        match self {
            IndexMode::Daily { prefix } => crate::index_for(prefix, dataset, ts),
            IndexMode::DataStream { prefix } => format!("{prefix}-{dataset}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    Elasticsearch,
    OpenSearch,
}

/// What answered `GET /`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavour {
    pub distribution: Distribution,
    pub version: String,
    pub major: u32,
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.distribution {
            Distribution::Elasticsearch => "Elasticsearch",
            Distribution::OpenSearch => "OpenSearch",
        };
        write!(f, "{name} {}", self.version)
    }
}

impl Flavour {
    /// Reads the answer to `GET /`.
    pub fn from_root(body: &[u8]) -> Option<Flavour> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let version = v.get("version")?;
        let number = version.get("number")?.as_str()?.to_owned();
        let major = number.split('.').next()?.parse().ok()?;
        let distribution = match version.get("distribution").and_then(|d| d.as_str()) {
            Some("opensearch") => Distribution::OpenSearch,
            _ => Distribution::Elasticsearch,
        };
        Some(Flavour { distribution, version: number, major })
    }

    /// Whether data streams can be written.
    pub fn has_data_streams(&self) -> bool {
        let minor = self.version.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        match self.distribution {
            Distribution::OpenSearch => true,
            Distribution::Elasticsearch => self.major > 7 || (self.major == 7 && minor >= 9),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ElasticError {
    #[error("{url}: {detail}")]
    Request { url: String, detail: String },
    #[error("CA file {path}")]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA file {path}: {detail}")]
    BadCa { path: PathBuf, detail: String },
    #[error("dead-letter file {path}")]
    DeadLetter {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// One endpoint and when it may be tried again after failing.
#[derive(Debug)]
struct Endpoint {
    url: String,
    rest_until: Option<Instant>,
    failures: u32,
}

/// A client for one cluster (several endpoints).
#[derive(Debug)]
pub struct Elastic {
    cfg: ElasticConfig,
    agent: ureq::Agent,
    endpoints: Mutex<Vec<Endpoint>>,
    next: AtomicUsize,
    dead_letter: Mutex<Option<std::fs::File>>,
    counters: Arc<ShipCounters>,
    aws: Option<crate::aws::AwsSigner>,
}

/// The answer to one HTTP request.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Largest answer read (a bulk answer lists every item).
const MAX_ANSWER: u64 = 256 << 20;

/// What became of a document in a bulk answer.
enum Outcome {
    Stored,
    Duplicate,
    Retry,
    Dead { status: u16, error: serde_json::Value },
}

impl Elastic {
    pub fn new(cfg: ElasticConfig, counters: Arc<ShipCounters>) -> Result<Elastic, ElasticError> {
        if cfg.urls.is_empty() {
            return Err(ElasticError::Config("elasticsearch.urls is empty".into()));
        }
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(cfg.insecure);
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|source| ElasticError::Ca { path: path.clone(), source })?;
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(ElasticError::BadCa { path: path.clone(), detail: "no certificate in it".into() });
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(cfg.timeout))
            .user_agent(concat!("iotw/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .into();
        let endpoints = cfg.urls.iter().map(|u| Endpoint {
            url: u.trim_end_matches('/').to_owned(),
            rest_until: None,
            failures: 0,
        });
        let aws = match &cfg.auth {
            Auth::Aws(a) => Some(crate::aws::AwsSigner::new(a.clone())),
            _ => None,
        };
        Ok(Elastic {
            aws,
            endpoints: Mutex::new(endpoints.collect()),
            agent,
            next: AtomicUsize::new(0),
            dead_letter: Mutex::new(None),
            counters,
            cfg,
        })
    }

    /// Asks each endpoint in turn what it is; the first answer wins.
    pub fn detect(&self) -> Result<Flavour, ElasticError> {
        let mut last = None;
        for url in self.urls() {
            match self.request("GET", &url, "/", None) {
                Ok(a) if a.status == 200 => {
                    return Flavour::from_root(&a.body).ok_or_else(|| ElasticError::Request {
                        url,
                        detail: format!("GET / answered what is not a cluster: {}", excerpt(&a.body)),
                    })
                }
                Ok(a) => last = Some(ElasticError::Request { url, detail: format!("GET /: HTTP {}", a.status) }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ElasticError::Config("no endpoint".into())))
    }

    /// One request to the cluster (an endpoint picked as for shipping): its HTTP status and
    /// body. For callers other than shipping (Fireman's Elasticsearch mode).
    pub fn call(&self, method: &str, path: &str, json: Option<&[u8]>) -> Result<(u16, Vec<u8>), ElasticError> {
        let url = self.pick();
        let a = self.request(method, &url, path, json.map(|b| (b, "application/json", false)))?;
        Ok((a.status, a.body))
    }

    fn urls(&self) -> Vec<String> {
        self.lock_endpoints().iter().map(|e| e.url.clone()).collect()
    }

    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, Vec<Endpoint>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next endpoint not resting (round robin), or the one resting least long.
    fn pick(&self) -> String {
        let eps = self.lock_endpoints();
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = eps.len().max(1);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| eps.get(i).is_some_and(|e| e.rest_until.is_none_or(|t| t <= now)))
            .or_else(|| (0..eps.len()).min_by_key(|&i| eps.get(i).and_then(|e| e.rest_until)))
            .and_then(|i| eps.get(i))
            .map(|e| e.url.clone())
            .unwrap_or_default()
    }

    fn mark(&self, url: &str, ok: bool) {
        let mut eps = self.lock_endpoints();
        if let Some(e) = eps.iter_mut().find(|e| e.url == url) {
            if ok {
                e.failures = 0;
                e.rest_until = None;
            } else {
                e.failures = e.failures.saturating_add(1);
                e.rest_until = Some(Instant::now() + backoff(self.cfg.retry_initial, self.cfg.retry_max, e.failures));
            }
        }
    }

    /// One request; a body is `(bytes, content type, gzip-compressed)`.
    fn request(
        &self,
        method: &str,
        base: &str,
        path: &str,
        body: Option<(&[u8], &str, bool)>,
    ) -> Result<Answer, ElasticError> {
        let url = format!("{base}{path}");
        let err = |detail: String| ElasticError::Request { url: base.to_owned(), detail };
        let auth = match &self.cfg.auth {
            Auth::None | Auth::Aws(_) => None,
            Auth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Auth::ApiKey(k) => Some(format!("ApiKey {k}")),
        };
        let mut headers: Vec<(&str, String)> = Vec::new();
        if let Some((_, content_type, gzip)) = body {
            headers.push(("Content-Type", content_type.into()));
            if gzip {
                headers.push(("Content-Encoding", "gzip".into()));
            }
        }
        let body = body.map(|b| b.0);
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let mut signed = Vec::new();
        if let Some(signer) = &self.aws {
            let plain: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            signed = signer.sign(method, &url, &plain, body.unwrap_or_default()).map_err(|e| err(e.to_string()))?;
        }
        let all =
            headers.iter().map(|(k, v)| (*k, v.as_str())).chain(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let result = if method == "GET" {
            let mut r = self.agent.get(&url);
            for (k, v) in all {
                r = r.header(k, v);
            }
            r.call()
        } else if method == "PUT" {
            let mut r = self.agent.put(&url);
            for (k, v) in all {
                r = r.header(k, v);
            }
            r.send(body.unwrap_or_default())
        } else {
            let mut r = self.agent.post(&url);
            for (k, v) in all {
                r = r.header(k, v);
            }
            r.send(body.unwrap_or_default())
        };
        let mut resp = result.map_err(|e| err(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| err(e.to_string()))?;
        Ok(Answer { status, body })
    }

    /// Delivers one claim: every document stored, already there, or dead-lettered. `false`
    /// when `stop` was set first (the claim stays in the spool).
    fn deliver(&self, claim: &Claim, stop: &AtomicBool) -> bool {
        let mut docs = Vec::new();
        for r in &claim.records {
            match decode_batch(r) {
                Ok(d) => docs.extend(d),
                Err(e) => {
                    // Damaged in a way the CRC did not catch: nothing to send.
                    self.counters.note_error(format!("spool record unreadable: {e}"));
                }
            }
        }
        // Requests of at most max_documents and max_bytes.
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        let (mut cur, mut bytes) = (Vec::new(), 0);
        for (i, d) in docs.iter().enumerate() {
            if !cur.is_empty() && (cur.len() >= self.cfg.max_documents || bytes + d.json.len() > self.cfg.max_bytes) {
                chunks.push(std::mem::take(&mut cur));
                bytes = 0;
            }
            bytes += d.json.len() + 64;
            cur.push(i);
        }
        if !cur.is_empty() {
            chunks.push(cur);
        }
        chunks.into_iter().all(|c| self.send(&docs, c, stop))
    }

    /// Sends `pending` (indices into `docs`) until each is resolved.
    fn send(&self, docs: &[SpooledDoc<'_>], mut pending: Vec<usize>, stop: &AtomicBool) -> bool {
        let mut attempt = 0u32;
        while !pending.is_empty() {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let body = self.bulk_body(docs, &pending);
            let url = self.pick();
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            match self.request("POST", &url, "/_bulk", Some((&body, "application/x-ndjson", self.cfg.gzip))) {
                Ok(a) if a.status == 200 => match bulk_outcomes(&a.body, pending.len()) {
                    Some(outcomes) => {
                        self.mark(&url, true);
                        let mut retry = Vec::new();
                        for (&i, o) in pending.iter().zip(outcomes) {
                            match o {
                                Outcome::Stored => self.counters.stored.fetch_add(1, Ordering::Relaxed),
                                Outcome::Duplicate => self.counters.duplicates.fetch_add(1, Ordering::Relaxed),
                                Outcome::Retry => {
                                    retry.push(i);
                                    0
                                }
                                Outcome::Dead { status, error } => {
                                    if let Some(d) = docs.get(i) {
                                        if !self.dead_letter(d, status, &error) {
                                            retry.push(i);
                                        }
                                    }
                                    0
                                }
                            };
                        }
                        if !retry.is_empty() {
                            self.counters.retried.fetch_add(retry.len() as u64, Ordering::Relaxed);
                            self.counters.note_error(format!("{} documents refused for now (429/5xx)", retry.len()));
                        } else {
                            return true;
                        }
                        pending = retry;
                    }
                    None => {
                        self.counters.request_errors.fetch_add(1, Ordering::Relaxed);
                        self.counters.note_error(format!("{url}: bulk answer unreadable: {}", excerpt(&a.body)));
                        self.counters.retried.fetch_add(pending.len() as u64, Ordering::Relaxed);
                    }
                },
                Ok(a) if a.status == 413 && pending.len() > 1 => {
                    // Too large for the server: halves, each on its own.
                    let second = pending.split_off(pending.len() / 2);
                    return self.send(docs, pending, stop) && self.send(docs, second, stop);
                }
                Ok(a) => {
                    self.counters.request_errors.fetch_add(1, Ordering::Relaxed);
                    self.counters.note_error(format!("{url}/_bulk: HTTP {}: {}", a.status, excerpt(&a.body)));
                    if a.status == 429 || a.status >= 500 {
                        self.mark(&url, false);
                    }
                    self.counters.retried.fetch_add(pending.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    self.mark(&url, false);
                    self.counters.request_errors.fetch_add(1, Ordering::Relaxed);
                    self.counters.note_error(e.to_string());
                    self.counters.retried.fetch_add(pending.len() as u64, Ordering::Relaxed);
                }
            }
            attempt = attempt.saturating_add(1);
            self.counters.backoffs.fetch_add(1, Ordering::Relaxed);
            sleep_unless(stop, backoff(self.cfg.retry_initial, self.cfg.retry_max, attempt));
        }
        true
    }

    /// The `_bulk` body for `pending`, gzip-compressed when configured.
    fn bulk_body(&self, docs: &[SpooledDoc<'_>], pending: &[usize]) -> Vec<u8> {
        let mut raw = Vec::with_capacity(pending.len() * 1024);
        for d in pending.iter().filter_map(|&i| docs.get(i)) {
            raw.extend_from_slice(b"{\"create\":{\"_index\":");
            iotw_event::json::write_str(&mut raw, &self.cfg.index.target(d.dataset, d.ts));
            raw.extend_from_slice(b",\"_id\":");
            iotw_event::json::write_str(&mut raw, d.id);
            raw.extend_from_slice(b"}}\n");
            raw.extend_from_slice(d.json);
            raw.push(b'\n');
        }
        if !self.cfg.gzip {
            return raw;
        }
        let mut z = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 4), flate2::Compression::fast());
        // Writing into a Vec cannot fail.
        let _ = z.write_all(&raw);
        z.finish().unwrap_or(raw)
    }

    /// Appends a refused document to the dead-letter file (made durable before the claim
    /// is acknowledged). `false` when the file cannot be written: the document is then kept.
    fn dead_letter(&self, d: &SpooledDoc<'_>, status: u16, error: &serde_json::Value) -> bool {
        let mut line = Vec::with_capacity(d.json.len() + 256);
        line.extend_from_slice(b"{\"@timestamp\":\"");
        iotw_event::write_rfc3339_micros(&mut line, now_nanos());
        line.extend_from_slice(b"\",\"_index\":");
        iotw_event::json::write_str(&mut line, &self.cfg.index.target(d.dataset, d.ts));
        line.extend_from_slice(b",\"_id\":");
        iotw_event::json::write_str(&mut line, d.id);
        line.extend_from_slice(format!(",\"status\":{status},\"error\":{error},\"document\":").as_bytes());
        line.extend_from_slice(d.json);
        line.extend_from_slice(b"}\n");
        let mut file = self.dead_letter.lock().unwrap_or_else(|e| e.into_inner());
        let path = &self.cfg.dead_letter;
        if file.is_none() {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(dir);
            }
            match std::fs::OpenOptions::new().create(true).append(true).open(path) {
                Ok(f) => *file = Some(f),
                Err(e) => {
                    self.counters.note_error(format!("dead-letter file {}: {e}", path.display()));
                    return false;
                }
            }
        }
        let Some(f) = file.as_mut() else { return false };
        match f.write_all(&line).and_then(|_| f.sync_data()) {
            Ok(()) => {
                self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.counters.note_error(format!("dead-letter file {}: {e}", path.display()));
                false
            }
        }
    }
}

/// What `iotw setup` asked the server to install, and its answer.
#[derive(Debug, Clone)]
pub struct SetupStep {
    pub what: String,
    pub ok: bool,
    pub detail: String,
}

impl Elastic {
    /// Installs an index template per dataset and a lifecycle policy (ILM on Elasticsearch,
    /// ISM on OpenSearch) deleting indices after `retention_days` (0: no policy). Every answer
    /// is reported; nothing stops at the first refusal.
    pub fn setup(&self, flavour: &Flavour, retention_days: u32) -> Vec<SetupStep> {
        use crate::templates::{ilm_policy, index_template, ism_policy, DATASETS, EVENTS_MD};
        let (prefix, data_stream) = match &self.cfg.index {
            IndexMode::Daily { prefix } => (prefix.as_str(), false),
            IndexMode::DataStream { prefix } => (prefix.as_str(), true),
        };
        let url = self.pick();
        let mut steps = Vec::new();
        let mut put = |what: String, path: String, body: serde_json::Value| {
            let text = body.to_string();
            let (ok, detail) =
                match self.request("PUT", &url, &path, Some((text.as_bytes(), "application/json", false))) {
                    Ok(a) if (200..300).contains(&a.status) => (true, format!("HTTP {}", a.status)),
                    Ok(a) => (false, format!("HTTP {}: {}", a.status, excerpt(&a.body))),
                    Err(e) => (false, e.to_string()),
                };
            steps.push(SetupStep { what, ok, detail });
        };
        let ilm = (retention_days > 0 && flavour.distribution == Distribution::Elasticsearch).then_some(prefix);
        if retention_days > 0 {
            match flavour.distribution {
                Distribution::Elasticsearch => {
                    put(format!("ILM policy {prefix}"), format!("/_ilm/policy/{prefix}"), ilm_policy(retention_days))
                }
                Distribution::OpenSearch => put(
                    format!("ISM policy {prefix}"),
                    format!("/_plugins/_ism/policies/{prefix}"),
                    ism_policy(prefix, retention_days),
                ),
            }
        }
        for d in DATASETS {
            let name = format!("{prefix}-{d}");
            put(
                format!("index template {name}"),
                format!("/_index_template/{name}"),
                index_template(EVENTS_MD, prefix, d, data_stream, ilm),
            );
        }
        steps
    }
}

/// Each item's outcome, in order; `None` when the answer is not a bulk answer for `n` items.
fn bulk_outcomes(body: &[u8], n: usize) -> Option<Vec<Outcome>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let items = v.get("items")?.as_array()?;
    if items.len() != n {
        return None;
    }
    items
        .iter()
        .map(|item| {
            let (_, r) = item.as_object()?.iter().next()?;
            let status = r.get("status")?.as_u64()? as u16;
            Some(match status {
                200 | 201 => Outcome::Stored,
                409 => Outcome::Duplicate,
                429 | 500..=599 => Outcome::Retry,
                _ => Outcome::Dead { status, error: r.get("error").cloned().unwrap_or(serde_json::Value::Null) },
            })
        })
        .collect()
}

/// Exponential backoff with equal jitter: between half and all of `initial · 2^attempt`,
/// capped at `max`.
pub fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let full = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

pub(crate) fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The start of an answer, for an error message.
pub(crate) fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b.get(..b.len().min(300)).unwrap_or_default());
    s.replace(['\n', '\r'], " ")
}

/// A network sink's sending side: what the delivery workers call for each claim.
pub trait Deliver: Send + Sync + 'static {
    /// Sends every document of the claim until each is resolved; `false` when `stop` came first.
    fn deliver(&self, claim: &Claim, stop: &AtomicBool) -> bool;
    fn counters(&self) -> &ShipCounters;
    /// Worker threads, the most bytes one claim takes, and how long a worker waits for one.
    fn shape(&self) -> (usize, usize, Duration);
    /// The workers' thread name prefix.
    fn name(&self) -> &'static str;
}

impl Deliver for Elastic {
    fn deliver(&self, claim: &Claim, stop: &AtomicBool) -> bool {
        Elastic::deliver(self, claim, stop)
    }
    fn counters(&self) -> &ShipCounters {
        &self.counters
    }
    fn shape(&self) -> (usize, usize, Duration) {
        (self.cfg.concurrency.max(1), self.cfg.max_bytes.max(1), self.cfg.flush_interval)
    }
    fn name(&self) -> &'static str {
        "iotw-es"
    }
}

/// Delivery workers: they take claims from the spool and send them.
#[derive(Debug)]
pub struct Delivery {
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Delivery {
    pub fn start<D: Deliver>(sink: Arc<D>, spool: Arc<Spool>) -> Delivery {
        let stop = Arc::new(AtomicBool::new(false));
        let (n, _, _) = sink.shape();
        let workers = (0..n)
            .map(|i| {
                let (sink, spool, stop) = (sink.clone(), spool.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("{}-{i}", sink.name()))
                    .spawn(move || worker(sink.as_ref(), &spool, &stop))
                    .unwrap_or_else(|e| panic!("cannot start a delivery thread: {e}"))
            })
            .collect();
        Delivery { stop, workers }
    }

    /// Stops the workers; what they had not delivered stays in the spool.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            let _ = w.join();
        }
    }
}

fn worker<D: Deliver + ?Sized>(sink: &D, spool: &Spool, stop: &AtomicBool) {
    let (_, max_bytes, wait) = sink.shape();
    while !stop.load(Ordering::Relaxed) {
        let claim = match spool.claim(64, max_bytes, wait) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                sink.counters().note_error(e.to_string());
                sleep_unless(stop, Duration::from_secs(1));
                continue;
            }
        };
        if !sink.deliver(&claim, stop) {
            return; // stopping: the claim stays for the next run
        }
        if let Err(e) = spool.complete(claim.start, claim.end, claim.records.len()) {
            sink.counters().note_error(e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_are_told_apart_by_the_root_answer() {
        let os = br#"{"version":{"distribution":"opensearch","number":"3.8.0"},"tagline":"The OpenSearch Project"}"#;
        let f = Flavour::from_root(os).unwrap();
        assert_eq!((f.distribution, f.major), (Distribution::OpenSearch, 3));
        assert!(f.has_data_streams());
        let es = br#"{"version":{"number":"7.8.1","build_flavor":"default"},"tagline":"You Know, for Search"}"#;
        let f = Flavour::from_root(es).unwrap();
        assert_eq!((f.distribution, f.major), (Distribution::Elasticsearch, 7));
        assert!(!f.has_data_streams());
        assert!(Flavour::from_root(br#"{"version":{"number":"8.15.0"}}"#).unwrap().has_data_streams());
        assert!(Flavour::from_root(b"<html>").is_none());
        assert_eq!(f.to_string(), "Elasticsearch 7.8.1");
    }

    #[test]
    fn each_item_of_a_bulk_answer_is_sorted_by_its_status() {
        let body = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}},
            {"create":{"status":429}},{"create":{"status":503}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#;
        let o = bulk_outcomes(body, 5).unwrap();
        assert!(matches!(o[0], Outcome::Stored));
        assert!(matches!(o[1], Outcome::Duplicate));
        assert!(matches!(o[2], Outcome::Retry) && matches!(o[3], Outcome::Retry));
        assert!(matches!(&o[4], Outcome::Dead { status: 400, error } if error["type"] == "mapper_parsing_exception"));
        assert!(bulk_outcomes(body, 4).is_none(), "an answer for another request");
        assert!(bulk_outcomes(b"{}", 0).is_none());
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 0..30 {
            let full = (i * 2u32.pow(attempt.min(20))).min(m);
            let d = backoff(i, m, attempt);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let b = Auth::Basic { username: "u".into(), password: "hunter2".into() };
        assert!(!format!("{b:?}").contains("hunter2"));
        assert!(!format!("{:?}", Auth::ApiKey("c2VjcmV0".into())).contains("c2VjcmV0"));
    }
}
