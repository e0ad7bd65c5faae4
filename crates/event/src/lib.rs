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
///
/// Fields are kept flat, by dotted name, in the order they were set, and nested into JSON
/// objects only when the document is written: building a document costs one small allocation
/// per field, not a tree of maps. Setting a name again replaces its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Deterministic document id (`_id`).
    pub id: String,
    /// When it happened; also `@timestamp` in the document.
    pub ts: Nanos,
    /// `event.dataset`, also used to pick the index.
    pub dataset: &'static str,
    fields: Vec<(Box<str>, Value)>,
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
        let mut e = Event { id, ts, dataset, fields: Vec::with_capacity(48) };
        e.set(field::TIMESTAMP, format_rfc3339_micros(ts));
        e.set(field::EVENT_DATASET, dataset);
        e.set(field::EVENT_KIND, kind);
        e
    }

    /// Sets a field by its dotted name (`set("source.ip", ..)` is `{"source":{"ip":..}}` in
    /// the document). `@timestamp` stays flat.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        // Appended: a name set twice is resolved when reading or writing (last one wins).
        self.fields.push((name.into(), value.into()));
        self
    }

    /// Reads a field by its dotted name, looking inside object values where a prefix was set
    /// as a whole object.
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some((_, v)) = self.fields.iter().rev().find(|(n, _)| n.as_ref() == name) {
            return Some(v);
        }
        self.fields.iter().rev().find_map(|(n, v)| {
            let rest = name.strip_prefix(n.as_ref())?.strip_prefix('.')?;
            rest.split('.').try_fold(v, |v, part| v.as_object()?.get(part))
        })
    }

    /// The document as a JSON object.
    pub fn doc(&self) -> Map<String, Value> {
        match serde_json::from_slice(&{
            let mut b = Vec::new();
            self.write_json(&mut b);
            b
        }) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut b = Vec::with_capacity(1024);
        self.write_json(&mut b);
        String::from_utf8(b).unwrap_or_default()
    }

    /// Writes the document as nested JSON into `out`. Keys come out sorted; where one name is
    /// a prefix of another (`a` and `a.b`), the deeper field wins.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut order: Vec<usize> = (0..self.fields.len()).collect();
        // By name, segment by segment ('.' sorts first), then by when it was set.
        order.sort_by(|&a, &b| path_cmp(&self.fields[a].0, &self.fields[b].0).then(a.cmp(&b)));
        let mut open: Vec<&str> = Vec::new();
        let mut need_comma = vec![false];
        out.push(b'{');
        for (k, &i) in order.iter().enumerate() {
            let (name, value) = (&self.fields[i].0, &self.fields[i].1);
            if let Some(&next) = order.get(k + 1) {
                let nn = &self.fields[next].0;
                if nn == name {
                    continue; // set again later: the last value wins.
                }
                if nn.len() > name.len() && nn.starts_with(name.as_ref()) && nn.as_bytes()[name.len()] == b'.' {
                    continue; // `a` set as a leaf but `a.b` exists: the object wins.
                }
            }
            let segs: Vec<&str> = name.split('.').collect();
            let (parents, leaf) = segs.split_at(segs.len() - 1);
            let common = open.iter().zip(parents).take_while(|(a, b)| a == b).count();
            while open.len() > common {
                open.pop();
                need_comma.pop();
                out.push(b'}');
            }
            for p in &parents[common..] {
                if need_comma.last().copied().unwrap_or(false) {
                    out.push(b',');
                }
                if let Some(last) = need_comma.last_mut() {
                    *last = true;
                }
                write_key(out, p);
                out.push(b'{');
                open.push(p);
                need_comma.push(false);
            }
            if need_comma.last().copied().unwrap_or(false) {
                out.push(b',');
            }
            if let Some(last) = need_comma.last_mut() {
                *last = true;
            }
            write_key(out, leaf[0]);
            // Serialising a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        }
        for _ in open {
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// Orders dotted names as their segment lists would order: '.' before every other byte.
fn path_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |c: u8| if c == b'.' { 0 } else { c };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
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
    fn writing_nests_sorts_replaces_and_resolves_prefix_clashes() {
        let mut e = Event::new("flow", "event", 0, &[]);
        e.set("b.y", 2).set("a", "leaf").set("b.x.z", true).set("a.k", 1).set("b.y", 3).set("c-d", "x");
        e.set("o", serde_json::json!({"k": {"n": 5}}));
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["b"], serde_json::json!({"x": {"z": true}, "y": 3}));
        assert_eq!(j["a"], serde_json::json!({"k": 1}), "the deeper field wins");
        assert_eq!(j["c-d"], "x");
        assert_eq!(e.get("o.k.n"), Some(&Value::from(5)), "get looks inside object values");
        assert_eq!(e.doc().len(), 6);
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
