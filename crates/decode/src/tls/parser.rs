//! TLS records and handshake messages (RFC 5246, RFC 8446): pure functions over bytes.
//!
//! [`record`] frames one record; [`handshake`] frames one handshake message out of the
//! concatenated handshake records of a direction; [`client_hello`] and [`server_hello`] read
//! the hellos (through tls-parser) and their extensions (walked here, so that their order and
//! unknown types are kept for the fingerprints); [`certificate`] reads an X.509 certificate
//! (x509-parser). JA3/JA3S (Salesforce) and JA4/JA4S (FoxIO) are computed from the hellos.
//! Not here: SSLv2 hellos, DTLS, QUIC, encrypted records (see the decryption issue).

use md5::Digest as _;
use tls_parser::{TlsMessage, TlsMessageHandshake};

/// Record content types (RFC 8446 §5.1).
pub mod content {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}

/// Handshake message types (RFC 8446 §4).
pub mod hs {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const NEW_SESSION_TICKET: u8 = 4;
    pub const END_OF_EARLY_DATA: u8 = 5;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    pub const SERVER_HELLO_DONE: u8 = 14;
    pub const FINISHED: u8 = 20;
    pub const KEY_UPDATE: u8 = 24;
}

/// Extension types this decoder acts on.
pub mod ext {
    /// RFC 7366: CBC records carry their MAC over the ciphertext.
    pub const ENCRYPT_THEN_MAC: u16 = 22;
}

/// Largest record body: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows a ciphertext.
pub const MAX_RECORD: usize = (1 << 14) + 2048;

/// Errors are anomalies: `code` is the reason counted, `detail` says where.
pub type ParseError = crate::Anomaly;

fn error(code: &'static str, detail: impl Into<String>) -> ParseError {
    crate::Anomaly::new(code, detail.into())
}

/// One record: content type, record-layer version, body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub content: u8,
    pub version: u16,
    pub body: &'a [u8],
}

/// The record at the start of `input` and its length, `Ok(None)` when it is not all there.
pub fn record(input: &[u8]) -> Result<Option<(Record<'_>, usize)>, ParseError> {
    let Some(h) = input.get(..5) else { return Ok(None) };
    let (content, version, len) =
        (h[0], u16::from_be_bytes([h[1], h[2]]), usize::from(u16::from_be_bytes([h[3], h[4]])));
    if !(20..=24).contains(&content) || h[1] != 3 || h[2] > 4 {
        return Err(error("tls_bad_record", format!("not a TLS record header: {:02x?}", h)));
    }
    if len > MAX_RECORD {
        return Err(error("tls_bad_record", format!("record of {len} bytes, above {MAX_RECORD}")));
    }
    match input.get(5..5 + len) {
        Some(body) => Ok(Some((Record { content, version, body }, 5 + len))),
        None => Ok(None),
    }
}

/// Whether `input` starts with a handshake record carrying a ClientHello or ServerHello:
/// `None` while fewer than 6 bytes are there.
pub fn looks_like_tls(input: &[u8]) -> Option<bool> {
    let h = input.get(..6)?;
    let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
    Some(
        h[0] == content::HANDSHAKE
            && h[1] == 3
            && h[2] <= 4
            && (4..=MAX_RECORD).contains(&len)
            && matches!(h[5], hs::CLIENT_HELLO | hs::SERVER_HELLO),
    )
}

/// A connection whose handshake was not captured (the capture began later): encrypted
/// application data records, `17 03 0x len`, TLS 1.0 to 1.3. A record wholly in `input` must be
/// followed by another valid record header, or end the input exactly; five bytes of signature
/// and a plausible length are enough when the first record runs past what is here.
pub fn looks_like_tls_midstream(input: &[u8]) -> Option<bool> {
    let header = |h: &[u8]| -> Option<usize> {
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        let ok = matches!(h[0], content::CHANGE_CIPHER_SPEC..=content::APPLICATION_DATA)
            && h[1] == 3
            && (1..=3).contains(&h[2])
            && (1..=MAX_RECORD).contains(&len);
        ok.then_some(len)
    };
    let h = input.get(..5)?;
    if h[0] != content::APPLICATION_DATA {
        return Some(false);
    }
    let Some(len) = header(h) else { return Some(false) };
    let next = 5 + len;
    if input.len() < next || input.len() == next {
        return Some(true);
    }
    input.get(next..next + 5).map(|h2| header(h2).is_some())
}

/// One handshake message at the start of `input` (type, whole message bytes, length), or
/// `Ok(None)` when it continues in a later record. Messages above `max` bytes are refused.
pub fn handshake(input: &[u8], max: usize) -> Result<Option<(u8, &[u8])>, ParseError> {
    let Some(h) = input.get(..4) else { return Ok(None) };
    let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
    if len + 4 > max {
        return Err(error("tls_handshake_too_large", format!("handshake message of {len} bytes, above {max}")));
    }
    Ok(input.get(..4 + len).map(|m| (h[0], m)))
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A ClientHello as the documents and fingerprints need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub ciphers: Vec<u16>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    pub server_name: Option<String>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub alpn: Vec<String>,
    pub supported_versions: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
}

/// A ServerHello likewise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    pub version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub cipher: u16,
    pub extensions: Vec<u16>,
    pub alpn: Option<String>,
    /// The supported_versions extension's choice (TLS 1.3).
    pub selected_version: Option<u16>,
    /// The key_share group (TLS 1.3).
    pub key_share_group: Option<u16>,
}

impl ServerHello {
    /// The negotiated version.
    pub fn negotiated(&self) -> u16 {
        self.selected_version.unwrap_or(self.version)
    }
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// The (type, body) pairs of an extensions block, in order; stops at the first malformed one.
fn extensions(block: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let t = u16_at(block, at)?;
        let len = usize::from(u16_at(block, at + 2)?);
        let body = block.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        Some((t, body))
    })
}

/// A list of u16 after a length prefix of `prefix` bytes.
fn u16_list(body: &[u8], prefix: usize) -> Vec<u16> {
    let items = body.get(prefix..).unwrap_or(&[]);
    items.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect()
}

/// ALPN protocol names (RFC 7301): a u16 list length, then u8-prefixed names.
fn alpn_names(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 2;
    while let Some(&n) = body.get(at) {
        let Some(name) = body.get(at + 1..at + 1 + usize::from(n)) else { break };
        out.push(String::from_utf8_lossy(name).into_owned());
        at += 1 + usize::from(n);
    }
    out
}

/// The host name of a server_name extension (RFC 6066 §3).
fn sni(body: &[u8]) -> Option<String> {
    let mut at = 2;
    while at + 3 <= body.len() {
        let kind = body[at];
        let len = usize::from(u16_at(body, at + 1)?);
        let name = body.get(at + 3..at + 3 + len)?;
        if kind == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        at += 3 + len;
    }
    None
}

fn hello_error(what: &str) -> ParseError {
    error("tls_bad_handshake", format!("malformed {what}"))
}

/// Reads a ClientHello message (with its 4-byte header).
pub fn client_hello(msg: &[u8]) -> Result<ClientHello, ParseError> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(c)))) =
        tls_parser::parse_tls_message_handshake(msg)
    else {
        return Err(hello_error("ClientHello"));
    };
    let mut h = ClientHello {
        version: c.version.0,
        random: c.random.try_into().map_err(|_| hello_error("ClientHello"))?,
        session_id: c.session_id.unwrap_or(&[]).to_vec(),
        ciphers: c.ciphers.iter().map(|x| x.0).collect(),
        ..ClientHello::default()
    };
    for (t, body) in extensions(c.ext.unwrap_or(&[])) {
        h.extensions.push(t);
        match t {
            0 => h.server_name = sni(body),
            10 => h.groups = u16_list(body, 2),
            11 => h.point_formats = body.get(1..).unwrap_or(&[]).to_vec(),
            13 => h.signature_algorithms = u16_list(body, 2),
            16 => h.alpn = alpn_names(body),
            43 => h.supported_versions = u16_list(body, 1),
            _ => {}
        }
    }
    Ok(h)
}

/// Reads a ServerHello message (with its 4-byte header).
pub fn server_hello(msg: &[u8]) -> Result<ServerHello, ParseError> {
    let Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(s)))) =
        tls_parser::parse_tls_message_handshake(msg)
    else {
        return Err(hello_error("ServerHello"));
    };
    let mut h = ServerHello {
        version: s.version.0,
        random: s.random.try_into().map_err(|_| hello_error("ServerHello"))?,
        session_id: s.session_id.unwrap_or(&[]).to_vec(),
        cipher: s.cipher.0,
        ..ServerHello::default()
    };
    for (t, body) in extensions(s.ext.unwrap_or(&[])) {
        h.extensions.push(t);
        match t {
            16 => h.alpn = alpn_names(body).into_iter().next(),
            43 => h.selected_version = u16_at(body, 0),
            51 => h.key_share_group = u16_at(body, 0),
            _ => {}
        }
    }
    Ok(h)
}

/// The DER certificates of a Certificate message (TLS 1.0-1.2 layout), at most `max` of them.
pub fn certificates(msg: &[u8], max: usize) -> Result<Vec<&[u8]>, ParseError> {
    certificate_list(msg.get(4..).ok_or_else(|| hello_error("Certificate"))?, max, false)
}

/// The DER certificates of a TLS 1.3 Certificate message (a request context, then entries
/// that each carry extensions), at most `max` of them.
pub fn certificates13(msg: &[u8], max: usize) -> Result<Vec<&[u8]>, ParseError> {
    let body = msg.get(4..).ok_or_else(|| hello_error("Certificate"))?;
    let ctx = usize::from(*body.first().ok_or_else(|| hello_error("Certificate"))?);
    certificate_list(body.get(1 + ctx..).ok_or_else(|| hello_error("Certificate"))?, max, true)
}

/// A u24-prefixed list of u24-prefixed certificates, each followed by u16-prefixed extensions
/// in TLS 1.3.
fn certificate_list(body: &[u8], max: usize, with_extensions: bool) -> Result<Vec<&[u8]>, ParseError> {
    let u24 = |b: &[u8], i: usize| {
        b.get(i..i + 3).map(|x| usize::from(x[0]) << 16 | usize::from(x[1]) << 8 | usize::from(x[2]))
    };
    let list = u24(body, 0).and_then(|n| body.get(3..3 + n)).ok_or_else(|| hello_error("Certificate"))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < list.len() && out.len() < max {
        let n = u24(list, at).ok_or_else(|| hello_error("Certificate"))?;
        out.push(list.get(at + 3..at + 3 + n).ok_or_else(|| hello_error("Certificate"))?);
        at += 3 + n;
        if with_extensions {
            at += 2 + usize::from(u16_at(list, at).ok_or_else(|| hello_error("Certificate"))?);
        }
    }
    Ok(out)
}

/// The ALPN protocol an EncryptedExtensions message (TLS 1.3) names, if any.
pub fn encrypted_extensions_alpn(msg: &[u8]) -> Option<String> {
    let len = usize::from(u16_at(msg, 4)?);
    let block = msg.get(6..6 + len)?;
    extensions(block).find(|(t, _)| *t == 16).and_then(|(_, body)| alpn_names(body).into_iter().next())
}

/// The named curve of an ECDHE ServerKeyExchange (RFC 8422 §5.4), if it is one.
pub fn server_key_exchange_curve(msg: &[u8]) -> Option<u16> {
    (msg.get(4) == Some(&3)).then(|| u16_at(msg, 5)).flatten()
}

/// What a document shows of a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    pub subject_common_names: Vec<String>,
    pub issuer_common_names: Vec<String>,
    pub alternative_names: Vec<String>,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// Uppercase hex of the serial number's bytes.
    pub serial: String,
    /// Uppercase hex SHA-256 of the DER bytes.
    pub sha256: String,
    pub signature_algorithm: String,
    pub public_key_algorithm: String,
    pub version: u32,
}

fn hex_upper(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter().fold(String::with_capacity(b.len() * 2), |mut s, x| {
        let _ = write!(s, "{x:02X}");
        s
    })
}

fn hex_lower(b: &[u8]) -> String {
    hex_upper(b).to_ascii_lowercase()
}

/// Names of the signature and key algorithms, built once.
static OIDS: std::sync::LazyLock<x509_parser::oid_registry::OidRegistry<'static>> =
    std::sync::LazyLock::new(|| x509_parser::oid_registry::OidRegistry::default().with_crypto().with_x509());

/// Reads one DER certificate.
pub fn certificate(der: &[u8]) -> Result<Certificate, ParseError> {
    use x509_parser::prelude::*;
    let (_, c) = X509Certificate::from_der(der).map_err(|e| error("tls_bad_certificate", e.to_string()))?;
    let cns = |n: &X509Name<'_>| -> Vec<String> {
        n.iter_common_name().filter_map(|a| a.as_str().ok()).map(str::to_owned).collect()
    };
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = c.subject_alternative_name() {
        for g in &ext.value.general_names {
            match g {
                GeneralName::DNSName(d) => sans.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(ip);
                        sans.push(std::net::Ipv6Addr::from(a).to_string());
                    }
                    _ => {}
                },
                GeneralName::RFC822Name(m) => sans.push((*m).to_owned()),
                GeneralName::URI(u) => sans.push((*u).to_owned()),
                _ => {}
            }
        }
    }
    let oid_name = |oid: &x509_parser::der_parser::oid::Oid<'_>| {
        OIDS.get(oid).map(|e| e.sn().to_owned()).unwrap_or_else(|| oid.to_id_string())
    };
    Ok(Certificate {
        subject: rfc4514(c.subject()),
        issuer: rfc4514(c.issuer()),
        subject_common_names: cns(c.subject()),
        issuer_common_names: cns(c.issuer()),
        alternative_names: sans,
        not_before: c.validity().not_before.timestamp(),
        not_after: c.validity().not_after.timestamp(),
        serial: hex_upper(c.tbs_certificate.raw_serial()),
        sha256: hex_upper(&sha2::Sha256::digest(der)),
        signature_algorithm: oid_name(&c.signature_algorithm.algorithm),
        public_key_algorithm: oid_name(&c.public_key().algorithm.algorithm),
        version: c.version().0 + 1,
    })
}

/// A distinguished name as RFC 4514 writes it: the last RDN first, `,` between RDNs, `+`
/// inside one, special characters escaped, values that are not strings as `#` and hex.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter().collect::<Vec<_>>().into_iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            let short = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.6" => "C",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.9" => "STREET",
                "2.5.4.10" => "O",
                "2.5.4.11" => "OU",
                "2.5.4.5" => "serialNumber",
                "0.9.2342.19200300.100.1.25" => "DC",
                "0.9.2342.19200300.100.1.1" => "UID",
                "1.2.840.113549.1.9.1" => "emailAddress",
                other => other,
            };
            out.push_str(short);
            out.push('=');
            match attr.as_str() {
                Ok(v) => {
                    for (k, ch) in v.chars().enumerate() {
                        let edge = k == 0 && (ch == '#' || ch == ' ') || k + 1 == v.chars().count() && ch == ' ';
                        if edge || matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
                            out.push('\\');
                        }
                        out.push(ch);
                    }
                }
                Err(_) => {
                    out.push('#');
                    out.push_str(&hex_lower(attr.attr_value().data));
                }
            }
        }
    }
    out
}

fn join<T: std::fmt::Display>(v: impl Iterator<Item = T>) -> String {
    v.map(|x| x.to_string()).collect::<Vec<_>>().join("-")
}

/// JA3: the MD5 of "version,ciphers,extensions,groups,point formats" (decimal, `-`-joined,
/// GREASE left out); also the string itself.
pub fn ja3(c: &ClientHello) -> (String, String) {
    let s = format!(
        "{},{},{},{},{}",
        c.version,
        join(c.ciphers.iter().filter(|x| !is_grease(**x))),
        join(c.extensions.iter().filter(|x| !is_grease(**x))),
        join(c.groups.iter().filter(|x| !is_grease(**x))),
        join(c.point_formats.iter()),
    );
    (hex_lower(&md5::Md5::digest(s.as_bytes())), s)
}

/// JA3S: the MD5 of "version,cipher,extensions".
pub fn ja3s(s: &ServerHello) -> (String, String) {
    let text = format!("{},{},{}", s.version, s.cipher, join(s.extensions.iter().filter(|x| !is_grease(**x))));
    (hex_lower(&md5::Md5::digest(text.as_bytes())), text)
}

fn ja4_version(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// First and last characters of the first ALPN value (hex of its bytes when those are not
/// alphanumeric), "00" without one.
fn ja4_alpn(alpn: Option<&str>) -> String {
    let Some(a) = alpn.filter(|a| !a.is_empty()) else { return "00".into() };
    let b = a.as_bytes();
    let (first, last) = (b[0], b[b.len() - 1]);
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        format!("{}{}", first as char, last as char)
    } else {
        let h = hex_lower(b);
        let hb = h.as_bytes();
        format!("{}{}", hb[0] as char, hb[hb.len() - 1] as char)
    }
}

fn sha256_12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let mut h = hex_lower(&sha2::Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

fn hex4_list(v: impl Iterator<Item = u16>) -> String {
    v.map(|x| format!("{x:04x}")).collect::<Vec<_>>().join(",")
}

/// JA4 of a ClientHello over TCP (FoxIO JA4 specification).
pub fn ja4(c: &ClientHello) -> String {
    let version = c.supported_versions.iter().copied().filter(|v| !is_grease(*v)).max().unwrap_or(c.version);
    let ciphers: Vec<u16> = c.ciphers.iter().copied().filter(|x| !is_grease(*x)).collect();
    let exts: Vec<u16> = c.extensions.iter().copied().filter(|x| !is_grease(*x)).collect();
    let a = format!(
        "t{}{}{:02}{:02}{}",
        ja4_version(version),
        if c.extensions.contains(&0) { 'd' } else { 'i' },
        ciphers.len().min(99),
        exts.len().min(99),
        ja4_alpn(c.alpn.first().map(String::as_str))
    );
    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    let mut sorted_exts: Vec<u16> = exts.into_iter().filter(|x| *x != 0 && *x != 16).collect();
    sorted_exts.sort_unstable();
    let mut c_text = hex4_list(sorted_exts.into_iter());
    let sigs: Vec<u16> = c.signature_algorithms.iter().copied().filter(|x| !is_grease(*x)).collect();
    if !sigs.is_empty() {
        c_text.push('_');
        c_text.push_str(&hex4_list(sigs.into_iter()));
    }
    format!("{a}_{}_{}", sha256_12(&hex4_list(sorted_ciphers.into_iter())), sha256_12(&c_text))
}

/// JA4S of a ServerHello over TCP.
pub fn ja4s(s: &ServerHello) -> String {
    let exts: Vec<u16> = s.extensions.iter().copied().filter(|x| !is_grease(*x)).collect();
    format!(
        "t{}{:02}{}_{:04x}_{}",
        ja4_version(s.negotiated()),
        exts.len().min(99),
        ja4_alpn(s.alpn.as_deref()),
        s.cipher,
        sha256_12(&hex4_list(exts.into_iter()))
    )
}

/// `1.2` for 0x0303 and so on; SSL 3.0 is `3.0`.
pub fn version_text(v: u16) -> Option<(&'static str, &'static str)> {
    Some(match v {
        0x0304 => ("tls", "1.3"),
        0x0303 => ("tls", "1.2"),
        0x0302 => ("tls", "1.1"),
        0x0301 => ("tls", "1.0"),
        0x0300 => ("ssl", "3.0"),
        _ => return None,
    })
}

/// The IANA name of a cipher suite, if known.
pub fn cipher_name(id: u16) -> Option<&'static str> {
    tls_parser::TlsCipherSuite::from_id(id).map(|c| c.name)
}

/// The IANA name of a supported group (curve).
pub fn group_name(id: u16) -> Option<&'static str> {
    Some(match id {
        19 => "secp192r1",
        21 => "secp224r1",
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        26 => "brainpoolP256r1",
        27 => "brainpoolP384r1",
        28 => "brainpoolP512r1",
        29 => "x25519",
        30 => "x448",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x11eb => "SecP256r1MLKEM768",
        0x11ec => "X25519MLKEM768",
        0x11ed => "SecP384r1MLKEM1024",
        0x6399 => "X25519Kyber768Draft00",
        _ => return None,
    })
}

/// The RFC name of an alert description (RFC 8446 §6).
pub fn alert_name(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
