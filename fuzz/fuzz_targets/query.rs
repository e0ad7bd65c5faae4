//! The search language: any text parses or errors and compiles to SQL without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(node) = iotw_ship::query::parse(text) {
        let mut params = Vec::new();
        let _ = iotw_ship::query::to_sql(&node, &mut params);
    }
});
