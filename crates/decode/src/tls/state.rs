//! Per-flow TLS state: records per direction, handshake messages reassembled across records,
//! what the hellos and certificates say, alerts, and one session document once application
//! data flows (or the connection ends first).

use super::event::{session_document, Session};
use super::parser::{self, content, hs};
use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Progress};
use iotw_flow::Dir;

/// Certificates read per chain.
const MAX_CHAIN: usize = 8;
/// Alerts kept per session.
const MAX_ALERTS: usize = 8;

#[derive(Debug, Default)]
struct Side {
    /// Handshake bytes not yet framed into messages.
    handshake: Vec<u8>,
    /// After ChangeCipherSpec (or TLS 1.3 keys): records are opaque.
    encrypted: bool,
}

pub struct TlsDecoder {
    limits: DecodeLimits,
    sides: [Side; 2],
    session: Session,
    /// The session document was written.
    emitted: bool,
    /// Handshakes seen on this connection (renegotiation makes more than one).
    sessions: u64,
}

impl std::fmt::Debug for TlsDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDecoder").field("emitted", &self.emitted).finish()
    }
}

impl TlsDecoder {
    pub fn new(limits: DecodeLimits) -> Self {
        TlsDecoder { limits, sides: Default::default(), session: Session::default(), emitted: false, sessions: 0 }
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>) {
        if self.emitted || (self.session.client_hello.is_none() && self.session.server_hello.is_none()) {
            return;
        }
        self.emitted = true;
        self.sessions += 1;
        let doc = session_document(ctx, &self.session, self.sessions);
        ctx.emit(doc);
    }

    fn on_record(&mut self, ctx: &mut Ctx<'_>, r: &parser::Record<'_>) -> Result<(), Anomaly> {
        let di = ctx.dir.index();
        match r.content {
            content::CHANGE_CIPHER_SPEC => {
                // TLS 1.3 sends a dummy one for middleboxes; its records are already opaque.
                self.sides[di].encrypted = true;
            }
            // A plaintext alert is two bytes; an encrypted one carries at least a tag.
            // (Clients send plaintext alerts after a TLS 1.3 ServerHello they reject.)
            content::ALERT if self.session.alerts.len() < MAX_ALERTS => {
                let alert = match r.body {
                    [level @ 1..=2, desc] => Some((*level, *desc)),
                    _ => None,
                };
                self.session.alerts.push((ctx.dir, alert));
            }
            content::HANDSHAKE if !self.sides[di].encrypted => {
                let side = &mut self.sides[di];
                if side.handshake.len() + r.body.len() > self.limits.max_message {
                    side.handshake.clear();
                    return Err(Anomaly::new("tls_handshake_too_large", "handshake message above decode.max_message"));
                }
                side.handshake.extend_from_slice(r.body);
                let buf = std::mem::take(&mut self.sides[di].handshake);
                let mut at = 0;
                let result = loop {
                    match parser::handshake(&buf[at..], self.limits.max_message) {
                        Ok(Some((t, msg))) => {
                            at += msg.len();
                            if let Err(a) = self.on_handshake(ctx, t, msg) {
                                break Err(a);
                            }
                        }
                        Ok(None) => break Ok(()),
                        Err(e) => {
                            at = buf.len();
                            break Err(e);
                        }
                    }
                };
                self.sides[di].handshake = buf[at..].to_vec();
                return result;
            }
            content::HANDSHAKE => {}
            content::APPLICATION_DATA => {
                self.session.app_bytes[di] += r.body.len() as u64;
                let hellos = self.session.client_hello.is_some() && self.session.server_hello.is_some();
                let tls13 = self.session.server_hello.as_ref().is_some_and(|s| s.negotiated() >= 0x0304);
                // TLS 1.3 hides the rest of the handshake in application-data records: the
                // session counts as established once the client sends one.
                if hellos && (!tls13 || ctx.dir == self.session.client_dir()) {
                    self.session.established = Some(ctx.ts);
                    self.emit(ctx);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_handshake(&mut self, ctx: &mut Ctx<'_>, t: u8, msg: &[u8]) -> Result<(), Anomaly> {
        match t {
            hs::CLIENT_HELLO => {
                if self.emitted || self.session.client_hello.is_some() {
                    // A new handshake on the same connection: the last one is written first.
                    self.emit(ctx);
                    self.session = Session::default();
                    self.emitted = false;
                }
                self.session.client_hello = Some(parser::client_hello(msg)?);
                self.session.client_hello_dir = Some(ctx.dir);
                self.session.started = ctx.ts;
            }
            hs::SERVER_HELLO => {
                let s = parser::server_hello(msg)?;
                if s.negotiated() >= 0x0304 {
                    // Everything after the ServerHello is encrypted, both ways.
                    for side in &mut self.sides {
                        side.encrypted = true;
                    }
                }
                if self.session.client_hello.is_none() {
                    self.session.started = ctx.ts;
                }
                self.session.server_hello = Some(s);
                self.session.server_hello_dir = Some(ctx.dir);
            }
            hs::CERTIFICATE => {
                let ders = parser::certificates(msg, MAX_CHAIN)?;
                let mut chain = Vec::with_capacity(ders.len());
                for der in ders {
                    match parser::certificate(der) {
                        Ok(c) => chain.push(c),
                        Err(e) => ctx.anomaly(&e),
                    }
                }
                let from_server = self.session.server_hello_dir == Some(ctx.dir)
                    || self.session.client_hello_dir.is_some_and(|d| d != ctx.dir);
                if from_server {
                    self.session.server_chain = chain;
                } else {
                    self.session.client_chain = chain;
                }
            }
            hs::SERVER_KEY_EXCHANGE => {
                if let Some(g) = parser::server_key_exchange_curve(msg) {
                    self.session.curve = Some(g);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Decoder for TlsDecoder {
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        let mut at = 0;
        while at < input.len() {
            match parser::record(&input[at..]) {
                Ok(Some((r, len))) => {
                    at += len;
                    if let Err(a) = self.on_record(ctx, &r) {
                        ctx.anomaly(&a);
                    }
                }
                Ok(None) => {
                    let rest = input.len() - at;
                    // A header says how much is needed; without one, at least the header.
                    let needed = match input.get(at + 3..at + 5) {
                        Some(l) => 5 + usize::from(u16::from_be_bytes([l[0], l[1]])),
                        None => 5,
                    };
                    return Progress::NeedMore { consumed: at, needed: needed.max(rest + 1) };
                }
                Err(e) => {
                    if at > 0 {
                        return Progress::NeedMore { consumed: at, needed: input.len() - at + 1 };
                    }
                    return Progress::Invalid(e);
                }
            }
        }
        Progress::Done
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, _len: u64) {
        // A handshake message cut by the gap cannot be read.
        self.sides[ctx.dir.index()].handshake.clear();
        self.session.gaps = true;
    }

    fn resync(&self, _dir: Dir, input: &[u8]) -> Option<usize> {
        // The next place where a plausible record header starts.
        (0..input.len().saturating_sub(4)).find(|&i| {
            let h = &input[i..i + 5];
            (20..=24).contains(&h[0])
                && h[1] == 3
                && h[2] <= 4
                && usize::from(u16::from_be_bytes([h[3], h[4]])) <= parser::MAX_RECORD
        })
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        self.emit(ctx);
    }
}
