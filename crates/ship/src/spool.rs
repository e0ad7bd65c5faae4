//! The disk spool between the pipeline and a network sink (Elasticsearch, Logstash): a
//! document accepted here survives a server outage and an agent crash, and is delivered after
//! restart — in order, at least once; deterministic ids make a second copy a no-op.
//!
//! Layout in its directory: `<20-digit number>.seg` segment files of records, and `ack`,
//! the position before which every record was delivered. A record is
//! `[u32 LE payload length][u32 LE CRC-32 of the payload][payload]`. Opening a spool cuts a
//! torn last record (a crash in the middle of a write); a damaged record further back ends
//! its segment (counted, the rest of the segment is skipped).
//!
//! Records are handed out in order ([`Spool::claim`]) to one or more delivery workers, who
//! report them delivered ([`Spool::complete`]) in any order; the ack position moves over
//! the delivered records that follow it without a gap, and segments wholly before it are
//! deleted. What a payload holds is [`encode_batch`]'s business.
//!
//! Not here: network I/O, retries (the sinks').

use iotw_event::Event;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// When written records are forced to the disk (a process crash loses nothing either way;
/// this is about the machine losing power).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every record.
    Always,
    /// At most this long after a record was written (checked when the next one comes, and
    /// on [`Spool::sync`]).
    Every(Duration),
    /// When the operating system decides.
    Never,
}

/// What [`Spool::append`] does when the spool holds `max_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for deliveries to make room (files; live capture then fills the memory queue,
    /// which counts what it drops).
    Block,
    /// Refuse the new record; it is counted as dropped.
    DropNewest,
}

#[derive(Debug, Clone, Copy)]
pub struct SpoolConfig {
    /// Cap on the segment files together.
    pub max_bytes: u64,
    /// A segment is closed and a new one begun past this size.
    pub segment_bytes: u64,
    pub fsync: Fsync,
    pub when_full: WhenFull,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            max_bytes: 1 << 30,
            segment_bytes: 16 << 20,
            fsync: Fsync::Every(Duration::from_secs(1)),
            when_full: WhenFull::Block,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spool {path}: {detail}")]
    Bad { path: PathBuf, detail: String },
}

/// A place in the spool: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// Records handed to a worker: from `start` up to (not including) `end`.
#[derive(Debug)]
pub struct Claim {
    pub start: Pos,
    pub end: Pos,
    pub records: Vec<Vec<u8>>,
}

/// What became of an appended record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// Full (`WhenFull::DropNewest`), too large for the spool, or stopped while waiting.
    Dropped,
}

/// How much waits for delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub records: u64,
    pub bytes: u64,
}

const HEADER: u64 = 8;
/// Largest record read back (a damaged length must not become an allocation).
const MAX_RECORD: u64 = 1 << 30;

#[derive(Debug)]
pub struct Spool {
    cfg: SpoolConfig,
    dir: PathBuf,
    inner: Mutex<Inner>,
    /// Signalled when records are added or room is made.
    changed: Condvar,
}

#[derive(Debug)]
struct Inner {
    /// Segment number -> its length on disk.
    segments: BTreeMap<u64, u64>,
    writer: File,
    bytes: u64,
    acked: Pos,
    /// The next record to hand out.
    claimed: Pos,
    /// Completed claims not yet joined to `acked`.
    done: BTreeSet<(Pos, Pos)>,
    /// Records appended and not yet acknowledged (approximate across restarts: counted on open).
    records: u64,
    reader: Option<(u64, File)>,
    unsynced: Option<Instant>,
    /// Records lost to damage found on reading.
    damaged: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_path_buf(), source }
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.seg"))
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, ready to go on where the last run stopped.
    pub fn open(dir: &Path, cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name();
            let Some(n) = name.to_str().and_then(|s| s.strip_suffix(".seg")).and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            let len = entry.metadata().map_err(io(&entry.path()))?.len();
            segments.insert(n, len);
        }
        let ack_path = dir.join("ack");
        let first = segments.keys().next().copied().unwrap_or(1);
        let mut acked = match fs::read_to_string(&ack_path) {
            Ok(text) => parse_pos(&text).ok_or_else(|| SpoolError::Bad {
                path: ack_path.clone(),
                detail: format!("not a position: {:.40}", text.trim()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Pos { segment: first, offset: 0 },
            Err(e) => return Err(io(&ack_path)(e)),
        };
        if acked.segment < first {
            acked = Pos { segment: first, offset: 0 };
        }
        // Segments wholly delivered (a crash between the ack and the deletion).
        for n in segments.keys().copied().filter(|n| *n < acked.segment).collect::<Vec<_>>() {
            let p = segment_path(dir, n);
            fs::remove_file(&p).map_err(io(&p))?;
            segments.remove(&n);
        }
        // The last segment: keep its whole records, cut a torn one.
        let last = match segments.keys().next_back().copied() {
            Some(n) => n,
            None => {
                let n = acked.segment.max(1);
                segments.insert(n, 0);
                n
            }
        };
        let last_path = segment_path(dir, last);
        let valid = valid_length(&last_path)?;
        if segments.get(&last) != Some(&valid) {
            let f =
                OpenOptions::new().write(true).create(true).truncate(false).open(&last_path).map_err(io(&last_path))?;
            f.set_len(valid).map_err(io(&last_path))?;
            f.sync_all().map_err(io(&last_path))?;
            segments.insert(last, valid);
        }
        if acked.segment == last && acked.offset > valid {
            acked.offset = valid;
        }
        let writer = OpenOptions::new().append(true).create(true).open(&last_path).map_err(io(&last_path))?;
        let bytes = segments.values().sum();
        let spool = Spool {
            cfg,
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                segments,
                writer,
                bytes,
                acked,
                claimed: acked,
                done: BTreeSet::new(),
                records: 0,
                reader: None,
                unsynced: None,
                damaged: 0,
            }),
            changed: Condvar::new(),
        };
        let pending = spool.count_pending()?;
        spool.lock().records = pending;
        Ok(spool)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A worker that panicked holding the lock left consistent state (every change is
        // made after its I/O succeeded): go on.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records after the ack position (read once, at open).
    fn count_pending(&self) -> Result<u64, SpoolError> {
        let mut inner = self.lock();
        let mut at = inner.acked;
        let mut n = 0;
        while let Some((_, next)) = self.read_at(&mut inner, at)? {
            n += 1;
            at = next;
        }
        Ok(n)
    }

    /// Adds one record. With `WhenFull::Block` it waits for room until `stop` is set.
    pub fn append(&self, payload: &[u8], stop: &AtomicBool) -> Result<Appended, SpoolError> {
        let need = HEADER + payload.len() as u64;
        if need > self.cfg.max_bytes || need > MAX_RECORD {
            return Ok(Appended::Dropped);
        }
        let mut inner = self.lock();
        while inner.bytes + need > self.cfg.max_bytes {
            match self.cfg.when_full {
                WhenFull::DropNewest => return Ok(Appended::Dropped),
                WhenFull::Block if stop.load(Ordering::Relaxed) => return Ok(Appended::Dropped),
                WhenFull::Block => {
                    inner = self
                        .changed
                        .wait_timeout(inner, Duration::from_millis(100))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        let (&last, &len) = inner
            .segments
            .iter()
            .next_back()
            .ok_or_else(|| SpoolError::Bad { path: self.dir.clone(), detail: "no segment".into() })?;
        let (segment, len) = if len > 0 && len + need > self.cfg.segment_bytes {
            // Close this segment (forced out: the ack may soon point past it) and begin the next.
            let p = segment_path(&self.dir, last);
            inner.writer.sync_data().map_err(io(&p))?;
            let next = last + 1;
            let np = segment_path(&self.dir, next);
            inner.writer = OpenOptions::new().append(true).create(true).open(&np).map_err(io(&np))?;
            inner.segments.insert(next, 0);
            (next, 0)
        } else {
            (last, len)
        };
        let p = segment_path(&self.dir, segment);
        let mut record = Vec::with_capacity(need as usize);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        record.extend_from_slice(payload);
        if let Err(e) = inner.writer.write_all(&record) {
            // Whatever part was written is cut, so the next record starts clean.
            let _ = inner.writer.set_len(len);
            return Err(io(&p)(e));
        }
        inner.segments.insert(segment, len + need);
        inner.bytes += need;
        inner.records += 1;
        match self.cfg.fsync {
            Fsync::Always => inner.writer.sync_data().map_err(io(&p))?,
            Fsync::Every(d) => {
                let since = *inner.unsynced.get_or_insert_with(Instant::now);
                if since.elapsed() >= d {
                    inner.writer.sync_data().map_err(io(&p))?;
                    inner.unsynced = None;
                }
            }
            Fsync::Never => {}
        }
        drop(inner);
        self.changed.notify_all();
        Ok(Appended::Stored)
    }

    /// Forces written records to the disk.
    pub fn sync(&self) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        if self.cfg.fsync != Fsync::Never {
            inner.writer.sync_data().map_err(io(&self.dir))?;
        }
        inner.unsynced = None;
        Ok(())
    }

    /// Hands out the next records not handed out yet, up to `max_records` and `max_bytes`
    /// (at least one), waiting up to `wait` for the first.
    pub fn claim(&self, max_records: usize, max_bytes: usize, wait: Duration) -> Result<Option<Claim>, SpoolError> {
        let deadline = Instant::now() + wait;
        let mut inner = self.lock();
        loop {
            let start = inner.claimed;
            let mut at = start;
            let mut records = Vec::new();
            let mut bytes = 0;
            while records.len() < max_records.max(1) {
                let Some((payload, next)) = self.read_at(&mut inner, at)? else { break };
                if !records.is_empty() && bytes + payload.len() > max_bytes {
                    break;
                }
                bytes += payload.len();
                records.push(payload);
                at = next;
            }
            if !records.is_empty() {
                inner.claimed = at;
                return Ok(Some(Claim { start, end: at, records }));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            inner = self.changed.wait_timeout(inner, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Records a claim as delivered: the ack position moves over what is delivered without a
    /// gap, and is saved; segments wholly before it go.
    pub fn complete(&self, start: Pos, end: Pos, records: usize) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        inner.done.insert((start, end));
        inner.records = inner.records.saturating_sub(records as u64);
        let before = inner.acked;
        while let Some(&(s, e)) = inner.done.iter().next() {
            if s > inner.acked {
                break;
            }
            inner.done.remove(&(s, e));
            inner.acked = inner.acked.max(e);
        }
        // At the end of a segment that is no longer written: the next one's start.
        if let Some(&len) = inner.segments.get(&inner.acked.segment) {
            if inner.acked.offset >= len {
                if let Some((&next, _)) = inner.segments.range(inner.acked.segment + 1..).next() {
                    inner.acked = Pos { segment: next, offset: 0 };
                }
            }
        }
        if inner.acked == before {
            return Ok(());
        }
        self.save_ack(inner.acked)?;
        let acked = inner.acked;
        let gone: Vec<u64> = inner.segments.range(..acked.segment).map(|(n, _)| *n).collect();
        for n in gone {
            let p = segment_path(&self.dir, n);
            fs::remove_file(&p).map_err(io(&p))?;
            if let Some(len) = inner.segments.remove(&n) {
                inner.bytes -= len;
            }
            if inner.reader.as_ref().is_some_and(|(r, _)| *r == n) {
                inner.reader = None;
            }
        }
        drop(inner);
        self.changed.notify_all();
        Ok(())
    }

    fn save_ack(&self, at: Pos) -> Result<(), SpoolError> {
        let tmp = self.dir.join("ack.tmp");
        let path = self.dir.join("ack");
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        writeln!(f, "{} {}", at.segment, at.offset).map_err(io(&tmp))?;
        if self.cfg.fsync != Fsync::Never {
            f.sync_data().map_err(io(&tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Waiting for delivery: records and bytes on disk.
    pub fn depth(&self) -> Depth {
        let inner = self.lock();
        Depth { records: inner.records, bytes: inner.bytes }
    }

    /// Whether every record appended was delivered.
    pub fn is_drained(&self) -> bool {
        let inner = self.lock();
        inner.records == 0 && inner.done.is_empty() && inner.claimed == inner.acked
    }

    /// Records skipped because they were damaged on disk.
    pub fn damaged(&self) -> u64 {
        self.lock().damaged
    }

    /// The record at `at` (moving to the next segment at a segment's end) and where the next
    /// one starts; `None` at the end.
    fn read_at(&self, inner: &mut Inner, mut at: Pos) -> Result<Option<(Vec<u8>, Pos)>, SpoolError> {
        loop {
            let Some(&len) = inner.segments.get(&at.segment) else {
                // Deleted or not yet begun: the next segment there is.
                match inner.segments.range(at.segment..).next() {
                    Some((&n, _)) => {
                        at = Pos { segment: n, offset: 0 };
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            if at.offset + HEADER > len {
                match inner.segments.range(at.segment + 1..).next() {
                    Some((&n, _)) => {
                        at = Pos { segment: n, offset: 0 };
                        continue;
                    }
                    None => return Ok(None),
                }
            }
            let path = segment_path(&self.dir, at.segment);
            if inner.reader.as_ref().is_none_or(|(n, _)| *n != at.segment) {
                inner.reader = Some((at.segment, File::open(&path).map_err(io(&path))?));
            }
            let Some((_, f)) = inner.reader.as_mut() else { return Ok(None) };
            f.seek(SeekFrom::Start(at.offset)).map_err(io(&path))?;
            let mut head = [0u8; HEADER as usize];
            f.read_exact(&mut head).map_err(io(&path))?;
            let n = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
            let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let mut payload = Vec::new();
            let whole = at.offset + HEADER + n <= len && n <= MAX_RECORD;
            if whole {
                payload.resize(n as usize, 0);
                f.read_exact(&mut payload).map_err(io(&path))?;
            }
            if !whole || crc32fast::hash(&payload) != crc {
                // Damage: the rest of this segment cannot be trusted.
                inner.damaged += 1;
                at = Pos { segment: at.segment, offset: len };
                continue;
            }
            return Ok(Some((payload, Pos { segment: at.segment, offset: at.offset + HEADER + n })));
        }
    }
}

fn parse_pos(text: &str) -> Option<Pos> {
    let mut it = text.split_whitespace();
    let pos = Pos { segment: it.next()?.parse().ok()?, offset: it.next()?.parse().ok()? };
    it.next().is_none().then_some(pos)
}

/// How much of a segment file is whole records.
fn valid_length(path: &Path) -> Result<u64, SpoolError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path)(e)),
    };
    let len = f.metadata().map_err(io(path))?.len();
    let mut at = 0u64;
    let mut payload = Vec::new();
    while at + HEADER <= len {
        let mut head = [0u8; HEADER as usize];
        f.seek(SeekFrom::Start(at)).map_err(io(path))?;
        f.read_exact(&mut head).map_err(io(path))?;
        let n = u64::from(u32::from_le_bytes([head[0], head[1], head[2], head[3]]));
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if n > MAX_RECORD || at + HEADER + n > len {
            break;
        }
        payload.resize(n as usize, 0);
        f.read_exact(&mut payload).map_err(io(path))?;
        if crc32fast::hash(&payload) != crc {
            break;
        }
        at += HEADER + n;
    }
    Ok(at)
}

/// The sink the pipeline writes to when a network sink is configured: batches go into the
/// spool, whose delivery workers take them out.
#[derive(Debug)]
pub struct SpoolSink {
    spool: std::sync::Arc<Spool>,
    counters: std::sync::Arc<crate::ShipCounters>,
    /// Set to stop waiting for room in a full spool.
    stop: std::sync::Arc<AtomicBool>,
    record: Vec<u8>,
}

impl SpoolSink {
    pub fn new(
        spool: std::sync::Arc<Spool>,
        counters: std::sync::Arc<crate::ShipCounters>,
        stop: std::sync::Arc<AtomicBool>,
    ) -> Self {
        SpoolSink { spool, counters, stop, record: Vec::new() }
    }
}

impl crate::Sink for SpoolSink {
    fn name(&self) -> &'static str {
        "spool"
    }

    fn write(&mut self, batch: &[Event]) -> Result<crate::Written, crate::ShipError> {
        if batch.is_empty() {
            return Ok(crate::Written::default());
        }
        encode_batch(batch, &mut self.record);
        let n = batch.len() as u64;
        match self.spool.append(&self.record, &self.stop).map_err(crate::ShipError::Spool)? {
            Appended::Stored => {
                self.counters.accepted.fetch_add(n, Ordering::Relaxed);
                Ok(crate::Written { stored: n, duplicates: 0 })
            }
            Appended::Dropped => {
                self.counters.spool_dropped.fetch_add(n, Ordering::Relaxed);
                Ok(crate::Written::default())
            }
        }
    }

    fn flush(&mut self) -> Result<(), crate::ShipError> {
        self.spool.sync().map_err(crate::ShipError::Spool)
    }
}

/// One document as the spool keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledDoc<'a> {
    pub dataset: &'a str,
    pub ts: i64,
    pub id: &'a str,
    /// The document's JSON text.
    pub json: &'a [u8],
}

/// A batch of documents as one record: for each, its dataset, time and id (what sinks need
/// to route it) and its JSON, each length-prefixed.
pub fn encode_batch(batch: &[Event], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(batch.len() as u32).to_le_bytes());
    for e in batch {
        let dataset = e.dataset.as_bytes();
        let dataset = dataset.get(..dataset.len().min(255)).unwrap_or_default();
        out.push(dataset.len() as u8);
        out.extend_from_slice(dataset);
        out.extend_from_slice(&e.ts.to_le_bytes());
        // An id is 20 characters.
        let at = out.len();
        out.push(0);
        e.id.write(out);
        let n = (out.len() - at - 1) as u8;
        if let Some(slot) = out.get_mut(at) {
            *slot = n;
        }
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        e.write_json(out);
        let n = (out.len() - at - 4) as u32;
        if let Some(slot) = out.get_mut(at..at + 4) {
            slot.copy_from_slice(&n.to_le_bytes());
        }
    }
}

/// The documents of a record made by [`encode_batch`].
pub fn decode_batch(mut b: &[u8]) -> Result<Vec<SpooledDoc<'_>>, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!("record ends {} bytes early", n - b.len()));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn u32_at(b: &mut &[u8]) -> Result<usize, String> {
        let x = take(b, 4)?;
        Ok(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
    }
    fn text(x: &[u8]) -> Result<&str, String> {
        std::str::from_utf8(x).map_err(|_| "text is not UTF-8".to_string())
    }
    let count = u32_at(&mut b)?;
    let mut docs = Vec::with_capacity(count.min(b.len() / 14 + 1));
    for _ in 0..count {
        let n = usize::from(take(&mut b, 1)?[0]);
        let dataset = text(take(&mut b, n)?)?;
        let t = take(&mut b, 8)?;
        let ts = i64::from_le_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]);
        let n = usize::from(take(&mut b, 1)?[0]);
        let id = text(take(&mut b, n)?)?;
        let n = u32_at(&mut b)?;
        let json = take(&mut b, n)?;
        docs.push(SpooledDoc { dataset, ts, id, json });
    }
    if !b.is_empty() {
        return Err(format!("{} bytes after the last document", b.len()));
    }
    Ok(docs)
}

#[cfg(test)]
mod tests;
