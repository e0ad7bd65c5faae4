//! NDJSON output: one JSON document per line, or Elasticsearch `_bulk` pairs
//! (`{"create":{"_index":..,"_id":..}}` then the document) ready for `curl --data-binary`.

use crate::{daily_index, ShipError, Sink, Written};
use iotw_event::Event;
use std::io::Write;

pub struct NdjsonSink {
    out: Box<dyn Write + Send>,
    what: String,
    bulk_prefix: Option<String>,
    line: Vec<u8>,
}

impl std::fmt::Debug for NdjsonSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonSink").field("what", &self.what).finish()
    }
}

impl NdjsonSink {
    /// `bulk_prefix`: when set, write bulk action lines for indices `<prefix>-<dataset>-<day>`.
    pub fn new(out: Box<dyn Write + Send>, what: impl Into<String>, bulk_prefix: Option<String>) -> Self {
        NdjsonSink { out, what: what.into(), bulk_prefix, line: Vec::with_capacity(4096) }
    }
}

impl Sink for NdjsonSink {
    fn name(&self) -> &'static str {
        "ndjson"
    }

    fn write(&mut self, batch: &[Event]) -> Result<Written, ShipError> {
        // The whole batch in one buffer and one write.
        self.line.clear();
        for e in batch {
            if let Some(prefix) = &self.bulk_prefix {
                self.line.extend_from_slice(b"{\"create\":{\"_index\":");
                iotw_event::json::write_str(&mut self.line, &daily_index(prefix, e));
                self.line.extend_from_slice(b",\"_id\":");
                iotw_event::json::write_str(&mut self.line, &e.id);
                self.line.extend_from_slice(b"}}\n");
            }
            e.write_json(&mut self.line);
            self.line.push(b'\n');
        }
        self.out.write_all(&self.line).map_err(|source| ShipError::Io { what: self.what.clone(), source })?;
        Ok(Written { stored: batch.len() as u64, duplicates: 0 })
    }

    fn flush(&mut self) -> Result<(), ShipError> {
        self.out.flush().map_err(|source| ShipError::Io { what: self.what.clone(), source })
    }
}
