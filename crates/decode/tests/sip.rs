//! The SIP decoder through the session, as the pipeline drives it: datagrams and streams in,
//! message and call documents out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_decode::{sip::Sip, DecodeLimits, Registry, Session};
use iotw_event::Event;
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use serde_json::Value;

fn meta(proto: u8) -> FlowMeta {
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 5060 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 5070 };
    FlowMeta::new(0, proto, a, b, 0, 1, 0)
}

fn msg(start: &str, cseq: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "{start}\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-{cseq}\r\nFrom: \"Ann\" <sip:ann@192.0.2.1>;tag=a1\r\n\
To: <sip:bob@192.0.2.2>{extra}\r\nCall-ID: call-1@192.0.2.1\r\nCSeq: {cseq}\r\nUser-Agent: test\r\n\
X-Genesys-CallUUID: 0123ABCD\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn run(proto: u8, msgs: &[(Dir, i64, Vec<u8>)], split_stream: bool) -> Vec<Event> {
    run_deferring(proto, msgs, split_stream, false)
}

/// [`run`], leaving documents to be rendered later (as when the pipeline's rendering thread
/// keeps up) when `defer` is set.
fn run_deferring(proto: u8, msgs: &[(Dir, i64, Vec<u8>)], split_stream: bool, defer: bool) -> Vec<Event> {
    let mut out = Vec::new();
    run_each(proto, msgs, split_stream, defer, &mut out, |_| {});
    out
}

/// Feeds `msgs` to a SIP session, documents into `out`; `after` sees `out` after each message
/// and after the session's end.
fn run_each(
    proto: u8,
    msgs: &[(Dir, i64, Vec<u8>)],
    split_stream: bool,
    defer: bool,
    out: &mut Vec<Event>,
    mut after: impl FnMut(&mut Vec<Event>),
) {
    let mut reg = Registry::new(DecodeLimits::default());
    reg.register(Box::new(Sip));
    reg.defer = defer;
    let m = meta(proto);
    let mut s = Session::default();
    for (dir, ts, bytes) in msgs {
        if proto == 17 {
            s.payload(&reg, &m, *dir, *ts, Payload::Datagram(bytes), out);
        } else if split_stream {
            for c in bytes.chunks(7) {
                s.payload(&reg, &m, *dir, *ts, Payload::Stream(c), out);
            }
        } else {
            s.payload(&reg, &m, *dir, *ts, Payload::Stream(bytes), out);
        }
        after(out);
    }
    s.finish(&reg, &m, 10_000_000_000, out);
    after(out);
}

/// [`run_deferring`] with each message's documents rendered and handed back for reuse
/// ([`iotw_event::recycle`]) before the next message, as the pipeline does with shipped ones:
/// the documents' JSON and tags.
fn run_recycling(proto: u8, msgs: &[(Dir, i64, Vec<u8>)]) -> Vec<(String, OwnedTags)> {
    let mut written = Vec::new();
    run_each(proto, msgs, false, true, &mut Vec::new(), |out| {
        for e in out.iter_mut() {
            e.render();
            written.push((e.to_json(), owned_tags(e)));
        }
        iotw_event::recycle(out.drain(..));
    });
    written
}

fn calls(out: &[Event]) -> Vec<&Event> {
    out.iter().filter(|e| e.dataset == "call").collect()
}

fn f(e: &Event, k: &str) -> Value {
    e.get(k).unwrap_or(Value::Null)
}

const MS: i64 = 1_000_000;

fn completed_call() -> Vec<(Dir, i64, Vec<u8>)> {
    vec![
        (Dir::Orig, 0, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", "", SDP)),
        (Dir::Resp, 10 * MS, msg("SIP/2.0 100 Trying", "1 INVITE", "", "")),
        (Dir::Resp, 50 * MS, msg("SIP/2.0 180 Ringing", "1 INVITE", ";tag=b2", "")),
        (Dir::Resp, 900 * MS, msg("SIP/2.0 200 OK", "1 INVITE", ";tag=b2", SDP)),
        (Dir::Orig, 910 * MS, msg("ACK sip:bob@192.0.2.2 SIP/2.0", "1 ACK", ";tag=b2", "")),
        (Dir::Resp, 5_900 * MS, msg("BYE sip:ann@192.0.2.1 SIP/2.0", "2 BYE", ";tag=b2", "")),
        (Dir::Orig, 5_905 * MS, msg("SIP/2.0 200 OK", "2 BYE", ";tag=b2", "")),
    ]
}

#[test]
fn a_call_over_udp_is_one_call_document_with_its_times() {
    let out = run(17, &completed_call(), false);
    assert_eq!(out.iter().filter(|e| e.dataset == "sip").count(), 7);
    let c = calls(&out);
    assert_eq!(c.len(), 1);
    let c = c[0];
    assert_eq!(f(c, "call.state"), "completed");
    assert_eq!(f(c, "call.setup_time"), 50 * MS);
    assert_eq!(f(c, "call.answer_delay"), 900 * MS);
    assert_eq!(f(c, "call.talk_duration"), 5_000 * MS);
    assert_eq!(f(c, "call.hangup_by"), "callee");
    assert_eq!(f(c, "call.caller.user"), "ann");
    assert_eq!(f(c, "call.caller.display_name"), "Ann");
    assert_eq!(f(c, "call.callee.user"), "bob");
    assert_eq!(f(c, "call.genesys_calluuid"), "0123ABCD");
    assert_eq!(f(c, "call.media")[0], "audio 192.0.2.1:6000 PCMU");
    assert_eq!(f(c, "call.messages"), 7);
}

#[test]
fn responses_carry_their_transaction_time_and_sdp() {
    let out = run(17, &completed_call(), false);
    let ok = out.iter().find(|e| f(e, "sip.code") == 200 && f(e, "sip.cseq.method") == "INVITE").unwrap();
    assert_eq!(f(ok, "event.duration"), 900 * MS);
    assert_eq!(f(ok, "sip.to.tag"), "b2");
    assert_eq!(f(ok, "sip.sdp.media")[0]["port"], 6000);
    assert_eq!(f(ok, "sip.sdp.media")[0]["codecs"][0]["name"], "PCMU");
    assert_eq!(f(ok, "source.ip"), "192.0.2.2", "responses go the other way");
    let invite = &out[0];
    assert_eq!(f(invite, "sip.method"), "INVITE");
    assert_eq!(f(invite, "sip.headers.x-genesys-calluuid"), "0123ABCD");
    assert_eq!(f(invite, "sip.via.branch"), "z9hG4bK-1 INVITE");
}

#[test]
fn tcp_stream_split_anywhere_gives_the_same_documents() {
    let mut whole = completed_call();
    // Several messages in one segment, and keep-alive CRLFs between them.
    let mut joined = Vec::new();
    for (_, _, b) in whole.iter().take(2) {
        joined.extend_from_slice(b);
        joined.extend_from_slice(b"\r\n\r\n");
    }
    whole[0].2 = joined;
    whole.remove(1);
    let a = run(6, &whole, false);
    let b = run(6, &whole, true);
    let sips = |o: &[Event]| o.iter().filter(|e| e.dataset == "sip").map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(sips(&a).len(), 7);
    assert_eq!(sips(&a), sips(&b));
    assert_eq!(f(calls(&b)[0], "call.state"), "completed");
}

#[test]
fn cancelled_and_rejected_calls_say_why() {
    let cancelled = vec![
        (Dir::Orig, 0, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", "", "")),
        (Dir::Resp, MS, msg("SIP/2.0 180 Ringing", "1 INVITE", ";tag=b2", "")),
        (Dir::Orig, 2 * MS, msg("CANCEL sip:bob@192.0.2.2 SIP/2.0", "1 CANCEL", "", "")),
        (Dir::Resp, 3 * MS, msg("SIP/2.0 200 OK", "1 CANCEL", ";tag=b2", "")),
        (Dir::Resp, 4 * MS, msg("SIP/2.0 487 Request Terminated", "1 INVITE", ";tag=b2", "")),
    ];
    let out = run(17, &cancelled, false);
    let c = calls(&out)[0];
    assert_eq!(
        (f(c, "call.state"), f(c, "call.end_cause"), f(c, "call.final_code")),
        ("cancelled".into(), "cancel".into(), 487.into())
    );
    let busy = vec![
        (Dir::Orig, 0, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", "", "")),
        (
            Dir::Resp,
            MS,
            msg("SIP/2.0 486 Busy Here", "1 INVITE", ";tag=b2\r\nReason: Q.850;cause=17;text=\"User busy\"", ""),
        ),
    ];
    let out = run(17, &busy, false);
    let c = calls(&out)[0];
    assert_eq!((f(c, "call.state"), f(c, "call.end_cause")), ("failed".into(), "486".into()));
    let resp = out.iter().find(|e| f(e, "sip.code") == 486).unwrap();
    assert_eq!((f(resp, "sip.reason.cause"), f(resp, "sip.reason.text")), (17.into(), "User busy".into()));
}

#[test]
fn retransmissions_are_marked_and_unfinished_calls_close_at_flow_end() {
    let msgs = vec![
        (Dir::Orig, 0, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", "", "")),
        (Dir::Orig, 500 * MS, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", "", "")),
    ];
    let out = run(17, &msgs, false);
    let sips: Vec<&Event> = out.iter().filter(|e| e.dataset == "sip").collect();
    assert_eq!(f(sips[1], "sip.retransmission"), true);
    let c = calls(&out)[0];
    assert_eq!((f(c, "call.state"), f(c, "call.messages")), ("unterminated".into(), 1.into()));
}

#[test]
fn garbage_between_messages_is_an_anomaly_and_decoding_resumes() {
    let mut stream = msg("OPTIONS sip:bob@192.0.2.2 SIP/2.0", "1 OPTIONS", "", "");
    stream.extend_from_slice(b"NOT SIP AT ALL\r\n");
    stream.extend(msg("SIP/2.0 200 OK", "1 OPTIONS", ";tag=b2", ""));
    let out = run(6, &[(Dir::Orig, 0, stream)], false);
    let kinds: Vec<&str> = out.iter().map(|e| e.dataset).collect();
    assert_eq!(kinds, ["sip", "anomaly", "sip", "sip_summary"]);
}

#[test]
fn register_and_options_outcomes_are_summarised_per_user_agent() {
    let opt = |n: u32| msg("OPTIONS sip:gw@192.0.2.2 SIP/2.0", &format!("{n} OPTIONS"), "", "");
    let ok = |n: u32| msg("SIP/2.0 200 OK", &format!("{n} OPTIONS"), ";tag=b2", "");
    let busy = |n: u32| msg("SIP/2.0 503 Service Unavailable", &format!("{n} OPTIONS"), ";tag=b2", "");
    let msgs = vec![
        (Dir::Orig, 0, opt(1)),
        (Dir::Resp, 10 * MS, ok(1)),
        (Dir::Orig, 1000 * MS, opt(2)),
        (Dir::Resp, 1030 * MS, busy(2)),
        (Dir::Orig, 2000 * MS, opt(3)),
        (Dir::Orig, 2000 * MS, opt(3)), // retransmission: not a new request
    ];
    let out = run(17, &msgs, false);
    let s: Vec<&Event> = out.iter().filter(|e| e.dataset == "sip_summary").collect();
    assert_eq!(s.len(), 1);
    let s = s[0];
    assert_eq!(f(s, "sip.method"), "OPTIONS");
    assert_eq!(f(s, "sip.user_agent.original"), "test");
    assert_eq!((f(s, "sip.summary.requests"), f(s, "sip.summary.answered")), (3.into(), 2.into()));
    assert_eq!(f(s, "sip.summary.unanswered"), 1);
    assert_eq!(f(s, "sip.summary.codes.200"), 1);
    assert_eq!(f(s, "sip.summary.codes.503"), 1);
    assert_eq!(f(s, "sip.summary.mean_response_time"), 20 * MS);
}

const SEC: i64 = 1_000_000_000;

fn other_call(ts: i64) -> (Dir, i64, Vec<u8>) {
    let m = msg("OPTIONS sip:bob@192.0.2.2 SIP/2.0", "9 OPTIONS", "", "");
    (Dir::Orig, ts, String::from_utf8(m).unwrap().replace("call-1@", "other@").into_bytes())
}

#[test]
fn unanswered_call_is_closed_by_the_setup_timeout_while_its_flow_lives_on() {
    let msgs = vec![
        (Dir::Orig, 0, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", "", SDP)),
        other_call(200 * SEC), // within the 5 minute default: still open
        other_call(301 * SEC),
    ];
    let out = run(17, &msgs, false);
    let c = calls(&out);
    assert_eq!(c.len(), 1, "closed once, by the timeout, not again at flow end");
    assert_eq!((f(c[0], "call.state"), f(c[0], "call.end_cause")), ("timeout".into(), "timeout".into()));
    assert_eq!(f(c[0], "event.end"), "1970-01-01T00:00:00.000000Z", "ends with its last message");
    let pos = out.iter().position(|e| e.dataset == "call").unwrap();
    assert!(f(&out[pos - 1], "sip.method") == "OPTIONS", "emitted when the later message arrived");
}

#[test]
fn answered_call_times_out_after_twice_its_session_interval() {
    let answered = |expires: &str, gap: i64| {
        let extra = if expires.is_empty() { String::new() } else { format!("\r\nSession-Expires: {expires}") };
        let to_tag = format!(";tag=b1{extra}");
        vec![
            (Dir::Orig, 0, msg("INVITE sip:bob@192.0.2.2 SIP/2.0", "1 INVITE", &extra, SDP)),
            (Dir::Resp, SEC, msg("SIP/2.0 200 OK", "1 INVITE", &to_tag, SDP)),
            (Dir::Orig, SEC + MS, msg("ACK sip:bob@192.0.2.2 SIP/2.0", "1 ACK", &to_tag, "")),
            other_call(SEC + gap),
        ]
    };
    let out = run(17, &answered("90;refresher=uac", 182 * SEC), false);
    assert_eq!(f(calls(&out)[0], "call.state"), "timeout");
    let out = run(17, &answered("90;refresher=uac", 170 * SEC), false);
    assert_eq!(f(calls(&out)[0], "call.state"), "unterminated", "refreshed in time: open until flow end");
    let out = run(17, &answered("", 182 * SEC), false);
    assert_eq!(f(calls(&out)[0], "call.state"), "unterminated", "no session timer: the 4 hour default");
}

/// The endpoint members (`source`, `destination`, `network`, `related`) of every document are
/// tagged as holding no personal data, exactly, whether written or copied from the flow's
/// cache; nothing else is.
#[test]
fn endpoint_members_are_tagged_as_holding_no_personal_data() {
    use iotw_event::field::role::NO_PERSONAL_DATA;
    for proto in [17, 6] {
        let mut out = run(proto, &completed_call(), false);
        assert!(out.len() > 7);
        for e in &mut out {
            e.render();
            let ranges: Vec<_> = e.tag_ranges(NO_PERSONAL_DATA).collect();
            assert_eq!(ranges.len(), 1, "{}", e.to_json());
            let members = e.finished_members().unwrap();
            let stretch = &members[ranges[0].clone()];
            let v: serde_json::Map<String, Value> =
                serde_json::from_slice(&[b"{", stretch, b"}"].concat()).expect("whole members");
            // In key order.
            let keys: Vec<&str> = v.keys().map(String::as_str).collect();
            assert_eq!(keys, ["destination", "network", "related", "source"], "{}", e.to_json());
            assert!(stretch.starts_with(b"\"source\":{"), "{}", e.to_json());
        }
    }
}

/// The values tagged in a document, with their roles.
fn tags(e: &Event) -> Option<Vec<(&'static str, &[u8])>> {
    e.tagged().map(Iterator::collect)
}

type OwnedTags = Option<Vec<(&'static str, Vec<u8>)>>;

fn owned_tags(e: &Event) -> OwnedTags {
    e.tagged().map(|t| t.map(|(role, v)| (role, v.to_vec())).collect())
}

/// A message copy a shipped document was rendered from is reused for a later message
/// ([`iotw_event::Render::recycle`]).
#[test]
fn documents_rendered_from_reused_copies_are_those_written_at_once() {
    // Long messages before short ones, with and without bodies, and one with folded headers
    // (their values are kept apart from the copy of the header section): what a reused copy
    // held before must not show through.
    let mut msgs = completed_call();
    msgs.insert(1, (Dir::Orig, 5 * MS, msg("OPTIONS sip:bob@192.0.2.2 SIP/2.0", "9 OPTIONS", "", "")));
    let folded = String::from_utf8(msg("OPTIONS sip:eve@192.0.2.2 SIP/2.0", "10 OPTIONS", "", ""))
        .unwrap()
        .replace(";branch=", "\r\n ;branch=")
        .replace("Call-ID: ", "Call-ID:\r\n\t");
    msgs.insert(1, (Dir::Orig, 4 * MS, folded.into_bytes()));
    msgs.push(other_call(400 * SEC));
    for proto in [17, 6] {
        let now: Vec<_> =
            run_deferring(proto, &msgs, false, false).iter().map(|e| (e.to_json(), owned_tags(e))).collect();
        // Twice: the second run reuses the first's copies too.
        for _ in 0..2 {
            assert_eq!(run_recycling(proto, &msgs), now);
        }
    }
}

/// Documents left to the rendering thread are the documents written at once, byte for byte and
/// tag for tag: message documents (from a copy of the message, keys and folded headers
/// included) and call documents (completed, timed out, still open at flow end).
#[test]
fn documents_rendered_later_are_those_written_at_once() {
    // A folded Via and Call-ID: their values are new text, not ranges of the message.
    let folded = |m: Vec<u8>| {
        let m = String::from_utf8(m).unwrap();
        m.replace(";branch=", "\r\n ;branch=").replace("Call-ID: call-1@", "Call-ID:\r\n\tcall-1@").into_bytes()
    };
    let mut msgs = completed_call();
    msgs.push((Dir::Orig, 6 * SEC, folded(msg("INVITE sip:carl@192.0.2.2 SIP/2.0", "7 INVITE", "", SDP))));
    msgs.push(other_call(400 * SEC)); // times the second INVITE out
    msgs.push((Dir::Orig, 401 * SEC, msg("INVITE sip:dan@192.0.2.2 SIP/2.0", "8 INVITE", "", SDP))); // open at the end
    for proto in [17, 6] {
        let now = run_deferring(proto, &msgs, false, false);
        let mut later = run_deferring(proto, &msgs, false, true);
        assert_eq!(now.len(), later.len());
        assert!(now.iter().filter(|e| e.dataset == "call").count() >= 3);
        for (a, b) in now.iter().zip(&mut later) {
            assert!(a.finished_members().is_some(), "written at once");
            if matches!(a.dataset, "sip" | "call") {
                assert!(b.finished_members().is_none(), "left to be rendered: {}", a.to_json());
            }
            b.render();
            assert_eq!(a.to_json(), b.to_json());
            assert_eq!(tags(a), tags(b));
        }
        let branches: Vec<Value> = now.iter().filter(|e| e.dataset == "sip").map(|e| f(e, "sip.via.branch")).collect();
        assert!(branches.contains(&Value::from("z9hG4bK-7 INVITE")), "the folded Via's branch is read");
    }
}
