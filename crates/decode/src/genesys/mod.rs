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

/// Whether `input` starts with a packet the profile can read as a known T-Library message.
pub(crate) fn looks_like_tlib(input: &[u8], p: &WireProfile) -> Option<bool> {
    let kv = kvlist::KvLimits { max_pairs: 4096, max_depth: 16 };
    match tlib::frame(input, p) {
        // A large first packet: judge by the part that is there.
        tlib::Framed::Incomplete { needed } if needed > usize::from(p.packet.length_bytes) && input.len() >= 512 => {
            let payload = &input[usize::from(p.packet.length_bytes)..];
            match tlib::decode(payload, p, 1024, kv) {
                Ok(m) => Some(m.mtype.name().is_some()),
                Err(tlib::TlibError::Short(_)) => {
                    let t = p.uint(payload, p.message.type_bytes)?;
                    Some(tables::MessageType(t as u32).name().is_some())
                }
                Err(_) => Some(false),
            }
        }
        tlib::Framed::Incomplete { .. } => None,
        tlib::Framed::KeepAlive { len } => match input.get(len..) {
            Some(rest) if !rest.is_empty() => looks_like_tlib(rest, p),
            _ => None,
        },
        tlib::Framed::Bad(_) => Some(false),
        tlib::Framed::Packet { payload, .. } => {
            Some(tlib::decode(payload, p, 1024, kv).is_ok_and(|m| m.mtype.name().is_some()))
        }
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
        match looks_like_tlib(input, &self.profile) {
            Some(true) => Probe::Match,
            Some(false) => Probe::NoMatch,
            None => Probe::NeedMore,
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(TlibDecoder::new(self.profile.clone(), *limits))
    }
}
