//! HTTP/1.x message heads and body framing (RFC 9112): pure functions over bytes.
//!
//! [`parse_head`] reads a request or status line and the header fields up to the empty line;
//! [`framing`] decides from them how the body is delimited (§6.3); [`chunk_size`] reads one
//! chunk-size line of a chunked body (§7.1). Tolerant where an observer must be (bare LF line
//! ends, obsolete line folding kept as separate lines of the same field, any method token),
//! strict where framing depends on it (Content-Length must be one decimal number).

use std::borrow::Cow;

/// Longest chunk-size line (size, extensions) read.
pub const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: &'a str, target: &'a str },
    Response { code: u16, phrase: &'a str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Lowercased (borrowed when it already was).
    pub name: Cow<'a, str>,
    pub value: &'a str,
}

/// A message head: start line, version, fields, and its length in bytes (the empty line
/// included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    pub start: StartLine<'a>,
    /// `1.0` or `1.1` (as written: `HTTP/1.1` gives "1.1").
    pub version: &'a str,
    pub headers: Vec<Header<'a>>,
    pub len: usize,
    /// Fields past `max_headers`, not kept.
    pub dropped_headers: usize,
}

impl<'a> Head<'a> {
    /// The first value of field `name` (lowercase).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|h| h.name == name).map(|h| h.value)
    }

    /// Every value of field `name` (lowercase), each split at commas.
    pub fn list<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name == name)
            .flat_map(|h| h.value.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }
}

/// Errors are anomalies: `code` is the reason counted, `detail` says where.
pub type ParseError = crate::Anomaly;

fn error(code: &'static str, detail: impl Into<String>) -> ParseError {
    crate::Anomaly::new(code, detail.into())
}

/// A head, or how many more bytes at least are needed to finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    Head(Head<'a>),
    Incomplete,
}

/// Where the head ends (just past the empty line), if it is all there.
fn head_end(input: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(p) = memchr::memchr(b'\n', &input[at..]) {
        let nl = at + p;
        // The empty line: "\n\n" or "\n\r\n".
        match input.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if input.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => at = nl + 1,
        }
    }
    None
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `HTTP/1.x` at the start of `s`: the version text.
fn version_of(s: &str) -> Option<&str> {
    let v = s.strip_prefix("HTTP/")?;
    let b = v.as_bytes();
    (b.len() == 3 && b[0].is_ascii_digit() && b[1] == b'.' && b[2].is_ascii_digit()).then_some(v)
}

/// Whether `line` (the bytes up to a line end, or what there is of them) can start an HTTP
/// message: `Some(true)`/`Some(false)` when it is clear, `None` when more bytes are needed.
pub fn looks_like_http(input: &[u8]) -> Option<bool> {
    const MAX_LINE: usize = 8192;
    if input.starts_with(b"HTTP/1.") {
        return Some(input.len() < 9 || input[7].is_ascii_digit() && input[8] == b' ');
    }
    if b"HTTP/1.".starts_with(&input[..input.len().min(7)]) {
        return None;
    }
    // A request: token SP target SP HTTP/1.x CRLF.
    let sp = match input.iter().position(|b| *b == b' ') {
        Some(0) => return Some(false),
        Some(p) => p,
        None if input.len() > 32 || !input.iter().all(|b| is_token(*b)) => return Some(false),
        None => return None,
    };
    if sp > 32 || !input[..sp].iter().all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_') {
        return Some(false);
    }
    let Some(end) = memchr::memchr(b'\n', input) else {
        return if input.len() > MAX_LINE { Some(false) } else { None };
    };
    let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
    let Some(last) = line.iter().rposition(|b| *b == b' ') else { return Some(false) };
    Some(last > sp && std::str::from_utf8(&line[last + 1..]).ok().and_then(version_of).is_some())
}

/// Parses a message head at the start of `input`. At most `max_head` bytes are looked at and
/// `max_headers` fields kept.
pub fn parse_head(input: &[u8], max_head: usize, max_headers: usize) -> Result<Parsed<'_>, ParseError> {
    let window = &input[..input.len().min(max_head)];
    let Some(len) = head_end(window) else {
        if input.len() >= max_head {
            return Err(error("http_head_too_large", format!("no end of the head within {max_head} bytes")));
        }
        return Ok(Parsed::Incomplete);
    };
    let text = std::str::from_utf8(&input[..len])
        .map_err(|e| error("http_not_text", format!("head is not UTF-8 at byte {}", e.valid_up_to())))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("");
    let (start, version) = start_line(first)?;
    let mut headers: Vec<Header<'_>> = Vec::new();
    let mut dropped_headers = 0;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding (§5.2): the continuation is kept as another value of the
            // field it continues.
            if let Some(prev) = headers.last() {
                let name = prev.name.clone();
                if headers.len() < max_headers {
                    headers.push(Header { name, value: line.trim() });
                } else {
                    dropped_headers += 1;
                }
                continue;
            }
            return Err(error("http_bad_header", "a folded line before any field"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(error("http_bad_header", format!("field without a colon: {}", excerpt(line))));
        };
        if name.is_empty() || !name.bytes().all(is_token) {
            return Err(error("http_bad_header", format!("bad field name: {}", excerpt(name))));
        }
        if headers.len() >= max_headers {
            dropped_headers += 1;
            continue;
        }
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        headers.push(Header { name, value: value.trim() });
    }
    Ok(Parsed::Head(Head { start, version, headers, len, dropped_headers }))
}

fn excerpt(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn start_line(line: &str) -> Result<(StartLine<'_>, &str), ParseError> {
    if let Some(rest) = line.strip_prefix("HTTP/") {
        let (v, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let version = version_of(&line[..5 + v.len()])
            .ok_or_else(|| error("http_bad_start_line", format!("bad version: {}", excerpt(line))))?;
        let (code, phrase) = rest.split_once(' ').unwrap_or((rest, ""));
        let code = code
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c) && code.len() == 3)
            .ok_or_else(|| error("http_bad_start_line", format!("bad status code: {}", excerpt(line))))?;
        return Ok((StartLine::Response { code, phrase }, version));
    }
    let mut parts = line.splitn(3, ' ');
    let (Some(method), Some(target), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(error("http_bad_start_line", format!("not a request line: {}", excerpt(line))));
    };
    let version =
        version_of(v).ok_or_else(|| error("http_bad_start_line", format!("bad version: {}", excerpt(line))))?;
    if method.is_empty() || !method.bytes().all(is_token) || target.is_empty() {
        return Err(error("http_bad_start_line", format!("bad request line: {}", excerpt(line))));
    }
    Ok((StartLine::Request { method, target }, version))
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    Length(u64),
    Chunked,
    /// The body runs until the connection closes (responses only).
    UntilClose,
    /// The connection stops carrying HTTP (101 Switching Protocols, a 2xx answer to CONNECT).
    Tunnel,
}

/// The framing of `head`; for a response, `request_method` is that of the request it answers
/// (HEAD responses have no body, CONNECT 2xx opens a tunnel).
pub fn framing(head: &Head<'_>, request_method: Option<&str>) -> Result<Framing, ParseError> {
    if let StartLine::Response { code, .. } = head.start {
        if code == 101 || (request_method == Some("CONNECT") && (200..300).contains(&code)) {
            return Ok(Framing::Tunnel);
        }
        if request_method == Some("HEAD") || (100..200).contains(&code) || code == 204 || code == 304 {
            return Ok(Framing::None);
        }
    }
    let codings: Vec<&str> = head.list("transfer-encoding").collect();
    if let Some(last) = codings.last() {
        if last.eq_ignore_ascii_case("chunked") {
            return Ok(Framing::Chunked);
        }
        return if head.is_request() {
            Err(error("http_bad_framing", format!("request with transfer coding {last} last, not chunked")))
        } else {
            Ok(Framing::UntilClose)
        };
    }
    let mut length: Option<u64> = None;
    for v in head.list("content-length") {
        let n = v
            .parse::<u64>()
            .ok()
            .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| error("http_bad_framing", format!("Content-Length {}", excerpt(v))))?;
        if length.is_some_and(|l| l != n) {
            return Err(error("http_bad_framing", "Content-Length values differ"));
        }
        length = Some(n);
    }
    Ok(match (length, head.is_request()) {
        (Some(0), _) => Framing::None,
        (Some(n), _) => Framing::Length(n),
        (None, true) => Framing::None,
        (None, false) => Framing::UntilClose,
    })
}

/// One chunk-size line at the start of `input`: `Ok(Some((size, line length)))`, `Ok(None)`
/// when the line is not all there yet.
pub fn chunk_size(input: &[u8]) -> Result<Option<(u64, usize)>, ParseError> {
    let window = &input[..input.len().min(MAX_CHUNK_LINE)];
    let Some(nl) = memchr::memchr(b'\n', window) else {
        if input.len() >= MAX_CHUNK_LINE {
            return Err(error("http_bad_chunk", format!("chunk-size line longer than {MAX_CHUNK_LINE} bytes")));
        }
        return Ok(None);
    };
    let line = &window[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = &line[digits..];
    if digits == 0 || digits > 15 || !(rest.is_empty() || matches!(rest[0], b';' | b' ' | b'\t')) {
        return Err(error("http_bad_chunk", "bad chunk-size line"));
    }
    let mut size = 0u64;
    for b in &line[..digits] {
        size = size << 4 | u64::from((*b as char).to_digit(16).unwrap_or(0));
    }
    Ok(Some((size, nl + 1)))
}

/// The end of a chunked body's trailer section at the start of `input` (just past its empty
/// line), if it is all there; trailer fields are skipped.
pub fn trailer_end(input: &[u8]) -> Option<usize> {
    match input.first() {
        Some(b'\n') => return Some(1),
        Some(b'\r') if input.get(1) == Some(&b'\n') => return Some(2),
        Some(b'\r') | None => return None,
        _ => {}
    }
    head_end(input)
}

#[cfg(test)]
mod tests;
