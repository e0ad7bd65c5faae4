//! One T-Library packet payload under several wire profiles: whatever decodes must encode
//! and decode again to the same message; framing never panics on any prefix.
#![no_main]
use iotw_decode::genesys::kvlist::KvLimits;
use iotw_decode::genesys::profile::DEFAULT_TEXT;
use iotw_decode::genesys::tlib::{decode, encode, frame};
use iotw_decode::genesys::WireProfile;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn profiles() -> &'static [WireProfile] {
    static P: OnceLock<Vec<WireProfile>> = OnceLock::new();
    P.get_or_init(|| {
        [
            DEFAULT_TEXT.to_string(),
            DEFAULT_TEXT.replace("byte_order = \"big\"", "byte_order = \"little\""),
            DEFAULT_TEXT.replace("attribute_count_bytes = 0", "attribute_count_bytes = 2"),
            // No attribute lengths: sizes from the value kinds, strings end with NUL.
            DEFAULT_TEXT.replace("string_nul = false", "string_nul = true").replace("\nlength_bytes = 2\n", "\nlength_bytes = 0\n"),
        ]
        .iter()
        .map(|t| WireProfile::parse(t).unwrap())
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let kv = KvLimits { max_pairs: 256, max_depth: 8 };
    for p in profiles() {
        let _ = frame(data, p);
        if let Ok(m) = decode(data, p, 256, kv) {
            if let Some(packet) = encode(&m, p) {
                let hl = usize::from(p.packet.length_bytes);
                let again = decode(&packet[hl..], p, 256, kv).expect("an encoded message decodes");
                assert_eq!(again, m);
            }
        }
    }
});
