use super::*;
use iotw_wire::{Fragment, Ipv4Header, LinkType, TcpFlags, UdpHeader};
use std::net::Ipv4Addr;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn ip(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: Option<Fragment>, payload_len: usize, out: &mut Vec<u8>) {
    Ipv4Header { src, dst, protocol: proto, ttl: 64, header_len: 20, total_len: 20 + payload_len, fragment: frag }
        .emit(payload_len, out);
}

fn tcp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), seq: u32, flags: u16, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    ip(src.0, dst.0, 6, None, 20 + data.len(), &mut f);
    TcpHeader { src_port: src.1, dst_port: dst.1, seq, ack: 0, header_len: 20, flags: TcpFlags(flags), window: 1000 }
        .emit(&mut f);
    f.extend_from_slice(data);
    f
}

#[derive(Default)]
struct Rec {
    stream: [Vec<u8>; 2],
    gaps: u64,
    datagrams: Vec<Vec<u8>>,
    ended: Vec<(FlowMeta, EndReason)>,
    updates: u32,
    anomalies: Vec<&'static str>,
}

impl FlowHandler<u32> for Rec {
    fn payload(&mut self, _m: &FlowMeta, user: &mut u32, dir: Dir, _ts: Nanos, p: Payload<'_>) {
        *user += 1;
        match p {
            Payload::Stream(b) => self.stream[dir.index()].extend_from_slice(b),
            Payload::Gap(n) => self.gaps += n,
            Payload::Datagram(b) => self.datagrams.push(b.to_vec()),
        }
    }
    fn flow_end(&mut self, m: &FlowMeta, _user: &mut u32, reason: EndReason) {
        self.ended.push((m.clone(), reason));
    }
    fn flow_update(&mut self, _m: &FlowMeta, _user: &mut u32) {
        self.updates += 1;
    }
    fn anomaly(&mut self, _ts: Nanos, _k: Option<&FlowKey>, a: FlowAnomaly) {
        self.anomalies.push(a.code());
    }
}

fn feed(t: &mut FlowTable<u32>, r: &mut Rec, ts: Nanos, frame: &[u8]) {
    let p = iotw_wire::parse(LinkType::RAW, frame).unwrap();
    t.packet(ts, frame.len() as u32, &p, r);
}

const S: u16 = TcpFlags::SYN;
const K: u16 = TcpFlags::ACK;
const F: u16 = TcpFlags::FIN;

#[test]
fn tcp_connection_is_one_flow_with_streams_counts_and_state() {
    let mut t = FlowTable::<u32>::new(FlowConfig::default());
    let mut r = Rec::default();
    let (c, s) = ((A, 40000), (B, 5060));
    feed(&mut t, &mut r, 1, &tcp(c, s, 100, S, b""));
    feed(&mut t, &mut r, 2, &tcp(s, c, 900, S | K, b""));
    feed(&mut t, &mut r, 3, &tcp(c, s, 101, K, b""));
    feed(&mut t, &mut r, 4, &tcp(c, s, 105, K, b"DEF"));
    feed(&mut t, &mut r, 5, &tcp(c, s, 101, K, b"ABCD"));
    feed(&mut t, &mut r, 6, &tcp(s, c, 901, K, b"reply"));
    feed(&mut t, &mut r, 7, &tcp(c, s, 108, F | K, b""));
    feed(&mut t, &mut r, 8, &tcp(s, c, 906, F | K, b""));
    assert_eq!(r.stream[0], b"ABCDDEF");
    assert_eq!(r.stream[1], b"reply");
    assert!(r.ended.is_empty(), "closed flows linger");
    t.advance(8 + 5 * SEC, &mut r);
    let (m, why) = &r.ended[0];
    assert_eq!(*why, EndReason::Closed);
    assert_eq!(m.orig, Endpoint { ip: A.into(), port: 40000 });
    assert_eq!(m.counts[0].packets, 5);
    assert_eq!(m.counts[1].packets, 3);
    assert_eq!(m.counts[0].bytes, 5 * 40 + 7);
    let st = m.tcp.as_ref().unwrap();
    assert_eq!(st.conn_state(), "SF");
    assert_eq!(st.history.as_str(), "ShADdFf");
    assert_eq!(t.stats().active_flows, 0);
}

#[test]
fn syn_ack_first_flips_the_originator() {
    let mut t = FlowTable::<u32>::new(FlowConfig::default());
    let mut r = Rec::default();
    feed(&mut t, &mut r, 1, &tcp((B, 80), (A, 5555), 1, S | K, b""));
    t.flush(&mut r);
    let (m, why) = &r.ended[0];
    assert_eq!(*why, EndReason::CaptureEnd);
    assert_eq!(m.orig.port, 5555);
    assert!(m.tcp.as_ref().unwrap().history.as_str().starts_with('^'));
}

#[test]
fn port_reuse_after_close_starts_a_new_flow() {
    let mut t = FlowTable::<u32>::new(FlowConfig::default());
    let mut r = Rec::default();
    let (c, s) = ((A, 1), (B, 2));
    feed(&mut t, &mut r, 1, &tcp(c, s, 0, S, b""));
    feed(&mut t, &mut r, 2, &tcp(s, c, 0, TcpFlags::RST | K, b""));
    feed(&mut t, &mut r, 3, &tcp(c, s, 500, S, b""));
    assert_eq!(r.ended.len(), 1);
    assert_eq!(r.ended[0].1, EndReason::Reused);
    assert_eq!(r.ended[0].0.tcp.as_ref().unwrap().conn_state(), "REJ");
    assert_eq!(t.stats().flows_created, 2);
}

#[test]
fn udp_idle_timeout_and_active_reports() {
    let cfg = FlowConfig { active_report: Some(10 * SEC), ..FlowConfig::default() };
    let mut t = FlowTable::<u32>::new(cfg);
    let mut r = Rec::default();
    let mut f = Vec::new();
    ip(A, B, 17, None, 11, &mut f);
    UdpHeader { src_port: 5060, dst_port: 5070, length: 11 }.emit(&mut f);
    f.extend_from_slice(b"SIP");
    for i in 0..5 {
        feed(&mut t, &mut r, i * 5 * SEC, &f);
    }
    assert_eq!(r.datagrams.len(), 5);
    assert_eq!(r.updates, 2, "reports at 10 s and 20 s");
    t.advance(20 * SEC + 60 * SEC, &mut r);
    assert_eq!(r.ended.len(), 1);
    assert_eq!(r.ended[0].1, EndReason::Idle);
}

#[test]
fn fragmented_udp_reaches_the_flow_reassembled() {
    let mut t = FlowTable::<u32>::new(FlowConfig::default());
    let mut r = Rec::default();
    let mut payload = Vec::new();
    UdpHeader { src_port: 5060, dst_port: 5060, length: 8 + 20 }.emit(&mut payload);
    payload.extend_from_slice(b"INVITE sip:x SIP/2.0");
    let (a, b) = payload.split_at(16);
    let mut f1 = Vec::new();
    ip(A, B, 17, Some(Fragment { id: 3, offset: 0, more: true }), a.len(), &mut f1);
    f1.extend_from_slice(a);
    let mut f2 = Vec::new();
    ip(A, B, 17, Some(Fragment { id: 3, offset: 16, more: false }), b.len(), &mut f2);
    f2.extend_from_slice(b);
    feed(&mut t, &mut r, 1, &f2);
    feed(&mut t, &mut r, 2, &f1);
    assert_eq!(r.datagrams, vec![b"INVITE sip:x SIP/2.0".to_vec()]);
    t.flush(&mut r);
    let m = &r.ended[0].0;
    assert_eq!(m.counts[0].packets, 2, "both fragments count toward the flow");
    assert_eq!(m.counts[0].bytes, (f1.len() + f2.len()) as u64);
}

#[test]
fn full_table_evicts_the_oldest_and_counts_it() {
    let cfg = FlowConfig { max_flows: 100, ..FlowConfig::default() };
    let mut t = FlowTable::<u32>::new(cfg);
    let mut r = Rec::default();
    for port in 0..1000u16 {
        feed(&mut t, &mut r, i64::from(port), &tcp((A, port), (B, 80), 0, S, b""));
    }
    assert_eq!(t.stats().active_flows, 100);
    assert_eq!(t.stats().flows_evicted, 900);
    assert_eq!(r.ended[0].0.orig.port, 0, "oldest first");
    assert!(r.anomalies.iter().all(|a| *a == "flow_table_full"));
}

#[test]
fn missing_tcp_bytes_reach_the_consumer_as_a_gap_at_the_end() {
    let mut t = FlowTable::<u32>::new(FlowConfig::default());
    let mut r = Rec::default();
    let (c, s) = ((A, 1), (B, 2));
    feed(&mut t, &mut r, 1, &tcp(c, s, 0, S, b""));
    feed(&mut t, &mut r, 2, &tcp(c, s, 1, K, b"ab"));
    feed(&mut t, &mut r, 3, &tcp(c, s, 10, K, b"xy"));
    t.flush(&mut r);
    assert_eq!(r.stream[0], b"abxy");
    assert_eq!(r.gaps, 7);
    assert!(r.ended[0].0.tcp.as_ref().unwrap().history.as_str().contains('G'));
    assert_eq!(t.stats().buffered_bytes, 0);
}

/// Asks to keep every flow that has carried at least two datagrams.
struct Keep(Rec);

impl FlowHandler<u32> for Keep {
    fn payload(&mut self, m: &FlowMeta, user: &mut u32, dir: Dir, ts: Nanos, p: Payload<'_>) {
        self.0.payload(m, user, dir, ts, p);
    }
    fn flow_end(&mut self, m: &FlowMeta, user: &mut u32, reason: EndReason) {
        self.0.flow_end(m, user, reason);
    }
    fn anomaly(&mut self, ts: Nanos, k: Option<&FlowKey>, a: FlowAnomaly) {
        self.0.anomaly(ts, k, a);
    }
    fn long_lived(&self, user: &u32) -> bool {
        *user >= 2
    }
}

#[test]
fn udp_signalling_flows_outlive_the_udp_idle_timeout() {
    let cfg = FlowConfig { udp_idle: 60 * SEC, signalling_idle: 3600 * SEC, ..FlowConfig::default() };
    let mut t = FlowTable::<u32>::new(cfg);
    let mut k = Keep(Rec::default());
    let mut f = Vec::new();
    ip(A, B, 17, None, 11, &mut f);
    UdpHeader { src_port: 5060, dst_port: 5070, length: 11 }.emit(&mut f);
    f.extend_from_slice(b"SIP");
    for ts in [0, SEC] {
        let p = iotw_wire::parse(LinkType::RAW, &f).unwrap();
        t.packet(ts, f.len() as u32, &p, &mut k);
    }
    t.advance(30 * 60 * SEC, &mut k);
    assert!(k.0.ended.is_empty(), "a call's signalling may be quiet for half an hour");
    let p = iotw_wire::parse(LinkType::RAW, &f).unwrap();
    t.packet(30 * 60 * SEC, f.len() as u32, &p, &mut k);
    assert_eq!(t.stats().flows_created, 1, "the BYE finds the same flow");
    t.advance(30 * 60 * SEC + 3601 * SEC, &mut k);
    assert_eq!(k.0.ended.len(), 1);
    assert_eq!(k.0.ended[0].1, EndReason::Idle);
}
