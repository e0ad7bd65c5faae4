//! One direction of a TCP byte stream, put back in order.
//!
//! Policy (documented in docs/ARCHITECTURE.md):
//! - Offsets are 64-bit, relative to the first sequence number after the SYN (or to the first
//!   data segment when capture started mid-stream), so wrap-around of the 32-bit sequence
//!   space is invisible to consumers.
//! - Data already delivered is never delivered again: a retransmission, or the part of a
//!   segment that overlaps delivered bytes, is dropped and counted ("first delivered wins").
//! - Out-of-order data waits in a buffer. Where buffered segments overlap, the bytes that
//!   arrived first win (the BSD/Linux "first" policy); differing overlap bytes are counted.
//! - Bytes that never arrive are handed on as [`Chunk::Gap`] — when the buffer limit is hit,
//!   when the stream ends, or when the flow is evicted — never papered over.

use std::collections::BTreeMap;

/// What the consumer of a stream receives, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    Data(&'a [u8]),
    /// This many bytes are missing from the stream here.
    Gap(u64),
}

/// One TCP segment as the stream sees it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub payload: &'a [u8],
}

/// What one segment did to the stream, for history letters and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentOutcome {
    /// Some or all of its bytes had been seen before.
    pub retransmitted: bool,
    /// Overlapping bytes differed from what was already there.
    pub inconsistent: bool,
    /// A gap was handed on while processing it (buffer limit).
    pub gap: bool,
    /// Buffered out-of-order bytes had to be released early because of a limit.
    pub evicted: bool,
}

/// Limits on buffered out-of-order data (the `[reassembly]` section of the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReassemblyLimits {
    /// Out-of-order bytes one direction may buffer before its gap is declared.
    pub max_buffered_per_stream: usize,
    /// Out-of-order segments one direction may buffer.
    pub max_segments_per_stream: usize,
    /// Out-of-order bytes all streams together may buffer.
    pub max_buffered_total: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        Self { max_buffered_per_stream: 1 << 20, max_segments_per_stream: 1024, max_buffered_total: 256 << 20 }
    }
}

#[derive(Debug, Default)]
pub struct Stream {
    base: Option<u32>,
    next: u64,
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    fin: Option<u64>,
    /// Bytes handed on as data.
    pub delivered: u64,
    /// Bytes handed on as gaps.
    pub missing: u64,
    /// Bytes dropped as already seen.
    pub duplicate: u64,
}

impl Stream {
    pub fn is_started(&self) -> bool {
        self.base.is_some()
    }

    /// Bytes buffered out of order right now.
    pub fn buffered(&self) -> usize {
        self.ooo_bytes
    }

    /// True once the FIN's sequence number has been reached in order.
    pub fn is_finished(&self) -> bool {
        self.fin.is_some_and(|f| self.next >= f)
    }

    /// Feeds one segment. `total` is the buffered byte count across all streams, kept by the
    /// caller and updated here.
    pub fn segment(
        &mut self,
        seg: Segment<'_>,
        limits: &ReassemblyLimits,
        total: &mut usize,
        out: &mut dyn FnMut(Chunk<'_>),
    ) -> SegmentOutcome {
        *total = total.saturating_sub(self.ooo_bytes);
        let outcome = self.apply(seg, limits, *total, out);
        *total += self.ooo_bytes;
        outcome
    }

    /// `others`: bytes buffered by all other streams.
    fn apply(
        &mut self,
        Segment { seq, syn, fin, payload }: Segment<'_>,
        limits: &ReassemblyLimits,
        others: usize,
        out: &mut dyn FnMut(Chunk<'_>),
    ) -> SegmentOutcome {
        let mut outcome = SegmentOutcome::default();
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let base = match self.base {
            Some(b) => b,
            None if syn || !payload.is_empty() || fin => {
                self.base = Some(data_seq);
                data_seq
            }
            None => return outcome,
        };
        let expected = base.wrapping_add(self.next as u32);
        let delta = i64::from(data_seq.wrapping_sub(expected) as i32);
        let mut off = self.next as i64 + delta;
        let mut data = payload;
        if off < 0 {
            // Bytes from before the point where this stream was picked up.
            let cut = off.unsigned_abs() as usize;
            if cut >= data.len() {
                return outcome;
            }
            data = &data[cut..];
            off = 0;
        }
        let off = off as u64;
        if fin {
            self.fin.get_or_insert(off + data.len() as u64);
        }
        if data.is_empty() {
            return outcome;
        }
        let end = off + data.len() as u64;
        if end <= self.next {
            outcome.retransmitted = true;
            self.duplicate += data.len() as u64;
            return outcome;
        }
        if off > self.next {
            self.buffer(off, data, &mut outcome);
            let over = self.ooo_bytes > limits.max_buffered_per_stream
                || self.ooo.len() > limits.max_segments_per_stream
                || others + self.ooo_bytes > limits.max_buffered_total;
            if over {
                outcome.evicted = true;
                outcome.gap = true;
                self.flush(out);
            }
            return outcome;
        }
        if off < self.next {
            outcome.retransmitted = true;
            let cut = (self.next - off) as usize;
            self.duplicate += cut as u64;
            data = &data[cut..];
        }
        self.deliver(data, out);
        self.drain(out);
        outcome
    }

    /// Hands on everything still buffered, with gaps where bytes are missing. Called when the
    /// stream ends, its flow is evicted, or a limit is hit.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some((&off, _)) = self.ooo.first_key_value() {
            if off > self.next {
                let gap = off - self.next;
                self.missing += gap;
                out(Chunk::Gap(gap));
                self.next = off;
            }
            self.drain(out);
        }
    }

    /// Removes this stream's buffered bytes from the caller's total: call before the final
    /// [`flush`](Self::flush) of a stream that is going away.
    pub fn release_accounting(&mut self, total: &mut usize) {
        *total = total.saturating_sub(self.ooo_bytes);
    }

    fn deliver(&mut self, data: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        self.next += data.len() as u64;
        self.delivered += data.len() as u64;
        out(Chunk::Data(data));
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some(entry) = self.ooo.first_entry() {
            let off = *entry.key();
            if off > self.next {
                break;
            }
            let seg = entry.remove();
            self.ooo_bytes -= seg.len();
            let end = off + seg.len() as u64;
            if end <= self.next {
                self.duplicate += seg.len() as u64;
                continue;
            }
            let skip = (self.next - off) as usize;
            self.duplicate += skip as u64;
            self.deliver(&seg[skip..], out);
        }
    }

    /// Stores the parts of `data` at `off` not already buffered (first arrival wins).
    fn buffer(&mut self, off: u64, data: &[u8], outcome: &mut SegmentOutcome) {
        let end = off + data.len() as u64;
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cur = off;
        // The buffered segment that starts before `off` may cover its beginning.
        let before = self.ooo.range(..off).next_back().map(|(&o, v)| (o, o + v.len() as u64));
        let overlapping = before.into_iter().chain(self.ooo.range(off..end).map(|(&o, v)| (o, o + v.len() as u64)));
        for (o, e) in overlapping {
            if e <= cur {
                continue;
            }
            if o > cur {
                pieces.push((cur, o.min(end)));
            }
            let (a, b) = (o.max(cur), e.min(end));
            if a < b {
                outcome.retransmitted = true;
                self.duplicate += b - a;
                let old = &self.ooo[&o][(a - o) as usize..(b - o) as usize];
                if old != &data[(a - off) as usize..(b - off) as usize] {
                    outcome.inconsistent = true;
                }
            }
            cur = cur.max(e);
            if cur >= end {
                break;
            }
        }
        if cur < end {
            pieces.push((cur, end));
        }
        for (a, b) in pieces {
            let bytes = data[(a - off) as usize..(b - off) as usize].to_vec();
            self.ooo_bytes += bytes.len();
            self.ooo.insert(a, bytes);
        }
    }
}

#[cfg(test)]
mod tests;
