//! The HTTP decoder through the session, as the pipeline drives it: stream chunks in,
//! transaction documents out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_decode::http::{Http, HttpOptions};
use iotw_decode::{DecodeLimits, Registry, Session};
use iotw_event::Event;
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use serde_json::Value;
use std::io::Write;

const MS: i64 = 1_000_000;

enum Step<'a> {
    Data(Dir, i64, &'a [u8]),
    Gap(Dir, u64),
}
use Step::{Data, Gap};

fn run_with(opts: HttpOptions, steps: &[Step<'_>], chunk: usize) -> Vec<Event> {
    let mut reg = Registry::new(DecodeLimits::default());
    reg.register(Box::new(Http::new(opts)));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 8080 };
    let m = FlowMeta::new(0, 6, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    for step in steps {
        match step {
            Data(dir, ts, bytes) => {
                for c in bytes.chunks(chunk) {
                    s.payload(&reg, &m, *dir, *ts, Payload::Stream(c), &mut out);
                }
            }
            Gap(dir, n) => s.payload(&reg, &m, *dir, 0, Payload::Gap(*n), &mut out),
        }
    }
    s.finish(&reg, &m, 60_000 * MS, &mut out);
    out
}

fn run(steps: &[Step<'_>]) -> Vec<Event> {
    // Every exchange is also fed seven bytes at a time: framing must not depend on segments.
    let whole = run_with(HttpOptions::default(), steps, usize::MAX);
    let split = run_with(HttpOptions::default(), steps, 7);
    let docs = |v: &[Event]| v.iter().map(|e| e.to_json()).collect::<Vec<_>>();
    assert_eq!(docs(&whole), docs(&split), "same documents whatever the segment sizes");
    whole
}

fn http(out: &[Event]) -> Vec<&Event> {
    out.iter().filter(|e| e.dataset == "http").collect()
}

fn anomalies(out: &[Event]) -> Vec<String> {
    out.iter().filter(|e| e.dataset == "anomaly").map(|e| f(e, "event.reason").to_string()).collect()
}

fn f(e: &Event, k: &str) -> Value {
    e.get(k).unwrap_or(Value::Null)
}

#[test]
fn a_keep_alive_connection_gives_one_document_per_transaction() {
    let out = run(&[
        Data(Dir::Orig, 0, b"GET /a?x=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t/1\r\n\r\n"),
        Data(
            Dir::Resp,
            3 * MS,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
        ),
        Data(Dir::Orig, 10 * MS, b"GET /b HTTP/1.1\r\nHost: example.org\r\n\r\n"),
        Data(Dir::Resp, 12 * MS, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"),
        Data(Dir::Resp, 15 * MS, b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"),
    ]);
    let d = http(&out);
    assert_eq!(d.len(), 2, "{:?}", anomalies(&out));
    assert!(anomalies(&out).is_empty(), "{:?}", anomalies(&out));
    assert_eq!(f(d[0], "http.request.method"), "GET");
    assert_eq!(f(d[0], "url.original"), "/a?x=1");
    assert_eq!(f(d[0], "url.full"), "http://example.org/a?x=1");
    assert_eq!(f(d[0], "url.query"), "x=1");
    assert_eq!(f(d[0], "user_agent.original"), "t/1");
    assert_eq!(f(d[0], "http.response.status_code"), 200);
    assert_eq!(f(d[0], "http.response.mime_type"), "application/json");
    assert_eq!(f(d[0], "http.response.body.bytes"), 7);
    assert_eq!(f(d[0], "event.duration"), 3 * MS);
    assert_eq!(f(d[0], "event.outcome"), "success");
    assert_eq!(f(d[0], "source.port"), 40000, "oriented client to server");
    assert_eq!(f(d[1], "http.response.body.bytes"), 11, "chunk data only");
    assert_eq!(f(d[1], "event.duration"), 5 * MS, "to the end of the chunked body");
    assert_ne!(d[0].id, d[1].id);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let out = run(&[
        Data(
            Dir::Orig,
            0,
            b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
        ),
        Data(
            Dir::Resp,
            MS,
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n\
HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        ),
    ]);
    let d = http(&out);
    let got: Vec<_> = d.iter().map(|e| (f(e, "url.original"), f(e, "http.response.status_code"))).collect();
    assert_eq!(
        got,
        [("/1".into(), 200.into()), ("/2".into(), 200.into()), ("/3".into(), 404.into())],
        "the HEAD response has no body despite its Content-Length"
    );
    assert_eq!(f(d[2], "event.outcome"), "failure");
}

#[test]
fn an_interim_100_continue_is_noted_on_its_transaction() {
    let out = run(&[
        Data(Dir::Orig, 0, b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
        Data(Dir::Resp, MS, b"HTTP/1.1 100 Continue\r\n\r\n"),
        Data(Dir::Orig, 2 * MS, b"data"),
        Data(Dir::Resp, 9 * MS, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let d = http(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(f(d[0], "http.response.status_code"), 201);
    assert_eq!(f(d[0], "http.response.interim_status_codes"), serde_json::json!(["100"]));
    assert_eq!(f(d[0], "http.request.body.bytes"), 4);
    assert_eq!(f(d[0], "event.duration"), 7 * MS, "from the end of the request body");
}

#[test]
fn a_body_until_close_ends_with_the_flow_and_an_unanswered_request_is_reported() {
    let out = run(&[
        Data(Dir::Orig, 0, b"GET /old HTTP/1.0\r\n\r\n"),
        Data(Dir::Resp, MS, b"HTTP/1.0 200 OK\r\n\r\nall of this is body"),
    ]);
    let d = http(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(f(d[0], "http.response.body.bytes"), 19);
    assert_eq!(f(d[0], "http.response.incomplete"), Value::Null);

    let out = run(&[Data(Dir::Orig, 0, b"GET /lost HTTP/1.1\r\n\r\n")]);
    let d = http(&out);
    assert_eq!(f(d[0], "http.transaction.unanswered"), true);
    assert_eq!(f(d[0], "event.outcome"), "unknown");
}

#[test]
fn a_response_whose_request_was_not_seen_is_an_orphan_oriented_to_its_client() {
    let out = run(&[Data(Dir::Resp, 0, b"HTTP/1.1 204 No Content\r\n\r\n")]);
    let d = http(&out);
    assert_eq!(f(d[0], "http.transaction.orphan"), true);
    assert_eq!(f(d[0], "source.port"), 40000);
}

#[test]
fn credentials_are_redacted_and_captured_bodies_are_decoded() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&b"{\"big\":\"".repeat(100)).unwrap();
    let body = gz.finish().unwrap();
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Encoding: gzip\r\n\
Set-Cookie: s=1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let req: &[u8] = b"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nCookie: a=b\r\n\r\n";
    let steps = [Data(Dir::Orig, 0, req), Data(Dir::Resp, MS, &resp)];
    let out = run(&steps);
    let d = http(&out)[0];
    assert_eq!(f(d, "http.request.headers.authorization"), "[redacted]");
    assert_eq!(f(d, "http.request.headers.cookie"), "[redacted]");
    assert_eq!(f(d, "http.response.headers.set-cookie"), "[redacted]");
    assert_eq!(f(d, "http.response.body.content"), Value::Null, "bodies are not kept by default");

    let opts = HttpOptions {
        capture_bodies: vec!["application/*".into()],
        max_body: 64,
        redact_headers: vec![],
        ..HttpOptions::default()
    };
    let out = run_with(opts, &steps, 5);
    let d = http(&out)[0];
    assert_eq!(f(d, "http.request.headers.authorization"), "Basic dXNlcjpwYXNz");
    assert_eq!(f(d, "http.response.body.content"), "{\"big\":\"".repeat(8));
    assert_eq!(f(d, "http.response.body.truncated"), true);
    assert_eq!(f(d, "http.response.body.bytes"), body.len());
}

#[test]
fn after_101_switching_protocols_the_connection_is_not_parsed() {
    let out = run(&[
        Data(Dir::Orig, 0, b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
        Data(Dir::Resp, MS, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
        Data(Dir::Orig, 2 * MS, b"\x81\x85\x00\x00\x00\x00hello"),
    ]);
    let d = http(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(f(d[0], "http.upgrade"), "websocket");
    assert!(anomalies(&out).is_empty(), "{:?}", anomalies(&out));
}

#[test]
fn a_gap_inside_a_body_of_known_length_keeps_the_framing() {
    let out = run_with(
        HttpOptions::default(),
        &[
            Data(Dir::Orig, 0, b"GET /a HTTP/1.1\r\n\r\n"),
            Data(Dir::Resp, MS, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"),
            Gap(Dir::Resp, 80),
            Data(Dir::Resp, 2 * MS, b"0123456789"),
            Data(Dir::Orig, 3 * MS, b"GET /b HTTP/1.1\r\n\r\n"),
            Data(Dir::Resp, 4 * MS, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
        usize::MAX,
    );
    let d = http(&out);
    assert_eq!(d.len(), 2, "{:?}", anomalies(&out));
    assert_eq!(f(d[0], "http.response.incomplete"), true);
    assert_eq!(f(d[0], "http.response.body.bytes"), 20);
    assert_eq!(f(d[1], "url.original"), "/b");
}

#[test]
fn a_broken_chunk_is_an_anomaly_and_the_next_message_is_still_read() {
    let out = run(&[
        Data(Dir::Orig, 0, b"GET /a HTTP/1.1\r\n\r\n"),
        Data(Dir::Resp, MS, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        Data(Dir::Orig, 2 * MS, b"GET /b HTTP/1.1\r\n\r\n"),
        Data(Dir::Resp, 3 * MS, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(anomalies(&out), ["\"http_bad_chunk\""]);
    let d = http(&out);
    assert_eq!(d.len(), 2);
    assert_eq!(f(d[0], "http.response.incomplete"), true);
    assert_eq!(f(d[1], "http.response.status_code"), 200);
}

#[test]
fn a_body_larger_than_the_message_limit_streams_through() {
    let body = vec![b'x'; 3 << 20];
    let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    resp.extend_from_slice(&body);
    let out = run_with(
        HttpOptions::default(),
        &[Data(Dir::Orig, 0, b"GET /big HTTP/1.1\r\n\r\n"), Data(Dir::Resp, MS, &resp)],
        1460,
    );
    assert!(anomalies(&out).is_empty(), "{:?}", anomalies(&out));
    assert_eq!(f(http(&out)[0], "http.response.body.bytes"), 3 << 20);
}

#[test]
fn conflicting_content_lengths_are_refused_as_an_anomaly() {
    let out = run(&[Data(Dir::Orig, 0, b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")]);
    assert_eq!(anomalies(&out), ["\"http_bad_framing\""]);
}
