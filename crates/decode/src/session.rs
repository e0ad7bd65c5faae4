//! The per-flow decode session: probing, buffering, the parse loop, gaps and resync.

use crate::records::EndpointCache;
use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Probe, Progress, Protocol, Resync};
use iotw_event::{Event, Nanos};
use iotw_flow::{Dir, FlowMeta, Payload};
use iotw_wire::ipproto;

/// The protocols this run decodes, and the limits they get.
pub struct Registry {
    protocols: Vec<Box<dyn Protocol>>,
    pub limits: DecodeLimits,
    /// Whether decoders should leave documents for another thread to render
    /// ([`iotw_event::Event::defer`]): true while that thread keeps up. Set by the pipeline.
    pub defer: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.protocols.iter().map(|p| p.name()).collect();
        f.debug_struct("Registry").field("protocols", &names).finish()
    }
}

impl Registry {
    pub fn new(limits: DecodeLimits) -> Self {
        Registry { protocols: Vec::new(), limits, defer: false }
    }

    pub fn register(&mut self, p: Box<dyn Protocol>) {
        self.protocols.push(p);
    }

    pub fn is_empty(&self) -> bool {
        self.protocols.is_empty()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.protocols.iter().map(|p| p.name()).collect()
    }
}

#[derive(Default)]
enum State {
    #[default]
    Probing,
    Active {
        protocol: &'static str,
        decoder: Box<dyn Decoder>,
        long_lived: bool,
    },
    /// No protocol recognised the flow; its payload is ignored.
    Unrecognised,
}

#[derive(Debug, Default)]
struct DirBuf {
    buf: Vec<u8>,
    /// After a gap or invalid message: drop bytes until the decoder finds a boundary.
    resyncing: bool,
    datagrams_probed: u32,
}

/// Decoding state of one flow (the flow table's per-flow value).
#[derive(Default)]
pub struct Session {
    core: Core,
    endpoints: EndpointCache,
}

/// The protocol state and the buffers of a flow.
#[derive(Default)]
struct Core {
    state: State,
    dirs: [DirBuf; 2],
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("protocol", &self.protocol()).finish()
    }
}

impl Session {
    /// The recognised protocol, if any.
    pub fn protocol(&self) -> Option<&'static str> {
        match &self.core.state {
            State::Active { protocol, .. } => Some(protocol),
            _ => None,
        }
    }

    /// Whether the recognised protocol asks for its flow to be kept long (see
    /// [`crate::Protocol::long_lived`]).
    pub fn long_lived(&self) -> bool {
        matches!(self.core.state, State::Active { long_lived: true, .. })
    }

    /// Feeds one piece of payload; documents go to `out`.
    pub fn payload(
        &mut self,
        reg: &Registry,
        meta: &FlowMeta,
        dir: Dir,
        ts: Nanos,
        p: Payload<'_>,
        out: &mut Vec<Event>,
    ) {
        let mut ctx = Ctx { meta, ts, dir, limits: &reg.limits, out, endpoints: &mut self.endpoints, defer: reg.defer };
        self.core.payload(reg, &mut ctx, p);
    }

    /// The flow ended: lets the decoder close what is open.
    pub fn finish(&mut self, reg: &Registry, meta: &FlowMeta, ts: Nanos, out: &mut Vec<Event>) {
        if let State::Active { decoder, .. } = &mut self.core.state {
            let mut ctx = Ctx {
                meta,
                ts,
                dir: Dir::Orig,
                limits: &reg.limits,
                out,
                endpoints: &mut self.endpoints,
                defer: reg.defer,
            };
            decoder.finish(&mut ctx);
        }
    }
}

impl Core {
    fn payload(&mut self, reg: &Registry, ctx: &mut Ctx<'_>, p: Payload<'_>) {
        if reg.is_empty() || matches!(self.state, State::Unrecognised) {
            return;
        }
        let (meta, dir) = (ctx.meta, ctx.dir);
        let d = &mut self.dirs[dir.index()];
        match p {
            Payload::Gap(n) => {
                d.buf.clear();
                d.resyncing = true;
                if let State::Active { decoder, .. } = &mut self.state {
                    decoder.gap(ctx, n);
                }
            }
            Payload::Datagram(data) => {
                if matches!(self.state, State::Probing) {
                    d.datagrams_probed += 1;
                    let give_up = d.datagrams_probed >= reg.limits.max_probe_datagrams;
                    if !self.probe(reg, meta, dir, data, ipproto::UDP, give_up) {
                        return;
                    }
                }
                if let State::Active { decoder, .. } = &mut self.state {
                    match decoder.parse(ctx, data).checked(data.len()) {
                        Progress::Done => {}
                        Progress::NeedMore { .. } => {
                            ctx.anomaly(&Anomaly::new("datagram_truncated", "datagram ends inside a message"))
                        }
                        Progress::Invalid(a) => ctx.anomaly(&a),
                    }
                }
            }
            Payload::Stream(data) => {
                let max = reg.limits.max_message.max(reg.limits.max_probe);
                if d.buf.len() + data.len() > max {
                    // A message larger than the limit: drop it and look for the next one.
                    let what = format!("more than {max} bytes buffered without a complete message");
                    d.buf.clear();
                    d.resyncing = true;
                    if let State::Active { .. } = self.state {
                        ctx.anomaly(&Anomaly::new("message_too_large", what));
                    }
                }
                let d = &mut self.dirs[dir.index()];
                d.buf.extend_from_slice(data);
                if matches!(self.state, State::Probing) {
                    let give_up = self.dirs[dir.index()].buf.len() >= reg.limits.max_probe;
                    let bytes = std::mem::take(&mut self.dirs[dir.index()].buf);
                    let matched = self.probe(reg, meta, dir, &bytes, ipproto::TCP, give_up);
                    if !matches!(self.state, State::Unrecognised) {
                        self.dirs[dir.index()].buf = bytes;
                    }
                    if !matched {
                        return;
                    }
                }
                self.parse_stream(ctx);
            }
        }
    }

    /// Runs the protocols' probes; true once one matched.
    fn probe(&mut self, reg: &Registry, meta: &FlowMeta, dir: Dir, bytes: &[u8], transport: u8, give_up: bool) -> bool {
        let ports = (meta.orig.port, meta.resp.port);
        let mut undecided = false;
        for p in &reg.protocols {
            let t = p.transports();
            if (transport == ipproto::TCP && !t.tcp) || (transport == ipproto::UDP && !t.udp) {
                continue;
            }
            match p.probe(dir, bytes, ports) {
                Probe::Match => {
                    self.state = State::Active {
                        protocol: p.name(),
                        decoder: p.decoder(&reg.limits),
                        long_lived: p.long_lived(),
                    };
                    return true;
                }
                Probe::NeedMore => undecided = true,
                Probe::NoMatch => {}
            }
        }
        if !undecided || give_up {
            // Datagram flows get several chances: only give up at the limit.
            if transport == ipproto::TCP || give_up {
                self.state = State::Unrecognised;
                self.dirs = Default::default();
            }
        }
        false
    }

    fn parse_stream(&mut self, ctx: &mut Ctx<'_>) {
        let State::Active { decoder, .. } = &mut self.state else {
            return;
        };
        let d = &mut self.dirs[ctx.dir.index()];
        let mut start = 0usize;
        if d.resyncing {
            match decoder.resync(ctx.dir, &d.buf, Resync::Resumed) {
                Some(at) => {
                    start = at.min(d.buf.len());
                    d.resyncing = false;
                }
                None => {
                    d.buf.clear();
                    return;
                }
            }
        }
        while start < d.buf.len() {
            let input = &d.buf[start..];
            match decoder.parse(ctx, input).checked(input.len()) {
                Progress::Done => start = d.buf.len(),
                Progress::NeedMore { consumed, needed } => {
                    start += consumed.min(input.len());
                    if needed > ctx.limits.max_message {
                        ctx.anomaly(&Anomaly::new(
                            "message_too_large",
                            format!("message needs {needed} bytes, above the {} limit", ctx.limits.max_message),
                        ));
                        d.resyncing = true;
                        start = d.buf.len();
                        break;
                    }
                    // A decoder that made progress is asked again: it may have stopped at
                    // bytes it could not parse, which it reports on the next call.
                    if consumed == 0 {
                        break;
                    }
                }
                Progress::Invalid(a) => {
                    ctx.anomaly(&a);
                    let rest = &d.buf[start + 1..];
                    match decoder.resync(ctx.dir, rest, Resync::InsideInvalid) {
                        Some(at) => start += 1 + at.min(rest.len()),
                        None => {
                            d.resyncing = true;
                            start = d.buf.len();
                        }
                    }
                }
            }
        }
        d.buf.drain(..start);
    }
}
