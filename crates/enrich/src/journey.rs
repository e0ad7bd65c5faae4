//! Call journeys: every document about one call, across flows and protocols, joined by the
//! Genesys CallUUID (T-Library `AttributeCallUUID` = SIP `X-Genesys-CallUUID`, genesys_wire.md
//! §11.5). T-Library messages give the routing and the parties (queued, routed, ringing,
//! answered, abandoned, transferred, conferenced, released, every ConnID); SIP call documents
//! give the legs. One `journey` document per CallUUID, when the call has been over for a while
//! (or has been silent for hours), or when the run ends.
//!
//! Runs on the shipper's thread, in document order, after rendering.

use iotw_event::field::role;
use iotw_event::json::{object_content, str_value, Members};
use iotw_event::{Event, Nanos};
use std::collections::HashMap;

/// After a call's last release (or abandon), wait this long for stragglers (the SIP legs'
/// documents come when their dialogs end).
const AFTER_END: Nanos = 30_000_000_000;
/// A call with no news for this long is written as it is.
const SILENT: Nanos = 4 * 3600 * 1_000_000_000;
/// Calls followed at once; past this the oldest is written early.
const MAX_OPEN: usize = 200_000;
/// ConnIDs, parties and SIP legs kept per call.
const MAX_LIST: usize = 32;

#[derive(Debug, Clone)]
struct Leg {
    call_id: String,
    caller: Option<String>,
    callee: Option<String>,
    state: Option<String>,
    answer_delay: Option<i64>,
    talk: Option<i64>,
}

#[derive(Debug, Clone, Default)]
struct Journey {
    uuid: String,
    first: Nanos,
    last: Nanos,
    conn_ids: Vec<String>,
    parties: Vec<String>,
    ani: Option<String>,
    dnis: Option<String>,
    route_point: Option<String>,
    route_target: Option<String>,
    agent_dn: Option<String>,
    agent_id: Option<String>,
    queued: Option<Nanos>,
    routed: Option<Nanos>,
    ringing: Option<Nanos>,
    answered: Option<Nanos>,
    abandoned: Option<Nanos>,
    released: Option<Nanos>,
    transferred: bool,
    conferenced: bool,
    user_data: Option<Vec<u8>>,
    tlib_messages: u32,
    legs: Vec<Leg>,
    /// DNs ringing or talking now: the call is over when none is left.
    active: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if v.len() < MAX_LIST && !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

/// The members of one object of a document, by key, as text or raw JSON.
struct Fields<'a>(Vec<(&'a [u8], &'a [u8])>);

impl<'a> Fields<'a> {
    fn of(content: &'a [u8]) -> Self {
        Fields(Members::new(content).map(|m| (m.key, m.value)).collect())
    }
    fn raw(&self, key: &str) -> Option<&'a [u8]> {
        self.0.iter().find(|(k, _)| *k == key.as_bytes()).map(|(_, v)| *v)
    }
    fn str(&self, key: &str) -> Option<String> {
        str_value(self.raw(key)?).map(|s| s.into_owned())
    }
    fn int(&self, key: &str) -> Option<i64> {
        std::str::from_utf8(self.raw(key)?).ok()?.parse().ok()
    }
    fn obj(&self, key: &str) -> Option<Fields<'a>> {
        Some(Fields::of(object_content(self.raw(key)?)?))
    }
}

/// The journey stage.
#[derive(Debug, Default)]
pub struct Journeys {
    open: HashMap<String, Journey>,
    now: Nanos,
    written: u64,
}

impl Journeys {
    /// Journey documents written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Looks at a batch of documents (rendered) and appends the journeys that are complete.
    pub fn observe(&mut self, batch: &mut Vec<Event>) {
        for e in batch.iter() {
            self.now = self.now.max(e.ts);
            match e.dataset {
                "genesys" => self.tlib(e),
                "call" => self.sip_call(e),
                _ => {}
            }
        }
        self.close(batch, false);
    }

    /// Writes every journey still open (end of the run).
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        self.close(out, true);
    }

    fn journey(&mut self, uuid: &str, ts: Nanos) -> &mut Journey {
        if !self.open.contains_key(uuid) && self.open.len() >= MAX_OPEN {
            // Full: the call heard from least recently goes first (rare; costs a scan).
            if let Some(k) = self.open.iter().min_by_key(|(_, j)| j.last).map(|(k, _)| k.clone()) {
                self.open.remove(&k);
            }
        }
        self.open.entry(uuid.to_owned()).or_insert_with(|| Journey {
            uuid: uuid.to_owned(),
            first: ts,
            last: ts,
            ..Journey::default()
        })
    }

    fn tlib(&mut self, e: &Event) {
        let Some(raw) = e.get_raw("genesys") else { return };
        let Some(content) = object_content(&raw) else { return };
        let g = Fields::of(content);
        let Some(uuid) = g.str("call_uuid") else { return };
        let name = g.obj("message").and_then(|m| m.str("name")).unwrap_or_default();
        let ts = e.ts;
        let j = self.journey(&uuid, ts);
        j.first = j.first.min(ts);
        j.last = j.last.max(ts);
        j.tlib_messages += 1;
        if let Some(c) = g.str("conn_id") {
            push_unique(&mut j.conn_ids, &c);
        }
        for k in ["this_dn", "other_dn", "third_party_dn"] {
            if let Some(dn) = g.str(k) {
                push_unique(&mut j.parties, &dn);
            }
        }
        j.ani = j.ani.take().or_else(|| g.str("ani"));
        j.dnis = j.dnis.take().or_else(|| g.str("dnis"));
        j.agent_id = g.str("agent_id").or(j.agent_id.take());
        if let Some(u) = g.raw("user_data") {
            j.user_data = Some(u.to_vec());
        }
        let this_dn = g.str("this_dn");
        match name.as_str() {
            "EventRouteRequest" | "EventQueued" => {
                j.queued.get_or_insert(ts);
                j.route_point = j.route_point.take().or(this_dn);
            }
            "RequestRouteCall" | "EventRouteUsed" | "EventDiverted" => {
                if name != "RequestRouteCall" {
                    j.routed.get_or_insert(ts);
                }
                j.route_target = j.route_target.take().or_else(|| g.str("other_dn"));
            }
            "EventRinging" => {
                j.ringing.get_or_insert(ts);
                if let Some(dn) = &this_dn {
                    push_unique(&mut j.active, dn);
                }
                j.agent_dn = j.agent_dn.take().or(this_dn);
            }
            "EventEstablished" => {
                j.answered.get_or_insert(ts);
                if let Some(dn) = &this_dn {
                    push_unique(&mut j.active, dn);
                }
            }
            "EventAbandoned" => {
                j.abandoned.get_or_insert(ts);
            }
            "EventReleased" => {
                j.released = Some(j.released.map_or(ts, |r| r.max(ts)));
                j.active.retain(|dn| Some(dn) != this_dn.as_ref());
                if g.str("call_state").as_deref() == Some("Transferred") {
                    j.transferred = true;
                }
            }
            "EventPartyChanged"
            | "RequestInitiateTransfer"
            | "RequestCompleteTransfer"
            | "RequestMuteTransfer"
            | "RequestSingleStepTransfer" => j.transferred = true,
            "EventPartyAdded"
            | "RequestInitiateConference"
            | "RequestCompleteConference"
            | "RequestSingleStepConference" => j.conferenced = true,
            _ => {}
        }
    }

    fn sip_call(&mut self, e: &Event) {
        // Most SIP calls carry no Genesys UUID: skip the lookup then.
        if !e.may_have_member("genesys_calluuid") {
            return;
        }
        let Some(raw) = e.get_raw("call") else { return };
        let Some(content) = object_content(&raw) else { return };
        let c = Fields::of(content);
        let Some(uuid) = c.str("genesys_calluuid") else { return };
        let start = e.get_raw("event").and_then(|r| {
            let f = Fields::of(object_content(&r)?);
            f.int("duration").map(|d| e.ts - d)
        });
        let leg = Leg {
            call_id: c.str("id").unwrap_or_default(),
            caller: c.obj("caller").and_then(|x| x.str("user")),
            callee: c.obj("callee").and_then(|x| x.str("user")),
            state: c.str("state"),
            answer_delay: c.int("answer_delay"),
            talk: c.int("talk_duration"),
        };
        let ts = e.ts;
        let j = self.journey(&uuid, start.unwrap_or(ts));
        j.first = j.first.min(start.unwrap_or(ts));
        j.last = j.last.max(ts);
        if j.legs.len() < MAX_LIST {
            j.legs.push(leg);
        }
    }

    fn close(&mut self, out: &mut Vec<Event>, all: bool) {
        let now = self.now;
        let done: Vec<String> = self
            .open
            .iter()
            .filter(|(_, j)| {
                all || match j.released.or(j.abandoned) {
                    Some(end) if j.active.is_empty() => now - end.max(j.last) > AFTER_END,
                    _ => now - j.last > SILENT,
                }
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut ready: Vec<Journey> = done.iter().filter_map(|k| self.open.remove(k)).collect();
        ready.sort_by_key(|j| j.first);
        for j in ready {
            out.push(document(&j));
            self.written += 1;
        }
    }
}

fn document(j: &Journey) -> Event {
    let end = j.last;
    let mut e = Event::new("journey", "event", end, &[j.uuid.as_bytes(), &j.first.to_be_bytes()]);
    e.obj("event").consts("category", &["network"]).consts("type", &["connection", "end"]);
    e.time("start", j.first).time("end", end).i64("duration", end - j.first).end();
    // The caller's and callee's numbers and the attached data are tagged for the geotagger.
    e.tags_complete().obj("journey").str("call_uuid", &j.uuid);
    let outcome = if j.answered.is_some() {
        "answered"
    } else if j.abandoned.is_some() {
        "abandoned"
    } else {
        "unanswered"
    };
    e.str("outcome", outcome);
    for (key, r, v) in [("ani", role::CALLER, &j.ani), ("dnis", role::CALLEE, &j.dnis)] {
        if let Some(v) = v {
            e.tagged_str(key, r, v);
        }
    }
    e.opt_str("route_point", j.route_point.as_deref()).opt_str("route_target", j.route_target.as_deref());
    e.opt_str("agent_dn", j.agent_dn.as_deref()).opt_str("agent_id", j.agent_id.as_deref());
    for (k, t) in [
        ("queued", j.queued),
        ("routed", j.routed),
        ("ringing", j.ringing),
        ("answered", j.answered),
        ("abandoned", j.abandoned),
        ("released", j.released),
    ] {
        if let Some(t) = t {
            e.time(k, t);
        }
    }
    if let Some(q) = j.queued {
        if let Some(out) = j.ringing.or(j.answered).or(j.abandoned) {
            e.i64("queue_time", out - q);
        }
    }
    if let (Some(a), Some(r)) = (j.answered, j.released) {
        e.i64("talk_time", r - a);
    }
    e.bool("transferred", j.transferred).bool("conferenced", j.conferenced);
    e.strs("conn_ids", j.conn_ids.iter().map(String::as_str));
    e.strs("parties", j.parties.iter().map(String::as_str));
    if let Some(u) = &j.user_data {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(u) {
            let from = e.written_len();
            e.value("user_data", &v);
            e.tag_member_since(role::USER_DATA, from);
        }
    }
    e.u64("tlib_messages", j.tlib_messages.into());
    e.obj("sip").u64("legs", j.legs.len() as u64);
    if !j.legs.is_empty() {
        e.arr("calls");
        for l in &j.legs {
            e.item_obj()
                .str("id", &l.call_id)
                .opt_str("caller", l.caller.as_deref())
                .opt_str("callee", l.callee.as_deref());
            e.opt_str("state", l.state.as_deref());
            if let Some(d) = l.answer_delay {
                e.i64("answer_delay", d);
            }
            if let Some(t) = l.talk {
                e.i64("talk_duration", t);
            }
            e.end();
        }
        e.end();
    }
    e.end().end();
    e.str(
        "message",
        &format!(
            "call {} {} via {} -> {}",
            j.uuid,
            outcome,
            j.route_point.as_deref().unwrap_or("?"),
            j.agent_dn.as_deref().unwrap_or("?")
        ),
    );
    e
}
