//! T-Library packets and messages, laid out as the wire profile says (pure functions).
//!
//! A packet is `length` (profile `[packet]`) then the payload; a payload is the message type
//! then attributes (`[message]`, `[attribute]`); each attribute value is encoded by its kind
//! (`[kinds]`). The numbers (message types, attribute ids) are public; the layout is not.

use super::kvlist::{self, KvLimits, KvList};
use super::profile::{signed, truncated, ValueKind, WireProfile};
use super::tables::{AttributeId, MessageType};

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Long(i64),
    ConnId([u8; 8]),
    Str(String),
    KvList(KvList),
    Mask(Vec<u8>),
    Binary(Vec<u8>),
}

/// One T-Library message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlibMessage {
    pub mtype: MessageType,
    pub attrs: Vec<(AttributeId, Value)>,
}

impl TlibMessage {
    pub fn get(&self, id: AttributeId) -> Option<&Value> {
        self.attrs.iter().find(|(a, _)| *a == id).map(|(_, v)| v)
    }

    pub fn int(&self, id: AttributeId) -> Option<i64> {
        match self.get(id)? {
            Value::Int(i) | Value::Long(i) => Some(*i),
            _ => None,
        }
    }

    pub fn str(&self, id: AttributeId) -> Option<&str> {
        match self.get(id)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// What the start of a stream holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A whole packet: its payload and the bytes it took.
    Packet { payload: &'a [u8], len: usize },
    /// A keep-alive frame of `len` bytes.
    KeepAlive { len: usize },
    /// At least this many bytes (in total) are needed.
    Incomplete { needed: usize },
    /// Not a packet start: the length is impossible.
    Bad(String),
}

/// Reads the packet header at the start of `b`.
pub fn frame<'a>(b: &'a [u8], p: &WireProfile) -> Framed<'a> {
    let hl = usize::from(p.packet.length_bytes);
    let Some(n) = p.uint(b, p.packet.length_bytes) else {
        return Framed::Incomplete { needed: hl };
    };
    let total = if p.packet.length_includes_header {
        if n != 0 && n < hl as u64 {
            return Framed::Bad(format!("packet length {n} is shorter than its own header"));
        }
        n
    } else {
        n + hl as u64
    };
    if n == 0 {
        if p.packet.empty_is_keepalive {
            return Framed::KeepAlive { len: hl };
        }
        return Framed::Bad("empty packet".into());
    }
    if total > u64::from(p.packet.max_length) + hl as u64 {
        return Framed::Bad(format!("packet length {n} is above the {} limit", p.packet.max_length));
    }
    let total = total as usize;
    match b.get(hl..total) {
        Some(payload) => Framed::Packet { payload, len: total },
        None => Framed::Incomplete { needed: total },
    }
}

/// Why a payload is not a T-Library message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlibError {
    #[error("message ends inside {0}")]
    Short(&'static str),
    #[error("attribute {attr}: {what}")]
    Value { attr: AttributeId, what: String },
    #[error("more than {0} attributes")]
    TooManyAttributes(usize),
}

/// Decodes one packet payload. `max_attrs` caps the attributes read; KV lists get `kv`.
pub fn decode(payload: &[u8], p: &WireProfile, max_attrs: usize, kv: KvLimits) -> Result<TlibMessage, TlibError> {
    let short = TlibError::Short;
    let tw = p.message.type_bytes;
    let mtype = MessageType(p.uint(payload, tw).ok_or(short("the message type"))? as u32);
    let mut at = usize::from(tw);
    let mut count = None;
    if p.message.attribute_count_bytes > 0 {
        let c = p.uint(&payload[at..], p.message.attribute_count_bytes).ok_or(short("the attribute count"))?;
        at += usize::from(p.message.attribute_count_bytes);
        count = Some(c);
    }
    let mut attrs = Vec::new();
    loop {
        match count {
            Some(c) if attrs.len() as u64 >= c => break,
            None if at >= payload.len() => break,
            _ => {}
        }
        if attrs.len() >= max_attrs {
            return Err(TlibError::TooManyAttributes(max_attrs));
        }
        let rest = &payload[at..];
        let iw = p.attribute.id_bytes;
        let id = AttributeId(p.uint(rest, iw).ok_or(short("an attribute id"))? as u32);
        let mut i = usize::from(iw);
        let kind = p.kind(id.0);
        let lw = p.attribute.length_bytes;
        let len = if lw > 0 {
            let n = p.uint(&rest[i..], lw).ok_or(short("an attribute length"))?;
            i += usize::from(lw);
            usize::try_from(n).map_err(|_| short("an attribute value"))?
        } else {
            implicit_len(&rest[i..], kind, p).ok_or(short("an attribute value"))?
        };
        let raw = rest.get(i..i.saturating_add(len)).ok_or(short("an attribute value"))?;
        let value = value(raw, kind, p, kv).map_err(|what| TlibError::Value { attr: id, what })?;
        attrs.push((id, value));
        at += i + len;
    }
    Ok(TlibMessage { mtype, attrs })
}

/// The size of a value when attributes carry no length.
fn implicit_len(b: &[u8], kind: ValueKind, p: &WireProfile) -> Option<usize> {
    Some(match kind {
        ValueKind::Int => usize::from(p.attribute.int_bytes),
        ValueKind::Long | ValueKind::Connid => 8,
        ValueKind::Mask => 64,
        ValueKind::String => b.iter().position(|c| *c == 0)? + 1,
        ValueKind::Kvlist => kvlist_len(b, p)?,
        ValueKind::Binary => return None,
    })
}

/// The length of a packed KV list at the start of `b` (walks it).
fn kvlist_len(b: &[u8], p: &WireProfile) -> Option<usize> {
    // Decode growing prefixes would be quadratic: walk the structure instead.
    fn walk(b: &[u8], p: &WireProfile, depth: usize) -> Option<usize> {
        if depth > 32 {
            return None;
        }
        let k = &p.kvlist;
        let mut at = usize::from(k.count_bytes);
        let count = p.uint(b, k.count_bytes)?;
        for _ in 0..count {
            let t = p.uint(b.get(at..)?, k.type_bytes)?;
            at += usize::from(k.type_bytes);
            let kl = usize::try_from(p.uint(b.get(at..)?, k.key_length_bytes)?).ok()?;
            at = at.checked_add(usize::from(k.key_length_bytes) + kl)?;
            let w = match t {
                kvlist::tag::INT => {
                    at += usize::from(k.int_bytes);
                    continue;
                }
                kvlist::tag::STRING => k.string_length_bytes,
                kvlist::tag::BINARY => k.binary_length_bytes,
                kvlist::tag::UNICODE => k.unicode_length_bytes,
                kvlist::tag::LIST => k.list_length_bytes,
                _ => return None,
            };
            let n = usize::try_from(p.uint(b.get(at..)?, w)?).ok()?;
            at = at.checked_add(usize::from(w) + n)?;
        }
        (at <= b.len()).then_some(at)
    }
    walk(b, p, 0)
}

fn value(raw: &[u8], kind: ValueKind, p: &WireProfile, kv: KvLimits) -> Result<Value, String> {
    let exact = |n: usize| {
        if raw.len() == n {
            Ok(())
        } else {
            Err(format!("{kind:?} value of {} bytes, expected {n}", raw.len()))
        }
    };
    Ok(match kind {
        ValueKind::Int => {
            let w = p.attribute.int_bytes;
            exact(usize::from(w))?;
            Value::Int(signed(p.uint(raw, w).unwrap_or(0), w))
        }
        ValueKind::Long => {
            exact(8)?;
            Value::Long(p.uint(raw, 8).unwrap_or(0) as i64)
        }
        ValueKind::Connid => {
            exact(8)?;
            let mut c = [0u8; 8];
            c.copy_from_slice(raw);
            Value::ConnId(c)
        }
        ValueKind::String => {
            let text = if p.attribute.string_nul {
                raw.strip_suffix(&[0]).ok_or_else(|| "string without its terminating NUL".to_owned())?
            } else {
                raw
            };
            Value::Str(String::from_utf8_lossy(text).into_owned())
        }
        ValueKind::Kvlist => Value::KvList(kvlist::decode(raw, p, kv).map_err(|e| e.to_string())?),
        ValueKind::Mask => Value::Mask(raw.to_vec()),
        ValueKind::Binary => Value::Binary(raw.to_vec()),
    })
}

/// Encodes a message as one packet (header and payload); `None` when something does not fit
/// the profile (a value of the wrong kind, a length too large for its width).
pub fn encode(m: &TlibMessage, p: &WireProfile) -> Option<Vec<u8>> {
    let mut payload = Vec::with_capacity(256);
    p.put_uint(&mut payload, u64::from(m.mtype.0), p.message.type_bytes)?;
    if p.message.attribute_count_bytes > 0 {
        p.put_uint(&mut payload, m.attrs.len() as u64, p.message.attribute_count_bytes)?;
    }
    for (id, v) in &m.attrs {
        p.put_uint(&mut payload, u64::from(id.0), p.attribute.id_bytes)?;
        let mut raw = Vec::new();
        match (p.kind(id.0), v) {
            (ValueKind::Int, Value::Int(i)) => {
                p.put_uint(&mut raw, truncated(*i, p.attribute.int_bytes), p.attribute.int_bytes)?
            }
            (ValueKind::Long, Value::Long(i)) => p.put_uint(&mut raw, *i as u64, 8)?,
            (ValueKind::Connid, Value::ConnId(c)) => raw.extend_from_slice(c),
            (ValueKind::String, Value::Str(s)) => {
                raw.extend_from_slice(s.as_bytes());
                if p.attribute.string_nul {
                    raw.push(0);
                }
            }
            (ValueKind::Kvlist, Value::KvList(l)) => kvlist::encode(l, p, &mut raw)?,
            (ValueKind::Mask, Value::Mask(b)) | (ValueKind::Binary, Value::Binary(b)) => raw.extend_from_slice(b),
            _ => return None,
        }
        if p.attribute.length_bytes > 0 {
            p.put_uint(&mut payload, raw.len() as u64, p.attribute.length_bytes)?;
        } else if p.kind(id.0) == ValueKind::String && !p.attribute.string_nul {
            return None; // without lengths, strings need their NUL
        }
        payload.extend_from_slice(&raw);
    }
    let hl = u64::from(p.packet.length_bytes);
    let n = payload.len() as u64 + if p.packet.length_includes_header { hl } else { 0 };
    if payload.len() as u64 > u64::from(p.packet.max_length) {
        return None;
    }
    let mut out = Vec::with_capacity(payload.len() + 4);
    p.put_uint(&mut out, n, p.packet.length_bytes)?;
    out.extend_from_slice(&payload);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::kvlist::KvValue;
    use super::super::profile::DEFAULT_TEXT;
    use super::*;

    const KV: KvLimits = KvLimits { max_pairs: 256, max_depth: 8 };

    fn ringing() -> TlibMessage {
        TlibMessage {
            mtype: MessageType::EVENT_RINGING,
            attrs: vec![
                (AttributeId::CONN_ID, Value::ConnId([0, 0x6c, 2, 0x9a, 0x66, 0x85, 0xd0, 4])),
                (AttributeId::THIS_DN, Value::Str("9001".into())),
                (AttributeId::THIS_DN_ROLE, Value::Int(2)),
                (AttributeId::CALL_UUID, Value::Str("QK59HK4FS927D7FUU41G6IE468000004".into())),
                (AttributeId::EVENT_SEQUENCE_NUMBER, Value::Long(0x1234_5678_9abc)),
                (
                    AttributeId::USER_DATA,
                    Value::KvList(vec![("RVQID".into(), KvValue::Str("SQBENM69RP39R22KR9QUBT1RQO000002".into()))]),
                ),
                (AttributeId(400), Value::Binary(vec![1, 2, 3])),
            ],
        }
    }

    fn profiles() -> Vec<WireProfile> {
        [
            DEFAULT_TEXT.to_string(),
            DEFAULT_TEXT.replace("byte_order = \"big\"", "byte_order = \"little\""),
            DEFAULT_TEXT.replace("length_includes_header = false", "length_includes_header = true"),
            DEFAULT_TEXT.replace("id_bytes = 2", "id_bytes = 4").replace("type_bytes = 4", "type_bytes = 2"),
            DEFAULT_TEXT.replace("attribute_count_bytes = 0", "attribute_count_bytes = 2"),
        ]
        .iter()
        .map(|t| WireProfile::parse(t).unwrap())
        .collect()
    }

    #[test]
    fn messages_round_trip_through_every_profile() {
        for p in profiles() {
            let packet = encode(&ringing(), &p).unwrap();
            let Framed::Packet { payload, len } = frame(&packet, &p) else { panic!("{p:?}") };
            assert_eq!(len, packet.len());
            assert_eq!(decode(payload, &p, 64, KV).unwrap(), ringing());
        }
    }

    #[test]
    fn framing_waits_for_whole_packets_and_refuses_impossible_lengths() {
        let p = WireProfile::default();
        let packet = encode(&ringing(), &p).unwrap();
        for cut in 0..packet.len() {
            assert!(matches!(frame(&packet[..cut], &p), Framed::Incomplete { needed } if needed > cut));
        }
        assert_eq!(frame(&[0, 0, 0, 0], &p), Framed::KeepAlive { len: 4 });
        assert!(matches!(frame(&[0x7f, 0, 0, 0], &p), Framed::Bad(_)));
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        let p = WireProfile::default();
        let packet = encode(&ringing(), &p).unwrap();
        let payload = &packet[4..];
        for cut in 0..payload.len() {
            let _ = decode(&payload[..cut], &p, 64, KV);
        }
        assert!(decode(&payload[..payload.len() - 1], &p, 64, KV).is_err());
        assert_eq!(decode(payload, &p, 3, KV), Err(TlibError::TooManyAttributes(3)));
    }
}
