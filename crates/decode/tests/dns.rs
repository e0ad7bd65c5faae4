//! The DNS decoder through the session, as the pipeline drives it: UDP datagrams and TCP
//! stream pieces in, one document per query and response out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_decode::dns::{Dns, DnsTcp};
use iotw_decode::{DecodeLimits, Registry, Session};
use iotw_event::Event;
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use serde_json::Value;

const MS: i64 = 1_000_000;

/// A query (or, with `answer`, its response: one A record) for `name`.
fn message(id: u16, name: &str, answer: Option<[u8; 4]>) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(if answer.is_some() { &[0x81, 0x80] } else { &[0x01, 0x00] });
    m.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    if let Some(ip) = answer {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        m.extend_from_slice(&ip);
    }
    m
}

fn framed(m: &[u8]) -> Vec<u8> {
    let mut f = (m.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(m);
    f
}

fn run(tcp: bool, steps: &[(Dir, i64, Vec<u8>)], chunk: usize) -> Vec<Event> {
    let mut reg = Registry::new(DecodeLimits::default());
    reg.register(Box::new(Dns));
    reg.register(Box::new(DnsTcp));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.53".parse().unwrap(), port: 53 };
    let m = FlowMeta::new(0, if tcp { 6 } else { 17 }, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    for (dir, ts, bytes) in steps {
        if tcp {
            for c in bytes.chunks(chunk) {
                s.payload(&reg, &m, *dir, *ts, Payload::Stream(c), &mut out);
            }
        } else {
            s.payload(&reg, &m, *dir, *ts, Payload::Datagram(bytes), &mut out);
        }
    }
    s.finish(&reg, &m, 60_000 * MS, &mut out);
    out
}

fn f(e: &Event, k: &str) -> Value {
    e.get(k).unwrap_or(Value::Null)
}

fn dns(out: &[Event]) -> Vec<&Event> {
    out.iter().filter(|e| e.dataset == "dns").collect()
}

#[test]
fn queries_pair_with_their_responses_and_the_unanswered_are_written_at_the_end() {
    let steps = vec![
        (Dir::Orig, 0, message(1, "a.example", None)),
        (Dir::Orig, MS, message(2, "b.example", None)),
        (Dir::Resp, 5 * MS, message(1, "a.example", Some([192, 0, 2, 7]))),
        // A response to nothing asked here.
        (Dir::Resp, 6 * MS, message(9, "c.example", Some([192, 0, 2, 9]))),
    ];
    let out = run(false, &steps, usize::MAX);
    let d = dns(&out);
    assert_eq!(d.len(), 3, "{out:?}");
    assert_eq!(f(d[0], "dns.question.name"), "a.example");
    assert_eq!(f(d[0], "event.duration"), 5 * MS);
    assert_eq!(f(d[0], "dns.resolved_ip"), serde_json::json!(["192.0.2.7"]));
    assert_eq!(f(d[0], "source.ip"), "192.0.2.1", "the client is the source");
    assert_eq!(f(d[1], "dns.question.name"), "c.example");
    assert_eq!(f(d[1], "event.duration"), Value::Null);
    assert_eq!(f(d[1], "source.ip"), "192.0.2.1");
    assert_eq!(f(d[2], "dns.question.name"), "b.example");
    assert_eq!(f(d[2], "event.outcome"), "unknown");
    assert_eq!(f(d[2], "dns.type"), "query");
}

#[test]
fn over_tcp_messages_are_framed_and_split_anywhere() {
    let mut two = framed(&message(3, "x.example", None));
    two.extend(framed(&message(4, "y.example", None)));
    let steps = vec![
        (Dir::Orig, 0, two),
        (Dir::Resp, 2 * MS, framed(&message(3, "x.example", Some([10, 0, 0, 3])))),
        (Dir::Resp, 3 * MS, framed(&message(4, "y.example", Some([10, 0, 0, 4])))),
    ];
    let whole = run(true, &steps, usize::MAX);
    let split = run(true, &steps, 3);
    let docs = |v: &[Event]| v.iter().map(|e| e.to_json()).collect::<Vec<_>>();
    assert_eq!(docs(&whole), docs(&split));
    let d = dns(&whole);
    assert_eq!(d.len(), 2);
    assert_eq!(f(d[1], "dns.resolved_ip"), serde_json::json!(["10.0.0.4"]));
    assert_eq!(f(d[1], "event.duration"), 3 * MS);
}

#[test]
fn a_damaged_message_is_an_anomaly_and_the_next_still_counts() {
    let mut bad = message(5, "z.example", None);
    bad.truncate(15);
    let steps = vec![
        (Dir::Orig, 0, message(6, "ok.example", None)),
        (Dir::Orig, MS, bad),
        (Dir::Resp, 2 * MS, message(6, "ok.example", Some([10, 0, 0, 6]))),
    ];
    let out = run(false, &steps, usize::MAX);
    let reasons: Vec<Value> = out.iter().filter(|e| e.dataset == "anomaly").map(|e| f(e, "event.reason")).collect();
    assert_eq!(reasons, [Value::from("dns_truncated")]);
    assert_eq!(dns(&out).len(), 1);
    // Not on a DNS port: not claimed, however DNS-like.
    let mut reg = Registry::new(DecodeLimits::default());
    reg.register(Box::new(Dns));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 4000 };
    let m = FlowMeta::new(0, 17, a, b, 0, 1, 0);
    let (mut s, mut out) = (Session::default(), Vec::new());
    s.payload(&reg, &m, Dir::Orig, 0, Payload::Datagram(&message(7, "n.example", None)), &mut out);
    s.finish(&reg, &m, MS, &mut out);
    assert!(dns(&out).is_empty());
}
