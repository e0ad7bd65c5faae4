//! SIP (RFC 3261) and SDP (RFC 8866) over UDP and TCP: one document per message, with the
//! transaction it belongs to (response time) and the call it is part of.
//!
//! Supported: detection by content on any port; several messages per TCP segment and one
//! message over many; Content-Length framing; CRLF keep-alives (RFC 5626 §3.5.1); compact
//! headers; every header kept (`sip.headers.<name>`); SDP media. TLS (SIPS) arrives through
//! the same decoder once the TLS layer hands it plaintext.
//! Not supported yet: multipart bodies, SIP over WebSocket/SCTP.

mod event;
pub mod parser;
pub mod sdp;
mod state;

pub use state::SipDecoder;

use crate::{DecodeLimits, Decoder, Probe, Protocol, Transports};
use iotw_flow::Dir;

/// The SIP protocol for the registry.
#[derive(Debug, Default)]
pub struct Sip;

impl Protocol for Sip {
    fn name(&self) -> &'static str {
        "sip"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: true }
    }

    fn probe(&self, _dir: Dir, input: &[u8], _ports: (u16, u16)) -> Probe {
        // Keep-alive CRLFs may come first on a stream.
        let start = input.iter().position(|b| *b != b'\r' && *b != b'\n').unwrap_or(input.len());
        if start == input.len() {
            return Probe::NeedMore;
        }
        match parser::looks_like_sip(&input[start..]) {
            Some(true) => Probe::Match,
            Some(false) => Probe::NoMatch,
            None => Probe::NeedMore,
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(SipDecoder::new(*limits))
    }

    fn long_lived(&self) -> bool {
        true
    }
}
