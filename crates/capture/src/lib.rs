//! Frame sources: where packets come from.
//!
//! - [`file`]: pcap (micro- and nanosecond) and pcapng (every standard block: SHB, IDB, EPB,
//!   SPB, obsolete PB, NRB, ISB, DSB; several sections and interfaces), plain or gzip-compressed;
//!   several files merged in timestamp order by [`Merge`].
//! - [`live`] (Linux): AF_PACKET with a TPACKET_V3 memory-mapped ring, a classic-BPF filter compiled
//!   from tcpdump syntax by [`filter`] and attached in the kernel, kernel drop counters. No system
//!   library is needed.
//! - `pcap` (feature `libpcap`): libpcap/Npcap for Windows and macOS.
//!
//! Not in scope: writing captures, link types other than those `iotw-wire` reads (they are read
//! and counted, not parsed), pcapng compression/encryption extensions.

pub mod file;
pub mod filter;
#[cfg(feature = "libpcap")]
pub mod libpcap;
#[cfg(target_os = "linux")]
pub mod live;
mod merge;
pub mod write;

pub use file::{CaptureFile, FileLimits, InterfaceInfo, NameRecord, Secrets};
#[cfg(target_os = "linux")]
pub use live::LiveCapture;
pub use merge::Merge;

use iotw_wire::LinkType;
use std::path::PathBuf;

/// Nanoseconds since the Unix epoch, UTC.
pub type Nanos = i64;

/// The latest frame time a capture file can give (2^62 ns, in the year 2116); earlier than
/// 1970 becomes 1970. Every later stage adds timeouts to frame times and subtracts them
/// from each other; keeping them in this range keeps that arithmetic from overflowing,
/// whatever a damaged or hostile file claims.
pub const MAX_TS: Nanos = (1 << 62) - 1;

/// One captured frame, borrowed from its source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts: Nanos,
    pub link: LinkType,
    /// Which source (file index or live interface index) the frame came from.
    pub source: u16,
    /// The interface within that source (pcapng interface id; 0 for pcap).
    pub interface: u32,
    pub data: &'a [u8],
    /// The frame's length on the wire; more than `data.len()` when the snapshot length cut it.
    pub orig_len: u32,
}

/// Why a capture could not be read (further). Frames read before the error stay valid.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a directory, not a capture file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: empty file, not a capture")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng file (starts with {magic})")]
    NotACapture { path: PathBuf, magic: String },
    #[error("{path}: truncated at byte {offset}: {what}")]
    Truncated { path: PathBuf, offset: u64, what: &'static str },
    #[error("{path}: malformed at byte {offset}: {what}")]
    Malformed { path: PathBuf, offset: u64, what: String },
    #[error("{interface}: {what}")]
    Live {
        interface: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("filter: {0}")]
    Filter(#[from] filter::FilterError),
}

/// What to capture live and how much memory the capture buffer gets.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interface: String,
    pub snaplen: u32,
    /// AF_PACKET: ring block size (libpcap: buffer = block_size x blocks).
    pub block_size: u32,
    pub blocks: u32,
    pub filter: filter::Filter,
}

/// A live packet source on one interface, whatever the backend.
pub trait LiveSource: Send {
    fn interface(&self) -> &str;
    /// Waits up to `timeout_ms` for packets and hands each to `f`; returns how many.
    fn poll_block(&mut self, timeout_ms: i32, f: &mut dyn FnMut(Frame<'_>)) -> Result<usize, CaptureError>;
    /// Packets the kernel (or driver) accepted and dropped so far.
    fn counters(&mut self) -> (u64, u64);
    /// Frames handed to the caller so far.
    fn delivered(&self) -> u64;
}

/// Opens a live capture with the platform's backend: AF_PACKET on Linux, libpcap/Npcap
/// elsewhere (feature `libpcap`), or libpcap on Linux too when `prefer_libpcap` is set.
pub fn open_live(cfg: &LiveConfig, source: u16, prefer_libpcap: bool) -> Result<Box<dyn LiveSource>, CaptureError> {
    #[cfg(not(feature = "libpcap"))]
    if prefer_libpcap {
        return Err(CaptureError::Live {
            interface: cfg.interface.clone(),
            what: "backend \"libpcap\" needs a build with `--features libpcap`",
            source: std::io::Error::from(std::io::ErrorKind::Unsupported),
        });
    }
    #[cfg(feature = "libpcap")]
    if prefer_libpcap || !cfg!(target_os = "linux") {
        return Ok(Box::new(libpcap::PcapCapture::open(cfg, source)?));
    }
    #[cfg(target_os = "linux")]
    {
        let _ = prefer_libpcap;
        Ok(Box::new(live::LiveCapture::open(cfg, source)?))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (cfg, source, prefer_libpcap);
        Err(CaptureError::Live {
            interface: cfg.interface.clone(),
            what: "live capture on this system needs the `libpcap` feature",
            source: std::io::Error::from(std::io::ErrorKind::Unsupported),
        })
    }
}

impl CaptureError {
    /// True when the source is damaged part-way through (frames before it were good).
    pub fn is_damage(&self) -> bool {
        matches!(self, CaptureError::Truncated { .. } | CaptureError::Malformed { .. })
    }
}
