//! T-Server / SIP Server log text (genesys_wire.md §11.4, public samples): the messages a
//! server logged, with their attributes as printed. Calibration lines them up with a capture.
//!
//! Read: `@hh:mm:ss.ffff [n] version verb: message Name` (events sent), `... Trc 04541 Name
//! received from [n] (handle app ip:port)` + `message Name` (requests received), then one
//! tab-indented attribute per line: `'text'`, integers, hex (ConnIDs, sequence numbers), and KV
//! lists as `[packed size] first bytes..` followed by `'key'<TAB>'value'` lines one tab deeper.
//! Everything else in the log is skipped. Pure; lines are capped in length and number of
//! attributes.

/// A value as the log prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogValue {
    /// `'text'`.
    Str(String),
    /// A decimal integer.
    Int(i64),
    /// Hex digits (ConnIDs, sequence numbers).
    Hex(String),
    /// A KV list: its packed size, the first bytes shown, and the pairs printed under it.
    KvList { size: usize, head: Vec<u8>, pairs: Vec<(String, LogValue)> },
    /// Anything else, as printed.
    Other(String),
}

/// Who sent a logged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDirection {
    /// A request the server received from client `[n]`: its application and address.
    Received { client: Option<u32>, app: Option<String>, addr: Option<String> },
    /// An event the server sent (`distribute_event`, `send_to_client`, ...).
    Sent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    /// 1-based line of the message's header in the log.
    pub line: usize,
    /// The time as printed (`16:45:24.5939` or `2015-05-29T12:21:16.438`).
    pub time: String,
    pub name: String,
    pub direction: LogDirection,
    pub attributes: Vec<(String, LogValue)>,
}

impl LogMessage {
    pub fn get(&self, name: &str) -> Option<&LogValue> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Longest line looked at; attributes kept per message.
const MAX_LINE: usize = 64 * 1024;
const MAX_ATTRIBUTES: usize = 1024;

/// Parses a value as printed after an attribute or KV key.
pub fn parse_value(v: &str) -> LogValue {
    let v = v.trim_end();
    if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return LogValue::Str(inner.to_owned());
    }
    if let Some(rest) = v.strip_prefix('[') {
        if let Some((size, bytes)) = rest.split_once(']') {
            if let Ok(size) = size.trim().parse::<usize>() {
                let head = bytes
                    .trim()
                    .trim_end_matches('.')
                    .split_whitespace()
                    .filter_map(|h| u8::from_str_radix(h, 16).ok())
                    .collect();
                return LogValue::KvList { size, head, pairs: Vec::new() };
            }
        }
    }
    if !v.is_empty() && (v.starts_with('-') || v.bytes().all(|c| c.is_ascii_digit())) {
        if let Ok(i) = v.parse::<i64>() {
            // 16 digits that happen to be decimal are still hex ids as the log prints them.
            if v.len() != 16 {
                return LogValue::Int(i);
            }
        }
    }
    if !v.is_empty() && v.bytes().all(|c| c.is_ascii_hexdigit()) {
        return LogValue::Hex(v.to_ascii_lowercase());
    }
    LogValue::Other(v.to_owned())
}

/// A KV pair line: `'key'<TAB>value` or `'key'(list)`.
fn kv_pair(line: &str) -> Option<(String, LogValue)> {
    let rest = line.trim_start_matches('\t').strip_prefix('\'')?;
    let (key, after) = rest.split_once('\'')?;
    let after = after.trim();
    if after.starts_with("(list)") {
        return Some((key.to_owned(), LogValue::KvList { size: 0, head: Vec::new(), pairs: Vec::new() }));
    }
    Some((key.to_owned(), parse_value(after)))
}

/// The message name and direction on a header line, if it is one.
fn header(line: &str) -> Option<(String, String, LogDirection)> {
    let time = line.split_whitespace().next().unwrap_or("").trim_start_matches('@').to_owned();
    if let Some(at) = line.find(" received from [") {
        // `... Trc 04541 RequestQueryCall received from [66] (00000e85 App 10.0.0.1:49280)`
        let before = &line[..at];
        let name = before.split_whitespace().last()?.to_owned();
        if !name.starts_with("Request") && !name.starts_with("Event") {
            return None;
        }
        let rest = &line[at + " received from [".len()..];
        let (client, rest) = rest.split_once(']')?;
        let inside = rest.trim().trim_start_matches('(').trim_end_matches(')');
        let mut parts = inside.split_whitespace();
        let (_handle, app, addr) = (parts.next(), parts.next(), parts.next());
        let dir = LogDirection::Received {
            client: client.trim().parse().ok(),
            app: app.map(str::to_owned),
            addr: addr.map(str::to_owned),
        };
        return Some((time, name, dir));
    }
    // A client's log: `Int 04543 Interaction message "EventRouteRequest" received from 65200
    // ("SIPTS750@3020")` or `Trc 04541 Message EventRegistered received from 'SIPTS750@7593'`.
    for marker in ["message \"", "Message "] {
        if let Some(at) = line.find(marker) {
            let rest = &line[at + marker.len()..];
            let Some((name, from)) = rest.split_once(" received from ") else { continue };
            let name = name.trim_end_matches('"').to_owned();
            let app = from.split(['(', '"', '\'', ')']).map(str::trim).find(|p| p.contains('@')).map(str::to_owned);
            return Some((time, name, LogDirection::Received { client: None, app, addr: None }));
        }
    }
    if let Some(at) = line.find(": message ") {
        let name = line[at + ": message ".len()..].split_whitespace().next()?.to_owned();
        return Some((time, name, LogDirection::Sent));
    }
    None
}

/// Every message in a log's text, in order.
pub fn parse(text: &str) -> Vec<LogMessage> {
    let mut out: Vec<LogMessage> = Vec::new();
    let mut open = false; // attribute lines belong to the last message
    for (i, line) in text.lines().enumerate() {
        // Cut at the cap (on a character boundary).
        let cut = (0..=MAX_LINE.min(line.len())).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
        let line = &line[..cut];
        if let Some((time, name, direction)) = header(line) {
            out.push(LogMessage { line: i + 1, time, name, direction, attributes: Vec::new() });
            open = true;
            continue;
        }
        if line.starts_with("message ") {
            // The second line of a received request repeats its name.
            continue;
        }
        let Some(m) = out.last_mut().filter(|_| open) else { continue };
        if let Some(rest) = line.strip_prefix("\t\t") {
            if let Some((_, LogValue::KvList { pairs, .. })) = m.attributes.last_mut() {
                if let Some(p) = kv_pair(rest).filter(|_| pairs.len() < MAX_ATTRIBUTES) {
                    pairs.push(p);
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix('\t') {
            if let Some((name, value)) = rest.split_once('\t') {
                if name.starts_with("Attribute") && m.attributes.len() < MAX_ATTRIBUTES {
                    m.attributes.push((name.to_owned(), parse_value(value)));
                    continue;
                }
            }
        }
        open = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_log_samples_read() {
        // testdata/genesys/log-samples.txt: the samples quoted in genesys_wire.md §3.3 and §11.4.
        let text = include_str!("../../../../testdata/genesys/log-samples.txt");
        let msgs = parse(text);
        let names: Vec<&str> = msgs.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["EventReleased", "RequestQueryCall", "EventRouteRequest"]);
        let rel = &msgs[0];
        assert_eq!(rel.time, "16:45:24.5939");
        assert_eq!(rel.direction, LogDirection::Sent);
        assert_eq!(rel.get("AttributeConnID"), Some(&LogValue::Hex("006c029a6685d004".into())));
        assert_eq!(rel.get("AttributeThisDN"), Some(&LogValue::Str("9001".into())));
        let Some(LogValue::KvList { size, head, pairs }) = rel.get("AttributeUserData") else { panic!() };
        assert_eq!((*size, head.as_slice()), (561, &[0x00, 0x14, 0x00, 0x00][..]));
        assert_eq!(pairs[0], ("RVQID".to_string(), LogValue::Str("SQBENM69RP39R22KR9QUBT1RQO000002".into())));
        assert!(matches!(pairs[1].1, LogValue::KvList { .. }), "a nested list");
        assert_eq!(pairs[2], ("IntKey".to_string(), LogValue::Int(12)));
        let q = &msgs[1];
        assert_eq!(
            q.direction,
            LogDirection::Received {
                client: Some(66),
                app: Some("CIMplicity_EUW1_L2".into()),
                addr: Some("10.51.167.61:49280".into())
            }
        );
        assert_eq!(q.time, "2015-05-29T12:21:16.438");
    }

    #[test]
    fn values_as_printed() {
        assert_eq!(parse_value("'a b'"), LogValue::Str("a b".into()));
        assert_eq!(parse_value("-3"), LogValue::Int(-3));
        assert_eq!(parse_value("00000000000000ff"), LogValue::Hex("00000000000000ff".into()));
        assert_eq!(
            parse_value("[34] 00 01 00 00.."),
            LogValue::KvList { size: 34, head: vec![0, 1, 0, 0], pairs: vec![] }
        );
        assert_eq!(parse_value("what?"), LogValue::Other("what?".into()));
    }
}
