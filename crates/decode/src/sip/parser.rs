//! SIP message parsing (RFC 3261 §7, §20, §25): pure functions from bytes to borrowed views.
//! No I/O, no clock, no config: limits are passed in.
//!
//! Supported: requests and responses, header folding, compact header forms (§7.3.3, RFC 3261
//! and the IANA compact-form registry), Content-Length framing, name-addr / addr-spec, SIP and
//! tel URIs, Via lists, CSeq. Not supported: multipart bodies (kept as the body), SIP/2.0
//! over other framings (WebSocket, SCTP), S/MIME.

use std::borrow::Cow;

/// Why bytes are not a SIP message. `code` is the anomaly reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipError {
    pub code: &'static str,
    pub detail: Cow<'static, str>,
}

fn err(code: &'static str, detail: impl Into<Cow<'static, str>>) -> SipError {
    SipError { code, detail: detail.into() }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: &'a str, uri: &'a str },
    Response { code: u16, phrase: &'a str },
}

/// A header as it appeared, with its name expanded from the compact form and lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    pub version: &'a str,
    pub headers: Vec<Header<'a>>,
    pub body: &'a [u8],
    /// Bytes the message took from the input (headers, blank line, body).
    pub len: usize,
    /// Headers past the limit that were not kept.
    pub dropped_headers: usize,
    /// The body is shorter than Content-Length said (datagrams only).
    pub body_truncated: bool,
}

/// The result of looking at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    Message(Message<'a>),
    /// The message is not complete; at least this many bytes (in total) are needed.
    Incomplete {
        needed: usize,
    },
}

impl Message<'_> {
    /// The first header with this (lowercase, long-form) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.name == name).map(|h| h.value.as_ref())
    }

    /// Every value of a header, list values split at top-level commas.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers.iter().filter(move |h| h.name == name).flat_map(|h| split_list(&h.value))
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }
}

/// SIP methods recognised at the start of a request (RFC 3261 and extensions).
pub const METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// Compact forms (RFC 3261 §7.3.3 and the IANA registry).
fn expand_compact(name: &str) -> Option<&'static str> {
    Some(match name {
        "i" => "call-id",
        "m" => "contact",
        "e" => "content-encoding",
        "l" => "content-length",
        "c" => "content-type",
        "f" => "from",
        "s" => "subject",
        "k" => "supported",
        "t" => "to",
        "v" => "via",
        "o" => "event",
        "r" => "refer-to",
        "b" => "referred-by",
        "x" => "session-expires",
        "u" => "allow-events",
        "a" => "accept-contact",
        "j" => "reject-contact",
        "d" => "request-disposition",
        "y" => "identity",
        _ => return None,
    })
}

/// True when `input` plausibly starts a SIP message (a request line with a known method and
/// `SIP/2.0`, or a status line). Needs the first line; `None` when it is not complete yet.
pub fn looks_like_sip(input: &[u8]) -> Option<bool> {
    let line_end = input.iter().position(|b| *b == b'\n');
    let line = match line_end {
        Some(e) => &input[..e],
        None if input.len() >= 512 => &input[..512],
        None => {
            // Decide early on a clear mismatch.
            let prefix_ok = input.starts_with(b"SIP/2.0 ")
                || b"SIP/2.0 ".starts_with(input)
                || METHODS.iter().any(|m| {
                    let m = m.as_bytes();
                    input.starts_with(m) || m.starts_with(input)
                });
            return if prefix_ok { None } else { Some(false) };
        }
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Ok(line) = std::str::from_utf8(line) else { return Some(false) };
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        return Some(rest.len() >= 3 && rest.as_bytes()[..3].iter().all(u8::is_ascii_digit));
    }
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("");
    let _uri = parts.next();
    Some(METHODS.contains(&method) && parts.next() == Some("SIP/2.0"))
}

/// Where the header section ends: (index of the blank line's end, i.e. body start).
fn header_end(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'\n' {
            if input.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if input.get(i + 1) == Some(&b'\r') && input.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// Parses one message at the start of `input`. `datagram`: the input is one whole UDP
/// datagram (a missing Content-Length means "the rest").
pub fn parse(input: &[u8], max_message: usize, max_headers: usize, datagram: bool) -> Result<Parsed<'_>, SipError> {
    let Some(body_start) = header_end(input) else {
        if datagram {
            return Err(err("sip_no_header_end", "datagram ends inside the headers"));
        }
        if input.len() > max_message {
            return Err(err("sip_message_too_large", format!("headers exceed {max_message} bytes")));
        }
        return Ok(Parsed::Incomplete { needed: input.len() + 1 });
    };
    let head =
        std::str::from_utf8(&input[..body_start]).map_err(|_| err("sip_bad_encoding", "headers are not UTF-8"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("");
    let (start, version) = start_line(first)?;

    let mut headers: Vec<Header<'_>> = Vec::new();
    let mut dropped = 0;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: continues the previous header's value.
            if let Some(last) = headers.last_mut() {
                let v = format!("{} {}", last.value, line.trim());
                last.value = Cow::Owned(v);
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(err("sip_bad_header", format!("header line without a colon: {:.60}", line)));
        };
        let name = name.trim();
        if name.is_empty() || name.contains(' ') {
            return Err(err("sip_bad_header", format!("bad header name: {:.60}", name)));
        }
        if headers.len() >= max_headers {
            dropped += 1;
            continue;
        }
        let lower = name.to_ascii_lowercase();
        let name = match expand_compact(&lower) {
            Some(long) => Cow::Borrowed(long),
            None => Cow::Owned(lower),
        };
        headers.push(Header { name, value: Cow::Borrowed(value.trim()) });
    }

    let declared =
        match headers.iter().find(|h| h.name == "content-length") {
            Some(h) => Some(h.value.trim().parse::<usize>().map_err(|_| {
                err("sip_bad_content_length", format!("Content-Length is not a number: {:.40}", h.value))
            })?),
            None => None,
        };
    if let Some(n) = declared {
        if n > max_message {
            return Err(err("sip_message_too_large", format!("Content-Length {n} exceeds {max_message}")));
        }
    }
    let available = input.len() - body_start;
    let (body_len, truncated) = match (declared, datagram) {
        (Some(n), false) if available < n => return Ok(Parsed::Incomplete { needed: body_start + n }),
        (Some(n), false) => (n, false),
        (Some(n), true) => (n.min(available), n > available),
        (None, true) => (available, false),
        // RFC 3261 §18.3: on a stream, no Content-Length means no body.
        (None, false) => (0, false),
    };
    let body = &input[body_start..body_start + body_len];
    Ok(Parsed::Message(Message {
        start,
        version,
        headers,
        body,
        len: body_start + body_len,
        dropped_headers: dropped,
        body_truncated: truncated,
    }))
}

fn start_line(line: &str) -> Result<(StartLine<'_>, &str), SipError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, rest) =
            rest.split_once(' ').ok_or_else(|| err("sip_bad_start_line", "status line without a code"))?;
        let (code, phrase) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..=699).contains(c))
            .ok_or_else(|| err("sip_bad_start_line", format!("bad status code {:.10}", code)))?;
        return Ok((StartLine::Response { code, phrase }, version));
    }
    let mut parts = line.splitn(3, ' ');
    let (Some(method), Some(uri), Some(ver)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err("sip_bad_start_line", format!("not a request line: {:.60}", line)));
    };
    let Some(version) = ver.strip_prefix("SIP/") else {
        return Err(err("sip_bad_start_line", format!("not a SIP version: {:.20}", ver)));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b.is_ascii_digit()) {
        return Err(err("sip_bad_start_line", format!("bad method {:.20}", method)));
    }
    Ok((StartLine::Request { method, uri }, version))
}

/// Splits a header value list at commas outside quotes and angle brackets.
pub fn split_list(v: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => depth += 1,
            b'>' if !quoted => depth -= 1,
            b',' if !quoted && depth <= 0 => {
                parts.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(v[start.min(v.len())..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// A SIP or tel URI's parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uri<'a> {
    pub original: &'a str,
    pub scheme: &'a str,
    pub user: Option<&'a str>,
    pub host: Option<&'a str>,
    pub port: Option<u16>,
}

pub fn parse_uri(s: &str) -> Uri<'_> {
    let s = s.trim();
    let mut u = Uri { original: s, ..Uri::default() };
    let Some((scheme, rest)) = s.split_once(':') else { return u };
    u.scheme = scheme;
    if scheme.eq_ignore_ascii_case("tel") {
        u.user = Some(rest.split(';').next().unwrap_or(rest));
        return u;
    }
    let rest = rest.split(['?']).next().unwrap_or(rest);
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((ui, hp)) => (Some(ui), hp),
        None => (None, rest),
    };
    u.user = userinfo.map(|ui| ui.split(':').next().unwrap_or(ui)).filter(|x| !x.is_empty());
    let hostport = hostpart.split(';').next().unwrap_or(hostpart);
    let (host, port) = split_host_port(hostport);
    u.host = Some(host).filter(|h| !h.is_empty());
    u.port = port;
    u
}

/// `host:port`, `[v6]:port`, or a bare host.
pub fn split_host_port(hp: &str) -> (&str, Option<u16>) {
    if let Some(rest) = hp.strip_prefix('[') {
        if let Some((h, after)) = rest.split_once(']') {
            return (h, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match hp.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse().ok()),
        _ => (hp, None),
    }
}

/// A From/To/Contact value: display name, URI, and header parameters (tag, expires, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameAddr<'a> {
    pub display: Option<String>,
    pub uri: Uri<'a>,
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }
}

pub fn parse_name_addr(v: &str) -> NameAddr<'_> {
    let v = v.trim();
    if let Some(lt) = v.find('<') {
        let display = v[..lt].trim().trim_matches('"').trim();
        let gt = v[lt..].find('>').map_or(v.len(), |g| lt + g);
        let uri = &v[lt + 1..gt.max(lt + 1)];
        let params = v.get(gt + 1..).unwrap_or("");
        return NameAddr { display: (!display.is_empty()).then(|| display.to_owned()), uri: parse_uri(uri), params };
    }
    // addr-spec: parameters after ';' belong to the header, not the URI.
    let (uri, params) = match v.find(';') {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    NameAddr { display: None, uri: parse_uri(uri), params }
}

/// The value of `;name=value` in a parameter list (case-insensitive name).
pub fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').skip_while(|p| p.trim().is_empty()).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"'))
    })
}

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    pub original: &'a str,
    pub transport: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    pub branch: Option<&'a str>,
}

pub fn parse_via(v: &str) -> Via<'_> {
    let v = v.trim();
    let (proto, rest) = v.split_once(|c: char| c.is_whitespace()).unwrap_or((v, ""));
    let transport = proto.rsplit('/').next().unwrap_or("");
    let rest = rest.trim();
    let (sent_by, params) = match rest.find(';') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(sent_by.trim());
    Via { original: v, transport, host, port, branch: param(params, "branch") }
}

/// CSeq: `314159 INVITE`.
pub fn parse_cseq(v: &str) -> Option<(u32, &str)> {
    let (n, m) = v.trim().split_once(|c: char| c.is_whitespace())?;
    Some((n.parse().ok()?, m.trim()))
}

#[cfg(test)]
mod tests;
