//! Throughput and memory benchmarks (not tests). Run through `scripts/bench.sh`, which also
//! measures tshark on the same file in the same run.
//!
//! `cargo bench -p iotw --bench pipeline -- [CAPTURE] [REPLAYS] [RUNS]`
//!   read + L2-L4 + flows + reassembly over CAPTURE replayed REPLAYS times in one process,
//!   RUNS times; prints the median packets/s on one core.
//! `cargo bench -p iotw --bench pipeline -- --churn [FLOWS]`
//!   FLOWS short TCP connections through the flow table; prints peak RSS as it goes.

use iotw_capture::{CaptureFile, FileLimits};
use iotw_flow::{Dir, EndReason, FlowAnomaly, FlowConfig, FlowHandler, FlowKey, FlowMeta, FlowTable, Payload};
use iotw_wire::{Ipv4Header, LinkType, TcpFlags, TcpHeader};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Consumes what the flow table hands on, as a decoder would see it.
#[derive(Default)]
struct Sink {
    stream_bytes: u64,
    datagrams: u64,
    flows: u64,
}

impl FlowHandler<()> for Sink {
    fn payload(&mut self, _m: &FlowMeta, _u: &mut (), _d: Dir, _ts: i64, p: Payload<'_>) {
        match p {
            Payload::Stream(b) => self.stream_bytes += b.len() as u64,
            Payload::Datagram(_) => self.datagrams += 1,
            Payload::Gap(_) => {}
        }
    }
    fn flow_end(&mut self, _m: &FlowMeta, _u: &mut (), _r: EndReason) {
        self.flows += 1;
    }
    fn anomaly(&mut self, _ts: i64, _k: Option<&FlowKey>, _a: FlowAnomaly) {}
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Reads a shared in-memory copy of the capture, so replays do not copy it.
struct Shared {
    bytes: std::sync::Arc<Vec<u8>>,
    at: usize,
}

impl std::io::Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.bytes[self.at.min(self.bytes.len())..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

fn throughput(path: &Path, replays: u32) -> (u64, f64) {
    let bytes = std::sync::Arc::new(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    let mut table: FlowTable<()> = FlowTable::new(FlowConfig::default());
    let mut sink = Sink::default();
    let mut packets = 0u64;
    let mut shift = 0i64;
    let start = Instant::now();
    for _ in 0..replays {
        let reader = Box::new(Shared { bytes: bytes.clone(), at: 0 });
        let mut f = CaptureFile::from_reader(path, reader, bytes.len() as u64, 0, FileLimits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut last = 0;
        while let Ok(Some(fr)) = f.next_frame() {
            last = fr.ts;
            if let Ok(p) = iotw_wire::parse(fr.link, fr.data) {
                table.packet(fr.ts + shift, fr.orig_len, &p, &mut sink);
            }
            packets += 1;
        }
        // Each replay continues in time after the previous one.
        shift += last + 1;
    }
    table.flush(&mut sink);
    let secs = start.elapsed().as_secs_f64();
    assert!(sink.datagrams + sink.stream_bytes > 0, "the benchmark must reach the payload");
    (packets, secs)
}

fn churn(flows: u64) {
    let cfg = FlowConfig { tcp_closed_linger: 1_000_000_000, ..FlowConfig::default() };
    let mut table: FlowTable<()> = FlowTable::new(cfg);
    let mut sink = Sink::default();
    let mut ts = 1_700_000_000_000_000_000i64;
    let server = (std::net::Ipv4Addr::new(10, 1, 0, 1), 5060u16);
    let mut frame = Vec::with_capacity(128);
    let mut pkt = |table: &mut FlowTable<()>,
                   sink: &mut Sink,
                   ts: i64,
                   src: (std::net::Ipv4Addr, u16),
                   dst: (std::net::Ipv4Addr, u16),
                   seq: u32,
                   flags: u16,
                   data: &[u8]| {
        frame.clear();
        Ipv4Header {
            src: src.0,
            dst: dst.0,
            protocol: 6,
            ttl: 64,
            header_len: 20,
            total_len: 40 + data.len(),
            fragment: None,
        }
        .emit(20 + data.len(), &mut frame);
        TcpHeader {
            src_port: src.1,
            dst_port: dst.1,
            seq,
            ack: 0,
            header_len: 20,
            flags: TcpFlags(flags),
            window: 100,
        }
        .emit(&mut frame);
        frame.extend_from_slice(data);
        if let Ok(p) = iotw_wire::parse(LinkType::RAW, &frame) {
            table.packet(ts, frame.len() as u32, &p, sink);
        }
    };
    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    println!("{:>10} {:>12} {:>14} {:>14}", "flows", "active", "VmRSS KiB", "VmHWM KiB");
    let start = Instant::now();
    for i in 0..flows {
        // 10,000 new connections per second of packet time, each 7 packets long.
        ts += 100_000;
        let client = (std::net::Ipv4Addr::from(0x0a00_0000 + (i as u32 % 1_000_000)), 1024 + (i % 60_000) as u16);
        pkt(&mut table, &mut sink, ts, client, server, 1000, S, b"");
        pkt(&mut table, &mut sink, ts + 10, server, client, 5000, S | A, b"");
        pkt(&mut table, &mut sink, ts + 20, client, server, 1001, A, b"");
        pkt(&mut table, &mut sink, ts + 30, client, server, 1001, A, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        pkt(&mut table, &mut sink, ts + 40, server, client, 5001, A, b"SIP/2.0 200 OK\r\n\r\n");
        pkt(&mut table, &mut sink, ts + 50, client, server, 1026, F | A, b"");
        pkt(&mut table, &mut sink, ts + 60, server, client, 5019, F | A, b"");
        if (i + 1) % (flows / 10).max(1) == 0 {
            println!(
                "{:>10} {:>12} {:>14} {:>14}",
                i + 1,
                table.stats().active_flows,
                rss_kib("VmRSS:"),
                rss_kib("VmHWM:")
            );
        }
    }
    table.flush(&mut sink);
    let secs = start.elapsed().as_secs_f64();
    println!("churn: {flows} flows ({} ended) in {secs:.2} s, {:.0} packets/s", sink.flows, (flows * 7) as f64 / secs);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--churn") {
        churn(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000));
        return;
    }
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/captures/sipp-udp-5000calls.pcapng");
    let path = args.first().map(PathBuf::from).unwrap_or(default);
    let replays: u32 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    let runs: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(5);
    let mut rates = Vec::new();
    for _ in 0..runs {
        let (packets, secs) = throughput(&path, replays);
        rates.push(packets as f64 / secs);
        println!("run: {packets} packets in {secs:.3} s = {:.0} packets/s", packets as f64 / secs);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!("median: {:.0} packets/s over {runs} runs of {replays} replays of {}", rates[runs / 2], path.display());
}
