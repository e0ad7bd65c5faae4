//! DNS over UDP and TCP (RFC 1035 §4.2): one document per query and its response
//! (Packetbeat's shape, ECS `dns.*`), with the response time; queries never answered are
//! written when the flow ends, responses without a query on their own.
//!
//! Recognised on port 53, 5353 (mDNS) or 5355 (LLMNR) at either end *and* by content (a
//! header and question that parse): a 12-byte header alone is too weak a signature to claim
//! traffic on any port. Over TCP each message has its 2-byte length before it.

pub mod parser;

use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Probe, Progress, Protocol, Resync, Transports};
use iotw_event::{Event, Nanos};
use iotw_flow::Dir;
use parser::{class_name, opcode_name, rcode_name, type_name, Message};

const PORTS: [u16; 3] = [53, 5353, 5355];

/// DNS over UDP.
#[derive(Debug, Default)]
pub struct Dns;

/// DNS over TCP (length-framed).
#[derive(Debug, Default)]
pub struct DnsTcp;

fn on_dns_port(ports: (u16, u16)) -> bool {
    PORTS.contains(&ports.0) || PORTS.contains(&ports.1)
}

fn probe(input: &[u8], ports: (u16, u16)) -> Probe {
    if !on_dns_port(ports) {
        return Probe::NoMatch;
    }
    match parser::parse(input) {
        Ok(m) if !m.questions.is_empty() || m.response => Probe::Match,
        Err(parser::Error::Truncated) if input.len() < 12 => Probe::NeedMore,
        _ => Probe::NoMatch,
    }
}

impl Protocol for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: false, udp: true }
    }

    fn probe(&self, _dir: Dir, input: &[u8], ports: (u16, u16)) -> Probe {
        probe(input, ports)
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(DnsDecoder::new(*limits, false))
    }
}

impl Protocol for DnsTcp {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: false }
    }

    fn probe(&self, _dir: Dir, input: &[u8], ports: (u16, u16)) -> Probe {
        let Some(len) = input.get(..2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return Probe::NeedMore;
        };
        if len < 12 {
            return Probe::NoMatch;
        }
        match input.get(2..2 + len) {
            Some(m) => probe(m, ports),
            None if on_dns_port(ports) && input.len() < 2 + len.min(4096) => Probe::NeedMore,
            None => Probe::NoMatch,
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(DnsDecoder::new(*limits, true))
    }
}

/// A query waiting for its response.
#[derive(Debug)]
struct Pending {
    ts: Nanos,
    dir: Dir,
    query: Message,
}

#[derive(Debug)]
pub struct DnsDecoder {
    limits: DecodeLimits,
    framed: bool,
    pending: Vec<Pending>,
    written: u64,
}

impl DnsDecoder {
    fn new(limits: DecodeLimits, framed: bool) -> Self {
        DnsDecoder { limits, framed, pending: Vec::new(), written: 0 }
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, bytes: &[u8]) -> Result<(), Anomaly> {
        let m = parser::parse(bytes).map_err(|e| Anomaly::new(e.code(), "a DNS message that does not parse"))?;
        if !m.response {
            if self.pending.len() >= self.limits.max_transactions {
                // The oldest is written unanswered.
                let p = self.pending.remove(0);
                self.write(ctx, p.ts, p.dir, Some(&p.query), None);
            }
            self.pending.push(Pending { ts: ctx.ts, dir: ctx.dir, query: m });
            return Ok(());
        }
        let at = self.pending.iter().position(|p| {
            p.query.id == m.id
                && p.dir != ctx.dir
                && p.query.questions.first().map(|q| (q.name.to_ascii_lowercase(), q.qtype))
                    == m.questions.first().map(|q| (q.name.to_ascii_lowercase(), q.qtype))
        });
        match at {
            Some(i) => {
                let p = self.pending.remove(i);
                self.write(ctx, p.ts, p.dir, Some(&p.query), Some(&m));
            }
            None => {
                let (ts, dir) = (ctx.ts, ctx.dir.reverse());
                self.write(ctx, ts, dir, None, Some(&m));
            }
        }
        Ok(())
    }

    /// One document: dated and oriented by the query (the client is the source).
    fn write(&mut self, ctx: &mut Ctx<'_>, ts: Nanos, client: Dir, query: Option<&Message>, resp: Option<&Message>) {
        self.written += 1;
        let Some(m) = resp.or(query) else { return };
        let n = self.written.to_be_bytes();
        let start = ts.to_be_bytes();
        let mut e = ctx.event_at("dns", "event", ts, client, &[ctx.meta.community_id.as_bytes(), &start, &n]);
        document(&mut e, ts, ctx.ts, query, resp, m);
        ctx.emit(e);
    }
}

fn document(e: &mut Event, ts: Nanos, now: Nanos, query: Option<&Message>, resp: Option<&Message>, m: &Message) {
    e.obj("event").consts("category", &["network"]).consts("type", &["protocol"]);
    if let Some(r) = resp {
        e.str("outcome", if r.rcode == 0 { "success" } else { "failure" });
    } else {
        e.str("outcome", "unknown");
    }
    if query.is_some() && resp.is_some() {
        e.i64("duration", now - ts).time("start", ts).time("end", now);
    }
    e.end();
    e.obj("dns").u64("id", u64::from(m.id)).str("type", if resp.is_some() { "answer" } else { "query" });
    e.str("op_code", &opcode_name(m.opcode));
    e.strs("header_flags", m.flags.names());
    if let Some(r) = resp {
        e.str("response_code", &rcode_name(r.rcode));
    }
    let q = m.questions.first();
    if let Some(q) = q {
        e.obj("question")
            .str("name", &q.name)
            .str("type", &type_name(q.qtype))
            .str("class", &class_name(q.class))
            .end();
    }
    let mut resolved = Vec::new();
    if let Some(r) = resp {
        e.u64("answers_count", u64::from(r.counts[1]));
        e.u64("authorities_count", u64::from(r.counts[2]));
        e.u64("additionals_count", u64::from(r.counts[3]));
        for (key, records) in
            [("answers", &r.answers), ("authorities", &r.authorities), ("additionals", &r.additionals)]
        {
            // OPT (EDNS) is a pseudo-record about the message, not data.
            let records: Vec<&parser::Record> = records.iter().filter(|a| a.rtype != 41).collect();
            if records.is_empty() {
                continue;
            }
            e.arr(key);
            for a in records {
                e.item_obj()
                    .str("name", &a.name)
                    .str("type", &type_name(a.rtype))
                    .str("class", &class_name(a.class))
                    .u64("ttl", u64::from(a.ttl))
                    .str("data", &a.data)
                    .end();
            }
            e.end();
        }
        resolved.extend(r.answers.iter().filter(|a| a.rtype == 1 || a.rtype == 28).map(|a| a.data.as_str()));
        if !resolved.is_empty() {
            e.arr("resolved_ip");
            for ip in &resolved {
                if let Ok(ip) = ip.parse() {
                    e.item_ip(ip);
                }
            }
            e.end();
        }
    }
    e.end();
    let what = q.map(|q| format!("{} {}", type_name(q.qtype), q.name)).unwrap_or_default();
    let message = match resp {
        Some(r) if resolved.is_empty() => format!("DNS {what} -> {}", rcode_name(r.rcode)),
        Some(r) => format!("DNS {what} -> {} {}", rcode_name(r.rcode), resolved.join(" ")),
        None => format!("DNS {what} (no response)"),
    };
    e.str("message", message.trim_end());
}

impl Decoder for DnsDecoder {
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        if !self.framed {
            return match self.message(ctx, input) {
                Ok(()) => Progress::Done,
                Err(a) => Progress::Invalid(a),
            };
        }
        let mut at = 0;
        while at < input.len() {
            let Some(h) = input.get(at..at + 2) else {
                return Progress::NeedMore { consumed: at, needed: 2 };
            };
            let len = usize::from(u16::from_be_bytes([h[0], h[1]]));
            let Some(m) = input.get(at + 2..at + 2 + len) else {
                return Progress::NeedMore { consumed: at, needed: 2 + len };
            };
            if let Err(a) = self.message(ctx, m) {
                if at > 0 {
                    return Progress::NeedMore { consumed: at, needed: input.len() - at + 1 };
                }
                return Progress::Invalid(a);
            }
            at += 2 + len;
        }
        Progress::Done
    }

    fn resync(&self, _dir: Dir, _input: &[u8], _from: Resync) -> Option<usize> {
        // Length-framed messages have no marker to find again after bytes are lost.
        None
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        for p in std::mem::take(&mut self.pending) {
            self.write(ctx, p.ts, p.dir, Some(&p.query), None);
        }
    }
}
