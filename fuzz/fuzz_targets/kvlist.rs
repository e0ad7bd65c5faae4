//! Packed KV lists (UserData, Extensions, Reasons) under the default wire profile and a
//! little-endian one; whatever decodes must encode back to the same bytes.
#![no_main]
use iotw_decode::genesys::kvlist::{decode, encode, KvLimits};
use iotw_decode::genesys::profile::DEFAULT_TEXT;
use iotw_decode::genesys::WireProfile;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn profiles() -> &'static [WireProfile; 2] {
    static P: OnceLock<[WireProfile; 2]> = OnceLock::new();
    P.get_or_init(|| {
        let little = DEFAULT_TEXT.replace("byte_order = \"big\"", "byte_order = \"little\"");
        [WireProfile::default(), WireProfile::parse(&little).unwrap()]
    })
}

fuzz_target!(|data: &[u8]| {
    for p in profiles() {
        if let Ok(list) = decode(data, p, KvLimits { max_pairs: 256, max_depth: 8 }) {
            let mut again = Vec::new();
            encode(&list, p, &mut again).unwrap();
            // Keys and strings are read lossily (not UTF-8 -> U+FFFD), so only valid text
            // must come back byte for byte.
            if std::str::from_utf8(data).is_ok() {
                assert_eq!(again, data);
            }
        }
    }
});
