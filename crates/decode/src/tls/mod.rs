//! TLS (SSL 3.0 to TLS 1.3, RFC 5246 and RFC 8446) over TCP: one document per handshake, with
//! the negotiated version, cipher and curve, SNI and ALPN, the certificates (TLS 1.2 and
//! earlier send them in the clear), resumption, alerts, and the JA3/JA3S and JA4/JA4S
//! fingerprints.
//!
//! Supported: detection by content on any port (a handshake record with a ClientHello or
//! ServerHello first, or, for a connection captured after its handshake, application-data
//! records back to back: such a flow is TLS, counted, with no session document);
//! handshake messages split over records and records over segments;
//! bytes lost (the document is marked incomplete).
//! Decryption (see [`decrypt`], [`keys`]): with an NSS key log (file, or pcapng Decryption
//! Secrets Blocks), records are opened (AES-GCM, AES-CCM, AES-CBC with HMAC and
//! ChaCha20-Poly1305, TLS 1.0 to 1.3, through TLS 1.2 renegotiations and TLS 1.3 key updates),
//! the encrypted handshake is read (TLS 1.3 certificates, ALPN) and the application data is
//! decoded as HTTP or SIP.
//! Not supported yet: without the secrets, TLS 1.3 certificates are not seen; SSLv2-compatible hellos; connections whose handshake was
//! not captured are recognised but say nothing more; DTLS and QUIC.

pub mod decrypt;
mod event;
pub mod keys;
pub mod parser;
mod state;

pub use state::{Decryption, TlsDecoder};

use crate::{DecodeLimits, Decoder, Probe, Protocol, Registry, Transports};
use iotw_flow::Dir;
use std::sync::Arc;

/// The TLS protocol for the registry.
#[derive(Default)]
pub struct Tls {
    decryption: Option<Arc<Decryption>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("decrypts", &self.decryption.is_some()).finish()
    }
}

impl Tls {
    /// TLS without decryption.
    pub fn new() -> Self {
        Tls::default()
    }

    /// TLS that decrypts the sessions whose secrets `keys` holds, and decodes what they carry
    /// with `inner`'s protocols.
    pub fn with_decryption(keys: Arc<keys::KeyLog>, inner: Registry) -> Self {
        Tls { decryption: Some(Arc::new(Decryption { keys, inner: Arc::new(inner) })) }
    }
}

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
            // Not a hello: perhaps the capture began after the handshake.
            Some(false) => match parser::looks_like_tls_midstream(input) {
                Some(true) => Probe::Match,
                Some(false) => Probe::NoMatch,
                None => Probe::NeedMore,
            },
            None => Probe::NeedMore,
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(TlsDecoder::new(*limits, self.decryption.clone()))
    }
}

/// Records a TLS connection's decrypted application data (see [`decrypt_stream`]).
struct Follow {
    decryption: Arc<Decryption>,
    out: state::Followed,
}

impl Protocol for Follow {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: false }
    }

    fn probe(&self, dir: Dir, input: &[u8], ports: (u16, u16)) -> Probe {
        Tls::new().probe(dir, input, ports)
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        let mut d = TlsDecoder::new(*limits, Some(self.decryption.clone()));
        d.followed = Some(self.out.clone());
        Box::new(d)
    }
}

/// The decrypted application data of one TLS connection, record by record, from its
/// reassembled TCP bytes in delivery order (`iotw follow --tls`, as Wireshark's Follow TLS
/// Stream). Decrypted records of other types appear as empty pieces, so that the side whose
/// records were decrypted first is known. Empty when the secrets are not in `keys`.
pub fn decrypt_stream<'a>(
    limits: DecodeLimits,
    keys: Arc<keys::KeyLog>,
    pieces: impl IntoIterator<Item = (Dir, iotw_flow::Payload<'a>)>,
) -> Vec<(Dir, Vec<u8>)> {
    let out: state::Followed = Arc::default();
    let decryption = Arc::new(Decryption { keys, inner: Arc::new(Registry::new(limits)) });
    let mut reg = Registry::new(limits);
    reg.register(Box::new(Follow { decryption, out: out.clone() }));
    // Addresses from the documentation range: nothing here writes a document that keeps them.
    let a = iotw_flow::Endpoint { ip: std::net::Ipv4Addr::new(192, 0, 2, 1).into(), port: 1 };
    let b = iotw_flow::Endpoint { ip: std::net::Ipv4Addr::new(192, 0, 2, 2).into(), port: 2 };
    let meta = iotw_flow::FlowMeta::new(0, 6, a, b, 0, 0, 0);
    let mut session = crate::Session::default();
    let mut docs = Vec::new();
    for (dir, p) in pieces {
        session.payload(&reg, &meta, dir, 0, p, &mut docs);
    }
    session.finish(&reg, &meta, 0, &mut docs);
    let taken = std::mem::take(&mut *out.lock().unwrap_or_else(|e| e.into_inner()));
    taken
}
