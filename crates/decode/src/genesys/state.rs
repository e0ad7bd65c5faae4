//! Per-flow T-Library state: the framing loop, resynchronisation, and requests waiting for
//! their answer (by ReferenceID).

use super::event::{message_document, summary_document, Answer};
use super::kvlist::KvLimits;
use super::profile::WireProfile;
use super::tables::{AttributeId, MessageType};
use super::tlib::{self, Framed};
use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Progress, Resync};
use iotw_event::Nanos;
use iotw_flow::Dir;
use std::collections::HashMap;
use std::sync::Arc;

/// A request waiting for the event that answers it.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    ts: Nanos,
    mtype: MessageType,
}

/// What one flow said, for its summary document.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    pub messages: u64,
    pub keepalives: u64,
    pub unknown_messages: u64,
    pub unknown_attributes: u64,
    pub answered: u64,
    pub unanswered: u64,
    pub first: Option<Nanos>,
    pub last: Nanos,
    /// RequestRegisterClient's application name, EventServerInfo's version and role.
    pub client: Option<String>,
    pub server_version: Option<String>,
    pub server_role: Option<i64>,
}

pub struct TlibDecoder {
    profile: Arc<WireProfile>,
    limits: DecodeLimits,
    waiting: HashMap<i64, Waiting>,
    counts: Counts,
}

impl std::fmt::Debug for TlibDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlibDecoder").field("profile", &self.profile.name).field("counts", &self.counts).finish()
    }
}

impl TlibDecoder {
    pub fn new(profile: Arc<WireProfile>, limits: DecodeLimits) -> Self {
        TlibDecoder { profile, limits, waiting: HashMap::new(), counts: Counts::default() }
    }

    fn kv_limits(&self) -> KvLimits {
        KvLimits { max_pairs: self.limits.max_headers.max(1) * 16, max_depth: self.limits.max_depth }
    }

    fn message(&mut self, ctx: &mut Ctx<'_>, m: &tlib::TlibMessage) {
        let c = &mut self.counts;
        c.messages += 1;
        c.first.get_or_insert(ctx.ts);
        c.last = ctx.ts;
        if m.mtype.name().is_none() {
            c.unknown_messages += 1;
        }
        c.unknown_attributes += m.attrs.iter().filter(|(a, _)| a.name().is_none()).count() as u64;
        match m.mtype {
            MessageType::REQUEST_REGISTER_CLIENT => {
                c.client = m.str(AttributeId::APPLICATION_NAME).map(str::to_owned).or(c.client.take());
            }
            MessageType::EVENT_SERVER_INFO => {
                c.server_version = m.str(AttributeId::SERVER_VERSION).map(str::to_owned).or(c.server_version.take());
                c.server_role = m.int(AttributeId::SERVER_ROLE).or(c.server_role);
            }
            _ => {}
        }
        let reference = m.int(AttributeId::REFERENCE_ID);
        let mut answer = None;
        if let Some(r) = reference {
            if m.mtype.is_request() {
                if self.waiting.len() >= self.limits.max_transactions {
                    ctx.anomaly(&Anomaly::new(
                        "tlib_request_limit",
                        "too many requests waiting for an answer in one flow; the oldest were forgotten",
                    ));
                    self.counts.unanswered += self.waiting.len() as u64;
                    self.waiting.clear();
                }
                self.waiting.insert(r, Waiting { ts: ctx.ts, mtype: m.mtype });
            } else if let Some(w) = self.waiting.remove(&r) {
                self.counts.answered += 1;
                answer = Some(Answer { request: w.mtype, duration: ctx.ts - w.ts });
            }
        }
        let doc = message_document(ctx, m, self.counts.messages, answer);
        ctx.emit(doc);
    }
}

impl Decoder for TlibDecoder {
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        let mut at = 0;
        while at < input.len() {
            match tlib::frame(&input[at..], &self.profile) {
                Framed::KeepAlive { len } => {
                    self.counts.keepalives += 1;
                    at += len;
                }
                Framed::Incomplete { needed } => {
                    // Only wait for a packet whose beginning reads well; after a pickup or a
                    // gap, a length that is merely plausible is not enough.
                    if super::partial_reads(&input[at..], &self.profile) == Some(false) {
                        if at > 0 {
                            return Progress::NeedMore { consumed: at, needed: input.len() - at + 1 };
                        }
                        return Progress::Invalid(Anomaly::new(
                            "tlib_bad_packet",
                            "packet start does not read as a message",
                        ));
                    }
                    return Progress::NeedMore { consumed: at, needed: needed.max(input.len() - at + 1) };
                }
                Framed::Bad(why) => {
                    if at > 0 {
                        // Reported on the next call, for these bytes alone.
                        return Progress::NeedMore { consumed: at, needed: input.len() - at + 1 };
                    }
                    return Progress::Invalid(Anomaly::new("tlib_bad_packet", why));
                }
                Framed::Packet { payload, len } => {
                    let (max_attrs, kv) = (self.limits.max_headers, self.kv_limits());
                    match tlib::decode(payload, &self.profile, max_attrs, kv) {
                        Ok(m) => self.message(ctx, &m),
                        Err(e) => {
                            // The packet is framed, so decoding goes on after it.
                            self.counts.messages += 1;
                            ctx.anomaly(&Anomaly::new("tlib_bad_message", e.to_string()));
                        }
                    }
                    at += len;
                }
            }
        }
        Progress::Done
    }

    fn resync(&self, _dir: Dir, input: &[u8], _from: Resync) -> Option<usize> {
        // The first offset where a packet reads as a known message; failing that, the first
        // of the last few bytes that cannot be judged yet.
        (0..input.len())
            .find(|&i| super::looks_like_tlib(&input[i..], &self.profile) == Some(true))
            .or_else(|| (0..input.len()).find(|&i| super::looks_like_tlib(&input[i..], &self.profile).is_none()))
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.counts.unanswered += self.waiting.len() as u64;
        self.waiting.clear();
        if self.counts.messages > 0 || self.counts.keepalives > 0 {
            let doc = summary_document(ctx, &self.counts, &self.profile.name);
            ctx.emit(doc);
        }
    }
}
