//! The TLS decryption path: the decoder with the key logs of the RFC 8446 example capture and
//! of the project's own (CBC and CCM suites, TLS 1.0 to 1.3, renegotiation, KeyUpdate), so
//! that those captures' streams (the seeds) decrypt, and mutations of them exercise the key
//! schedule, record opening, inner-plaintext parsing and the HTTP decoder behind it. The input
//! is chunks, each a direction byte (even: client), a big-endian u16 length and the bytes
//! (ciphertext holds every byte value, so no separator byte would do). Every document must be
//! valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_decode::tls::{keys::KeyLog, Tls};
use iotw_decode::{http::Http, DecodeLimits, Registry, Session};
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

const KEYS: &str = include_str!("../../testdata/captures/keys/tls13-rfc8446.keys");
const CIPHER_KEYS: &str = include_str!("../../testdata/tls/tls-ciphers.keys");

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_message: 65536, ..DecodeLimits::default() };
    let keys = Arc::new(KeyLog::new());
    keys.add_text(KEYS);
    keys.add_text(CIPHER_KEYS);
    let mut inner = Registry::new(limits);
    inner.register(Box::new(Http::default()));
    let mut reg = Registry::new(limits);
    reg.register(Box::new(Tls::with_decryption(keys, inner)));
    let a = Endpoint { ip: "10.9.0.1".parse().unwrap(), port: 38288 };
    let b = Endpoint { ip: "10.9.0.2".parse().unwrap(), port: 443 };
    let m = FlowMeta::new(0, 6, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0i64;
    while let Some(h) = data.get(at..at + 3) {
        let dir = if h[0] % 2 == 0 { Dir::Orig } else { Dir::Resp };
        let len = usize::from(u16::from_be_bytes([h[1], h[2]]));
        let chunk = &data[at + 3..(at + 3 + len).min(data.len())];
        s.payload(&reg, &m, dir, i * 1_000_000, Payload::Stream(chunk), &mut out);
        at += 3 + len;
        i += 1;
    }
    s.finish(&reg, &m, 1_000_000_000, &mut out);
    common::assert_valid_documents(&mut out);
});
