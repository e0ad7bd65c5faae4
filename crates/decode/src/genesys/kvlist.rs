//! Packed KV lists (UserData, Extensions, Reasons, TreatmentParms): the TKVType tags are
//! public (genesys_wire.md §3.1, (a)); the layout is the profile's `[kvlist]` (§3.2, (b) for
//! strings and lists, (c) for the rest). Pure; every count and length is checked against
//! the bytes that are there, and the number of pairs and the nesting depth are capped.

use super::profile::WireProfile;

/// TKVType values (kvlist.h, §3.1).
pub mod tag {
    pub const STRING: u64 = 0;
    pub const INT: u64 = 1;
    pub const BINARY: u64 = 2;
    pub const LIST: u64 = 3;
    pub const UNICODE: u64 = 4;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvValue {
    Str(String),
    Int(i64),
    Binary(Vec<u8>),
    List(KvList),
    /// Wide characters; their representation is not public, so the bytes are kept.
    Unicode(Vec<u8>),
}

pub type KvList = Vec<(String, KvValue)>;

/// Caps applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct KvLimits {
    /// Pairs in one list and all lists nested in it.
    pub max_pairs: usize,
    pub max_depth: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("KV list ends inside {0}")]
    Short(&'static str),
    #[error("KV list pair of unknown type {0}")]
    UnknownType(u64),
    #[error("KV list has more than {0} pairs")]
    TooManyPairs(usize),
    #[error("KV lists nested deeper than {0}")]
    TooDeep(usize),
    #[error("KV list has {0} bytes after its last pair")]
    Trailing(usize),
}

struct Reader<'a, 'p> {
    b: &'a [u8],
    at: usize,
    p: &'p WireProfile,
}

impl<'a> Reader<'a, '_> {
    fn uint(&mut self, n: u8, what: &'static str) -> Result<u64, KvError> {
        let v = self.p.uint(&self.b[self.at..], n).ok_or(KvError::Short(what))?;
        self.at += usize::from(n);
        Ok(v)
    }

    fn bytes(&mut self, len: u64, what: &'static str) -> Result<&'a [u8], KvError> {
        let len = usize::try_from(len).map_err(|_| KvError::Short(what))?;
        let end = self.at.checked_add(len).filter(|e| *e <= self.b.len()).ok_or(KvError::Short(what))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
}

/// Decodes a whole packed KV list.
pub fn decode(b: &[u8], p: &WireProfile, limits: KvLimits) -> Result<KvList, KvError> {
    let mut pairs = 0;
    let mut r = Reader { b, at: 0, p };
    let list = list(&mut r, limits, 0, &mut pairs)?;
    if r.at != b.len() {
        return Err(KvError::Trailing(b.len() - r.at));
    }
    Ok(list)
}

fn list(r: &mut Reader<'_, '_>, limits: KvLimits, depth: usize, pairs: &mut usize) -> Result<KvList, KvError> {
    if depth > limits.max_depth {
        return Err(KvError::TooDeep(limits.max_depth));
    }
    let k = &r.p.kvlist;
    let (count_w, type_w, key_w) = (k.count_bytes, k.type_bytes, k.key_length_bytes);
    let (str_w, list_w, int_w, bin_w, uni_w) =
        (k.string_length_bytes, k.list_length_bytes, k.int_bytes, k.binary_length_bytes, k.unicode_length_bytes);
    let count = r.uint(count_w, "the pair count")?;
    let mut out = Vec::new();
    for _ in 0..count {
        *pairs += 1;
        if *pairs > limits.max_pairs {
            return Err(KvError::TooManyPairs(limits.max_pairs));
        }
        let t = r.uint(type_w, "a pair type")?;
        let key_len = r.uint(key_w, "a key length")?;
        let key = String::from_utf8_lossy(r.bytes(key_len, "a key")?).into_owned();
        let value = match t {
            tag::STRING => {
                let n = r.uint(str_w, "a string length")?;
                KvValue::Str(String::from_utf8_lossy(r.bytes(n, "a string")?).into_owned())
            }
            tag::INT => KvValue::Int(super::profile::signed(r.uint(int_w, "an integer")?, int_w)),
            tag::BINARY => {
                let n = r.uint(bin_w, "a binary length")?;
                KvValue::Binary(r.bytes(n, "binary data")?.to_vec())
            }
            tag::UNICODE => {
                let n = r.uint(uni_w, "a unicode length")?;
                KvValue::Unicode(r.bytes(n, "unicode text")?.to_vec())
            }
            tag::LIST => {
                let n = r.uint(list_w, "a list length")?;
                let inner = r.bytes(n, "a nested list")?;
                let mut sub = Reader { b: inner, at: 0, p: r.p };
                let l = list(&mut sub, limits, depth + 1, pairs)?;
                if sub.at != inner.len() {
                    return Err(KvError::Trailing(inner.len() - sub.at));
                }
                KvValue::List(l)
            }
            other => return Err(KvError::UnknownType(other)),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// Encodes a KV list (for the simulator and tests); `None` when a count or length does not
/// fit the profile's widths.
pub fn encode(l: &KvList, p: &WireProfile, out: &mut Vec<u8>) -> Option<()> {
    let k = &p.kvlist;
    p.put_uint(out, l.len() as u64, k.count_bytes)?;
    for (key, v) in l {
        let t = match v {
            KvValue::Str(_) => tag::STRING,
            KvValue::Int(_) => tag::INT,
            KvValue::Binary(_) => tag::BINARY,
            KvValue::List(_) => tag::LIST,
            KvValue::Unicode(_) => tag::UNICODE,
        };
        p.put_uint(out, t, k.type_bytes)?;
        p.put_uint(out, key.len() as u64, k.key_length_bytes)?;
        out.extend_from_slice(key.as_bytes());
        match v {
            KvValue::Str(s) => {
                p.put_uint(out, s.len() as u64, k.string_length_bytes)?;
                out.extend_from_slice(s.as_bytes());
            }
            KvValue::Int(i) => p.put_uint(out, super::profile::truncated(*i, k.int_bytes), k.int_bytes)?,
            KvValue::Binary(b) | KvValue::Unicode(b) => {
                let w = if t == tag::BINARY { k.binary_length_bytes } else { k.unicode_length_bytes };
                p.put_uint(out, b.len() as u64, w)?;
                out.extend_from_slice(b);
            }
            KvValue::List(inner) => {
                let mut body = Vec::new();
                encode(inner, p, &mut body)?;
                p.put_uint(out, body.len() as u64, k.list_length_bytes)?;
                out.extend_from_slice(&body);
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: KvLimits = KvLimits { max_pairs: 256, max_depth: 8 };

    fn s(k: &str, v: &str) -> (String, KvValue) {
        (k.into(), KvValue::Str(v.into()))
    }

    #[test]
    fn the_logged_byte_counts_of_section_3_2_come_out() {
        // genesys_wire.md §3.2: `[34] 00 01 00 00..` = one pair RTargetAgentGroup/VAG_Skill1.
        let p = WireProfile::default();
        let mut out = Vec::new();
        encode(&vec![s("RTargetAgentGroup", "VAG_Skill1")], &p, &mut out).unwrap();
        assert_eq!(out.len(), 34);
        assert_eq!(&out[..4], &[0x00, 0x01, 0x00, 0x00]);
        // `[149] 00 01 03 00..`: one list pair holding three strings.
        let inner = vec![
            s("Session", "QK59HK4FS927D7FUU41G6IE468000004"),
            s("Node", "Node1"),
            s("Url", "http://10.0.0.1:7210/"),
        ];
        let key = "ORSI:Cluster1:QK59HK4FS927D7FUU41G6IE468000004";
        let mut out = Vec::new();
        encode(&vec![(key.into(), KvValue::List(inner.clone()))], &p, &mut out).unwrap();
        assert_eq!(&out[..4], &[0x00, 0x01, 0x03, 0x00]);
        assert_eq!(decode(&out, &p, LIMITS).unwrap(), vec![(key.to_string(), KvValue::List(inner))]);
    }

    #[test]
    fn every_value_type_round_trips_in_every_layout() {
        let l = vec![
            s("ANI", "01132960000"),
            ("Count".into(), KvValue::Int(-42)),
            ("Blob".into(), KvValue::Binary(vec![0, 1, 255])),
            ("Wide".into(), KvValue::Unicode(vec![0, 0x41, 0, 0x42])),
            ("Nested".into(), KvValue::List(vec![s("PostCode", "LS1 4AP"), ("Empty".into(), KvValue::List(vec![]))])),
        ];
        for text in [
            super::super::profile::DEFAULT_TEXT.to_string(),
            super::super::profile::DEFAULT_TEXT.replace("byte_order = \"big\"", "byte_order = \"little\""),
            super::super::profile::DEFAULT_TEXT.replace("key_length_bytes = 2", "key_length_bytes = 1"),
        ] {
            let p = WireProfile::parse(&text).unwrap();
            let mut out = Vec::new();
            encode(&l, &p, &mut out).unwrap();
            assert_eq!(decode(&out, &p, LIMITS).unwrap(), l);
        }
    }

    #[test]
    fn damaged_lists_are_errors_with_a_reason() {
        let p = WireProfile::default();
        let mut out = Vec::new();
        encode(&vec![s("k", "v"), ("l".into(), KvValue::List(vec![s("a", "b")]))], &p, &mut out).unwrap();
        for cut in 0..out.len() {
            assert!(decode(&out[..cut], &p, LIMITS).is_err(), "cut at {cut}");
        }
        assert_eq!(decode(&[0, 1, 9, 0, 0], &p, LIMITS), Err(KvError::UnknownType(9)));
        assert_eq!(decode(&out, &p, KvLimits { max_pairs: 2, max_depth: 8 }), Err(KvError::TooManyPairs(2)));
        assert_eq!(decode(&out, &p, KvLimits { max_pairs: 9, max_depth: 0 }), Err(KvError::TooDeep(0)));
        let mut long = out.clone();
        long.push(0);
        assert_eq!(decode(&long, &p, LIMITS), Err(KvError::Trailing(1)));
    }
}
