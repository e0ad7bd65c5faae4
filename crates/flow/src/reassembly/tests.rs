use super::*;

#[derive(Default)]
struct Rx {
    bytes: Vec<u8>,
    gaps: Vec<u64>,
    total: usize,
}

impl Rx {
    fn feed(&mut self, s: &mut Stream, seq: u32, flags: &str, data: &[u8]) -> SegmentOutcome {
        self.feed_with(s, seq, flags, data, &ReassemblyLimits::default())
    }
    fn feed_with(
        &mut self,
        s: &mut Stream,
        seq: u32,
        flags: &str,
        data: &[u8],
        l: &ReassemblyLimits,
    ) -> SegmentOutcome {
        let (bytes, gaps) = (&mut self.bytes, &mut self.gaps);
        let mut out = |c: Chunk<'_>| match c {
            Chunk::Data(d) => bytes.extend_from_slice(d),
            Chunk::Gap(n) => gaps.push(n),
        };
        let seg = Segment { seq, syn: flags.contains('S'), fin: flags.contains('F'), payload: data };
        s.segment(seg, l, &mut self.total, &mut out)
    }
    fn flush(&mut self, s: &mut Stream) {
        let (bytes, gaps) = (&mut self.bytes, &mut self.gaps);
        s.flush(&mut |c| match c {
            Chunk::Data(d) => bytes.extend_from_slice(d),
            Chunk::Gap(n) => gaps.push(n),
        });
    }
}

#[test]
fn in_order_after_syn_is_delivered_as_is() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, 100, "S", b"");
    rx.feed(&mut s, 101, "", b"hello ");
    rx.feed(&mut s, 107, "F", b"world");
    assert_eq!(rx.bytes, b"hello world");
    assert!(s.is_finished());
}

#[test]
fn out_of_order_segments_wait_for_the_hole() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, 0, "S", b"");
    rx.feed(&mut s, 7, "", b"cd");
    rx.feed(&mut s, 5, "", b"ab");
    assert_eq!(rx.bytes, b"");
    assert_eq!(rx.total, 4);
    rx.feed(&mut s, 1, "", b"0123");
    assert_eq!(rx.bytes, b"0123abcd");
    assert_eq!(rx.total, 0, "global buffer accounting returns to zero");
}

#[test]
fn retransmission_is_dropped_and_reported() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, 0, "S", b"");
    rx.feed(&mut s, 1, "", b"abc");
    let o = rx.feed(&mut s, 1, "", b"abc");
    assert!(o.retransmitted);
    let o = rx.feed(&mut s, 2, "", b"bcdef");
    assert!(o.retransmitted);
    assert_eq!(rx.bytes, b"abcdef");
    assert_eq!(s.duplicate, 5);
}

#[test]
fn buffered_overlap_keeps_first_arrival_and_flags_conflict() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, 0, "S", b"");
    rx.feed(&mut s, 5, "", b"XYZ");
    let o = rx.feed(&mut s, 4, "", b"4xyz8");
    assert!(o.inconsistent);
    rx.feed(&mut s, 1, "", b"123");
    assert_eq!(rx.bytes, b"1234XYZ8");
}

#[test]
fn sequence_wrap_is_invisible() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, u32::MAX - 2, "S", b"");
    rx.feed(&mut s, u32::MAX - 1, "", b"ab");
    rx.feed(&mut s, 0, "", b"cd");
    rx.feed(&mut s, 2, "", b"ef");
    assert_eq!(rx.bytes, b"abcdef");
}

#[test]
fn mid_stream_pickup_starts_at_the_first_data() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, 5000, "", b""); // pure ACK: nothing to anchor on
    assert!(!s.is_started());
    rx.feed(&mut s, 5000, "", b"mid");
    rx.feed(&mut s, 4990, "", b"0123456789mid"); // older bytes before pickup are cut
    rx.feed(&mut s, 5003, "", b"dle");
    assert_eq!(rx.bytes, b"middle");
}

#[test]
fn missing_bytes_become_a_gap_at_flush() {
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed(&mut s, 0, "S", b"");
    rx.feed(&mut s, 1, "", b"ab");
    rx.feed(&mut s, 10, "", b"tail");
    rx.flush(&mut s);
    assert_eq!(rx.bytes, b"abtail");
    assert_eq!(rx.gaps, vec![7]);
    assert_eq!(s.missing, 7);
}

#[test]
fn buffer_limit_releases_with_a_gap() {
    let l = ReassemblyLimits { max_buffered_per_stream: 4, ..ReassemblyLimits::default() };
    let (mut s, mut rx) = (Stream::default(), Rx::default());
    rx.feed_with(&mut s, 0, "S", b"", &l);
    rx.feed_with(&mut s, 3, "", b"cd", &l);
    let o = rx.feed_with(&mut s, 5, "", b"efg", &l);
    assert!(o.evicted && o.gap);
    assert_eq!(rx.gaps, vec![2]);
    assert_eq!(rx.bytes, b"cdefg");
    assert_eq!(rx.total, 0);
    rx.feed_with(&mut s, 1, "", b"ab", &l); // the late bytes are old now
    assert_eq!(rx.bytes, b"cdefg");
}
