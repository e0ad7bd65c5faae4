//! IP defragmentation: arbitrary fragment sequences (offsets, flags, overlaps, ids) stay
//! within the limits and never panic; a completed datagram is never larger than the cap.
#![no_main]
use iotw_flow::defrag::{Defrag, DefragLimits, FragmentIn};
use iotw_wire::Fragment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DefragLimits { max_datagram: 4096, max_pending: 8, max_fragments: 16, timeout: 1000 };
    let mut d = Defrag::default();
    let mut now = 0i64;
    // Records: [id, offset_hi, offset_lo, flags, len] then `len` payload bytes.
    let mut rest = data;
    while rest.len() >= 5 {
        let (h, tail) = rest.split_at(5);
        let len = usize::from(h[4] % 64).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        now += i64::from(h[3] >> 4) * 100;
        let f = FragmentIn {
            vlan: 0,
            src: if h[3] & 2 != 0 { "::1".parse().unwrap() } else { "10.0.0.1".parse().unwrap() },
            dst: "10.0.0.2".parse().unwrap(),
            proto: 17,
            frag: Fragment { id: u32::from(h[0] % 4), offset: u32::from(u16::from_be_bytes([h[1], h[2]])) & 0xfff8, more: h[3] & 1 != 0 },
            payload,
            frame_len: len as u32,
        };
        if let Some(r) = d.insert(now, f, &limits, &mut |_| {}) {
            assert!(r.payload.len() <= limits.max_datagram);
        }
        d.expire(now, &mut |_| {});
        assert!(d.pending() <= limits.max_pending);
    }
});
