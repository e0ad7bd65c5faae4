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
    parts: Vec<Part>,
}

/// A piece of a batch's output: the side buffer up to an offset, or a document's members.
#[derive(Debug, Clone, Copy)]
enum Part {
    Line(usize),
    Doc(usize),
}

/// `Write::write_all` for several buffers (the standard one is not stable yet).
fn write_all_vectored(out: &mut dyn Write, mut bufs: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
    std::io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match out.write_vectored(bufs) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "failed to write whole buffer")),
            Ok(n) => std::io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl std::fmt::Debug for NdjsonSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonSink").field("what", &self.what).finish()
    }
}

impl NdjsonSink {
    /// `bulk_prefix`: when set, write bulk action lines for indices `<prefix>-<dataset>-<day>`.
    pub fn new(out: Box<dyn Write + Send>, what: impl Into<String>, bulk_prefix: Option<String>) -> Self {
        NdjsonSink { out, what: what.into(), bulk_prefix, line: Vec::with_capacity(4096), parts: Vec::new() }
    }
}

impl Sink for NdjsonSink {
    fn name(&self) -> &'static str {
        "ndjson"
    }

    fn write(&mut self, batch: &[Event]) -> Result<Written, ShipError> {
        // The whole batch in one vectored write: finished documents are written from their
        // own buffers, everything else (brackets, bulk action lines, documents that still
        // need merging) from one side buffer.
        self.line.clear();
        self.parts.clear();
        for (i, e) in batch.iter().enumerate() {
            if let Some(prefix) = &self.bulk_prefix {
                self.line.extend_from_slice(b"{\"create\":{\"_index\":");
                iotw_event::json::write_str(&mut self.line, &daily_index(prefix, e));
                self.line.extend_from_slice(b",\"_id\":");
                self.line.push(b'"');
                e.id.write(&mut self.line);
                self.line.push(b'"');
                self.line.extend_from_slice(b"}}\n");
            }
            if e.finished_members().is_some() {
                self.line.push(b'{');
                self.parts.push(Part::Line(self.line.len()));
                self.parts.push(Part::Doc(i));
                self.line.extend_from_slice(b"}\n");
            } else {
                e.write_json(&mut self.line);
                self.line.push(b'\n');
            }
        }
        self.parts.push(Part::Line(self.line.len()));
        let mut slices = Vec::with_capacity(self.parts.len());
        let mut from = 0;
        for p in &self.parts {
            match *p {
                Part::Line(to) => {
                    slices.push(std::io::IoSlice::new(self.line.get(from..to).unwrap_or_default()));
                    from = to;
                }
                Part::Doc(i) => {
                    let doc = batch.get(i).and_then(Event::finished_members).unwrap_or_default();
                    slices.push(std::io::IoSlice::new(doc));
                }
            }
        }
        write_all_vectored(&mut self.out, &mut slices)
            .map_err(|source| ShipError::Io { what: self.what.clone(), source })?;
        Ok(Written { stored: batch.len() as u64, duplicates: 0 })
    }

    fn flush(&mut self) -> Result<(), ShipError> {
        self.out.flush().map_err(|source| ShipError::Io { what: self.what.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Takes at most `step` bytes per call, so that every write is a partial one.
    struct Trickle {
        got: Arc<Mutex<Vec<u8>>>,
        step: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step);
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            let mut left = self.step;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(left);
                self.got.lock().unwrap().extend_from_slice(&b[..k]);
                (n, left) = (n + k, left - k);
                if left == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn batch() -> Vec<Event> {
        (0..5)
            .map(|i| {
                let mut e = Event::new("sip", "event", 1_700_000_000_000_000_000 + i, &[&i.to_be_bytes()]);
                e.obj("event").end().obj("sip").u64("n", i as u64).end();
                if i % 2 == 1 {
                    e.set("labels.odd", true); // needs merging when written
                }
                e
            })
            .collect()
    }

    #[test]
    fn a_batch_reads_the_same_however_the_output_takes_it() {
        for bulk in [None, Some("iotw".to_owned())] {
            let mut expected = Vec::new();
            for e in batch() {
                if let Some(p) = &bulk {
                    let action = format!(r#"{{"create":{{"_index":"{}","_id":"{}"}}}}"#, daily_index(p, &e), e.id);
                    expected.extend_from_slice(action.as_bytes());
                    expected.push(b'\n');
                }
                expected.extend_from_slice(e.to_json().as_bytes());
                expected.push(b'\n');
            }
            for step in [1, 7, 1 << 20] {
                let got = Arc::new(Mutex::new(Vec::new()));
                let mut sink = NdjsonSink::new(Box::new(Trickle { got: got.clone(), step }), "test", bulk.clone());
                let w = sink.write(&batch()).unwrap();
                assert_eq!(w.stored, 5);
                assert_eq!(String::from_utf8_lossy(&got.lock().unwrap()), String::from_utf8_lossy(&expected));
            }
        }
    }

    #[test]
    fn an_output_that_takes_nothing_is_an_error() {
        let mut sink = NdjsonSink::new(Box::new(Trickle { got: Default::default(), step: 0 }), "test", None);
        assert!(matches!(sink.write(&batch()), Err(ShipError::Io { .. })));
    }
}
