//! pcap (tcpdump.org "pcap savefile") and pcapng (draft-ietf-opsawg-pcapng) readers.
//!
//! Both formats are detected by magic, never by file name; a gzip stream (magic 1f 8b) is
//! decompressed on the fly. Every length read from the file is checked against [`FileLimits`]
//! before anything is allocated for it. A file that ends inside a record yields
//! [`CaptureError::Truncated`] after the last whole frame; nothing before it is lost.

use crate::{CaptureError, Frame, Nanos};
use iotw_wire::LinkType;
use std::fs::File;
use std::io::{self, BufReader, Read};
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
    input: Box<dyn Read + Send>,
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
        let mut input: Box<dyn Read + Send> = if compressed {
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
        Some(Frame { ts, link, source: self.source, interface, data: &self.buf[range], orig_len })
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
        self.buf.resize(n, 0);
        let mut got = 0;
        while got < n {
            match self.input.read(&mut self.buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => return Err(self.truncated(what)),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData => {
                    return Err(self.malformed(format!("corrupt compressed data: {e}")))
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(self.truncated(what)),
                Err(source) => return Err(CaptureError::Io { path: self.path.clone(), source }),
            }
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

    // ---- pcapng --------------------------------------------------------------------------

    /// Reads the rest of a Section Header Block whose type (4 bytes) was already consumed.
    fn read_section_header(&mut self) -> Result<(), CaptureError> {
        if !self.fill(8, "section header")? {
            return Err(self.truncated("section header"));
        }
        self.big_endian = match [self.buf[4], self.buf[5], self.buf[6], self.buf[7]] {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => return Err(self.malformed("section header byte-order magic is wrong")),
        };
        let total = self.u32_at(0, self.big_endian) as usize;
        let body = self.block_body_len(total)?;
        // Skip version, section length and options; trailing length is part of `body`.
        if !self.fill(body - 4, "section header")? && body > 4 {
            return Err(self.truncated("section header"));
        }
        self.section_base = self.interfaces.len();
        Ok(())
    }

    /// Validates a block's total length and returns the bytes left after type and length.
    fn block_body_len(&self, total: usize) -> Result<usize, CaptureError> {
        if total < 12 || !total.is_multiple_of(4) {
            return Err(self.malformed(format!("block length {total} is not a multiple of 4 of at least 12")));
        }
        if total > self.limits.max_block {
            return Err(self.malformed(format!("block length {total} is above the {} limit", self.limits.max_block)));
        }
        Ok(total - 8)
    }

    fn next_pcapng(&mut self) -> Result<Step, CaptureError> {
        if !self.fill(8, "block header")? {
            return Ok(Step::Eof);
        }
        let be = self.big_endian;
        let kind = self.u32_at(0, be);
        if kind == 0x0a0d_0d0a {
            // A new section: byte order may change, interface ids restart.
            let len_bytes = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
            self.offset -= 4;
            self.buf.clear();
            self.buf.extend_from_slice(&len_bytes);
            // Re-read: the total length must be decoded with the new section's byte order.
            let mut rest = [0u8; 4];
            read_exact_or(&mut self.input, &mut rest, &self.path, self.offset, "section header")?;
            self.offset += 4;
            self.big_endian = match rest {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                _ => return Err(self.malformed("section header byte-order magic is wrong")),
            };
            let total = if self.big_endian { u32::from_be_bytes(len_bytes) } else { u32::from_le_bytes(len_bytes) };
            let body = self.block_body_len(total as usize)?;
            if !self.fill(body - 4, "section header")? && body > 4 {
                return Err(self.truncated("section header"));
            }
            self.section_base = self.interfaces.len();
            return Ok(Step::Again);
        }
        let total = self.u32_at(4, be) as usize;
        let body = self.block_body_len(total)?;
        if !self.fill(body, "block body")? {
            return Err(self.truncated("block body"));
        }
        let trailer = self.u32_at(body - 4, be) as usize;
        if trailer != total {
            return Err(self.malformed(format!("block trailer length {trailer} differs from header {total}")));
        }
        let body = body - 4;
        match kind {
            1 => self.interface_description(body)?,
            2 | 6 => return self.enhanced_packet(kind, body),
            3 => return self.simple_packet(body),
            4 => self.name_resolution(body),
            5 => self.interface_statistics(body)?,
            0x0000_000a => self.decryption_secrets(body)?,
            _ => self.skipped_blocks += 1,
        }
        Ok(Step::Again)
    }

    fn interface_description(&mut self, body: usize) -> Result<(), CaptureError> {
        if body < 8 {
            return Err(self.malformed("interface description block too short"));
        }
        let be = self.big_endian;
        let mut info = InterfaceInfo {
            link: LinkType(u32::from(self.u16_at(0, be))),
            snaplen: self.u32_at(4, be),
            name: None,
            tsresol: (10, 6),
            tsoffset: 0,
            received: None,
            dropped: None,
        };
        for (code, v) in options(&self.buf[8..body], be) {
            match code {
                2 => info.name = Some(String::from_utf8_lossy(v).trim_end_matches('\0').to_owned()),
                9 if v.len() == 1 => {
                    info.tsresol = if v[0] & 0x80 != 0 { (2, v[0] & 0x7f) } else { (10, v[0]) };
                }
                14 if v.len() == 8 => {
                    let b: [u8; 8] = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                    info.tsoffset = if be { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) };
                }
                _ => {}
            }
        }
        // 2^-64 or 10^-20 and finer cannot be represented; treat as malformed, not as a panic.
        if (info.tsresol.0 == 10 && info.tsresol.1 > 19) || (info.tsresol.0 == 2 && info.tsresol.1 > 63) {
            return Err(self.malformed("if_tsresol finer than the reader supports"));
        }
        self.interfaces.push(info);
        Ok(())
    }

    fn enhanced_packet(&mut self, kind: u32, body: usize) -> Result<Step, CaptureError> {
        if body < 20 {
            return Err(self.malformed("packet block too short"));
        }
        let be = self.big_endian;
        let iface = if kind == 2 { u32::from(self.u16_at(0, be)) } else { self.u32_at(0, be) };
        let ts_units = (u64::from(self.u32_at(4, be)) << 32) | u64::from(self.u32_at(8, be));
        let caplen = self.u32_at(12, be) as usize;
        let orig = self.u32_at(16, be);
        if caplen > body - 20 {
            return Err(self.malformed(format!("captured length {caplen} exceeds its block")));
        }
        let global = self.section_base + iface as usize;
        let Some(info) = self.interfaces.get(global) else {
            return Err(self.malformed(format!("packet names interface {iface}, which was never described")));
        };
        let ts = to_nanos(ts_units, info.tsresol).saturating_add(info.tsoffset.saturating_mul(1_000_000_000));
        self.cur = Some((ts, global as u32, orig, 20..20 + caplen));
        Ok(Step::Frame)
    }

    fn simple_packet(&mut self, body: usize) -> Result<Step, CaptureError> {
        if body < 4 {
            return Err(self.malformed("simple packet block too short"));
        }
        let orig = self.u32_at(0, self.big_endian);
        let Some(info) = self.interfaces.get(self.section_base) else {
            return Err(self.malformed("simple packet before any interface description"));
        };
        let mut caplen = (orig as usize).min(body - 4);
        if info.snaplen != 0 {
            caplen = caplen.min(info.snaplen as usize);
        }
        // Simple Packet Blocks carry no timestamp: they inherit the epoch, as tshark shows them.
        self.cur = Some((0, self.section_base as u32, orig, 4..4 + caplen));
        Ok(Step::Frame)
    }

    fn name_resolution(&mut self, body: usize) {
        let be = self.big_endian;
        let mut at = 0usize;
        while at + 4 <= body {
            let rtype = self.u16_at(at, be);
            let rlen = usize::from(self.u16_at(at + 2, be));
            let start = at + 4;
            let end = start + rlen;
            if rtype == 0 || end > body {
                break;
            }
            let v = &self.buf[start..end];
            let rec = match (rtype, rlen) {
                (1, n) if n >= 4 => Some((IpAddr::from([v[0], v[1], v[2], v[3]]), &v[4..])),
                (2, n) if n >= 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&v[..16]);
                    Some((IpAddr::from(a), &v[16..]))
                }
                _ => None,
            };
            if let Some((addr, names)) = rec {
                let names = names
                    .split(|b| *b == 0)
                    .filter(|n| !n.is_empty())
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                self.names.push(NameRecord { addr, names });
            }
            at = start + rlen.div_ceil(4) * 4;
        }
    }

    fn interface_statistics(&mut self, body: usize) -> Result<(), CaptureError> {
        if body < 12 {
            return Err(self.malformed("interface statistics block too short"));
        }
        let be = self.big_endian;
        let global = self.section_base + self.u32_at(0, be) as usize;
        let mut recv = None;
        let mut drop = None;
        for (code, v) in options(&self.buf[12..body], be) {
            if v.len() == 8 {
                let b: [u8; 8] = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                let n = if be { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) };
                match code {
                    4 => recv = Some(n),
                    5 => drop = Some(n),
                    _ => {}
                }
            }
        }
        if let Some(info) = self.interfaces.get_mut(global) {
            info.received = recv.or(info.received);
            info.dropped = drop.or(info.dropped);
        }
        Ok(())
    }

    fn decryption_secrets(&mut self, body: usize) -> Result<(), CaptureError> {
        if body < 8 {
            return Err(self.malformed("decryption secrets block too short"));
        }
        let be = self.big_endian;
        let kind = self.u32_at(0, be);
        let len = self.u32_at(4, be) as usize;
        if len > body - 8 {
            return Err(self.malformed(format!("secrets length {len} exceeds its block")));
        }
        self.secrets.push(Secrets { kind, data: self.buf[8..8 + len].to_vec() });
        Ok(())
    }
}

enum Step {
    Frame,
    Eof,
    Again,
}

/// Iterates pcapng options `(code, value)` until opt_endofopt or the end of the bytes.
fn options(mut b: &[u8], be: bool) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let rd = |x: [u8; 2]| {
            if be {
                u16::from_be_bytes(x)
            } else {
                u16::from_le_bytes(x)
            }
        };
        let code = rd([b[0], b[1]]);
        let len = usize::from(rd([b[2], b[3]]));
        if code == 0 || 4 + len > b.len() {
            return None;
        }
        let v = &b[4..4 + len];
        let step = (4 + len.div_ceil(4) * 4).min(b.len());
        b = &b[step..];
        Some((code, v))
    })
}

/// Converts a timestamp in units of base^-exp seconds to nanoseconds, saturating.
fn to_nanos(units: u64, (base, exp): (u8, u8)) -> Nanos {
    let n: u128 = if base == 2 {
        (u128::from(units) * 1_000_000_000) >> exp
    } else if exp <= 9 {
        u128::from(units) * 10u128.pow(u32::from(9 - exp))
    } else {
        u128::from(units) / 10u128.pow(u32::from(exp - 9))
    };
    i64::try_from(n).unwrap_or(i64::MAX)
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

#[cfg(test)]
mod tests;
