//! The flow table: every packet joins a bidirectional flow; flows end by TCP close, by idle
//! timeout, by eviction, or at the end of the capture, and are reported periodically while
//! they last (active timeout). Time is packet time, so a file replays exactly as it was seen.

use crate::defrag::{Defrag, DefragAnomaly, DefragLimits, FragmentIn};
use crate::key::{community_id, Endpoint, FlowKey};
use crate::reassembly::{Chunk, ReassemblyLimits, Segment, Stream};
use crate::tcp::{self, DirSeen, History};
use iotw_wire::{ipproto, Packet, TcpHeader, Transport};
use std::collections::HashMap;

mod slab;
use slab::{Chain, List, Slab};

pub type Nanos = i64;
const SEC: Nanos = 1_000_000_000;

/// Timeouts and limits of the flow layer. Defaults are in docs/ARCHITECTURE.md.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    pub tcp_idle: Nanos,
    pub udp_idle: Nanos,
    /// UDP flows whose decoder asks to be kept (signalling such as SIP: a call outlasts the
    /// silence of its signalling) end after this long without packets.
    pub signalling_idle: Nanos,
    pub other_idle: Nanos,
    /// How long a closed TCP connection (FIN both ways, or RST) lingers for stray packets.
    pub tcp_closed_linger: Nanos,
    /// A long flow is reported every this often (`flow.final: false`); `None` disables.
    pub active_report: Option<Nanos>,
    pub max_flows: usize,
    pub community_id_seed: u16,
    pub reassembly: ReassemblyLimits,
    pub defrag: DefragLimits,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            tcp_idle: 300 * SEC,
            udp_idle: 60 * SEC,
            signalling_idle: 7200 * SEC,
            other_idle: 60 * SEC,
            tcp_closed_linger: 5 * SEC,
            active_report: Some(300 * SEC),
            max_flows: 1_000_000,
            community_id_seed: 0,
            reassembly: ReassemblyLimits::default(),
            defrag: DefragLimits::default(),
        }
    }
}

/// Which side of the flow sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the originator (the side that sent the first packet or the SYN).
    Orig,
    /// From the responder.
    Resp,
}

impl Dir {
    pub fn index(self) -> usize {
        self as usize
    }

    /// The other side.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::Orig => Dir::Resp,
            Dir::Resp => Dir::Orig,
        }
    }
}

/// Packets and bytes of one direction. Bytes are frame bytes on the wire, as tshark counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
    /// Transport payload bytes (TCP/UDP data).
    pub payload_bytes: u64,
}

/// TCP connection state of a flow.
#[derive(Debug, Clone, Default)]
pub struct TcpState {
    pub history: History,
    pub orig: DirSeen,
    pub resp: DirSeen,
    /// Stream bytes retransmitted and bytes missing, per direction.
    pub duplicate: [u64; 2],
    pub missing: [u64; 2],
}

impl TcpState {
    pub fn conn_state(&self) -> &'static str {
        tcp::conn_state(&self.orig, &self.resp)
    }
    fn closed(&self) -> bool {
        self.orig.rst || self.resp.rst || (self.orig.fin && self.resp.fin)
    }
}

/// What a flow is, as reported to handlers and in flow documents.
#[derive(Debug, Clone)]
pub struct FlowMeta {
    pub key: FlowKey,
    pub orig: Endpoint,
    pub resp: Endpoint,
    pub community_id: String,
    /// Monotonic flow number within this table (unique per run).
    pub serial: u64,
    pub start: Nanos,
    pub last: Nanos,
    pub counts: [Counts; 2],
    pub tcp: Option<TcpState>,
    /// Active-timeout reports already made.
    pub reports: u32,
}

impl FlowMeta {
    /// A flow from `orig` to `resp`, first seen at `ts`: the `serial`-th of its table.
    #[allow(clippy::too_many_arguments)]
    pub fn new(vlan: u16, proto: u8, orig: Endpoint, resp: Endpoint, ts: Nanos, serial: u64, seed: u16) -> Self {
        FlowMeta {
            key: FlowKey::new(vlan, proto, orig, resp).0,
            orig,
            resp,
            community_id: community_id(seed, proto, orig, resp),
            serial,
            start: ts,
            last: ts,
            counts: Default::default(),
            tcp: (proto == ipproto::TCP).then(TcpState::default),
            reports: 0,
        }
    }

    /// `network.transport`: the IANA keyword, or the protocol number for the others.
    pub fn transport_name(&self) -> std::borrow::Cow<'static, str> {
        match self.key.proto {
            ipproto::TCP => "tcp".into(),
            ipproto::UDP => "udp".into(),
            ipproto::ICMP => "icmp".into(),
            ipproto::ICMPV6 => "ipv6-icmp".into(),
            p => p.to_string().into(),
        }
    }
}

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Idle,
    /// TCP FIN both ways or RST, after the linger time.
    Closed,
    /// A new TCP connection (SYN) reused the key of a closed one.
    Reused,
    /// The table was full and this was the oldest flow.
    Evicted,
    /// The capture ended (file end or shutdown) with the flow still open.
    CaptureEnd,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Closed => "closed",
            Self::Reused => "reused",
            Self::Evicted => "evicted",
            Self::CaptureEnd => "capture_end",
        }
    }
}

/// Data handed to consumers for one direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// In-order TCP stream bytes.
    Stream(&'a [u8]),
    /// Missing TCP stream bytes.
    Gap(u64),
    /// One UDP datagram (reassembled when it was fragmented).
    Datagram(&'a [u8]),
}

/// Flow-layer anomalies, counted and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAnomaly {
    Defrag(DefragAnomaly),
    /// A flow was evicted because the table was full.
    TableFull,
    /// Buffered out-of-order TCP data was released with a gap because of a limit.
    ReassemblyLimit,
    /// Overlapping TCP data differed from what was seen first.
    InconsistentOverlap,
    /// A reassembled datagram's transport header was unreadable.
    BadReassembledDatagram,
}

impl FlowAnomaly {
    pub fn code(self) -> &'static str {
        match self {
            Self::Defrag(d) => d.code(),
            Self::TableFull => "flow_table_full",
            Self::ReassemblyLimit => "tcp_reassembly_limit",
            Self::InconsistentOverlap => "tcp_inconsistent_overlap",
            Self::BadReassembledDatagram => "fragment_bad_transport",
        }
    }
}

/// What the table calls as flows progress. `U` is the consumer's per-flow state.
pub trait FlowHandler<U> {
    /// A flow was created by its first packet (called before that packet's payload).
    fn flow_start(&mut self, _meta: &FlowMeta, _user: &mut U) {}
    fn payload(&mut self, meta: &FlowMeta, user: &mut U, dir: Dir, ts: Nanos, payload: Payload<'_>);
    /// A flow ended; `user` is dropped after this.
    fn flow_end(&mut self, meta: &FlowMeta, user: &mut U, reason: EndReason);
    /// A long-lived flow's periodic report.
    fn flow_update(&mut self, _meta: &FlowMeta, _user: &mut U) {}
    /// Whether a UDP flow should be kept for `signalling_idle` rather than `udp_idle`
    /// (asked after each datagram).
    fn long_lived(&self, _user: &U) -> bool {
        false
    }
    fn anomaly(&mut self, ts: Nanos, key: Option<&FlowKey>, anomaly: FlowAnomaly);
}

/// Counters of the flow layer, for the run summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlowStats {
    pub packets: u64,
    pub non_ip: u64,
    pub fragments: u64,
    pub reassembled_datagrams: u64,
    pub flows_created: u64,
    pub flows_ended: u64,
    pub flows_evicted: u64,
    pub anomalies: u64,
    pub tcp_gap_bytes: u64,
    pub active_flows: usize,
    pub buffered_bytes: usize,
}

struct Entry<U> {
    meta: FlowMeta,
    streams: Option<Box<[Stream; 2]>>,
    user: U,
    class: Class,
    next_report: Nanos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Tcp,
    Udp,
    Other,
    Closed,
    Signalling,
}

const CLASSES: [Class; 5] = [Class::Closed, Class::Udp, Class::Other, Class::Tcp, Class::Signalling];

/// The flow table. One per pipeline thread; not shared.
///
/// Flows live in a slab, found by key through a hash index, and sit on two intrusive lists:
/// their timeout class's list in order of last activity (so the head is always the next to
/// expire) and the report list in order of next periodic report. A packet moves its flow to
/// the back of its list in O(1); memory is proportional to the live flows only.
pub struct FlowTable<U> {
    cfg: FlowConfig,
    index: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slab: Slab<Entry<U>>,
    idle: [List; 5],
    reports: List,
    defrag: Defrag,
    serial: u64,
    now: Nanos,
    buffered: usize,
    stats: FlowStats,
}

impl<U> std::fmt::Debug for FlowTable<U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable").field("flows", &self.slab.len()).field("stats", &self.stats).finish()
    }
}

impl<U: Default> FlowTable<U> {
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTable {
            cfg,
            index: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slab: Slab::default(),
            idle: Default::default(),
            reports: List::default(),
            defrag: Defrag::default(),
            serial: 0,
            now: i64::MIN,
            buffered: 0,
            stats: FlowStats::default(),
        }
    }

    pub fn stats(&self) -> FlowStats {
        FlowStats { active_flows: self.slab.len(), buffered_bytes: self.buffered, ..self.stats }
    }

    /// Processes one parsed packet captured at `ts` with `frame_len` bytes on the wire.
    pub fn packet(&mut self, ts: Nanos, frame_len: u32, pkt: &Packet<'_>, h: &mut impl FlowHandler<U>) {
        self.advance(ts, h);
        self.stats.packets += 1;
        let Some(ip) = pkt.ip else {
            self.stats.non_ip += 1;
            return;
        };
        let vlan = pkt.vlan();
        let (src, dst) = (ip.src(), ip.dst());
        if let Transport::Fragment(payload) = pkt.transport {
            self.stats.fragments += 1;
            let Some(frag) = ip.fragment() else { return };
            let fin = FragmentIn { vlan, src, dst, proto: ip.protocol(), frag, payload, frame_len };
            let (stats, limits) = (&mut self.stats, self.cfg.defrag);
            let mut anomalies = Vec::new();
            let done = self.defrag.insert(self.now, fin, &limits, &mut |a| anomalies.push(a));
            for a in anomalies {
                stats.anomalies += 1;
                h.anomaly(ts, None, FlowAnomaly::Defrag(a));
            }
            let Some(r) = done else { return };
            self.stats.reassembled_datagrams += 1;
            match iotw_wire::parse_transport(ip.protocol(), &r.payload) {
                Ok(t) => self.transport(ts, vlan, ip.protocol(), src, dst, t, r.frames, r.frame_bytes, h),
                Err(_) => {
                    self.stats.anomalies += 1;
                    h.anomaly(ts, None, FlowAnomaly::BadReassembledDatagram);
                }
            }
            return;
        }
        self.transport(ts, vlan, ip.protocol(), src, dst, pkt.transport, 1, u64::from(frame_len), h);
    }

    #[allow(clippy::too_many_arguments)]
    fn transport(
        &mut self,
        ts: Nanos,
        vlan: u16,
        proto: u8,
        src: std::net::IpAddr,
        dst: std::net::IpAddr,
        t: Transport<'_>,
        frames: u64,
        frame_bytes: u64,
        h: &mut impl FlowHandler<U>,
    ) {
        let (sport, dport, tcp, data): (u16, u16, Option<TcpHeader>, &[u8]) = match t {
            Transport::Tcp(th, p) => (th.src_port, th.dst_port, Some(th), p),
            Transport::Udp(uh, p) => (uh.src_port, uh.dst_port, None, p),
            Transport::Other(p) if proto == ipproto::ICMP || proto == ipproto::ICMPV6 => {
                // Community ID maps ICMP type/code to ports.
                let ty = p.first().copied().unwrap_or(0);
                let code = p.get(1).copied().unwrap_or(0);
                (u16::from(ty), u16::from(code), None, &[][..])
            }
            _ => (0, 0, None, &[][..]),
        };
        let s = Endpoint { ip: src, port: sport };
        let d = Endpoint { ip: dst, port: dport };
        let (key, _) = FlowKey::new(vlan, proto, s, d);

        let mut idx = self.index.get(&key).copied();
        // A SYN on the key of a closed TCP connection starts a new connection.
        if let (Some(th), Some(i)) = (tcp, idx) {
            let closed = self.slab.get(i).is_some_and(|e| e.meta.tcp.as_ref().is_some_and(TcpState::closed));
            if th.flags.syn() && !th.flags.ack() && closed {
                self.end(i, EndReason::Reused, h);
                idx = None;
            }
        }
        let i = match idx {
            Some(i) => i,
            None => self.create(ts, key, proto, s, d, tcp, h),
        };
        let cfg = self.cfg;
        let FlowTable { slab, buffered, stats, idle, .. } = self;
        let Some(e) = slab.get_mut(i) else { return };
        let dir = if e.meta.orig == s { Dir::Orig } else { Dir::Resp };
        e.meta.last = e.meta.last.max(ts);
        let c = &mut e.meta.counts[dir.index()];
        c.packets += frames;
        c.bytes += frame_bytes;
        c.payload_bytes += data.len() as u64;
        let class = e.class;

        let Some(th) = tcp else {
            if proto == ipproto::UDP {
                h.payload(&e.meta, &mut e.user, dir, ts, Payload::Datagram(data));
                if class == Class::Udp && h.long_lived(&e.user) {
                    e.class = Class::Signalling;
                    slab.unlink(&mut idle[class as usize], Chain::Idle, i);
                    slab.push_back(&mut idle[Class::Signalling as usize], Chain::Idle, i);
                    return;
                }
            }
            slab.touch(&mut idle[class as usize], Chain::Idle, i);
            return;
        };
        let orig = dir == Dir::Orig;
        let Entry { meta, streams, user, .. } = e;
        let (Some(state), Some(streams)) = (meta.tcp.as_mut(), streams.as_mut()) else { return };
        let was_closed = state.closed();
        {
            let seen = if orig { &mut state.orig } else { &mut state.resp };
            tcp::observe(&mut state.history, seen, orig, th.flags, th.window, data.len());
        }
        let stream = &mut streams[dir.index()];
        let outcome = {
            let meta: &FlowMeta = meta;
            let mut out = |c: Chunk<'_>| match c {
                Chunk::Data(b) => h.payload(meta, user, dir, ts, Payload::Stream(b)),
                Chunk::Gap(n) => {
                    stats.tcp_gap_bytes += n;
                    h.payload(meta, user, dir, ts, Payload::Gap(n));
                }
            };
            let seg = Segment { seq: th.seq, syn: th.flags.syn(), fin: th.flags.fin(), payload: data };
            stream.segment(seg, &cfg.reassembly, buffered, &mut out)
        };
        if let Some(state) = meta.tcp.as_mut() {
            state.duplicate[dir.index()] = stream.duplicate;
            state.missing[dir.index()] = stream.missing;
            if outcome.retransmitted {
                state.history.add(orig, tcp::letter::RETRANSMIT);
            }
            if outcome.gap {
                state.history.add(orig, tcp::letter::GAP);
            }
        }
        let now_closed = !was_closed && meta.tcp.as_ref().is_some_and(TcpState::closed);
        if outcome.evicted {
            stats.anomalies += 1;
            h.anomaly(ts, Some(&key), FlowAnomaly::ReassemblyLimit);
        }
        if outcome.inconsistent {
            stats.anomalies += 1;
            h.anomaly(ts, Some(&key), FlowAnomaly::InconsistentOverlap);
        }
        if now_closed {
            // Closed connections linger on their own, shorter list.
            slab.unlink(&mut idle[class as usize], Chain::Idle, i);
            if let Some(e) = slab.get_mut(i) {
                e.class = Class::Closed;
            }
            slab.push_back(&mut idle[Class::Closed as usize], Chain::Idle, i);
        } else {
            slab.touch(&mut idle[class as usize], Chain::Idle, i);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        ts: Nanos,
        key: FlowKey,
        proto: u8,
        s: Endpoint,
        d: Endpoint,
        tcp: Option<TcpHeader>,
        h: &mut impl FlowHandler<U>,
    ) -> u32 {
        while self.slab.len() >= self.cfg.max_flows {
            if !self.evict_oldest(h) {
                break;
            }
        }
        self.serial += 1;
        self.stats.flows_created += 1;
        // A SYN-ACK seen first means the other side originated the connection.
        let flipped = tcp.is_some_and(|t| t.flags.syn() && t.flags.ack());
        let (orig, resp) = if flipped { (d, s) } else { (s, d) };
        let mut state = tcp.map(|_| TcpState::default());
        if let Some(st) = state.as_mut() {
            if flipped || tcp.is_some_and(|t| !t.flags.syn()) {
                st.history.flip();
            }
        }
        let mut meta = FlowMeta::new(key.vlan, proto, orig, resp, ts, self.serial, self.cfg.community_id_seed);
        meta.tcp = state;
        let class = match proto {
            ipproto::TCP => Class::Tcp,
            ipproto::UDP => Class::Udp,
            _ => Class::Other,
        };
        let streams = tcp.map(|_| Box::new([Stream::default(), Stream::default()]));
        let mut user = U::default();
        h.flow_start(&meta, &mut user);
        let next_report = self.cfg.active_report.map_or(Nanos::MAX, |every| ts.saturating_add(every));
        let i = self.slab.insert(Entry { meta, streams, user, class, next_report });
        self.slab.push_back(&mut self.idle[class as usize], Chain::Idle, i);
        if self.cfg.active_report.is_some() {
            self.slab.push_back(&mut self.reports, Chain::Report, i);
        }
        self.index.insert(key, i);
        i
    }

    fn timeout(&self, class: Class) -> Nanos {
        match class {
            Class::Tcp => self.cfg.tcp_idle,
            Class::Udp => self.cfg.udp_idle,
            Class::Signalling => self.cfg.signalling_idle,
            Class::Other => self.cfg.other_idle,
            Class::Closed => self.cfg.tcp_closed_linger,
        }
    }

    /// Moves packet time forward: expires idle and closed flows, fragments, and makes
    /// periodic reports. Call with live wall-clock time when no packets arrive.
    pub fn advance(&mut self, ts: Nanos, h: &mut impl FlowHandler<U>) {
        if ts <= self.now {
            return;
        }
        self.now = ts;
        for class in CLASSES {
            let timeout = self.timeout(class);
            while let Some(i) = self.idle[class as usize].front() {
                let Some(e) = self.slab.get(i) else { break };
                if e.meta.last.saturating_add(timeout) > ts {
                    break;
                }
                let reason = if class == Class::Closed { EndReason::Closed } else { EndReason::Idle };
                self.end(i, reason, h);
            }
        }
        if let Some(every) = self.cfg.active_report {
            while let Some(i) = self.reports.front() {
                let Some(e) = self.slab.get_mut(i) else { break };
                if e.next_report > ts {
                    break;
                }
                e.meta.reports += 1;
                e.next_report = e.next_report.saturating_add(every);
                h.flow_update(&e.meta, &mut e.user);
                self.slab.touch(&mut self.reports, Chain::Report, i);
            }
        }
        let mut anomalies = Vec::new();
        self.defrag.expire(ts, &mut |a| anomalies.push(a));
        for a in anomalies {
            self.stats.anomalies += 1;
            h.anomaly(ts, None, FlowAnomaly::Defrag(a));
        }
    }

    /// Ends the flow closest to expiry (closed first, then UDP, other, TCP).
    fn evict_oldest(&mut self, h: &mut impl FlowHandler<U>) -> bool {
        for class in CLASSES {
            if let Some(i) = self.idle[class as usize].front() {
                let key = self.slab.get(i).map(|e| e.meta.key);
                self.stats.flows_evicted += 1;
                self.stats.anomalies += 1;
                h.anomaly(self.now, key.as_ref(), FlowAnomaly::TableFull);
                self.end(i, EndReason::Evicted, h);
                return true;
            }
        }
        false
    }

    fn end(&mut self, i: u32, reason: EndReason, h: &mut impl FlowHandler<U>) {
        let Some(class) = self.slab.get(i).map(|e| e.class) else { return };
        self.slab.unlink(&mut self.idle[class as usize], Chain::Idle, i);
        self.slab.unlink(&mut self.reports, Chain::Report, i);
        let Some(mut e) = self.slab.remove(i) else { return };
        self.index.remove(&e.meta.key);
        self.stats.flows_ended += 1;
        let Entry { meta, streams, user, .. } = &mut e;
        if let Some(streams) = streams.as_mut() {
            for (i, dir) in [(0, Dir::Orig), (1, Dir::Resp)] {
                let stream = &mut streams[i];
                let missing_before = stream.missing;
                stream.release_accounting(&mut self.buffered);
                let (stats, last) = (&mut self.stats, meta.last);
                let m: &FlowMeta = meta;
                stream.flush(&mut |c| match c {
                    Chunk::Data(b) => h.payload(m, user, dir, last, Payload::Stream(b)),
                    Chunk::Gap(n) => {
                        stats.tcp_gap_bytes += n;
                        h.payload(m, user, dir, last, Payload::Gap(n));
                    }
                });
                if let Some(st) = meta.tcp.as_mut() {
                    st.duplicate[i] = stream.duplicate;
                    st.missing[i] = stream.missing;
                    if stream.missing > missing_before {
                        st.history.add(dir == Dir::Orig, tcp::letter::GAP);
                    }
                }
            }
        }
        h.flow_end(&e.meta, &mut e.user, reason);
    }

    /// Ends every flow (end of capture or shutdown), oldest first.
    pub fn flush(&mut self, h: &mut impl FlowHandler<U>) {
        let mut all: Vec<(u64, u32)> =
            self.index.values().filter_map(|&i| Some((self.slab.get(i)?.meta.serial, i))).collect();
        all.sort_unstable();
        for (_, i) in all {
            self.end(i, EndReason::CaptureEnd, h);
        }
    }
}

#[cfg(test)]
mod tests;
