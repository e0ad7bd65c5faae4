//! TLS session documents: ECS `tls.*` (version, cipher, curve, SNI, ALPN, certificates as
//! `tls.server.x509.*`), JA3/JA3S and JA4/JA4S fingerprints, alerts.

use super::parser::{self, Certificate, ClientHello, ServerHello};
use crate::Ctx;
use iotw_event::{Event, Nanos};
use iotw_flow::Dir;

const SECOND: Nanos = 1_000_000_000;

/// What one handshake showed.
#[derive(Debug, Default)]
pub struct Session {
    pub client_hello: Option<ClientHello>,
    pub client_hello_dir: Option<Dir>,
    pub server_hello: Option<ServerHello>,
    pub server_hello_dir: Option<Dir>,
    pub server_chain: Vec<Certificate>,
    pub client_chain: Vec<Certificate>,
    /// ECDHE curve from a TLS 1.2 ServerKeyExchange.
    pub curve: Option<u16>,
    /// Who sent it, and (level, description) when it was readable.
    pub alerts: Vec<(Dir, Option<(u8, u8)>)>,
    pub started: Nanos,
    /// When application data first flowed.
    pub established: Option<Nanos>,
    pub app_bytes: [u64; 2],
    /// Bytes were missing from the connection.
    pub gaps: bool,
    /// Records were decrypted with the key log's secrets.
    pub decrypted: bool,
}

impl Session {
    /// The client's side: the sender of the ClientHello, else the other side of the ServerHello.
    pub fn client_dir(&self) -> Dir {
        self.client_hello_dir.or(self.server_hello_dir.map(Dir::reverse)).unwrap_or(Dir::Orig)
    }
}

fn write_certificate(e: &mut Event, c: &Certificate, chain: &[Certificate], ts: Nanos) {
    e.str("subject", &c.subject).str("issuer", &c.issuer);
    e.time("not_before", c.not_before.saturating_mul(SECOND)).time("not_after", c.not_after.saturating_mul(SECOND));
    e.obj("hash").str("sha256", &c.sha256).end();
    // Whole days left at the time of the handshake (negative once expired).
    e.i64("days_to_expiry", (c.not_after.saturating_mul(SECOND) - ts).div_euclid(86_400 * SECOND));
    e.obj("x509");
    e.obj("subject")
        .str("distinguished_name", &c.subject)
        .strs("common_name", c.subject_common_names.iter().map(String::as_str))
        .end();
    e.obj("issuer")
        .str("distinguished_name", &c.issuer)
        .strs("common_name", c.issuer_common_names.iter().map(String::as_str))
        .end();
    if !c.alternative_names.is_empty() {
        e.strs("alternative_names", c.alternative_names.iter().map(String::as_str));
    }
    e.str("serial_number", &c.serial);
    e.time("not_before", c.not_before.saturating_mul(SECOND)).time("not_after", c.not_after.saturating_mul(SECOND));
    e.str("signature_algorithm", &c.signature_algorithm).str("public_key_algorithm", &c.public_key_algorithm);
    e.u64("version_number", c.version.into());
    e.end();
    if chain.len() > 1 {
        e.arr("certificate_chain_sha256");
        for x in chain {
            e.item_str(&x.sha256);
        }
        e.end();
    }
}

/// The document of one handshake (the `n`-th of its connection).
pub fn session_document(ctx: &mut Ctx<'_>, s: &Session, n: u64) -> Event {
    let start = ctx.meta.start.to_be_bytes();
    let nb = n.to_be_bytes();
    let client = s.client_dir();
    let mut e = ctx.event_at("tls", "event", s.started, client, &[ctx.meta.community_id.as_bytes(), &start, &nb]);
    let fatal = s.alerts.iter().any(|(_, a)| a.is_some_and(|(level, _)| level == 2));
    e.obj("event").consts("category", &["network"]).consts("type", &["connection", "protocol"]);
    e.str(
        "outcome",
        if s.established.is_some() {
            "success"
        } else if fatal {
            "failure"
        } else {
            "unknown"
        },
    );
    if let Some(t) = s.established {
        e.i64("duration", t.saturating_sub(s.started).max(0));
    }
    e.end();

    e.obj("tls");
    let negotiated = s.server_hello.as_ref().map(ServerHello::negotiated);
    if let Some((proto, v)) = negotiated.and_then(parser::version_text) {
        e.str("version_protocol", proto).str("version", v);
    }
    if let Some(sh) = &s.server_hello {
        match parser::cipher_name(sh.cipher) {
            Some(name) => e.str("cipher", name),
            None => e.str_parts("cipher", &["0x", &format!("{:04X}", sh.cipher)]),
        };
    }
    let curve = s.curve.or(s.server_hello.as_ref().and_then(|x| x.key_share_group));
    if let Some(g) = curve {
        match parser::group_name(g) {
            Some(name) => e.str("curve", name),
            None => e.str("curve", itoa::Buffer::new().format(g)),
        };
    }
    e.bool("established", s.established.is_some());
    if let (Some(ch), Some(sh)) = (&s.client_hello, &s.server_hello) {
        // Resumed: the server took the client's session id (TLS 1.2), or a PSK (TLS 1.3, 41).
        let resumed = (!ch.session_id.is_empty() && ch.session_id == sh.session_id && sh.negotiated() < 0x0304)
            || sh.extensions.contains(&41);
        e.bool("resumed", resumed);
    }
    if let Some(alpn) = s.server_hello.as_ref().and_then(|x| x.alpn.as_deref()) {
        e.str("next_protocol", alpn);
    }
    if let Some(ch) = &s.client_hello {
        e.obj("client");
        e.opt_str("server_name", ch.server_name.as_deref());
        let (ja3, ja3_string) = parser::ja3(ch);
        e.str("ja3", &ja3).str("ja3_string", &ja3_string).str("ja4", &parser::ja4(ch));
        e.arr("supported_ciphers");
        for c in &ch.ciphers {
            match parser::cipher_name(*c) {
                Some(name) => e.item_str(name),
                None => e.item_str(&format!("0x{c:04X}")),
            };
        }
        e.end();
        if !ch.alpn.is_empty() {
            e.strs("alpn", ch.alpn.iter().map(String::as_str));
        }
        let versions: Vec<&str> =
            ch.supported_versions.iter().filter_map(|v| parser::version_text(*v)).map(|(_, v)| v).collect();
        if !versions.is_empty() {
            e.strs("supported_versions", versions);
        }
        if let Some(c) = s.client_chain.first() {
            write_certificate(&mut e, c, &s.client_chain, s.started);
        }
        e.end();
    }
    if let Some(sh) = &s.server_hello {
        e.obj("server");
        let (ja3s, ja3s_string) = parser::ja3s(sh);
        e.str("ja3s", &ja3s).str("ja3s_string", &ja3s_string).str("ja4s", &parser::ja4s(sh));
        if let Some(c) = s.server_chain.first() {
            write_certificate(&mut e, c, &s.server_chain, s.started);
        }
        e.end();
    }
    if !s.alerts.is_empty() {
        e.arr("alerts");
        for (dir, a) in &s.alerts {
            e.item_obj().str("from", if *dir == client { "client" } else { "server" });
            match a {
                Some((level, desc)) => {
                    e.str("level", if *level == 2 { "fatal" } else { "warning" });
                    match parser::alert_name(*desc) {
                        Some(name) => e.str("description", name),
                        None => e.str("description", itoa::Buffer::new().format(*desc)),
                    };
                }
                None => {
                    e.bool("encrypted", true);
                }
            }
            e.end();
        }
        e.end();
    }
    if s.gaps {
        e.bool("incomplete", true);
    }
    if s.decrypted {
        e.bool("decrypted", true);
    }
    e.end();

    let name = s.client_hello.as_ref().and_then(|c| c.server_name.as_deref()).unwrap_or("");
    let v = negotiated.and_then(parser::version_text).map_or("", |(_, v)| v);
    let state = if s.established.is_some() { "established" } else { "not established" };
    e.str_parts(
        "message",
        &["TLS ", v, if v.is_empty() { "" } else { " " }, name, if name.is_empty() { "" } else { " " }, state],
    );
    e
}
