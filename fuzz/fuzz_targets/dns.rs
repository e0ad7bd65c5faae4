//! The DNS decoder over UDP and TCP through the decode session: the input is chunks, each a
//! control byte (bit 0: direction; bit 1: TCP instead of UDP), a big-endian u16 length and the
//! bytes; UDP chunks are datagrams of one flow, TCP chunks stream pieces of another (length
//! framing, messages split anywhere). The parser alone runs on the whole input too. Every
//! document must be valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw_decode::dns::{parser, Dns, DnsTcp};
use iotw_decode::{DecodeLimits, Registry, Session};
use iotw_flow::{Dir, Endpoint, FlowMeta, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parser::parse(data);
    let limits = DecodeLimits { max_message: 8192, max_transactions: 8, ..DecodeLimits::default() };
    let mut reg = Registry::new(limits);
    reg.register(Box::new(Dns));
    reg.register(Box::new(DnsTcp));
    let a = Endpoint { ip: "192.0.2.1".parse().unwrap(), port: 40000 };
    let b = Endpoint { ip: "192.0.2.53".parse().unwrap(), port: 53 };
    let udp = FlowMeta::new(0, 17, a, b, 0, 1, 0);
    let tcp = FlowMeta::new(0, 6, a, b, 0, 2, 0);
    let (mut su, mut st) = (Session::default(), Session::default());
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0i64;
    while let Some(h) = data.get(at..at + 3) {
        let dir = if h[0] & 1 == 0 { Dir::Orig } else { Dir::Resp };
        let len = usize::from(u16::from_be_bytes([h[1], h[2]]));
        let chunk = &data[at + 3..(at + 3 + len).min(data.len())];
        if h[0] & 2 == 0 {
            su.payload(&reg, &udp, dir, i * 1_000_000, Payload::Datagram(chunk), &mut out);
        } else {
            st.payload(&reg, &tcp, dir, i * 1_000_000, Payload::Stream(chunk), &mut out);
        }
        at += 3 + len;
        i += 1;
    }
    su.finish(&reg, &udp, 1_000_000_000, &mut out);
    st.finish(&reg, &tcp, 1_000_000_000, &mut out);
    common::assert_valid_documents(&mut out);
});
