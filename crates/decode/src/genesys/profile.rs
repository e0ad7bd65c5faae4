//! The wire profile: every inferred fact about how Genesys messages are laid out on the
//! wire, in one versioned file (TOML). The built-in default (`tlib-default.toml`, next to
//! this file) is the inference of genesys_wire.md §1-§3 with each value's section and
//! confidence; `docs/genesys.md` explains it and how calibration replaces it. Nothing about
//! the envelope is hard-coded anywhere else: the framing, the T-Lib codec and the simulator
//! all read a [`WireProfile`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The built-in profile's text.
pub const DEFAULT_TEXT: &str = include_str!("tlib-default.toml");

/// The newest profile file format this build reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ByteOrder {
    Big,
    Little,
}

/// How an attribute's value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// A signed integer of `attribute.int_bytes`.
    Int,
    /// A signed 64-bit integer.
    Long,
    /// 8 opaque bytes, shown as 16 hex digits.
    Connid,
    /// Text.
    String,
    /// A packed KV list.
    Kvlist,
    /// A 64-byte bitmap.
    Mask,
    /// Bytes shown as hex.
    Binary,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Packet {
    pub length_bytes: u8,
    pub byte_order: ByteOrder,
    pub length_includes_header: bool,
    pub max_length: u32,
    pub empty_is_keepalive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub type_bytes: u8,
    pub attribute_count_bytes: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    pub id_bytes: u8,
    pub length_bytes: u8,
    pub string_nul: bool,
    pub int_bytes: u8,
    pub default_kind: ValueKind,
    pub unknown_kind: ValueKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KvList {
    pub count_bytes: u8,
    pub type_bytes: u8,
    pub key_length_bytes: u8,
    pub string_length_bytes: u8,
    pub list_length_bytes: u8,
    pub int_bytes: u8,
    pub binary_length_bytes: u8,
    pub unicode_length_bytes: u8,
}

/// A wire profile (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WireProfile {
    pub name: String,
    pub format: u32,
    pub packet: Packet,
    pub message: Message,
    pub attribute: Attribute,
    pub kvlist: KvList,
    /// Value kind by attribute id (TOML keys are the ids).
    #[serde(default)]
    pub kinds: BTreeMap<String, ValueKind>,
    /// `kinds` with numeric keys, filled in by [`WireProfile::parse`].
    #[serde(skip)]
    kind_by_id: BTreeMap<u32, ValueKind>,
}

/// Why a profile file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("wire profile: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("wire profile: {0}")]
    Invalid(String),
}

impl Default for WireProfile {
    fn default() -> Self {
        // The built-in text is checked by a test; a failure here is a build defect.
        Self::parse(DEFAULT_TEXT).unwrap_or_else(|e| panic!("built-in wire profile: {e}"))
    }
}

fn width(what: &str, v: u8, allowed: &[u8]) -> Result<(), ProfileError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ProfileError::Invalid(format!("{what} = {v}: must be one of {allowed:?}")))
    }
}

impl WireProfile {
    /// Reads and checks a profile file's text.
    pub fn parse(text: &str) -> Result<Self, ProfileError> {
        let mut p: WireProfile = toml::from_str(text)?;
        if p.format == 0 || p.format > FORMAT {
            return Err(ProfileError::Invalid(format!(
                "format {} is not supported (this build reads format {FORMAT})",
                p.format
            )));
        }
        width("packet.length_bytes", p.packet.length_bytes, &[2, 4])?;
        width("message.type_bytes", p.message.type_bytes, &[1, 2, 4])?;
        width("message.attribute_count_bytes", p.message.attribute_count_bytes, &[0, 1, 2, 4])?;
        width("attribute.id_bytes", p.attribute.id_bytes, &[1, 2, 4])?;
        width("attribute.length_bytes", p.attribute.length_bytes, &[0, 1, 2, 4])?;
        width("attribute.int_bytes", p.attribute.int_bytes, &[1, 2, 4, 8])?;
        let k = &p.kvlist;
        width("kvlist.count_bytes", k.count_bytes, &[1, 2, 4])?;
        width("kvlist.type_bytes", k.type_bytes, &[1, 2, 4])?;
        width("kvlist.key_length_bytes", k.key_length_bytes, &[1, 2, 4])?;
        width("kvlist.string_length_bytes", k.string_length_bytes, &[1, 2, 4])?;
        width("kvlist.list_length_bytes", k.list_length_bytes, &[1, 2, 4])?;
        width("kvlist.int_bytes", k.int_bytes, &[1, 2, 4, 8])?;
        width("kvlist.binary_length_bytes", k.binary_length_bytes, &[1, 2, 4])?;
        width("kvlist.unicode_length_bytes", k.unicode_length_bytes, &[1, 2, 4])?;
        if p.packet.max_length < 8 || p.packet.max_length > (1 << 24) {
            return Err(ProfileError::Invalid(format!(
                "packet.max_length = {}: must be between 8 and 16777216",
                p.packet.max_length
            )));
        }
        if p.attribute.length_bytes == 0 && p.attribute.default_kind == ValueKind::Binary {
            return Err(ProfileError::Invalid(
                "attribute.length_bytes = 0 needs a default_kind whose size is known".into(),
            ));
        }
        let mut by_id = BTreeMap::new();
        for (key, kind) in &p.kinds {
            let id: u32 =
                key.parse().map_err(|_| ProfileError::Invalid(format!("kinds: `{key}` is not an attribute id")))?;
            by_id.insert(id, *kind);
        }
        p.kind_by_id = by_id;
        Ok(p)
    }

    /// The profile as TOML text (what calibration writes).
    pub fn to_text(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// How the attribute with this id is encoded.
    pub fn kind(&self, id: u32) -> ValueKind {
        match self.kind_by_id.get(&id) {
            Some(k) => *k,
            None if super::tables::AttributeId(id).name().is_some() => self.attribute.default_kind,
            None => self.attribute.unknown_kind,
        }
    }

    /// Sets the kind of an attribute id (for calibration and tests).
    pub fn set_kind(&mut self, id: u32, kind: ValueKind) {
        self.kinds.insert(id.to_string(), kind);
        self.kind_by_id.insert(id, kind);
    }

    /// Reads an unsigned integer of `n` bytes in the profile's byte order.
    pub fn uint(&self, b: &[u8], n: u8) -> Option<u64> {
        read_uint(b, n, self.packet.byte_order)
    }

    /// Appends an unsigned integer of `n` bytes in the profile's byte order; `None` when it
    /// does not fit.
    pub fn put_uint(&self, out: &mut Vec<u8>, v: u64, n: u8) -> Option<()> {
        write_uint(out, v, n, self.packet.byte_order)
    }
}

/// An unsigned integer of `n` bytes (1, 2, 4 or 8) at the start of `b`.
pub fn read_uint(b: &[u8], n: u8, order: ByteOrder) -> Option<u64> {
    let bytes = b.get(..usize::from(n))?;
    let mut v: u64 = 0;
    match order {
        ByteOrder::Big => bytes.iter().for_each(|x| v = (v << 8) | u64::from(*x)),
        ByteOrder::Little => bytes.iter().rev().for_each(|x| v = (v << 8) | u64::from(*x)),
    }
    Some(v)
}

/// Appends `v` as `n` bytes; `None` when it does not fit in `n` bytes.
pub fn write_uint(out: &mut Vec<u8>, v: u64, n: u8, order: ByteOrder) -> Option<()> {
    if n < 8 && v >> (8 * u32::from(n)) != 0 {
        return None;
    }
    let be = v.to_be_bytes();
    let bytes = &be[8 - usize::from(n)..];
    match order {
        ByteOrder::Big => out.extend_from_slice(bytes),
        ByteOrder::Little => out.extend(bytes.iter().rev()),
    }
    Some(())
}

/// A signed value cut to `n` bytes, for writing (the inverse of [`signed`]).
pub fn truncated(v: i64, n: u8) -> u64 {
    if n >= 8 {
        v as u64
    } else {
        (v as u64) & ((1u64 << (8 * u32::from(n))) - 1)
    }
}

/// Sign-extends an `n`-byte value.
pub fn signed(v: u64, n: u8) -> i64 {
    let bits = 8 * u32::from(n);
    if bits >= 64 {
        return v as i64;
    }
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profile_reads_and_writes_back() {
        let p = WireProfile::parse(DEFAULT_TEXT).unwrap();
        assert_eq!(p.packet.length_bytes, 4);
        assert_eq!(p.kind(9), ValueKind::Connid);
        assert_eq!(p.kind(51), ValueKind::Kvlist);
        assert_eq!(p.kind(20), ValueKind::String, "ThisDN: the default kind");
        assert_eq!(p.kind(500), ValueKind::Binary, "not in the public table");
        let again = WireProfile::parse(&p.to_text()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn bad_profiles_are_clear_errors() {
        let bad = DEFAULT_TEXT.replace("id_bytes = 2", "id_bytes = 3");
        assert!(WireProfile::parse(&bad).unwrap_err().to_string().contains("attribute.id_bytes = 3"));
        let bad = DEFAULT_TEXT.replace("format = 1", "format = 9");
        assert!(WireProfile::parse(&bad).unwrap_err().to_string().contains("format 9"));
        let bad = DEFAULT_TEXT.replace("[kvlist]", "[kvlist]\nsurprise = 1");
        assert!(WireProfile::parse(&bad).unwrap_err().to_string().contains("surprise"));
    }

    #[test]
    fn integers_of_every_width_and_order() {
        for order in [ByteOrder::Big, ByteOrder::Little] {
            for n in [1u8, 2, 4, 8] {
                let v = 0x0102_0304_0506_0708u64 >> (64 - 8 * u32::from(n));
                let mut out = Vec::new();
                write_uint(&mut out, v, n, order).unwrap();
                assert_eq!(read_uint(&out, n, order), Some(v));
            }
        }
        assert!(write_uint(&mut Vec::new(), 256, 1, ByteOrder::Big).is_none());
        assert_eq!(signed(0xffff, 2), -1);
        assert_eq!(signed(0x7fff, 2), 32767);
        assert_eq!(signed(truncated(-42, 4), 4), -42);
    }
}
