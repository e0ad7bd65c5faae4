//! The JSON text of documents: writing strings, numbers and times straight into a buffer,
//! walking the members of an object that was written that way, and merging fields set later
//! by dotted name into it.
//!
//! Only JSON this crate wrote is walked, but the walker still treats its input as untrusted:
//! it never panics and stops at the first byte it does not expect.

use std::borrow::Cow;

/// Bytes that must be escaped inside a JSON string: controls, `"` and `\`.
const fn escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}
static ESCAPE: [bool; 256] = escape_table();

/// Writes `s` as a JSON string.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_str_content(out, s);
    out.push(b'"');
}

/// Writes `s` escaped, without the quotes.
#[inline(always)]
pub fn write_str_content(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if any_escape(b) {
        write_escaped(out, b);
    } else {
        out.extend_from_slice(b);
    }
}

/// Writes ASCII bytes escaped, without the quotes (other bytes are the caller's to avoid:
/// they would be written as they are).
#[inline(always)]
pub fn write_ascii_content(out: &mut Vec<u8>, b: &[u8]) {
    debug_assert!(b.is_ascii(), "not ASCII: {b:?}");
    if any_escape(b) {
        write_escaped(out, b);
    } else {
        out.extend_from_slice(b);
    }
}

/// Whether `s` has a byte that must be escaped in a JSON string.
pub fn needs_escaping(s: &str) -> bool {
    any_escape(s.as_bytes())
}

/// Whether any byte of `b` must be escaped, eight bytes at a time.
#[inline(always)]
fn any_escape(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        if needs_escape(u64::from_le_bytes(w)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| ESCAPE[usize::from(c)])
}

#[cold]
fn write_escaped(out: &mut Vec<u8>, b: &[u8]) {
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        if !ESCAPE[usize::from(c)] {
            continue;
        }
        out.extend_from_slice(&b[run..i]);
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
        }
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
}

/// Whether any of the eight bytes in `w` is a control byte, `"` or `\`.
#[inline(always)]
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes below 0x20 (ASCII only: bytes with the high bit set never need escaping).
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | quote_or_backslash(w) != 0
}

#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Bytes as lowercase hex digits, how documents show ConnIDs and binary values.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    b.iter().flat_map(|x| [char::from(DIGITS[usize::from(x >> 4)]), char::from(DIGITS[usize::from(x & 0xf)])]).collect()
}

/// Writes an IP address as a JSON string (its text never needs escaping).
pub fn write_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    use std::io::Write;
    out.push(b'"');
    match ip {
        std::net::IpAddr::V4(a) => {
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(itoa::Buffer::new().format(o).as_bytes());
            }
        }
        // Writing into a Vec cannot fail.
        std::net::IpAddr::V6(a) => drop(write!(out, "{a}")),
    }
    out.push(b'"');
}

/// Where each member of an object starts and ends.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The key as written, without its quotes (still escaped).
    pub key: &'a [u8],
    /// The value's JSON text.
    pub value: &'a [u8],
    /// The whole member, `"key":value`.
    pub whole: &'a [u8],
}

/// The members of an object's content (the text between its braces).
#[derive(Debug)]
pub struct Members<'a> {
    b: &'a [u8],
    i: usize,
    /// With [`Members::with_extents`]: where `b` starts in the document's members, and the
    /// document's containers.
    at: usize,
    extents: &'a [crate::Extent],
    /// Where in `extents` the next container is searched from.
    next_extent: usize,
    /// With [`Members::with_quotes`]: the document's closing quotes ([`Quotes::bits`]).
    quotes: &'a [u64],
}

impl<'a> Members<'a> {
    pub fn new(content: &'a [u8]) -> Self {
        Members { b: content, i: 0, at: 0, extents: &[], next_extent: 0, quotes: &[] }
    }

    /// The members of `content`, which lies at offset `at` of a finished document's members
    /// whose containers are `extents` ([`crate::Event::extents`]): a container value is
    /// skipped by its recorded end instead of being read through.
    pub fn with_extents(content: &'a [u8], at: usize, extents: &'a [crate::Extent]) -> Self {
        Members { b: content, i: 0, at, extents, next_extent: 0, quotes: &[] }
    }

    /// [`Members::with_extents`], and where the document's strings end (`quotes`, made by
    /// [`Quotes::find`] over the same document's members): a string is then stepped over
    /// by its closing quote's bit instead of being read through.
    pub fn with_quotes(content: &'a [u8], at: usize, extents: &'a [crate::Extent], quotes: &'a Quotes) -> Self {
        Members { b: content, i: 0, at, extents, next_extent: 0, quotes: &quotes.bits }
    }

    /// Containers are looked for from the `k`th of the extents on: the first that can be
    /// this object's (say, the one after the extent of the container this object is the
    /// content of, [`Members::next_extent`]). Those before are not looked at; a container
    /// whose extent is among them is read through instead.
    pub fn from_extent(mut self, k: usize) -> Self {
        self.next_extent = k;
        self
    }

    /// The index, among the extents, after that of the last container met (the first
    /// container inside it, if it has any).
    pub fn next_extent(&self) -> usize {
        self.next_extent
    }

    /// [`string_end`], by the quotes when there are.
    #[inline(always)]
    fn string_end(&self, i: usize) -> Option<usize> {
        if self.quotes.is_empty() {
            return string_end(self.b, i);
        }
        if self.b.get(i) != Some(&b'"') {
            return None;
        }
        let close = next_bit(self.quotes, self.at.checked_add(i)? + 1)?;
        let end = close.checked_sub(self.at)? + 1;
        (end <= self.b.len()).then_some(end)
    }

    /// Where the container opening at `b[v]` ends, by the extents; `None` when it is not
    /// among them or its recorded end is not its closing bracket.
    #[inline(always)]
    fn recorded_end(&mut self, v: usize, open: u8) -> Option<usize> {
        let close = if open == b'{' { b'}' } else { b']' };
        // `v` is an offset into `b`, which lies at `at` in a text that fits memory.
        let start = self.at.wrapping_add(v);
        // Most often it is the very next one.
        let found = match self.extents.get(self.next_extent) {
            Some(x) if x.start as usize == start => {
                self.next_extent += 1;
                x
            }
            _ => self.search_extent(u32::try_from(start).ok()?)?,
        };
        let end = (found.end as usize).checked_sub(self.at)?;
        (end > v && self.b.get(end - 1) == Some(&close)).then_some(end)
    }

    /// The extent that starts at `start`, past the next one: the containers of an object come
    /// in order, so it lies after the one before, often past a few nested in it.
    fn search_extent(&mut self, start: u32) -> Option<&'a crate::Extent> {
        let rest = self.extents.get(self.next_extent..)?;
        let k = match rest.iter().take(4).position(|x| x.start >= start) {
            Some(k) => k,
            None => rest.partition_point(|x| x.start < start),
        };
        let found = rest.get(k).filter(|x| x.start == start)?;
        self.next_extent += k + 1;
        Some(found)
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<Member<'a>> {
        let b = self.b;
        let mut i = skip_ws(b, self.i);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        let start = i;
        let key_end = self.string_end(i)?;
        let key = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let v = skip_ws(b, i + 1);
        let v_end = match b.get(v) {
            Some(&open @ (b'{' | b'[')) if !self.extents.is_empty() => match self.recorded_end(v, open) {
                Some(end) => end,
                None => value_end(b, v)?,
            },
            Some(b'"') => self.string_end(v)?,
            _ => value_end(b, v)?,
        };
        self.i = v_end;
        Some(Member { key, value: &b[v..v_end], whole: &b[start..v_end] })
    }
}

/// Where the strings of a text end: one bit per byte, set on each quote that is not escaped.
/// In JSON those quotes open and close the strings in turn, so the one after a string's
/// opening quote is its closing quote, found without reading what lies between
/// ([`Members::with_quotes`]). Made 64 bytes at a time; the buffer is kept from text to text.
#[derive(Debug, Clone, Default)]
pub struct Quotes {
    bits: Vec<u64>,
}

impl Quotes {
    /// Finds the quotes of `text` (forgetting those of the text before).
    pub fn find(&mut self, text: &[u8]) -> &Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: this processor has AVX2, the one feature the function is compiled
            // for, checked just above.
            #[allow(unsafe_code)]
            unsafe {
                self.find_avx2(text)
            };
            return self;
        }
        self.find_with(text, quotes_and_backslashes);
        self
    }

    /// With AVX2: 32 bytes per instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn find_avx2(&mut self, text: &[u8]) {
        self.find_with(text, |b| quotes_and_backslashes_avx2(b));
    }

    /// [`Quotes::find`], classifying each block of 64 bytes by `classify`.
    #[inline(always)]
    fn find_with(&mut self, text: &[u8], classify: impl Fn(&[u8]) -> (u64, u64)) {
        self.bits.clear();
        self.bits.reserve(text.len().div_ceil(64));
        // Whether the first byte of the next block follows an unpaired backslash.
        let mut escaping = false;
        for block in text.chunks(64) {
            let (quote, backslash) = match block.len() {
                64 => classify(block),
                n => {
                    // The last, shorter block: the bytes past the text are neither.
                    let mut padded = [0u8; 64];
                    padded[..n].copy_from_slice(block);
                    classify(&padded)
                }
            };
            self.bits.push(quote & !escaped(backslash, &mut escaping));
        }
    }

    /// One word per 64 bytes of the text; bit `i % 64` of word `i / 64` stands for byte `i`.
    pub fn bits(&self) -> &[u64] {
        &self.bits
    }
}

/// The bytes of a block that a backslash escapes, given the backslashes' bits and whether
/// the block's first byte is escaped by the block before (updated for the next block).
#[inline(always)]
fn escaped(backslash: u64, escaping: &mut bool) -> u64 {
    let mut out = u64::from(std::mem::take(escaping));
    if backslash & !out == 0 {
        return out;
    }
    // Rare in documents: a byte at a time.
    for i in 0..64 {
        let bit = 1u64 << i;
        if out & bit == 0 && backslash & bit != 0 {
            match bit.checked_shl(1).filter(|&b| b != 0) {
                Some(next) => out |= next,
                None => *escaping = true,
            }
        }
    }
    out
}

/// The bits of the quotes and of the backslashes of a 64-byte block.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
fn quotes_and_backslashes(block: &[u8]) -> (u64, u64) {
    // SAFETY: SSE2 is part of every x86-64 processor (the target's baseline), so the one
    // feature `quotes_and_backslashes_sse2` needs is always there. Nothing else in it is
    // unsafe.
    unsafe { quotes_and_backslashes_sse2(block) }
}

/// The eight bytes of `chunk` from `at`, as a vector lane.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn word_at(chunk: &[u8], at: usize) -> i64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&chunk[at..at + 8]);
    i64::from_le_bytes(w)
}

/// 16 bytes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn quotes_and_backslashes_sse2(block: &[u8]) -> (u64, u64) {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x};
    let (mut quote, mut backslash) = (0u64, 0u64);
    for (k, chunk) in block.chunks_exact(16).take(4).enumerate() {
        let v = _mm_set_epi64x(word_at(chunk, 8), word_at(chunk, 0));
        let bits = |c: u8| u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16);
        quote |= bits(b'"') << (16 * k);
        backslash |= bits(b'\\') << (16 * k);
    }
    (quote, backslash)
}

/// 32 bytes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn quotes_and_backslashes_avx2(block: &[u8]) -> (u64, u64) {
    use std::arch::x86_64::{_mm256_cmpeq_epi8, _mm256_movemask_epi8, _mm256_set1_epi8, _mm256_set_epi64x};
    let (mut quote, mut backslash) = (0u64, 0u64);
    for (k, chunk) in block.chunks_exact(32).take(2).enumerate() {
        let v = _mm256_set_epi64x(word_at(chunk, 24), word_at(chunk, 16), word_at(chunk, 8), word_at(chunk, 0));
        let bits = |c: u8| u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8))) as u32);
        quote |= bits(b'"') << (32 * k);
        backslash |= bits(b'\\') << (32 * k);
    }
    (quote, backslash)
}

#[cfg(not(target_arch = "x86_64"))]
fn quotes_and_backslashes(block: &[u8]) -> (u64, u64) {
    quotes_and_backslashes_bytewise(block)
}

/// The same, a byte at a time: the reference the vector version is tested against, and the
/// version for other processors.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn quotes_and_backslashes_bytewise(block: &[u8]) -> (u64, u64) {
    let (mut quote, mut backslash) = (0u64, 0u64);
    for (i, &c) in block.iter().take(64).enumerate() {
        quote |= u64::from(c == b'"') << i;
        backslash |= u64::from(c == b'\\') << i;
    }
    (quote, backslash)
}

/// The first set bit at or after `from` in `words` (one bit per byte, as [`Quotes::bits`]).
#[inline(always)]
fn next_bit(words: &[u64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut bits = words.get(w)? & (u64::MAX << (from % 64));
    while bits == 0 {
        w += 1;
        bits = *words.get(w)?;
    }
    Some(w * 64 + bits.trailing_zeros() as usize)
}

/// The elements of an array's content (the text between its brackets), as JSON texts.
#[derive(Debug)]
pub struct Elements<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Elements<'a> {
    pub fn new(content: &'a [u8]) -> Self {
        Elements { b: content, i: 0 }
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let b = self.b;
        let mut i = skip_ws(b, self.i);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        let end = value_end(b, i)?;
        self.i = end;
        b.get(i..end)
    }
}

/// The content of an array value (between its brackets), if `v` is an array.
pub fn array_content(v: &[u8]) -> Option<&[u8]> {
    match v {
        [b'[', inner @ .., b']'] => Some(inner),
        _ => None,
    }
}

#[inline(always)]
fn skip_ws(b: &[u8], i: usize) -> usize {
    // Every whitespace byte is at most a space; documents written here have none.
    match b.get(i) {
        Some(&c) if c <= b' ' => skip_ws_from(b, i),
        _ => i,
    }
}

fn skip_ws_from(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `b[i]` opens a string: the index just past its closing quote.
pub fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    // Most strings in documents are short: they are read eight bytes at a time, which costs
    // less than starting a vector search; a long one goes on with one.
    let by_hand = b.len().min(j + 64);
    while j < by_hand {
        match word(b, j) {
            Some(w) => {
                let hits = quote_or_backslash(w);
                if hits == 0 {
                    j += 8;
                    continue;
                }
                // The lowest flagged byte is always a real one.
                j += (hits.trailing_zeros() / 8) as usize;
            }
            None => {
                while b.get(j).is_some_and(|&c| c != b'"' && c != b'\\') {
                    j += 1;
                }
            }
        }
        match b.get(j)? {
            b'"' => return Some(j + 1),
            _ => j += 2,
        }
    }
    loop {
        j += memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        match b.get(j)? {
            b'"' => return Some(j + 1),
            _ => j += 2,
        }
    }
}

/// The eight bytes of `b` from `j` as a little-endian word; `None` past its end.
#[inline(always)]
pub fn word(b: &[u8], j: usize) -> Option<u64> {
    let mut w = [0u8; 8];
    w.copy_from_slice(b.get(j..j.checked_add(8)?)?);
    Some(u64::from_le_bytes(w))
}

/// The high bit of each byte of `w` that is a quote or a backslash (and maybe of bytes
/// above the first such byte: only the lowest flag is exact).
#[inline(always)]
fn quote_or_backslash(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\')))
}

/// The high bit of each byte of `w` that is a quote, a brace or a square bracket (and maybe
/// of bytes above the first such byte: only the lowest flag is exact).
#[inline(always)]
fn quote_or_bracket(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // Setting bit 5 makes `[` a `{` and `]` a `}`.
    let folded = w | (ONES * 0x20);
    has_zero(folded ^ (ONES * u64::from(b'{')))
        | has_zero(folded ^ (ONES * u64::from(b'}')))
        | has_zero(w ^ (ONES * u64::from(b'"')))
}

/// The index just past the value starting at `b[i]`.
pub fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                // Eight bytes at a time to the next byte that may be a quote or a bracket.
                if let Some(w) = word(b, j) {
                    let hits = quote_or_bracket(w);
                    if hits == 0 {
                        j += 8;
                        continue;
                    }
                    j += (hits.trailing_zeros() / 8) as usize;
                }
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let n = b[i..].iter().position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace());
            let end = n.map_or(b.len(), |n| i + n);
            (end > i).then_some(end)
        }
    }
}

/// The content of an object value (between its braces), if `v` is an object.
pub fn object_content(v: &[u8]) -> Option<&[u8]> {
    match v {
        [b'{', inner @ .., b'}'] => Some(inner),
        _ => None,
    }
}

/// Finds the value at a dotted path inside an object's content.
pub fn lookup<'a>(content: &'a [u8], path: &str) -> Option<&'a [u8]> {
    let (first, rest) = match path.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (path, None),
    };
    let m = Members::new(content).find(|m| m.key == first.as_bytes())?;
    match rest {
        None => Some(m.value),
        Some(rest) => lookup(object_content(m.value)?, rest),
    }
}

/// The bytes between the quotes of a JSON string value without escapes (as [`str_value`]
/// would borrow them, but not checked for UTF-8).
pub fn unescaped_string(v: &[u8]) -> Option<&[u8]> {
    match v {
        [b'"', inner @ .., b'"'] if !has_backslash(inner) => Some(inner),
        _ => None,
    }
}

/// A JSON string value as text: borrowed when it has no escapes.
pub fn str_value(v: &[u8]) -> Option<Cow<'_, str>> {
    let inner = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => return None,
    };
    if !has_backslash(inner) {
        return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
    }
    serde_json::from_slice::<String>(v).ok().map(Cow::Owned)
}

/// Whether `b` has a backslash, eight bytes at a time: the strings of documents are mostly
/// short, and this costs less than starting a vector search.
#[inline]
fn has_backslash(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ (ONES * u64::from(b'\\'));
        if x.wrapping_sub(ONES) & !x & HIGH != 0 {
            return true;
        }
    }
    chunks.remainder().contains(&b'\\')
}

/// A field set by dotted name after the document was written (or instead of writing it).
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    pub name: Box<str>,
    pub value: Box<[u8]>,
}

/// Writes the object whose content is `base` (absent: an empty object) with `patches` merged
/// in. Each patch is (the rest of its path, its value); later patches win over earlier ones
/// and over the base, and a deeper field wins over a shallower one at the same name
/// (`a.b` set after `a` makes `a` an object).
pub fn merge(out: &mut Vec<u8>, base: Option<&[u8]>, patches: &[(&str, &[u8])]) {
    out.push(b'{');
    let mut first = true;
    let mut used = vec![false; patches.len()];
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if let Some(base) = base {
        for m in Members::new(base) {
            let mine: Vec<usize> = (0..patches.len()).filter(|&i| head(patches[i].0).as_bytes() == m.key).collect();
            sep(out);
            if mine.is_empty() {
                out.extend_from_slice(m.whole);
                continue;
            }
            for &i in &mine {
                used[i] = true;
            }
            out.extend_from_slice(&m.whole[..m.whole.len() - m.value.len()]);
            write_group(out, object_content(m.value), patches, &mine);
        }
    }
    // Names the base did not have, in the order they were first set.
    for i in 0..patches.len() {
        if used[i] {
            continue;
        }
        let h = head(patches[i].0);
        let mine: Vec<usize> = (i..patches.len()).filter(|&j| !used[j] && head(patches[j].0) == h).collect();
        for &j in &mine {
            used[j] = true;
        }
        sep(out);
        write_str(out, h);
        out.push(b':');
        write_group(out, None, patches, &mine);
    }
    out.push(b'}');
}

/// The first segment of a dotted name.
fn head(p: &str) -> &str {
    p.split_once('.').map_or(p, |(a, _)| a)
}

/// The value of one member from the patches `mine` (all with the same head) over `base`.
fn write_group(out: &mut Vec<u8>, base: Option<&[u8]>, patches: &[(&str, &[u8])], mine: &[usize]) {
    let deeper: Vec<(&str, &[u8])> =
        mine.iter().filter_map(|&i| Some((patches[i].0.split_once('.')?.1, patches[i].1))).collect();
    if deeper.is_empty() {
        // Only whole values: the last one set wins.
        if let Some(&last) = mine.last() {
            out.extend_from_slice(patches[last].1);
        }
        return;
    }
    // A whole-value patch followed by deeper ones: the deeper fields merge into it if it is
    // an object, else they replace it.
    let whole = mine.iter().rev().find(|&&i| !patches[i].0.contains('.')).map(|&i| patches[i].1);
    let inner = match whole {
        Some(w) => object_content(w),
        None => base,
    };
    merge(out, inner, &deeper);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &str, patches: &[(&str, &str)]) -> serde_json::Value {
        let p: Vec<(&str, &[u8])> = patches.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        let mut out = Vec::new();
        merge(&mut out, Some(base.as_bytes()), &p);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn members_split_values_as_serde_json_reads_them() {
        // Strings of every length around the eight-byte steps, with quotes, backslashes and
        // brackets inside them at every offset, in objects and arrays nested both ways.
        let mut texts = Vec::new();
        for len in 0..20 {
            for at in 0..len.max(1) {
                for special in ["\"", "\\", "}", "]", "{[", "\u{1}", "é"] {
                    let mut t: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    if at <= t.len() && t.is_char_boundary(at) {
                        t.insert_str(at, special);
                    }
                    texts.push(t);
                }
            }
        }
        for (n, t) in texts.iter().enumerate() {
            let doc = serde_json::json!({
                "k": t,
                "o": {"a": [t, {"b": t}, [1, [2, t]]], "n": n, "e": {}},
                "a": [[], {}, t, null, true, -1.5e3],
                "last": n,
            });
            let text = doc.to_string();
            let content = object_content(text.as_bytes()).unwrap();
            let got: Vec<(String, serde_json::Value)> = Members::new(content)
                .map(|m| (String::from_utf8(m.key.to_vec()).unwrap(), serde_json::from_slice(m.value).unwrap()))
                .collect();
            let want: Vec<(String, serde_json::Value)> =
                doc.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(got, want, "{text}");
        }
    }

    /// Every member of `content` (at offset `at` of `whole`), then those of each object
    /// value, depth first, as `whole` members by [`Members::with_quotes`] or [`Members::new`].
    fn all_members<'a>(whole: &'a [u8], content: &'a [u8], quotes: Option<&'a Quotes>, out: &mut Vec<&'a [u8]>) {
        let at = content.as_ptr() as usize - whole.as_ptr() as usize;
        let members = match quotes {
            Some(q) => Members::with_quotes(content, at, &[], q),
            None => Members::new(content),
        };
        for m in members {
            out.push(m.whole);
            if let Some(inner) = object_content(m.value) {
                all_members(whole, inner, quotes, out);
            }
        }
    }

    #[test]
    fn members_by_quotes_split_as_members_read_through() {
        let mut quotes = Quotes::default();
        let mut checked = 0;
        for pad in 0..70 {
            for special in ["\"", "\\", "\\\"", "\\\\", "é\\", "}{"] {
                for len in [0, 1, 7, 8, 30, 63, 64, 65, 130] {
                    let mut t: String = "x".repeat(len);
                    t.insert_str(len / 2, special);
                    let doc = serde_json::json!({
                        "p": "-".repeat(pad),
                        "k": t,
                        "o": {"a": [t, {"b": t}], t.clone(): {"c": t, "d": 1}, "e": {}},
                        "n": -1.5,
                        "last": t,
                    });
                    let text = doc.to_string();
                    let content = object_content(text.as_bytes()).unwrap();
                    quotes.find(content);
                    let (mut fast, mut plain) = (Vec::new(), Vec::new());
                    all_members(content, content, Some(&quotes), &mut fast);
                    all_members(content, content, None, &mut plain);
                    assert_eq!(fast, plain, "{text}");
                    assert_eq!(plain.len(), 10, "{text}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 70 * 6 * 9);
    }

    #[test]
    fn quotes_are_the_unescaped_ones_in_any_text() {
        // Texts of quotes, backslashes and others in every mix, of lengths around the blocks,
        // against a byte-at-a-time reading.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut quotes = Quotes::default();
        for n in 0..3000 {
            let len = (next() % 200) as usize;
            // Some texts are mostly backslashes, so that long runs cross the blocks' edges.
            let heavy = n % 3 == 0;
            let text: Vec<u8> = (0..len)
                .map(|_| match next() % 8 {
                    0 | 1 => b'"',
                    2..=4 if heavy => b'\\',
                    2 => b'\\',
                    3 => 0xc3,
                    _ => b'a',
                })
                .collect();
            let mut want = vec![0u64; len.div_ceil(64)];
            let mut escaping = false;
            for (i, &c) in text.iter().enumerate() {
                if escaping {
                    escaping = false;
                } else if c == b'\\' {
                    escaping = true;
                } else if c == b'"' {
                    want[i / 64] |= 1 << (i % 64);
                }
            }
            assert_eq!(quotes.find(&text).bits(), &want[..], "{:?}", String::from_utf8_lossy(&text));
            for block in text.chunks(64).filter(|b| b.len() == 64) {
                assert_eq!(quotes_and_backslashes(block), quotes_and_backslashes_bytewise(block));
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: checked just above.
                    #[allow(unsafe_code)]
                    let avx2 = unsafe { quotes_and_backslashes_avx2(block) };
                    assert_eq!(avx2, quotes_and_backslashes_bytewise(block));
                }
            }
            // The other way than `find` takes on this processor.
            let mut other = Quotes::default();
            other.find_with(&text, quotes_and_backslashes_bytewise);
            assert_eq!(other.bits(), &want[..]);
        }
    }

    #[test]
    fn members_by_quotes_split_any_text_as_members_read_through() {
        // After a quote, which quotes a backslash escapes does not depend on what came
        // before it: on any text, JSON or not, both ways find the same members.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut quotes = Quotes::default();
        let mut found = 0;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 90) as usize;
            // Pieces of members, escapes and stray quotes, in any order.
            let pieces: [&[u8]; 12] =
                [br#""k":"#, br#""v""#, b",", b"1", b"{", b"}", br"\", br#"""#, br#"\""#, b"a", b":", br#""\\""#];
            let text: Vec<u8> = (0..len / 3)
                .flat_map(|k| {
                    let r = seed.rotate_left(k as u32 * 5) ^ (k as u64).wrapping_mul(0x9e37_79b9);
                    pieces[(r % pieces.len() as u64) as usize].iter().copied()
                })
                .collect();
            quotes.find(&text);
            let plain: Vec<_> = Members::new(&text).map(|m| (m.key, m.value, m.whole)).collect();
            let fast: Vec<_> =
                Members::with_quotes(&text, 0, &[], &quotes).map(|m| (m.key, m.value, m.whole)).collect();
            assert_eq!(fast, plain, "{:?}", String::from_utf8_lossy(&text));
            found += plain.len();
        }
        assert!(found > 1_000, "only {found} members in all the texts");
    }

    #[test]
    fn a_string_past_the_quotes_found_is_no_member() {
        // Quotes found for a shorter text than the one walked: the walk stops, without a panic.
        let text = br#""a":"1","b":"2""#;
        let mut quotes = Quotes::default();
        quotes.find(&text[..7]);
        let got: Vec<_> = Members::with_quotes(text, 0, &[], &quotes).map(|m| m.whole).collect();
        assert_eq!(got, vec![&text[..7]]);
        quotes.find(b"");
        assert_eq!(Members::with_quotes(text, 0, &[], &quotes).count(), 2, "no quotes: read through");
    }

    #[test]
    fn ascii_bytes_are_written_as_their_text_is() {
        for b in [&b""[..], b"+441134960000", b"a\"b\\c", b"\n\x01\x1f\x7f", b"0123456789abcdef"] {
            let (mut by_bytes, mut by_text) = (Vec::new(), Vec::new());
            write_ascii_content(&mut by_bytes, b);
            write_str_content(&mut by_text, std::str::from_utf8(b).unwrap());
            assert_eq!(by_bytes, by_text, "{b:?}");
        }
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in ["plain", "q\"uote", "back\\slash", "nl\n\r\t", "\u{1}\u{1f}", "ünï", ""] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn escaping_finds_every_special_byte_at_every_offset() {
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrst".into();
                s.insert(at, special);
                s.push('é');
                let mut out = Vec::new();
                write_str(&mut out, &s);
                assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap(), "{s:?}");
            }
        }
        let mut out = Vec::new();
        write_ip(&mut out, "10.200.3.0".parse().unwrap());
        write_ip(&mut out, "2001:db8::1".parse().unwrap());
        assert_eq!(out, br#""10.200.3.0""2001:db8::1""#);
    }

    #[test]
    fn members_and_lookup_walk_nested_values() {
        let c = br#""a":1,"b":{"c":"x\"}","d":[1,{"e":2}]},"f":true"#;
        let keys: Vec<&[u8]> = Members::new(c).map(|m| m.key).collect();
        assert_eq!(keys, [&b"a"[..], b"b", b"f"]);
        assert_eq!(lookup(c, "b.c"), Some(&br#""x\"}""#[..]));
        assert_eq!(lookup(c, "b.d"), Some(&br#"[1,{"e":2}]"#[..]));
        assert_eq!(lookup(c, "b.d.e"), None);
        assert_eq!(lookup(c, "f"), Some(&b"true"[..]));
        assert_eq!(str_value(br#""x\"}""#).as_deref(), Some("x\"}"));
    }

    #[test]
    fn a_string_value_is_borrowed_exactly_when_it_has_no_escape() {
        // (and `unescaped_string` gives its bytes exactly then)
        // An escape at every place of strings of 0 to 20 bytes: within the eight-byte words
        // looked at together, across their boundaries, and in the bytes left over.
        for len in 0..=20 {
            let plain = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let quoted = format!("\"{plain}\"");
            let got = str_value(quoted.as_bytes()).expect("a string");
            assert!(matches!(got, Cow::Borrowed(_)), "{plain:?}");
            assert_eq!(got, plain);
            assert_eq!(unescaped_string(quoted.as_bytes()), Some(plain.as_bytes()));
            for at in 0..=len {
                let text: String = "abcdefghijklmnopqrstu".chars().take(len).collect();
                for escape in ["\\\\", "\\\"", "\\n", "\\u00e9"] {
                    let json = format!("\"{}{escape}{}\"", &text[..at], &text[at..]);
                    let want: String = serde_json::from_str(&json).expect("valid JSON");
                    let got = str_value(json.as_bytes()).expect("a string");
                    assert!(matches!(got, Cow::Owned(_)), "{json}");
                    assert_eq!(unescaped_string(json.as_bytes()), None, "{json}");
                    assert_eq!(got, want, "{json}");
                }
            }
        }
        assert_eq!(str_value(b"\"\xff\""), None, "not UTF-8");
        assert_eq!(str_value(b"12"), None);
    }

    #[test]
    fn members_are_found_past_whitespace_and_stop_at_other_control_bytes() {
        let c = b" \t\n\r\"a\" \n: 1 ,\r\n \"b\"\t:\t{ \"c\" : [ 1 , 2 ] } , \"d\":\"x\"  ";
        let mut quotes = Quotes::default();
        quotes.find(c);
        for members in [Members::new(c), Members::with_quotes(c, 0, &[], &quotes)] {
            let found: Vec<(&[u8], &[u8])> = members.map(|m| (m.key, m.value)).collect();
            assert_eq!(found, [(&b"a"[..], &b"1"[..]), (b"b", br#"{ "c" : [ 1 , 2 ] }"#), (b"d", br#""x""#)]);
        }
        // A control byte that is not whitespace is no JSON: the members end there.
        let c = b"\"a\":1,\x01\"b\":2";
        assert_eq!(Members::new(c).map(|m| m.key).collect::<Vec<_>>(), [&b"a"[..]]);
        // Before a value it is the value's first byte (a scalar is taken as written).
        let c = b"\"a\":\x0b1";
        assert_eq!(Members::new(c).map(|m| m.value).collect::<Vec<_>>(), [&b"\x0b1"[..]]);
    }

    #[test]
    fn damaged_text_ends_the_walk_without_panicking() {
        for bad in [&br#""a":"#[..], br#""a""#, br#""a":{"b":1"#, br#""a\"#, b"{", b"}", br#""a":]"#] {
            let _ = Members::new(bad).count();
            let _ = lookup(bad, "a.b");
        }
    }

    #[test]
    fn patches_replace_extend_and_create() {
        let base = r#""a":1,"b":{"c":2,"d":3},"e":"x""#;
        let j = merged(base, &[("b.c", "20"), ("b.g.h", "5"), ("a", "10"), ("new.k", "\"v\""), ("e.f", "1")]);
        assert_eq!(
            j,
            serde_json::json!({"a": 10, "b": {"c": 20, "d": 3, "g": {"h": 5}}, "e": {"f": 1}, "new": {"k": "v"}})
        );
        let j = merged(base, &[("b", r#"{"z":1}"#), ("b.y", "2"), ("a", "1"), ("a", "2")]);
        assert_eq!(j, serde_json::json!({"a": 2, "b": {"z": 1, "y": 2}, "e": "x"}));
    }

    #[test]
    fn strings_end_at_their_closing_quote_at_any_length_and_escape() {
        // Every length up to past the eight-byte steps and the hand-read part, with an escaped
        // quote or backslash at every place, against a byte-by-byte reading.
        fn slow(b: &[u8], i: usize) -> Option<usize> {
            let mut j = i + 1;
            while j < b.len() {
                match b[j] {
                    b'"' => return Some(j + 1),
                    b'\\' => j += 2,
                    _ => j += 1,
                }
            }
            None
        }
        for len in 0..90 {
            for esc_at in 0..=len {
                for esc in [&b"\\\""[..], b"\\\\", b"\\u0041", b"\\"] {
                    let mut s = vec![b'"'];
                    s.extend(std::iter::repeat_n(b'a', esc_at));
                    s.extend_from_slice(esc);
                    s.extend(std::iter::repeat_n(b'b', len - esc_at));
                    for tail in [&b"\",1"[..], b"\"", b""] {
                        let mut t = s.clone();
                        t.extend_from_slice(tail);
                        assert_eq!(string_end(&t, 0), slow(&t, 0), "{:?}", String::from_utf8_lossy(&t));
                    }
                }
            }
        }
    }
}
