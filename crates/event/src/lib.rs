//! The document model. Every event iotw emits is one JSON object whose field names follow
//! ECS where ECS has them (`@timestamp`, `event.*`, `source.*`, `network.*`, ...), Packetbeat
//! where Packetbeat users expect them (`flow.*`, `sip.*`), and iotw's own namespaces otherwise.
//! `docs/events.md` lists every field; [`field`] holds the names as constants.
//!
//! Every event has a deterministic id: the same input produces the same `_id`, so a retried
//! shipment never creates a duplicate.

pub mod field;
mod time;

pub use time::{format_rfc3339_micros, parse_duration, parse_time, TimeError};

use base64::Engine;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

/// Nanoseconds since the Unix epoch, UTC.
pub type Nanos = i64;

/// One document.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Deterministic document id (`_id`).
    pub id: String,
    /// When it happened; also `@timestamp` in the document.
    pub ts: Nanos,
    /// `event.dataset`, also used to pick the index.
    pub dataset: &'static str,
    doc: Map<String, Value>,
}

impl Event {
    /// A new document with `@timestamp`, `event.dataset` and `event.kind` set. `identity`
    /// is the input that makes this document unique (e.g. flow key + start time); the id is
    /// derived from it and the dataset alone.
    pub fn new(dataset: &'static str, kind: &'static str, ts: Nanos, identity: &[&[u8]]) -> Self {
        let mut h = Sha1::new();
        h.update(dataset.as_bytes());
        for part in identity {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        let digest = h.finalize();
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..15]);
        let mut e = Event { id, ts, dataset, doc: Map::new() };
        e.set(field::TIMESTAMP, format_rfc3339_micros(ts));
        e.set(field::EVENT_DATASET, dataset);
        e.set(field::EVENT_KIND, kind);
        e
    }

    /// Sets a field by its dotted name, creating the objects on the way
    /// (`set("source.ip", ..)` writes `{"source":{"ip":..}}`). `@timestamp` stays flat.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        let mut obj = &mut self.doc;
        let mut parts = name.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                obj.insert(part.to_owned(), value);
                break;
            }
            // Look up before inserting: most paths share their prefix with earlier fields,
            // and an owned key is only needed for a new one.
            if !matches!(obj.get(part), Some(Value::Object(_))) {
                obj.insert(part.to_owned(), Value::Object(Map::new()));
            }
            let Some(Value::Object(next)) = obj.get_mut(part) else { break };
            obj = next;
        }
        self
    }

    /// Reads a field by its dotted name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let mut parts = name.split('.');
        let mut v = self.doc.get(parts.next()?)?;
        for p in parts {
            v = v.as_object()?.get(p)?;
        }
        Some(v)
    }

    pub fn doc(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
        Value::Object(self.doc.clone()).to_string()
    }

    /// Writes the document as JSON into `out` without cloning it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serialising a Map of Values to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &self.doc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_nest_and_read_back() {
        let mut e = Event::new("flow", "event", 1_700_000_000_123_456_789, &[b"k"]);
        e.set("source.ip", "10.0.0.1").set("source.port", 5060).set("network.vlan.id", "7");
        assert_eq!(e.get("source.port"), Some(&Value::from(5060)));
        assert_eq!(e.get("@timestamp"), Some(&Value::from("2023-11-14T22:13:20.123456Z")));
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["network"]["vlan"]["id"], "7");
        assert_eq!(j["event"]["dataset"], "flow");
    }

    #[test]
    fn ids_are_deterministic_and_input_sensitive() {
        let a = Event::new("flow", "event", 1, &[b"x", b"y"]);
        let b = Event::new("flow", "event", 2, &[b"x", b"y"]);
        let c = Event::new("flow", "event", 1, &[b"xy"]);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id, "parts are length-delimited");
        assert_eq!(a.id.len(), 20);
    }
}
