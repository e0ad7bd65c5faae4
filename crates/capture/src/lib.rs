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

pub use file::{CaptureFile, FileLimits, InterfaceInfo, NameRecord, Secrets};
pub use merge::Merge;

use iotw_wire::LinkType;
use std::path::PathBuf;

/// Nanoseconds since the Unix epoch, UTC.
pub type Nanos = i64;

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

impl CaptureError {
    /// True when the source is damaged part-way through (frames before it were good).
    pub fn is_damage(&self) -> bool {
        matches!(self, CaptureError::Truncated { .. } | CaptureError::Malformed { .. })
    }
}
