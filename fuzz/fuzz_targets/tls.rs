//! The TLS decoder (records, handshake reassembly across records, hellos, certificates,
//! fingerprints) through the decode session: records split by 0xff are stream chunks,
//! alternating directions. Every document must be valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_decode::{tls::Tls, DecodeLimits, Registry, Session};
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_message: 65536, ..DecodeLimits::default() };
    let mut reg = Registry::new(limits);
    reg.register(Box::new(Tls::new()));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 50000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 443 };
    let m = FlowMeta::new(0, 6, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    for (i, rec) in data.split(|b| *b == 0xff).enumerate() {
        let dir = if i % 2 == 0 { Dir::Orig } else { Dir::Resp };
        s.payload(&reg, &m, dir, i as i64 * 1_000_000, Payload::Stream(rec), &mut out);
    }
    s.finish(&reg, &m, 1_000_000_000, &mut out);
    common::assert_valid_documents(&mut out);
});
