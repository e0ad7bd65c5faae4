//! The bidirectional flow key and the Community ID v1 flow hash
//! (<https://github.com/corelight/community-id-spec>).

use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// One endpoint of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

/// A direction-free flow key: VLAN, IP protocol and the two endpoints in canonical order
/// (`lo <= hi`). ICMP carries its type/code mapped to ports as Community ID does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub vlan: u16,
    pub proto: u8,
    pub lo: Endpoint,
    pub hi: Endpoint,
}

/// Which way a packet travels relative to the key's `lo`/`hi` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// From `lo` to `hi`.
    LoToHi,
    /// From `hi` to `lo`.
    HiToLo,
}

impl FlowKey {
    /// The key for a packet from `src` to `dst`, and the packet's side.
    pub fn new(vlan: u16, proto: u8, src: Endpoint, dst: Endpoint) -> (Self, Side) {
        if src <= dst {
            (FlowKey { vlan, proto, lo: src, hi: dst }, Side::LoToHi)
        } else {
            (FlowKey { vlan, proto, lo: dst, hi: src }, Side::HiToLo)
        }
    }
}

/// Community ID v1 of a flow seen from `src` to `dst`, with seed 0 unless configured.
///
/// For ICMP and ICMPv6, `src.port` is the message type and `dst.port` its code; the spec's
/// request/reply pairs are mapped so both directions hash alike.
pub fn community_id(seed: u16, proto: u8, src: Endpoint, dst: Endpoint) -> String {
    let (mut s, mut d) = (src, dst);
    let mut one_way = false;
    if proto == 1 || proto == 58 {
        let (ty, code) = (s.port as u8, d.port);
        match icmp_counterpart(proto, ty) {
            Some(other) => d.port = u16::from(other),
            None => {
                d.port = code;
                one_way = true;
            }
        }
    }
    if !one_way && (s.ip, s.port) > (d.ip, d.port) {
        std::mem::swap(&mut s, &mut d);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    match (s.ip, d.ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            h.update(a.octets());
            h.update(b.octets());
        }
        (a, b) => {
            h.update(v6(a));
            h.update(v6(b));
        }
    }
    h.update([proto, 0]);
    h.update(s.port.to_be_bytes());
    h.update(d.port.to_be_bytes());
    let digest = h.finalize();
    format!("1:{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The Community ID spec's two-way ICMP types (request <-> reply).
fn icmp_counterpart(proto: u8, ty: u8) -> Option<u8> {
    const V4: [(u8, u8); 10] =
        [(8, 0), (0, 8), (13, 14), (14, 13), (15, 16), (16, 15), (10, 9), (9, 10), (17, 18), (18, 17)];
    const V6: [(u8, u8); 12] = [
        (128, 129),
        (129, 128),
        (130, 131),
        (131, 130),
        (133, 134),
        (134, 133),
        (135, 136),
        (136, 135),
        (139, 140),
        (140, 139),
        (144, 145),
        (145, 144),
    ];
    let table: &[(u8, u8)] = if proto == 1 { &V4 } else { &V6 };
    table.iter().find(|(t, _)| *t == ty).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: u16) -> Endpoint {
        Endpoint { ip: ip.parse().unwrap(), port }
    }

    // Vectors from the Community ID spec's baseline (community-id-spec, baseline/baseline_deflt.json).
    #[test]
    fn community_id_matches_the_spec_baseline() {
        let c = community_id(0, 6, ep("128.232.110.120", 34855), ep("66.35.250.204", 80));
        assert_eq!(c, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        let back = community_id(0, 6, ep("66.35.250.204", 80), ep("128.232.110.120", 34855));
        assert_eq!(back, c, "both directions hash alike");
    }

    #[test]
    fn community_id_icmp_echo_pairs_fold() {
        let req = community_id(0, 1, ep("192.168.0.89", 8), ep("192.168.0.1", 0));
        let rep = community_id(0, 1, ep("192.168.0.1", 0), ep("192.168.0.89", 0));
        assert_eq!(req, rep);
        assert_eq!(req, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=");
    }

    // Checked with the reference implementation (PyPI `communityid`).
    #[test]
    fn community_id_one_way_icmp_keeps_its_direction() {
        let there = community_id(0, 1, ep("192.168.0.89", 3), ep("192.168.0.1", 1));
        let back = community_id(0, 1, ep("192.168.0.1", 3), ep("192.168.0.89", 1));
        assert_eq!(there, "1:LXCfhMUFbYXe+CEMrQuZCbiLY3o=");
        assert_eq!(back, "1:o3zT92uTgnRWv/YrDVeXcWumpC4=");
    }

    #[test]
    fn community_id_icmpv6_mld_report_pairs_with_the_query() {
        // Checked with the reference implementation (PyPI `communityid`).
        let c = community_id(0, 58, ep("fe80::200:86ff:fe05:80fa", 131), ep("ff05::9999", 0));
        assert_eq!(c, "1:JIRxdW9u79yEjJl0AKBeVJvU1CQ=");
    }

    #[test]
    fn key_is_direction_free() {
        let (a, sa) = FlowKey::new(0, 17, ep("10.0.0.2", 5060), ep("10.0.0.1", 5070));
        let (b, sb) = FlowKey::new(0, 17, ep("10.0.0.1", 5070), ep("10.0.0.2", 5060));
        assert_eq!(a, b);
        assert_ne!(sa, sb);
    }
}
