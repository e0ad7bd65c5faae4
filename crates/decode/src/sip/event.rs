//! SIP message and call documents (field list: docs/events.md, "sip" and "call").

use super::parser::{parse_name_addr, parse_uri, parse_via, Message, NameAddr, StartLine, Uri};
use super::sdp;
use super::state::{Call, Summary};
use crate::Ctx;
use iotw_event::{format_rfc3339_micros, Event};
use iotw_flow::Dir;
use serde_json::{json, Map, Value};

/// What the transaction layer knows about a message.
#[derive(Debug, Default, Clone, Copy)]
pub struct TxInfo {
    pub retransmission: bool,
    /// A response whose request was not seen.
    pub orphan: bool,
    /// Response: time since the request.
    pub response_time: Option<i64>,
    pub provisional: u32,
}

/// Headers that have their own fields; every other header goes to `sip.headers.<name>`.
const MAPPED: [&str; 14] = [
    "via",
    "from",
    "to",
    "contact",
    "call-id",
    "cseq",
    "max-forwards",
    "user-agent",
    "server",
    "content-type",
    "content-length",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
];

fn set_uri(e: &mut Event, prefix: &str, u: &Uri<'_>) {
    e.set(&format!("{prefix}.original"), u.original);
    if !u.scheme.is_empty() {
        e.set(&format!("{prefix}.scheme"), u.scheme);
    }
    if let Some(x) = u.user {
        e.set(&format!("{prefix}.username"), x);
    }
    if let Some(x) = u.host {
        e.set(&format!("{prefix}.host"), x);
    }
    if let Some(x) = u.port {
        e.set(&format!("{prefix}.port"), x);
    }
}

fn set_name_addr(e: &mut Event, prefix: &str, n: &NameAddr<'_>) {
    if let Some(d) = &n.display {
        e.set(&format!("{prefix}.display_info"), d.as_str());
    }
    set_uri(e, &format!("{prefix}.uri"), &n.uri);
    if let Some(t) = n.param("tag") {
        e.set(&format!("{prefix}.tag"), t);
    }
}

/// One document per SIP message.
pub fn message_document(
    ctx: &Ctx<'_>,
    m: &Message<'_>,
    n: u64,
    len: usize,
    tx: &TxInfo,
    body_sdp: Option<&sdp::Sdp<'_>>,
) -> Event {
    let start = ctx.meta.start.to_be_bytes();
    let nb = n.to_be_bytes();
    let mut e = ctx.event("sip", "event", &[ctx.meta.community_id.as_bytes(), &start, &nb]);
    e.set("event.category", vec!["network"]);
    e.set("network.protocol", "sip");
    e.set("sip.version", m.version);
    e.set("sip.length", len);
    let summary = match m.start {
        StartLine::Request { method, uri } => {
            e.set("event.type", vec!["protocol", "start"]);
            e.set("sip.type", "request");
            e.set("sip.method", method);
            set_uri(&mut e, "sip.uri", &parse_uri(uri));
            format!("{method} {uri}")
        }
        StartLine::Response { code, phrase } => {
            e.set("event.type", vec!["protocol", if code >= 200 { "end" } else { "info" }]);
            e.set("sip.type", "response");
            e.set("sip.code", code);
            e.set("sip.status", phrase);
            if let Some(d) = tx.response_time {
                e.set("event.duration", d);
            }
            format!("{code} {phrase}")
        }
    };
    if tx.retransmission {
        e.set("sip.retransmission", true);
    }
    if tx.orphan {
        e.set("sip.transaction.orphan", true);
    }
    if let Some(v) = m.header("from") {
        set_name_addr(&mut e, "sip.from", &parse_name_addr(v));
    }
    if let Some(v) = m.header("to") {
        set_name_addr(&mut e, "sip.to", &parse_name_addr(v));
    }
    if let Some(v) = m.header_values("contact").next() {
        let c = parse_name_addr(v);
        set_name_addr(&mut e, "sip.contact", &c);
        if let Some(x) = c.param("expires").and_then(|x| x.parse::<u64>().ok()) {
            e.set("sip.contact.expires", x);
        }
    }
    let call_id = m.header("call-id");
    if let Some(v) = call_id {
        e.set("sip.call_id", v);
    }
    if let Some((num, method)) = m.header("cseq").and_then(super::parser::parse_cseq) {
        e.set("sip.cseq.code", num);
        e.set("sip.cseq.method", method);
    }
    let vias: Vec<&str> = m.header_values("via").collect();
    if !vias.is_empty() {
        if let Some(b) = parse_via(vias[0]).branch {
            e.set("sip.via.branch", b);
        }
        e.set("sip.via.original", vias);
    }
    if let Some(v) = m.header("max-forwards").and_then(|v| v.trim().parse::<u64>().ok()) {
        e.set("sip.max_forwards", v);
    }
    if let Some(v) = m.header("user-agent").or_else(|| m.header("server")) {
        e.set("sip.user_agent.original", v);
    }
    if let Some(v) = m.header("content-type") {
        e.set("sip.content_type", v);
    }
    if let Some(n) = m.header("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        e.set("sip.content_length", n);
    }
    for h in ["authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate"] {
        if let Some(v) = m.header(h) {
            let (scheme, params) = v.split_once(' ').unwrap_or((v, ""));
            e.set("sip.auth.scheme", scheme);
            for (k, field) in [("realm", "sip.auth.realm"), ("username", "sip.auth.username")] {
                if let Some(x) = params.split(',').find_map(|p| {
                    let (a, b) = p.split_once('=')?;
                    a.trim().eq_ignore_ascii_case(k).then(|| b.trim().trim_matches('"'))
                }) {
                    e.set(field, x);
                }
            }
            // The digest response is a credential: never reported.
            break;
        }
    }
    if let Some(r) = m.header("reason") {
        set_reason(&mut e, "sip.reason", r);
    }
    // Every other header, by lowercased name; repeated headers become arrays.
    let mut others: Map<String, Value> = Map::new();
    for h in &m.headers {
        if MAPPED.contains(&h.name.as_ref()) {
            continue;
        }
        let v = Value::from(h.value.as_ref());
        match others.get_mut(h.name.as_ref()) {
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => *prev = Value::Array(vec![prev.take(), v]),
            None => {
                others.insert(h.name.to_string(), v);
            }
        }
    }
    if !others.is_empty() {
        e.set("sip.headers", Value::Object(others));
    }
    if let Some(s) = body_sdp {
        set_sdp(&mut e, s);
    }
    e.set("message", format!("SIP {summary}"));
    e
}

/// `Reason: Q.850;cause=16;text="Normal call clearing"` (RFC 3326).
fn set_reason(e: &mut Event, prefix: &str, r: &str) {
    let (proto, params) = r.split_once(';').unwrap_or((r, ""));
    e.set(&format!("{prefix}.protocol"), proto.trim());
    if let Some(c) = super::parser::param(params, "cause").and_then(|c| c.parse::<u64>().ok()) {
        e.set(&format!("{prefix}.cause"), c);
    }
    if let Some(t) = super::parser::param(params, "text") {
        e.set(&format!("{prefix}.text"), t);
    }
}

fn set_sdp(e: &mut Event, s: &sdp::Sdp<'_>) {
    let opt = |e: &mut Event, k: &str, v: Option<&str>| {
        if let Some(v) = v {
            e.set(k, v);
        }
    };
    opt(e, "sip.sdp.version", s.version);
    opt(e, "sip.sdp.owner.username", s.owner_username);
    opt(e, "sip.sdp.owner.session_id", s.owner_session_id);
    opt(e, "sip.sdp.owner.version", s.owner_version);
    opt(e, "sip.sdp.owner.ip", s.owner_ip);
    opt(e, "sip.sdp.session.name", s.session_name);
    opt(e, "sip.sdp.connection.info", s.connection_info);
    opt(e, "sip.sdp.connection.address", s.connection_address);
    opt(e, "sip.sdp.direction", s.direction);
    let media: Vec<Value> = s
        .media
        .iter()
        .map(|m| {
            let codecs: Vec<Value> = m
                .rtpmap
                .iter()
                .map(|(pt, name, rate)| json!({"payload_type": pt, "name": name, "clock_rate": rate}))
                .collect();
            let mut o =
                json!({"type": m.kind, "port": m.port, "protocol": m.protocol, "formats": m.formats, "codecs": codecs});
            if let Some(a) = m.connection_address.or(s.connection_address) {
                o["connection_address"] = a.into();
            }
            if let Some(d) = m.direction.or(s.direction) {
                o["direction"] = d.into();
            }
            if let Some(p) = m.ptime {
                o["ptime"] = p.into();
            }
            o
        })
        .collect();
    if !media.is_empty() {
        e.set("sip.sdp.media", media);
    }
}

/// One document per INVITE dialog (call), when it ends or its flow does.
pub(crate) fn call_document(ctx: &Ctx<'_>, c: &Call) -> Event {
    let start = c.start.to_be_bytes();
    let end = c.end.unwrap_or(ctx.meta.last);
    let mut e = Event::new("call", "event", end, &[c.call_id.as_bytes(), &start]);
    crate::records::set_endpoints(&mut e, ctx.meta, c.invite_dir.unwrap_or(ctx.dir));
    e.set("event.category", vec!["network"]);
    e.set("event.type", vec!["connection", "end"]);
    e.set("event.start", format_rfc3339_micros(c.start));
    e.set("event.end", format_rfc3339_micros(end));
    e.set("event.duration", end - c.start);
    e.set("call.id", c.call_id.as_str());
    e.set("call.state", c.state);
    for (prefix, (user, display, host)) in [("call.caller", &c.caller), ("call.callee", &c.callee)] {
        if let Some(u) = user {
            e.set(&format!("{prefix}.user"), u.as_str());
        }
        if let Some(d) = display {
            e.set(&format!("{prefix}.display_name"), d.as_str());
        }
        if let Some(h) = host {
            e.set(&format!("{prefix}.host"), h.as_str());
        }
    }
    if let Some(t) = c.ringing {
        e.set("call.ringing", format_rfc3339_micros(t));
        e.set("call.setup_time", t - c.start);
    }
    if let Some(t) = c.answer {
        e.set("call.answer", format_rfc3339_micros(t));
        e.set("call.answer_delay", t - c.start);
        if let Some(x) = c.end {
            e.set("call.talk_duration", x - t);
        }
    }
    if let Some(h) = c.hangup_by {
        e.set("call.hangup_by", h);
    }
    if let Some(x) = &c.end_cause {
        e.set("call.end_cause", x.as_str());
    }
    if let Some(x) = c.final_code {
        e.set("call.final_code", x);
    }
    if let Some(r) = &c.reason {
        set_reason(&mut e, "call.reason", r);
    }
    e.set("call.reinvites", c.reinvites);
    e.set("call.holds", c.holds);
    if !c.media.is_empty() {
        e.set("call.media", c.media.clone());
    }
    if let Some(u) = &c.genesys_uuid {
        e.set("call.genesys_calluuid", u.as_str());
    }
    e.set("call.messages", c.messages);
    let caller = c.caller.0.as_deref().unwrap_or("?");
    let callee = c.callee.0.as_deref().unwrap_or("?");
    e.set("message", format!("call {caller} -> {callee} {}", c.state));
    e
}

/// One document per (method, user agent) of REGISTER and OPTIONS requests on a flow, when the
/// flow ends: how many were sent, answered, with which codes, and how fast.
pub(crate) fn summary_document(ctx: &Ctx<'_>, method: &str, ua: &str, s: &Summary) -> Event {
    let first = s.first.to_be_bytes();
    let ids: [&[u8]; 4] = [ctx.meta.community_id.as_bytes(), method.as_bytes(), ua.as_bytes(), &first];
    let mut e = Event::new("sip_summary", "metric", s.last, &ids);
    crate::records::set_endpoints(&mut e, ctx.meta, Dir::Orig);
    e.set("event.category", vec!["network"]);
    e.set("event.type", vec!["info"]);
    e.set("event.start", format_rfc3339_micros(s.first));
    e.set("event.end", format_rfc3339_micros(s.last));
    e.set("network.protocol", "sip");
    e.set("sip.method", method);
    if !ua.is_empty() {
        e.set("sip.user_agent.original", ua);
    }
    e.set("sip.summary.requests", s.requests);
    e.set("sip.summary.answered", s.answered);
    e.set("sip.summary.unanswered", s.requests.saturating_sub(s.answered));
    let codes: Map<String, Value> = s.codes.iter().map(|(c, n)| (c.to_string(), Value::from(*n))).collect();
    e.set("sip.summary.codes", Value::Object(codes));
    if s.answered > 0 {
        e.set("sip.summary.mean_response_time", s.response_time_total / s.answered as i64);
    }
    let ok = s.codes.range(200..300).map(|(_, n)| n).sum::<u64>();
    e.set(
        "message",
        format!("SIP {method} from {}: {} sent, {ok} answered 2xx", if ua.is_empty() { "?" } else { ua }, s.requests),
    );
    e
}
