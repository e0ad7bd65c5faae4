//! The HTTP/1.x decoder (heads, framing, chunked bodies, pairing, body decoding) through the
//! decode session: records split by 0xff are stream chunks, alternating directions; a 0xfe
//! record is a gap. Bodies of every type are captured so the decompression path runs. Every
//! document must be valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_decode::http::{Http, HttpOptions};
use iotw_decode::{DecodeLimits, Registry, Session};
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_message: 8192,
        max_headers: 32,
        max_transactions: 8,
        max_decompressed: 65536,
        ..DecodeLimits::default()
    };
    let mut reg = Registry::new(limits);
    let opts = HttpOptions { capture_bodies: vec!["*/*".into()], max_body: 256, max_head: 4096, ..Default::default() };
    reg.register(Box::new(Http::new(opts)));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 80 };
    let m = FlowMeta::new(0, 6, a, b, 0, 1, 0);
    let mut s = Session::default();
    let mut out = Vec::new();
    for (i, rec) in data.split(|b| *b == 0xff).enumerate() {
        let dir = if i % 2 == 0 { Dir::Orig } else { Dir::Resp };
        let p = match rec {
            [0xfe, n, ..] => Payload::Gap(u64::from(*n)),
            _ => Payload::Stream(rec),
        };
        s.payload(&reg, &m, dir, i as i64 * 1_000_000, p, &mut out);
    }
    s.finish(&reg, &m, 1_000_000_000, &mut out);
    common::assert_valid_documents(&mut out);
});
