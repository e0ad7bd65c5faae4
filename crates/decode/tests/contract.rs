//! The decoder contract, exercised with a small length-prefixed test protocol ("TLV"):
//! each message is `b'T'`, a 2-byte big-endian body length, then the body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_decode::{Ctx, DecodeLimits, Decoder, Probe, Progress, Protocol, Registry, Resync, Session, Transports};
use iotw_event::Event;
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};

struct Tlv;

struct TlvDecoder {
    seen: u32,
    gaps: u64,
}

impl Protocol for Tlv {
    fn name(&self) -> &'static str {
        "tlv"
    }
    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: true }
    }
    fn probe(&self, _dir: Dir, input: &[u8], _ports: (u16, u16)) -> Probe {
        match input.first() {
            None => Probe::NeedMore,
            Some(b'T') => Probe::Match,
            Some(_) => Probe::NoMatch,
        }
    }
    fn decoder(&self, _limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(TlvDecoder { seen: 0, gaps: 0 })
    }
}

impl Decoder for TlvDecoder {
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        let mut at = 0;
        while at < input.len() {
            let rest = &input[at..];
            if rest[0] != b'T' {
                return Progress::Invalid(iotw_decode::Anomaly::new("tlv_bad_magic", "message does not start with T"));
            }
            if rest.len() < 3 {
                return Progress::NeedMore { consumed: at, needed: 3 };
            }
            let len = 3 + usize::from(u16::from_be_bytes([rest[1], rest[2]]));
            if rest.len() < len {
                return Progress::NeedMore { consumed: at, needed: len };
            }
            self.seen += 1;
            let n = self.seen.to_be_bytes();
            let mut e = ctx.event("tlv", "event", &[&n]);
            e.set("tlv.body", String::from_utf8_lossy(&rest[3..len]).into_owned());
            e.set("tlv.gaps_before", self.gaps);
            ctx.emit(e);
            at += len;
        }
        Progress::Done
    }
    fn gap(&mut self, _ctx: &mut Ctx<'_>, len: u64) {
        self.gaps += len;
    }
    fn resync(&self, _dir: Dir, input: &[u8], _from: Resync) -> Option<usize> {
        input.iter().position(|b| *b == b'T')
    }
}

fn meta(proto: u8) -> FlowMeta {
    let a = Endpoint { ip: "10.0.0.1".parse().unwrap(), port: 1000 };
    let b = Endpoint { ip: "10.0.0.2".parse().unwrap(), port: 2000 };
    FlowMeta::new(0, proto, a, b, 0, 1, 0)
}

fn registry(limits: DecodeLimits) -> Registry {
    let mut r = Registry::new(limits);
    r.register(Box::new(Tlv));
    r
}

fn msg(body: &str) -> Vec<u8> {
    let mut m = vec![b'T'];
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(body.as_bytes());
    m
}

fn bodies(out: &[Event]) -> Vec<String> {
    out.iter().filter_map(|e| e.get_str("tlv.body").map(|v| v.into_owned())).collect()
}

#[test]
fn messages_split_anywhere_are_decoded_once_each() {
    let reg = registry(DecodeLimits::default());
    let m = meta(6);
    let mut all = msg("one");
    all.extend(msg("two"));
    all.extend(msg("three"));
    for split in 1..all.len() {
        let mut s = Session::default();
        let mut out = Vec::new();
        s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&all[..split]), &mut out);
        s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&all[split..]), &mut out);
        assert_eq!(bodies(&out), ["one", "two", "three"], "split at {split}");
        assert_eq!(s.protocol(), Some("tlv"));
    }
}

#[test]
fn documents_carry_the_direction_of_the_message() {
    let reg = registry(DecodeLimits::default());
    let m = meta(6);
    let mut s = Session::default();
    let mut out = Vec::new();
    s.payload(&reg, &m, Dir::Resp, 0, Payload::Stream(&msg("back")), &mut out);
    assert_eq!(out[0].get("source.port").and_then(|v| v.as_u64()), Some(2000));
    assert_eq!(out[0].get_str("destination.ip").as_deref(), Some("10.0.0.1"));
}

#[test]
fn after_a_gap_the_session_resyncs_on_the_next_boundary() {
    let reg = registry(DecodeLimits::default());
    let m = meta(6);
    let mut s = Session::default();
    let mut out = Vec::new();
    let first = msg("first");
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&first[..4]), &mut out);
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Gap(10), &mut out);
    let mut after = b"xx".to_vec(); // tail of a message whose start was lost
    after.extend(msg("second"));
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&after), &mut out);
    assert_eq!(bodies(&out), ["second"]);
    assert_eq!(out[0].get("tlv.gaps_before").and_then(|v| v.as_u64()), Some(10));
}

#[test]
fn invalid_message_is_an_anomaly_and_decoding_goes_on() {
    let reg = registry(DecodeLimits::default());
    let m = meta(6);
    let mut s = Session::default();
    let mut out = Vec::new();
    let mut bytes = msg("a");
    bytes.extend_from_slice(b"garbage");
    bytes.extend(msg("b"));
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&bytes), &mut out);
    assert_eq!(bodies(&out), ["a", "b"]);
    let reasons: Vec<_> = out.iter().filter_map(|e| e.get("event.reason")).collect();
    assert_eq!(reasons, ["tlv_bad_magic"]);
}

#[test]
fn a_message_above_the_size_limit_is_refused_not_buffered() {
    let reg = registry(DecodeLimits { max_message: 64, max_probe: 16, ..DecodeLimits::default() });
    let m = meta(6);
    let mut s = Session::default();
    let mut out = Vec::new();
    let huge = msg(&"x".repeat(1000));
    for c in huge.chunks(10) {
        s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(c), &mut out);
    }
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&msg("ok")), &mut out);
    assert_eq!(bodies(&out), ["ok"]);
    assert!(out.iter().any(|e| e.get_str("event.reason").as_deref() == Some("message_too_large")));
}

#[test]
fn unrecognised_stream_is_dropped_after_probing() {
    let reg = registry(DecodeLimits::default());
    let m = meta(6);
    let mut s = Session::default();
    let mut out = Vec::new();
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(b"GET / HTTP/1.1\r\n"), &mut out);
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Stream(&msg("late")), &mut out);
    assert!(out.is_empty());
    assert_eq!(s.protocol(), None);
}

#[test]
fn datagrams_are_probed_until_one_matches_and_parsed_alone() {
    let reg = registry(DecodeLimits::default());
    let m = meta(17);
    let mut s = Session::default();
    let mut out = Vec::new();
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Datagram(b"noise"), &mut out);
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Datagram(&msg("dgram")), &mut out);
    let cut = msg("cut");
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Datagram(&cut[..4]), &mut out);
    assert_eq!(bodies(&out), ["dgram"]);
    assert!(out.iter().any(|e| e.get_str("event.reason").as_deref() == Some("datagram_truncated")));
}
