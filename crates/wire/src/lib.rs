//! Zero-copy views of L2–L4 headers, from a captured frame to its transport payload.
//!
//! Scope: the link types iotw reads (Ethernet, Linux cooked SLL and SLL2, BSD loopback/NULL,
//! raw IPv4/IPv6), 802.1Q/802.1ad VLAN tags (up to [`MAX_VLANS`]), IPv4 with options (RFC 791),
//! IPv6 with its extension headers (RFC 8200 §4), TCP (RFC 9293) and UDP (RFC 768).
//!
//! Not in scope: checksum verification (captures on the sending host carry offloaded, unfinished
//! checksums), MPLS, PPPoE, GRE/VXLAN tunnels, IPsec payloads. Nothing here allocates, reads a
//! clock or performs I/O: every function takes bytes and returns views into them, or a
//! [`WireError`] naming the layer and what was wrong.

mod ip;
mod link;
mod packet;
mod transport;

pub use ip::IpHeader;
pub use ip::{Fragment, Ipv4Header, Ipv6Header};
pub use link::{LinkType, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
pub use packet::{parse, parse_transport, Ip, Packet, Transport, MAX_VLANS};
pub use transport::{TcpFlags, TcpHeader, UdpHeader};

/// IP protocol numbers iotw treats specially (IANA "Assigned Internet Protocol Numbers").
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
}

/// Why a frame could not be viewed. Each variant names the layer that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{layer} header truncated: need {needed} bytes, have {have}")]
    Truncated { layer: &'static str, needed: usize, have: usize },
    #[error("{layer}: {what}")]
    Malformed { layer: &'static str, what: &'static str },
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
}

impl WireError {
    /// A short stable reason code, used as the anomaly's `event.reason`.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Truncated { layer, .. } => match *layer {
                "ethernet" | "vlan" | "sll" | "sll2" | "null" => "l2_truncated",
                "ipv4" | "ipv6" => "ip_truncated",
                _ => "l4_truncated",
            },
            WireError::Malformed { layer, .. } => match *layer {
                "ipv4" | "ipv6" => "ip_malformed",
                "tcp" | "udp" => "l4_malformed",
                _ => "l2_malformed",
            },
            WireError::UnsupportedLinkType(_) => "unsupported_link_type",
        }
    }
}

pub(crate) fn need(layer: &'static str, buf: &[u8], needed: usize) -> Result<(), WireError> {
    if buf.len() < needed {
        Err(WireError::Truncated { layer, needed, have: buf.len() })
    } else {
        Ok(())
    }
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
