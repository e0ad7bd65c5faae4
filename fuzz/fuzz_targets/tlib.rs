//! The T-Library decoder through the decode session: framing, resynchronisation after bad
//! packets, messages, KV lists, request/answer pairing and documents, with the input fed
//! as TCP stream chunks (split at 0xff bytes, both directions). Every document, rendered,
//! must be valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_decode::genesys::Tlib;
use iotw_decode::{DecodeLimits, Registry, Session};
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_message: 32 * 1024, max_headers: 64, max_transactions: 8, ..DecodeLimits::default() };
    let mut reg = Registry::new(limits);
    reg.register(Box::new(Tlib::default()));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 3000 };
    let m = FlowMeta::new(0, 6, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let dir = if i % 2 == 0 { Dir::Orig } else { Dir::Resp };
        s.payload(&reg, &m, dir, i as i64 * 1_000_000, Payload::Stream(chunk), &mut out);
        if i % 7 == 6 {
            s.payload(&reg, &m, dir, i as i64 * 1_000_000, Payload::Gap(3), &mut out);
        }
    }
    s.finish(&reg, &m, 1_000_000_000, &mut out);
    // Message documents are rendered later, from the copy the decoder kept.
    common::assert_valid_documents(&mut out);
});
