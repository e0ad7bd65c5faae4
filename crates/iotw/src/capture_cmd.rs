//! `iotw capture`: the main job. Sources (files merged in time order, or live interfaces, one
//! thread each) feed the pipeline thread; a shipper thread writes batches to the output.
//!
//! Queues: live frames -> pipeline (DropNewest, counted), pipeline -> shipper (Block for
//! files, DropNewest for live). SIGINT/SIGTERM stop the sources; everything already
//! accepted is flushed and stored before exit.

use crate::config::{self, Config, OutputKind};
use crate::pipeline::{Counters, Pipeline};
use anyhow::{bail, Context, Result};
use iotw_capture::{CaptureFile, Merge};
use iotw_event::Event;
use iotw_ship::elastic::{Delivery, Elastic, Flavour};
use iotw_ship::ndjson::NdjsonSink;
use iotw_ship::queue::{queue, FullPolicy};
use iotw_ship::spool::{Spool, SpoolSink};
use iotw_ship::store::Store;
use iotw_ship::ShipCounters;
use iotw_ship::Sink;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Read a pcap or pcapng file (plain or gzip); repeat to merge several in time order.
    #[arg(short = 'r', long = "read", value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
    /// Capture live on an interface (Linux AF_PACKET); repeat for several.
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub(crate) interfaces: Vec<String>,
    /// tcpdump-syntax filter (host, net, port, portrange, tcp, udp, vlan, and/or/not, parentheses).
    #[arg(short = 'f', long)]
    pub(crate) filter: Option<String>,
    /// Where documents go.
    #[arg(long, value_enum)]
    pub(crate) output: Option<OutputKind>,
    /// With --output ndjson: write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<String>,
    /// With --output ndjson: Elasticsearch bulk lines (create action + document).
    #[arg(long)]
    pub(crate) bulk: bool,
    /// The embedded store's directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Configuration file (see `iotw config default`).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Live: stop after this long (e.g. 30s, 5m).
    #[arg(long)]
    pub(crate) duration: Option<String>,
    /// Stop after this many packets.
    #[arg(long)]
    pub(crate) count: Option<u64>,
    /// No progress display.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// No summary at the end.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// NSS key log (SSLKEYLOGFILE format) with the secrets of TLS sessions to decrypt; read
    /// again as it grows. Repeatable. Secrets embedded in pcapng files are used as well.
    #[arg(long = "tls-keylog", value_name = "FILE")]
    pub(crate) tls_keylog: Vec<PathBuf>,
}

/// What the shipper thread did.
#[derive(Debug, Default)]
struct ShipReport {
    /// Journey documents (made on the shipper's thread, so not in the pipeline's counts).
    journeys: u64,
    /// Alert documents raised by the rules (also made on the shipper's thread).
    alerts: u64,
    /// How the alerters' deliveries went.
    delivery: Option<iotw_fireman::alerter::Report>,
    written: u64,
    duplicates: u64,
    failed: u64,
    last_error: Option<String>,
}

impl ShipReport {
    /// Writes one batch to the sink and counts the outcome.
    fn write(&mut self, sink: &mut dyn Sink, batch: &[Event]) {
        match sink.write(batch) {
            Ok(w) => {
                self.written += w.stored;
                self.duplicates += w.duplicates;
            }
            Err(e) => {
                self.failed += batch.len() as u64;
                self.last_error = Some(crate::chain(&e));
            }
        }
    }
}

/// How long queued alerts may still take to be delivered when a run ends.
const ALERT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What the shipper does with the rules besides running them: keep their memory, and move
/// their clock on a quiet live network.
struct RuleUpkeep {
    state_file: Option<PathBuf>,
    /// Save the memory this often too (besides at the end).
    save_every: Option<std::time::Duration>,
    /// Live capture: the lag behind the wall clock the rules' clock moves to when quiet.
    quiet_lag: Option<iotw_event::Nanos>,
}

/// Runs the sink on its own thread; written batches go back through `done` for reuse.
fn spawn_shipper(
    enrich: iotw_enrich::Chain,
    (fireman, upkeep): (iotw_fireman::Stage, RuleUpkeep),
    mut sink: Box<dyn Sink>,
    rx: crossbeam_channel::Receiver<Vec<Event>>,
    done: crossbeam_channel::Sender<iotw_event::Spent>,
) -> Result<std::thread::JoinHandle<ShipReport>> {
    std::thread::Builder::new()
        .name("iotw-ship".into())
        .spawn(move || {
            let mut r = ShipReport::default();
            let mut stages = crate::pipeline::Stages { enrich, fireman, ..Default::default() };
            let mut saved = std::time::Instant::now();
            let save = |stages: &crate::pipeline::Stages, r: &mut ShipReport| {
                if let Some(p) = &upkeep.state_file {
                    if let Err(e) = stages.fireman.save(p) {
                        r.last_error = Some(format!("saving the rules' memory to {}: {e}", p.display()));
                    }
                }
            };
            loop {
                match next_batch(&rx, std::time::Duration::from_secs(1)) {
                    Ok(mut batch) => {
                        crate::pipeline::finish_batch(&mut batch, &mut stages);
                        r.write(sink.as_mut(), &batch);
                        // Taken apart here, not on the decoding thread; full or gone: freed.
                        let _ = done.try_send(iotw_event::Spent::gather(batch));
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        // Nothing for a second: on a live network, time still passes.
                        if let Some(lag) = upkeep.quiet_lag.filter(|_| !stages.fireman.is_empty()) {
                            let alerts = stages.fireman.tick(iotw_event::wall_clock() - lag);
                            if !alerts.is_empty() {
                                r.write(sink.as_mut(), &alerts);
                            }
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
                if upkeep.save_every.is_some_and(|every| saved.elapsed() >= every) {
                    save(&stages, &mut r);
                    saved = std::time::Instant::now();
                }
            }
            let last = stages.finish();
            r.journeys = stages.journeys.written();
            r.alerts = stages.fireman.alerts;
            r.delivery = stages.fireman.finish_alerters(ALERT_GRACE);
            save(&stages, &mut r);
            if !last.is_empty() {
                r.write(sink.as_mut(), &last);
            }
            if let Err(e) = sink.flush() {
                r.last_error = Some(crate::chain(&e));
            }
            r
        })
        .context("starting the shipper thread")
}

/// How long the shipper looks for the next batch before it sleeps (see [`next_batch`]).
const SHIPPER_SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// The next batch for the shipper, waited for up to `timeout`. It first looks again and
/// again for [`SHIPPER_SPIN`], giving up the core in between, and only then sleeps: a
/// sleeping shipper must be woken by a system call on the decoding thread, which measured
/// about 13 µs per batch (3 % of the decoding thread's time on the SIP benchmark), while the
/// next batch is usually only tens of microseconds away.
fn next_batch<T>(
    rx: &crossbeam_channel::Receiver<T>,
    timeout: std::time::Duration,
) -> Result<T, crossbeam_channel::RecvTimeoutError> {
    use crossbeam_channel::{RecvTimeoutError, TryRecvError};
    let start = std::time::Instant::now();
    loop {
        match rx.try_recv() {
            Ok(item) => return Ok(item),
            Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) if start.elapsed() < SHIPPER_SPIN => std::thread::yield_now(),
            Err(TryRecvError::Empty) => return rx.recv_timeout(timeout),
        }
    }
}

/// What another command changes in a capture run (`iotw discover`).
#[derive(Default)]
pub(crate) struct Hooks {
    /// Wraps the configured sink (or, when `None` is given to it, stands in for it).
    pub wrap_sink: Option<WrapSink>,
    /// Leave the configured output alone: no sink is opened for it.
    pub no_output: bool,
    /// Text added to the progress display.
    pub status: Option<Status>,
}

/// Makes the sink of a run from the configured one (`None` when `Hooks::no_output`).
pub(crate) type WrapSink = Box<dyn FnOnce(Option<Box<dyn Sink>>) -> Box<dyn Sink>>;

/// Text for the progress display, asked for a few times a second.
pub(crate) type Status = Arc<dyn Fn() -> String + Send + Sync>;

pub fn run(a: CaptureArgs) -> Result<()> {
    run_with(a, Hooks::default())
}

pub(crate) fn run_with(a: CaptureArgs, hooks: Hooks) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => config::load(p)?,
        None => Config::default(),
    };
    if let Some(k) = a.output {
        cfg.output.kind = k;
    }
    if let Some(d) = &a.data_dir {
        cfg.output.data_dir = d.clone();
    }
    if let Some(o) = &a.out {
        cfg.output.ndjson_path = o.clone();
    }
    cfg.output.bulk |= a.bulk;
    if let Some(f) = &a.filter {
        cfg.capture.filter = f.clone();
    }
    let filter = iotw_capture::filter::parse(&cfg.capture.filter).context("--filter")?;
    let enrich = iotw::enrichment::build(&cfg.enrich)?;
    let mut fireman = iotw_fireman::Stage::new(cfg.fireman.load()?);
    let state_file = (!cfg.fireman.state_file.as_os_str().is_empty()).then(|| cfg.fireman.state_file.clone());
    if let Some(p) = &state_file {
        for name in fireman.restore(p).with_context(|| format!("[fireman] state_file {}", p.display()))? {
            eprintln!("iotw: rule {name}: its file changed since its memory was saved; it starts afresh");
        }
    }
    fireman.start_alerters().context("starting the alerters")?;
    let interfaces = if a.interfaces.is_empty() && a.files.is_empty() {
        cfg.capture.interfaces.clone()
    } else {
        a.interfaces.clone()
    };
    if a.files.is_empty() && interfaces.is_empty() {
        bail!("nothing to capture: give -r FILE or -i INTERFACE");
    }
    if !a.files.is_empty() && !interfaces.is_empty() {
        bail!("give capture files (-r) or interfaces (-i), not both");
    }
    let duration = a.duration.as_deref().map(iotw_event::parse_duration).transpose().context("--duration")?;

    // Open every input before anything runs: a bad path is an error, not a partial run.
    let mut files = Vec::new();
    for (i, p) in a.files.iter().enumerate() {
        files.push(CaptureFile::open(p, i as u16, cfg.file_limits())?);
    }
    let keys = Arc::new(iotw_decode::tls::keys::KeyLog::new());
    for p in a.tls_keylog.iter().chain(&cfg.tls.keylog_files) {
        // The error names the file, never what is in it.
        let n = keys.add_file(p.clone()).map_err(|e| anyhow::anyhow!("the TLS key log {e}"))?;
        if !a.quiet {
            eprintln!("iotw: TLS key log {}: {n} secrets", p.display());
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut network = None;
    let configured: Option<Box<dyn Sink>> = if hooks.no_output {
        None
    } else {
        Some(match cfg.output.kind {
            OutputKind::Elasticsearch | OutputKind::Logstash => {
                let n = Network::start(&cfg, a.quiet, cfg.output.kind == OutputKind::Logstash)?;
                let sink = SpoolSink::new(n.spool.clone(), n.counters.clone(), stop.clone());
                network = Some(n);
                Box::new(sink)
            }
            OutputKind::Store => Box::new(Store::open(&cfg.output.data_dir)?),
            OutputKind::Ndjson => {
                let prefix = cfg.output.bulk.then(|| cfg.output.bulk_index_prefix.clone());
                let out: Box<dyn std::io::Write + Send> = if cfg.output.ndjson_path == "-" {
                    Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout()))
                } else {
                    let f = std::fs::File::create(&cfg.output.ndjson_path)
                        .with_context(|| format!("--out {}", cfg.output.ndjson_path))?;
                    Box::new(std::io::BufWriter::with_capacity(1 << 16, f))
                };
                Box::new(NdjsonSink::new(out, cfg.output.ndjson_path.clone(), prefix))
            }
        })
    };
    let sink: Box<dyn Sink> = match (hooks.wrap_sink, configured) {
        (Some(wrap), configured) => wrap(configured),
        (None, Some(sink)) => sink,
        (None, None) => bail!("no output"),
    };
    let live = files.is_empty();
    let policy = if live { FullPolicy::DropNewest } else { FullPolicy::Block };
    let (tx, rx, dropped_batches) = queue::<Vec<Event>>(cfg.output.queue_batches, policy);
    // Room for every batch that can be in flight, so that none is freed on the shipper's
    // thread while the decoding thread makes new documents in fresh memory.
    let (done_tx, done_rx) = crossbeam_channel::bounded(cfg.output.queue_batches.saturating_add(2));
    let nanos = |d: iotw_event::Dur| std::time::Duration::from_nanos(u64::try_from(d.0).unwrap_or(0));
    let upkeep = RuleUpkeep {
        state_file,
        save_every: (cfg.fireman.save_every.0 > 0).then(|| nanos(cfg.fireman.save_every)),
        quiet_lag: live.then_some(cfg.fireman.quiet_lag.0),
    };
    let shipper = spawn_shipper(enrich, (fireman, upkeep), sink, rx, done_tx)?;

    let signalled = Arc::new(AtomicBool::new(false));
    {
        let (stop, signalled) = (stop.clone(), signalled.clone());
        let first = AtomicBool::new(true);
        ctrlc::set_handler(move || {
            if !first.swap(false, Ordering::SeqCst) {
                eprintln!("iotw: second interrupt, exiting without flushing");
                std::process::exit(130);
            }
            signalled.store(true, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        })
        .context("installing the signal handler")?;
    }

    let started = Instant::now();
    let sources: Vec<String> =
        if live { interfaces.clone() } else { a.files.iter().map(|p| p.display().to_string()).collect() };
    let mut pipeline = Pipeline::new(&cfg, Some(filter.clone()), sources, tx, keys.clone());
    pipeline.recycle_from(done_rx);
    let show_progress = !a.no_progress && std::io::stderr().is_terminal();
    let limit = a.count.unwrap_or(u64::MAX);
    let mut damaged = Vec::new();
    let mut capture_drops = Vec::new();
    let mut live_report = Vec::new();

    if !live {
        let progress =
            show_progress.then(|| Progress::start(&files, pipeline.progress_packets.clone(), hooks.status.clone()));
        let mut merge = Merge::new(files);
        let mut n = 0u64;
        let mut last_ts = 0;
        // Decryption Secrets Blocks taken from each file so far.
        let mut secrets_taken = vec![0usize; merge.files().len()];
        loop {
            if stop.load(Ordering::Relaxed) || n >= limit {
                break;
            }
            let advanced = merge.advance();
            for (f, taken) in merge.files().iter().zip(secrets_taken.iter_mut()) {
                for dsb in f.secrets.get(*taken..).unwrap_or(&[]) {
                    // 0x544c534b: a TLS key log.
                    if dsb.kind == 0x544c_534b {
                        keys.add_text(&String::from_utf8_lossy(&dsb.data));
                    }
                }
                *taken = f.secrets.len();
            }
            match advanced {
                Ok(true) => {
                    if let Some(f) = merge.current() {
                        last_ts = f.ts;
                        pipeline.frame(&f);
                        n += 1;
                    }
                }
                Ok(false) => break,
                Err(e) if e.is_damage() => {
                    eprintln!("iotw: warning: {}; frames before it were kept", crate::chain(&e));
                    let source = match &e {
                        iotw_capture::CaptureError::Truncated { path, .. }
                        | iotw_capture::CaptureError::Malformed { path, .. } => path.display().to_string(),
                        _ => String::new(),
                    };
                    let what = crate::chain(&e);
                    pipeline.source_damaged(last_ts, &source, &what);
                    damaged.push(what);
                }
                Err(e) => {
                    eprintln!("iotw: error: {}", crate::chain(&e));
                    damaged.push(crate::chain(&e));
                }
            }
        }
        if let Some(p) = progress {
            p.finish();
        }
        // What the capturing host said about its own drops (pcapng Interface Statistics).
        for f in merge.files() {
            for (i, iface) in f.interfaces.iter().enumerate() {
                if let Some(d) = iface.dropped.filter(|d| *d > 0) {
                    let name = iface.name.clone().unwrap_or_else(|| format!("interface {i}"));
                    capture_drops.push(format!("{}: {name} dropped {d} packets while capturing", f.path().display()));
                }
            }
        }
    } else {
        let status =
            if show_progress { Some(hooks.status.clone().unwrap_or_else(|| Arc::new(String::new))) } else { None };
        live_report = run_live(&cfg, &filter, &interfaces, &mut pipeline, &stop, duration, limit, status, !a.quiet)?;
    }

    let interrupted = signalled.load(Ordering::Relaxed);
    let counters = pipeline.finish();
    let report = shipper.join().map_err(|_| anyhow::anyhow!("the shipper thread panicked"))?;
    let network = network.map(|n| n.finish(&cfg, &signalled, a.quiet));
    if !a.quiet {
        summary(
            &counters,
            &report,
            dropped_batches.load(Ordering::Relaxed),
            &live_report,
            &damaged,
            started.elapsed(),
            interrupted,
        );
        if let Some(n) = &network {
            n.print();
        }
    }
    if let Some(lost) = network.as_ref().map(|n| n.counters.spool_dropped.load(Ordering::Relaxed)).filter(|l| *l > 0) {
        bail!("{lost} documents were refused by the full spool");
    }
    if report.failed > 0 {
        bail!("{} documents could not be written: {}", report.failed, report.last_error.unwrap_or_default());
    }
    Ok(())
}

/// A network sink: the spool the shipper writes to and the workers delivering from it.
struct Network {
    name: &'static str,
    counters: Arc<ShipCounters>,
    spool: Arc<Spool>,
    spool_dir: PathBuf,
    delivery: Delivery,
    flavour: Option<Flavour>,
    dead_letter: PathBuf,
}

/// What a network sink did, once its workers stopped.
struct NetworkReport {
    name: &'static str,
    counters: Arc<ShipCounters>,
    flavour: Option<Flavour>,
    left: iotw_ship::spool::Depth,
    spool_dir: PathBuf,
    damaged: u64,
    dead_letter: PathBuf,
}

impl Network {
    fn start(cfg: &Config, quiet: bool, logstash: bool) -> Result<Network> {
        if logstash {
            let counters = Arc::new(ShipCounters::default());
            let (spool_dir, spool_cfg) = cfg.spool("logstash");
            let spool = Arc::new(Spool::open(&spool_dir, spool_cfg).context("opening the spool")?);
            Self::tell_left(&spool, &spool_dir, quiet);
            let ls_cfg = cfg.logstash().map_err(|e| anyhow::anyhow!("[logstash]: {e}"))?;
            if !quiet {
                let tls = if cfg.logstash.tls { " over TLS" } else { "" };
                eprintln!("iotw: shipping to Logstash{tls} ({})", cfg.logstash.hosts.join(", "));
            }
            if cfg.logstash.insecure_skip_verify {
                eprintln!("iotw: WARNING: logstash.insecure_skip_verify is on: server certificates are not checked");
            }
            let delivery = match cfg.logstash.protocol {
                config::LogstashProtocol::Beats => Delivery::start(
                    Arc::new(iotw_ship::logstash::Logstash::new(ls_cfg, counters.clone())),
                    spool.clone(),
                ),
                config::LogstashProtocol::JsonLines => Delivery::start(
                    Arc::new(iotw_ship::logstash::JsonLines::new(ls_cfg, counters.clone())),
                    spool.clone(),
                ),
            };
            let dead_letter = PathBuf::new();
            let name = match cfg.logstash.protocol {
                config::LogstashProtocol::Beats => "logstash",
                config::LogstashProtocol::JsonLines => "logstash json_lines",
            };
            return Ok(Network { name, counters, spool, spool_dir, delivery, flavour: None, dead_letter });
        }
        let es_cfg = cfg.elastic();
        if es_cfg.insecure {
            eprintln!("iotw: WARNING: elasticsearch.insecure_skip_verify is on: server certificates are not checked");
        }
        let counters = Arc::new(ShipCounters::default());
        let dead_letter = es_cfg.dead_letter.clone();
        let data_stream = matches!(es_cfg.index, iotw_ship::elastic::IndexMode::DataStream { .. });
        let es = Arc::new(Elastic::new(es_cfg, counters.clone()).context("[elasticsearch]")?);
        let flavour = match es.detect() {
            Ok(f) => {
                if data_stream && !f.has_data_streams() {
                    bail!("{f} has no data streams (7.9 or later needed): set elasticsearch.index_mode = \"daily\"");
                }
                if !quiet {
                    eprintln!("iotw: shipping to {f} ({})", cfg.elasticsearch.urls.join(", "));
                }
                Some(f)
            }
            Err(e) => {
                eprintln!("iotw: warning: {}; documents wait in the spool until it answers", crate::chain(&e));
                None
            }
        };
        let (spool_dir, spool_cfg) = cfg.spool("elasticsearch");
        let spool = Arc::new(Spool::open(&spool_dir, spool_cfg).context("opening the spool")?);
        Self::tell_left(&spool, &spool_dir, quiet);
        let delivery = Delivery::start(es, spool.clone());
        Ok(Network { name: "elasticsearch", counters, spool, spool_dir, delivery, flavour, dead_letter })
    }

    fn tell_left(spool: &Spool, dir: &std::path::Path, quiet: bool) {
        let left = spool.depth();
        if left.records > 0 && !quiet {
            eprintln!(
                "iotw: {} batches ({} bytes) from an earlier run wait in {}: delivered first",
                left.records,
                left.bytes,
                dir.display()
            );
        }
    }

    /// Waits for the spool to empty (files; at most `drain_timeout`, a few seconds after an
    /// interrupt), then stops the workers.
    fn finish(self, cfg: &Config, signalled: &AtomicBool, quiet: bool) -> NetworkReport {
        let started = Instant::now();
        let configured =
            u64::try_from(cfg.elasticsearch.drain_timeout.0).ok().filter(|n| *n > 0).map(Duration::from_nanos);
        let interrupted_before = signalled.load(Ordering::Relaxed);
        let limit = if interrupted_before {
            Some(configured.unwrap_or(Duration::MAX).min(Duration::from_secs(5)))
        } else {
            configured
        };
        let mut told = Instant::now();
        if !quiet && !self.spool.is_drained() {
            let d = self.spool.depth();
            eprintln!("iotw: capture done; delivering {} batches ({} bytes) from the spool", d.records, d.bytes);
        }
        while !self.spool.is_drained() {
            if limit.is_some_and(|l| started.elapsed() >= l) {
                break;
            }
            if !interrupted_before && signalled.load(Ordering::Relaxed) {
                break;
            }
            if !quiet && told.elapsed() >= Duration::from_secs(10) {
                told = Instant::now();
                let d = self.spool.depth();
                eprintln!(
                    "iotw: waiting to deliver {} batches ({} bytes){}",
                    d.records,
                    d.bytes,
                    self.counters.last_error().map(|e| format!("; last error: {e}")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.delivery.stop();
        let _ = self.spool.sync();
        NetworkReport {
            name: self.name,
            left: self.spool.depth(),
            damaged: self.spool.damaged(),
            counters: self.counters,
            flavour: self.flavour,
            spool_dir: self.spool_dir,
            dead_letter: self.dead_letter,
        }
    }
}

impl NetworkReport {
    fn print(&self) {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        if self.name.starts_with("logstash") {
            let (done, unit) =
                if self.name == "logstash" { ("acknowledged", "windows") } else { ("written", "connections") };
            eprintln!(
                "  {}: accepted {}, {done} {}, retried {} ({} {unit}, {} failed, {} backoffs)",
                self.name,
                get(&c.accepted),
                get(&c.stored),
                get(&c.retried),
                get(&c.requests),
                get(&c.request_errors),
                get(&c.backoffs),
            );
        } else {
            eprintln!(
                "  elasticsearch{}: accepted {}, stored {}, already stored {}, dead-lettered {}, retried {} \
             ({} requests, {} failed, {} backoffs)",
                self.flavour.as_ref().map(|f| format!(" ({f})")).unwrap_or_default(),
                get(&c.accepted),
                get(&c.stored),
                get(&c.duplicates),
                get(&c.dead_lettered),
                get(&c.retried),
                get(&c.requests),
                get(&c.request_errors),
                get(&c.backoffs),
            );
        }
        if get(&c.dead_lettered) > 0 {
            eprintln!("  dead letters in {}", self.dead_letter.display());
        }
        if self.left.records > 0 {
            eprintln!(
                "  spool: {} batches ({} bytes) not delivered yet, kept in {} for the next run",
                self.left.records,
                self.left.bytes,
                self.spool_dir.display()
            );
        }
        if get(&c.spool_dropped) > 0 {
            eprintln!("  spool full: {} documents refused", get(&c.spool_dropped));
        }
        if self.damaged > 0 {
            eprintln!("  spool: {} damaged records skipped", self.damaged);
        }
        if let Some(e) = c.last_error() {
            eprintln!("  last delivery error: {e}");
        }
    }
}

/// Kernel and queue counters of one live interface.
#[derive(Debug, Clone)]
struct LiveReport {
    interface: String,
    kernel: Option<(u64, u64)>,
    queue_dropped: u64,
    delivered: u64,
}

#[allow(clippy::too_many_arguments)]
fn run_live(
    cfg: &Config,
    filter: &iotw_capture::filter::Filter,
    interfaces: &[String],
    pipeline: &mut Pipeline,
    stop: &Arc<AtomicBool>,
    duration: Option<i64>,
    limit: u64,
    progress: Option<Status>,
    announce: bool,
) -> Result<Vec<LiveReport>> {
    use iotw_capture::LiveConfig;
    use iotw_wire::LinkType;

    struct Owned {
        ts: i64,
        link: LinkType,
        source: u16,
        orig_len: u32,
        data: Vec<u8>,
    }

    let mut caps = Vec::new();
    for (i, name) in interfaces.iter().enumerate() {
        let lc = LiveConfig {
            interface: name.clone(),
            snaplen: cfg.capture.snaplen,
            block_size: cfg.capture.ring_block_size,
            blocks: cfg.capture.ring_blocks,
            filter: filter.clone(),
        };
        caps.push(iotw_capture::open_live(&lc, i as u16, cfg.capture.backend == config::Backend::Libpcap)?);
    }
    let (ftx, frx) = crossbeam_channel::bounded::<Vec<Owned>>(cfg.capture.queue_blocks);
    let mut threads = Vec::new();
    for mut cap in caps {
        let (ftx, stop) = (ftx.clone(), stop.clone());
        let name = format!("iotw-cap-{}", cap.interface());
        threads.push(std::thread::Builder::new().name(name).spawn(move || {
            let mut result = Ok(());
            let mut queue_dropped = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut batch = Vec::new();
                let r = cap.poll_block(100, &mut |f| {
                    batch.push(Owned {
                        ts: f.ts,
                        link: f.link,
                        source: f.source,
                        orig_len: f.orig_len,
                        data: f.data.to_vec(),
                    });
                });
                if let Err(e) = r {
                    result = Err(e);
                    break;
                }
                if !batch.is_empty() {
                    let n = batch.len() as u64;
                    // The pipeline is behind: drop the newest frames and count them.
                    if let Err(crossbeam_channel::TrySendError::Full(_)) = ftx.try_send(batch) {
                        queue_dropped += n;
                    }
                }
            }
            let report = LiveReport {
                interface: cap.interface().to_owned(),
                kernel: Some(cap.counters()),
                queue_dropped,
                delivered: cap.delivered(),
            };
            (result, report)
        })?);
    }
    drop(ftx);
    let started = Instant::now();
    let mut seen = 0u64;
    let mut last_tick = Instant::now();
    if announce {
        eprintln!("iotw: capturing on {} (Ctrl-C to stop)", interfaces.join(", "));
    }
    loop {
        if duration.is_some_and(|d| started.elapsed().as_nanos() as i64 >= d) || seen >= limit {
            stop.store(true, Ordering::SeqCst);
        }
        match frx.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => {
                for o in batch {
                    let f = iotw_capture::Frame {
                        ts: o.ts,
                        link: o.link,
                        source: o.source,
                        interface: 0,
                        data: &o.data,
                        orig_len: o.orig_len,
                    };
                    pipeline.frame(&f);
                    seen += 1;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            pipeline.tick(iotw_event::wall_clock());
            last_tick = Instant::now();
            if let Some(status) = &progress {
                let extra = status();
                let extra = if extra.is_empty() { extra } else { format!(", {extra}") };
                eprint!("\r{seen} packets{extra}");
            }
        }
    }
    if progress.is_some() {
        eprintln!();
    }
    let mut reports = Vec::new();
    for t in threads {
        let (r, rep) = t.join().map_err(|_| anyhow::anyhow!("a capture thread panicked"))?;
        if let Err(e) = r {
            eprintln!("iotw: error: {}", crate::chain(&e));
        }
        reports.push(rep);
    }
    Ok(reports)
}

/// The progress bar for file replay: bytes, packets/s, ETA.
struct Progress {
    bar: indicatif::ProgressBar,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start(files: &[CaptureFile], packets: Arc<AtomicU64>, status: Option<Status>) -> Self {
        let parts: Vec<(Arc<AtomicU64>, u64)> = files.iter().map(|f| f.progress()).collect();
        let total: u64 = parts.iter().map(|p| p.1).sum();
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let done = Arc::new(AtomicBool::new(false));
        let (b, d) = (bar.clone(), done.clone());
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                let read: u64 = parts.iter().map(|p| p.0.load(Ordering::Relaxed)).sum();
                let n = packets.load(Ordering::Relaxed);
                let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-3);
                b.set_position(read);
                let extra = status.as_ref().map(|s| format!(", {}", s())).unwrap_or_default();
                b.set_message(format!("{n} packets, {rate:.0} packets/s{extra}"));
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Progress { bar, done, thread }
    }

    fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.bar.finish_and_clear();
    }
}

fn summary(
    c: &Counters,
    r: &ShipReport,
    dropped_batches: u64,
    live: &[LiveReport],
    damaged: &[String],
    took: Duration,
    interrupted: bool,
) {
    let secs = took.as_secs_f64().max(1e-6);
    eprintln!(
        "iotw: {} packets ({} bytes) in {:.2} s, {:.0} packets/s{}",
        c.packets,
        c.bytes,
        secs,
        c.packets as f64 / secs,
        if interrupted { " (interrupted)" } else { "" }
    );
    let by: Vec<String> = c.flows_by_transport.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!("  flows: {} ({})", c.flows.flows_created, if by.is_empty() { "none".into() } else { by.join(", ") });
    let f = &c.flows;
    if f.non_ip + f.fragments + f.flows_evicted + f.tcp_gap_bytes > 0 {
        eprintln!(
            "  packets: non-IP {}, IP fragments {} ({} datagrams reassembled); flows evicted {}; TCP bytes missing {}",
            f.non_ip, f.fragments, f.reassembled_datagrams, f.flows_evicted, f.tcp_gap_bytes
        );
    }
    let mut counts = c.documents.clone();
    if r.journeys > 0 {
        counts.insert("journey", r.journeys);
    }
    if r.alerts > 0 {
        counts.insert("alert", r.alerts);
    }
    let docs: u64 = counts.values().sum();
    let kinds: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "  documents: {docs} ({}); written {}, already stored {}, failed {}",
        if kinds.is_empty() { "none".into() } else { kinds.join(", ") },
        r.written,
        r.duplicates,
        r.failed
    );
    if let Some(d) = &r.delivery {
        let per = |m: &std::collections::BTreeMap<&str, u64>| {
            m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        };
        eprintln!(
            "  alerts delivered: {} ({}); failed {}{}; retries {}; dropped {}",
            d.sent_total(),
            if d.sent.is_empty() { "none".into() } else { per(&d.sent) },
            d.failed_total(),
            if d.failed.is_empty() { String::new() } else { format!(" ({})", per(&d.failed)) },
            d.retries,
            d.dropped
        );
        if let Some(e) = &d.last_error {
            eprintln!("  last alerter error: {e}");
        }
    }
    if !c.anomalies.is_empty() {
        let a: Vec<String> = c.anomalies.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!(
            "  anomalies: {} ({} documents suppressed by rate limit)",
            a.join(", "),
            c.anomaly_documents_suppressed
        );
    } else {
        eprintln!("  anomalies: none");
    }
    if c.filtered_out > 0 || c.snaplen_truncated > 0 {
        eprintln!("  filtered out: {}, cut by snaplen: {}", c.filtered_out, c.snaplen_truncated);
    }
    let mut drops = format!("  drops: output queue {dropped_batches} batches");
    for l in live {
        let (kp, kd) = l.kernel.unwrap_or((0, 0));
        drops.push_str(&format!(
            "; {}: kernel accepted {kp}, kernel dropped {kd}, queue dropped {}, delivered {}",
            l.interface, l.queue_dropped, l.delivered
        ));
    }
    eprintln!("{drops}");
    for d in damaged {
        eprintln!("  damaged input: {d}");
    }
    if let Some(e) = &r.last_error {
        eprintln!("  output error: {e}");
    }
}
