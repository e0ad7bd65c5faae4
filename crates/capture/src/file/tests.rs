use super::*;
use std::io::Write;

fn pcap(nanos: bool, big: bool, link: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut b = Vec::new();
    b.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    b.extend_from_slice(&w16(2));
    b.extend_from_slice(&w16(4));
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&w32(65535));
    b.extend_from_slice(&w32(link));
    for (s, frac, data) in recs {
        b.extend_from_slice(&w32(*s));
        b.extend_from_slice(&w32(*frac));
        b.extend_from_slice(&w32(data.len() as u32));
        b.extend_from_slice(&w32(data.len() as u32 + 10));
        b.extend_from_slice(data);
    }
    b
}

struct Ng {
    b: Vec<u8>,
    big: bool,
}

impl Ng {
    fn new(big: bool) -> Self {
        let mut ng = Ng { b: Vec::new(), big };
        ng.section();
        ng
    }
    fn w32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn w16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, kind: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let total = (body.len() + 12) as u32;
        let (k, t) = (self.w32(kind), self.w32(total));
        self.b.extend_from_slice(&k);
        self.b.extend_from_slice(&t);
        self.b.extend_from_slice(&body);
        self.b.extend_from_slice(&t);
    }
    fn section(&mut self) {
        let mut body = self.w32(0x1a2b_3c4d).to_vec();
        body.extend_from_slice(&self.w16(1));
        body.extend_from_slice(&self.w16(0));
        body.extend_from_slice(&[0xff; 8]);
        self.block(0x0a0d_0d0a, &body);
    }
    fn opt(&self, code: u16, v: &[u8]) -> Vec<u8> {
        let mut o = self.w16(code).to_vec();
        o.extend_from_slice(&self.w16(v.len() as u16));
        o.extend_from_slice(v);
        while !o.len().is_multiple_of(4) {
            o.push(0);
        }
        o
    }
    fn idb(&mut self, link: u16, tsresol: Option<u8>, name: &str) {
        let mut body = self.w16(link).to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.w32(0));
        body.extend(self.opt(2, name.as_bytes()));
        if let Some(r) = tsresol {
            body.extend(self.opt(9, &[r]));
        }
        body.extend(self.opt(0, &[]));
        self.block(1, &body);
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) {
        let mut body = self.w32(iface).to_vec();
        body.extend_from_slice(&self.w32((ts >> 32) as u32));
        body.extend_from_slice(&self.w32(ts as u32));
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(6, &body);
    }
}

fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}

type Frames = Vec<(i64, u32, Vec<u8>)>;

fn read_all(path: &Path) -> (Frames, Option<CaptureError>, CaptureFile) {
    let mut f = CaptureFile::open(path, 0, FileLimits::default()).unwrap();
    let mut out = Vec::new();
    let err = loop {
        match f.next_frame() {
            Ok(Some(fr)) => out.push((fr.ts, fr.interface, fr.data.to_vec())),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    (out, err, f)
}

#[test]
fn pcap_micro_and_nano_in_both_byte_orders() {
    for (nanos, big) in [(false, false), (false, true), (true, false), (true, true)] {
        let t = write(&pcap(nanos, big, 1, &[(10, 5, b"abc"), (11, 0, b"")]));
        let (frames, err, f) = read_all(t.path());
        assert!(err.is_none());
        let unit = if nanos { 1 } else { 1000 };
        assert_eq!(frames[0], (10_000_000_000 + 5 * unit, 0, b"abc".to_vec()));
        assert_eq!(frames.len(), 2);
        assert_eq!(f.interfaces[0].link, LinkType::ETHERNET);
    }
}

#[test]
fn truncated_pcap_keeps_every_whole_frame() {
    let full = pcap(false, false, 1, &[(1, 0, b"first"), (2, 0, b"second")]);
    let t = write(&full[..full.len() - 3]);
    let (frames, err, _) = read_all(t.path());
    assert_eq!(frames.len(), 1);
    assert!(matches!(err, Some(CaptureError::Truncated { .. })), "{err:?}");
}

#[test]
fn absurd_record_length_is_malformed_not_an_allocation() {
    let mut b = pcap(false, false, 1, &[(1, 0, b"x")]);
    b[24 + 8..24 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let t = write(&b);
    let (_, err, _) = read_all(t.path());
    assert!(matches!(err, Some(CaptureError::Malformed { .. })), "{err:?}");
}

#[test]
fn gzip_capture_is_read_directly() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&pcap(false, false, 113, &[(1, 0, b"cooked")])).unwrap();
    let t = write(&gz.finish().unwrap());
    let (frames, err, f) = read_all(t.path());
    assert!(err.is_none() && f.is_compressed());
    assert_eq!(frames[0].2, b"cooked");
    assert_eq!(f.interfaces[0].link, LinkType::LINUX_SLL);
}

/// A gzip capture damaged part-way: the frames before the damage, then a clear error; a
/// truncated one: every whole frame, then `Truncated`.
#[test]
fn damaged_gzip_capture_keeps_the_frames_before_the_damage() {
    let payloads: Vec<Vec<u8>> =
        (0..200u32).map(|i| (0..300).map(|j| (i * 7 + j * 13 % 251) as u8).collect()).collect();
    let recs: Vec<(u32, u32, &[u8])> = payloads.iter().enumerate().map(|(i, p)| (i as u32, 0, p.as_slice())).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&pcap(false, false, 1, &recs)).unwrap();
    let good = gz.finish().unwrap();
    let mut bad = good.clone();
    let at = bad.len() * 3 / 4;
    for b in &mut bad[at..at + 16] {
        *b ^= 0x5a;
    }
    let t = write(&bad);
    let (frames, err, _) = read_all(t.path());
    // (A damaged deflate stream may yield some wrong bytes before it is found out.)
    assert!(frames.len() >= 100 && frames.len() < 200, "{}", frames.len());
    assert!(frames[..100].iter().zip(&payloads).all(|(f, p)| &f.2 == p));
    assert!(matches!(err, Some(CaptureError::Malformed { .. } | CaptureError::Truncated { .. })), "{err:?}");
    let t = write(&good[..good.len() / 2]);
    let (frames, err, _) = read_all(t.path());
    assert!(!frames.is_empty() && frames.len() < 200);
    assert!(matches!(err, Some(CaptureError::Truncated { .. })), "{err:?}");
}

#[test]
fn pcapng_interfaces_resolutions_names_and_secrets() {
    let mut ng = Ng::new(false);
    ng.idb(1, None, "eth0"); // microseconds
    ng.idb(101, Some(9), "tun0"); // nanoseconds
    ng.idb(113, Some(0x80 | 10), "any"); // 2^-10 s
    ng.epb(0, 1_000_001, b"a");
    ng.epb(1, 1_000_000_002, b"bb");
    ng.epb(2, 2048, b"ccc");
    let mut nrb = Vec::new();
    nrb.extend_from_slice(&ng.w16(1));
    nrb.extend_from_slice(&ng.w16(4 + 9));
    nrb.extend_from_slice(&[192, 0, 2, 7]);
    nrb.extend_from_slice(b"sip.test\0");
    nrb.extend_from_slice(&[0, 0, 0]);
    nrb.extend_from_slice(&[0, 0, 0, 0]);
    ng.block(4, &nrb);
    let mut dsb = ng.w32(0x544c_534b).to_vec();
    dsb.extend_from_slice(&ng.w32(5));
    dsb.extend_from_slice(b"CLIEN");
    ng.block(10, &dsb);
    ng.block(0x0000_0bad, b"custom");
    let mut isb = ng.w32(1).to_vec();
    isb.extend_from_slice(&[0; 8]);
    isb.extend(ng.opt(4, &1000u64.to_le_bytes()));
    isb.extend(ng.opt(5, &7u64.to_le_bytes()));
    isb.extend(ng.opt(0, &[]));
    ng.block(5, &isb);
    let t = write(&ng.b);
    let (frames, err, f) = read_all(t.path());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames[0], (1_000_001_000, 0, b"a".to_vec()));
    assert_eq!(frames[1], (1_000_000_002, 1, b"bb".to_vec()));
    assert_eq!(frames[2], (2_000_000_000, 2, b"ccc".to_vec()));
    assert_eq!(f.interfaces[1].name.as_deref(), Some("tun0"));
    assert_eq!(f.interfaces[2].link, LinkType::LINUX_SLL);
    assert_eq!(f.names, vec![NameRecord { addr: "192.0.2.7".parse().unwrap(), names: vec!["sip.test".into()] }]);
    assert_eq!(f.secrets, vec![Secrets { kind: 0x544c_534b, data: b"CLIEN".to_vec() }]);
    assert_eq!(f.skipped_blocks, 1);
    assert_eq!((f.interfaces[1].received, f.interfaces[1].dropped), (Some(1000), Some(7)));
    assert!(!format!("{:?}", f.secrets).contains("CLIEN"), "secrets never reach Debug output");
}

#[test]
fn pcapng_second_section_may_change_byte_order_and_restarts_interface_ids() {
    let mut a = Ng::new(false);
    a.idb(1, None, "le");
    a.epb(0, 5, b"le");
    let mut b = Ng::new(true);
    b.idb(101, None, "be");
    b.epb(0, 6, b"be");
    let mut bytes = a.b.clone();
    bytes.extend_from_slice(&b.b);
    let t = write(&bytes);
    let (frames, err, f) = read_all(t.path());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.iter().map(|x| x.1).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(f.interfaces[1].link, LinkType::RAW);
}

#[test]
fn pcapng_packet_on_undescribed_interface_is_malformed() {
    let mut ng = Ng::new(false);
    ng.epb(3, 0, b"x");
    let t = write(&ng.b);
    let (_, err, _) = read_all(t.path());
    assert!(matches!(err, Some(CaptureError::Malformed { .. })));
}

#[test]
fn not_a_capture_directory_and_empty_file_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = CaptureFile::open(dir.path(), 0, FileLimits::default()).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    let t = write(b"GET / HTTP/1.1\r\n");
    let e = CaptureFile::open(t.path(), 0, FileLimits::default()).unwrap_err();
    assert!(e.to_string().contains("not a pcap or pcapng file (starts with 47 45 54 20)"), "{e}");
    let t = write(b"");
    let e = CaptureFile::open(t.path(), 0, FileLimits::default()).unwrap_err();
    assert!(e.to_string().contains("empty file"), "{e}");
}

#[test]
fn merge_orders_frames_of_several_files_by_time() {
    let a = write(&pcap(false, false, 1, &[(1, 0, b"a1"), (3, 0, b"a3")]));
    let b = write(&pcap(true, false, 1, &[(2, 0, b"b2"), (4, 0, b"b4")]));
    let files = vec![
        CaptureFile::open(a.path(), 0, FileLimits::default()).unwrap(),
        CaptureFile::open(b.path(), 1, FileLimits::default()).unwrap(),
    ];
    let mut m = crate::Merge::new(files);
    let mut got = Vec::new();
    while m.advance().unwrap() {
        let f = m.current().unwrap();
        got.push((f.source, f.data.to_vec()));
    }
    assert_eq!(got, vec![(0, b"a1".to_vec()), (1, b"b2".to_vec()), (0, b"a3".to_vec()), (1, b"b4".to_vec())]);
}

#[test]
fn frame_times_are_kept_between_1970_and_2116() {
    // A file may claim any time; later stages add timeouts to it (fuzz regression).
    let mut w = Ng::new(false);
    w.idb(1, Some(0x80 | 1), "half seconds"); // 2^-1 s per tick
    w.epb(0, u64::MAX, b"late");
    let f = write(&w.b);
    let (frames, err, _) = read_all(f.path());
    assert!(err.is_none());
    assert_eq!(frames[0].0, crate::MAX_TS);
}
