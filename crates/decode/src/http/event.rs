//! HTTP transaction documents: a request and its response in one document, ECS `http.*`,
//! `url.*`, `user_agent.original`, with `event.duration` the response time: from the end of
//! the request to the end of the response (what tshark's `http.time` measures).

use super::parser::{Head, StartLine};
use super::HttpOptions;
use crate::Ctx;
use iotw_event::{Event, Nanos, Wire};
use iotw_flow::Dir;
use std::io::Read;

/// What a transaction document needs of one message, kept from its head until the
/// transaction ends.
#[derive(Debug)]
pub struct Message {
    pub seq: u64,
    pub dir: Dir,
    /// Request: method and target; response: code and phrase (in `text`).
    start: Start,
    version: String,
    /// Field names (lowercase) and values, redacted as configured.
    headers: Vec<(String, String)>,
    head_len: u64,
    /// First byte of the head, end of the head, last byte seen.
    started: Nanos,
    end: Nanos,
    body_bytes: u64,
    /// The body as it came (perhaps compressed), kept up to a cap when its type is captured.
    captured: Option<Vec<u8>>,
    capture_cap: usize,
    /// Interim (1xx) responses before the final one (requests only).
    pub interim: Vec<u16>,
    /// Bytes were lost inside it, or the connection ended before it did.
    pub incomplete: bool,
}

#[derive(Debug)]
enum Start {
    Request { method: String, target: String },
    Response { code: u16, phrase: String },
}

/// `type/subtype` of a Content-Type value, lowercased.
fn mime_of(v: &str) -> String {
    v.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

impl Message {
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        h: &Head<'_>,
        seq: u64,
        started: Nanos,
        now: Nanos,
        dir: Dir,
        opts: &HttpOptions,
        max_decompressed: usize,
    ) -> Message {
        let start = match h.start {
            StartLine::Request { method, target } => {
                Start::Request { method: method.to_owned(), target: target.to_owned() }
            }
            StartLine::Response { code, phrase } => Start::Response { code, phrase: phrase.to_owned() },
        };
        let headers = h
            .headers
            .iter()
            .map(|x| {
                let value = if opts.redact_headers.iter().any(|r| r == &x.name) { "[redacted]" } else { x.value };
                (x.name.to_string(), value.to_owned())
            })
            .collect();
        let mime = h.get("content-type").map(mime_of);
        let wanted = mime.as_deref().is_some_and(|m| opts.captures(m));
        let encoded = h.get("content-encoding").is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
        // Compressed bodies are kept up to the decompression limit (they are decoded to
        // `max_body` bytes when the document is written); others to `max_body`.
        let capture_cap = if encoded { max_decompressed.min(256 << 10) } else { opts.max_body };
        Message {
            seq,
            dir,
            start,
            version: h.version.to_owned(),
            headers,
            head_len: h.len as u64,
            started,
            end: now,
            body_bytes: 0,
            captured: (wanted && opts.max_body > 0).then(Vec::new),
            capture_cap,
            interim: Vec::new(),
            incomplete: false,
        }
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            Start::Request { method, .. } => Some(method),
            Start::Response { .. } => None,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn add_body(&mut self, bytes: &[u8], ts: Nanos) {
        self.body_bytes += bytes.len() as u64;
        self.end = ts;
        if let Some(c) = self.captured.as_mut() {
            let room = self.capture_cap.saturating_sub(c.len());
            c.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// The captured body as text for the document: decoded (gzip, deflate) and cut to
    /// `max_body` bytes; whether it was cut.
    fn body_text(&self, max_body: usize) -> Option<(String, bool)> {
        let raw = self.captured.as_deref()?;
        let coding = self.header("content-encoding").map(|v| v.trim().to_ascii_lowercase());
        let mut out = Vec::new();
        let limit = max_body as u64 + 1;
        let decoded = match coding.as_deref() {
            None | Some("identity") => {
                out.extend_from_slice(&raw[..raw.len().min(max_body + 1)]);
                true
            }
            Some("gzip") | Some("x-gzip") => {
                flate2::read::MultiGzDecoder::new(raw).take(limit).read_to_end(&mut out).is_ok() || !out.is_empty()
            }
            Some("deflate") => {
                // RFC 9110 says zlib-wrapped; some servers send raw deflate.
                let zlib = flate2::read::ZlibDecoder::new(raw).take(limit).read_to_end(&mut out);
                if zlib.is_err() && out.is_empty() {
                    flate2::read::DeflateDecoder::new(raw).take(limit).read_to_end(&mut out).is_ok()
                } else {
                    true
                }
            }
            Some(_) => false,
        };
        if !decoded {
            return None;
        }
        let cut = out.len() > max_body || (self.body_bytes as usize > raw.len() && coding.is_none());
        out.truncate(max_body);
        Some((String::from_utf8_lossy(&out).into_owned(), cut))
    }
}

/// The `url.*` parts of a request target (origin, absolute, authority or asterisk form,
/// RFC 9112 §3.2) and the Host field.
struct Url<'a> {
    scheme: &'a str,
    domain: Option<&'a str>,
    port: Option<u16>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn split_host_port(hp: &str) -> (Option<&str>, Option<u16>) {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => (h, p.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (hp, None),
        }
    };
    ((!host.is_empty()).then_some(host), port.and_then(|p| p.parse().ok()))
}

fn url_of<'a>(target: &'a str, host: Option<&'a str>, method: &str) -> Url<'a> {
    let (mut scheme, mut authority, mut rest) = ("http", host, None);
    if method == "CONNECT" {
        authority = Some(target);
    } else if let Some((s, r)) = target.split_once("://").filter(|(s, _)| s.bytes().all(|b| b.is_ascii_alphabetic())) {
        scheme = s;
        let end = r.find(['/', '?', '#']).unwrap_or(r.len());
        authority = Some(&r[..end]);
        rest = Some(&r[end..]);
    } else if target != "*" {
        rest = Some(target);
    }
    let (domain, port) = authority.map(split_host_port).unwrap_or((None, None));
    let (mut path, mut query, mut fragment) = (None, None, None);
    if let Some(r) = rest {
        let (before, frag) = r.split_once('#').map_or((r, None), |(a, b)| (a, Some(b)));
        let (p, q) = before.split_once('?').map_or((before, None), |(a, b)| (a, Some(b)));
        path = (!p.is_empty()).then_some(p);
        query = q;
        fragment = frag;
    }
    Url { scheme, domain, port, path, query, fragment }
}

/// Every field of `m` by name; repeated fields become arrays.
fn write_headers(e: &mut Event, m: &Message) {
    if m.headers.is_empty() {
        return;
    }
    e.obj("headers");
    for (i, (name, value)) in m.headers.iter().enumerate() {
        if m.headers[..i].iter().any(|(n, _)| n == name) {
            continue; // written with its first occurrence
        }
        if m.headers[i + 1..].iter().any(|(n, _)| n == name) {
            e.arr(Wire(name));
            for (_, v) in m.headers[i..].iter().filter(|(n, _)| n == name) {
                e.item_str(v);
            }
            e.end();
        } else {
            e.str(Wire(name), value);
        }
    }
    e.end();
}

/// The members of `http.request` or `http.response` common to both.
fn write_message_fields(e: &mut Event, m: &Message, opts: &HttpOptions) {
    e.u64("bytes", m.head_len + m.body_bytes);
    if let Some(mime) = m.header("content-type").map(mime_of).filter(|s| !s.is_empty()) {
        e.str("mime_type", &mime);
    }
    e.obj("body").u64("bytes", m.body_bytes);
    if let Some((text, cut)) = m.body_text(opts.max_body) {
        e.str("content", &text);
        if cut {
            e.bool("truncated", true);
        }
    }
    e.end();
    if m.incomplete {
        e.bool("incomplete", true);
    }
    write_headers(e, m);
}

/// The document of one transaction: a request and its response, a request never answered,
/// or a response whose request was not seen.
pub fn transaction_document(
    ctx: &mut Ctx<'_>,
    opts: &HttpOptions,
    req: Option<Message>,
    resp: Option<Message>,
) -> Event {
    let (ts, seq, client) = match (&req, &resp) {
        (Some(r), _) => (r.started, r.seq, r.dir),
        (None, Some(r)) => (r.started, r.seq, r.dir.reverse()),
        (None, None) => (ctx.ts, 0, Dir::Orig),
    };
    let start = ctx.meta.start.to_be_bytes();
    let seqb = seq.to_be_bytes();
    let mut e = ctx.event_at("http", "event", ts, client, &[ctx.meta.community_id.as_bytes(), &start, &seqb]);
    let code = resp.as_ref().and_then(|r| match r.start {
        Start::Response { code, .. } => Some(code),
        Start::Request { .. } => None,
    });
    e.obj("event").consts("category", &["network", "web"]).consts("type", &["access", "protocol"]);
    match code {
        Some(c) => e.str("outcome", if c < 400 { "success" } else { "failure" }),
        None => e.str("outcome", "unknown"),
    };
    if let (Some(q), Some(r)) = (&req, &resp) {
        // Response time as tshark's http.time reads it: from the request's last byte to the
        // response's last byte.
        let end = r.end.max(q.end);
        e.i64("duration", end.saturating_sub(q.end)).time("start", q.end).time("end", end);
    }
    e.end();

    e.obj("http");
    if let Some(v) = req.as_ref().or(resp.as_ref()).map(|m| m.version.as_str()) {
        e.str("version", v);
    }
    if let Some(q) = &req {
        e.obj("request");
        if let Start::Request { method, .. } = &q.start {
            e.str("method", method);
        }
        e.opt_str("referrer", q.header("referer"));
        write_message_fields(&mut e, q, opts);
        e.end();
    }
    if let Some(r) = &resp {
        e.obj("response");
        if let Start::Response { code, phrase } = &r.start {
            e.u64("status_code", (*code).into()).str("status_phrase", phrase);
        }
        if let Some(q) = req.as_ref().filter(|q| !q.interim.is_empty()) {
            e.arr("interim_status_codes");
            for c in &q.interim {
                e.item_str(itoa::Buffer::new().format(*c));
            }
            e.end();
        }
        write_message_fields(&mut e, r, opts);
        e.end();
    }
    if code == Some(101) {
        e.opt_str("upgrade", resp.as_ref().and_then(|r| r.header("upgrade")));
    }
    if req.is_none() {
        e.obj("transaction").bool("orphan", true).end();
    } else if resp.is_none() {
        e.obj("transaction").bool("unanswered", true).end();
    }
    e.end();

    if let Some(q) = &req {
        if let Start::Request { method, target } = &q.start {
            let u = url_of(target, q.header("host"), method);
            e.obj("url").str("original", target).str("scheme", u.scheme);
            e.opt_str("domain", u.domain);
            if let Some(p) = u.port {
                e.u64("port", p.into());
            }
            e.opt_str("path", u.path).opt_str("query", u.query).opt_str("fragment", u.fragment);
            if let Some(d) = u.domain {
                let host = match u.port {
                    Some(p) if d.contains(':') => format!("[{d}]:{p}"),
                    Some(p) => format!("{d}:{p}"),
                    None if d.contains(':') => format!("[{d}]"),
                    None => d.to_owned(),
                };
                let tail = if method == "CONNECT" { "" } else { u.path.map_or("", |_| target_tail(target)) };
                e.str_parts("full", &[u.scheme, "://", &host, tail]);
            }
            e.end();
        }
        if let Some(ua) = q.header("user-agent") {
            e.obj("user_agent").str("original", ua).end();
        }
    }
    let message = match (&req, &resp) {
        (Some(q), r) => {
            let (m, t) = match &q.start {
                Start::Request { method, target } => (method.as_str(), target.as_str()),
                Start::Response { .. } => ("", ""),
            };
            match r.as_ref().map(|r| &r.start) {
                Some(Start::Response { code, phrase }) => {
                    format!("HTTP {m} {t} -> {code} {phrase}")
                }
                _ => format!("HTTP {m} {t} (no response)"),
            }
        }
        (None, Some(r)) => match &r.start {
            Start::Response { code, phrase } => format!("HTTP {code} {phrase} (request not seen)"),
            Start::Request { .. } => String::new(),
        },
        (None, None) => String::new(),
    };
    e.str("message", message.trim_end());
    e
}

/// The path-and-query part of an absolute-form target, or the origin-form target itself.
fn target_tail(target: &str) -> &str {
    match target.split_once("://") {
        Some((_, r)) => r.find(['/', '?']).map_or("", |i| &r[i..]),
        None => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_come_from_origin_absolute_and_authority_forms() {
        let u = url_of("/a/b?x=1#f", Some("example.org:8080"), "GET");
        assert_eq!(
            (u.domain, u.port, u.path, u.query, u.fragment),
            (Some("example.org"), Some(8080), Some("/a/b"), Some("x=1"), Some("f"))
        );
        let u = url_of("http://proxy.test/p?q", Some("other"), "GET");
        assert_eq!((u.scheme, u.domain, u.path, u.query), ("http", Some("proxy.test"), Some("/p"), Some("q")));
        let u = url_of("db.test:443", None, "CONNECT");
        assert_eq!((u.domain, u.port, u.path), (Some("db.test"), Some(443), None));
        let u = url_of("*", Some("[::1]:80"), "OPTIONS");
        assert_eq!((u.domain, u.port, u.path), (Some("::1"), Some(80), None));
        assert_eq!(target_tail("http://h/x?y"), "/x?y");
        assert_eq!(target_tail("/x"), "/x");
    }
}
