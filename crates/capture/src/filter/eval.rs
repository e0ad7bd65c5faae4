//! Evaluating a filter on a parsed packet (capture files), with the kernel program's meaning.

use super::{mask_addr, Dirn, Expr, Filter, Prim, Proto};
use iotw_wire::{ipproto, IpHeader, Packet, Transport};
use std::net::IpAddr;

impl Filter {
    /// True when the filter accepts the packet. The empty filter accepts everything.
    pub fn matches(&self, p: &Packet<'_>) -> bool {
        eval(&self.expr, p)
    }

    pub fn is_empty(&self) -> bool {
        self.expr == Expr::True
    }
}

fn eval(e: &Expr, p: &Packet<'_>) -> bool {
    match e {
        Expr::True => true,
        Expr::Prim(prim) => prim_matches(prim, p),
        Expr::Not(a) => !eval(a, p),
        Expr::And(a, b) => eval(a, p) && eval(b, p),
        Expr::Or(a, b) => eval(a, p) || eval(b, p),
    }
}

fn by_dir(dir: Dirn, src: bool, dst: bool) -> bool {
    match dir {
        Dirn::Src => src,
        Dirn::Dst => dst,
        Dirn::SrcOrDst => src || dst,
        Dirn::SrcAndDst => src && dst,
    }
}

fn in_net(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    a.is_ipv4() == net.is_ipv4() && mask_addr(a, prefix) == net
}

fn prim_matches(prim: &Prim, p: &Packet<'_>) -> bool {
    match prim {
        Prim::Vlan(id) => p.vlan_count > 0 && id.is_none_or(|id| p.vlans[..usize::from(p.vlan_count)].contains(&id)),
        Prim::Proto(proto) => {
            let Some(ip) = p.ip else { return false };
            match proto {
                Proto::Ip => matches!(ip, IpHeader::V4(_)),
                Proto::Ip6 => matches!(ip, IpHeader::V6(_)),
                Proto::Tcp => ip.protocol() == ipproto::TCP,
                Proto::Udp => ip.protocol() == ipproto::UDP,
                Proto::Icmp => matches!(ip, IpHeader::V4(_)) && ip.protocol() == ipproto::ICMP,
            }
        }
        Prim::Host { dir, addr } => p.ip.is_some_and(|ip| by_dir(*dir, ip.src() == *addr, ip.dst() == *addr)),
        Prim::Net { dir, addr, prefix } => {
            p.ip.is_some_and(|ip| by_dir(*dir, in_net(ip.src(), *addr, *prefix), in_net(ip.dst(), *addr, *prefix)))
        }
        Prim::Port { dir, proto, lo, hi } => {
            let (sp, dp) = match (p.transport, proto) {
                (Transport::Tcp(h, _), None | Some(Proto::Tcp)) => (h.src_port, h.dst_port),
                (Transport::Udp(h, _), None | Some(Proto::Udp)) => (h.src_port, h.dst_port),
                _ => return false,
            };
            let r = *lo..=*hi;
            by_dir(*dir, r.contains(&sp), r.contains(&dp))
        }
    }
}
