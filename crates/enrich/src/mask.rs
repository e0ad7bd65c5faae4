//! Masking of personal data, after geotagging so the place survives: every phone number and
//! UK postcode in any text value of a document — wherever it sits, `message` included — is
//! kept, hashed, truncated or dropped; attached-data values and named fields can be masked
//! whole. The document is rewritten, so a masked value reaches no output.
//!
//! - hash: `h:` and 20 hex digits of HMAC-SHA256 under the site's secret, over the E.164 form
//!   of a number or the compact upper-case form of a postcode: the same number hashes the
//!   same however it was written, on every agent that shares the secret, so joins and alert
//!   keys still work.
//! - truncate: a number keeps its dialling code (`0113`), or its first four digits when it
//!   has none (`0800`, `0770`), or `+` and its country code; a postcode keeps its district.
//! - drop: a value that is only the number or postcode loses its field; within longer text
//!   the match becomes `[masked]`.

use crate::blocks;
use crate::phone::{self, Class, Dialling};
use crate::places;
use crate::Enricher;
use hmac::{Hmac, KeyInit, Mac};
use iotw_event::field::role;
use iotw_event::json::{self, array_content, object_content, Elements, Members};
use iotw_event::Event;
use sha2::Sha256;
use std::cell::RefCell;
use std::collections::HashMap;

/// Hashes remembered.
const HASH_CACHE: usize = 1 << 16;
/// Masked strings remembered (a call's numbers recur in each of its documents): sets of two.
const STRING_SETS: usize = 1 << 10;

/// One remembered text in one cache line: its length (0: none) then its bytes.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl Line {
    const EMPTY: Line = Line([0; 64]);
    /// The longest text a line holds.
    const MAX: usize = 63;

    fn holds(&self, text: &[u8]) -> bool {
        let n = text.len();
        let Some(line) = self.0.get(1..=n).filter(|_| usize::from(self.0[0]) == n) else { return false };
        // Eight bytes at a time, the last eight overlapping the ones before: most texts are
        // 10 to 40 bytes, which a call to `memcmp` would cost more than.
        if n < 8 {
            return line == text;
        }
        (0..n - 8).step_by(8).chain([n - 8]).all(|at| json::word(line, at) == json::word(text, at))
    }

    fn text(&self) -> &[u8] {
        self.0.get(1..=usize::from(self.0[0])).unwrap_or_default()
    }

    fn set(&mut self, text: &[u8]) {
        let n = text.len().min(Self::MAX);
        self.0[0] = n as u8;
        self.0[1..=n].copy_from_slice(&text[..n]);
    }
}

/// Value lines: this length means the string stays as it is.
const UNCHANGED: u8 = u8::MAX;

/// JSON strings as written (up to [`Line::MAX`] bytes) and their masked JSON, in sets of two
/// lines: a string's set is chosen by its hash, and a new string takes the line of its set
/// used less recently. A string seen once (a sequence number) so pushes out one line, not
/// the whole memory, and the memory is small enough to stay in the processor's caches.
struct Remembered {
    keys: Box<[Line]>,
    values: Box<[Line]>,
    /// Per set: the line used last.
    recent: Box<[u8]>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Remembered {
    fn default() -> Self {
        Remembered {
            keys: vec![Line::EMPTY; 2 * STRING_SETS].into_boxed_slice(),
            values: vec![Line::EMPTY; 2 * STRING_SETS].into_boxed_slice(),
            recent: vec![0; STRING_SETS].into_boxed_slice(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl Remembered {
    fn set_of(&self, quoted: &[u8]) -> usize {
        use std::hash::BuildHasher;
        (self.hasher.hash_one(quoted) as usize) % STRING_SETS
    }

    /// The masked JSON remembered for `quoted`: `Some(None)` when it stays as it is, `None`
    /// when it is not remembered.
    fn get(&mut self, quoted: &[u8]) -> Option<Option<&[u8]>> {
        if quoted.len() > Line::MAX {
            return None;
        }
        let set = self.set_of(quoted);
        let way = (0..2).find(|w| self.keys.get(2 * set + w).is_some_and(|k| k.holds(quoted)))?;
        *self.recent.get_mut(set)? = way as u8;
        let v = self.values.get(2 * set + way)?;
        Some((v.0[0] != UNCHANGED).then(|| v.text()))
    }

    /// Remembers the masked JSON of `quoted` (`None`: it stays as it is), when both fit a line.
    fn put(&mut self, quoted: &[u8], masked: Option<&[u8]>) {
        if quoted.len() > Line::MAX || masked.is_some_and(|m| m.len() > Line::MAX) {
            return;
        }
        let set = self.set_of(quoted);
        let Some(recent) = self.recent.get_mut(set) else { return };
        let way = usize::from(1 - (*recent & 1));
        *recent = way as u8;
        let (Some(k), Some(v)) = (self.keys.get_mut(2 * set + way), self.values.get_mut(2 * set + way)) else {
            return;
        };
        k.set(quoted);
        match masked {
            Some(m) => v.set(m),
            None => v.0[0] = UNCHANGED,
        }
    }
}

/// What happens to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    Hash,
    Truncate,
    Drop,
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(Action::Keep),
            "hash" => Ok(Action::Hash),
            "truncate" => Ok(Action::Truncate),
            "drop" => Ok(Action::Drop),
            _ => Err(format!("{s:?} is not a mask action (keep, hash, truncate, drop)")),
        }
    }
}

/// The rules of a site.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub phone: Action,
    pub postcode: Action,
    /// Attached-data values that are neither (account numbers, names, ...).
    pub user_data: Action,
    /// Per field (dotted name), over everything else.
    pub fields: Vec<(String, Action)>,
}

impl Policy {
    /// `off`: nothing masked. `standard`: numbers hashed (their place and dialling code kept),
    /// postcodes cut to their district. `strict`: numbers, postcodes and attached-data values
    /// dropped; places kept at district level.
    pub fn preset(name: &str) -> Option<Policy> {
        let (phone, postcode, user_data) = match name {
            "off" => (Action::Keep, Action::Keep, Action::Keep),
            "standard" => (Action::Hash, Action::Truncate, Action::Keep),
            "strict" => (Action::Drop, Action::Drop, Action::Drop),
            _ => return None,
        };
        let mut fields = Vec::new();
        if name == "strict" {
            fields.push(("phone.*.area_code".to_string(), Action::Drop));
        }
        Some(Policy { phone, postcode, user_data, fields })
    }

    pub fn is_off(&self) -> bool {
        self.phone == Action::Keep
            && self.postcode == Action::Keep
            && self.user_data == Action::Keep
            && self.fields.iter().all(|(_, a)| *a == Action::Keep)
    }

    pub fn needs_secret(&self) -> bool {
        self.phone == Action::Hash
            || self.postcode == Action::Hash
            || self.user_data == Action::Hash
            || self.fields.iter().any(|(_, a)| *a == Action::Hash)
    }

    fn field_action(&self, path: &str) -> Option<Action> {
        self.fields.iter().rev().find(|(p, _)| path_matches(p, path)).map(|(_, a)| *a)
    }
}

/// A dotted pattern where `*` stands for one whole segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    let mut a = pattern.split('.');
    let mut b = path.split('.');
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == "*" || x == y => {}
            _ => return false,
        }
    }
}

/// Attached data lives under these names.
const USER_DATA: [&str; 2] = ["genesys.user_data", "journey.user_data"];

/// The masking enricher.
pub struct Mask {
    policy: Policy,
    /// Whether every rule can be applied inside text values without knowing the field
    /// (no per-field rules, attached data searched like any text, nothing dropped).
    in_place: bool,
    key: Option<Hmac<Sha256>>,
    /// Hashes made so far (a number recurs across a call's documents), bounded.
    hashes: RefCell<HashMap<u128, [u8; 22], foldhash::fast::RandomState>>,
    /// For the in-place way: JSON strings as written, and their masked JSON (`None`: left
    /// as they are), bounded.
    strings: RefCell<Remembered>,
    /// For the in-place way: the buffer the next document's masked members are written into
    /// (the members it replaced, handed back), and the text buffer of [`Mask::scan`].
    scratch: RefCell<(Vec<u8>, String)>,
    dialling: Dialling,
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mask").field("policy", &self.policy).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    #[error("masking with hash needs the site secret (enrich.mask.secret or enrich.mask.secret_file)")]
    NoSecret,
}

impl Mask {
    pub fn new(policy: Policy, secret: Option<&[u8]>, dialling: Dialling) -> Result<Self, MaskError> {
        let key = match secret.filter(|s| !s.is_empty()) {
            Some(s) => Some(Hmac::<Sha256>::new_from_slice(s).map_err(|_| MaskError::NoSecret)?),
            None if policy.needs_secret() => return Err(MaskError::NoSecret),
            None => None,
        };
        let in_place = policy.fields.is_empty()
            && policy.user_data == Action::Keep
            && policy.phone != Action::Drop
            && policy.postcode != Action::Drop;
        Ok(Mask {
            policy,
            in_place,
            key,
            hashes: RefCell::default(),
            strings: RefCell::default(),
            scratch: RefCell::default(),
            dialling,
        })
    }

    fn hash(&self, canonical: &[u8], out: &mut String) {
        // Up to 16 bytes (an E.164 number with its `+`, a postcode) are a cache key.
        let key = (canonical.len() <= 15).then(|| {
            let mut k = [0u8; 16];
            k[..canonical.len()].copy_from_slice(canonical);
            k[15] = canonical.len() as u8;
            u128::from_le_bytes(k)
        });
        if let Some(hit) = key.and_then(|k| self.hashes.borrow().get(&k).copied()) {
            out.push_str(std::str::from_utf8(&hit).unwrap_or_default());
            return;
        }
        let mut h = [0u8; 22];
        h[0] = b'h';
        h[1] = b':';
        if let Some(k) = &self.key {
            let mut m = k.clone();
            m.update(canonical);
            let d = m.finalize().into_bytes();
            for (i, b) in d.iter().take(10).enumerate() {
                h[2 + 2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
                h[3 + 2 * i] = b"0123456789abcdef"[usize::from(b & 15)];
            }
        }
        out.push_str(std::str::from_utf8(&h).unwrap_or_default());
        if let Some(k) = key {
            let mut cache = self.hashes.borrow_mut();
            if cache.len() >= HASH_CACHE {
                cache.clear();
            }
            cache.insert(k, h);
        }
    }

    /// The masked form of a whole value; `None`: drop it.
    fn whole(&self, action: Action, text: &str, out: &mut String) -> Option<()> {
        match action {
            Action::Keep => out.push_str(text),
            Action::Drop => return None,
            Action::Hash => self.hash(text.as_bytes(), out),
            Action::Truncate => out.push_str(text.get(..text.floor_char_boundary(4)).unwrap_or_default()),
        }
        Some(())
    }

    /// Masks the numbers and postcodes within `text` into `out`; false when the whole text
    /// was one of them and is to be dropped.
    fn scan(&self, text: &str, out: &mut String) -> bool {
        self.scan_words(text, out, true)
    }

    /// [`Mask::scan`]; with `skip_words` false, every byte inside a word is looked at too
    /// (the tests' reference: nothing may start there).
    #[inline(always)]
    fn scan_words(&self, text: &str, out: &mut String, skip_words: bool) -> bool {
        let b = text.as_bytes();
        let mut copied = 0;
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            let alnum = c.is_ascii_alphanumeric();
            if !alnum && c != b'+' && c != b'(' {
                i += 1;
                continue;
            }
            // Right after a masked value counts as a word start too: what follows is judged as
            // it will read in the output.
            let boundary = i == 0 || copied == i || !b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric);
            if boundary && (c.is_ascii_digit() || c == b'+' || c == b'(') && self.policy.phone != Action::Keep {
                if let Some((end, digits)) = number_end(b, i) {
                    if digits < 9 {
                        // No number starts anywhere in this run of digits.
                        i = end;
                        continue;
                    }
                    if let Some((end, p)) = self.longest_number(text, i, end) {
                        if self.policy.phone == Action::Drop && i == 0 && end == b.len() {
                            return false;
                        }
                        out.push_str(text.get(copied..i).unwrap_or_default());
                        self.phone_replacement(&p, out);
                        copied = end;
                        i = end;
                        continue;
                    }
                }
            }
            if boundary && c.is_ascii_alphabetic() && self.policy.postcode != Action::Keep {
                if let Some(f) = places::postcodes().match_at(text, i) {
                    if self.policy.postcode == Action::Drop && i == 0 && f.end == b.len() {
                        return false;
                    }
                    out.push_str(text.get(copied..i).unwrap_or_default());
                    match self.policy.postcode {
                        Action::Hash => {
                            let canon = format!("{}{}", f.outward, f.inward).to_ascii_uppercase();
                            self.hash(canon.as_bytes(), out);
                        }
                        Action::Truncate => out.push_str(&f.outward.to_ascii_uppercase()),
                        _ => out.push_str("[masked]"),
                    }
                    // A cut postcode must not join what follows into another one ("SK19 1SA
                    // 1SA" must not become "SK19 1SA"): inward codes right after it go too.
                    let mut end = f.end;
                    while let Some(next) = inward_after(b, end) {
                        end = next;
                    }
                    copied = end;
                    i = end;
                    continue;
                }
            }
            // Nothing starts inside a word.
            i += 1;
            if alnum && skip_words {
                while b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    i += 1;
                }
            }
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        true
    }

    /// The longest phone number starting at `i` and ending at `end` or at a separator before
    /// it (digits written together with more digits after a space are tried whole first,
    /// then shorter), with at least nine digits.
    fn longest_number(&self, text: &str, i: usize, end: usize) -> Option<(usize, phone::Phone)> {
        let b = text.as_bytes();
        let ends = std::iter::once(end).chain(
            (i + 1..end).rev().filter(|&k| !b[k].is_ascii_digit() && b.get(k - 1).is_some_and(u8::is_ascii_digit)),
        );
        for e in ends {
            let cand = text.get(i..e)?;
            if cand.bytes().filter(u8::is_ascii_digit).count() < 9 {
                return None;
            }
            if let Some(p) = phone::parse(cand, &self.dialling).filter(|p| p.class != Class::Withheld) {
                return Some((e, p));
            }
        }
        None
    }

    fn phone_replacement(&self, p: &phone::Phone, out: &mut String) {
        match self.policy.phone {
            Action::Hash => {
                let digits = p.e164_digits().as_bytes();
                let mut e164 = [b'+'; 24];
                let n = digits.len().min(e164.len() - 1);
                e164[1..=n].copy_from_slice(&digits[..n]);
                self.hash(&e164[..=n], out);
            }
            Action::Truncate => {
                if !p.is_uk() {
                    out.push('+');
                    out.push_str(p.country_code());
                    return;
                }
                let mut buf = [0u8; 18];
                let national = p.national(&mut buf);
                match (p.class == Class::Geographic).then(|| places::dialling_codes().lookup(national)).flatten() {
                    Some((prefix, _)) => out.push_str(prefix),
                    None => out.push_str(national.get(..4).unwrap_or(national)),
                }
            }
            _ => out.push_str("[masked]"),
        }
    }

    /// Rewrites one JSON value at `path`; false: drop the member that holds it.
    fn value(&self, path: &mut String, v: &[u8], user_data: bool, out: &mut Vec<u8>, buf: &mut String) -> bool {
        // A field named in the policy is treated whole, as named; attached data whole when its
        // action is not keep; everything else is searched for numbers and postcodes.
        let ud_action = (user_data && self.policy.user_data != Action::Keep).then_some(self.policy.user_data);
        let action = self.policy.field_action(path).or(ud_action);
        match v.first() {
            Some(b'{') => {
                let Some(content) = object_content(v) else {
                    out.extend_from_slice(v);
                    return true;
                };
                let ud = user_data || USER_DATA.contains(&path.as_str());
                out.push(b'{');
                let mut first = true;
                for m in Members::new(content) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&String::from_utf8_lossy(m.key));
                    let mark = out.len();
                    if !first {
                        out.push(b',');
                    }
                    out.push(b'"');
                    out.extend_from_slice(m.key);
                    out.extend_from_slice(b"\":");
                    if self.value(path, m.value, ud, out, buf) {
                        first = false;
                    } else {
                        out.truncate(mark);
                    }
                    path.truncate(len);
                }
                out.push(b'}');
                true
            }
            Some(b'[') => {
                let Some(content) = array_content(v) else {
                    out.extend_from_slice(v);
                    return true;
                };
                out.push(b'[');
                let mut first = true;
                for el in Elements::new(content) {
                    let mark = out.len();
                    if !first {
                        out.push(b',');
                    }
                    if self.value(path, el, user_data, out, buf) {
                        first = false;
                    } else {
                        out.truncate(mark);
                    }
                }
                out.push(b']');
                true
            }
            Some(b'"') => {
                let Some(text) = json::str_value(v) else {
                    out.extend_from_slice(v);
                    return true;
                };
                buf.clear();
                let keep = match action {
                    Some(Action::Keep) => {
                        out.extend_from_slice(v);
                        return true;
                    }
                    Some(a) => self.whole(a, &text, buf).is_some(),
                    None => self.scan(&text, buf),
                };
                if !keep {
                    return false;
                }
                if buf.as_str() == text.as_ref() {
                    out.extend_from_slice(v);
                } else {
                    json::write_str(out, buf);
                }
                true
            }
            _ => match action {
                None | Some(Action::Keep) => {
                    out.extend_from_slice(v);
                    true
                }
                Some(Action::Drop) => false,
                Some(a) => {
                    buf.clear();
                    let text = String::from_utf8_lossy(v).into_owned();
                    self.whole(a, &text, buf);
                    json::write_str(out, buf);
                    true
                }
            },
        }
    }

    /// The masked JSON of a document; `None` when nothing changed.
    pub fn mask_json(&self, doc: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(doc.len());
        let mut path = String::new();
        let mut buf = String::new();
        self.value(&mut path, doc, false, &mut out, &mut buf);
        (out != doc).then_some(out)
    }
}

/// The end of an inward code (one or two spaces, a digit, two letters, then no letter or
/// digit) that starts at `b[i]`.
fn inward_after(b: &[u8], i: usize) -> Option<usize> {
    let spaces = b.get(i..)?.iter().take(2).take_while(|&&c| c == b' ').count();
    let s = i + spaces;
    let ok = spaces > 0
        && b.get(s).is_some_and(u8::is_ascii_digit)
        && b.get(s + 1).is_some_and(u8::is_ascii_alphabetic)
        && b.get(s + 2).is_some_and(u8::is_ascii_alphabetic)
        && !b.get(s + 3).is_some_and(u8::is_ascii_alphanumeric);
    ok.then_some(s + 3)
}

/// The end of a phone-number-shaped run at `b[i]` and its digit count: digits with one or two
/// separators between them (space, `-`, `.`, `(`, `)`) and an optional leading `+`. A run
/// with a letter or digit right after it counts no digits (it is part of a longer word).
fn number_end(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b.get(j) == Some(&b'+') {
        j += 1;
    }
    let mut last_digit = None;
    let mut digits = 0;
    while let Some(&c) = b.get(j) {
        if c.is_ascii_digit() {
            last_digit = Some(j);
            digits += 1;
            j += 1;
        } else if last_digit.is_some() || c == b'(' {
            // One or two separators ("-", ") ") with a digit after them.
            let sep = |k: usize| b.get(k).is_some_and(|c| matches!(c, b' ' | b'-' | b'.' | b'(' | b')'));
            let n = if sep(j) && sep(j + 1) { 2 } else { 1 };
            if !sep(j) || !b.get(j + n).is_some_and(u8::is_ascii_digit) {
                break;
            }
            j += n;
        } else {
            break;
        }
    }
    let end = last_digit? + 1;
    if b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return Some((end, 0));
    }
    Some((end, digits))
}

/// Masks the text values of a document's members in place, into `out` (empty when called).
/// Only the strings that may hold a number (nine digits with only separators between them) or
/// a postcode (a digit and two letters ending a word) are searched; [`blocks`] finds them
/// without reading the others. The stretches at `plain` (whole members, in order, see
/// [`plain_stretches`]) are not read at all. `Some(false)` when nothing changed (`out` is then
/// left empty); `None` when the text is not JSON as iotw writes it (the caller then takes the
/// slow, structural way).
fn mask_strings_into(
    m: &Mask,
    members: &[u8],
    plain: &[std::ops::Range<usize>],
    buf: &mut String,
    out: &mut Vec<u8>,
) -> Option<bool> {
    let phones = m.policy.phone != Action::Keep;
    let postcodes = m.policy.postcode != Action::Keep;
    let mut masking = false;
    let mut copied = 0;
    let mut strings = m.strings.borrow_mut();
    let mut fresh = Vec::new();
    let mut each = |start: usize, end: usize| {
        let quoted = members.get(start..end)?;
        let masked = match strings.get(quoted) {
            Some(known) => known,
            None => {
                let changed = m.mask_string(quoted, buf, &mut fresh)?;
                let masked = changed.then_some(fresh.as_slice());
                strings.put(quoted, masked);
                masked
            }
        };
        if let Some(masked) = masked {
            if !masking {
                masking = true;
                out.reserve(members.len() + 64);
            }
            out.extend_from_slice(members.get(copied..start)?);
            out.extend_from_slice(masked);
            copied = end;
        }
        Some(())
    };
    // The text between the plain stretches, each part starting and ending between members.
    let mut from = 0;
    for skip in plain.iter().chain(std::iter::once(&(members.len()..members.len()))) {
        let part = members.get(from..skip.start)?;
        blocks::candidate_strings(part, phones, postcodes, |s, e| each(from + s, from + e))?;
        from = skip.end;
    }
    if masking {
        out.extend_from_slice(members.get(copied..)?);
    }
    Some(masking)
}

/// Most plain stretches a document is read with; more are read like the rest.
const PLAIN_STRETCHES: usize = 4;

/// The stretches of `members` that masking need not read: the leading `@timestamp` member
/// (written by the document itself) and what the producer tagged as holding no personal
/// data ([`role::NO_PERSONAL_DATA`]), in order; stretches with only a comma between them are
/// one. A tag that does not lie on whole members (a quote where one begins, a comma or the
/// end where it ends) is not taken. Returns how many of `into` are set.
fn plain_stretches(
    members: &[u8],
    tagged: impl Iterator<Item = std::ops::Range<usize>>,
    into: &mut [std::ops::Range<usize>; PLAIN_STRETCHES],
) -> usize {
    const TS: &[u8] = b"\"@timestamp\":";
    let timestamp = members.starts_with(TS).then(|| json::string_end(members, TS.len())).flatten().map(|end| 0..end);
    let mut n = 0usize;
    for r in timestamp.into_iter().chain(tagged) {
        let whole = r.start < r.end
            && members.get(r.start) == Some(&b'"')
            && (r.start == 0 || members.get(r.start - 1) == Some(&b','))
            && (r.end == members.len() || members.get(r.end) == Some(&b','));
        if !whole {
            continue;
        }
        match n.checked_sub(1).and_then(|last| into.get_mut(last)) {
            // Out of order or overlapping: not taken.
            Some(last) if r.start < last.end => {}
            Some(last) if r.start <= last.end + 1 => last.end = r.end,
            _ => match into.get_mut(n) {
                Some(slot) => {
                    *slot = r;
                    n += 1;
                }
                None => break,
            },
        }
    }
    n
}

impl Mask {
    /// The masked form of one JSON string as written (quotes included), as JSON into `out`
    /// (emptied first); `Some(false)` when it stays as it is, `None` when it is not a JSON
    /// string.
    fn mask_string(&self, quoted: &[u8], buf: &mut String, out: &mut Vec<u8>) -> Option<bool> {
        let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
        let text = match memchr::memchr(b'\\', inner) {
            Some(_) => json::str_value(quoted)?,
            None => std::borrow::Cow::Borrowed(std::str::from_utf8(inner).ok()?),
        };
        buf.clear();
        self.scan(&text, buf);
        if buf.as_str() == text.as_ref() {
            return Some(false);
        }
        out.clear();
        json::write_str(out, buf);
        Some(true)
    }
}

impl Enricher for Mask {
    fn name(&self) -> &'static str {
        "mask"
    }

    fn enrich(&self, e: &mut Event) {
        if self.policy.is_off() {
            return;
        }
        if self.in_place {
            let mut scratch = self.scratch.borrow_mut();
            let (out, buf) = &mut *scratch;
            let mut malformed = false;
            let mut plain: [std::ops::Range<usize>; PLAIN_STRETCHES] = Default::default();
            let n = match e.finished_members() {
                Some(members) => plain_stretches(members, e.tag_ranges(role::NO_PERSONAL_DATA), &mut plain),
                None => 0,
            };
            let finished = e.replace_members_in(out, |members, out| {
                mask_strings_into(self, members, &plain[..n], buf, out).unwrap_or_else(|| {
                    malformed = true;
                    false
                })
            });
            if finished && !malformed {
                return;
            }
        }
        e.rewrite(|doc, out| match self.mask_json(doc) {
            Some(masked) => {
                *out = masked;
                true
            }
            None => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`mask_strings_into`] into a buffer of its own: the masked members, `Some(None)` when
    /// nothing changed.
    fn mask_strings(m: &Mask, members: &[u8], buf: &mut String) -> Option<Option<Vec<u8>>> {
        let mut out = Vec::new();
        Some(mask_strings_into(m, members, &[], buf, &mut out)?.then_some(out))
    }

    /// Every string of `members` searched, none passed over: what [`mask_strings`] must give.
    fn mask_every_string(m: &Mask, members: &[u8], buf: &mut String) -> Option<Option<Vec<u8>>> {
        let mut out: Option<Vec<u8>> = None;
        let (mut copied, mut i) = (0, 0);
        while let Some(q) = memchr::memchr(b'"', members.get(i..)?) {
            let start = i + q;
            let end = json::string_end(members, start)?;
            let text = json::str_value(members.get(start..end)?)?;
            buf.clear();
            m.scan(&text, buf);
            if buf.as_str() != text.as_ref() {
                let o = out.get_or_insert_with(Vec::new);
                o.extend_from_slice(members.get(copied..start)?);
                json::write_str(o, buf);
                copied = end;
            }
            i = end;
        }
        if let Some(o) = out.as_mut() {
            o.extend_from_slice(members.get(copied..)?);
        }
        Some(out)
    }

    #[test]
    fn scanning_by_words_equals_scanning_every_byte() {
        let pieces: Vec<&str> = concat!(
            "0|1|4|7|9|01132 496|0113|496 0000| |  |-|.|(|)|+|+44|(0)|0044|AB|x|LS1 4AP|ls14ap|1AA|SW1A|M1|",
            "EC1A 1BB|4AP|a1bc|9ZZ9|é|:|/|@|sip:|tel:|07700900123|anonymous|;|\\t"
        )
        .split('|')
        .collect();
        let mut policies = Vec::new();
        for (phone, postcode) in [
            (Action::Hash, Action::Truncate),
            (Action::Hash, Action::Hash),
            (Action::Drop, Action::Drop),
            (Action::Truncate, Action::Keep),
            (Action::Keep, Action::Drop),
        ] {
            policies.push(Policy { phone, postcode, user_data: Action::Keep, fields: vec![] });
        }
        let masks: Vec<Mask> = policies
            .into_iter()
            .map(|p| Mask::new(p, Some(b"test"), Dialling { outside_line: "9".into() }).unwrap())
            .collect();
        let mut state = 0x853c_49e6_748f_ea9bu64;
        let mut changed = 0;
        for _ in 0..20_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..state % 16 {
                text.push_str(pieces[((state >> (k * 4)) as usize ^ (k as usize * 7)) % pieces.len()]);
            }
            for m in &masks {
                let (mut want, mut got) = (String::new(), String::new());
                let (w, g) = (m.scan_words(&text, &mut want, false), m.scan(&text, &mut got));
                assert_eq!((g, &got), (w, &want), "{text:?}");
                changed += usize::from(want != text);
            }
        }
        assert!(changed > 5_000, "{changed}");
    }

    /// Documents as a simulated site makes them are masked the same as by a byte-by-byte
    /// reading of every string.
    #[test]
    fn masking_by_blocks_equals_masking_every_string() {
        let texts = [
            "call from 01132 496000 about LS1 4AP",
            "+44 (0)20 7946 0958",
            "07700 900123",
            "sip:01134960000@10.0.0.1:5060;user=phone",
            "<tel:+441632960001>;tag=9fxced76sl",
            "SW1A 1AA\\ and \\\"EC1A 1BB\\\"",
            "2026-11-27T10:00:00.123456Z",
            "10.10.1.23",
            "caf\\u00e9 1AA",
            "no numbers here, but 12345678 and 1 2 3 4 5 6 7 8",
        ];
        let policies = [
            Policy::preset("standard").unwrap(),
            {
                let mut p = Policy::preset("standard").unwrap();
                p.postcode = Action::Hash;
                p
            },
            {
                let mut p = Policy::preset("standard").unwrap();
                p.phone = Action::Keep;
                p
            },
        ];
        let mut changed = 0;
        for policy in policies {
            let m = Mask::new(policy, Some(b"test"), Dialling::default()).unwrap();
            for a in 0..texts.len() {
                for pad in [0, 7, 40, 61, 300] {
                    let members = format!(
                        "\"@timestamp\":\"2026-11-27T10:00:00Z\",\"{}\":\"{}{}\",\"n\":{},\"o\":{{\"x\":\"{}\"}}",
                        texts[(a + 1) % texts.len()],
                        "p".repeat(pad),
                        texts[a],
                        a * 1_000_000_007,
                        texts[(a + 3) % texts.len()],
                    );
                    let (mut b1, mut b2) = (String::new(), String::new());
                    let want = mask_every_string(&m, members.as_bytes(), &mut b1);
                    let got = mask_strings(&m, members.as_bytes(), &mut b2);
                    assert_eq!(got, want, "{members}");
                    // Again: now from the strings remembered.
                    assert!(m.strings.borrow().keys.iter().any(|k| k.0[0] != 0));
                    assert_eq!(mask_strings(&m, members.as_bytes(), &mut b2), want, "{members}");
                    changed += usize::from(matches!(want, Some(Some(_))));
                }
            }
        }
        assert!(changed > 50, "{changed}");
    }

    #[test]
    fn plain_stretches_lie_on_whole_members_in_order() {
        type Stretch = (usize, usize);
        let members: &[u8] = br#""@timestamp":"2026-11-27T10:00:00.000000Z","source":{"ip":"10.0.0.1"},"network":{"t":"udp"},"message":"x","sip":{"a":"b"},"n":1"#;
        let at = |s: &str| members.windows(s.len()).position(|w| w == s.as_bytes()).unwrap();
        let ts: Stretch = (0, at(",\"source\""));
        let src: Stretch = (at("\"source\""), at(",\"message\""));
        let sip: Stretch = (at("\"sip\""), at(",\"n\""));
        let stretches = |members: &[u8], tags: &[Stretch]| -> Vec<Stretch> {
            let mut into: [std::ops::Range<usize>; PLAIN_STRETCHES] = Default::default();
            let n = plain_stretches(members, tags.iter().map(|&(s, e)| s..e), &mut into);
            into[..n].iter().map(|r| (r.start, r.end)).collect()
        };
        // The timestamp and a stretch right after it are one.
        assert_eq!(stretches(members, &[src, sip]), vec![(ts.0, src.1), sip]);
        assert_eq!(stretches(members, &[]), vec![ts]);
        // Not on whole members, out of order, overlapping: not taken.
        for bad in [
            (src.0 + 1, src.1),
            (src.0, src.1 - 1),
            (src.0, src.1 + 1),
            (at("udp"), src.1),
            (sip.0, members.len() + 1),
            (sip.0, sip.0),
        ] {
            assert_eq!(stretches(members, &[bad]), vec![ts], "{bad:?}");
        }
        assert_eq!(stretches(members, &[sip, src]), vec![ts, sip]);
        assert_eq!(stretches(members, &[src, src]), vec![(ts.0, src.1)]);
        // The last member, and no more stretches than there is room for.
        let last = (at("\"n\""), members.len());
        assert_eq!(stretches(members, &[sip, last]), vec![ts, (sip.0, last.1)]);
        let members: &[u8] = br#""a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10"#;
        let each: Vec<Stretch> = (0..9).map(|k| (6 * k, 6 * k + 5)).chain([(54, members.len())]).collect();
        let every_other: Vec<Stretch> = each.iter().step_by(2).copied().collect();
        assert_eq!(stretches(members, &every_other), every_other[..PLAIN_STRETCHES]);
        assert_eq!(stretches(members, &each), vec![(0, members.len())]);
    }

    /// What lies in a plain stretch is left as it is (even what looks like a number or a
    /// postcode); the rest is masked as ever.
    #[test]
    fn plain_stretches_are_passed_over_and_the_rest_is_masked() {
        let m = Mask::new(Policy::preset("standard").unwrap(), Some(b"test"), Dialling::default()).unwrap();
        let members: &[u8] = br#""@timestamp":"2026-11-27T10:00:00.000000Z","source":{"ip":"10.0.0.1","geo":{"name":"Leeds LS1 4AP, 0113 496 0000"}},"message":"call 0113 496 0000 about LS1 4AP","o":{"p":"07700 900123"}"#;
        let at = |s: &str| members.windows(s.len()).position(|w| w == s.as_bytes()).unwrap();
        let end = at(",\"message\"");
        let mut buf = String::new();
        let mut into: [std::ops::Range<usize>; PLAIN_STRETCHES] = Default::default();
        let n = plain_stretches(members, std::iter::once(at("\"source\"")..end), &mut into);
        assert_eq!((n, into[0].clone()), (1, 0..end));
        let mut got = Vec::new();
        assert_eq!(mask_strings_into(&m, members, &into[..n], &mut buf, &mut got), Some(true));
        let tail = mask_every_string(&m, &members[end..], &mut buf).unwrap().unwrap();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&[&members[..end], &tail[..]].concat()));
        // Read whole, the stretch has a number and a postcode to mask.
        let whole = mask_every_string(&m, members, &mut buf).unwrap().unwrap();
        assert_ne!(whole[..end], members[..end]);
    }

    #[test]
    fn a_line_holds_exactly_its_text() {
        for n in 1..=Line::MAX {
            let text: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            let mut line = Line::EMPTY;
            assert!(!line.holds(&text));
            line.set(&text);
            assert!(line.holds(&text), "{n}");
            assert_eq!(line.text(), &text[..]);
            assert!(!line.holds(&text[..n - 1]), "{n}");
            for i in 0..n {
                let mut other = text.clone();
                other[i] ^= 1;
                assert!(!line.holds(&other), "{n} {i}");
            }
        }
    }

    #[test]
    fn strings_are_remembered_two_to_a_set_the_older_going_first() {
        let mut r = Remembered::default();
        let key = |i: usize| format!("\"{i:09}\"").into_bytes();
        assert_eq!(r.get(&key(1)), None);
        r.put(&key(1), Some(b"\"h:1\""));
        r.put(&key(2), None);
        assert_eq!(r.get(&key(1)), Some(Some(&b"\"h:1\""[..])));
        assert_eq!(r.get(&key(2)), Some(None));
        // Three strings of one set: the one used less recently goes.
        let set = r.set_of(&key(1));
        let same: Vec<Vec<u8>> = (3..).map(key).filter(|k| r.set_of(k) == set).take(2).collect();
        r.put(&key(1), Some(b"\"a\""));
        r.put(&same[0], Some(b"\"b\""));
        assert_eq!(r.get(&key(1)), Some(Some(&b"\"a\""[..])));
        r.put(&same[1], Some(b"\"c\""));
        assert_eq!(r.get(&same[0]), None);
        assert_eq!(r.get(&key(1)), Some(Some(&b"\"a\""[..])));
        assert_eq!(r.get(&same[1]), Some(Some(&b"\"c\""[..])));
        // What does not fit a line is not remembered; the longest that fits is.
        let long = vec![b'7'; Line::MAX + 1];
        r.put(&long, None);
        assert_eq!(r.get(&long), None);
        r.put(&key(4), Some(&long));
        assert_eq!(r.get(&key(4)), None);
        r.put(&long[1..], Some(&long[1..]));
        assert_eq!(r.get(&long[1..]), Some(Some(&long[1..])));
        // A prefix of a remembered string is another string.
        assert_eq!(r.get(&long[2..]), None);
    }
}
