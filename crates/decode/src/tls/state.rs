//! Per-flow TLS state: records per direction, handshake messages reassembled across records,
//! what the hellos and certificates say, alerts, and one session document once application
//! data flows (or the connection ends first). With the session's secrets in the key log,
//! records are decrypted: the encrypted handshake (TLS 1.3 certificates, ALPN) is read like
//! the clear one, and the application data goes to an inner session that decodes HTTP and SIP
//! as it would on a plain connection.

use super::decrypt::{self, Opener};
use super::event::{session_document, Session};
use super::keys::{KeyLog, Secrets};
use super::parser::{self, content, hs};
use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Progress, Registry, Resync};
use iotw_event::Event;
use iotw_flow::{Dir, Payload};
use std::sync::Arc;

/// Certificates read per chain.
const MAX_CHAIN: usize = 8;
/// Encrypted records held per side while their secrets are not in the key log yet.
const MAX_HELD: usize = 64;
/// Alerts kept per session.
const MAX_ALERTS: usize = 8;

#[derive(Debug, Default)]
struct Side {
    /// Handshake bytes not yet framed into messages.
    handshake: Vec<u8>,
    /// After ChangeCipherSpec (or TLS 1.3 keys): records are encrypted.
    encrypted: bool,
    /// Decrypts this side's records, when the secrets are known.
    opener: Option<Opener>,
    /// TLS 1.3 client during 0-RTT: the handshake opener that follows the early one (used at
    /// EndOfEarlyData, or at once when a record does not open because the server refused the
    /// early data).
    next: Option<Opener>,
    /// The keys this side's records need next, while they are not known.
    want: Option<Want>,
    /// Records waiting for those keys (the key log may lag a live capture), in order.
    held: Vec<(u8, u16, Vec<u8>)>,
}

/// Which secret a side waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Tls12,
    Handshake,
    Traffic,
}

/// Where a followed stream's decrypted records go (see [`super::decrypt_stream`]).
pub(crate) type Followed = Arc<std::sync::Mutex<Vec<(Dir, Vec<u8>)>>>;

/// Decryption: the key log, and the protocols spoken inside.
#[derive(Debug)]
pub struct Decryption {
    pub keys: Arc<KeyLog>,
    pub inner: Arc<Registry>,
}

pub struct TlsDecoder {
    limits: DecodeLimits,
    sides: [Side; 2],
    session: Session,
    /// The session document was written.
    emitted: bool,
    /// Handshakes seen on this connection.
    sessions: u64,
    decryption: Option<Arc<Decryption>>,
    /// This session's secrets, once looked up.
    secrets: Option<Secrets>,
    /// The plaintext's own decoding (HTTP, SIP).
    inner: crate::Session,
    /// A record failed to decrypt (reported once).
    decrypt_failed: bool,
    /// Held records are being decrypted now: they were counted when they came.
    replaying: bool,
    /// Following the stream: decrypted application data, in order.
    pub(crate) followed: Option<Followed>,
}

impl std::fmt::Debug for TlsDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDecoder").field("emitted", &self.emitted).finish()
    }
}

impl TlsDecoder {
    pub fn new(limits: DecodeLimits, decryption: Option<Arc<Decryption>>) -> Self {
        TlsDecoder {
            limits,
            sides: Default::default(),
            session: Session::default(),
            emitted: false,
            sessions: 0,
            decryption,
            secrets: None,
            inner: crate::Session::default(),
            decrypt_failed: false,
            replaying: false,
            followed: None,
        }
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

    fn suite(&self) -> Option<decrypt::Suite> {
        decrypt::suite(self.session.server_hello.as_ref()?.cipher)
    }

    fn tls13(&self) -> bool {
        self.session.server_hello.as_ref().is_some_and(|s| s.negotiated() >= 0x0304)
    }

    /// The secrets of this session from the key log (looked up once it has both randoms).
    fn lookup(&mut self) -> Option<&Secrets> {
        self.lookup_for(|_| true)
    }

    /// The session's secrets, read again from the key log when `complete` finds them lacking.
    fn lookup_for(&mut self, complete: impl Fn(&Secrets) -> bool) -> Option<&Secrets> {
        if self.secrets.as_ref().is_none_or(|s| !complete(s)) {
            let d = self.decryption.as_ref()?;
            let random = self.session.client_hello.as_ref()?.random;
            self.secrets = d.keys.get_with(&random, &complete);
        }
        self.secrets.as_ref()
    }

    /// Arms side `dir` with the keys it waits for, when the key log has them now.
    fn arm(&mut self, dir: Dir, want: Want) -> bool {
        let Some(suite) = self.suite() else { return false };
        let client = dir == self.session.client_dir();
        let opener = match want {
            Want::Tls12 => {
                let (Some(ch), Some(sh)) = (self.session.client_hello.clone(), self.session.server_hello.clone())
                else {
                    return false;
                };
                let Some(master) = self.lookup_for(|s| s.master.is_some()).and_then(|s| s.master.clone()) else {
                    return false;
                };
                let n = decrypt::Negotiated {
                    version: sh.negotiated(),
                    encrypt_then_mac: sh.extensions.contains(&parser::ext::ENCRYPT_THEN_MAC),
                };
                decrypt::tls12(&suite, n, &master, &ch.random, &sh.random).map(|(c, s)| if client { c } else { s })
            }
            Want::Handshake | Want::Traffic => {
                let pick = move |s: &Secrets| -> Option<Vec<u8>> {
                    match (want, client) {
                        (Want::Handshake, true) => s.client_handshake.clone(),
                        (Want::Handshake, false) => s.server_handshake.clone(),
                        (_, true) => s.client_traffic.clone(),
                        (_, false) => s.server_traffic.clone(),
                    }
                };
                let secret = self.lookup_for(|s| pick(s).is_some()).and_then(pick);
                secret.and_then(|k| decrypt::tls13(&suite, &k))
            }
        };
        let side = &mut self.sides[dir.index()];
        match opener {
            Some(o) => {
                side.opener = Some(o);
                side.want = None;
                true
            }
            None => {
                side.opener = None;
                side.want = Some(want);
                false
            }
        }
    }

    /// TLS 1.3 0-RTT: a ClientHello offering early data, with its secret in the key log, is
    /// followed by early data encrypted with it.
    fn arm_tls13_early(&mut self, dir: Dir) {
        let offers = self.session.client_hello.as_ref().is_some_and(|c| c.extensions.contains(&42));
        let Some(early) = offers.then(|| self.lookup().and_then(|s| s.client_early.clone())).flatten() else {
            return;
        };
        // The suite is the PSK's, not known until the ServerHello: take the client's first
        // offered TLS 1.3 suite (a record that does not open is counted, as with wrong keys).
        let suites = self.session.client_hello.as_ref().map(|c| c.ciphers.clone()).unwrap_or_default();
        if let Some(suite) = suites.iter().filter(|c| (0x1301..=0x1305).contains(*c)).find_map(|c| decrypt::suite(*c)) {
            let side = &mut self.sides[dir.index()];
            side.opener = decrypt::tls13(&suite, &early);
            side.encrypted = true;
        }
    }

    /// TLS 1.3: both sides' handshake openers, right after the ServerHello.
    fn arm_tls13_handshake(&mut self) {
        if self.decryption.is_none() {
            return;
        }
        let client = self.session.client_dir();
        if self.sides[client.index()].opener.is_some() {
            // Still in 0-RTT early data: the handshake keys come at EndOfEarlyData.
            let early = self.sides[client.index()].opener.take();
            if self.arm(client, Want::Handshake) {
                let side = &mut self.sides[client.index()];
                side.next = side.opener.take();
            }
            let side = &mut self.sides[client.index()];
            side.opener = early;
            side.want = None;
        } else {
            self.arm(client, Want::Handshake);
        }
        self.arm(client.reverse(), Want::Handshake);
    }

    fn on_record(&mut self, ctx: &mut Ctx<'_>, r: &parser::Record<'_>) -> Result<(), Anomaly> {
        let di = ctx.dir.index();
        if r.content == content::CHANGE_CIPHER_SPEC {
            // TLS 1.3 sends a dummy one for middleboxes: its records are encrypted already.
            if !self.tls13() {
                self.sides[di].encrypted = true;
                if self.decryption.is_some() {
                    self.arm(ctx.dir, Want::Tls12);
                }
            }
            return Ok(());
        }
        if !self.sides[di].encrypted {
            return self.on_plain(ctx, r.content, r.body, false);
        }
        if let Some(want) = self.sides[di].want {
            // A key log file that a live client is still writing may lag the capture: retry,
            // and hold the record meanwhile (counted now as an opaque one).
            if self.arm(ctx.dir, want) {
                let held = std::mem::take(&mut self.sides[di].held);
                let was = std::mem::replace(&mut self.replaying, true);
                for (content, version, body) in held {
                    let rec = parser::Record { content, version, body: &body };
                    if let Err(a) = self.on_record(ctx, &rec) {
                        ctx.anomaly(&a);
                    }
                }
                self.replaying = was;
            } else if self.sides[di].held.len() < MAX_HELD
                && self.decryption.as_ref().is_some_and(|d| d.keys.follows_files())
            {
                self.sides[di].held.push((r.content, r.version, r.body.to_vec()));
                return self.opaque(ctx, r);
            } else {
                // The secrets are not coming: this side stays opaque.
                self.sides[di].want = None;
                self.sides[di].held.clear();
            }
        }
        if let Some(op) = self.sides[di].opener.as_mut() {
            let mut opened = op.open(r.content, r.version, r.body);
            if opened.is_err() {
                // Early data the server refused ends where the handshake keys open a record.
                if let Some(mut next) = self.sides[di].next.take() {
                    opened = next.open(r.content, r.version, r.body);
                    self.sides[di].opener = Some(next);
                }
            }
            match opened {
                Ok((real, plain)) => {
                    self.session.decrypted = true;
                    if let (Some(f), true) = (&self.followed, real != content::APPLICATION_DATA) {
                        // Followers see where decrypted records began, application data or not.
                        f.lock().unwrap_or_else(|e| e.into_inner()).push((ctx.dir, Vec::new()));
                    }
                    return self.on_plain(ctx, real, &plain, true);
                }
                Err(_) => {
                    // Wrong secrets or damaged bytes: the rest of this side stays opaque.
                    self.sides[di].opener = None;
                    if !self.decrypt_failed {
                        self.decrypt_failed = true;
                        ctx.anomaly(&Anomaly::new(
                            "tls_decrypt_failed",
                            "a record did not decrypt with the key log's secrets",
                        ));
                    }
                }
            }
        }
        if self.replaying {
            return Ok(());
        }
        self.opaque(ctx, r)
    }

    /// A record that stays encrypted: counted.
    fn opaque(&mut self, ctx: &mut Ctx<'_>, r: &parser::Record<'_>) -> Result<(), Anomaly> {
        match r.content {
            content::ALERT => self.on_plain(ctx, r.content, r.body, false),
            content::APPLICATION_DATA => {
                self.session.app_bytes[ctx.dir.index()] += r.body.len() as u64;
                // Without keys, TLS 1.3 hides the rest of the handshake in application-data
                // records: the session counts as established once the client sends one.
                if !self.tls13() || ctx.dir == self.session.client_dir() {
                    self.established(ctx);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn established(&mut self, ctx: &mut Ctx<'_>) {
        if self.session.client_hello.is_some() && self.session.server_hello.is_some() {
            if self.session.established.is_none() {
                self.session.established = Some(ctx.ts);
            }
            self.emit(ctx);
        }
    }

    /// A record's content in the clear (as sent, or decrypted).
    fn on_plain(&mut self, ctx: &mut Ctx<'_>, content_type: u8, body: &[u8], decrypted: bool) -> Result<(), Anomaly> {
        let di = ctx.dir.index();
        match content_type {
            // A plaintext alert is two bytes; an encrypted one carries at least a tag.
            // (Clients send plaintext alerts after a TLS 1.3 ServerHello they reject.)
            content::ALERT if self.session.alerts.len() < MAX_ALERTS => {
                let alert = match body {
                    [level @ 1..=2, desc] => Some((*level, *desc)),
                    _ => None,
                };
                self.session.alerts.push((ctx.dir, alert));
            }
            content::HANDSHAKE => {
                let side = &mut self.sides[di];
                if side.handshake.len() + body.len() > self.limits.max_message {
                    side.handshake.clear();
                    return Err(Anomaly::new("tls_handshake_too_large", "handshake message above decode.max_message"));
                }
                side.handshake.extend_from_slice(body);
                let buf = std::mem::take(&mut self.sides[di].handshake);
                let mut at = 0;
                let result = loop {
                    match parser::handshake(&buf[at..], self.limits.max_message) {
                        Ok(Some((t, msg))) => {
                            at += msg.len();
                            if let Err(a) = self.on_handshake(ctx, t, msg, decrypted) {
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
                let mut buf = buf;
                buf.drain(..at);
                self.sides[di].handshake = buf;
                return result;
            }
            content::APPLICATION_DATA => {
                if !self.replaying {
                    self.session.app_bytes[di] += body.len() as u64;
                }
                self.established(ctx);
                if decrypted {
                    self.plaintext(ctx, body);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Decrypted application data: decoded as the protocol inside (HTTPS, SIPS).
    fn plaintext(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) {
        if let Some(f) = &self.followed {
            f.lock().unwrap_or_else(|e| e.into_inner()).push((ctx.dir, data.to_vec()));
        }
        let Some(d) = self.decryption.clone() else { return };
        let before = ctx.out.len();
        self.inner.payload(&d.inner, ctx.meta, ctx.dir, ctx.ts, Payload::Stream(data), ctx.out);
        mark_secure(&mut ctx.out[before..]);
    }

    fn on_handshake(&mut self, ctx: &mut Ctx<'_>, t: u8, msg: &[u8], decrypted: bool) -> Result<(), Anomaly> {
        match t {
            hs::CLIENT_HELLO => {
                if self.emitted || self.session.client_hello.is_some() {
                    // A new handshake on the same connection: the last one is written first.
                    self.emit(ctx);
                    self.session = Session::default();
                    self.emitted = false;
                    self.secrets = None;
                }
                self.session.client_hello = Some(parser::client_hello(msg)?);
                self.session.client_hello_dir = Some(ctx.dir);
                self.session.started = ctx.ts;
                self.arm_tls13_early(ctx.dir);
            }
            hs::SERVER_HELLO => {
                let s = parser::server_hello(msg)?;
                let tls13 = s.negotiated() >= 0x0304;
                if self.session.client_hello.is_none() {
                    self.session.started = ctx.ts;
                }
                self.session.server_hello = Some(s);
                self.session.server_hello_dir = Some(ctx.dir);
                if tls13 {
                    // Everything after the ServerHello is encrypted, both ways.
                    for side in &mut self.sides {
                        side.encrypted = true;
                    }
                    self.arm_tls13_handshake();
                }
            }
            hs::ENCRYPTED_EXTENSIONS => {
                if let Some(alpn) = parser::encrypted_extensions_alpn(msg) {
                    if let Some(sh) = self.session.server_hello.as_mut() {
                        sh.alpn = Some(alpn);
                    }
                }
            }
            hs::CERTIFICATE => {
                let ders = if self.tls13() {
                    parser::certificates13(msg, MAX_CHAIN)?
                } else {
                    parser::certificates(msg, MAX_CHAIN)?
                };
                let mut chain = Vec::with_capacity(ders.len());
                for der in ders {
                    match parser::certificate(der) {
                        Ok(c) => chain.push(c),
                        Err(e) => ctx.anomaly(&e),
                    }
                }
                if ctx.dir == self.session.client_dir() {
                    self.session.client_chain = chain;
                } else {
                    self.session.server_chain = chain;
                }
            }
            hs::SERVER_KEY_EXCHANGE => {
                if let Some(g) = parser::server_key_exchange_curve(msg) {
                    self.session.curve = Some(g);
                }
            }
            hs::FINISHED if decrypted && self.tls13() => {
                self.arm(ctx.dir, Want::Traffic);
            }
            hs::KEY_UPDATE if decrypted && self.tls13() => {
                // This side's next records use the next traffic secret (RFC 8446 §4.6.3).
                let side = &mut self.sides[ctx.dir.index()];
                side.opener = side.opener.as_ref().and_then(Opener::updated);
            }
            hs::END_OF_EARLY_DATA if decrypted => {
                let side = &mut self.sides[ctx.dir.index()];
                if let Some(next) = side.next.take() {
                    side.opener = Some(next);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Documents decoded from decrypted application data: `tls.decrypted`, and `https` in URLs.
fn mark_secure(docs: &mut [Event]) {
    for e in docs.iter_mut() {
        // What was read inside TLS says so (SIPS messages and calls, HTTPS transactions).
        e.set("tls.decrypted", true);
    }
    for e in docs.iter_mut().filter(|e| e.dataset == "http") {
        e.set("url.scheme", "https");
        if let Some(full) = e.get_str("url.full").map(|f| f.into_owned()) {
            if let Some(rest) = full.strip_prefix("http://") {
                e.set("url.full", format!("https://{rest}"));
            }
        }
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

    fn gap(&mut self, ctx: &mut Ctx<'_>, len: u64) {
        let side = &mut self.sides[ctx.dir.index()];
        // A handshake message cut by the gap cannot be read, and lost records put the
        // decryption's sequence numbers out of step.
        side.handshake.clear();
        side.opener = None;
        self.session.gaps = true;
        if let Some(d) = self.decryption.clone() {
            self.inner.payload(&d.inner, ctx.meta, ctx.dir, ctx.ts, Payload::Gap(len), ctx.out);
        }
    }

    fn resync(&self, _dir: Dir, input: &[u8], _from: Resync) -> Option<usize> {
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
        if let Some(d) = self.decryption.clone() {
            let before = ctx.out.len();
            self.inner.finish(&d.inner, ctx.meta, ctx.ts, ctx.out);
            mark_secure(&mut ctx.out[before..]);
        }
        self.emit(ctx);
    }
}
