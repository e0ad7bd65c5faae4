//! Decoding: what iotw reads out of flows.
//!
//! Every protocol implements one contract ([`Protocol`] to recognise a flow by content,
//! [`Decoder`] to parse it with per-flow state), and the per-flow [`Session`] drives it:
//! buffering stream bytes per direction, looping over several messages per chunk, handing on
//! gaps, and re-probing for a message boundary after a gap or a parse failure. Decoders get
//! their limits passed in ([`DecodeLimits`]); they never read config or clocks.
//!
//! This crate also turns flows and anomalies into documents ([`records`]).
//!
//! Protocols live in one folder each (`sip/`, `http/`, `tls/`, `genesys/`), each
//! split into `parser.rs` (pure), `state.rs` (per-flow state) and `event.rs` (documents).

pub mod dns;
pub mod genesys;
pub mod http;
pub mod records;
mod session;
pub mod sip;
pub mod tls;

pub use session::{Registry, Session};

use iotw_event::{Dur, Event, Nanos};

const SECOND: Nanos = 1_000_000_000;
use iotw_flow::{Dir, FlowMeta};
use std::borrow::Cow;

/// The result of one [`Decoder::parse`] call.
///
/// Invariant for `NeedMore`: `consumed <= input.len() < consumed + needed`: the decoder used
/// `consumed` bytes and cannot go on until `needed` bytes (counted from `consumed`) are there.
/// When `consumed > 0` the session calls again with the rest at once, so a decoder that meets
/// bytes it cannot parse after some good messages returns `NeedMore` for those messages and
/// `Invalid` on the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Every byte of the input was consumed.
    Done,
    NeedMore {
        consumed: usize,
        needed: usize,
    },
    /// The input at this point is not a valid message; the session re-probes for a boundary.
    Invalid(Anomaly),
}

impl Progress {
    /// Checks the `NeedMore` invariant in debug builds and returns `self`.
    pub fn checked(self, input_len: usize) -> Self {
        if let Progress::NeedMore { consumed, needed } = self {
            debug_assert!(consumed <= input_len && input_len < consumed + needed, "NeedMore invariant broken");
        }
        self
    }
}

/// What a protocol says about the first bytes of a flow direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Match,
    NoMatch,
    /// Too few bytes to tell.
    NeedMore,
}

/// A counted oddity in traffic: a reason code (stable, for `event.reason`) and a detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub code: &'static str,
    pub detail: Cow<'static, str>,
}

impl Anomaly {
    pub fn new(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Anomaly { code, detail: detail.into() }
    }
}

/// Caps every decoder honours (the `[decode]` section of the config file). Defaults are in
/// docs/ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeLimits {
    /// Largest message a decoder may ask to buffer.
    pub max_message: usize,
    /// Bytes of a direction inspected before a flow is declared unrecognised.
    pub max_probe: usize,
    /// Datagrams of a UDP flow probed before it is declared unrecognised.
    pub max_probe_datagrams: u32,
    /// Headers (or attributes) per message.
    pub max_headers: usize,
    /// Open transactions per flow.
    pub max_transactions: usize,
    /// Bytes of decompressed content per message.
    pub max_decompressed: usize,
    /// Nesting depth of structured values.
    pub max_depth: usize,
    /// A call (dialog) not answered within this time of its last message is closed as timed
    /// out (RFC 3261 Timer C is at least 3 minutes).
    pub call_setup_timeout: Dur,
    /// An answered call with no message for this long is closed as timed out (twice its
    /// Session-Expires when it negotiated a session timer, RFC 4028).
    pub call_idle_timeout: Dur,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_message: 1 << 20,
            max_probe: 4096,
            max_probe_datagrams: 8,
            max_headers: 256,
            max_transactions: 1024,
            max_decompressed: 4 << 20,
            max_depth: 16,
            call_setup_timeout: Dur(300 * SECOND),
            call_idle_timeout: Dur(4 * 3600 * SECOND),
        }
    }
}

/// What a decoder sees of the world while it parses: the flow, the time, the direction, the
/// limits, and where its documents go.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub meta: &'a FlowMeta,
    pub ts: Nanos,
    pub dir: Dir,
    pub limits: &'a DecodeLimits,
    pub(crate) out: &'a mut Vec<Event>,
    pub(crate) endpoints: &'a mut records::EndpointCache,
    /// Leave the bulk of documents to be rendered on another thread (see [`Registry::defer`]).
    pub defer: bool,
}

impl Ctx<'_> {
    /// A new document with the flow's endpoints set as `source`/`destination` for the
    /// current direction, and the dataset as `network.protocol`.
    pub fn event(&mut self, dataset: &'static str, kind: &'static str, identity: &[&[u8]]) -> Event {
        self.event_for(dataset, dataset, kind, identity)
    }

    /// A new document of `dataset` for a message of `protocol` (`network.protocol`).
    pub fn event_for(
        &mut self,
        dataset: &'static str,
        protocol: &'static str,
        kind: &'static str,
        identity: &[&[u8]],
    ) -> Event {
        self.event_in(iotw_event::BODY_CAPACITY, (dataset, protocol, kind), identity)
    }

    /// [`Ctx::event`] for a document its decoder leaves to the rendering thread when `defer`
    /// is set ([`Event::defer`]): its buffer then starts small and that thread grows it (see
    /// [`iotw_event::DEFERRED_CAPACITY`]).
    pub fn event_to_defer(&mut self, dataset: &'static str, kind: &'static str, identity: &[&[u8]]) -> Event {
        self.event_in(self.capacity_to_defer(), (dataset, dataset, kind), identity)
    }

    fn event_in(
        &mut self,
        capacity: usize,
        (dataset, protocol, kind): (&'static str, &'static str, &'static str),
        identity: &[&[u8]],
    ) -> Event {
        let mut e = Event::with_capacity(dataset, kind, self.ts, identity, capacity);
        self.endpoints.write(&mut e, self.meta, self.dir, protocol);
        e
    }

    /// The endpoint members of the current direction's documents of `protocol`, to be copied
    /// into a document on the rendering thread ([`iotw_event::Event::deferred`]).
    pub fn lead(&mut self, protocol: &'static str) -> std::sync::Arc<iotw_event::Lead> {
        self.endpoints.lead(self.meta, self.dir, protocol)
    }

    /// The buffer a new document starts with when its decoder leaves it to the rendering
    /// thread while `defer` is set, and writes it here otherwise.
    pub fn capacity_to_defer(&self) -> usize {
        if self.defer {
            iotw_event::DEFERRED_CAPACITY
        } else {
            iotw_event::BODY_CAPACITY
        }
    }

    /// A new document at `ts` with the endpoints set for direction `dir` (a transaction's
    /// document is written when its response ends, but is dated and oriented by its request).
    pub fn event_at(
        &mut self,
        dataset: &'static str,
        kind: &'static str,
        ts: Nanos,
        dir: Dir,
        identity: &[&[u8]],
    ) -> Event {
        let mut e = Event::new(dataset, kind, ts, identity);
        self.endpoints.write(&mut e, self.meta, dir, dataset);
        e
    }

    pub fn emit(&mut self, e: Event) {
        self.out.push(e);
    }

    /// Emits an anomaly document for this flow.
    pub fn anomaly(&mut self, a: &Anomaly) {
        let e = records::anomaly(self.ts, a.code, &a.detail, Some((self.meta, self.dir)), None);
        self.out.push(e);
    }
}

/// A protocol: recognises a flow direction by content and makes decoders for it.
pub trait Protocol: Send + Sync {
    /// The protocol's name in documents (`network.protocol`).
    fn name(&self) -> &'static str;
    /// Whether it decodes TCP streams, UDP datagrams, or both.
    fn transports(&self) -> Transports;
    /// Looks at the first bytes of one direction. Ports are hints only.
    fn probe(&self, dir: Dir, input: &[u8], ports: (u16, u16)) -> Probe;
    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder>;
    /// Signalling whose sessions outlast its silences (SIP: a call is quiet between INVITE
    /// and BYE): its UDP flows are kept for the flow table's `signalling_idle`.
    fn long_lived(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    pub tcp: bool,
    pub udp: bool,
}

/// Where the bytes handed to [`Decoder::resync`] begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// Where bytes resume after some were dropped (a gap, an oversized or unparseable message
    /// thrown away): a message may start at the first byte.
    Resumed,
    /// One byte into a message the decoder just found invalid: the first byte is inside it.
    InsideInvalid,
}

/// Per-flow decoding state. One instance serves both directions of a flow.
pub trait Decoder: Send {
    /// Parses as many whole messages from `input` as it holds (stream) or the one datagram.
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress;
    /// `len` bytes are missing from direction `ctx.dir` here.
    fn gap(&mut self, _ctx: &mut Ctx<'_>, _len: u64) {}
    /// Where the next message may start in `input` after a gap or an invalid message (`from`
    /// says which: whether `input[0]` itself may be a boundary).
    fn resync(&self, dir: Dir, input: &[u8], from: Resync) -> Option<usize>;
    /// The flow ended: emit what is still open (unanswered requests, ...).
    fn finish(&mut self, _ctx: &mut Ctx<'_>) {}
}
