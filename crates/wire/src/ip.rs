//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers as parsed values, with fragment information.
//! Options and extension headers are walked over, not interpreted, except the IPv6 Fragment
//! header (RFC 8200 §4.5).

use crate::{be16, be32, need, WireError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where a fragment sits in its original datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 Identification (16 bits) or IPv6 Fragment header Identification (32 bits).
    pub id: u32,
    /// Offset of this fragment's payload in the reassembled payload, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// A parsed IPv4 header. `payload_len` is what the header claims, before snaplen truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub header_len: usize,
    pub total_len: usize,
    pub fragment: Option<Fragment>,
}

mod v4 {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const MIN_LEN: usize = 20;
}

impl Ipv4Header {
    /// Parses an IPv4 header and returns it with its payload, trimmed to the claimed total
    /// length (dropping link-layer padding) or cut short by the snapshot length.
    /// A total length of 0 (TCP segmentation offload on the capturing host) means "all of it".
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8]), WireError> {
        need("ipv4", buf, v4::MIN_LEN)?;
        if buf[v4::VER_IHL] >> 4 != 4 {
            return Err(WireError::Malformed { layer: "ipv4", what: "version is not 4" });
        }
        let header_len = usize::from(buf[v4::VER_IHL] & 0x0f) * 4;
        if header_len < v4::MIN_LEN {
            return Err(WireError::Malformed { layer: "ipv4", what: "header length below 20" });
        }
        need("ipv4", buf, header_len)?;
        let mut total_len = usize::from(be16(buf, v4::TOTAL_LEN));
        if total_len == 0 {
            total_len = buf.len();
        }
        if total_len < header_len {
            return Err(WireError::Malformed { layer: "ipv4", what: "total length below header length" });
        }
        let ff = be16(buf, v4::FLAGS_FRAG);
        let more = ff & 0x2000 != 0;
        let offset = u32::from(ff & 0x1fff) * 8;
        let fragment = (more || offset != 0).then_some(Fragment { id: u32::from(be16(buf, v4::IDENT)), offset, more });
        let end = total_len.min(buf.len());
        let h = Ipv4Header {
            src: Ipv4Addr::new(buf[v4::SRC], buf[v4::SRC + 1], buf[v4::SRC + 2], buf[v4::SRC + 3]),
            dst: Ipv4Addr::new(buf[v4::DST], buf[v4::DST + 1], buf[v4::DST + 2], buf[v4::DST + 3]),
            protocol: buf[v4::PROTOCOL],
            ttl: buf[v4::TTL],
            header_len,
            total_len,
            fragment,
        };
        Ok((h, &buf[header_len..end]))
    }

    /// Writes a 20-byte header (no options, checksum computed) for `payload_len` bytes of payload.
    pub fn emit(&self, payload_len: usize, out: &mut Vec<u8>) {
        let total = (v4::MIN_LEN + payload_len) as u16;
        let (id, ff) = match self.fragment {
            Some(f) => (f.id as u16, ((f.offset / 8) as u16) | if f.more { 0x2000 } else { 0 }),
            None => (0, 0),
        };
        let start = out.len();
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&ff.to_be_bytes());
        out.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        let sum = checksum(&out[start..]);
        out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
    }
}

/// RFC 1071 Internet checksum.
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A parsed IPv6 header after walking its extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after all extension headers.
    pub protocol: u8,
    pub hop_limit: u8,
    /// Fixed header plus extension headers.
    pub header_len: usize,
    /// 40 + Payload Length as claimed by the header.
    pub total_len: usize,
    pub fragment: Option<Fragment>,
}

/// At most this many extension headers are walked; more is reported as malformed.
pub const MAX_IPV6_EXTENSION_HEADERS: usize = 8;

impl Ipv6Header {
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8]), WireError> {
        need("ipv6", buf, 40)?;
        if buf[0] >> 4 != 6 {
            return Err(WireError::Malformed { layer: "ipv6", what: "version is not 6" });
        }
        let payload_len = usize::from(be16(buf, 4));
        // Payload length 0 is a jumbogram or offload artefact: take what was captured.
        let total_len = if payload_len == 0 { buf.len() } else { 40 + payload_len };
        let end = total_len.min(buf.len());
        let mut next = buf[6];
        let mut at = 40usize;
        let mut fragment = None;
        let mut walked = 0;
        loop {
            match next {
                // Hop-by-Hop, Routing, Destination Options, Mobility, HIP, Shim6, experimental.
                0 | 43 | 60 | 135 | 139 | 140 | 253 | 254 => {
                    need("ipv6", &buf[..end], at + 8)?;
                    let len = (usize::from(buf[at + 1]) + 1) * 8;
                    next = buf[at];
                    at += len;
                }
                44 => {
                    need("ipv6", &buf[..end], at + 8)?;
                    let ol = be16(buf, at + 2);
                    fragment =
                        Some(Fragment { id: be32(buf, at + 4), offset: u32::from(ol & 0xfff8), more: ol & 1 != 0 });
                    next = buf[at];
                    at += 8;
                }
                // Authentication Header: length in 4-octet units, minus 2.
                51 => {
                    need("ipv6", &buf[..end], at + 8)?;
                    let len = (usize::from(buf[at + 1]) + 2) * 4;
                    next = buf[at];
                    at += len;
                }
                _ => break,
            }
            walked += 1;
            if walked > MAX_IPV6_EXTENSION_HEADERS {
                return Err(WireError::Malformed { layer: "ipv6", what: "extension header chain too long" });
            }
            if at > end {
                return Err(WireError::Truncated { layer: "ipv6", needed: at, have: end });
            }
            // A fragment that is not the first carries no further headers we can read.
            if matches!(fragment, Some(f) if f.offset != 0) {
                break;
            }
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&buf[8..24]);
        let mut b = [0u8; 16];
        b.copy_from_slice(&buf[24..40]);
        let h = Ipv6Header {
            src: Ipv6Addr::from(a),
            dst: Ipv6Addr::from(b),
            protocol: next,
            hop_limit: buf[7],
            header_len: at,
            total_len,
            fragment,
        };
        Ok((h, &buf[at..end]))
    }

    /// Writes a 40-byte header followed, when `fragment` is set, by a Fragment extension header.
    pub fn emit(&self, payload_len: usize, out: &mut Vec<u8>) {
        let ext = if self.fragment.is_some() { 8 } else { 0 };
        out.extend_from_slice(&[0x60, 0, 0, 0]);
        out.extend_from_slice(&((payload_len + ext) as u16).to_be_bytes());
        out.push(if self.fragment.is_some() { 44 } else { self.protocol });
        out.push(self.hop_limit);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        if let Some(f) = self.fragment {
            out.extend_from_slice(&[self.protocol, 0]);
            out.extend_from_slice(&((f.offset as u16 & 0xfff8) | u16::from(f.more)).to_be_bytes());
            out.extend_from_slice(&f.id.to_be_bytes());
        }
    }
}

/// The parsed network layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpHeader {
    V4(Ipv4Header),
    V6(Ipv6Header),
}

impl IpHeader {
    pub fn src(&self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::V4(h.src),
            IpHeader::V6(h) => IpAddr::V6(h.src),
        }
    }
    pub fn dst(&self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::V4(h.dst),
            IpHeader::V6(h) => IpAddr::V6(h.dst),
        }
    }
    pub fn protocol(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.protocol,
            IpHeader::V6(h) => h.protocol,
        }
    }
    pub fn fragment(&self) -> Option<Fragment> {
        match self {
            IpHeader::V4(h) => h.fragment,
            IpHeader::V6(h) => h.fragment,
        }
    }
    pub fn total_len(&self) -> usize {
        match self {
            IpHeader::V4(h) => h.total_len,
            IpHeader::V6(h) => h.total_len,
        }
    }
    pub fn header_len(&self) -> usize {
        match self {
            IpHeader::V4(h) => h.header_len,
            IpHeader::V6(h) => h.header_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_round_trips_and_trims_link_padding() {
        let h = Ipv4Header {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: 17,
            ttl: 64,
            header_len: 20,
            total_len: 24,
            fragment: None,
        };
        let mut b = Vec::new();
        h.emit(4, &mut b);
        b.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0]); // 3 bytes of Ethernet padding
        let (p, payload) = Ipv4Header::parse(&b).unwrap();
        assert_eq!(p, h);
        assert_eq!(payload, &[1, 2, 3, 4]);
        assert_eq!(checksum(&b[..20]), 0);
    }

    #[test]
    fn ipv4_options_are_skipped() {
        let mut b = vec![0x46, 0, 0, 28, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        b.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        b.extend_from_slice(&[9, 9, 9, 9]);
        let (h, payload) = Ipv4Header::parse(&b).unwrap();
        assert_eq!(h.header_len, 24);
        assert_eq!(payload, &[9, 9, 9, 9]);
    }

    #[test]
    fn ipv4_impossible_lengths_are_errors() {
        let mut b = vec![0x44, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        assert!(Ipv4Header::parse(&b).is_err(), "IHL 4 is below the minimum");
        b[0] = 0x45;
        b[3] = 10;
        assert!(Ipv4Header::parse(&b).is_err(), "total length below header length");
        b[0] = 0x4f;
        assert!(matches!(Ipv4Header::parse(&b), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn ipv6_fragment_header_is_found_behind_hop_by_hop() {
        let mut b = vec![0x60, 0, 0, 0, 0, 20, 0, 64];
        b.extend_from_slice(&[0; 32]);
        b.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]); // Hop-by-Hop, 8 bytes, next = Fragment
        b.extend_from_slice(&[17, 0, 0x05, 0x41, 0xde, 0xad, 0xbe, 0xef]); // offset 0x540 (1344), M=1
        b.extend_from_slice(&[7, 7, 7, 7]);
        let (h, payload) = Ipv6Header::parse(&b).unwrap();
        assert_eq!(h.protocol, 17);
        assert_eq!(h.fragment, Some(Fragment { id: 0xdeadbeef, offset: 1344, more: true }));
        assert_eq!(payload, &[7, 7, 7, 7]);
    }

    #[test]
    fn ipv6_extension_header_past_the_end_is_truncated() {
        let mut b = vec![0x60, 0, 0, 0, 0, 8, 0, 64];
        b.extend_from_slice(&[0; 32]);
        b.extend_from_slice(&[17, 200, 0, 0, 0, 0, 0, 0]); // claims 1608 bytes
        assert!(Ipv6Header::parse(&b).is_err());
    }
}
