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
    /// Where the name is in [`KNOWN`], when it is one of those.
    pub known: Option<u8>,
}

impl Header<'_> {
    const EMPTY: Header<'static> = Header { name: Cow::Borrowed(""), value: Cow::Borrowed(""), known: None };
}

/// Where the first header of each [`KNOWN`] name is in a message's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownIndex([u8; KNOWN.len()]);

impl KnownIndex {
    const NONE: u8 = u8::MAX;

    fn of(headers: &[Header<'_>]) -> Self {
        let mut first = [Self::NONE; KNOWN.len()];
        for (i, h) in headers.iter().enumerate().take(usize::from(Self::NONE)) {
            if let Some(slot) = h.known.and_then(|k| first.get_mut(usize::from(k))) {
                if *slot == Self::NONE {
                    *slot = i as u8;
                }
            }
        }
        KnownIndex(first)
    }

    /// The first header named `k`.
    fn find<'h, 'a>(&self, headers: &'h [Header<'a>], k: Known) -> Option<&'h Header<'a>> {
        let rest = headers.get(self.start(headers.len(), k)?..)?;
        rest.iter().find(|h| h.known == Some(k.0))
    }

    /// Where the first header named `k` is; `None` when there is none. (Past the index's
    /// reach, the start.)
    #[inline]
    fn start(&self, headers: usize, k: Known) -> Option<usize> {
        match self.0.get(usize::from(k.0)).copied() {
            Some(i) if i != Self::NONE => Some(usize::from(i)),
            _ if headers < usize::from(Self::NONE) => None,
            _ => Some(0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    pub version: &'a str,
    pub headers: Vec<Header<'a>>,
    /// Where the well-known headers are in `headers`.
    pub index: KnownIndex,
    pub body: &'a [u8],
    /// Bytes the message took from the input (headers, blank line, body).
    pub len: usize,
    /// Headers past the limit that were not kept.
    pub dropped_headers: usize,
    /// The body is shorter than Content-Length said (datagrams only).
    pub body_truncated: bool,
    /// The header section as text, blank line included (the views above point into it).
    pub head: &'a str,
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
        match known_id(name.as_bytes()).and_then(Known::new) {
            Some(k) => self.known(k),
            None => self.headers.iter().find(|h| h.name == name).map(|h| h.value.as_ref()),
        }
    }

    /// Every value of a header, list values split at top-level commas.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        let known = known_id(name.as_bytes()).and_then(Known::new);
        let from = known.map_or(Some(0), |k| self.start(k)).unwrap_or(self.headers.len());
        let rest = self.headers.get(from..).unwrap_or_default();
        rest.iter().filter(move |h| h.name == name).flat_map(|h| split_list(&h.value))
    }

    /// The first header with a well-known name.
    #[inline]
    pub fn known(&self, k: Known) -> Option<&str> {
        self.index.find(&self.headers, k).map(|h| h.value.as_ref())
    }

    /// Every value of a header with a well-known name, list values split at top-level commas.
    pub fn known_values(&self, k: Known) -> impl Iterator<Item = &str> {
        let from = self.start(k).unwrap_or(self.headers.len());
        let rest = self.headers.get(from..).unwrap_or_default();
        rest.iter().filter(move |h| h.known == Some(k.0)).flat_map(|h| split_list(&h.value))
    }

    fn start(&self, k: Known) -> Option<usize> {
        self.index.start(self.headers.len(), k)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }
}

/// A piece of text of an [`OwnedMessage`]: a range of its text, which is the message's
/// header section followed by what was not in it (a folded header's joined value, a
/// lowercased name). Plain data, and small: a copy's header list is most of what the
/// rendering thread reads of it, and what the decoding thread writes again when it refills
/// the copy for the next message.
#[derive(Debug, Clone, Copy)]
pub(super) struct Text {
    start: u32,
    end: u32,
}

impl Text {
    /// No text.
    pub(super) const EMPTY: Text = Text { start: 0, end: 0 };

    /// `s` as a range of `text` when it lies in the header section `base` that `text` starts
    /// with, else copied to the end of `text`.
    fn of(base: &[u8], text: &mut String, s: &str) -> Text {
        let off = (s.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        let inside = off.checked_add(s.len()).filter(|&end| end <= base.len());
        let (start, end) = match inside {
            Some(end) => (off, end),
            None => {
                let start = text.len();
                text.push_str(s);
                (start, text.len())
            }
        };
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) => Text { start, end },
            // Past 4 GiB (a message is capped far below that): nothing.
            _ => Text::EMPTY,
        }
    }

    fn get<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start as usize..self.end as usize).unwrap_or("")
    }
}

/// A parsed message that owns its bytes, so that it can be looked at again later, on
/// another thread, without parsing it again.
#[derive(Debug, Clone)]
pub struct OwnedMessage {
    /// The header section, then the texts of the message that were not in it (see [`Text`]).
    text: String,
    /// Where the header section ends in `text`.
    head_len: u32,
    body: Vec<u8>,
    start: (Option<u16>, Text, Text),
    version: Text,
    /// Name, value and [`Header::known`]: the name of a known header is that of [`KNOWN`].
    /// (The index of known headers is made again when the copy is read.)
    headers: Vec<(Text, Text, Option<u8>)>,
    dropped_headers: usize,
    body_truncated: bool,
}

impl Default for OwnedMessage {
    fn default() -> Self {
        OwnedMessage {
            text: String::new(),
            head_len: 0,
            body: Vec::new(),
            start: (None, Text::EMPTY, Text::EMPTY),
            version: Text::EMPTY,
            headers: Vec::new(),
            dropped_headers: 0,
            body_truncated: false,
        }
    }
}

impl OwnedMessage {
    /// Keeps `m` and a copy of its bytes.
    pub fn new(m: &Message<'_>) -> Self {
        let mut o = OwnedMessage::default();
        o.keep(m);
        o
    }

    /// [`OwnedMessage::new`] in place of what this holds, in its buffers. Written field by
    /// field where it lies: a whole message built aside and then moved into place waited on
    /// its own stores to land (an eighth of the decoding thread's time per message).
    pub fn keep(&mut self, m: &Message<'_>) {
        let base = m.head.as_bytes();
        self.text.clear();
        self.text.push_str(m.head);
        // A header section is capped far below 4 GiB: past it, no text of it is read back.
        self.head_len = u32::try_from(m.head.len()).unwrap_or(0);
        self.body.clear();
        self.body.extend_from_slice(m.body);
        let text = &mut self.text;
        match m.start {
            StartLine::Request { method, uri } => {
                self.start = (None, Text::of(base, text, method), Text::of(base, text, uri));
            }
            StartLine::Response { code, phrase } => {
                self.start = (Some(code), Text::EMPTY, Text::of(base, text, phrase));
            }
        }
        self.version = Text::of(base, text, m.version);
        // Plain data: clearing drops nothing.
        self.headers.clear();
        self.headers.extend(m.headers.iter().map(|h| {
            let known = h.known.filter(|&k| usize::from(k) < KNOWN.len());
            let name = if known.is_some() { Text::EMPTY } else { Text::of(base, text, &h.name) };
            (name, Text::of(base, text, &h.value), known)
        }));
        self.dropped_headers = m.dropped_headers;
        self.body_truncated = m.body_truncated;
    }

    /// `s`, a text of the message last kept ([`OwnedMessage::keep`] of `m`), as a [`Text`]
    /// of this copy, for [`OwnedMessage::text`].
    pub(super) fn text_of(&mut self, m: &Message<'_>, s: &str) -> Text {
        Text::of(m.head.as_bytes(), &mut self.text, s)
    }

    /// What a [`Text`] of this copy reads.
    pub(super) fn text(&self, t: &Text) -> &str {
        t.get(&self.text)
    }

    /// Bytes this holds room for, its own and its headers' (see [`OwnedMessage::keep`]).
    pub(super) fn capacity(&self) -> usize {
        self.text.capacity()
            + self.body.capacity()
            + self.headers.capacity() * std::mem::size_of::<(Text, Text, Option<u8>)>()
    }

    /// Where this copy's buffers start: to ask for their first lines ahead of use
    /// ([`iotw_event::prefetch`], or [`iotw_event::prefetch_write`] before a refill).
    pub(super) fn buffers(&self) -> [*const u8; 3] {
        [self.text.as_ptr(), self.headers.as_ptr().cast(), self.body.as_ptr()]
    }

    /// The message again, borrowing from this copy.
    pub fn view(&self) -> Message<'_> {
        self.view_with(Vec::new())
    }

    /// [`OwnedMessage::view`] with its header list in `headers` (emptied first), as
    /// [`parse_with`] does.
    pub fn view_with<'s>(&'s self, mut headers: Vec<Header<'s>>) -> Message<'s> {
        let text = self.text.as_str();
        let start = match &self.start {
            (None, method, uri) => StartLine::Request { method: method.get(text), uri: uri.get(text) },
            (Some(code), _, phrase) => StartLine::Response { code: *code, phrase: phrase.get(text) },
        };
        headers.clear();
        headers.extend(self.headers.iter().map(|(n, v, known)| Header {
            name: Cow::Borrowed(match known.and_then(|k| KNOWN.get(usize::from(k))) {
                Some(name) => name,
                None => n.get(text),
            }),
            value: Cow::Borrowed(v.get(text)),
            known: *known,
        }));
        let head = text.get(..self.head_len as usize).unwrap_or("");
        Message {
            start,
            version: self.version.get(text),
            index: KnownIndex::of(&headers),
            headers,
            body: &self.body,
            len: head.len() + self.body.len(),
            dropped_headers: self.dropped_headers,
            body_truncated: self.body_truncated,
            head,
        }
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
fn expand_compact(name: u8) -> Option<&'static str> {
    Some(match name {
        b'i' => "call-id",
        b'm' => "contact",
        b'e' => "content-encoding",
        b'l' => "content-length",
        b'c' => "content-type",
        b'f' => "from",
        b's' => "subject",
        b'k' => "supported",
        b't' => "to",
        b'v' => "via",
        b'o' => "event",
        b'r' => "refer-to",
        b'b' => "referred-by",
        b'x' => "session-expires",
        b'u' => "allow-events",
        b'a' => "accept-contact",
        b'j' => "reject-contact",
        b'd' => "request-disposition",
        b'y' => "identity",
        _ => return None,
    })
}

/// Header names looked up often or written in compact form, lowercased: a parsed message
/// indexes where each first appears.
pub const KNOWN: [&str; 40] = [
    "via",
    "from",
    "to",
    "call-id",
    "cseq",
    "contact",
    "max-forwards",
    "user-agent",
    "server",
    "content-type",
    "content-length",
    "subject",
    "allow",
    "supported",
    "require",
    "expires",
    "route",
    "record-route",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "reason",
    "privacy",
    "p-asserted-identity",
    "diversion",
    "session-expires",
    "min-se",
    "accept",
    "x-genesys-calluuid",
    "date",
    "event",
    "content-encoding",
    "refer-to",
    "referred-by",
    "allow-events",
    "accept-contact",
    "reject-contact",
    "request-disposition",
    "identity",
];

/// A well-known header name: its position in [`KNOWN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known(u8);

impl Known {
    fn new(id: usize) -> Option<Known> {
        (id < KNOWN.len()).then(|| u8::try_from(id).ok().map(Known)).flatten()
    }

    pub const VIA: Known = Known(0);
    pub const FROM: Known = Known(1);
    pub const TO: Known = Known(2);
    pub const CALL_ID: Known = Known(3);
    pub const CSEQ: Known = Known(4);
    pub const CONTACT: Known = Known(5);
    pub const MAX_FORWARDS: Known = Known(6);
    pub const USER_AGENT: Known = Known(7);
    pub const SERVER: Known = Known(8);
    pub const CONTENT_TYPE: Known = Known(9);
    pub const CONTENT_LENGTH: Known = Known(10);
    pub const SUBJECT: Known = Known(11);
    pub const ALLOW: Known = Known(12);
    pub const SUPPORTED: Known = Known(13);
    pub const REQUIRE: Known = Known(14);
    pub const EXPIRES: Known = Known(15);
    pub const ROUTE: Known = Known(16);
    pub const RECORD_ROUTE: Known = Known(17);
    pub const AUTHORIZATION: Known = Known(18);
    pub const PROXY_AUTHORIZATION: Known = Known(19);
    pub const WWW_AUTHENTICATE: Known = Known(20);
    pub const PROXY_AUTHENTICATE: Known = Known(21);
    pub const REASON: Known = Known(22);
    pub const PRIVACY: Known = Known(23);
    pub const P_ASSERTED_IDENTITY: Known = Known(24);
    pub const DIVERSION: Known = Known(25);
    pub const SESSION_EXPIRES: Known = Known(26);
    pub const MIN_SE: Known = Known(27);
    pub const ACCEPT: Known = Known(28);
    pub const X_GENESYS_CALLUUID: Known = Known(29);
    pub const DATE: Known = Known(30);
    pub const EVENT: Known = Known(31);
    pub const CONTENT_ENCODING: Known = Known(32);
    pub const REFER_TO: Known = Known(33);
    pub const REFERRED_BY: Known = Known(34);
    pub const ALLOW_EVENTS: Known = Known(35);
    pub const ACCEPT_CONTACT: Known = Known(36);
    pub const REJECT_CONTACT: Known = Known(37);
    pub const REQUEST_DISPOSITION: Known = Known(38);
    pub const IDENTITY: Known = Known(39);
}

/// The position of a header name in [`KNOWN`], in any letter case: one table look-up and
/// one comparison, reading the name where it is.
fn known_id(name: &[u8]) -> Option<usize> {
    let (&first, &last) = (name.first()?, name.last()?);
    let slot = KNOWN_SLOTS.get(known_hash(name.len(), first.to_ascii_lowercase(), last.to_ascii_lowercase()))?;
    let id = usize::from(*slot).checked_sub(1)?;
    KNOWN.get(id).filter(|k| eq_lowercase(name, k.as_bytes())).map(|_| id)
}

/// Hashes a lowercase name by its length and end letters; no two [`KNOWN`] names share a
/// value (checked when [`KNOWN_SLOTS`] is built, at compile time).
const fn known_hash(len: usize, first: u8, last: u8) -> usize {
    (len ^ (first as usize * 2) ^ (last as usize * 11)) & 255
}

/// By [`known_hash`]: the position in [`KNOWN`] plus one, or 0.
const KNOWN_SLOTS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < KNOWN.len() {
        let n = KNOWN[i].as_bytes();
        let h = known_hash(n.len(), n[0], n[n.len() - 1]);
        assert!(t[h] == 0, "two known header names hash alike: change known_hash");
        t[h] = (i + 1) as u8;
        i += 1;
    }
    t
};

/// Whether `name` lowercased is `lower`, eight bytes at a time.
fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    if name.len() != lower.len() {
        return false;
    }
    let (mut a, mut b) = (name.chunks_exact(8), lower.chunks_exact(8));
    for (x, y) in (&mut a).zip(&mut b) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else { return false };
        if lowercase_word(u64::from_le_bytes(x)) != u64::from_le_bytes(y) {
            return false;
        }
    }
    a.remainder().iter().zip(b.remainder()).all(|(x, y)| x.to_ascii_lowercase() == *y)
}

/// A header name lowercased and expanded from its compact form, borrowed where possible,
/// and the well-known name it is, if it is one.
fn header_name(name: &str) -> (Cow<'_, str>, Option<u8>) {
    let b = name.as_bytes();
    let id = match b {
        [c] => expand_compact(c.to_ascii_lowercase()).and_then(|long| known_id(long.as_bytes())),
        _ => known_id(b),
    };
    if let Some((k, id)) = id.and_then(|i| Some((*KNOWN.get(i)?, u8::try_from(i).ok()?))) {
        return (Cow::Borrowed(k), Some(id));
    }
    if b.iter().any(u8::is_ascii_uppercase) {
        (Cow::Owned(name.to_ascii_lowercase()), None)
    } else {
        (Cow::Borrowed(name), None)
    }
}

/// ASCII-lowercases the eight bytes of `w` (other bytes are left as they are).
fn lowercase_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A byte's high bit is set in `upper` when it is 'A'..='Z' (ASCII only).
    let seven = w & (ONES * 0x7f);
    let ge_a = seven + ONES * (0x80 - u64::from(b'A'));
    let gt_z = seven + ONES * (0x80 - u64::from(b'Z') - 1);
    let upper = ge_a & !gt_z & !w & (ONES * 0x80);
    w | (upper >> 2)
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

/// The line ends (`\n`) of a header section, the first 128 kept from the scan, and where its
/// colons and spaces are in its first [`LineEnds::BLOCKS`] blocks of 64 bytes (bit `i % 64` of
/// word `i / 64` for byte `i`): a header line's name is then found without reading it.
#[derive(Debug)]
struct LineEnds {
    at: [usize; 128],
    n: usize,
    colons: [u64; LineEnds::BLOCKS],
    spaces: [u64; LineEnds::BLOCKS],
    /// Blocks whose colons and spaces are known.
    blocks: usize,
}

impl Default for LineEnds {
    fn default() -> Self {
        LineEnds { at: [0; 128], n: 0, colons: [0; Self::BLOCKS], spaces: [0; Self::BLOCKS], blocks: 0 }
    }
}

impl LineEnds {
    /// Finds the blank line; returns where the body starts. The line ends are found 64 bytes
    /// at a time: a header line is a few dozen bytes, too short for a search per line to pay.
    fn scan(&mut self, input: &[u8]) -> Option<usize> {
        let mut prev: Option<usize> = None;
        for (k, block) in input.chunks(64).enumerate() {
            let mut bits = match (self.colons.get_mut(k), self.spaces.get_mut(k)) {
                (Some(colons), Some(spaces)) => {
                    let [nl, colon, space] = iotw_event::bytes::eq_bits_each(block, [b'\n', b':', b' ']);
                    (*colons, *spaces, self.blocks) = (colon, space, k + 1);
                    nl
                }
                _ => iotw_event::bytes::eq_bits_of(block, b'\n'),
            };
            while bits != 0 {
                let i = k * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(slot) = self.at.get_mut(self.n) {
                    *slot = i;
                    self.n += 1;
                }
                // A blank line: "\n\n" or "\n\r\n".
                if let Some(p) = prev {
                    if i == p + 1 || (i == p + 2 && input[p + 1] == b'\r') {
                        return Some(i + 1);
                    }
                }
                prev = Some(i);
            }
        }
        None
    }

    /// Header sections up to this many blocks of 64 bytes (2 KiB) have their colons and spaces
    /// found in the scan; lines past them are read byte by byte.
    const BLOCKS: usize = 32;

    /// The first byte set in `bits` (colons or spaces) in `from..to`: `Some(None)` when there is
    /// none, `None` when that stretch is past the blocks scanned.
    fn first(&self, bits: &[u64; Self::BLOCKS], from: usize, to: usize) -> Option<Option<usize>> {
        let known = bits.get(..self.blocks)?;
        let mut k = from / 64;
        let mut word = known.get(k)? & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                let i = k * 64 + word.trailing_zeros() as usize;
                return Some((i < to).then_some(i));
            }
            k += 1;
            if k * 64 >= to {
                return Some(None);
            }
            word = *known.get(k)?;
        }
    }

    /// The line ends, found again past the ones kept.
    fn iter<'h>(&'h self, head: &'h str) -> impl Iterator<Item = usize> + 'h {
        let kept = self.at[..self.n].iter().copied();
        let after = self.n.checked_sub(1).map_or(0, |last| self.at[last] + 1);
        let more = if self.n == self.at.len() { head.get(after..) } else { None };
        kept.chain(
            more.into_iter().flat_map(move |rest| memchr::memchr_iter(b'\n', rest.as_bytes()).map(move |i| after + i)),
        )
    }
}

/// Parses one message at the start of `input`. `datagram`: the input is one whole UDP
/// datagram (a missing Content-Length means "the rest").
pub fn parse(input: &[u8], max_message: usize, max_headers: usize, datagram: bool) -> Result<Parsed<'_>, SipError> {
    parse_with(input, max_message, max_headers, datagram, Vec::with_capacity(16))
}

/// [`parse`], with the headers put in `headers` (emptied first): a decoder hands back the
/// vector of its last message ([`reuse`]) instead of allocating one per message.
pub fn parse_with<'a>(
    input: &'a [u8],
    max_message: usize,
    max_headers: usize,
    datagram: bool,
    mut headers: Vec<Header<'a>>,
) -> Result<Parsed<'a>, SipError> {
    headers.clear();
    // Pass 1: where the lines end, up to the blank line that ends the headers.
    let mut ends = LineEnds::default();
    let Some(body_start) = ends.scan(input) else {
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
    // Pass 2: the lines themselves.
    let mut first: Option<(StartLine<'_>, &str)> = None;
    let mut dropped = 0;
    let mut from = 0;
    for end in ends.iter(head) {
        let line_start = from;
        let line = head.get(from..end).unwrap_or("");
        from = end + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if first.is_none() {
            first = Some(start_line(line)?);
            continue;
        }
        if line.is_empty() {
            break;
        }
        if let Some(b' ' | b'\t') = line.as_bytes().first() {
            // Obsolete line folding: continues the previous header's value.
            if let Some(last) = headers.last_mut() {
                let v = format!("{} {}", last.value, trim_lws(line));
                last.value = Cow::Owned(v);
            }
            continue;
        }
        let line_end = line_start + line.len();
        let colon = match ends.first(&ends.colons, line_start, line_end) {
            Some(found) => found.map(|c| c - line_start),
            None => find_byte(line, b':'),
        };
        // `:` is ASCII: both sides are on character boundaries.
        let Some((name, value)) = colon.and_then(|c| Some((line.get(..c)?, line.get(c + 1..)?))) else {
            return Err(err("sip_bad_header", format!("header line without a colon: {:.60}", line)));
        };
        // Only a name with a space before its colon needs reading for one.
        let spaced = colon.and_then(|c| ends.first(&ends.spaces, line_start, line_start + c)) != Some(None);
        let name = trim_lws(name);
        if name.is_empty() || (spaced && find_byte(name, b' ').is_some()) {
            return Err(err("sip_bad_header", format!("bad header name: {:.60}", name)));
        }
        if headers.len() >= max_headers {
            dropped += 1;
            continue;
        }
        let (name, known) = header_name(name);
        // Filled in place: a header built aside and then copied in made every push wait for
        // its last stores to land (a sixth of this loop's time).
        headers.push(Header::EMPTY);
        if let Some(h) = headers.last_mut() {
            (h.name, h.value, h.known) = (name, Cow::Borrowed(trim_lws(value)), known);
        }
    }
    let Some((start, version)) = first else {
        return Err(err("sip_bad_start_line", "no start line"));
    };

    let index = KnownIndex::of(&headers);
    let declared =
        match index.find(&headers, Known::CONTENT_LENGTH) {
            Some(h) => Some(h.value.parse::<usize>().map_err(|_| {
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
        index,
        body,
        len: body_start + body_len,
        dropped_headers: dropped,
        body_truncated: truncated,
        head,
    }))
}

/// `headers` emptied, as a vector for headers of any other message, in the same memory.
pub fn reuse<'b>(mut headers: Vec<Header<'_>>) -> Vec<Header<'b>> {
    headers.clear();
    // An empty vector collected into one of the same element size keeps its allocation.
    // (`filter` would keep the lifetime, which is what this changes.)
    #[allow(clippy::unnecessary_filter_map)]
    headers.into_iter().filter_map(|_| None).collect()
}

fn start_line(line: &str) -> Result<(StartLine<'_>, &str), SipError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, rest) =
            split_once_byte(rest, b' ').ok_or_else(|| err("sip_bad_start_line", "status line without a code"))?;
        let (code, phrase) = split_once_byte(rest, b' ').unwrap_or((rest, ""));
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..=699).contains(c))
            .ok_or_else(|| err("sip_bad_start_line", format!("bad status code {:.10}", code)))?;
        return Ok((StartLine::Response { code, phrase }, version));
    }
    let parts = split_once_byte(line, b' ').and_then(|(method, rest)| Some((method, split_once_byte(rest, b' ')?)));
    let Some((method, (uri, ver))) = parts else {
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
pub fn split_list(v: &str) -> SplitList<'_> {
    SplitList { v, at: 0 }
}

/// The items of a header value list; empty items are skipped.
#[derive(Debug, Clone)]
pub struct SplitList<'a> {
    v: &'a str,
    at: usize,
}

impl<'a> Iterator for SplitList<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.v.as_bytes();
        while self.at <= b.len() {
            let start = self.at;
            let end = list_item_end(b, start);
            self.at = end + 1;
            // Commas and quotes are ASCII, so `start..end` are character boundaries.
            let item = trim_lws(self.v.get(start..end).unwrap_or(""));
            if !item.is_empty() {
                return Some(item);
            }
        }
        None
    }
}

/// Where the list item starting at `i` ends: the next comma outside quotes and `<...>`, or
/// the end. Jumps between the bytes that matter.
fn list_item_end(b: &[u8], mut i: usize) -> usize {
    loop {
        let Some(rest) = b.get(i..) else { return b.len() };
        let Some(j) = memchr::memchr3(b',', b'"', b'<', rest) else { return b.len() };
        i += j;
        match b[i] {
            b',' => return i,
            b'"' => {
                // To the closing quote, skipping escaped characters.
                i += 1;
                while let Some(&c) = b.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
            }
            _ => match memchr::memchr(b'>', &b[i..]) {
                Some(k) => i += k + 1,
                None => return b.len(),
            },
        }
    }
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
    let s = trim_lws(s);
    if s.len() <= 64 {
        parse_short_uri(s)
    } else {
        parse_uri_bytewise(s)
    }
}

/// [`parse_uri`] of a URI of at most 64 bytes (most are): its delimiters are found in one
/// pass, as bits, and it is cut by them.
fn parse_short_uri(s: &str) -> Uri<'_> {
    let mut u = Uri { original: s, ..Uri::default() };
    let [colons, ats, questions, semis] = iotw_event::bytes::eq_bits_each(s.as_bytes(), [b':', b'@', b'?', b';']);
    // The delimiters are ASCII: every cut below is on a character boundary.
    let Some(scheme_end) = first(colons) else { return u };
    u.scheme = s.get(..scheme_end).unwrap_or("");
    let rest = scheme_end + 1;
    if u.scheme.eq_ignore_ascii_case("tel") {
        u.user = s.get(rest..first(semis & from(rest)).unwrap_or(s.len()));
        return u;
    }
    // The headers part starts at '?'; the host part follows the last '@' before it.
    let end = first(questions & from(rest)).unwrap_or(s.len());
    let at = last(ats & from(rest) & before(end));
    if let Some(at) = at {
        let user_end = first(colons & from(rest) & before(at)).unwrap_or(at);
        u.user = s.get(rest..user_end).filter(|x| !x.is_empty());
    }
    let host_start = at.map_or(rest, |at| at + 1);
    let host_end = first(semis & from(host_start) & before(end)).unwrap_or(end);
    let hostport = s.get(host_start..host_end).unwrap_or("");
    let (host, port) = match colons & from(host_start) & before(host_end) {
        _ if hostport.starts_with('[') => split_host_port(hostport),
        // One colon: before it the host, after it the port (as `split_host_port` reads it).
        one if one.count_ones() == 1 => {
            let i = one.trailing_zeros() as usize;
            (s.get(host_start..i).unwrap_or(""), s.get(i + 1..host_end).and_then(parse_port))
        }
        _ => (hostport, None),
    };
    u.host = Some(host).filter(|h| !h.is_empty());
    u.port = port;
    u
}

/// Bits of bytes at or after byte `i` of a 64-byte block.
fn from(i: usize) -> u64 {
    u64::MAX.checked_shl(i as u32).unwrap_or(0)
}

/// Bits of bytes before byte `i` of a 64-byte block.
fn before(i: usize) -> u64 {
    !from(i)
}

/// The first byte in `bits`.
fn first(bits: u64) -> Option<usize> {
    (bits != 0).then(|| bits.trailing_zeros() as usize)
}

/// The last byte in `bits`.
fn last(bits: u64) -> Option<usize> {
    (bits != 0).then(|| 63 - bits.leading_zeros() as usize)
}

/// [`parse_uri`] of a URI of any length, byte by byte.
fn parse_uri_bytewise(s: &str) -> Uri<'_> {
    let mut u = Uri { original: s, ..Uri::default() };
    let Some((scheme, rest)) = split_once_byte(s, b':') else { return u };
    u.scheme = scheme;
    if scheme.eq_ignore_ascii_case("tel") {
        u.user = Some(split_once_byte(rest, b';').map_or(rest, |(a, _)| a));
        return u;
    }
    // One pass: the headers part starts at '?'; the host part follows the last '@'.
    let (mut end, mut at) = (rest.len(), None);
    for (i, c) in rest.bytes().enumerate() {
        match c {
            b'@' => at = Some(i),
            b'?' => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let rest = rest.get(..end).unwrap_or(rest);
    let (userinfo, hostpart) = match at {
        Some(i) => (rest.get(..i), rest.get(i + 1..).unwrap_or("")),
        None => (None, rest),
    };
    u.user = userinfo.map(|ui| split_once_byte(ui, b':').map_or(ui, |(a, _)| a)).filter(|x| !x.is_empty());
    let hostport = split_once_byte(hostpart, b';').map_or(hostpart, |(a, _)| a);
    let (host, port) = split_host_port(hostport);
    u.host = Some(host).filter(|h| !h.is_empty());
    u.port = port;
    u
}

/// `host:port`, `[v6]:port`, or a bare host.
pub fn split_host_port(hp: &str) -> (&str, Option<u16>) {
    if let Some(rest) = hp.strip_prefix('[') {
        if let Some((h, after)) = split_once_byte(rest, b']') {
            return (h, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match find_byte(hp, b':') {
        Some(i) if hp.bytes().rposition(|c| c == b':') == Some(i) => (&hp[..i], parse_port(&hp[i + 1..])),
        _ => (hp, None),
    }
}

/// A From/To/Contact value: display name, URI, and header parameters (tag, expires, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name, without its quotes (escapes inside it are kept as written).
    pub display: Option<&'a str>,
    pub uri: Uri<'a>,
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    pub fn param(&self, name: &str) -> Option<&'a str> {
        param(self.params, name)
    }
}

pub fn parse_name_addr(v: &str) -> NameAddr<'_> {
    let (display, uri, params) = cut_name_addr(v);
    let display = display.map(|d| trim_lws(trim_quotes(trim_lws(d)))).filter(|d| !d.is_empty());
    NameAddr { display, uri: parse_uri(uri), params }
}

/// The header parameters of a From/To/Contact value (`;tag=...`), as [`parse_name_addr`]
/// finds them, without reading the rest.
pub fn name_addr_params(v: &str) -> &str {
    cut_name_addr(v).2
}

/// A From/To/Contact value cut into what is before `<` (a name-addr's display name), the URI,
/// and the header parameters.
fn cut_name_addr(v: &str) -> (Option<&str>, &str, &str) {
    let v = trim_lws(v);
    if let Some(lt) = find_byte(v, b'<') {
        let gt = find_byte(&v[lt..], b'>').map_or(v.len(), |g| lt + g);
        let uri = v.get(lt + 1..gt.max(lt + 1)).unwrap_or("");
        return (Some(&v[..lt]), uri, v.get(gt + 1..).unwrap_or(""));
    }
    // addr-spec: parameters after ';' belong to the header, not the URI.
    match find_byte(v, b';') {
        Some(i) => (None, &v[..i], &v[i..]),
        None => (None, v, ""),
    }
}

/// The value of `;name=value` in a parameter list (case-insensitive name); `""` for a
/// parameter without a value.
pub fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    // Parameters are `;`-separated, a value runs to the next `;`: the `;` are found first.
    let b = params.as_bytes();
    let mut start = 0;
    for end in iotw_event::bytes::positions(b, b';').chain(std::iter::once(b.len())) {
        // `;` and `=` are ASCII, so these are character boundaries.
        let item = params.get(start..end).unwrap_or("");
        start = end + 1;
        let (key, value) = split_once_byte(item, b'=').unwrap_or((item, ""));
        if trim_lws(key).eq_ignore_ascii_case(name) {
            return Some(trim_quotes(trim_lws(value)));
        }
    }
    None
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
    let v = trim_lws(v);
    let (proto, rest) = split_once_lws(v).unwrap_or((v, ""));
    let transport = rsplit_once_byte(proto, b'/').map_or(proto, |(_, t)| t);
    let rest = trim_lws(rest);
    let (sent_by, params) = match find_byte(rest, b';') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(trim_lws(sent_by));
    Via { original: v, transport, host, port, branch: param(params, "branch") }
}

/// The `branch` parameter of one Via value (what [`parse_via`] finds, without the rest).
pub fn via_branch(v: &str) -> Option<&str> {
    let v = trim_lws(v);
    if v.len() > 64 {
        return via_branch_bytewise(v);
    }
    // Most Via values fit a block: their delimiters are found at once, as bits.
    let [semis, equals, spaces, tabs] = iotw_event::bytes::eq_bits_each(v.as_bytes(), [b';', b'=', b' ', b'\t']);
    // The parameters start at the first `;` after the sent-protocol and its blank; each runs
    // from its `;` to the next, as [`param`] reads them. The delimiters are ASCII: every cut is
    // on a character boundary.
    let mut semis = semis & from(first(spaces | tabs)? + 1);
    while let Some(semi) = first(semis) {
        semis &= semis - 1;
        let (start, end) = (semi + 1, first(semis).unwrap_or(v.len()));
        let equal = first(equals & from(start) & before(end));
        if trim_lws(v.get(start..equal.unwrap_or(end))?).eq_ignore_ascii_case("branch") {
            let value = equal.and_then(|e| v.get(e + 1..end)).unwrap_or("");
            return Some(trim_quotes(trim_lws(value)));
        }
    }
    None
}

/// [`via_branch`] of a Via value of any length, byte by byte.
fn via_branch_bytewise(v: &str) -> Option<&str> {
    let (_, rest) = split_once_lws(trim_lws(v))?;
    let at = find_byte(rest, b';')?;
    param(rest.get(at..)?, "branch")
}

/// CSeq: `314159 INVITE`.
pub fn parse_cseq(v: &str) -> Option<(u32, &str)> {
    let (n, m) = split_once_lws(trim_lws(v))?;
    Some((n.parse().ok()?, trim_lws(m)))
}

/// A port number: digits only, at most 65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 {
        return None;
    }
    p.bytes()
        .try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
        .and_then(|n| u16::try_from(n).ok())
}

/// The first `b` (an ASCII byte) in `s`. Header parts are short: a plain loop beats a search.
fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

fn split_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, b)?;
    // `b` is ASCII, so both sides are on character boundaries.
    Some((s.get(..i)?, s.get(i + 1..)?))
}

fn rsplit_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = s.bytes().rposition(|c| c == b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Without leading and trailing spaces and tabs (SIP's linear white space).
pub fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t')).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t')).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or("")
}

/// Without one pair of surrounding double quotes, or any stray ones at the ends.
fn trim_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| c != b'"').unwrap_or(b.len());
    let end = b.iter().rposition(|&c| c != b'"').map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or("")
}

/// Split at the first space or tab.
fn split_once_lws(s: &str) -> Option<(&str, &str)> {
    let i = s.bytes().position(|c| matches!(c, b' ' | b'\t'))?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

#[cfg(test)]
mod tests;
