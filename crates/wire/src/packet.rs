//! One frame, viewed from the link header down to the transport payload.

use crate::ip::IpHeader;
use crate::link::{strip, NetProto};
use crate::{ipproto, Ipv4Header, Ipv6Header, LinkType, TcpHeader, UdpHeader, WireError};

/// Stacked VLAN tags kept per packet (802.1ad outer + 802.1Q inner).
pub const MAX_VLANS: usize = 2;

pub type Ip = IpHeader;

/// The transport layer of one packet (or of one reassembled datagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp(TcpHeader, &'a [u8]),
    Udp(UdpHeader, &'a [u8]),
    /// A fragment of a larger datagram: its bytes go to defragmentation first.
    Fragment(&'a [u8]),
    /// Another IP protocol (ICMP, SCTP, ESP, ...): the payload as carried.
    Other(&'a [u8]),
    /// Not IP at all (ARP, LLDP, ...).
    NotIp {
        ethertype: u16,
    },
}

/// A frame's parsed headers and payload. All slices borrow from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub vlans: [u16; MAX_VLANS],
    pub vlan_count: u8,
    pub ip: Option<IpHeader>,
    pub transport: Transport<'a>,
    /// The IP datagram claims more bytes than were captured (snaplen).
    pub truncated: bool,
}

impl Packet<'_> {
    /// The VLAN id that scopes a flow: the innermost tag, 0 when untagged.
    pub fn vlan(&self) -> u16 {
        match self.vlan_count {
            0 => 0,
            n => self.vlans[usize::from(n) - 1],
        }
    }
}

/// Parses `frame` as captured on a link of type `link`.
pub fn parse(link: LinkType, frame: &[u8]) -> Result<Packet<'_>, WireError> {
    let lv = strip(link, frame)?;
    let (ip, payload) = match lv.proto {
        NetProto::Ipv4 => {
            let (h, p) = Ipv4Header::parse(lv.payload)?;
            (IpHeader::V4(h), p)
        }
        NetProto::Ipv6 => {
            let (h, p) = Ipv6Header::parse(lv.payload)?;
            (IpHeader::V6(h), p)
        }
        NetProto::Other(ethertype) => {
            return Ok(Packet {
                vlans: lv.vlans,
                vlan_count: lv.vlan_count,
                ip: None,
                transport: Transport::NotIp { ethertype },
                truncated: false,
            })
        }
    };
    let truncated = ip.header_len() + payload.len() < ip.total_len();
    let transport =
        if ip.fragment().is_some() { Transport::Fragment(payload) } else { parse_transport(ip.protocol(), payload)? };
    Ok(Packet { vlans: lv.vlans, vlan_count: lv.vlan_count, ip: Some(ip), transport, truncated })
}

/// Parses a transport header: used for whole packets and for reassembled datagrams.
pub fn parse_transport(protocol: u8, payload: &[u8]) -> Result<Transport<'_>, WireError> {
    Ok(match protocol {
        ipproto::TCP => {
            let (h, p) = TcpHeader::parse(payload)?;
            Transport::Tcp(h, p)
        }
        ipproto::UDP => {
            let (h, p) = UdpHeader::parse(payload)?;
            Transport::Udp(h, p)
        }
        _ => Transport::Other(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fragment, TcpFlags};
    use std::net::Ipv4Addr;

    fn eth_ipv4_udp(fragment: Option<Fragment>) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let ip = Ipv4Header {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(192, 0, 2, 2),
            protocol: ipproto::UDP,
            ttl: 64,
            header_len: 20,
            total_len: 31,
            fragment,
        };
        ip.emit(11, &mut f);
        UdpHeader { src_port: 5060, dst_port: 5070, length: 11 }.emit(&mut f);
        f.extend_from_slice(b"SIP");
        f
    }

    #[test]
    fn ethernet_ipv4_udp_reaches_the_payload() {
        let f = eth_ipv4_udp(None);
        let p = parse(LinkType::ETHERNET, &f).unwrap();
        assert!(!p.truncated);
        match p.transport {
            Transport::Udp(h, payload) => {
                assert_eq!((h.src_port, h.dst_port), (5060, 5070));
                assert_eq!(payload, b"SIP");
            }
            other => panic!("expected UDP, got {other:?}"),
        }
    }

    #[test]
    fn fragments_are_not_parsed_as_transport() {
        let f = eth_ipv4_udp(Some(Fragment { id: 9, offset: 0, more: true }));
        let p = parse(LinkType::ETHERNET, &f).unwrap();
        assert!(matches!(p.transport, Transport::Fragment(b) if b.len() == 11));
    }

    #[test]
    fn snaplen_cut_is_flagged() {
        let f = eth_ipv4_udp(None);
        let p = parse(LinkType::ETHERNET, &f[..f.len() - 2]).unwrap();
        assert!(p.truncated);
    }

    #[test]
    fn raw_ip_link_types_parse_tcp() {
        let mut f = Vec::new();
        let ip = Ipv4Header {
            src: Ipv4Addr::LOCALHOST,
            dst: Ipv4Addr::LOCALHOST,
            protocol: ipproto::TCP,
            ttl: 64,
            header_len: 20,
            total_len: 40,
            fragment: None,
        };
        ip.emit(20, &mut f);
        let tcp = TcpHeader {
            src_port: 1,
            dst_port: 2,
            seq: 3,
            ack: 0,
            header_len: 20,
            flags: TcpFlags(TcpFlags::SYN),
            window: 0,
        };
        tcp.emit(&mut f);
        for lt in [LinkType::RAW, LinkType::IPV4] {
            assert!(matches!(parse(lt, &f).unwrap().transport, Transport::Tcp(h, _) if h == tcp));
        }
    }
}
