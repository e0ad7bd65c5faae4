//! IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) fragment reassembly.
//!
//! Policy: a datagram is held until every byte from 0 to the end given by the last fragment
//! has arrived, or until its timeout. Overlapping IPv4 fragments keep the bytes that arrived
//! first and are counted; overlapping IPv6 fragments discard the whole datagram (RFC 5722).
//! Every limit hit is a counted [`DefragAnomaly`]; nothing grows without bound.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

pub type Nanos = i64;

#[derive(Debug, Clone, Copy)]
pub struct DefragLimits {
    /// Largest reassembled payload (IPv4 allows 65,515; jumbograms are not reassembled).
    pub max_datagram: usize,
    /// Datagrams being reassembled at once; past this the oldest is dropped.
    pub max_pending: usize,
    /// Fragments one datagram may have.
    pub max_fragments: usize,
    /// How long a datagram may wait for its missing fragments.
    pub timeout: Nanos,
}

impl Default for DefragLimits {
    fn default() -> Self {
        Self { max_datagram: 65_535, max_pending: 8192, max_fragments: 128, timeout: 30_000_000_000 }
    }
}

/// Why fragments were discarded (or, for `Overlap` on IPv4, kept with a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefragAnomaly {
    Overlap,
    OverlapDropped,
    TooLarge,
    TooManyFragments,
    PendingLimit,
    Timeout,
    /// Two fragments claimed different ends for one datagram.
    InconsistentEnd,
}

impl DefragAnomaly {
    pub fn code(self) -> &'static str {
        match self {
            Self::Overlap => "fragment_overlap",
            Self::OverlapDropped => "fragment_overlap_dropped",
            Self::TooLarge => "fragment_too_large",
            Self::TooManyFragments => "fragment_count_limit",
            Self::PendingLimit => "fragment_pending_limit",
            Self::Timeout => "fragment_timeout",
            Self::InconsistentEnd => "fragment_inconsistent_end",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey {
    vlan: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug)]
struct Pending {
    buf: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(usize, usize)>,
    end: Option<usize>,
    fragments: usize,
    frame_bytes: u64,
    deadline: Nanos,
    serial: u64,
}

/// A datagram whose fragments are all in.
#[derive(Debug)]
pub struct Reassembled {
    pub payload: Vec<u8>,
    /// Fragments (frames) it was made of, and their bytes on the wire.
    pub frames: u64,
    pub frame_bytes: u64,
}

#[derive(Debug, Default)]
pub struct Defrag {
    pending: HashMap<FragKey, Pending>,
    order: VecDeque<(Nanos, FragKey, u64)>,
    serial: u64,
}

/// One fragment as the wire layer saw it.
#[derive(Debug, Clone, Copy)]
pub struct FragmentIn<'a> {
    pub vlan: u16,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub frag: iotw_wire::Fragment,
    pub payload: &'a [u8],
    pub frame_len: u32,
}

impl Defrag {
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds a fragment; returns the datagram when it is complete, and any anomaly seen.
    pub fn insert(
        &mut self,
        now: Nanos,
        f: FragmentIn<'_>,
        limits: &DefragLimits,
        anomalies: &mut dyn FnMut(DefragAnomaly),
    ) -> Option<Reassembled> {
        let key = FragKey { vlan: f.vlan, src: f.src, dst: f.dst, proto: f.proto, id: f.frag.id };
        let start = f.frag.offset as usize;
        let end = start + f.payload.len();
        if end > limits.max_datagram {
            anomalies(DefragAnomaly::TooLarge);
            self.drop_key(&key);
            return None;
        }
        if !self.pending.contains_key(&key) {
            while self.pending.len() >= limits.max_pending {
                let Some((_, old, serial)) = self.order.pop_front() else {
                    break;
                };
                if self.pending.get(&old).is_some_and(|p| p.serial == serial) {
                    self.pending.remove(&old);
                    anomalies(DefragAnomaly::PendingLimit);
                }
            }
            self.serial += 1;
            let deadline = now.saturating_add(limits.timeout);
            self.order.push_back((deadline, key, self.serial));
            self.pending.insert(
                key,
                Pending {
                    buf: Vec::new(),
                    have: Vec::new(),
                    end: None,
                    fragments: 0,
                    frame_bytes: 0,
                    deadline,
                    serial: self.serial,
                },
            );
        }
        let v6 = f.src.is_ipv6();
        let p = self.pending.get_mut(&key)?;
        p.fragments += 1;
        p.frame_bytes += u64::from(f.frame_len);
        if p.fragments > limits.max_fragments {
            anomalies(DefragAnomaly::TooManyFragments);
            self.drop_key(&key);
            return None;
        }
        if !f.frag.more {
            if p.end.is_some_and(|e| e != end) || p.have.last().is_some_and(|&(_, e)| e > end) {
                anomalies(DefragAnomaly::InconsistentEnd);
                self.drop_key(&key);
                return None;
            }
            p.end = Some(end);
        } else if p.end.is_some_and(|e| end > e) {
            anomalies(DefragAnomaly::InconsistentEnd);
            self.drop_key(&key);
            return None;
        }
        if p.buf.len() < end {
            p.buf.resize(end, 0);
        }
        let overlaps = copy_missing(p, start, f.payload);
        if overlaps {
            if v6 {
                anomalies(DefragAnomaly::OverlapDropped);
                self.drop_key(&key);
                return None;
            }
            anomalies(DefragAnomaly::Overlap);
        }
        let complete = p.end.is_some_and(|e| p.have.len() == 1 && p.have[0] == (0, e));
        if !complete {
            return None;
        }
        let mut done = self.pending.remove(&key)?;
        let e = done.end.unwrap_or(done.buf.len());
        done.buf.truncate(e);
        Some(Reassembled { payload: done.buf, frames: done.fragments as u64, frame_bytes: done.frame_bytes })
    }

    /// Drops datagrams whose timeout has passed; each is a counted anomaly.
    pub fn expire(&mut self, now: Nanos, anomalies: &mut dyn FnMut(DefragAnomaly)) {
        while let Some(&(deadline, key, serial)) = self.order.front() {
            if deadline > now {
                break;
            }
            self.order.pop_front();
            if self.pending.get(&key).is_some_and(|p| p.serial == serial && p.deadline <= now) {
                self.pending.remove(&key);
                anomalies(DefragAnomaly::Timeout);
            }
        }
    }

    fn drop_key(&mut self, key: &FragKey) {
        self.pending.remove(key);
    }
}

/// Copies the bytes of `data` at `start` that are not yet present; true if any overlapped.
fn copy_missing(p: &mut Pending, start: usize, data: &[u8]) -> bool {
    let end = start + data.len();
    let mut overlapped = false;
    let mut cur = start;
    for &(a, b) in &p.have {
        if b <= cur || a >= end {
            continue;
        }
        if a > cur {
            p.buf[cur..a].copy_from_slice(&data[cur - start..a - start]);
        }
        overlapped = true;
        cur = cur.max(b);
    }
    if cur < end {
        p.buf[cur..end].copy_from_slice(&data[cur - start..]);
    }
    // Merge [start, end) into the sorted interval list.
    p.have.push((start, end));
    p.have.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(p.have.len());
    for &(a, b) in &p.have {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    p.have = merged;
    overlapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotw_wire::Fragment;

    fn frag<'a>(src: &str, id: u32, offset: u32, more: bool, payload: &'a [u8]) -> FragmentIn<'a> {
        FragmentIn {
            vlan: 0,
            src: src.parse().unwrap(),
            dst: if src.contains(':') { "::2".parse().unwrap() } else { "10.0.0.2".parse().unwrap() },
            proto: 17,
            frag: Fragment { id, offset, more },
            payload,
            frame_len: payload.len() as u32 + 34,
        }
    }

    fn run(d: &mut Defrag, fs: &[FragmentIn<'_>], l: &DefragLimits) -> (Option<Reassembled>, Vec<DefragAnomaly>) {
        let mut an = Vec::new();
        let mut out = None;
        for f in fs {
            if let Some(r) = d.insert(0, *f, l, &mut |a| an.push(a)) {
                out = Some(r);
            }
        }
        (out, an)
    }

    #[test]
    fn fragments_in_any_order_reassemble() {
        let mut d = Defrag::default();
        let l = DefragLimits::default();
        let (r, an) = run(
            &mut d,
            &[
                frag("10.0.0.1", 7, 16, false, b"CCCC"),
                frag("10.0.0.1", 7, 0, true, b"AAAAAAAA"),
                frag("10.0.0.1", 7, 8, true, b"BBBBBBBB"),
            ],
            &l,
        );
        let r = r.unwrap();
        assert_eq!(r.payload, b"AAAAAAAABBBBBBBBCCCC");
        assert_eq!(r.frames, 3);
        assert!(an.is_empty());
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn ipv4_overlap_keeps_first_bytes_and_is_counted() {
        let mut d = Defrag::default();
        let (r, an) = run(
            &mut d,
            &[frag("10.0.0.1", 1, 0, true, b"AAAAAAAA"), frag("10.0.0.1", 1, 0, false, b"XXXXXXXXYY")],
            &DefragLimits::default(),
        );
        assert_eq!(r.unwrap().payload, b"AAAAAAAAYY");
        assert_eq!(an, vec![DefragAnomaly::Overlap]);
    }

    #[test]
    fn ipv6_overlap_drops_the_datagram() {
        let mut d = Defrag::default();
        let (r, an) = run(
            &mut d,
            &[frag("::1", 1, 0, true, b"AAAAAAAA"), frag("::1", 1, 0, false, b"XXXXXXXXYY")],
            &DefragLimits::default(),
        );
        assert!(r.is_none());
        assert_eq!(an, vec![DefragAnomaly::OverlapDropped]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn fragment_flood_is_bounded_and_counted() {
        let mut d = Defrag::default();
        let l = DefragLimits { max_pending: 10, ..DefragLimits::default() };
        let mut an = Vec::new();
        for id in 0..1000 {
            d.insert(0, frag("10.0.0.1", id, 0, true, b"AAAAAAAA"), &l, &mut |a| an.push(a));
        }
        assert_eq!(d.pending(), 10);
        assert_eq!(an.len(), 990);
        d.expire(l.timeout, &mut |a| an.push(a));
        assert_eq!(d.pending(), 0);
        assert_eq!(an.iter().filter(|a| **a == DefragAnomaly::Timeout).count(), 10);
    }

    #[test]
    fn fragment_at_the_end_of_time_does_not_overflow_its_deadline() {
        // Found by the pipeline fuzz target: a frame time near i64::MAX plus the timeout.
        let mut d = Defrag::default();
        let l = DefragLimits::default();
        assert!(d.insert(i64::MAX - 1, frag("10.0.0.1", 1, 0, true, b"AAAAAAAA"), &l, &mut |_| {}).is_none());
        assert_eq!(d.pending(), 1);
    }

    #[test]
    fn datagram_past_the_size_limit_is_refused() {
        let mut d = Defrag::default();
        let (_, an) = run(&mut d, &[frag("10.0.0.1", 1, 65_528, false, b"0123456789")], &DefragLimits::default());
        assert_eq!(an, vec![DefragAnomaly::TooLarge]);
    }
}
