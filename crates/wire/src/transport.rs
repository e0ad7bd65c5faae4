//! TCP (RFC 9293 §3.1) and UDP (RFC 768) headers.

use crate::{be16, be32, need, WireError};
use std::fmt;

/// TCP control bits, including ECE/CWR (RFC 3168) and the historic NS bit.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;

    #[inline]
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    pub fn fin(self) -> bool {
        self.has(Self::FIN)
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u16, char); 6] = [
            (TcpFlags::SYN, 'S'),
            (TcpFlags::FIN, 'F'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
        ];
        for (bit, c) in NAMES {
            if self.has(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub header_len: usize,
    pub flags: TcpFlags,
    pub window: u16,
}

impl TcpHeader {
    pub const MIN_LEN: usize = 20;

    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8]), WireError> {
        need("tcp", buf, Self::MIN_LEN)?;
        let header_len = usize::from(buf[12] >> 4) * 4;
        if header_len < Self::MIN_LEN {
            return Err(WireError::Malformed { layer: "tcp", what: "data offset below 5" });
        }
        need("tcp", buf, header_len)?;
        let h = TcpHeader {
            src_port: be16(buf, 0),
            dst_port: be16(buf, 2),
            seq: be32(buf, 4),
            ack: be32(buf, 8),
            header_len,
            flags: TcpFlags(be16(buf, 12) & 0x01ff),
            window: be16(buf, 14),
        };
        Ok((h, &buf[header_len..]))
    }

    /// Writes a 20-byte header, checksum left zero.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        out.extend_from_slice(&((5u16 << 12) | (self.flags.0 & 0x01ff)).to_be_bytes());
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    /// The UDP length field (header + payload) as claimed.
    pub length: u16,
}

impl UdpHeader {
    pub const LEN: usize = 8;

    /// Returns the header and its payload, trimmed to the UDP length when that is shorter than
    /// what the IP layer carried. A UDP length below 8 is malformed.
    pub fn parse(buf: &[u8]) -> Result<(Self, &[u8]), WireError> {
        need("udp", buf, Self::LEN)?;
        let length = be16(buf, 4);
        // Length 0 is legal for IPv6 jumbograms; otherwise it must at least cover the header.
        if length != 0 && usize::from(length) < Self::LEN {
            return Err(WireError::Malformed { layer: "udp", what: "length below 8" });
        }
        let end = if length == 0 { buf.len() } else { usize::from(length).min(buf.len()) };
        let h = UdpHeader { src_port: be16(buf, 0), dst_port: be16(buf, 2), length };
        Ok((h, &buf[Self::LEN..end]))
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_round_trips() {
        let h = TcpHeader {
            src_port: 5060,
            dst_port: 40000,
            seq: 0xfffffff0,
            ack: 7,
            header_len: 20,
            flags: TcpFlags(TcpFlags::SYN | TcpFlags::ACK),
            window: 65535,
        };
        let mut b = Vec::new();
        h.emit(&mut b);
        b.extend_from_slice(b"hi");
        let (p, payload) = TcpHeader::parse(&b).unwrap();
        assert_eq!(p, h);
        assert_eq!(payload, b"hi");
        assert_eq!(format!("{:?}", p.flags), "S.");
    }

    #[test]
    fn tcp_data_offset_past_the_segment_is_truncated() {
        let mut b = vec![0u8; 20];
        b[12] = 0xf0;
        assert!(matches!(TcpHeader::parse(&b), Err(WireError::Truncated { .. })));
        b[12] = 0x40;
        assert!(matches!(TcpHeader::parse(&b), Err(WireError::Malformed { .. })));
    }

    #[test]
    fn udp_length_trims_and_is_checked() {
        let h = UdpHeader { src_port: 1, dst_port: 2, length: 10 };
        let mut b = Vec::new();
        h.emit(&mut b);
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(UdpHeader::parse(&b).unwrap(), (h, &[1u8, 2][..]));
        b[5] = 3;
        assert!(UdpHeader::parse(&b).is_err());
    }
}
