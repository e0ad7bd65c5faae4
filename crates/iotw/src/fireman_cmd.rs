//! `iotw fireman ...`: alert rules checked and backtested (docs/fireman.md). A backtest runs
//! the rules over a capture (decoded and enriched as capture mode would) or over documents
//! already written as NDJSON, in document time, and lists what would have fired and when;
//! nothing is sent.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use iotw_event::{Event, Nanos};
use iotw_fireman::Alert;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum FiremanCmd {
    /// Read and check rule files (or folders of them): every mistake names the file, the key and its line.
    Check {
        /// Rule files or folders.
        #[arg(required = true)]
        rules: Vec<PathBuf>,
    },
    /// Run rules over a capture or NDJSON documents and list what would have fired, and when.
    Test(TestArgs),
    /// Run rules against Elasticsearch/OpenSearch: read new documents every round, index the
    /// alerts, send them to the alerters; instances share a lease so only one alerts.
    Run(crate::fireman_run::RunArgs),
    /// List the alerts capture mode stored in the embedded store (its alerts table).
    Alerts(AlertsArgs),
}

#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    /// Only this rule's.
    #[arg(long)]
    pub rule: Option<String>,
    /// Only `firing` or only `resolved` ones.
    #[arg(long, value_parser = ["firing", "resolved"])]
    pub state: Option<String>,
    /// Only those of this query_key value.
    #[arg(long)]
    pub key: Option<String>,
    /// Only alerts at or after this time (RFC 3339, a date, or an age such as 15m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Only alerts before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Oldest first (default: newest first).
    #[arg(long)]
    pub oldest_first: bool,
    /// `table` (default) or `json` (the alert documents).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Where the store is.
    #[arg(long, default_value = "./iotw-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Rule files or folders.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Capture files, decoded (and enriched, per the configuration) as capture mode does.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// NDJSON documents (as `iotw capture --output ndjson` writes them), in time order.
    #[arg(long, value_name = "FILE")]
    pub ndjson: Vec<PathBuf>,
    /// Configuration file (decoding limits, enrichment).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `table` (default) or `ndjson` (the alert documents).
    #[arg(long, default_value = "table")]
    pub output: String,
    /// Take up the rules' memory from FILE (if it exists) and save it there at the end, as
    /// capture mode does with `[fireman] state_file`: a test can continue where the last stopped.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

pub fn run(cmd: FiremanCmd) -> Result<()> {
    match cmd {
        FiremanCmd::Check { rules } => {
            for p in &rules {
                for r in iotw_fireman::load_all(p)? {
                    println!("{}: {} ({}): OK", r.path.display(), r.name, iotw_fireman::kind_name(r.kind));
                }
            }
            Ok(())
        }
        FiremanCmd::Test(a) => test(a),
        FiremanCmd::Run(a) => {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let s = stop.clone();
            ctrlc::set_handler(move || s.store(true, std::sync::atomic::Ordering::SeqCst))
                .context("installing the signal handler")?;
            crate::fireman_run::run(a, stop)
        }
        FiremanCmd::Alerts(a) => alerts(a),
    }
}

fn alerts(a: AlertsArgs) -> Result<()> {
    let store = iotw_ship::store::Store::open_read_only(&a.data_dir)?;
    let t = iotw_event::wall_clock();
    let q = iotw_ship::store::AlertQuery {
        rule: a.rule,
        state: a.state,
        key: a.key,
        since: a.since.as_deref().map(|s| iotw_event::parse_time(s, t)).transpose()?,
        until: a.until.as_deref().map(|s| iotw_event::parse_time(s, t)).transpose()?,
        limit: a.limit,
        oldest_first: a.oldest_first,
    };
    let rows = store.alerts(&q)?;
    if a.format == "json" {
        for r in &rows {
            println!("{}", r.doc);
        }
        return Ok(());
    }
    let headers: Vec<String> = ["@timestamp", "rule", "state", "key", "subject"].map(String::from).into();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let o = |v: &Option<String>| v.clone().unwrap_or_default();
            vec![iotw_event::format_rfc3339_micros(r.ts), r.rule.clone(), r.state.clone(), o(&r.key), o(&r.reason)]
        })
        .collect();
    crate::search_cmd::print_rows(&headers, &cells);
    eprintln!("{} alert{}", rows.len(), if rows.len() == 1 { "" } else { "s" });
    Ok(())
}

fn test(a: TestArgs) -> Result<()> {
    if a.files.is_empty() && a.ndjson.is_empty() {
        bail!("nothing to test on: give -r CAPTURE or --ndjson FILE");
    }
    if !matches!(a.output.as_str(), "table" | "ndjson") {
        bail!("--output: table or ndjson, not {:?}", a.output);
    }
    let cfg = match &a.config {
        Some(p) => crate::config::load(p)?,
        None => Config::default(),
    };
    let mut rules = Vec::new();
    for p in &a.rules {
        rules.extend(iotw_fireman::load_all(p)?);
    }
    let mut stage = iotw_fireman::Stage::new(rules);
    if let Some(p) = &a.state {
        for name in stage.restore(p)? {
            eprintln!("rule {name}: its file changed since {} was saved; it starts afresh", p.display());
        }
    }
    let mut docs = Vec::new();
    for f in &a.files {
        let mut d = crate::pipeline::documents_of(f, &cfg).with_context(|| f.display().to_string())?;
        iotw::enrichment::build(&cfg.enrich)?.apply(&mut d);
        docs.extend(d);
    }
    for f in &a.ndjson {
        docs.extend(read_ndjson(f)?);
    }
    // Document time is the clock: in time order, as a live stream would bring them.
    docs.sort_by_key(|d| d.ts);
    let mut alerts: Vec<Alert> = Vec::new();
    for d in &docs {
        alerts.extend(stage.alerts_for(d));
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    if a.output == "ndjson" {
        for al in &alerts {
            writeln!(out, "{}", iotw_fireman::alert_document(al).to_json())?;
        }
    } else {
        for al in &alerts {
            writeln!(
                out,
                "{}  {:<8}  {:<24}  {:<20}  {}",
                iotw_event::format_rfc3339_micros(al.at),
                al.state.as_str(),
                al.rule,
                al.key.as_deref().unwrap_or("-"),
                al.subject
            )?;
        }
    }
    if let Some(p) = &a.state {
        stage.save(p).with_context(|| format!("saving {}", p.display()))?;
    }
    let (first, last) = (docs.first().map(|d| d.ts), docs.last().map(|d| d.ts));
    eprintln!("{} documents{}", docs.len(), span(first, last));
    for e in stage.engines() {
        let fired = alerts.iter().filter(|a| a.rule == e.rule.name).count();
        let warm = match e.able_from() {
            Some(t) if last.is_some_and(|l| l < t) => {
                format!("; never able to fire: it needs data until {}", iotw_event::format_rfc3339_micros(t))
            }
            Some(t) => format!("; able to fire from {}", iotw_event::format_rfc3339_micros(t)),
            None => String::new(),
        };
        eprintln!(
            "rule {} ({}): {fired} alerts, {} held back by realert{warm}",
            e.rule.name,
            iotw_fireman::kind_name(e.rule.kind),
            e.silenced
        );
    }
    Ok(())
}

fn span(first: Option<Nanos>, last: Option<Nanos>) -> String {
    match (first, last) {
        (Some(a), Some(b)) => {
            format!(" from {} to {}", iotw_event::format_rfc3339_micros(a), iotw_event::format_rfc3339_micros(b))
        }
        _ => String::new(),
    }
}

/// The most documents read from NDJSON files in one test.
const MAX_NDJSON_DOCS: usize = 10_000_000;

/// Documents from NDJSON, each with its `@timestamp`, `event.dataset` and `event.kind`.
fn read_ndjson(path: &std::path::Path) -> Result<Vec<Event>> {
    let f = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| path.display().to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        out.push(event_of(&v).with_context(|| format!("{}: line {}", path.display(), i + 1))?);
        if out.len() > MAX_NDJSON_DOCS {
            bail!("{}: more than {MAX_NDJSON_DOCS} documents", path.display());
        }
    }
    Ok(out)
}

/// A dataset name as the `'static` text documents carry: the known ones, else `external`.
fn dataset_name(s: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "sip",
        "call",
        "flow",
        "genesys",
        "genesys_summary",
        "journey",
        "http",
        "tls",
        "dns",
        "anomaly",
        "alert",
        "sip_summary",
        "inventory",
    ];
    KNOWN.iter().find(|k| **k == s).copied().unwrap_or("external")
}

pub(crate) fn event_of(v: &Value) -> Result<Event> {
    let m = v.as_object().context("a document is a JSON object")?;
    let ts = m
        .get("@timestamp")
        .and_then(Value::as_str)
        .context("no @timestamp")
        .and_then(|t| iotw_event::parse_time(t, 0).map_err(|e| anyhow::anyhow!("@timestamp: {e}")))?;
    let ev = m.get("event").and_then(Value::as_object);
    let dataset = dataset_name(ev.and_then(|e| e.get("dataset")).and_then(Value::as_str).unwrap_or("external"));
    let kind = match ev.and_then(|e| e.get("kind")).and_then(Value::as_str) {
        Some("alert") => "alert",
        Some("state") => "state",
        Some("metric") => "metric",
        _ => "event",
    };
    let mut e = Event::new(dataset, kind, ts, &[v.to_string().as_bytes()]);
    e.obj("event");
    for (k, x) in ev.into_iter().flatten() {
        if k != "dataset" && k != "kind" {
            e.value(iotw_event::Wire(k), x);
        }
    }
    e.end();
    for (k, x) in m {
        if k != "@timestamp" && k != "event" {
            e.value(iotw_event::Wire(k), x);
        }
    }
    Ok(e)
}
