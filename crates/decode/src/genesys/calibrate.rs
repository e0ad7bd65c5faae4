//! Calibration: which wire profile does a site actually speak? The capture's T-Library
//! streams are decoded under every candidate layout and lined up with the T-Server log of the
//! same period (genesys_wire.md §12); a candidate scores one point for each message that
//! matches a logged message of the same name with every printed attribute equal. Each profile
//! field is then reported as confirmed (every other value scores less), undetermined (another
//! value scores as well: the traffic does not tell them apart) or contradicted (the site
//! disagrees with the profile calibration started from). Pure: streams and log in, report out.

use super::kvlist::{self, KvLimits, KvList, KvValue};
use super::log::{LogMessage, LogValue};
use super::profile::{ByteOrder, ValueKind, WireProfile};
use super::tables::AttributeId;
use super::tlib::{self, Framed, TlibMessage, Value};
use iotw_event::json::hex;
use std::collections::HashMap;

/// One TCP connection's two directions, reassembled.
#[derive(Debug, Clone, Default)]
pub struct StreamPair {
    pub label: String,
    pub client: Vec<u8>,
    pub server: Vec<u8>,
}

/// What calibration concluded about one profile field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Only this value explains the traffic.
    Confirmed,
    /// Other values explain it as well.
    Undetermined,
}

#[derive(Debug, Clone)]
pub struct FieldReport {
    pub field: &'static str,
    pub value: String,
    pub start_value: String,
    pub verdict: Verdict,
    /// The best score with a different value of this field.
    pub runner_up: usize,
}

#[derive(Debug, Clone)]
pub struct Report {
    /// Packets framed, messages in the log, messages matched by the best candidate.
    pub packets: usize,
    pub logged: usize,
    pub matched: usize,
    pub fields: Vec<FieldReport>,
    /// The best profile, when the log and the capture share messages.
    pub profile: Option<WireProfile>,
    /// Attributes whose value kind the log contradicts, with the kind it shows (applied to
    /// `profile`).
    pub kinds: Vec<(u32, ValueKind)>,
}

/// Packets of at most this many are decoded per candidate.
const MAX_PACKETS: usize = 1500;
const KV: KvLimits = KvLimits { max_pairs: 4096, max_depth: 16 };

/// Fewest matched messages for a conclusion.
const MIN_MATCHED: usize = 10;

/// Framing: (length_bytes, byte_order, length_includes_header, empty_is_keepalive).
type Framing = (u8, ByteOrder, bool, bool);

fn framings() -> Vec<Framing> {
    let mut v = Vec::new();
    for lb in [4u8, 2] {
        for bo in [ByteOrder::Big, ByteOrder::Little] {
            for inc in [false, true] {
                for ka in [true, false] {
                    v.push((lb, bo, inc, ka));
                }
            }
        }
    }
    v
}

fn with_framing(base: &WireProfile, f: Framing) -> WireProfile {
    let mut p = base.clone();
    (p.packet.length_bytes, p.packet.byte_order, p.packet.length_includes_header, p.packet.empty_is_keepalive) = f;
    p
}

/// Splits a direction into packet payloads; `None` when it does not frame to the end.
fn packets<'a>(b: &'a [u8], p: &WireProfile, out: &mut Vec<&'a [u8]>) -> bool {
    let mut at = 0;
    while at < b.len() {
        match tlib::frame(&b[at..], p) {
            Framed::Packet { payload, len } => {
                out.push(payload);
                at += len;
            }
            Framed::KeepAlive { len } => at += len,
            // A capture may end inside a packet.
            Framed::Incomplete { .. } => return true,
            Framed::Bad(_) => return false,
        }
    }
    true
}

fn kv_matches(pairs: &[(String, LogValue)], l: &KvList) -> bool {
    pairs.len() == l.len()
        && pairs.iter().zip(l).all(|((lk, lv), (k, v))| {
            lk == k
                && match (lv, v) {
                    (LogValue::Str(a), KvValue::Str(b)) => a == b,
                    (LogValue::Int(a), KvValue::Int(b)) => a == b,
                    (LogValue::KvList { .. }, KvValue::List(_)) => true,
                    (LogValue::Hex(a), KvValue::Binary(b) | KvValue::Unicode(b)) => *a == hex(b),
                    _ => false,
                }
        })
}

/// Whether a decoded value is what the log printed.
fn value_matches(lv: &LogValue, v: &Value, p: &WireProfile) -> bool {
    match (lv, v) {
        (LogValue::Str(a), Value::Str(b)) => a == b || a.chars().all(|c| c == '*'),
        (LogValue::Int(a), Value::Int(b) | Value::Long(b)) => a == b,
        (LogValue::Hex(a), Value::ConnId(c)) => *a == hex(c),
        (LogValue::Hex(a), Value::Long(n)) => *a == format!("{:016x}", *n as u64),
        (LogValue::Hex(a), Value::Binary(b) | Value::Mask(b)) => *a == hex(b),
        (LogValue::KvList { size, head, pairs }, Value::KvList(l)) => {
            let mut packed = Vec::new();
            kvlist::encode(l, p, &mut packed).is_some()
                && packed.len() == *size
                && packed.starts_with(head)
                && kv_matches(pairs, l)
        }
        _ => false,
    }
}

fn message_matches(log: &LogMessage, m: &TlibMessage, p: &WireProfile) -> bool {
    log.attributes.len() == m.attrs.len()
        && log.attributes.iter().all(|(name, lv)| {
            AttributeId::by_name(name).and_then(|a| m.get(a)).is_some_and(|v| value_matches(lv, v, p))
        })
}

/// How many of the payloads decode (under `p`) to a message the log shows.
fn score(payloads: &[&[u8]], log: &[LogMessage], by_name: &HashMap<&str, Vec<usize>>, p: &WireProfile) -> usize {
    let mut used = vec![false; log.len()];
    let mut n = 0;
    for pl in payloads {
        let Ok(m) = tlib::decode(pl, p, 1024, KV) else { continue };
        let Some(name) = m.mtype.name() else { continue };
        let Some(cands) = by_name.get(name) else { continue };
        if let Some(&i) = cands.iter().find(|&&i| !used[i] && message_matches(&log[i], &m, p)) {
            used[i] = true;
            n += 1;
        }
    }
    n
}

/// The layout fields searched after framing, with their candidate values.
struct Grid {
    type_bytes: [u8; 3],
    count_bytes: [u8; 4],
    id_bytes: [u8; 3],
    length_bytes: [u8; 4],
    string_nul: [bool; 2],
    int_bytes: [u8; 4],
}

const GRID: Grid = Grid {
    type_bytes: [4, 2, 1],
    count_bytes: [0, 1, 2, 4],
    id_bytes: [2, 4, 1],
    length_bytes: [2, 4, 1, 0],
    string_nul: [false, true],
    int_bytes: [4, 8, 2, 1],
};

/// A candidate's layout values, in field order.
type Layout = (u8, u8, u8, u8, bool, u8);

fn apply(p: &mut WireProfile, l: Layout) {
    p.message.type_bytes = l.0;
    p.message.attribute_count_bytes = l.1;
    p.attribute.id_bytes = l.2;
    p.attribute.length_bytes = l.3;
    p.attribute.string_nul = l.4;
    p.attribute.int_bytes = l.5;
}

/// Finds the profile the capture and the log agree on best, starting from `start`.
pub fn calibrate(streams: &[StreamPair], log: &[LogMessage], start: &WireProfile) -> Report {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, m) in log.iter().enumerate() {
        by_name.entry(m.name.as_str()).or_default().push(i);
    }
    // 1. Framing: the layouts under which every stream splits into packets to its end.
    let mut framing_scores: Vec<(Framing, usize, Vec<&[u8]>)> = Vec::new();
    for f in framings() {
        let p = with_framing(start, f);
        // Streams that are not T-Library (or not under this framing) do not frame: left out.
        let mut payloads = Vec::new();
        for s in streams {
            let mut mine = Vec::new();
            if packets(&s.client, &p, &mut mine) && packets(&s.server, &p, &mut mine) {
                payloads.append(&mut mine);
            }
        }
        if !payloads.is_empty() {
            payloads.truncate(MAX_PACKETS);
            framing_scores.push((f, 0, payloads));
        }
    }
    // 2. Every layout under every framing that works: the score table.
    let mut table: Vec<(Framing, Layout, usize)> = Vec::new();
    for (f, best, payloads) in &mut framing_scores {
        let mut p = with_framing(start, *f);
        for &tb in &GRID.type_bytes {
            for &cb in &GRID.count_bytes {
                for &ib in &GRID.id_bytes {
                    for &lb in &GRID.length_bytes {
                        for &sn in &GRID.string_nul {
                            for &nb in &GRID.int_bytes {
                                let l = (tb, cb, ib, lb, sn, nb);
                                apply(&mut p, l);
                                let s = score(payloads, log, &by_name, &p);
                                *best = (*best).max(s);
                                table.push((*f, l, s));
                            }
                        }
                    }
                }
            }
        }
    }
    let packets_seen = framing_scores.iter().map(|(_, _, p)| p.len()).max().unwrap_or(0);
    let matched = table.iter().map(|(_, _, s)| *s).max().unwrap_or(0);
    // Too little shared to conclude anything (a log of another period shares at most a few
    // handshakes): no profile rather than a wrong one.
    if matched < MIN_MATCHED || matched * 4 < packets_seen.min(log.len()) {
        return Report {
            packets: packets_seen,
            logged: log.len(),
            matched,
            fields: Vec::new(),
            profile: None,
            kinds: Vec::new(),
        };
    }
    // Among the best candidates, the one closest to the starting profile: a field the traffic
    // cannot decide keeps its starting value.
    let start_framing = (
        start.packet.length_bytes,
        start.packet.byte_order,
        start.packet.length_includes_header,
        start.packet.empty_is_keepalive,
    );
    let start_layout = (
        start.message.type_bytes,
        start.message.attribute_count_bytes,
        start.attribute.id_bytes,
        start.attribute.length_bytes,
        start.attribute.string_nul,
        start.attribute.int_bytes,
    );
    let distance = |f: &Framing, l: &Layout| {
        usize::from(f.0 != start_framing.0)
            + usize::from(f.1 != start_framing.1)
            + usize::from(f.2 != start_framing.2)
            + usize::from(f.3 != start_framing.3)
            + usize::from(l.0 != start_layout.0)
            + usize::from(l.1 != start_layout.1)
            + usize::from(l.2 != start_layout.2)
            + usize::from(l.3 != start_layout.3)
            + usize::from(l.4 != start_layout.4)
            + usize::from(l.5 != start_layout.5)
    };
    let Some(&(bf, bl, _)) = table.iter().filter(|(_, _, s)| *s == matched).min_by_key(|(f, l, _)| distance(f, l))
    else {
        return Report {
            packets: packets_seen,
            logged: log.len(),
            matched: 0,
            fields: Vec::new(),
            profile: None,
            kinds: Vec::new(),
        };
    };
    let mut best = with_framing(start, bf);
    apply(&mut best, bl);
    best.name = format!("calibrated from {}", start.name);
    // 3. Per field: the best score any candidate with another value of it reaches.
    type Getter = fn(&Framing, &Layout) -> String;
    let fields: [(&'static str, Getter, String); 10] = [
        ("packet.length_bytes", |f, _| f.0.to_string(), start.packet.length_bytes.to_string()),
        (
            "packet.byte_order",
            |f, _| format!("{:?}", f.1).to_lowercase(),
            format!("{:?}", start.packet.byte_order).to_lowercase(),
        ),
        ("packet.length_includes_header", |f, _| f.2.to_string(), start.packet.length_includes_header.to_string()),
        ("packet.empty_is_keepalive", |f, _| f.3.to_string(), start.packet.empty_is_keepalive.to_string()),
        ("message.type_bytes", |_, l| l.0.to_string(), start.message.type_bytes.to_string()),
        ("message.attribute_count_bytes", |_, l| l.1.to_string(), start.message.attribute_count_bytes.to_string()),
        ("attribute.id_bytes", |_, l| l.2.to_string(), start.attribute.id_bytes.to_string()),
        ("attribute.length_bytes", |_, l| l.3.to_string(), start.attribute.length_bytes.to_string()),
        ("attribute.string_nul", |_, l| l.4.to_string(), start.attribute.string_nul.to_string()),
        ("attribute.int_bytes", |_, l| l.5.to_string(), start.attribute.int_bytes.to_string()),
    ];
    let mut reports = Vec::new();
    for (field, get, start_value) in fields {
        let value = get(&bf, &bl);
        let runner_up = table.iter().filter(|(f, l, _)| get(f, l) != value).map(|(_, _, s)| *s).max().unwrap_or(0);
        let verdict = if runner_up < matched { Verdict::Confirmed } else { Verdict::Undetermined };
        reports.push(FieldReport { field, value, start_value, verdict, runner_up });
    }
    // 4. KV-list widths, on the messages that carry KV lists, under the best envelope.
    let payloads: &[&[u8]] = framing_scores.iter().find(|(f, _, _)| *f == bf).map_or(&[], |(_, _, p)| p.as_slice());
    let with_kv: Vec<&[u8]> = payloads
        .iter()
        .copied()
        .filter(|pl| {
            tlib::decode(pl, &best, 1024, KV)
                .map_or(true, |m| m.attrs.iter().any(|(_, v)| matches!(v, Value::KvList(_))))
        })
        .collect();
    let kv_fields = kv_stage(&with_kv, log, &by_name, &mut best, start);
    reports.extend(kv_fields);
    // 5. Value kinds: what the log prints for each attribute (text, number, hex, KV list).
    let kinds = kind_corrections(log, &best);
    for (id, kind) in &kinds {
        best.set_kind(*id, *kind);
    }
    let matched = score(payloads, log, &by_name, &best).max(matched);
    Report { packets: packets_seen, logged: log.len(), matched, fields: reports, profile: Some(best), kinds }
}

/// The KV-list layout fields with their candidate values.
type KvLayout = (u8, u8, u8, u8, u8, u8);

fn kv_stage(
    payloads: &[&[u8]],
    log: &[LogMessage],
    by_name: &HashMap<&str, Vec<usize>>,
    best: &mut WireProfile,
    start: &WireProfile,
) -> Vec<FieldReport> {
    let k0 = &start.kvlist;
    let start_kv: KvLayout = (
        k0.count_bytes,
        k0.type_bytes,
        k0.key_length_bytes,
        k0.string_length_bytes,
        k0.list_length_bytes,
        k0.int_bytes,
    );
    let mut table: Vec<(KvLayout, usize)> = Vec::new();
    let mut p = best.clone();
    for cb in [2u8, 1, 4] {
        for tb in [1u8, 2, 4] {
            for kb in [2u8, 1, 4] {
                for sb in [2u8, 1, 4] {
                    for lb in [4u8, 2, 1] {
                        for ib in [4u8, 8, 2, 1] {
                            let l = (cb, tb, kb, sb, lb, ib);
                            let k = &mut p.kvlist;
                            (
                                k.count_bytes,
                                k.type_bytes,
                                k.key_length_bytes,
                                k.string_length_bytes,
                                k.list_length_bytes,
                                k.int_bytes,
                            ) = l;
                            table.push((l, score(payloads, log, by_name, &p)));
                        }
                    }
                }
            }
        }
    }
    let top = table.iter().map(|(_, s)| *s).max().unwrap_or(0);
    let distance = |l: &KvLayout| {
        usize::from(l.0 != start_kv.0)
            + usize::from(l.1 != start_kv.1)
            + usize::from(l.2 != start_kv.2)
            + usize::from(l.3 != start_kv.3)
            + usize::from(l.4 != start_kv.4)
            + usize::from(l.5 != start_kv.5)
    };
    let Some(&(bl, _)) = table.iter().filter(|(_, s)| *s == top).min_by_key(|(l, _)| distance(l)) else {
        return Vec::new();
    };
    let k = &mut best.kvlist;
    (k.count_bytes, k.type_bytes, k.key_length_bytes, k.string_length_bytes, k.list_length_bytes, k.int_bytes) = bl;
    type Get = fn(&KvLayout) -> u8;
    let fields: [(&'static str, Get, u8); 6] = [
        ("kvlist.count_bytes", |l| l.0, start_kv.0),
        ("kvlist.type_bytes", |l| l.1, start_kv.1),
        ("kvlist.key_length_bytes", |l| l.2, start_kv.2),
        ("kvlist.string_length_bytes", |l| l.3, start_kv.3),
        ("kvlist.list_length_bytes", |l| l.4, start_kv.4),
        ("kvlist.int_bytes", |l| l.5, start_kv.5),
    ];
    fields
        .iter()
        .map(|(field, get, start_value)| {
            let value = get(&bl);
            let runner_up = table.iter().filter(|(l, _)| get(l) != value).map(|(_, s)| *s).max().unwrap_or(0);
            let verdict = if top > 0 && runner_up < top { Verdict::Confirmed } else { Verdict::Undetermined };
            FieldReport { field, value: value.to_string(), start_value: start_value.to_string(), verdict, runner_up }
        })
        .collect()
}

/// Attributes whose printed values say their kind differs from the profile's: text in
/// quotes is a string, a decimal number an integer, a KV list a KV list. (Hex is a ConnID,
/// a 64-bit number or bytes: not decided here.)
fn kind_corrections(log: &[LogMessage], p: &WireProfile) -> Vec<(u32, ValueKind)> {
    let mut seen: std::collections::BTreeMap<u32, Option<ValueKind>> = std::collections::BTreeMap::new();
    for m in log {
        for (name, v) in &m.attributes {
            let Some(id) = AttributeId::by_name(name) else { continue };
            let said = match v {
                LogValue::Str(s) if s.chars().all(|c| c == '*') && !s.is_empty() => continue,
                LogValue::Str(_) => ValueKind::String,
                LogValue::Int(_) => ValueKind::Int,
                LogValue::KvList { .. } => ValueKind::Kvlist,
                _ => continue,
            };
            let e = seen.entry(id.0).or_insert(Some(said));
            if *e != Some(said) {
                *e = None; // printed two ways: no conclusion
            }
        }
    }
    seen.into_iter()
        .filter_map(|(id, k)| {
            let k = k?;
            let current = p.kind(id);
            let agrees = current == k || (k == ValueKind::Int && current == ValueKind::Long);
            (!agrees).then_some((id, k))
        })
        .collect()
}
