use super::*;
use std::sync::Arc;

fn cfg() -> SpoolConfig {
    SpoolConfig { max_bytes: 1 << 20, segment_bytes: 200, fsync: Fsync::Always, when_full: WhenFull::Block }
}

fn records(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("record {i:03} ").repeat(i % 5 + 1).into_bytes()).collect()
}

fn claim_all(s: &Spool) -> Vec<Claim> {
    let mut out = Vec::new();
    while let Some(c) = s.claim(3, 1 << 20, Duration::ZERO).unwrap() {
        out.push(c);
    }
    out
}

#[test]
fn records_come_back_in_order_across_segments_and_delivered_ones_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let s = Spool::open(dir.path(), cfg()).unwrap();
    for r in records(20) {
        assert_eq!(s.append(&r, &stop).unwrap(), Appended::Stored);
    }
    assert_eq!(s.depth().records, 20);
    let segments = || {
        fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
            .count()
    };
    assert!(segments() > 3, "small segments roll over");
    let claims = claim_all(&s);
    let got: Vec<Vec<u8>> = claims.iter().flat_map(|c| c.records.clone()).collect();
    assert_eq!(got, records(20));
    for c in &claims {
        s.complete(c.start, c.end, c.records.len()).unwrap();
    }
    assert!(s.is_drained());
    assert_eq!(segments(), 1, "only the segment being written is left");
    drop(s);
    let again = Spool::open(dir.path(), cfg()).unwrap();
    assert!(again.claim(10, 1 << 20, Duration::ZERO).unwrap().is_none());
    assert!(again.is_drained());
}

#[test]
fn what_was_not_delivered_before_a_crash_is_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let s = Spool::open(dir.path(), cfg()).unwrap();
    for r in records(10) {
        s.append(&r, &stop).unwrap();
    }
    let first = s.claim(4, 1 << 20, Duration::ZERO).unwrap().unwrap();
    let second = s.claim(4, 1 << 20, Duration::ZERO).unwrap().unwrap();
    // Only the second claim is delivered: the ack cannot move past the first.
    s.complete(second.start, second.end, second.records.len()).unwrap();
    drop(s); // a crash: nothing else is written
    let again = Spool::open(dir.path(), cfg()).unwrap();
    assert_eq!(again.depth().records, 10);
    let got: Vec<Vec<u8>> = claim_all(&again).into_iter().flat_map(|c| c.records).collect();
    assert_eq!(got, records(10), "at least once, in order");
    assert_eq!(first.records.len(), 4);
}

#[test]
fn claims_completed_out_of_order_move_the_ack_once_the_gap_closes() {
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let s = Spool::open(dir.path(), cfg()).unwrap();
    for r in records(9) {
        s.append(&r, &stop).unwrap();
    }
    let c: Vec<Claim> = claim_all(&s);
    assert_eq!(c.len(), 3);
    s.complete(c[2].start, c[2].end, 3).unwrap();
    s.complete(c[1].start, c[1].end, 3).unwrap();
    assert!(!s.is_drained());
    assert!(!dir.path().join("ack").exists(), "nothing delivered without a gap yet");
    s.complete(c[0].start, c[0].end, 3).unwrap();
    assert!(s.is_drained());
    let ack = parse_pos(&fs::read_to_string(dir.path().join("ack")).unwrap()).unwrap();
    assert_eq!(ack, c[2].end);
}

#[test]
fn a_torn_last_record_is_cut_and_writing_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let s = Spool::open(dir.path(), SpoolConfig { segment_bytes: 1 << 20, ..cfg() }).unwrap();
    for r in records(3) {
        s.append(&r, &stop).unwrap();
    }
    drop(s);
    let seg = segment_path(dir.path(), 1);
    let whole = fs::metadata(&seg).unwrap().len();
    // Half a record, as a crash in the middle of a write leaves it.
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&100u32.to_le_bytes()).unwrap();
    f.write_all(&[1, 2, 3, 4, 5, 6]).unwrap();
    drop(f);
    let s = Spool::open(dir.path(), SpoolConfig { segment_bytes: 1 << 20, ..cfg() }).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), whole);
    s.append(b"after", &stop).unwrap();
    let got: Vec<Vec<u8>> = claim_all(&s).into_iter().flat_map(|c| c.records).collect();
    let mut want = records(3);
    want.push(b"after".to_vec());
    assert_eq!(got, want);
}

#[test]
fn a_damaged_record_ends_its_segment_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let s = Spool::open(dir.path(), cfg()).unwrap();
    for r in records(12) {
        s.append(&r, &stop).unwrap();
    }
    drop(s);
    // Flip a payload byte in the first segment.
    let seg = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[10] ^= 0xff;
    fs::write(&seg, bytes).unwrap();
    let s = Spool::open(dir.path(), cfg()).unwrap();
    let got: Vec<Vec<u8>> = claim_all(&s).into_iter().flat_map(|c| c.records).collect();
    assert!(s.damaged() >= 1);
    assert!(!got.is_empty() && got.len() < 12);
    assert_eq!(got.last(), records(12).last(), "later segments are read");
}

#[test]
fn a_full_spool_refuses_or_waits_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let small = SpoolConfig { max_bytes: 100, segment_bytes: 60, fsync: Fsync::Never, when_full: WhenFull::DropNewest };
    let s = Spool::open(dir.path(), small).unwrap();
    assert_eq!(s.append(&[7; 40], &stop).unwrap(), Appended::Stored);
    assert_eq!(s.append(&[7; 40], &stop).unwrap(), Appended::Stored);
    assert_eq!(s.append(&[7; 40], &stop).unwrap(), Appended::Dropped);
    assert_eq!(s.append(&[7; 200], &stop).unwrap(), Appended::Dropped, "larger than the spool");
    drop(s);

    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(Spool::open(dir.path(), SpoolConfig { when_full: WhenFull::Block, ..small }).unwrap());
    s.append(&[7; 40], &stop).unwrap();
    s.append(&[7; 40], &stop).unwrap();
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || s.append(&[8; 40], &stop).unwrap())
    };
    std::thread::sleep(Duration::from_millis(200));
    assert!(!writer.is_finished(), "waits for room");
    let c = s.claim(1, 1 << 20, Duration::ZERO).unwrap().unwrap();
    s.complete(c.start, c.end, 1).unwrap();
    assert_eq!(writer.join().unwrap(), Appended::Stored, "room made by a delivery");
    // Stopping ends the wait.
    let waiting = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || s.append(&[9; 40], &stop).unwrap())
    };
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, Ordering::Relaxed);
    assert_eq!(waiting.join().unwrap(), Appended::Dropped);
}

#[test]
fn batches_round_trip_and_damaged_ones_are_errors() {
    let mut batch = Vec::new();
    for i in 0..3 {
        let mut e = Event::new("sip", "event", 1_700_000_000_000_000_000 + i, &[&i.to_be_bytes()]);
        e.obj("sip").u64("n", i as u64).end();
        batch.push(e);
    }
    let mut rec = Vec::new();
    encode_batch(&batch, &mut rec);
    let docs = decode_batch(&rec).unwrap();
    assert_eq!(docs.len(), 3);
    for (d, e) in docs.iter().zip(&batch) {
        assert_eq!((d.dataset, d.ts, d.id), (e.dataset, e.ts, e.id.to_string().as_str()));
        assert_eq!(d.json, e.to_json().as_bytes());
    }
    for cut in 0..rec.len() {
        assert!(decode_batch(&rec[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = rec.clone();
    longer.push(0);
    assert!(decode_batch(&longer).is_err());
    let mut huge = rec.clone();
    huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_batch(&huge).is_err());
}
