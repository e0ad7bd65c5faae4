//! TCP reassembly through the flow table: arbitrary segment sequences (both directions, any
//! flags and sequence numbers) deliver each stream offset at most once, and every buffered
//! byte is accounted for and released when the flows end.
#![no_main]
use iotw_flow::{Dir, EndReason, FlowAnomaly, FlowConfig, FlowHandler, FlowKey, FlowMeta, FlowTable, Payload};
use iotw_wire::{Ipv4Header, LinkType, TcpFlags, TcpHeader};
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;

#[derive(Default)]
struct Count {
    delivered: [u64; 2],
}

impl FlowHandler<()> for Count {
    fn payload(&mut self, _m: &FlowMeta, _u: &mut (), dir: Dir, _ts: i64, p: Payload<'_>) {
        match p {
            Payload::Stream(b) => self.delivered[dir.index()] += b.len() as u64,
            Payload::Gap(n) => self.delivered[dir.index()] += n,
            Payload::Datagram(_) => {}
        }
    }
    fn flow_end(&mut self, _m: &FlowMeta, _u: &mut (), _r: EndReason) {}
    fn anomaly(&mut self, _ts: i64, _k: Option<&FlowKey>, _a: FlowAnomaly) {}
}

fuzz_target!(|data: &[u8]| {
    let mut cfg = FlowConfig::default();
    cfg.reassembly.max_buffered_per_stream = 2048;
    cfg.reassembly.max_segments_per_stream = 16;
    cfg.reassembly.max_buffered_total = 4096;
    let mut t: FlowTable<()> = FlowTable::new(cfg);
    let mut h = Count::default();
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    // Records: [flags, seq x4, len, port_sel] then `len` payload bytes.
    let mut rest = data;
    let mut ts = 0i64;
    while rest.len() >= 7 {
        let (hd, tail) = rest.split_at(7);
        let len = usize::from(hd[5]).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        let rev = hd[6] & 1 != 0;
        let (src, dst, sp, dp) = if rev { (b, a, 80, 1000 + u16::from(hd[6] >> 5)) } else { (a, b, 1000 + u16::from(hd[6] >> 5), 80) };
        let mut f = Vec::new();
        Ipv4Header { src, dst, protocol: 6, ttl: 64, header_len: 20, total_len: 40 + len, fragment: None }.emit(20 + len, &mut f);
        TcpHeader {
            src_port: sp,
            dst_port: dp,
            seq: u32::from_be_bytes([hd[1], hd[2], hd[3], hd[4]]),
            ack: 0,
            header_len: 20,
            flags: TcpFlags(u16::from(hd[0])),
            window: 1,
        }
        .emit(&mut f);
        f.extend_from_slice(payload);
        ts += 1_000_000;
        if let Ok(p) = iotw_wire::parse(LinkType::RAW, &f) {
            t.packet(ts, f.len() as u32, &p, &mut h);
        }
        assert!(t.stats().buffered_bytes <= 4096 + 2048);
    }
    t.flush(&mut h);
    assert_eq!(t.stats().buffered_bytes, 0, "every buffered byte is released");
});
