//! pcap/pcapng/gzip reader: any bytes give frames and then a clean end or an error, never a
//! panic or an unbounded allocation; every frame it yields goes through the wire layer too.
#![no_main]
use iotw_capture::{CaptureFile, FileLimits};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let limits = FileLimits { max_packet: 65_536, max_block: 1 << 20 };
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut f) = CaptureFile::from_reader(Path::new("fuzz"), reader, data.len() as u64, 0, limits) else { return };
    for _ in 0..10_000 {
        match f.next_frame() {
            Ok(Some(frame)) => {
                assert!(frame.data.len() <= 1 << 20);
                let _ = iotw_wire::parse(frame.link, frame.data);
            }
            Ok(None) | Err(_) => break,
        }
    }
});
