//! The packet path: wire -> flow -> decode on this thread, then (queue) -> render -> journeys
//! -> enrich -> fireman -> ship on the shipper's ([`finish_batch`]). Rendering deferred documents is
//! shared: when the shipper is behind, this thread renders the batch before queueing it.
//! Everything here counts instead of logging; the counts become the run summary.

use crate::config::Config;
use iotw_capture::filter::Filter;
use iotw_capture::Frame;
use iotw_decode::{records, Registry, Session};
use iotw_enrich::Chain;
use iotw_event::{Event, Nanos};
use iotw_fireman::Stage;
use iotw_flow::{Dir, EndReason, FlowAnomaly, FlowHandler, FlowKey, FlowMeta, FlowTable, Payload};
use iotw_ship::queue::QueueSender;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a run did, for the summary and for tests.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
    pub filtered_out: u64,
    pub snaplen_truncated: u64,
    /// Documents produced, by `event.dataset`.
    pub documents: BTreeMap<&'static str, u64>,
    /// Anomalies by reason, each counted whether or not its document was emitted.
    pub anomalies: BTreeMap<String, u64>,
    pub anomaly_documents_suppressed: u64,
    pub flows: iotw_flow::FlowStats,
    pub flows_by_transport: BTreeMap<String, u64>,
}

/// Turns what the flow table reports into documents and ships them in bounded batches, so
/// no burst (such as ending a million flows at once) piles up in memory.
struct Emit {
    reg: Registry,
    pending: Vec<Event>,
    flows_by_transport: BTreeMap<String, u64>,
    batch_size: usize,
    out: QueueSender<Vec<Event>>,
    counters: Counters,
    max_anomaly_docs: u32,
    anomaly_budget: HashMap<String, (i64, u32)>,
    /// Batches the sink is done with, whose memory the next documents reuse.
    returned: Option<crossbeam_channel::Receiver<iotw_event::Spent>>,
    /// Whether this process may run on more than one core: leaving documents to the
    /// shipper's thread only pays when it runs beside this one.
    spare_core: bool,
}

/// Batches waiting for the shipper from which it counts as behind, and the pipeline renders
/// deferred documents itself. One or two waiting is the ordinary jitter of two threads taking
/// turns (the shipper has time to spare on the whole): rendering in place from the first one
/// waiting cost the pipeline thread 1.6 % on the SIP benchmark.
const SHIPPER_BEHIND: usize = 3;

impl Emit {
    fn push(&mut self, e: Event) {
        self.pending.push(e);
        if self.pending.len() >= self.batch_size {
            self.ship();
        }
    }

    /// Queues the pending documents for the sink (enrichment and rules run there), rendering
    /// them here first when the shipper is behind.
    fn ship(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut next = Vec::new();
        if let Some(rx) = &self.returned {
            for done in rx.try_iter() {
                next = done.reuse();
            }
        }
        next.reserve(self.batch_size);
        let mut batch = std::mem::replace(&mut self.pending, next);
        self.limit_anomalies(&mut batch);
        let keeping_up = self.out.len() < SHIPPER_BEHIND;
        if !keeping_up {
            // The shipper is behind: render this batch here.
            iotw_event::render_all(&mut batch);
        }
        // Leave the next batch's rendering to the shipper only while it keeps up, on a core
        // of its own.
        self.reg.defer = keeping_up && self.spare_core;
        for e in &batch {
            *self.counters.documents.entry(e.dataset).or_default() += 1;
        }
        self.out.send(batch);
    }

    /// Counts every anomaly; keeps at most `max_anomaly_docs` documents per reason per second.
    fn limit_anomalies(&mut self, batch: &mut Vec<Event>) {
        let (budget, max, counters) = (&mut self.anomaly_budget, self.max_anomaly_docs, &mut self.counters);
        batch.retain(|e| {
            if e.dataset != "anomaly" {
                return true;
            }
            let reason = e.get_str("event.reason").map_or_else(|| "unknown".to_owned(), |r| r.into_owned());
            *counters.anomalies.entry(reason.clone()).or_default() += 1;
            let sec = e.ts.div_euclid(1_000_000_000);
            let slot = budget.entry(reason).or_insert((sec, 0));
            if slot.0 != sec {
                *slot = (sec, 0);
            }
            slot.1 += 1;
            if slot.1 > max {
                counters.anomaly_documents_suppressed += 1;
                return false;
            }
            true
        });
    }
}

impl FlowHandler<Session> for Emit {
    fn payload(&mut self, meta: &FlowMeta, s: &mut Session, dir: Dir, ts: Nanos, p: Payload<'_>) {
        s.payload(&self.reg, meta, dir, ts, p, &mut self.pending);
    }

    fn flow_end(&mut self, meta: &FlowMeta, s: &mut Session, reason: EndReason) {
        s.finish(&self.reg, meta, meta.last, &mut self.pending);
        *self.flows_by_transport.entry(meta.transport_name().into_owned()).or_default() += 1;
        self.push(records::flow(meta, Some(reason), s.protocol()));
    }

    fn long_lived(&self, s: &Session) -> bool {
        s.long_lived()
    }

    fn flow_update(&mut self, meta: &FlowMeta, s: &mut Session) {
        self.push(records::flow(meta, None, s.protocol()));
    }

    fn anomaly(&mut self, ts: Nanos, _key: Option<&FlowKey>, a: FlowAnomaly) {
        let detail = match a {
            FlowAnomaly::Defrag(d) => {
                format!("IP fragment reassembly: {}", d.code().replace('_', " "))
            }
            FlowAnomaly::TableFull => "flow table full: the flow closest to expiry was ended".into(),
            FlowAnomaly::ReassemblyLimit => "TCP out-of-order buffer limit: missing bytes handed on as a gap".into(),
            FlowAnomaly::InconsistentOverlap => "overlapping TCP data differs from the first copy (first kept)".into(),
            FlowAnomaly::BadReassembledDatagram => "reassembled IP datagram has an unreadable transport header".into(),
        };
        self.push(records::anomaly(ts, a.code(), &detail, None, None));
    }
}

/// What happens to a batch between the queue and the sink, on the shipper's thread: the
/// deferred parts of documents are rendered, then enrichment and the rules run, in order.
pub fn finish_batch(batch: &mut Vec<Event>, stages: &mut Stages) {
    iotw_event::render_all(batch);
    stages.journeys.observe(batch);
    stages.enrich.apply(batch);
    stages.fireman.observe(batch);
}

/// Every document of a capture file, decoded with `cfg` in memory and passed through the
/// default stages (no enrichment), in the order the pipeline hands them to a sink. For
/// benchmarks and tools that need documents without a sink.
pub fn documents_of(capture: &std::path::Path, cfg: &Config) -> anyhow::Result<Vec<Event>> {
    let (tx, rx, _) = iotw_ship::queue::queue::<Vec<Event>>(1 << 20, iotw_ship::queue::FullPolicy::Block);
    let mut p = Pipeline::new(cfg, None, vec![], tx, Default::default());
    let mut f = iotw_capture::CaptureFile::open(capture, 0, cfg.file_limits())?;
    while f.advance()? {
        if let Some(frame) = f.current() {
            p.frame(&frame);
        }
    }
    p.finish();
    let mut stages = Stages::default();
    let mut docs = Vec::new();
    for mut b in rx {
        finish_batch(&mut b, &mut stages);
        docs.extend(b);
    }
    docs.extend(stages.finish());
    Ok(docs)
}

/// The document stages of the shipper's thread.
#[derive(Debug, Default)]
pub struct Stages {
    pub journeys: iotw_enrich::journey::Journeys,
    pub enrich: Chain,
    pub fireman: Stage,
}

impl Stages {
    /// The run is over: what the stages still hold, as a last batch.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut last = Vec::new();
        self.journeys.flush(&mut last);
        self.enrich.apply(&mut last);
        self.fireman.observe(&mut last);
        last
    }
}

/// The protocols this build decodes.
fn registry(cfg: &Config, keys: Arc<iotw_decode::tls::keys::KeyLog>) -> Registry {
    let mut r = Registry::new(cfg.decode_limits());
    r.register(Box::new(iotw_decode::sip::Sip));
    r.register(Box::new(iotw_decode::http::Http::new(cfg.http.clone())));
    // What TLS carries, once decrypted with the key log's secrets: HTTPS and SIPS.
    let mut inner = Registry::new(cfg.decode_limits());
    inner.register(Box::new(iotw_decode::http::Http::new(cfg.http.clone())));
    inner.register(Box::new(iotw_decode::sip::Sip));
    r.register(Box::new(iotw_decode::tls::Tls::with_decryption(keys, inner)));
    r.register(Box::new(iotw_decode::genesys::Tlib::new(cfg.genesys.wire.clone())));
    r.register(Box::new(iotw_decode::dns::Dns));
    r.register(Box::new(iotw_decode::dns::DnsTcp));
    r
}

/// The pipeline of one run.
pub struct Pipeline {
    table: FlowTable<Session>,
    emit: Emit,
    filter: Option<Filter>,
    sources: Vec<String>,
    frame_no: u64,
    /// Packets so far, for the progress display.
    pub progress_packets: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("table", &self.table).finish()
    }
}

impl Pipeline {
    pub fn new(
        cfg: &Config,
        filter: Option<Filter>,
        sources: Vec<String>,
        out: QueueSender<Vec<Event>>,
        keys: Arc<iotw_decode::tls::keys::KeyLog>,
    ) -> Self {
        let spare_core = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        let mut reg = registry(cfg, keys);
        // The shipper starts idle: it can take the first batch's rendering too.
        reg.defer = spare_core;
        Pipeline {
            table: FlowTable::new(cfg.flow_config()),
            emit: Emit {
                reg,
                pending: Vec::new(),
                flows_by_transport: BTreeMap::new(),
                batch_size: cfg.output.batch_size,
                out,
                counters: Counters::default(),
                max_anomaly_docs: cfg.anomalies.max_documents_per_second,
                anomaly_budget: HashMap::new(),
                returned: None,
                spare_core,
            },
            filter: filter.filter(|f| !f.is_empty()),
            sources,
            frame_no: 0,
            progress_packets: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Batches coming back from the sink once written: their memory is reused.
    pub fn recycle_from(&mut self, returned: crossbeam_channel::Receiver<iotw_event::Spent>) {
        self.emit.returned = Some(returned);
    }

    /// One captured frame, all the way through.
    pub fn frame(&mut self, f: &Frame<'_>) {
        self.frame_no += 1;
        self.emit.counters.packets += 1;
        self.emit.counters.bytes += u64::from(f.orig_len);
        if self.frame_no.is_multiple_of(4096) {
            self.progress_packets.store(self.frame_no, Ordering::Relaxed);
        }
        match iotw_wire::parse(f.link, f.data) {
            Ok(pkt) => {
                if self.filter.as_ref().is_some_and(|flt| !flt.matches(&pkt)) {
                    self.emit.counters.filtered_out += 1;
                    return;
                }
                if pkt.truncated {
                    self.emit.counters.snaplen_truncated += 1;
                }
                self.table.packet(f.ts, f.orig_len, &pkt, &mut self.emit);
            }
            Err(e) => {
                let source = self.sources.get(usize::from(f.source)).map_or("", String::as_str);
                let doc = records::anomaly(f.ts, e.code(), &e.to_string(), None, Some((self.frame_no, source)));
                self.emit.push(doc);
            }
        }
        // Decoders write documents straight into `pending`.
        if self.emit.pending.len() >= self.emit.batch_size {
            self.emit.ship();
        }
    }

    /// A capture source was damaged part-way: record it as an anomaly document.
    pub fn source_damaged(&mut self, ts: Nanos, source: &str, what: &str) {
        let doc = records::anomaly(ts, "capture_damaged", what, None, Some((self.frame_no, source)));
        self.emit.push(doc);
    }

    /// Moves time on without packets (live capture), and ships what is pending.
    pub fn tick(&mut self, now: Nanos) {
        self.table.advance(now, &mut self.emit);
        self.emit.ship();
    }

    /// Ends every flow and ships everything. Returns the run's counters.
    pub fn finish(mut self) -> Counters {
        self.table.flush(&mut self.emit);
        self.emit.ship();
        let mut c = std::mem::take(&mut self.emit.counters);
        c.flows = self.table.stats();
        c.flows_by_transport = std::mem::take(&mut self.emit.flows_by_transport);
        self.progress_packets.store(self.frame_no, Ordering::Relaxed);
        c
    }
}
