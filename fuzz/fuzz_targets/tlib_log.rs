//! T-Server log text: any text reads without a panic, and what it yields is bounded by the
//! lines it had.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let msgs = iotw_decode::genesys::log::parse(&text);
    assert!(msgs.len() <= text.lines().count());
    for m in &msgs {
        for (_, v) in &m.attributes {
            let _ = format!("{v:?}");
        }
    }
});
