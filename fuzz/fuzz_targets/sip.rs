//! The SIP decoder (parser, SDP, transactions, calls) through the decode session: the input is
//! fed as datagrams and, split at fuzzer-chosen points, as a TCP stream in both directions.
//! Every document, rendered, must be valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_decode::{sip::Sip, DecodeLimits, Registry, Session};
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use libfuzzer_sys::fuzz_target;

fn meta(proto: u8) -> FlowMeta {
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 5060 };
    let b = Endpoint { ip: "192.0.2.2".parse().unwrap(), port: 5070 };
    FlowMeta::new(0, proto, a, b, 0, 1, 0)
}

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_message: 8192, max_headers: 32, max_transactions: 8, ..DecodeLimits::default() };
    let mut reg = Registry::new(limits);
    reg.register(Box::new(Sip));
    // Both ways of rendering: now, or later from the copy the decoder keeps.
    reg.defer = data.first().is_some_and(|b| b & 1 == 1);
    let mut out = Vec::new();
    // Records separated by 0xff: each is one datagram / one stream chunk, direction by parity.
    for proto in [17u8, 6] {
        let m = meta(proto);
        let mut s = Session::default();
        for (i, rec) in data.split(|b| *b == 0xff).enumerate() {
            let dir = if i % 2 == 0 { Dir::Orig } else { Dir::Resp };
            let p = if proto == 17 { Payload::Datagram(rec) } else { Payload::Stream(rec) };
            s.payload(&reg, &m, dir, i as i64 * 1_000_000, p, &mut out);
        }
        s.finish(&reg, &m, 1_000_000_000, &mut out);
    }
    // Message documents are rendered later, from the copy the decoder kept.
    common::assert_valid_documents(&mut out);
});
