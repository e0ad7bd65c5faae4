use super::bpf::{compile, run, Layout};
use super::*;
use iotw_wire::{Ipv4Header, Ipv6Header, LinkType, TcpFlags, TcpHeader, UdpHeader};

fn p(s: &str) -> Expr {
    parse(s).unwrap().expr
}

#[test]
fn primitives_and_qualifiers_parse() {
    assert_eq!(p("src host 10.0.0.1"), Expr::Prim(Prim::Host { dir: Dirn::Src, addr: "10.0.0.1".parse().unwrap() }));
    assert_eq!(
        p("tcp dst portrange 5070-5060"),
        Expr::Prim(Prim::Port { dir: Dirn::Dst, proto: Some(Proto::Tcp), lo: 5060, hi: 5070 })
    );
    assert_eq!(
        p("net 10.0.0.0 mask 255.0.0.0"),
        Expr::Prim(Prim::Net { dir: Dirn::SrcOrDst, addr: "10.0.0.0".parse().unwrap(), prefix: 8 })
    );
    assert_eq!(p("vlan 100"), Expr::Prim(Prim::Vlan(Some(100))));
    assert_eq!(p("port 80 or 443"), p("port 80 or port 443"), "qualifier elision");
    assert_eq!(p("not udp && !(tcp)"), p("not udp and not tcp"));
    assert_eq!(p("src or dst port 5"), p("port 5"));
    assert_eq!(p(""), Expr::True);
}

#[test]
fn mistakes_are_clear_errors() {
    for (f, want) in [
        ("port 99999", "not a port number"),
        ("host example.com", "not an IP address"),
        ("net 10.0.0.1/8", "host bits set"),
        ("tcp[13] & 2 != 0", "not a primitive"),
        ("(tcp", "missing `)`"),
        ("ip6 host 10.0.0.1", "address family"),
        ("vlan 5000", "above 4095"),
        ("tcp and", "ends where a primitive"),
    ] {
        let e = parse(f).unwrap_err();
        assert!(e.to_string().contains(want), "`{f}`: {e}");
    }
}

/// A frame with and without its VLAN tag (the kernel strips it into metadata).
struct Sample {
    tagged: Vec<u8>,
    stripped: Vec<u8>,
    vlan: Option<u16>,
}

fn sample(v6: bool, proto: u8, sport: u16, dport: u16, last_octet: u8, vlan: Option<u16>) -> Sample {
    let mut l4 = Vec::new();
    match proto {
        6 => TcpHeader {
            src_port: sport,
            dst_port: dport,
            seq: 1,
            ack: 0,
            header_len: 20,
            flags: TcpFlags(2),
            window: 1,
        }
        .emit(&mut l4),
        17 => UdpHeader { src_port: sport, dst_port: dport, length: 8 }.emit(&mut l4),
        _ => l4.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]),
    }
    let mut l3 = Vec::new();
    if v6 {
        let src = format!("2001:db8::{last_octet}").parse().unwrap();
        Ipv6Header {
            src,
            dst: "2001:db8:1::2".parse().unwrap(),
            protocol: proto,
            hop_limit: 64,
            header_len: 40,
            total_len: 0,
            fragment: None,
        }
        .emit(l4.len(), &mut l3);
    } else {
        Ipv4Header {
            src: [10, 0, 0, last_octet].into(),
            dst: [192, 168, 1, 2].into(),
            protocol: proto,
            ttl: 64,
            header_len: 20,
            total_len: 0,
            fragment: None,
        }
        .emit(l4.len(), &mut l3);
    }
    l3.extend_from_slice(&l4);
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut stripped = vec![0u8; 12];
    stripped.extend_from_slice(&ethertype);
    stripped.extend_from_slice(&l3);
    let mut tagged = vec![0u8; 12];
    if let Some(id) = vlan {
        tagged.extend_from_slice(&[0x81, 0x00]);
        tagged.extend_from_slice(&id.to_be_bytes());
    }
    tagged.extend_from_slice(&ethertype);
    tagged.extend_from_slice(&l3);
    Sample { tagged, stripped, vlan }
}

fn samples() -> Vec<Sample> {
    let mut v = Vec::new();
    for v6 in [false, true] {
        for proto in [6u8, 17, 1] {
            for (sp, dp) in [(5060u16, 5070u16), (40000, 443), (80, 5060), (6000, 6001)] {
                for last in [1u8, 9] {
                    for vlan in [None, Some(100), Some(7)] {
                        v.push(sample(v6, proto, sp, dp, last, vlan));
                    }
                }
            }
        }
    }
    v
}

#[test]
fn kernel_program_agrees_with_the_evaluator_on_every_sample() {
    let filters = [
        "",
        "tcp",
        "udp",
        "icmp",
        "ip",
        "ip6",
        "vlan",
        "vlan 100",
        "port 5060",
        "src port 5060",
        "dst port 5060",
        "src and dst portrange 5000-6001",
        "tcp port 443",
        "udp portrange 6000-6001",
        "host 10.0.0.1",
        "src host 10.0.0.9",
        "dst host 192.168.1.2",
        "net 10.0.0.0/29",
        "net 10.0.0.8/29",
        "host 2001:db8::1",
        "src net 2001:db8::/120",
        "dst net 2001:db8:1::/48",
        "net 0.0.0.0/0",
        "not port 5060 and (tcp or udp)",
        "host 10.0.0.1 or 10.0.0.9",
        "(udp and port 5060) or (tcp and not vlan 100)",
        "!(src port 80 || dst port 443) && ip6",
    ];
    let all = samples();
    for f in filters {
        let filter = parse(f).unwrap();
        let prog = compile(&filter, Layout::Ethernet, 65535).unwrap();
        let mut hits = 0;
        for s in &all {
            let pkt = iotw_wire::parse(LinkType::ETHERNET, &s.tagged).unwrap();
            let want = filter.matches(&pkt);
            let got = run(&prog, &s.stripped, s.vlan) != 0;
            assert_eq!(got, want, "filter `{f}` on {:?}", pkt);
            hits += usize::from(want);
        }
        if !f.is_empty() && f != "net 0.0.0.0/0" {
            assert!(hits > 0 && hits < all.len(), "`{f}` must split the samples ({hits}/{})", all.len());
        }
    }
}

#[test]
fn raw_ip_and_cooked_layouts_find_the_network_header() {
    let s = sample(false, 17, 5060, 5070, 1, None);
    let l3 = &s.stripped[14..];
    let f = parse("udp port 5070 and host 10.0.0.1").unwrap();
    assert_ne!(run(&compile(&f, Layout::RawIp, 100).unwrap(), l3, None), 0);
    let mut cooked = vec![0u8; 14];
    cooked.extend_from_slice(&[0x08, 0x00]);
    cooked.extend_from_slice(l3);
    assert_ne!(run(&compile(&f, Layout::Cooked, 100).unwrap(), &cooked, None), 0);
    let f = parse("udp port 5071").unwrap();
    assert_eq!(run(&compile(&f, Layout::RawIp, 100).unwrap(), l3, None), 0);
}

#[test]
fn truncated_packets_are_rejected_by_the_program() {
    let s = sample(false, 6, 1, 2, 1, None);
    let f = parse("port 2").unwrap();
    let prog = compile(&f, Layout::Ethernet, 100).unwrap();
    assert_ne!(run(&prog, &s.stripped, None), 0);
    assert_eq!(run(&prog, &s.stripped[..30], None), 0);
}

/// An Ethernet frame of IPv4 from `10.0.0.<last>` carrying UDP: whole (with its header and
/// `port`), or a later fragment (payload bytes only, no ports).
fn udp_v4(last: u8, port: u16, later_fragment: bool) -> Vec<u8> {
    let mut l4 = Vec::new();
    if later_fragment {
        l4.extend_from_slice(&[0x55; 24]);
    } else {
        UdpHeader { src_port: 40000, dst_port: port, length: 8 }.emit(&mut l4);
    }
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    let fragment = later_fragment.then_some(iotw_wire::Fragment { id: 7, offset: 1480, more: false });
    Ipv4Header {
        src: [10, 0, 0, last].into(),
        dst: [192, 168, 1, 2].into(),
        protocol: 17,
        ttl: 64,
        header_len: 20,
        total_len: 0,
        fragment,
    }
    .emit(l4.len(), &mut frame);
    frame.extend_from_slice(&l4);
    frame
}

#[test]
fn a_discovery_filter_keeps_later_fragments_of_its_udp_hosts_in_the_kernel_too() {
    // The shape `iotw discover --write-config` writes: later fragments carry no port, so a UDP
    // service's clause keeps its hosts' portless packets as well.
    let f = "(tcp port 3000 and host 10.0.0.1) or \
             (udp and (host 10.0.0.1 or host 10.0.0.9) and (port 5060 or not portrange 0-65535))";
    let filter = parse(f).unwrap();
    let prog = compile(&filter, Layout::Ethernet, 65535).unwrap();
    for (frame, want) in [
        (udp_v4(1, 5060, false), true),
        (udp_v4(9, 5060, true), true),
        (udp_v4(1, 6000, false), false),
        (udp_v4(5, 5060, true), false),
        (udp_v4(5, 5060, false), false),
    ] {
        let pkt = iotw_wire::parse(LinkType::ETHERNET, &frame).unwrap();
        assert_eq!(filter.matches(&pkt), want, "evaluator on {pkt:?}");
        assert_eq!(run(&prog, &frame, None) != 0, want, "kernel program on {pkt:?}");
    }
}
