//! The whole packet pipeline of `iotw capture` (capture file reader, L2-L4, defragmentation,
//! flows, reassembly, the decoders, documents) fed with mutated captures; seeded with the SIP
//! captures. Every document it produces must be valid JSON.
#![no_main]
#[path = "common.rs"]
mod common;
use iotw::config::Config;
use iotw::pipeline::Pipeline;
use iotw_capture::{CaptureFile, FileLimits};
use iotw_ship::queue::{queue, FullPolicy};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let mut cfg = Config::default();
    cfg.decode.max_message = 16 * 1024;
    cfg.decode.max_transactions = 16;
    let (tx, rx, _) = queue(1 << 16, FullPolicy::DropNewest);
    let mut p = Pipeline::new(&cfg, None, vec!["fuzz".into()], tx, Default::default());
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut f) = CaptureFile::from_reader(Path::new("fuzz"), reader, data.len() as u64, 0, FileLimits::default())
    else {
        return;
    };
    let mut last = 0;
    for _ in 0..10_000 {
        match f.next_frame() {
            Ok(Some(fr)) => {
                last = fr.ts;
                p.frame(&fr);
            }
            Ok(None) => break,
            Err(e) => {
                p.source_damaged(last, "fuzz", &e.to_string());
                break;
            }
        }
    }
    drop(f);
    let _ = p.finish();
    for mut batch in rx.try_iter() {
        // What the shipper thread does first: render the deferred parts.
        common::assert_valid_documents(&mut batch);
    }
});
