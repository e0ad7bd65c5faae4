//! T-Library documents (field list: docs/events.md, "genesys").

use super::kvlist::{KvList, KvValue};
use super::state::Counts;
use super::tables::{enum_name, AttributeId, MessageType};
use super::tlib::{TlibMessage, Value};
use crate::Ctx;
use iotw_event::field::role;
use iotw_event::json::hex;
use iotw_event::{Event, Key, Wire};
use iotw_flow::Dir;

/// The request an event answers, and how long the answer took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    pub request: MessageType,
    pub duration: i64,
}

/// Attributes that are never written: credentials.
pub fn secret(a: AttributeId) -> bool {
    matches!(a, AttributeId::APPLICATION_PASSWORD | AttributeId::PASSWORD)
}

/// Attributes with a field of their own (`genesys.<field>`), and its name; every other
/// attribute is under `genesys.attributes.<AttributeName>`.
pub fn field(a: AttributeId) -> Option<&'static str> {
    Some(match a {
        AttributeId::REFERENCE_ID => "reference_id",
        AttributeId::CONN_ID => "conn_id",
        AttributeId::PREVIOUS_CONN_ID => "previous_conn_id",
        AttributeId::CALL_UUID => "call_uuid",
        AttributeId::THIS_DN => "this_dn",
        AttributeId::OTHER_DN => "other_dn",
        AttributeId::THIRD_PARTY_DN => "third_party_dn",
        AttributeId::ANI => "ani",
        AttributeId::DNIS => "dnis",
        AttributeId::AGENT_ID => "agent_id",
        AttributeId::THIS_QUEUE => "this_queue",
        AttributeId::OTHER_QUEUE => "other_queue",
        AttributeId::CALL_TYPE => "call_type",
        AttributeId::CALL_STATE => "call_state",
        AttributeId::THIS_DN_ROLE => "this_dn_role",
        AttributeId::OTHER_DN_ROLE => "other_dn_role",
        AttributeId::EVENT_SEQUENCE_NUMBER => "event_sequence_number",
        AttributeId::USER_DATA => "user_data",
        AttributeId::EXTENSIONS => "extensions",
        AttributeId::REASON => "reasons",
        AttributeId::ERROR_CODE => "error_code",
        AttributeId::ERROR_MESSAGE => "error_message",
        AttributeId::APPLICATION_NAME => "application_name",
        AttributeId::SERVER_VERSION => "server_version",
        AttributeId::SERVER_ROLE => "server_role",
        AttributeId::CALL_ID => "call_id",
        _ => return None,
    })
}

/// The role an attribute's value is tagged with (see [`iotw_event::Tag`]).
fn role_of(a: AttributeId) -> Option<&'static str> {
    Some(match a {
        AttributeId::ANI => role::CALLER,
        AttributeId::DNIS => role::CALLEE,
        AttributeId::OTHER_DN => role::OTHER,
        AttributeId::THIS_DN => role::THIS,
        AttributeId::USER_DATA => role::USER_DATA,
        _ => return None,
    })
}

/// Writes a value under `key` in the open object.
fn write_value(e: &mut Event, key: impl Key, a: AttributeId, v: &Value) {
    match v {
        Value::Int(i) | Value::Long(i) if a == AttributeId::EVENT_SEQUENCE_NUMBER => {
            e.str(key, &format!("{:016x}", *i as u64))
        }
        Value::Int(i) | Value::Long(i) => match enum_name(a, *i) {
            Some(n) => e.str(key, n),
            None => e.i64(key, *i),
        },
        Value::ConnId(c) => e.str(key, &hex(c)),
        Value::Str(s) => e.str(key, s),
        Value::KvList(l) => {
            e.obj(key);
            write_kvlist(e, l);
            e.end()
        }
        Value::Mask(b) | Value::Binary(b) => e.str(key, &hex(b)),
    };
}

/// A KV list as an object; a key that repeats becomes an array of its values.
fn write_kvlist(e: &mut Event, l: &KvList) {
    for (i, (k, v)) in l.iter().enumerate() {
        if l[..i].iter().any(|(o, _)| o == k) {
            continue;
        }
        let same: Vec<&KvValue> = l[i..].iter().filter(|(o, _)| o == k).map(|(_, v)| v).collect();
        if same.len() > 1 {
            e.arr(Wire(k));
            for v in same {
                match v {
                    KvValue::Str(s) => e.item_str(s),
                    KvValue::Int(n) => e.item_str(&n.to_string()),
                    KvValue::Binary(b) | KvValue::Unicode(b) => e.item_str(&hex(b)),
                    KvValue::List(inner) => {
                        e.item_obj();
                        write_kvlist(e, inner);
                        e.end()
                    }
                };
            }
            e.end();
            continue;
        }
        match v {
            KvValue::Str(s) => e.str(Wire(k), s),
            KvValue::Int(n) => e.i64(Wire(k), *n),
            KvValue::Binary(b) | KvValue::Unicode(b) => e.str(Wire(k), &hex(b)),
            KvValue::List(inner) => {
                e.obj(Wire(k));
                write_kvlist(e, inner);
                e.end()
            }
        };
    }
}

/// The OCS desktop protocol (Outbound Contact Reference, "Communication Protocols";
/// genesys_wire.md §9): GSW_* keys in the UserData of RequestDistributeUserEvent and
/// EventUserEvent (and attached to telephony events), as `genesys.outbound.*`.
fn write_outbound(e: &mut Event, ud: &KvList) {
    let get = |k: &str| ud.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let text = |k: &str| match get(k) {
        Some(KvValue::Str(s)) => Some(s.clone()),
        Some(KvValue::Int(i)) => Some(i.to_string()),
        _ => None,
    };
    let number = |k: &str| match get(k) {
        Some(KvValue::Int(i)) => Some(*i),
        Some(KvValue::Str(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if !ud.iter().any(|(k, _)| k.starts_with("GSW_")) {
        return;
    }
    e.obj("outbound");
    for (key, field) in [
        ("GSW_AGENT_REQ_TYPE", "request_type"),
        ("GSW_USER_EVENT", "user_event"),
        ("GSW_APPLICATION_ID", "application_id"),
        ("GSW_CAMPAIGN_NAME", "campaign"),
        ("GSW_CALLING_LIST", "calling_list"),
        ("GSW_PHONE", "phone"),
        ("GSW_CAMPAIGN_MODE", "campaign_mode"),
    ] {
        if let Some(v) = text(key) {
            match field {
                "phone" => e.tagged_str(field, role::OUTBOUND, &v),
                _ => e.str(field, &v),
            };
        }
    }
    for (key, field) in [
        ("GSW_RECORD_HANDLE", "record_handle"),
        ("GSW_CHAIN_ID", "chain_id"),
        ("GSW_ATTEMPTS", "attempts"),
        ("GSW_REFERENCE_ID", "reference_id"),
    ] {
        if let Some(v) = number(key) {
            e.i64(field, v);
        }
    }
    // Call results are TCallState values (OCS's range 32-53 included, gcti.h).
    if let Some(r) = number("GSW_CALL_RESULT") {
        match enum_name(AttributeId::CALL_STATE, r) {
            Some(n) => e.str("call_result", n),
            None => e.i64("call_result", r),
        };
    }
    e.end();
}

/// One document per T-Library message.
pub(crate) fn message_document(ctx: &mut Ctx<'_>, m: &TlibMessage, n: u64, answer: Option<Answer>) -> Event {
    let start = ctx.meta.start.to_be_bytes();
    let nb = n.to_be_bytes();
    let mut e = ctx.event_for("genesys", "tlib", "event", &[ctx.meta.community_id.as_bytes(), &start, &nb]);
    // The parties' numbers and the attached data are tagged (see `role_of`, `write_outbound`).
    e.tags_complete();
    let name = m.mtype.to_string();
    let request = m.mtype.is_request();
    e.obj("event").consts("category", &["network"]);
    e.strs(
        "type",
        [
            "protocol",
            if request {
                "start"
            } else if answer.is_some() {
                "end"
            } else {
                "info"
            },
        ],
    );
    e.str("action", &name);
    if let Some(a) = answer {
        e.i64("duration", a.duration);
    }
    e.end();
    e.obj("genesys").str("protocol", "tlib");
    e.obj("message").str("name", &name).u64("id", m.mtype.0.into()).end();
    e.str("direction", if request { "request" } else { "event" });
    if let Some(a) = answer {
        e.obj("request").str("name", &a.request.to_string()).end();
    }
    let (mut secs, mut usecs) = (None, None);
    let mut written: Vec<AttributeId> = Vec::new();
    for (a, v) in &m.attrs {
        match (*a, v) {
            (AttributeId::TIMEIN_SECS, Value::Int(s)) => secs = Some(*s),
            (AttributeId::TIMEINU_SECS, Value::Int(u)) => usecs = Some(*u),
            _ => {}
        }
        // An attribute given twice: the first one is reported.
        if let Some(f) = field(*a).filter(|_| !written.contains(a)) {
            written.push(*a);
            let from = e.written_len();
            write_value(&mut e, f, *a, v);
            if let Some(r) = role_of(*a) {
                e.tag_member_since(r, from);
            }
        }
    }
    if let Some(s) = secs {
        let t = s.saturating_mul(1_000_000_000).saturating_add(usecs.unwrap_or(0).clamp(0, 999_999) * 1000);
        e.time("server_time", t);
    }
    if let Some(Value::KvList(ud)) = m.get(AttributeId::USER_DATA) {
        write_outbound(&mut e, ud);
    }
    // Every other attribute by its name; unknown ids as `unknown_<id>`.
    let others: Vec<&(AttributeId, Value)> =
        m.attrs.iter().filter(|(a, _)| field(*a).is_none() && !secret(*a)).collect();
    if !others.is_empty() {
        e.obj("attributes");
        let mut seen: Vec<AttributeId> = Vec::new();
        for (a, v) in others {
            if seen.contains(a) {
                continue;
            }
            seen.push(*a);
            let key = match a.name() {
                Some(n) => n.to_string(),
                None => format!("unknown_{}", a.0),
            };
            write_value(&mut e, Wire(&key), *a, v);
        }
        e.end();
    }
    e.end();
    let mut msg = format!("T-Lib {name}");
    for (label, a) in [("dn", AttributeId::THIS_DN), ("conn", AttributeId::CONN_ID)] {
        match m.get(a) {
            Some(Value::Str(s)) => msg.push_str(&format!(" {label}={s}")),
            Some(Value::ConnId(c)) => msg.push_str(&format!(" {label}={}", hex(c))),
            _ => {}
        }
    }
    e.str("message", &msg);
    e
}

/// One document per T-Library flow when it ends: what it carried.
pub(crate) fn summary_document(ctx: &mut Ctx<'_>, c: &Counts, profile: &str) -> Event {
    let start = ctx.meta.start.to_be_bytes();
    let mut e = Event::new("genesys_summary", "metric", c.last, &[ctx.meta.community_id.as_bytes(), &start]);
    ctx.endpoints.write(&mut e, ctx.meta, Dir::Orig, "tlib");
    e.obj("event").consts("category", &["network"]).consts("type", &["info"]);
    if let Some(f) = c.first {
        e.time("start", f);
    }
    e.time("end", c.last).end();
    e.obj("genesys").str("protocol", "tlib").str("profile", profile);
    e.obj("summary").u64("messages", c.messages).u64("keepalives", c.keepalives);
    e.u64("unknown_messages", c.unknown_messages).u64("unknown_attributes", c.unknown_attributes);
    e.u64("answered", c.answered).u64("unanswered", c.unanswered).end();
    if let Some(n) = &c.client {
        e.obj("client").str("application_name", n).end();
    }
    if c.server_version.is_some() || c.server_role.is_some() {
        e.obj("server").opt_str("version", c.server_version.as_deref());
        if let Some(r) = c.server_role {
            match enum_name(AttributeId::SERVER_ROLE, r) {
                Some(n) => e.str("role", n),
                None => e.i64("role", r),
            };
        }
        e.end();
    }
    e.end();
    e.str(
        "message",
        &format!(
            "T-Lib {} messages, {} keep-alives, {} of {} requests answered",
            c.messages,
            c.keepalives,
            c.answered,
            c.answered + c.unanswered
        ),
    );
    e
}
