//! The T-Library decoder through the session, as the pipeline drives it: framing across
//! segments, keep-alives, pickup in the middle of a connection, gaps, damaged packets,
//! request/answer pairing, and passwords.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_decode::genesys::tables::{AttributeId as A, MessageType as M};
use iotw_decode::genesys::tlib::{encode, TlibMessage, Value};
use iotw_decode::genesys::{Tlib, WireProfile};
use iotw_decode::{DecodeLimits, Registry, Session};
use iotw_event::Event;
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use serde_json::Value as Json;

fn meta() -> FlowMeta {
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 3000 };
    FlowMeta::new(0, 6, a, b, 0, 1, 0)
}

fn ringing(n: i64) -> TlibMessage {
    TlibMessage {
        mtype: M::EVENT_RINGING,
        attrs: vec![
            (A::CONN_ID, Value::ConnId([0, 0x6c, 0, 0, 0, 0, n as u8, 4])),
            (A::THIS_DN, Value::Str(format!("{}", 5000 + n))),
            (A::EVENT_SEQUENCE_NUMBER, Value::Long(n)),
        ],
    }
}

/// Feeds `chunks` (direction, bytes or a gap) and returns every document, rendered.
fn run(chunks: &[(Dir, Option<&[u8]>, u64)]) -> Vec<Event> {
    let mut reg = Registry::new(DecodeLimits::default());
    reg.register(Box::new(Tlib::default()));
    let (m, mut s, mut out) = (meta(), Session::default(), Vec::new());
    for (i, (dir, bytes, gap)) in chunks.iter().enumerate() {
        let p = match bytes {
            Some(b) => Payload::Stream(b),
            None => Payload::Gap(*gap),
        };
        s.payload(&reg, &m, *dir, i as i64 * 1_000_000, p, &mut out);
    }
    s.finish(&reg, &m, 1_000_000_000, &mut out);
    iotw_event::render_all(&mut out);
    out
}

fn names(out: &[Event]) -> Vec<String> {
    out.iter()
        .filter(|e| e.dataset == "genesys")
        .map(|e| e.get_str("genesys.message.name").unwrap().into_owned())
        .collect()
}

fn summary(out: &[Event]) -> Json {
    out.iter().find(|e| e.dataset == "genesys_summary").unwrap().get("genesys.summary").unwrap()
}

#[test]
fn packets_split_across_segments_and_keepalives_between_them() {
    let p = WireProfile::default();
    let mut stream = Vec::new();
    for n in 0..5 {
        stream.extend(encode(&ringing(n), &p).unwrap());
        stream.extend([0, 0, 0, 0]); // a keep-alive
    }
    let chunks: Vec<(Dir, Option<&[u8]>, u64)> = stream.chunks(7).map(|c| (Dir::Resp, Some(c), 0)).collect();
    let out = run(&chunks);
    assert_eq!(names(&out), vec!["EventRinging"; 5]);
    assert_eq!(summary(&out)["keepalives"], 5);
    assert_eq!(out[4].get_str("genesys.conn_id").as_deref(), Some("006c000000000404"));
}

#[test]
fn picked_up_mid_stream_and_after_a_gap_decoding_resumes_at_the_next_packet() {
    let p = WireProfile::default();
    let packets: Vec<Vec<u8>> = (0..6).map(|n| encode(&ringing(n), &p).unwrap()).collect();
    let all: Vec<u8> = packets.concat();
    // Capture starts 5 bytes into the first packet; later 3 bytes of the fourth are lost.
    let fourth = packets[..3].iter().map(Vec::len).sum::<usize>();
    let out = run(&[
        (Dir::Resp, Some(&all[5..fourth + 2]), 0),
        (Dir::Resp, None, 3),
        (Dir::Resp, Some(&all[fourth + 5..]), 0),
    ]);
    let seqs: Vec<String> = out
        .iter()
        .filter(|e| e.dataset == "genesys")
        .map(|e| e.get_str("genesys.event_sequence_number").unwrap().into_owned())
        .collect();
    assert_eq!(seqs, ["0000000000000001", "0000000000000002", "0000000000000004", "0000000000000005"]);
}

#[test]
fn a_damaged_packet_is_an_anomaly_and_the_next_one_decodes() {
    let p = WireProfile::default();
    let mut bad = encode(&ringing(1), &p).unwrap();
    bad[10] = 0x7f; // the first attribute's length (bytes 10-11) now runs past the packet
    let mut stream = encode(&ringing(0), &p).unwrap();
    stream.extend(bad);
    stream.extend(encode(&ringing(2), &p).unwrap());
    let out = run(&[(Dir::Resp, Some(&stream), 0)]);
    assert_eq!(names(&out).len(), 2);
    assert!(out.iter().any(|e| e.get_str("event.reason").as_deref() == Some("tlib_bad_message")));
}

#[test]
fn answers_carry_their_request_and_response_time_and_passwords_never_appear() {
    let p = WireProfile::default();
    let register = TlibMessage {
        mtype: M::REQUEST_REGISTER_CLIENT,
        attrs: vec![
            (A::REFERENCE_ID, Value::Int(7)),
            (A::APPLICATION_NAME, Value::Str("URS_1".into())),
            (A::APPLICATION_PASSWORD, Value::Str("Resources/hunter2".into())),
        ],
    };
    let info = TlibMessage {
        mtype: M::EVENT_SERVER_INFO,
        attrs: vec![
            (A::REFERENCE_ID, Value::Int(7)),
            (A::SERVER_VERSION, Value::Str("8.1.103.17".into())),
            (A::SERVER_ROLE, Value::Int(1)),
        ],
    };
    let (req, ev) = (encode(&register, &p).unwrap(), encode(&info, &p).unwrap());
    let out = run(&[(Dir::Orig, Some(&req), 0), (Dir::Resp, Some(&ev), 0)]);
    let ev = out.iter().find(|e| e.get_str("event.action").as_deref() == Some("EventServerInfo")).unwrap();
    assert_eq!(ev.get("event.duration"), Some(Json::from(1_000_000)));
    assert_eq!(ev.get_str("genesys.request.name").as_deref(), Some("RequestRegisterClient"));
    assert_eq!(ev.get_str("genesys.server_role").as_deref(), Some("Backup"));
    let s = out.iter().find(|e| e.dataset == "genesys_summary").unwrap();
    assert_eq!(s.get_str("genesys.client.application_name").as_deref(), Some("URS_1"));
    assert_eq!(s.get_str("genesys.server.version").as_deref(), Some("8.1.103.17"));
    assert!(out.iter().all(|e| !e.to_json().contains("hunter2")));
}
