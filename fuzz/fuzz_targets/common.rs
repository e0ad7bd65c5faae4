//! Shared by the fuzz targets: every document must render to valid JSON.

use iotw_event::Event;

/// Renders the deferred parts of `out` and checks each document is one valid JSON object.
pub fn assert_valid_documents(out: &mut [Event]) {
    iotw_event::render_all(out);
    let mut line = Vec::new();
    for e in out.iter() {
        line.clear();
        e.write_json(&mut line);
        if let Err(err) = serde_json::from_slice::<serde_json::Value>(&line) {
            panic!("invalid document ({err}): {}", String::from_utf8_lossy(&line));
        }
    }
}
