//! Genesys T-Library (T-Server, SIP Server, URS, Stat Server, OCS and desktops talking to
//! them), decoded from the public tables and a swappable wire profile.
//!
//! What is fact and what is inferred (genesys_wire.md; `docs/genesys.md` for users):
//! - Fact (a): the message types and attribute ids with their names (`tables.rs`), the enum
//!   values (call types, call states, DN roles, ...), the KV-list type tags.
//! - Inferred (b) or guessed (c): the packet header, where the message type sits, how
//!   attributes and their values are laid out, the packed KV-list layout, keep-alives. All of
//!   it is in the [`WireProfile`] (`profile.rs`, default `tlib-default.toml`), which a site
//!   corrects with `iotw genesys calibrate`. No other file knows the envelope.
//!
//! Supported: framing with resynchronisation after a gap or mid-stream pickup, keep-alive
//! frames (as the profile defines them), every attribute kept (unknown messages and
//! attributes as raw values, counted), KV lists as nested objects (capped), request/answer
//! pairing by ReferenceID (`event.duration`), client identity from RequestRegisterClient and
//! server version and role from EventServerInfo. Passwords are never output.
//! Not supported yet: extended packets (> 16 KiB, format not public), ADDP frames, the other
//! Genesys protocols (Configuration, Management, Stat Server, Interaction Server, ...).

pub mod calibrate;
mod event;
pub mod kvlist;
pub mod log;
pub mod profile;
mod state;
pub mod tables;
pub mod tlib;

pub use event::{field, secret};
pub use profile::WireProfile;
pub use state::TlibDecoder;

use crate::{DecodeLimits, Decoder, Probe, Protocol, Transports};
use iotw_flow::Dir;
use std::sync::Arc;

/// The T-Library protocol for the registry, speaking one wire profile.
#[derive(Debug, Clone)]
pub struct Tlib {
    profile: Arc<WireProfile>,
}

impl Tlib {
    pub fn new(profile: WireProfile) -> Self {
        Tlib { profile: Arc::new(profile) }
    }
}

impl Default for Tlib {
    fn default() -> Self {
        Self::new(WireProfile::default())
    }
}

/// Whether `input` starts with a whole packet that reads as a known T-Library message with
/// at least one attribute that is not empty (zeros alone read as RequestRegisterClient
/// with empty attributes): `Some(false)` when the bytes contradict it, `None` when the packet
/// is not all there.
pub(crate) fn looks_like_tlib(input: &[u8], p: &WireProfile) -> Option<bool> {
    let kv = kvlist::KvLimits { max_pairs: 4096, max_depth: 16 };
    match tlib::frame(input, p) {
        tlib::Framed::Packet { payload, .. } => Some(tlib::decode(payload, p, 1024, kv).is_ok_and(|m| {
            m.mtype.name().is_some() && m.attrs.iter().any(|(_, v)| !matches!(v, tlib::Value::Str(s) if s.is_empty()))
        })),
        tlib::Framed::Incomplete { .. } => partial_reads(input, p).filter(|ok| !ok),
        tlib::Framed::KeepAlive { len } => match input.get(len..) {
            Some(rest) if !rest.is_empty() => looks_like_tlib(rest, p),
            _ => None,
        },
        tlib::Framed::Bad(_) => Some(false),
    }
}

/// For a packet that is not all there: whether the part that is reads without
/// contradiction (a known message type, attributes that fit so far).
pub(crate) fn partial_reads(input: &[u8], p: &WireProfile) -> Option<bool> {
    let kv = kvlist::KvLimits { max_pairs: 4096, max_depth: 16 };
    let hl = usize::from(p.packet.length_bytes);
    let partial = input.get(hl..)?;
    let t = p.uint(partial, p.message.type_bytes)?;
    if tables::MessageType(t as u32).name().is_none() {
        return Some(false);
    }
    match tlib::decode(partial, p, 1024, kv) {
        Ok(_) | Err(tlib::TlibError::Short(_)) => Some(true),
        Err(_) => Some(false),
    }
}

impl Protocol for Tlib {
    fn name(&self) -> &'static str {
        "tlib"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: false }
    }

    fn probe(&self, _dir: Dir, input: &[u8], _ports: (u16, u16)) -> Probe {
        // A capture may start in the middle of a packet: any offset where a whole packet
        // reads as a known message will do (the decoder resynchronises to it). A first packet
        // larger than the probe window is judged by its first kilobyte.
        if input.len() >= 1024
            && matches!(tlib::frame(input, &self.profile), tlib::Framed::Incomplete { .. })
            && partial_reads(input, &self.profile) == Some(true)
        {
            return Probe::Match;
        }
        let mut undecided = false;
        for at in 0..input.len() {
            match looks_like_tlib(&input[at..], &self.profile) {
                Some(true) => return Probe::Match,
                Some(false) => {}
                None => undecided = true,
            }
        }
        if undecided {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(TlibDecoder::new(self.profile.clone(), *limits))
    }
}
