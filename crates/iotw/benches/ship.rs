//! Shipping benchmark (not a test): the documents of a capture, made once, then
//!   1. encoded into spool records (`encode_batch`), and
//!   2. delivered from a spool as gzip `_bulk` requests to a loopback HTTP server that reads
//!      each request, counts its documents and answers 201 for each (it stores nothing),
//!
//! with the CPU time of this process (client and loopback server together) and the wall time.
//!
//! `cargo bench -p iotw --bench ship -- [CAPTURE] [RUNS]`  (run by `scripts/bench.sh`)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw_event::Event;
use iotw_ship::elastic::{Auth, Delivery, Elastic, ElasticConfig, IndexMode};
use iotw_ship::spool::{encode_batch, Fsync, Spool, SpoolConfig, WhenFull};
use iotw_ship::ShipCounters;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn documents(capture: &std::path::Path) -> Vec<Event> {
    iotw::pipeline::documents_of(capture, &iotw::config::Config::default()).expect("capture decodes")
}

/// CPU time of this process (user + system), from /proc.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = tick(11) + tick(12);
    Duration::from_millis(ticks * 10)
}

/// A loopback `_bulk` endpoint: answers every document with 201, keeps nothing.
fn discard_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let _ = c.set_nodelay(true);
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut w = c;
                loop {
                    let mut len = 0usize;
                    let mut gzip = false;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        gzip |= lower.starts_with("content-encoding: gzip");
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut plain = Vec::new();
                    if gzip {
                        let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain);
                    } else {
                        plain = body;
                    }
                    let docs = plain.iter().filter(|&&b| b == b'\n').count() / 2;
                    let mut answer = String::with_capacity(docs * 26 + 32);
                    answer.push_str("{\"errors\":false,\"items\":[");
                    for i in 0..docs {
                        answer.push_str(if i == 0 {
                            "{\"create\":{\"status\":201}}"
                        } else {
                            ",{\"create\":{\"status\":201}}"
                        });
                    }
                    answer.push_str("]}");
                    let whole = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if w.write_all(whole.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let capture = PathBuf::from(
        args.first().cloned().unwrap_or_else(|| "../../../shared/captures/sipp-udp-5000calls.pcapng".into()),
    );
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let docs = documents(&capture);
    let n = docs.len();
    let json_bytes: usize = docs.iter().map(|d| d.to_json().len()).sum();
    println!("{}: {n} documents, {json_bytes} bytes of JSON", capture.display());

    // 1. Spool records.
    let mut enc = Vec::new();
    for _ in 0..runs {
        let (c0, t0) = (cpu(), Instant::now());
        let mut rec = Vec::new();
        let mut total = 0;
        for b in docs.chunks(256) {
            encode_batch(b, &mut rec);
            total += rec.len();
        }
        std::hint::black_box(total);
        enc.push((n as f64 / t0.elapsed().as_secs_f64(), (cpu() - c0).as_secs_f64()));
    }
    println!("spool records: median {:.0} documents/s (one core)", median(enc.iter().map(|e| e.0).collect()));

    // 2. Spool -> gzip bulk -> loopback, one worker.
    let url = discard_server();
    let mut rates = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            max_bytes: 8 << 30,
            segment_bytes: 64 << 20,
            fsync: Fsync::Never,
            when_full: WhenFull::Block,
        };
        let spool = Arc::new(Spool::open(dir.path(), cfg).unwrap());
        let stop = AtomicBool::new(false);
        let mut rec = Vec::new();
        for b in docs.chunks(256) {
            encode_batch(b, &mut rec);
            spool.append(&rec, &stop).unwrap();
        }
        let counters = Arc::new(ShipCounters::default());
        let es = Elastic::new(
            ElasticConfig {
                urls: vec![url.clone()],
                auth: Auth::None,
                ca_file: None,
                insecure: false,
                gzip: true,
                index: IndexMode::Daily { prefix: "iotw".into() },
                max_documents: 1000,
                max_bytes: 5 << 20,
                flush_interval: Duration::from_millis(1),
                concurrency: 1,
                timeout: Duration::from_secs(30),
                retry_initial: Duration::from_millis(10),
                retry_max: Duration::from_millis(100),
                dead_letter: dir.path().join("dead"),
            },
            counters.clone(),
        )
        .unwrap();
        let (c0, t0) = (cpu(), Instant::now());
        let delivery = Delivery::start(Arc::new(es), spool.clone());
        while !spool.is_drained() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let (wall, cpu_s) = (t0.elapsed().as_secs_f64(), (cpu() - c0).as_secs_f64());
        delivery.stop();
        assert_eq!(counters.stored.load(Ordering::Relaxed), n as u64);
        rates.push((n as f64 / wall, n as f64 / cpu_s.max(1e-3)));
    }
    println!(
        "bulk delivery (gzip, 1000 per request) to a loopback server that discards: median {:.0} documents/s wall, \
         {:.0} documents per CPU second (client and server together)",
        median(rates.iter().map(|r| r.0).collect()),
        median(rates.iter().map(|r| r.1).collect())
    );
}
