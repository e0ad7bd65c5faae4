//! TLS (SSL 3.0 to TLS 1.3, RFC 5246 and RFC 8446) over TCP: one document per handshake, with
//! the negotiated version, cipher and curve, SNI and ALPN, the certificates (TLS 1.2 and
//! earlier send them in the clear), resumption, alerts, and the JA3/JA3S and JA4/JA4S
//! fingerprints.
//!
//! Supported: detection by content on any port (a handshake record with a ClientHello or
//! ServerHello first); handshake messages split over records and records over segments;
//! bytes lost (the document is marked incomplete).
//! Not supported yet: decryption (the records after the handshake are counted, not read), so
//! TLS 1.3 certificates and TLS 1.2 renegotiations are not seen; SSLv2-compatible hellos; connections whose handshake was
//! not captured (not recognised); DTLS and QUIC.

mod event;
pub mod parser;
mod state;

pub use state::TlsDecoder;

use crate::{DecodeLimits, Decoder, Probe, Protocol, Transports};
use iotw_flow::Dir;

/// The TLS protocol for the registry.
#[derive(Debug, Default)]
pub struct Tls;

impl Protocol for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: false }
    }

    fn probe(&self, _dir: Dir, input: &[u8], _ports: (u16, u16)) -> Probe {
        match parser::looks_like_tls(input) {
            Some(true) => Probe::Match,
            Some(false) => Probe::NoMatch,
            None => Probe::NeedMore,
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(TlsDecoder::new(*limits))
    }
}
