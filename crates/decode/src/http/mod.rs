//! HTTP/1.0 and 1.1 (RFC 9110, RFC 9112) over TCP: one document per transaction (a request
//! and its response), ECS `http.*`, `url.*` and `user_agent.original`.
//!
//! Supported: detection by content on any port; pipelining (responses paired with requests
//! in order); bodies by Content-Length, chunked (with trailers) or until the connection
//! closes; 1xx interim responses (noted on the transaction), HEAD, 204 and 304 without
//! bodies; 101 Switching Protocols and CONNECT tunnels (noted, the rest of the connection is
//! not parsed); bytes lost inside a body of known length (the transaction is marked
//! incomplete, framing kept); bodies captured only for the content types configured, cut
//! to a size, gzip and deflate decoded with a cap; configured fields (Authorization, cookies
//! by default) redacted. HTTPS arrives through the same decoder once the TLS layer hands it
//! plaintext.
//! Not supported: HTTP/2 and HTTP/3 (not parsed: a connection that starts with the HTTP/2
//! preface is not recognised), multipart bodies (kept as text), brotli and zstd content
//! codings (the body is counted, not shown).

mod event;
pub mod parser;
mod state;

pub use state::HttpDecoder;

use crate::{DecodeLimits, Decoder, Probe, Protocol, Transports};
use iotw_flow::Dir;
use std::sync::Arc;

/// What the HTTP decoder keeps of messages (the `[http]` section of the config file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOptions {
    /// Content types whose bodies are kept in `http.*.body.content`: `type/subtype`,
    /// `type/*` or `*/*`. Empty (the default): no body is kept.
    pub capture_bodies: Vec<String>,
    /// Bytes of a body kept (after decoding gzip or deflate).
    pub max_body: usize,
    /// Fields whose values are replaced by `[redacted]` (lowercase names).
    pub redact_headers: Vec<String>,
    /// Largest message head read.
    pub max_head: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            capture_bodies: Vec::new(),
            max_body: 4096,
            redact_headers: ["authorization", "proxy-authorization", "cookie", "set-cookie"].map(String::from).to_vec(),
            max_head: 65536,
        }
    }
}

impl HttpOptions {
    /// Whether bodies of media type `mime` (lowercase `type/subtype`) are kept.
    pub fn captures(&self, mime: &str) -> bool {
        let top = mime.split('/').next().unwrap_or("");
        self.capture_bodies.iter().any(|p| {
            let p = p.trim();
            p == "*/*"
                || p.eq_ignore_ascii_case(mime)
                || p.strip_suffix("/*").is_some_and(|t| t.eq_ignore_ascii_case(top))
        })
    }
}

/// The HTTP protocol for the registry.
#[derive(Debug, Default)]
pub struct Http {
    opts: Arc<HttpOptions>,
}

impl Http {
    pub fn new(opts: HttpOptions) -> Self {
        Http { opts: Arc::new(opts) }
    }
}

impl Protocol for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn transports(&self) -> Transports {
        Transports { tcp: true, udp: false }
    }

    fn probe(&self, _dir: Dir, input: &[u8], _ports: (u16, u16)) -> Probe {
        match parser::looks_like_http(input) {
            Some(true) => Probe::Match,
            Some(false) => Probe::NoMatch,
            None => Probe::NeedMore,
        }
    }

    fn decoder(&self, limits: &DecodeLimits) -> Box<dyn Decoder> {
        Box::new(HttpDecoder::new(*limits, self.opts.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_capture_patterns_match_exact_wildcard_and_any() {
        let o = HttpOptions { capture_bodies: vec!["application/json".into(), "text/*".into()], ..Default::default() };
        assert!(o.captures("application/json"));
        assert!(o.captures("text/html"));
        assert!(!o.captures("image/png"));
        assert!(HttpOptions { capture_bodies: vec!["*/*".into()], ..Default::default() }.captures("image/png"));
        assert!(!HttpOptions::default().captures("text/html"));
    }
}
