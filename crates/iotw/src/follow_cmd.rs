//! `iotw follow`: the reassembled payload of TCP streams, like Wireshark's Follow TCP Stream.
//! Streams are numbered in order of their first packet, as tshark's `tcp.stream` numbers them.
//! Gaps (bytes never captured) are shown as gaps, never papered over.

use crate::config::{self, Config};
use anyhow::{bail, Context, Result};
use iotw_capture::{CaptureFile, Merge};
use iotw_event::Nanos;
use iotw_flow::{Dir, EndReason, FlowAnomaly, FlowHandler, FlowKey, FlowMeta, FlowTable, Payload};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// tshark's `-z follow,tcp,raw` text: hex lines, the responder's indented by a tab.
    Hex,
    /// Raw bytes, one file per direction in --out.
    Raw,
}

#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// Capture file(s) to read.
    #[arg(short = 'r', long = "read", value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Only this stream (0-based, in order of first packet). Default: every stream.
    #[arg(long)]
    stream: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Hex)]
    format: Format,
    /// With --format raw: directory for `stream-N-orig.bin` / `stream-N-resp.bin`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// tcpdump-syntax filter applied before reassembly.
    #[arg(short = 'f', long)]
    filter: Option<String>,
    /// Configuration file (flow and reassembly limits).
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Follow the TLS stream: the decrypted application data (needs the session's secrets:
    /// --tls-keylog, or a pcapng with Decryption Secrets Blocks), as Wireshark's Follow TLS Stream.
    #[arg(long)]
    tls: bool,
    /// NSS key log (SSLKEYLOGFILE format) for --tls. Repeatable.
    #[arg(long = "tls-keylog", value_name = "FILE")]
    tls_keylog: Vec<PathBuf>,
}

/// One chunk of a followed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Data(Dir, Vec<u8>),
    Gap(Dir, u64),
}

/// A followed stream: its endpoints and pieces in delivery order.
#[derive(Debug, Default)]
pub struct Followed {
    pub index: u64,
    pub orig: String,
    pub resp: String,
    pub pieces: Vec<Piece>,
}

#[derive(Default)]
struct Collect {
    next_index: u64,
    only: Option<u64>,
    done: Vec<Followed>,
}

/// Per-flow state: the stream's number and what it carried.
#[derive(Default)]
struct State {
    index: Option<u64>,
    pieces: Vec<Piece>,
}

fn ep(e: iotw_flow::Endpoint) -> String {
    match e.ip {
        std::net::IpAddr::V4(a) => format!("{a}:{}", e.port),
        std::net::IpAddr::V6(a) => format!("[{a}]:{}", e.port),
    }
}

impl Collect {
    fn index(&mut self, meta: &FlowMeta, s: &mut State) -> Option<u64> {
        if meta.key.proto != 6 {
            return None;
        }
        Some(*s.index.get_or_insert_with(|| {
            self.next_index += 1;
            self.next_index - 1
        }))
    }
}

impl FlowHandler<State> for Collect {
    fn flow_start(&mut self, meta: &FlowMeta, s: &mut State) {
        self.index(meta, s);
    }

    fn payload(&mut self, meta: &FlowMeta, s: &mut State, dir: Dir, _ts: Nanos, p: Payload<'_>) {
        let Some(i) = self.index(meta, s) else { return };
        if self.only.is_some_and(|o| o != i) {
            return;
        }
        match p {
            Payload::Stream(b) => s.pieces.push(Piece::Data(dir, b.to_vec())),
            Payload::Gap(n) => s.pieces.push(Piece::Gap(dir, n)),
            Payload::Datagram(_) => {}
        }
    }

    fn flow_end(&mut self, meta: &FlowMeta, s: &mut State, _reason: EndReason) {
        let Some(i) = self.index(meta, s) else { return };
        if self.only.is_some_and(|o| o != i) {
            return;
        }
        self.done.push(Followed {
            index: i,
            orig: ep(meta.orig),
            resp: ep(meta.resp),
            pieces: std::mem::take(&mut s.pieces),
        });
    }

    fn anomaly(&mut self, _ts: Nanos, _key: Option<&FlowKey>, _a: FlowAnomaly) {}
}

/// Follows every TCP stream of the files (or only `only`); TLS key logs found in the files'
/// Decryption Secrets Blocks go to `keys`.
pub fn follow(
    files: Vec<CaptureFile>,
    cfg: &Config,
    filter: &iotw_capture::filter::Filter,
    only: Option<u64>,
    keys: &iotw_decode::tls::keys::KeyLog,
) -> Result<Vec<Followed>> {
    // Every packet starts its flow's stream number on first sight, as tshark does.
    let mut table: FlowTable<State> = FlowTable::new(cfg.flow_config());
    let mut c = Collect { only, ..Collect::default() };
    let mut merge = Merge::new(files);
    loop {
        match merge.advance() {
            Ok(true) => {
                let Some(f) = merge.current() else { continue };
                let Ok(pkt) = iotw_wire::parse(f.link, f.data) else {
                    continue;
                };
                if !filter.matches(&pkt) {
                    continue;
                }
                table.packet(f.ts, f.orig_len, &pkt, &mut c);
            }
            Ok(false) => break,
            Err(e) if e.is_damage() => eprintln!("iotw: warning: {e}; frames before it were kept"),
            Err(e) => return Err(e.into()),
        }
    }
    table.flush(&mut c);
    for f in merge.files() {
        for dsb in f.secrets.iter().filter(|d| d.kind == 0x544c_534b) {
            keys.add_text(&String::from_utf8_lossy(&dsb.data));
        }
    }
    c.done.sort_by_key(|f| f.index);
    Ok(c.done)
}

/// The stream's TLS records decrypted: its pieces become the application data.
fn decrypt(s: &mut Followed, cfg: &Config, keys: &std::sync::Arc<iotw_decode::tls::keys::KeyLog>) {
    let pieces = s.pieces.iter().map(|p| match p {
        Piece::Data(d, b) => (*d, Payload::Stream(b)),
        Piece::Gap(d, n) => (*d, Payload::Gap(*n)),
    });
    let plain = iotw_decode::tls::decrypt_stream(cfg.decode_limits(), keys.clone(), pieces);
    s.pieces = plain.into_iter().map(|(d, b)| Piece::Data(d, b)).collect();
}

pub fn run(a: FollowArgs) -> Result<()> {
    let cfg = match &a.config {
        Some(p) => config::load(p)?,
        None => Config::default(),
    };
    let filter = iotw_capture::filter::parse(a.filter.as_deref().unwrap_or("")).context("--filter")?;
    let mut files = Vec::new();
    for (i, p) in a.files.iter().enumerate() {
        files.push(CaptureFile::open(p, i as u16, cfg.file_limits())?);
    }
    let keys = std::sync::Arc::new(iotw_decode::tls::keys::KeyLog::new());
    for p in &a.tls_keylog {
        keys.add_file(p.clone()).map_err(|e| anyhow::anyhow!("the TLS key log {e}"))?;
    }
    let mut streams = follow(files, &cfg, &filter, a.stream, &keys)?;
    if a.tls {
        for s in &mut streams {
            decrypt(s, &cfg, &keys);
        }
    }
    if let Some(n) = a.stream {
        if streams.is_empty() {
            bail!("no TCP stream {n} in the capture");
        }
    }
    match a.format {
        Format::Hex => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for s in &streams {
                // Node 0 is the originator for TCP; for TLS, as Wireshark's Follow TLS Stream
                // has it, the side whose records were decrypted first.
                let node0 = match s.pieces.first() {
                    Some(Piece::Data(d, _) | Piece::Gap(d, _)) if a.tls => *d,
                    _ => Dir::Orig,
                };
                let (n0, n1) = if node0 == Dir::Orig { (&s.orig, &s.resp) } else { (&s.resp, &s.orig) };
                writeln!(out, "===================================================================")?;
                writeln!(out, "Follow: {},raw", if a.tls { "tls" } else { "tcp" })?;
                writeln!(out, "Filter: tcp.stream eq {}", s.index)?;
                writeln!(out, "Node 0: {n0}")?;
                writeln!(out, "Node 1: {n1}")?;
                for p in &s.pieces {
                    match p {
                        Piece::Data(_, b) if b.is_empty() => {}
                        Piece::Data(d, b) => {
                            let tab = if *d != node0 { "\t" } else { "" };
                            writeln!(out, "{tab}{}", iotw_event::json::hex(b))?;
                        }
                        Piece::Gap(d, n) => {
                            let tab = if *d != node0 { "\t" } else { "" };
                            writeln!(out, "{tab}[{n} bytes missing]")?;
                        }
                    }
                }
                writeln!(out, "===================================================================")?;
            }
        }
        Format::Raw => {
            let Some(dir) = &a.out else { bail!("--format raw needs --out DIR") };
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for s in &streams {
                for (d, name) in [(Dir::Orig, "orig"), (Dir::Resp, "resp")] {
                    let mut bytes = Vec::new();
                    let mut missing = 0u64;
                    for p in &s.pieces {
                        match p {
                            Piece::Data(pd, b) if *pd == d => bytes.extend_from_slice(b),
                            Piece::Gap(pd, n) if *pd == d => missing += n,
                            _ => {}
                        }
                    }
                    let path = dir.join(format!("stream-{}-{name}.bin", s.index));
                    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
                    if missing > 0 {
                        eprintln!("iotw: {}: {missing} bytes were never captured (left out)", path.display());
                    }
                }
            }
            eprintln!("iotw: {} streams written to {}", streams.len(), dir.display());
        }
    }
    Ok(())
}
