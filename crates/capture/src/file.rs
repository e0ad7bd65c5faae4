//! pcap (tcpdump.org "pcap savefile") and pcapng (draft-ietf-opsawg-pcapng) readers.
//!
//! Both formats are detected by magic, never by file name; a gzip stream (magic 1f 8b) is
//! decompressed on the fly. Every length read from the file is checked against [`FileLimits`]
//! before anything is allocated for it. A file that ends inside a record yields
//! [`CaptureError::Truncated`] after the last whole frame; nothing before it is lost.

use crate::{CaptureError, Frame, Nanos};
use iotw_wire::LinkType;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Caps on what a capture file may ask the reader to allocate.
#[derive(Debug, Clone, Copy)]
pub struct FileLimits {
    /// Largest captured packet accepted (pcap incl_len, pcapng captured length).
    pub max_packet: usize,
    /// Largest pcapng block accepted (packets, name records, secrets, options).
    pub max_block: usize,
}

impl Default for FileLimits {
    fn default() -> Self {
        Self { max_packet: 262_144, max_block: 16 * 1024 * 1024 }
    }
}

/// An interface described by a pcap header or a pcapng Interface Description Block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub link: LinkType,
    pub snaplen: u32,
    pub name: Option<String>,
    /// Timestamp unit: `(base, exponent)` meaning base^-exponent seconds (base 10 or 2).
    pub tsresol: (u8, u8),
    /// Seconds added to every timestamp (if_tsoffset).
    pub tsoffset: i64,
    /// Interface Statistics Block counters, when the file has them.
    pub received: Option<u64>,
    pub dropped: Option<u64>,
}

/// A pcapng Name Resolution Block entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRecord {
    pub addr: IpAddr,
    pub names: Vec<String>,
}

/// A pcapng Decryption Secrets Block: `kind` is the secrets type (0x544c534b = TLS key log).
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    pub kind: u32,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    // Key material never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets {{ kind: {:#x}, {} bytes }}", self.kind, self.data.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap { swapped: bool, nanos: bool },
    PcapNg,
}

/// Counts bytes read from the underlying file, for progress reporting through compression.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A pcap or pcapng file being read, one frame at a time.
pub struct CaptureFile {
    path: PathBuf,
    input: Box<dyn BufRead + Send>,
    format: Format,
    limits: FileLimits,
    /// pcapng: byte order of the current section.
    big_endian: bool,
    /// Logical offset in the (decompressed) stream, for error messages.
    offset: u64,
    file_bytes: Arc<AtomicU64>,
    file_len: u64,
    compressed: bool,
    source: u16,
    buf: Vec<u8>,
    cur: Option<(Nanos, u32, u32, std::ops::Range<usize>)>,
    /// All interfaces seen, across sections. Interface ids in frames index this list.
    pub interfaces: Vec<InterfaceInfo>,
    /// First interface index of the current pcapng section.
    section_base: usize,
    pub names: Vec<NameRecord>,
    pub secrets: Vec<Secrets>,
    /// Blocks skipped because their type is unknown or custom.
    pub skipped_blocks: u64,
}

impl std::fmt::Debug for CaptureFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureFile").field("path", &self.path).field("format", &self.format).finish()
    }
}

impl CaptureFile {
    pub fn open(path: &Path, source: u16, limits: FileLimits) -> Result<Self, CaptureError> {
        let io_err = |source| CaptureError::Io { path: path.to_owned(), source };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(CaptureError::IsDirectory { path: path.to_owned() });
        }
        let file = File::open(path).map_err(io_err)?;
        Self::from_reader(path, Box::new(file), meta.len(), source, limits)
    }

    /// Reads a capture from any byte source; `path` only names it in errors, `len` is its
    /// size for progress (0 if unknown).
    pub fn from_reader(
        path: &Path,
        reader: Box<dyn Read + Send>,
        len: u64,
        source: u16,
        limits: FileLimits,
    ) -> Result<Self, CaptureError> {
        let file_bytes = Arc::new(AtomicU64::new(0));
        let mut raw = BufReader::with_capacity(1 << 16, Counting { inner: reader, count: file_bytes.clone() });
        let head = peek(&mut raw, path)?;
        let compressed = head[..2] == [0x1f, 0x8b];
        let mut input: Box<dyn BufRead + Send> = if compressed {
            Box::new(BufReader::with_capacity(1 << 16, flate2::read::MultiGzDecoder::new(raw)))
        } else {
            Box::new(raw)
        };
        let mut magic = [0u8; 4];
        read_exact_or(&mut input, &mut magic, path, 0, "file header")?;
        let format = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => Format::Pcap { swapped: false, nanos: false },
            [0xa1, 0xb2, 0xc3, 0xd4] => Format::Pcap { swapped: true, nanos: false },
            [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap { swapped: false, nanos: true },
            [0xa1, 0xb2, 0x3c, 0x4d] => Format::Pcap { swapped: true, nanos: true },
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::PcapNg,
            other => {
                return Err(CaptureError::NotACapture {
                    path: path.to_owned(),
                    magic: other.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
                })
            }
        };
        let mut f = CaptureFile {
            path: path.to_owned(),
            input,
            format,
            limits,
            big_endian: false,
            offset: 4,
            file_bytes,
            file_len: len,
            compressed,
            source,
            buf: Vec::with_capacity(1 << 16),
            cur: None,
            interfaces: Vec::new(),
            section_base: 0,
            names: Vec::new(),
            secrets: Vec::new(),
            skipped_blocks: 0,
        };
        match format {
            Format::Pcap { .. } => f.read_pcap_header()?,
            Format::PcapNg => f.read_section_header()?,
        }
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Bytes of the file on disk read so far, and its size: for progress and ETA.
    pub fn progress(&self) -> (Arc<AtomicU64>, u64) {
        (self.file_bytes.clone(), self.file_len)
    }

    /// Reads the next frame into the internal buffer. `Ok(false)` at a clean end of file.
    pub fn advance(&mut self) -> Result<bool, CaptureError> {
        self.cur = None;
        loop {
            let done = match self.format {
                Format::Pcap { swapped, nanos } => self.next_pcap(swapped, nanos)?,
                Format::PcapNg => self.next_pcapng()?,
            };
            match done {
                Step::Frame => return Ok(true),
                Step::Eof => return Ok(false),
                Step::Again => continue,
            }
        }
    }

    /// The frame loaded by the last successful [`advance`](Self::advance).
    pub fn current(&self) -> Option<Frame<'_>> {
        let (ts, interface, orig_len, range) = self.cur.clone()?;
        let link = self.interfaces.get(interface as usize).map_or(LinkType(u32::MAX), |i| i.link);
        let ts = ts.clamp(0, crate::MAX_TS);
        Some(Frame { ts, link, source: self.source, interface, data: self.buf.get(range)?, orig_len })
    }

    /// Convenience: advance and return the frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.advance()? {
            Ok(self.current())
        } else {
            Ok(None)
        }
    }

    fn truncated(&self, what: &'static str) -> CaptureError {
        CaptureError::Truncated { path: self.path.clone(), offset: self.offset, what }
    }

    fn malformed(&self, what: impl Into<String>) -> CaptureError {
        CaptureError::Malformed { path: self.path.clone(), offset: self.offset, what: what.into() }
    }

    /// Fills `self.buf[..n]`. `Ok(false)` when the stream ends before the first byte.
    fn fill(&mut self, n: usize, what: &'static str) -> Result<bool, CaptureError> {
        self.buf.clear();
        if n == 0 {
            return Ok(true);
        }
        // A clean end: nothing left before the first byte.
        let left = match self.input.fill_buf() {
            Ok([]) => return Ok(false),
            // Straight from the reader's buffer when the block lies in it: one copy.
            Ok(ready) if ready.len() >= n => {
                self.buf.extend_from_slice(&ready[..n]);
                self.input.consume(n);
                self.offset += n as u64;
                return Ok(true);
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        self.buf.resize(n, 0);
        if let Err(e) = left.and_then(|_| self.input.read_exact(&mut self.buf)) {
            self.buf.clear();
            return Err(match e.kind() {
                io::ErrorKind::UnexpectedEof => self.truncated(what),
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    self.malformed(format!("corrupt compressed data: {e}"))
                }
                _ => CaptureError::Io { path: self.path.clone(), source: e },
            });
        }
        self.offset += n as u64;
        Ok(true)
    }

    fn u32_at(&self, at: usize, big: bool) -> u32 {
        let b = [self.buf[at], self.buf[at + 1], self.buf[at + 2], self.buf[at + 3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn u16_at(&self, at: usize, big: bool) -> u16 {
        let b = [self.buf[at], self.buf[at + 1]];
        if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    // ---- pcap ----------------------------------------------------------------------------

    fn read_pcap_header(&mut self) -> Result<(), CaptureError> {
        let Format::Pcap { swapped, nanos } = self.format else {
            return Ok(());
        };
        if !self.fill(20, "pcap file header")? {
            return Err(self.truncated("pcap file header"));
        }
        let snaplen = self.u32_at(12, swapped);
        // The top bits of the link-type field carry FCS information (pcap spec §LinkType).
        let link = LinkType(self.u32_at(16, swapped) & 0x0fff_ffff);
        self.interfaces.push(InterfaceInfo {
            link,
            snaplen,
            name: None,
            tsresol: (10, if nanos { 9 } else { 6 }),
            tsoffset: 0,
            received: None,
            dropped: None,
        });
        Ok(())
    }

    fn next_pcap(&mut self, swapped: bool, nanos: bool) -> Result<Step, CaptureError> {
        if !self.fill(16, "pcap record header")? {
            return Ok(Step::Eof);
        }
        let secs = i64::from(self.u32_at(0, swapped));
        let frac = i64::from(self.u32_at(4, swapped));
        let incl = self.u32_at(8, swapped) as usize;
        let orig = self.u32_at(12, swapped);
        if incl > self.limits.max_packet {
            return Err(self.malformed(format!(
                "record claims {incl} captured bytes, above the {} limit",
                self.limits.max_packet
            )));
        }
        let ts = secs * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        if !self.fill(incl, "pcap record data")? && incl > 0 {
            return Err(self.truncated("pcap record data"));
        }
        self.cur = Some((ts, 0, orig, 0..incl));
        Ok(Step::Frame)
    }
}

enum Step {
    Frame,
    Eof,
    Again,
}

fn peek<R: Read>(r: &mut BufReader<R>, path: &Path) -> Result<[u8; 2], CaptureError> {
    use std::io::BufRead;
    let buf = r.fill_buf().map_err(|source| CaptureError::Io { path: path.to_owned(), source })?;
    if buf.is_empty() {
        return Err(CaptureError::Empty { path: path.to_owned() });
    }
    if buf.len() < 2 {
        return Err(CaptureError::NotACapture {
            path: path.to_owned(),
            magic: buf.iter().map(|b| format!("{b:02x}")).collect(),
        });
    }
    Ok([buf[0], buf[1]])
}

fn read_exact_or(
    r: &mut dyn Read,
    buf: &mut [u8],
    path: &Path,
    offset: u64,
    what: &'static str,
) -> Result<(), CaptureError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => CaptureError::Truncated { path: path.to_owned(), offset, what },
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
            CaptureError::Malformed { path: path.to_owned(), offset, what: format!("corrupt compressed data: {e}") }
        }
        _ => CaptureError::Io { path: path.to_owned(), source: e },
    })
}

mod pcapng;

#[cfg(test)]
mod tests;
