//! L2-L4 views: every link type over any bytes; slices returned lie inside the input.
#![no_main]
use iotw_wire::{parse, LinkType, Transport};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 8] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else { return };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    if let Ok(p) = parse(link, frame) {
        let payload = match p.transport {
            Transport::Tcp(_, b) | Transport::Udp(_, b) | Transport::Fragment(b) | Transport::Other(b) => b,
            Transport::NotIp { .. } => &[][..],
        };
        assert!(payload.len() <= frame.len());
    }
});
