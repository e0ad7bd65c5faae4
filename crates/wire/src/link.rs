//! Link layers: Ethernet II with 802.1Q/802.1ad tags, Linux cooked capture v1/v2, BSD NULL/LOOP,
//! raw IP. Link-type numbers are tcpdump.org's LINKTYPE_* registry.

use crate::{be16, need, WireError};
use std::fmt;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// A pcap LINKTYPE_* value. Unknown values are kept and reported, never guessed at.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: Self = Self(0);
    pub const ETHERNET: Self = Self(1);
    pub const RAW: Self = Self(101);
    pub const LOOP: Self = Self(108);
    pub const LINUX_SLL: Self = Self(113);
    pub const IPV4: Self = Self(228);
    pub const IPV6: Self = Self(229);
    pub const LINUX_SLL2: Self = Self(276);

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "NULL",
            Self::ETHERNET => "ETHERNET",
            Self::RAW => "RAW",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            _ => return None,
        })
    }

    pub fn is_supported(self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Unknown({})", self.0),
        }
    }
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What the link layer says the network layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetProto {
    Ipv4,
    Ipv6,
    /// Neither IPv4 nor IPv6 (ARP, LLDP, ...): kept as its EtherType for counting.
    Other(u16),
}

pub(crate) struct LinkView<'a> {
    pub vlans: [u16; crate::MAX_VLANS],
    pub vlan_count: u8,
    pub proto: NetProto,
    pub payload: &'a [u8],
}

/// Strips the link header (and any VLAN tags) from `frame`.
pub(crate) fn strip(link: LinkType, frame: &[u8]) -> Result<LinkView<'_>, WireError> {
    let (ethertype, rest) = match link {
        LinkType::ETHERNET => {
            need("ethernet", frame, 14)?;
            (be16(frame, 12), &frame[14..])
        }
        LinkType::LINUX_SLL => {
            need("sll", frame, 16)?;
            (be16(frame, 14), &frame[16..])
        }
        LinkType::LINUX_SLL2 => {
            need("sll2", frame, 20)?;
            (be16(frame, 0), &frame[20..])
        }
        LinkType::NULL | LinkType::LOOP => {
            need("null", frame, 4)?;
            let raw = [frame[0], frame[1], frame[2], frame[3]];
            // NULL stores the address family in the capturing host's byte order; LOOP in network
            // order. Accept either reading: the values never collide.
            let fam = match (u32::from_le_bytes(raw), u32::from_be_bytes(raw)) {
                (2, _) | (_, 2) => ETHERTYPE_IPV4,
                (10 | 24 | 28 | 30, _) | (_, 10 | 24 | 28 | 30) => ETHERTYPE_IPV6,
                _ => return Err(WireError::Malformed { layer: "null", what: "unknown address family" }),
            };
            (fam, &frame[4..])
        }
        LinkType::RAW => match frame.first().map(|b| b >> 4) {
            Some(4) => (ETHERTYPE_IPV4, frame),
            Some(6) => (ETHERTYPE_IPV6, frame),
            Some(_) => return Err(WireError::Malformed { layer: "ip", what: "version is neither 4 nor 6" }),
            None => return Err(WireError::Truncated { layer: "ip", needed: 1, have: 0 }),
        },
        LinkType::IPV4 => (ETHERTYPE_IPV4, frame),
        LinkType::IPV6 => (ETHERTYPE_IPV6, frame),
        other => return Err(WireError::UnsupportedLinkType(other.0)),
    };
    vlan_walk(ethertype, rest)
}

fn vlan_walk(mut ethertype: u16, mut rest: &[u8]) -> Result<LinkView<'_>, WireError> {
    let mut vlans = [0u16; crate::MAX_VLANS];
    let mut count = 0usize;
    while matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        need("vlan", rest, 4)?;
        if count == crate::MAX_VLANS {
            return Err(WireError::Malformed { layer: "vlan", what: "too many stacked VLAN tags" });
        }
        vlans[count] = be16(rest, 0) & 0x0fff;
        count += 1;
        ethertype = be16(rest, 2);
        rest = &rest[4..];
    }
    let proto = match ethertype {
        ETHERTYPE_IPV4 => NetProto::Ipv4,
        ETHERTYPE_IPV6 => NetProto::Ipv6,
        other => NetProto::Other(other),
    };
    Ok(LinkView { vlans, vlan_count: count as u8, proto, payload: rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qinq_tags_are_read_outer_first() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00, 0x45]);
        let v = strip(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(v.vlan_count, 2);
        assert_eq!(&v.vlans[..2], &[100, 200]);
        assert_eq!(v.proto, NetProto::Ipv4);
        assert_eq!(v.payload, &[0x45]);
    }

    #[test]
    fn bsd_null_reads_either_byte_order() {
        assert_eq!(strip(LinkType::NULL, &[2, 0, 0, 0]).unwrap().proto, NetProto::Ipv4);
        assert_eq!(strip(LinkType::LOOP, &[0, 0, 0, 30]).unwrap().proto, NetProto::Ipv6);
        assert!(strip(LinkType::NULL, &[99, 0, 0, 0]).is_err());
    }

    #[test]
    fn unknown_link_type_is_reported_with_its_number() {
        let e = strip(LinkType(147), &[0; 40]).err();
        assert_eq!(e, Some(WireError::UnsupportedLinkType(147)));
        assert_eq!(LinkType(147).to_string(), "Unknown(147)");
    }

    #[test]
    fn short_ethernet_frame_is_truncated_not_a_panic() {
        assert!(matches!(strip(LinkType::ETHERNET, &[0; 13]), Err(WireError::Truncated { .. })));
    }
}
