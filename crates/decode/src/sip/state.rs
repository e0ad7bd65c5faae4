//! Per-flow SIP state: the parse loop over a stream or datagram, transactions (request ->
//! final response) and INVITE dialogs (calls).

use super::event::{call_document, message_document, summary_document, Keys, TxInfo};
use super::parser::{self, parse_name_addr, Known, Message, Parsed, StartLine};
use super::sdp::Sdp;
use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Progress, Resync};
use iotw_event::Nanos;
use iotw_flow::Dir;
use std::collections::HashMap;

/// A transaction: one request and its responses (RFC 3261 §17), keyed by Call-ID, CSeq and
/// the top Via branch.
#[derive(Debug)]
struct Tx {
    request_ts: Nanos,
    provisional: u32,
    final_code: Option<u16>,
    /// REGISTER and OPTIONS: the summary this transaction counts toward.
    summary: Option<Box<(String, String)>>,
}

/// REGISTER or OPTIONS outcomes of one user agent on this flow.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub requests: u64,
    pub answered: u64,
    pub codes: std::collections::BTreeMap<u16, u64>,
    pub response_time_total: i64,
    pub first: Nanos,
    pub last: Nanos,
}

/// User agents summarised per flow, at most.
const MAX_SUMMARIES: usize = 64;

/// An INVITE dialog, as far as this flow sees it.
#[derive(Debug, Default)]
pub(crate) struct Call {
    pub call_id: String,
    pub invite_dir: Option<Dir>,
    pub caller: (Option<String>, Option<String>, Option<String>),
    pub callee: (Option<String>, Option<String>, Option<String>),
    pub start: Nanos,
    pub ringing: Option<Nanos>,
    pub answer: Option<Nanos>,
    pub end: Option<Nanos>,
    pub hangup_by: Option<&'static str>,
    pub end_cause: Option<String>,
    pub final_code: Option<u16>,
    pub reason: Option<String>,
    pub reinvites: u32,
    pub holds: u32,
    pub media: Vec<String>,
    pub genesys_uuid: Option<String>,
    pub messages: u32,
    pub state: &'static str,
    /// When the dialog's last message was seen.
    pub last_seen: Nanos,
    /// The negotiated session interval (Session-Expires, RFC 4028).
    session_expires: Option<Nanos>,
    bye_seen: bool,
    cancelled: bool,
}

/// Call-ID, CSeq number and method, and top Via branch, hashed to 64 bits (SipHash-1-3) with
/// a key drawn at random for each decoder: no allocation per message, and traffic cannot be
/// made to collide with another transaction's key without knowing it. By chance, a new
/// transaction takes the key of one of the at most `16 x max_transactions` a flow remembers
/// (16,384 by default) with a probability below 10^-15; it would then be taken for a
/// retransmission or a response of that one. Half the size of a 128-bit key: a flow's
/// remembered transactions take a third less memory, which a busy flow fills fresh.
type TxKey = u64;

/// The keyed hash of [`TxKey`].
struct TxKeyer(siphasher::sip::SipHasher13);

impl TxKeyer {
    fn new() -> Self {
        use std::hash::BuildHasher;
        // Two draws of the process's random hashing keys make this decoder's key.
        let (a, b) = (std::collections::hash_map::RandomState::new(), std::collections::hash_map::RandomState::new());
        TxKeyer(siphasher::sip::SipHasher13::new_with_keys(a.hash_one(0u8), b.hash_one(1u8)))
    }

    fn key(&self, call_id: &str, cseq: u32, method: &str, branch: &str) -> TxKey {
        use std::hash::Hasher;
        let mut h = self.0;
        // Each part after its length, so that no two lists of parts hash the same bytes.
        for part in [call_id, method, branch] {
            h.write_usize(part.len());
            h.write(part.as_bytes());
        }
        h.write_u32(cseq);
        h.finish()
    }
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A completed transaction is remembered this long, to recognise retransmitted requests and
/// responses (RFC 3261 Timer J/K: 64 x T1 = 32 s).
const TX_LINGER: Nanos = 32_000_000_000;

/// Open calls are checked for their timeouts at most this often (of packet time).
const SWEEP_EVERY: Nanos = 1_000_000_000;

/// Open calls and transactions per flow are capped by `max_transactions`.
pub struct SipDecoder {
    limits: DecodeLimits,
    messages: u64,
    last_sweep: Nanos,
    keyer: TxKeyer,
    txs: Map<TxKey, Tx>,
    /// Completed transactions in completion order, forgotten after `TX_LINGER`.
    completed: std::collections::VecDeque<(Nanos, TxKey)>,
    calls: Map<String, Call>,
    summaries: std::collections::BTreeMap<(String, String), Summary>,
}

thread_local! {
    /// The header list of the last message parsed or rendered on this thread, emptied, for
    /// the next ([`parser::parse_with`], [`parser::OwnedMessage::view_with`]): one per
    /// thread, not one per flow.
    pub(super) static HEADERS: std::cell::Cell<Vec<parser::Header<'static>>> = const { std::cell::Cell::new(Vec::new()) };
}

impl std::fmt::Debug for SipDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipDecoder").field("messages", &self.messages).field("calls", &self.calls.len()).finish()
    }
}

fn who(u: &parser::NameAddr<'_>) -> (Option<String>, Option<String>, Option<String>) {
    (u.uri.user.map(str::to_owned), u.display.map(str::to_owned), u.uri.host.map(str::to_owned))
}

impl SipDecoder {
    pub fn new(limits: DecodeLimits) -> Self {
        SipDecoder {
            limits,
            messages: 0,
            last_sweep: Nanos::MIN,
            keyer: TxKeyer::new(),
            txs: Map::default(),
            completed: Default::default(),
            calls: Map::default(),
            summaries: Default::default(),
        }
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, m: &Message<'_>) {
        self.messages += 1;
        if ctx.ts.saturating_sub(self.last_sweep) >= SWEEP_EVERY {
            self.last_sweep = ctx.ts;
            self.expire_calls(ctx);
        }
        // The body is parsed once, for the message document and for the call.
        let sdp = super::sdp::parse(m.body, self.limits.max_headers.min(64));
        let keys = Keys::of(m);
        let call_id = keys.call_id.unwrap_or("");
        let (cseq_n, cseq_m) = keys.cseq.unwrap_or((0, ""));
        let branch = keys.branch.unwrap_or("");
        let key = self.keyer.key(call_id, cseq_n, cseq_m, branch);
        // Forget completed transactions after the linger time, or early when too many linger.
        while let Some((t, _)) = self.completed.front() {
            if ctx.ts - *t < TX_LINGER && self.completed.len() <= 16 * self.limits.max_transactions {
                break;
            }
            if let Some((_, k)) = self.completed.pop_front() {
                self.txs.remove(&k);
            }
        }
        let mut tx_info = TxInfo::default();
        match m.start {
            StartLine::Request { method, .. } => {
                if self.txs.contains_key(&key) {
                    tx_info.retransmission = true;
                } else if method != "ACK" {
                    let open = self.txs.len() - self.completed.len().min(self.txs.len());
                    if open >= self.limits.max_transactions {
                        ctx.anomaly(&Anomaly::new(
                            "sip_transaction_limit",
                            "too many open transactions in one flow; their state was dropped",
                        ));
                        self.txs.clear();
                        self.completed.clear();
                    }
                    let summary = matches!(method, "REGISTER" | "OPTIONS")
                        .then(|| (method.to_owned(), m.known(Known::USER_AGENT).unwrap_or("").to_owned()));
                    if let Some(k) = &summary {
                        if self.summaries.len() < MAX_SUMMARIES || self.summaries.contains_key(k) {
                            let s = self.summaries.entry(k.clone()).or_default();
                            if s.requests == 0 {
                                s.first = ctx.ts;
                            }
                            s.requests += 1;
                            s.last = ctx.ts;
                        }
                    }
                    self.txs.insert(
                        key,
                        Tx { request_ts: ctx.ts, provisional: 0, final_code: None, summary: summary.map(Box::new) },
                    );
                }
            }
            StartLine::Response { code, .. } => {
                if let Some(tx) = self.txs.get_mut(&key) {
                    tx_info.response_time = Some(ctx.ts - tx.request_ts);
                    if code < 200 {
                        tx.provisional += 1;
                    } else if tx.final_code.is_some() {
                        tx_info.retransmission = true;
                    } else {
                        tx.final_code = Some(code);
                        if let Some(s) = tx.summary.as_ref().and_then(|k| self.summaries.get_mut(k)) {
                            s.answered += 1;
                            *s.codes.entry(code).or_default() += 1;
                            s.response_time_total += ctx.ts - tx.request_ts;
                            s.last = s.last.max(ctx.ts);
                        }
                        self.completed.push_back((ctx.ts, key));
                    }
                    tx_info.provisional = tx.provisional;
                } else {
                    tx_info.orphan = true;
                }
            }
        }
        let doc = message_document(ctx, m, self.messages, &tx_info, &keys, sdp.as_ref());
        ctx.emit(doc);
        if !tx_info.retransmission {
            self.track_call(ctx, m, sdp.as_ref(), call_id, cseq_m);
        }
    }

    fn track_call(
        &mut self,
        ctx: &mut Ctx<'_>,
        m: &Message<'_>,
        sdp: Option<&Sdp<'_>>,
        call_id: &str,
        cseq_method: &str,
    ) {
        if call_id.is_empty() {
            return;
        }
        let dir = ctx.dir;
        // The call is looked up once: the arms below take it from here.
        let mut known = self.calls.get_mut(call_id);
        if let Some(c) = known.as_deref_mut() {
            c.last_seen = ctx.ts;
            // SIP Server puts X-Genesys-CallUUID in its first message of a leg: the INVITE it
            // sends, or its first response to an INVITE it receives (genesys_wire.md §11.5).
            if c.genesys_uuid.is_none() {
                c.genesys_uuid = m.known(Known::X_GENESYS_CALLUUID).map(str::to_owned);
            }
            if let Some(x) = m.known(Known::SESSION_EXPIRES).and_then(session_interval) {
                c.session_expires = Some(x);
            }
        }
        match m.start {
            StartLine::Request { method: "INVITE", .. } => {
                let to_tag = m.known(Known::TO).and_then(|t| parser::param(parser::name_addr_params(t), "tag"));
                if let Some(c) = known {
                    c.messages += 1;
                    if to_tag.is_some() {
                        c.reinvites += 1;
                        if let Some(s) = sdp {
                            let dir_attr = s.media.first().and_then(|x| x.direction).or(s.direction);
                            if matches!(dir_attr, Some("sendonly" | "inactive")) {
                                c.holds += 1;
                            }
                        }
                    }
                    return;
                }
                if self.calls.len() >= self.limits.max_transactions {
                    ctx.anomaly(&Anomaly::new("sip_call_limit", "too many open calls in one flow"));
                    return;
                }
                let from = m.known(Known::FROM).map(parse_name_addr).unwrap_or_default();
                let to = m.known(Known::TO).map(parse_name_addr).unwrap_or_default();
                let mut c = Call {
                    call_id: call_id.to_owned(),
                    invite_dir: Some(dir),
                    caller: who(&from),
                    callee: who(&to),
                    start: ctx.ts,
                    genesys_uuid: m.known(Known::X_GENESYS_CALLUUID).map(str::to_owned),
                    messages: 1,
                    state: "setup",
                    last_seen: ctx.ts,
                    session_expires: m.known(Known::SESSION_EXPIRES).and_then(session_interval),
                    ..Call::default()
                };
                add_media(&mut c, sdp);
                self.calls.insert(call_id.to_owned(), c);
            }
            StartLine::Request { method, .. } => {
                let Some(c) = known else { return };
                c.messages += 1;
                match method {
                    "BYE" => {
                        c.bye_seen = true;
                        c.end.get_or_insert(ctx.ts);
                        c.hangup_by = Some(if Some(dir) == c.invite_dir { "caller" } else { "callee" });
                        c.end_cause = Some("bye".into());
                        c.reason = m.known(Known::REASON).map(str::to_owned).or(c.reason.take());
                    }
                    "CANCEL" => {
                        c.cancelled = true;
                        c.end.get_or_insert(ctx.ts);
                        c.hangup_by = Some("caller");
                        c.end_cause = Some("cancel".into());
                        c.reason = m.known(Known::REASON).map(str::to_owned).or(c.reason.take());
                    }
                    _ => {}
                }
            }
            StartLine::Response { code, .. } => {
                let Some(c) = known else { return };
                c.messages += 1;
                match (cseq_method, code) {
                    ("INVITE", 180..=199) => {
                        c.ringing.get_or_insert(ctx.ts);
                    }
                    ("INVITE", 200..=299) => {
                        if c.answer.is_none() {
                            c.answer = Some(ctx.ts);
                            c.final_code = Some(code);
                            c.state = "answered";
                        }
                        add_media(c, sdp);
                    }
                    ("INVITE", 300..=699) if c.answer.is_none() => {
                        c.final_code = Some(code);
                        c.end.get_or_insert(ctx.ts);
                        if !c.cancelled {
                            c.end_cause = Some(format!("{code}"));
                            c.hangup_by = Some("callee");
                        }
                        c.state = if c.cancelled { "cancelled" } else { "failed" };
                        self.close(ctx, call_id);
                    }
                    ("BYE", 200..=699) if c.bye_seen => {
                        c.state = "completed";
                        self.close(ctx, call_id);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Closes the calls that went quiet for longer than their timeout.
    fn expire_calls(&mut self, ctx: &mut Ctx<'_>) {
        let (setup, idle) = (self.limits.call_setup_timeout.0, self.limits.call_idle_timeout.0);
        let mut expired: Vec<(Nanos, String)> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                let limit = match (c.answer, c.session_expires) {
                    (None, _) => setup,
                    (Some(_), Some(interval)) => idle.min(interval.saturating_mul(2)),
                    (Some(_), None) => idle,
                };
                ctx.ts.saturating_sub(c.last_seen) > limit
            })
            .map(|(id, c)| (c.start, id.clone()))
            .collect();
        expired.sort();
        for (_, id) in expired {
            if let Some(mut c) = self.calls.remove(&id) {
                c.state = "timeout";
                c.end_cause = Some("timeout".into());
                let doc = call_document(ctx, c);
                ctx.emit(doc);
            }
        }
    }

    fn close(&mut self, ctx: &mut Ctx<'_>, call_id: &str) {
        if let Some(c) = self.calls.remove(call_id) {
            let doc = call_document(ctx, c);
            ctx.emit(doc);
        }
        for ((method, ua), s) in std::mem::take(&mut self.summaries) {
            let doc = summary_document(ctx, &method, &ua, &s);
            ctx.emit(doc);
        }
    }
}

/// `Session-Expires: 1800;refresher=uac` -> the interval (RFC 4028 §4).
fn session_interval(v: &str) -> Option<Nanos> {
    let secs: i64 = parser::trim_lws(v.split(';').next()?).parse().ok()?;
    (secs > 0).then(|| secs.saturating_mul(1_000_000_000))
}

fn add_media(c: &mut Call, sdp: Option<&Sdp<'_>>) {
    let Some(s) = sdp else { return };
    for m in &s.media {
        if c.media.len() >= 16 {
            return;
        }
        // `kind addr:port codec,codec`
        let addr = m.connection_address.or(s.connection_address).unwrap_or("");
        let mut port = itoa::Buffer::new();
        let mut entry = String::with_capacity(64);
        for part in [m.kind, " ", addr, ":", port.format(m.port.unwrap_or(0)), " "] {
            entry.push_str(part);
        }
        for (i, r) in m.rtpmap.iter().enumerate() {
            if i > 0 {
                entry.push(',');
            }
            entry.push_str(r.1);
        }
        if !c.media.contains(&entry) {
            c.media.push(entry);
        }
    }
}

impl Decoder for SipDecoder {
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        let datagram = ctx.meta.key.proto == 17;
        let mut at = 0;
        while at < input.len() {
            // CRLF keep-alives (RFC 5626) between messages.
            if matches!(input[at], b'\r' | b'\n') {
                at += 1;
                continue;
            }
            let headers = parser::reuse(HEADERS.take());
            match parser::parse_with(&input[at..], self.limits.max_message, self.limits.max_headers, datagram, headers)
            {
                Ok(Parsed::Message(m)) => {
                    if m.dropped_headers > 0 {
                        ctx.anomaly(&Anomaly::new(
                            "sip_header_limit",
                            format!("{} headers past the limit", m.dropped_headers),
                        ));
                    }
                    if m.body_truncated {
                        ctx.anomaly(&Anomaly::new("sip_body_truncated", "body shorter than Content-Length"));
                    }
                    let len = m.len;
                    self.message(ctx, &m);
                    HEADERS.set(parser::reuse(m.headers));
                    at += len.max(1);
                    if datagram {
                        return Progress::Done;
                    }
                }
                Ok(Parsed::Incomplete { needed }) => {
                    return Progress::NeedMore { consumed: at, needed: needed.max(input.len() - at + 1) };
                }
                Err(e) => {
                    if at > 0 {
                        // Report what was consumed; the session calls again and gets the error
                        // for these bytes alone, so messages before them are not parsed twice.
                        return Progress::NeedMore { consumed: at, needed: input.len() - at + 1 };
                    }
                    return Progress::Invalid(Anomaly::new(e.code, e.detail));
                }
            }
        }
        Progress::Done
    }

    fn resync(&self, _dir: Dir, input: &[u8], _from: Resync) -> Option<usize> {
        // The next line that starts a SIP message.
        let mut i = 0;
        while i < input.len() {
            let line = &input[i..];
            if parser::looks_like_sip(line) == Some(true) {
                return Some(i);
            }
            match line.iter().position(|b| *b == b'\n') {
                Some(p) => i += p + 1,
                None => return None,
            }
        }
        None
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        let mut open: Vec<Call> = self.calls.drain().map(|(_, c)| c).collect();
        open.sort_by_key(|c| c.start);
        for mut c in open {
            c.state = if c.bye_seen { "completed" } else { "unterminated" };
            let doc = call_document(ctx, c);
            ctx.emit(doc);
        }
        for ((method, ua), s) in std::mem::take(&mut self.summaries) {
            let doc = summary_document(ctx, &method, &ua, &s);
            ctx.emit(doc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_entries_list_codecs_once_each_and_are_capped() {
        let offer = b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\nm=video 7000 RTP/AVP 96\r\nc=IN IP4 10.0.0.2\r\nm=audio 0 RTP/AVP 0\r\n";
        let sdp = super::super::sdp::parse(offer, 16);
        let mut c = Call::default();
        add_media(&mut c, sdp.as_ref());
        add_media(&mut c, sdp.as_ref());
        assert_eq!(c.media, ["audio 10.0.0.1:6000 PCMU,PCMA", "video 10.0.0.2:7000 ", "audio 10.0.0.1:0 "]);
        for port in 1..40 {
            let body = format!("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio {port} RTP/AVP 0\r\n");
            add_media(&mut c, super::super::sdp::parse(body.as_bytes(), 16).as_ref());
        }
        assert_eq!(c.media.len(), 16);
    }
}
