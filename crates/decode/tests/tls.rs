//! The TLS decoder through the session: records over segments, handshake messages over
//! records, one document per handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_decode::{tls::Tls, DecodeLimits, Registry, Session};
use iotw_event::Event;
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use serde_json::Value;

const MS: i64 = 1_000_000;

fn hs(t: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![t, 0, (body.len() >> 8) as u8, body.len() as u8];
    m.extend_from_slice(body);
    m
}

fn client_hello(sid: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[1; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&[0, 4, 0xc0, 0x2f, 0x00, 0x9c, 1, 0]);
    hs(1, &b)
}

fn server_hello(sid: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[2; 32]);
    b.push(sid.len() as u8);
    b.extend_from_slice(sid);
    b.extend_from_slice(&[0xc0, 0x2f, 0]);
    hs(2, &b)
}

fn record(content: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content, 3, 3, (body.len() >> 8) as u8, body.len() as u8];
    r.extend_from_slice(body);
    r
}

fn run(steps: &[(Dir, i64, Vec<u8>)], chunk: usize) -> Vec<Event> {
    let mut reg = Registry::new(DecodeLimits::default());
    reg.register(Box::new(Tls::new()));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 50000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 443 };
    let m = FlowMeta::new(0, 6, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    for (dir, ts, bytes) in steps {
        for c in bytes.chunks(chunk) {
            s.payload(&reg, &m, *dir, *ts, Payload::Stream(c), &mut out);
        }
    }
    s.finish(&reg, &m, 60_000 * MS, &mut out);
    out
}

fn f(e: &Event, k: &str) -> Value {
    e.get(k).unwrap_or(Value::Null)
}

fn tls(out: &[Event]) -> Vec<&Event> {
    out.iter().filter(|e| e.dataset == "tls").collect()
}

fn handshake(sid: &[u8], resumed_sid: &[u8]) -> Vec<(Dir, i64, Vec<u8>)> {
    // The ClientHello split over two handshake records.
    let ch = client_hello(sid);
    let (a, b) = ch.split_at(20);
    vec![
        (Dir::Orig, 0, [record(22, a), record(22, b)].concat()),
        (Dir::Resp, 2 * MS, [record(22, &server_hello(resumed_sid)), record(20, &[1])].concat()),
        (Dir::Orig, 3 * MS, [record(20, &[1]), record(22, &[0; 40])].concat()),
        (Dir::Orig, 5 * MS, record(23, &[9; 100])),
    ]
}

#[test]
fn a_handshake_over_split_records_and_segments_is_one_document() {
    for chunk in [usize::MAX, 7, 1] {
        let out = run(&handshake(&[], &[]), chunk);
        let d = tls(&out);
        assert_eq!(d.len(), 1, "chunk {chunk}");
        assert_eq!(f(d[0], "tls.version"), "1.2");
        assert_eq!(f(d[0], "tls.cipher"), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(f(d[0], "tls.established"), true);
        assert_eq!(f(d[0], "tls.resumed"), false);
        assert_eq!(f(d[0], "event.duration"), 5 * MS);
        assert_eq!(f(d[0], "tls.client.ja3_string"), "771,49199-156,,,");
        assert_eq!(f(d[0], "source.port"), 50000);
        assert!(out.iter().all(|e| e.dataset != "anomaly"), "encrypted handshake records are not parsed");
    }
}

#[test]
fn a_server_that_takes_the_client_session_id_resumes() {
    let out = run(&handshake(&[5; 32], &[5; 32]), usize::MAX);
    assert_eq!(f(tls(&out)[0], "tls.resumed"), true);
}

#[test]
fn a_fatal_alert_before_application_data_is_a_failure() {
    let out = run(&[(Dir::Orig, 0, record(22, &client_hello(&[]))), (Dir::Resp, MS, record(21, &[2, 40]))], usize::MAX);
    let d = tls(&out);
    assert_eq!(f(d[0], "event.outcome"), "failure");
    assert_eq!(f(d[0], "tls.established"), false);
    assert_eq!(
        f(d[0], "tls.alerts"),
        serde_json::json!([{"from": "server", "level": "fatal", "description": "handshake_failure"}])
    );
}

#[test]
fn bytes_that_are_not_records_are_an_anomaly_and_records_after_them_still_count() {
    let mut steps = handshake(&[], &[]);
    steps.insert(3, (Dir::Orig, 4 * MS, b"\xff\xff\xff\xff\xff\xff".to_vec()));
    let out = run(&steps, usize::MAX);
    let reasons: Vec<Value> = out.iter().filter(|e| e.dataset == "anomaly").map(|e| f(e, "event.reason")).collect();
    assert_eq!(reasons, [Value::from("tls_bad_record")]);
    assert_eq!(f(tls(&out)[0], "tls.established"), true);
}
