//! `iotw discover`: the first mode. Reads capture files or listens live (for `--duration`,
//! or until interrupted), decodes as capture mode does, and folds what it sees into an
//! inventory of hosts, services and who uses them; then prints it as a table and writes what
//! was asked: the inventory as JSON, an HTML report, a configuration for capture mode,
//! inventory documents to the configured output, and the changes since an older inventory.

use crate::capture_cmd::{self, CaptureArgs, Hooks};
use anyhow::{Context, Result};
use iotw::discover::{output, report, Discovery, Inventory};
use iotw_event::Event;
use iotw_ship::{ShipError, Sink, Written};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    /// Read a pcap or pcapng file (plain or gzip); repeat to merge several in time order.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Listen live on an interface (Linux AF_PACKET); repeat for several.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    interfaces: Vec<String>,
    /// tcpdump-syntax filter.
    #[arg(short = 'f', long)]
    filter: Option<String>,
    /// Configuration file (limits, key logs; its output receives the inventory documents).
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Live: stop after this long (e.g. 10m, 1h); otherwise until interrupted.
    #[arg(long)]
    duration: Option<String>,
    /// Stop after this many packets.
    #[arg(long)]
    count: Option<u64>,
    /// NSS key log, so that what TLS carries (HTTPS, SIPS) is seen too. Repeatable.
    #[arg(long = "tls-keylog", value_name = "FILE")]
    tls_keylog: Vec<PathBuf>,
    /// Write the inventory as JSON (the input of a later `--diff`).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the report: one HTML file that opens offline, with the topology drawn.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write a configuration for capture mode that keeps the services found.
    #[arg(long = "write-config", value_name = "FILE")]
    write_config: Option<PathBuf>,
    /// Audit: list what changed since an inventory written earlier with --json. The exit
    /// status is 1 when something changed.
    #[arg(long, value_name = "OLD.json")]
    diff: Option<PathBuf>,
    /// Send one inventory document per service to this output (otherwise to the output of
    /// the configuration file given with -c; with neither, to none).
    #[arg(long, value_enum)]
    output: Option<crate::config::OutputKind>,
    /// With --output ndjson: write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<String>,
    /// The embedded store's directory (--output store).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    no_progress: bool,
    /// No table and no summary: only the files asked for.
    #[arg(short, long)]
    quiet: bool,
}

/// Folds every document into the discovery; at the end, hands the inventory documents to the
/// configured sink, if there is one.
struct InventorySink {
    discovery: Arc<Mutex<Discovery>>,
    inner: Option<Box<dyn Sink>>,
}

impl Sink for InventorySink {
    fn name(&self) -> &'static str {
        "inventory"
    }

    fn write(&mut self, batch: &[Event]) -> Result<Written, ShipError> {
        let mut d = self.discovery.lock().unwrap_or_else(|e| e.into_inner());
        for e in batch {
            d.observe(e);
        }
        Ok(Written { stored: batch.len() as u64, duplicates: 0 })
    }

    fn flush(&mut self) -> Result<(), ShipError> {
        let Some(inner) = self.inner.as_mut() else { return Ok(()) };
        let inv = self.discovery.lock().unwrap_or_else(|e| e.into_inner()).inventory();
        let ts = inv.last_seen.as_deref().and_then(|t| iotw_event::parse_time(t, 0).ok()).unwrap_or_default();
        let mut docs = output::documents(&inv, ts);
        iotw_event::render_all(&mut docs);
        if !docs.is_empty() {
            inner.write(&docs)?;
        }
        inner.flush()
    }
}

fn write_file(path: &PathBuf, what: &str, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing the {what} {}", path.display()))
}

pub fn run(a: DiscoverArgs) -> Result<std::process::ExitCode> {
    // An older inventory that does not read is an error before anything runs.
    let old = a.diff.as_ref().map(|p| Inventory::read(p)).transpose().map_err(|e| anyhow::anyhow!("--diff {e}"))?;
    let sources: Vec<String> = if a.files.is_empty() {
        a.interfaces.clone()
    } else {
        a.files.iter().map(|p| p.display().to_string()).collect()
    };
    if a.files.is_empty() && !a.quiet {
        let until = a.duration.as_deref().map(|d| format!("for {d}")).unwrap_or_else(|| "until Ctrl-C".to_owned());
        eprintln!("iotw discover: listening on {} {until}", a.interfaces.join(", "));
    }
    let discovery = Arc::new(Mutex::new(Discovery::new(sources)));
    let ship = a.output.is_some() || a.config.is_some();
    let d = discovery.clone();
    let status: capture_cmd::Status = Arc::new(move || {
        let n = d.lock().map(|d| d.service_count()).unwrap_or(0);
        format!("{n} services")
    });
    let d = discovery.clone();
    let hooks = Hooks {
        wrap_sink: Some(Box::new(move |inner| Box::new(InventorySink { discovery: d, inner }))),
        no_output: !ship,
        status: Some(status),
    };
    let capture = CaptureArgs {
        files: a.files,
        interfaces: a.interfaces,
        filter: a.filter,
        output: a.output,
        out: a.out,
        bulk: false,
        data_dir: a.data_dir,
        config: a.config,
        duration: a.duration,
        count: a.count,
        no_progress: a.no_progress,
        // The capture summary is not what discovery reports.
        quiet: true,
        tls_keylog: a.tls_keylog,
    };
    capture_cmd::run_with(capture, hooks)?;
    let inv = discovery.lock().unwrap_or_else(|e| e.into_inner()).inventory();
    if !a.quiet {
        print!("{}", output::table(&inv));
    }
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&inv).context("the inventory as JSON")?;
        write_file(p, "inventory", &(text + "\n"))?;
    }
    if let Some(p) = &a.html {
        write_file(p, "report", &report::html(&inv))?;
    }
    if let Some(p) = &a.write_config {
        write_file(p, "configuration", &output::capture_config(&inv))?;
    }
    if let Some(old) = old {
        let changes = output::diff(&old, &inv);
        if !a.quiet {
            println!();
        }
        print!("{}", output::diff_text(&changes));
        if !changes.is_empty() {
            return Ok(std::process::ExitCode::from(1));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
