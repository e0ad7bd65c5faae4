//! SIP message and call documents (field list: docs/events.md, "sip" and "call").

use super::parser::{parse_name_addr, parse_uri, Known, Message, NameAddr, OwnedMessage, StartLine, Text, Uri};
use super::sdp;
use super::state::{Call, Summary};
use crate::Ctx;
use iotw_event::field::role;
use iotw_event::{Event, Lead, Render, Wire};
use iotw_flow::Dir;
use std::sync::Arc;

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

/// What a message's transaction is known by: Call-ID, CSeq and the top Via branch, read once
/// for the transaction layer and the document.
#[derive(Debug, Default, Clone, Copy)]
pub struct Keys<'a> {
    pub call_id: Option<&'a str>,
    pub cseq: Option<(u32, &'a str)>,
    pub branch: Option<&'a str>,
}

impl<'a> Keys<'a> {
    pub fn of(m: &'a Message<'_>) -> Self {
        Keys {
            call_id: m.known(Known::CALL_ID),
            cseq: m.known(Known::CSEQ).and_then(super::parser::parse_cseq),
            branch: m.known_values(Known::VIA).next().and_then(super::parser::via_branch),
        }
    }
}

/// [`Keys`] kept beside an [`OwnedMessage`], so that rendering later does not read them again.
#[derive(Debug, Default)]
struct OwnedKeys {
    call_id: Option<Text>,
    cseq: Option<(u32, Text)>,
    branch: Option<Text>,
}

impl OwnedKeys {
    /// Keeps `k`, read from `m`, in place of what this holds, as texts of `copy` (which
    /// was just made to keep `m`).
    fn keep(&mut self, copy: &mut OwnedMessage, m: &Message<'_>, k: &Keys<'_>) {
        self.call_id = k.call_id.map(|s| copy.text_of(m, s));
        self.cseq = k.cseq.map(|(n, s)| (n, copy.text_of(m, s)));
        self.branch = k.branch.map(|s| copy.text_of(m, s));
    }

    /// The keys again, in the copy of the message.
    fn view<'a>(&self, copy: &'a OwnedMessage) -> Keys<'a> {
        Keys {
            call_id: self.call_id.as_ref().map(|t| copy.text(t)),
            cseq: self.cseq.as_ref().map(|(n, t)| (*n, copy.text(t))),
            branch: self.branch.as_ref().map(|t| copy.text(t)),
        }
    }
}

/// Headers that have their own fields; every other header goes to `sip.headers.<name>`.
fn is_mapped(name: &str) -> bool {
    matches!(
        name,
        "via"
            | "from"
            | "to"
            | "contact"
            | "call-id"
            | "cseq"
            | "max-forwards"
            | "user-agent"
            | "server"
            | "content-type"
            | "content-length"
            | "authorization"
            | "proxy-authorization"
            | "www-authenticate"
    )
}

/// Writes a URI's fields under `key`, tagging its user part with `role` when given (see
/// [`iotw_event::Tag`]).
fn write_uri(e: &mut Event, key: &'static str, u: &Uri<'_>, role: Option<&'static str>) {
    e.obj(key).str("original", u.original);
    if !u.scheme.is_empty() {
        e.str("scheme", u.scheme);
    }
    match (u.user, role) {
        (Some(user), Some(r)) => e.tagged_str("username", r, user),
        (user, _) => e.opt_str("username", user),
    };
    e.opt_str("host", u.host);
    if let Some(x) = u.port {
        e.u64("port", x.into());
    }
    e.end();
}

/// Writes the name-addr fields into the open object.
fn write_name_addr(e: &mut Event, n: &NameAddr<'_>, role: Option<&'static str>) {
    e.opt_str("display_info", n.display);
    write_uri(e, "uri", &n.uri, role);
    e.opt_str("tag", n.param("tag"));
}

/// Writes the fields of a From, To (or, `contact`, Contact) value into the open object, its
/// user part tagged with `role`: copied from the [`NameAddrCache`] when the same text was
/// written lately.
fn cached_name_addr(e: &mut Event, v: &str, contact: bool, role: Option<&'static str>) {
    let write = |e: &mut Event| {
        let n = parse_name_addr(v);
        write_name_addr(e, &n, role);
        if contact {
            if let Some(x) = n.param("expires").and_then(|x| x.parse::<u64>().ok()) {
                e.u64("expires", x);
            }
        }
    };
    if v.len() > NameAddrCache::MAX_TEXT {
        return write(e);
    }
    NAME_ADDRS.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else { return write(e) };
        let slot = cache.slot(v, contact);
        if slot.contact == contact && slot.text == v.as_bytes() {
            e.replay_with(&slot.json, &slot.extents);
            if let (Some(user), Some(r)) = (&slot.user, role) {
                let at = e.written_len() - slot.json.len();
                e.tag(r, at + user.start..at + user.end);
            }
            return;
        }
        let from = e.here();
        let from_len = e.written_len();
        write(e);
        let json = e.written_since(from);
        let at = e.written_len() - json.len();
        slot.user = e.tags_since(from_len).next().map(|t| t.range.start - at..t.range.end - at);
        slot.text.clear();
        slot.json.clear();
        slot.extents.clear();
        if json.len() <= NameAddrCache::MAX_JSON {
            slot.text.extend_from_slice(v.as_bytes());
            slot.json.extend_from_slice(json);
            slot.extents.extend(e.extents_since(at));
            slot.contact = contact;
        }
    });
}

/// From, To and Contact values written lately, by their text, with the members written for
/// them. The messages of a dialog repeat these values; copying what was written costs about
/// a twentieth of parsing and writing the value again. One per thread (documents are
/// written on the decoding thread or the rendering thread); a fixed number of slots, each
/// holding one value (the newest of those that map to it), texts and renderings capped.
struct NameAddrCache {
    hash: foldhash::fast::FixedState,
    slots: Vec<CachedNameAddr>,
}

#[derive(Default)]
struct CachedNameAddr {
    text: Vec<u8>,
    contact: bool,
    json: Vec<u8>,
    /// Where the user part's value lies in `json`, to tag it again.
    user: Option<std::ops::Range<usize>>,
    /// The containers in `json` (see [`Event::extents`]).
    extents: Vec<iotw_event::Extent>,
}

impl NameAddrCache {
    const SLOTS: usize = 256;
    const MAX_TEXT: usize = 256;
    const MAX_JSON: usize = 1024;

    fn slot(&mut self, v: &str, contact: bool) -> &mut CachedNameAddr {
        use std::hash::BuildHasher;
        let h = self.hash.hash_one((v, contact)) as usize;
        if self.slots.is_empty() {
            self.slots.resize_with(Self::SLOTS, CachedNameAddr::default);
        }
        &mut self.slots[h % Self::SLOTS]
    }
}

thread_local! {
    static NAME_ADDRS: std::cell::RefCell<NameAddrCache> = std::cell::RefCell::new(NameAddrCache {
        hash: foldhash::fast::FixedState::default(),
        slots: Vec::new(),
    });
}

/// One document per SIP message: written now, or, when the rendering thread keeps up
/// (`ctx.defer`), all of it later from a copy of the message and the flow's endpoint members
/// (see [`Event::deferred`]), off the decoding thread.
pub fn message_document(
    ctx: &mut Ctx<'_>,
    m: &Message<'_>,
    n: u64,
    tx: &TxInfo,
    keys: &Keys<'_>,
    body_sdp: Option<&sdp::Sdp<'_>>,
) -> Event {
    let start = ctx.meta.start.to_be_bytes();
    let nb = n.to_be_bytes();
    let identity: [&[u8]; 3] = [ctx.meta.community_id.as_bytes(), &start, &nb];
    if !ctx.defer {
        // The rendering thread is busy: write it here, without copying the message.
        let mut e = ctx.event("sip", "event", &identity);
        write_message(&mut e, m, m.len, tx, keys, body_sdp);
        return e;
    }
    let lead = ctx.lead("sip");
    let max_media = ctx.limits.max_headers.min(64);
    // A copy a shipped document was rendered from, refilled where it lies (see
    // [`OwnedMessage::keep`]); else a new one.
    let mut d = SPENT
        .with(|s| {
            let mut s = s.borrow_mut();
            let d = s.pop();
            // The next copies' memory was last written on the rendering thread: ask for
            // it now, to be written when they are refilled.
            if let Some(later) = s.len().checked_sub(2).and_then(|i| s.get(i)) {
                iotw_event::prefetch_write(Arc::as_ptr(later));
            }
            for at in s.last().map(|next| next.msg.buffers()).unwrap_or_default() {
                iotw_event::prefetch_write(at);
            }
            d
        })
        .unwrap_or_default();
    // One look at whether it is unique (an atomic operation on memory the other thread
    // touched last); a new copy is, so the second round always fills it.
    loop {
        if let Some(x) = Arc::get_mut(&mut d) {
            x.msg.keep(m);
            x.keys.keep(&mut x.msg, m, keys);
            (x.tx, x.max_media, x.lead) = (*tx, max_media, Some(lead));
            break;
        }
        // Still shared with a copy of its document.
        d = Arc::default();
    }
    Event::deferred(("sip", "event"), ctx.ts, &identity, d)
}

/// What a SIP message document is rendered from.
#[derive(Debug, Default)]
struct Deferred {
    /// The endpoint members, shared by the flow's documents in this direction.
    lead: Option<Arc<Lead>>,
    msg: OwnedMessage,
    keys: OwnedKeys,
    tx: TxInfo,
    max_media: usize,
}

impl Render for Deferred {
    fn render(&self, e: &mut Event) {
        if let Some(lead) = &self.lead {
            e.append_lead(lead);
        }
        let m = self.msg.view_with(super::parser::reuse(super::state::HEADERS.take()));
        let body_sdp = sdp::parse(m.body, self.max_media);
        let keys = self.keys.view(&self.msg);
        write_message(e, &m, m.len, &self.tx, &keys, body_sdp.as_ref());
        super::state::HEADERS.set(super::parser::reuse(m.headers));
    }

    /// A copy that holds no more than `MAX_SPENT_BYTES` goes back to the decoding thread.
    fn reusable(&self) -> bool {
        self.msg.capacity() <= MAX_SPENT_BYTES
    }

    fn prefetch(&self) {
        for at in self.msg.buffers() {
            iotw_event::prefetch(at);
        }
    }

    /// Kept for the decoder's next message: its buffers then cost no allocation on the
    /// decoding thread and no free on the rendering thread.
    fn recycle(self: Arc<Self>) {
        SPENT.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < MAX_SPENT {
                s.push(self);
            }
        });
    }
}

/// Message copies kept per thread for reuse ([`Render::recycle`]), at most: as many as the
/// documents in flight between the decoding and the rendering thread.
const MAX_SPENT: usize = 4096;

/// A copy that holds more than this (a large message) is freed rather than kept, so that what
/// is kept stays within `MAX_SPENT` typical messages.
const MAX_SPENT_BYTES: usize = 4096;

thread_local! {
    static SPENT: std::cell::RefCell<Vec<Arc<Deferred>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The `event`, `sip` and `message` members of a SIP message document.
fn write_message(
    e: &mut Event,
    m: &Message<'_>,
    len: usize,
    tx: &TxInfo,
    keys: &Keys<'_>,
    body_sdp: Option<&sdp::Sdp<'_>>,
) {
    // Every party's number is tagged: From, To, Request-URI, P-Asserted-Identity, Diversion.
    e.tags_complete();
    e.obj("event").consts("category", &["network"]);
    match m.start {
        StartLine::Request { .. } => e.consts("type", &["protocol", "start"]),
        StartLine::Response { code, .. } => e.consts("type", &["protocol", if code >= 200 { "end" } else { "info" }]),
    };
    if let Some(d) = tx.response_time {
        e.i64("duration", d);
    }
    e.end();
    e.obj("sip").str("version", m.version).u64("length", len as u64);
    match m.start {
        StartLine::Request { method, uri } => {
            e.str("type", "request").str("method", method);
            write_uri(e, "uri", &parse_uri(uri), Some(role::TARGET));
        }
        StartLine::Response { code, phrase } => {
            e.str("type", "response").u64("code", code.into()).str("status", phrase);
        }
    }
    if tx.retransmission {
        e.bool("retransmission", true);
    }
    if tx.orphan {
        e.obj("transaction").bool("orphan", true).end();
    }
    for (key, h, role) in [("from", Known::FROM, role::CALLER), ("to", Known::TO, role::CALLEE)] {
        if let Some(v) = m.known(h) {
            e.obj(key);
            cached_name_addr(e, v, false, Some(role));
            e.end();
        }
    }
    if let Some(v) = m.known_values(Known::CONTACT).next() {
        e.obj("contact");
        cached_name_addr(e, v, true, None);
        e.end();
    }
    e.opt_str("call_id", keys.call_id);
    if let Some((num, method)) = keys.cseq {
        e.obj("cseq").u64("code", num.into()).str("method", method).end();
    }
    let mut vias = m.known_values(Known::VIA).peekable();
    if vias.peek().is_some() {
        e.obj("via").opt_str("branch", keys.branch).strs("original", vias).end();
    }
    if let Some(v) = m.known(Known::MAX_FORWARDS).and_then(|v| v.trim().parse::<u64>().ok()) {
        e.u64("max_forwards", v);
    }
    if let Some(v) = m.known(Known::USER_AGENT).or_else(|| m.known(Known::SERVER)) {
        e.obj("user_agent").str("original", v).end();
    }
    e.opt_str("content_type", m.known(Known::CONTENT_TYPE));
    if let Some(n) = m.known(Known::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok()) {
        e.u64("content_length", n);
    }
    if let Some(v) =
        [Known::AUTHORIZATION, Known::PROXY_AUTHORIZATION, Known::WWW_AUTHENTICATE, Known::PROXY_AUTHENTICATE]
            .into_iter()
            .find_map(|h| m.known(h))
    {
        let (scheme, params) = v.split_once(' ').unwrap_or((v, ""));
        e.obj("auth").str("scheme", scheme);
        for k in ["realm", "username"] {
            let x = params.split(',').find_map(|p| {
                let (a, b) = p.split_once('=')?;
                a.trim().eq_ignore_ascii_case(k).then(|| b.trim().trim_matches('"'))
            });
            e.opt_str(k, x);
        }
        // The digest response is a credential: never reported.
        e.end();
    }
    if let Some(r) = m.known(Known::REASON) {
        write_reason(e, "reason", r);
    }
    write_other_headers(e, m);
    if let Some(s) = body_sdp {
        write_sdp(e, s);
    }
    e.end();
    match m.start {
        StartLine::Request { method, uri } => e.str_parts("message", &["SIP ", method, " ", uri]),
        StartLine::Response { code, phrase } => {
            e.str_parts("message", &["SIP ", itoa::Buffer::new().format(code), " ", phrase])
        }
    };
}

/// Every header without a field of its own, by lowercased name; repeated headers become
/// arrays.
fn write_other_headers(e: &mut Event, m: &Message<'_>) {
    let others: Vec<&super::parser::Header<'_>> = m.headers.iter().filter(|h| !is_mapped(&h.name)).collect();
    if others.is_empty() {
        return;
    }
    e.obj("headers");
    for (i, h) in others.iter().enumerate() {
        if others[..i].iter().any(|o| o.name == h.name) {
            continue; // written with its first occurrence
        }
        // The first value of a header that names a party is tagged with its role.
        let role = match &*h.name {
            "p-asserted-identity" => Some(role::ASSERTED),
            "diversion" => Some(role::DIVERSION),
            _ => None,
        };
        let mut same = others[i..].iter().filter(|o| o.name == h.name).peekable();
        if others[i + 1..].iter().any(|o| o.name == h.name) {
            e.arr(Wire(&h.name));
            for (k, o) in same.by_ref().enumerate() {
                match role.filter(|_| k == 0) {
                    Some(r) => e.item_tagged_str(r, &o.value),
                    None => e.item_str(&o.value),
                };
            }
            e.end();
        } else {
            match role {
                Some(r) => e.tagged_str(Wire(&h.name), r, &h.value),
                None => e.str(Wire(&h.name), &h.value),
            };
        }
    }
    e.end();
}

/// `Reason: Q.850;cause=16;text="Normal call clearing"` (RFC 3326).
fn write_reason(e: &mut Event, key: &'static str, r: &str) {
    let (proto, params) = r.split_once(';').unwrap_or((r, ""));
    e.obj(key).str("protocol", proto.trim());
    if let Some(c) = super::parser::param(params, "cause").and_then(|c| c.parse::<u64>().ok()) {
        e.u64("cause", c);
    }
    e.opt_str("text", super::parser::param(params, "text"));
    e.end();
}

fn write_sdp(e: &mut Event, s: &sdp::Sdp<'_>) {
    e.obj("sdp").opt_str("version", s.version);
    if s.owner_username.is_some() {
        e.obj("owner").opt_str("username", s.owner_username).opt_str("session_id", s.owner_session_id);
        e.opt_str("version", s.owner_version).opt_str("ip", s.owner_ip).end();
    }
    if let Some(n) = s.session_name {
        e.obj("session").str("name", n).end();
    }
    if s.connection_info.is_some() || s.connection_address.is_some() {
        e.obj("connection").opt_str("info", s.connection_info).opt_str("address", s.connection_address).end();
    }
    e.opt_str("direction", s.direction);
    if !s.media.is_empty() {
        e.arr("media");
        for m in &s.media {
            e.item_obj().str("type", m.kind);
            if let Some(p) = m.port {
                e.u64("port", p.into());
            }
            e.str("protocol", m.protocol).strs("formats", m.formats.iter().copied());
            e.arr("codecs");
            for (pt, name, rate) in &m.rtpmap {
                e.item_obj().str("payload_type", pt).str("name", name);
                if let Some(r) = rate {
                    e.u64("clock_rate", (*r).into());
                }
                e.end();
            }
            e.end();
            e.opt_str("connection_address", m.connection_address.or(s.connection_address));
            e.opt_str("direction", m.direction.or(s.direction));
            if let Some(p) = m.ptime {
                e.u64("ptime", p.into());
            }
            e.end();
        }
        e.end();
    }
    e.end();
}

/// One document per INVITE dialog (call), when it ends or its flow does: its endpoints now,
/// the rest now or, like a message's (see [`message_document`]), on the rendering thread.
pub(crate) fn call_document(ctx: &mut Ctx<'_>, c: Call) -> Event {
    let start = c.start.to_be_bytes();
    let mut e =
        Event::with_capacity("call", "event", call_end(&c), &[c.call_id.as_bytes(), &start], ctx.capacity_to_defer());
    ctx.endpoints.write(&mut e, ctx.meta, c.invite_dir.unwrap_or(ctx.dir), "sip");
    if ctx.defer {
        e.defer(Arc::new(DeferredCall(c)));
    } else {
        write_call(&mut e, &c);
    }
    e
}

/// A call that did not end (timed out, or still open when its flow ended) ends with its last
/// message.
fn call_end(c: &Call) -> iotw_event::Nanos {
    c.end.unwrap_or(c.last_seen.max(c.start))
}

/// What a call document is rendered from.
#[derive(Debug)]
struct DeferredCall(Call);

impl Render for DeferredCall {
    fn render(&self, e: &mut Event) {
        write_call(e, &self.0);
    }
}

/// The `event`, `call` and `message` members of a call document.
fn write_call(e: &mut Event, c: &Call) {
    let end = call_end(c);
    e.obj("event").consts("category", &["network"]).consts("type", &["connection", "end"]);
    e.time("start", c.start).time("end", end).i64("duration", end - c.start).end();
    e.tags_complete().obj("call").str("id", &c.call_id).str("state", c.state);
    for (key, (user, display, host)) in [(role::CALLER, &c.caller), (role::CALLEE, &c.callee)] {
        e.obj(key);
        if let Some(user) = user {
            e.tagged_str("user", key, user);
        }
        e.opt_str("display_name", display.as_deref()).opt_str("host", host.as_deref()).end();
    }
    if let Some(t) = c.ringing {
        e.time("ringing", t).i64("setup_time", t - c.start);
    }
    if let Some(t) = c.answer {
        e.time("answer", t).i64("answer_delay", t - c.start);
        if let Some(x) = c.end {
            e.i64("talk_duration", x - t);
        }
    }
    e.opt_str("hangup_by", c.hangup_by).opt_str("end_cause", c.end_cause.as_deref());
    if let Some(x) = c.final_code {
        e.u64("final_code", x.into());
    }
    if let Some(r) = &c.reason {
        write_reason(e, "reason", r);
    }
    e.u64("reinvites", c.reinvites.into()).u64("holds", c.holds.into());
    if !c.media.is_empty() {
        e.strs("media", c.media.iter().map(String::as_str));
    }
    e.opt_str("genesys_calluuid", c.genesys_uuid.as_deref());
    e.u64("messages", c.messages.into()).end();
    let caller = c.caller.0.as_deref().unwrap_or("?");
    let callee = c.callee.0.as_deref().unwrap_or("?");
    e.str_parts("message", &["call ", caller, " -> ", callee, " ", c.state]);
}

/// One document per (method, user agent) of REGISTER and OPTIONS requests on a flow, when the
/// flow ends: how many were sent, answered, with which codes, and how fast.
pub(crate) fn summary_document(ctx: &mut Ctx<'_>, method: &str, ua: &str, s: &Summary) -> Event {
    let first = s.first.to_be_bytes();
    let ids: [&[u8]; 4] = [ctx.meta.community_id.as_bytes(), method.as_bytes(), ua.as_bytes(), &first];
    let mut e = Event::new("sip_summary", "metric", s.last, &ids);
    ctx.endpoints.write(&mut e, ctx.meta, Dir::Orig, "sip");
    e.obj("event").consts("category", &["network"]).consts("type", &["info"]);
    e.time("start", s.first).time("end", s.last).end();
    e.obj("sip").str("method", method);
    if !ua.is_empty() {
        e.obj("user_agent").str("original", ua).end();
    }
    e.obj("summary").u64("requests", s.requests).u64("answered", s.answered);
    e.u64("unanswered", s.requests.saturating_sub(s.answered));
    e.obj("codes");
    for (c, n) in &s.codes {
        e.u64(Wire(itoa::Buffer::new().format(*c)), *n);
    }
    e.end();
    if s.answered > 0 {
        e.i64("mean_response_time", s.response_time_total / s.answered as i64);
    }
    e.end().end();
    let ok = s.codes.range(200..300).map(|(_, n)| n).sum::<u64>();
    e.str(
        "message",
        &format!("SIP {method} from {}: {} sent, {ok} answered 2xx", if ua.is_empty() { "?" } else { ua }, s.requests),
    );
    e
}
