//! The strings of a document that may hold a phone number or a postcode, found 64 bytes at a
//! time instead of byte by byte.
//!
//! Each 64-byte block is classified once (digits, ASCII letters, number separators, quotes,
//! backslashes) into one bit mask per class, on x86-64 16 bytes per vector instruction (SSE2)
//! or 32 where the processor has AVX2, byte by byte elsewhere. What
//! is inside a string follows from the unescaped quotes (a running XOR of their bits), and
//! the two shapes the masking stage looks for are bit patterns:
//! - a phone number: a run of digits and separators (` -.()+`) with at least nine digits;
//! - a postcode's inward code: a digit, two letters, then neither a letter nor a digit.
//!
//! Only the strings where one of them starts are handed on; everything else is passed over.
//! The test is a filter, never the decision: the caller searches each string it gets.

use iotw_event::json;

/// One bit mask per class; bit `i` stands for byte `i` of the block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Classes {
    pub digit: u64,
    pub letter: u64,
    /// The bytes that may sit between the digits of a number: space, `-`, `.`, `(`, `)`, `+`.
    pub sep: u64,
    pub quote: u64,
    pub backslash: u64,
}

impl Classes {
    /// A block of spaces (what lies past the end of a text).
    const SPACES: Classes = Classes { digit: 0, letter: 0, sep: u64::MAX, quote: 0, backslash: 0 };
}

/// The classes of up to 64 bytes by `full`; bytes past the end of `block` count as spaces.
#[inline(always)]
fn classify(block: &[u8], full: impl Fn(&[u8; 64]) -> Classes) -> Classes {
    match <&[u8; 64]>::try_from(block) {
        Ok(b) => full(b),
        Err(_) => {
            let mut padded = [b' '; 64];
            let n = block.len().min(64);
            padded[..n].copy_from_slice(&block[..n]);
            full(&padded)
        }
    }
}

/// Class bits of a byte, as [`classify_avx2`] looks them up: a byte's class is the AND of
/// the entries for its low and its high nibble. Letters take two bits, one per shape of
/// their nibbles (`A`..`O`/`a`..`o` have high nibble 4 or 6 and low nibble 1 to 15,
/// `P`..`Z`/`p`..`z` 5 or 7 and 0 to 10); every other byte has at most one bit.
#[cfg(target_arch = "x86_64")]
mod nibbles {
    pub const DIGIT: u8 = 1;
    pub const LETTER_LOW: u8 = 2;
    pub const LETTER_HIGH: u8 = 4;
    pub const SEP: u8 = 8;
    pub const QUOTE: u8 = 16;
    pub const BACKSLASH: u8 = 32;

    /// By low nibble.
    pub const LOW: [u8; 16] = {
        let mut t = [0u8; 16];
        let mut l = 0;
        while l < 16 {
            let mut c = 0;
            if l <= 9 {
                c |= DIGIT;
            }
            if l >= 1 {
                c |= LETTER_LOW;
            }
            if l <= 10 {
                c |= LETTER_HIGH;
            }
            // ' ' (0x20), '(' (0x28), ')' (0x29), '+' (0x2b), '-' (0x2d), '.' (0x2e).
            if matches!(l, 0x0 | 0x8 | 0x9 | 0xb | 0xd | 0xe) {
                c |= SEP;
            }
            if l == 0x2 {
                c |= QUOTE;
            }
            if l == 0xc {
                c |= BACKSLASH;
            }
            t[l] = c;
            l += 1;
        }
        t
    };

    /// By high nibble (ASCII only: bytes from 0x80 have none).
    pub const HIGH: [u8; 16] = {
        let mut t = [0u8; 16];
        t[0x2] = SEP | QUOTE;
        t[0x3] = DIGIT;
        t[0x4] = LETTER_LOW;
        t[0x5] = LETTER_HIGH | BACKSLASH;
        t[0x6] = LETTER_LOW;
        t[0x7] = LETTER_HIGH;
        t
    };
}

/// With AVX2 (checked at run time): each byte's classes by two table look-ups of 32 bytes
/// at once, then one bit mask per class.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn classify_avx2(b: &[u8; 64]) -> Classes {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8, _mm256_set_epi64x,
        _mm256_shuffle_epi8, _mm256_slli_epi16, _mm256_srli_epi16,
    };
    let table = |t: &[u8; 16]| {
        let mut w = [0i64; 2];
        for (k, x) in w.iter_mut().enumerate() {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&t[8 * k..8 * k + 8]);
            *x = i64::from_le_bytes(bytes);
        }
        // The same 16 entries in both halves: the shuffle looks up within each.
        _mm256_set_epi64x(w[1], w[0], w[1], w[0])
    };
    let (low, high) = (table(&nibbles::LOW), table(&nibbles::HIGH));
    let nibble = _mm256_set1_epi8(0x0f);
    // Bit 7 of each byte after shifting a class bit there.
    let bit = |x: __m256i, class: u8| -> u64 {
        let m = match class {
            nibbles::DIGIT => _mm256_movemask_epi8(_mm256_slli_epi16::<7>(x)),
            nibbles::LETTER_LOW => _mm256_movemask_epi8(_mm256_slli_epi16::<6>(x)),
            nibbles::LETTER_HIGH => _mm256_movemask_epi8(_mm256_slli_epi16::<5>(x)),
            nibbles::SEP => _mm256_movemask_epi8(_mm256_slli_epi16::<4>(x)),
            nibbles::QUOTE => _mm256_movemask_epi8(_mm256_slli_epi16::<3>(x)),
            _ => _mm256_movemask_epi8(_mm256_slli_epi16::<2>(x)),
        };
        u64::from(m as u32)
    };
    let mut c = Classes::default();
    for (k, chunk) in b.chunks_exact(32).enumerate() {
        #[allow(unsafe_code)]
        // SAFETY: `chunk` is 32 bytes long (`chunks_exact`), all of which are read, and an
        // unaligned load may read from any address.
        let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()) };
        // Bytes from 0x80 have a high nibble from 8: the high table gives them nothing.
        let lo = _mm256_shuffle_epi8(low, _mm256_and_si256(v, nibble));
        let hi = _mm256_shuffle_epi8(high, _mm256_and_si256(_mm256_srli_epi16::<4>(v), nibble));
        let x = _mm256_and_si256(lo, hi);
        let shift = 32 * k;
        c.digit |= bit(x, nibbles::DIGIT) << shift;
        c.letter |= (bit(x, nibbles::LETTER_LOW) | bit(x, nibbles::LETTER_HIGH)) << shift;
        c.sep |= bit(x, nibbles::SEP) << shift;
        c.quote |= bit(x, nibbles::QUOTE) << shift;
        c.backslash |= bit(x, nibbles::BACKSLASH) << shift;
    }
    c
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn classify_full(b: &[u8; 64]) -> Classes {
    // SAFETY: SSE2 is part of every x86-64 processor (the target's baseline), so the one
    // feature `classify_sse2` needs is always there. Nothing else in it is unsafe.
    unsafe { classify_sse2(b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn classify_sse2(b: &[u8; 64]) -> Classes {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
        _mm_sub_epi8,
    };
    let splat = |c: u8| _mm_set1_epi8(c as i8);
    // Bytes in `from..from + count`, by wrapping subtraction and an unsigned comparison.
    let within = |v: __m128i, from: u8, count: u8| {
        let x = _mm_sub_epi8(v, splat(from));
        _mm_cmpeq_epi8(_mm_min_epu8(x, splat(count - 1)), x)
    };
    let bits = |m: __m128i| u64::from(_mm_movemask_epi8(m) as u16);
    let mut c = Classes::default();
    for (k, chunk) in b.chunks_exact(16).enumerate() {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&chunk[at..at + 8]);
            i64::from_le_bytes(w)
        };
        let v = _mm_set_epi64x(word(8), word(0));
        let eq = |ch: u8| _mm_cmpeq_epi8(v, splat(ch));
        let shift = 16 * k;
        c.digit |= bits(within(v, b'0', 10)) << shift;
        c.letter |= bits(within(_mm_or_si128(v, splat(0x20)), b'a', 26)) << shift;
        let sep = _mm_or_si128(
            _mm_or_si128(_mm_or_si128(eq(b' '), eq(b'-')), _mm_or_si128(eq(b'.'), eq(b'('))),
            _mm_or_si128(eq(b')'), eq(b'+')),
        );
        c.sep |= bits(sep) << shift;
        c.quote |= bits(eq(b'"')) << shift;
        c.backslash |= bits(eq(b'\\')) << shift;
    }
    c
}

#[cfg(not(target_arch = "x86_64"))]
fn classify_full(b: &[u8; 64]) -> Classes {
    classify_bytewise(b)
}

/// The same, a byte at a time: the reference the vector version is tested against, and
/// the version for other processors.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn classify_bytewise(b: &[u8; 64]) -> Classes {
    let mut c = Classes::default();
    for (i, &x) in b.iter().enumerate() {
        let bit = 1u64 << i;
        match x {
            b'0'..=b'9' => c.digit |= bit,
            b'a'..=b'z' | b'A'..=b'Z' => c.letter |= bit,
            b' ' | b'-' | b'.' | b'(' | b')' | b'+' => c.sep |= bit,
            b'"' => c.quote |= bit,
            b'\\' => c.backslash |= bit,
            _ => {}
        }
    }
    c
}

/// Bit `i` is the XOR of bits `0..=i`: with quotes as input, the bytes from an opening quote
/// up to (not including) its closing one.
fn prefix_xor(mut x: u64) -> u64 {
    for s in [1, 2, 4, 8, 16, 32] {
        x ^= x << s;
    }
    x
}

/// [`prefix_xor`] in one carry-less multiplication by all ones (as simdjson does it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::{_mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set1_epi8, _mm_set_epi64x};
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(product) as u64
}

/// Whether this processor has what [`candidate_strings_avx2`] is compiled for. Every
/// processor with AVX2 sold so far has the rest too; each is checked all the same.
#[cfg(target_arch = "x86_64")]
fn has_avx2_path() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("pclmulqdq")
}

fn wide(cur: u64, next: u64) -> u128 {
    u128::from(cur) | (u128::from(next) << 64)
}

/// Calls `each(start, end)` for every string of `members` (the text between an object's
/// braces, as iotw writes it) that may hold a phone number (`phones`) or a postcode
/// (`postcodes`); `start` is its opening quote, `end` the index just past its closing one,
/// in order. Every string that holds one is among them. `None` when `each` says so, or when
/// the text is not JSON as written (a string left open, a backslash outside a string).
pub(crate) fn candidate_strings(
    members: &[u8],
    phones: bool,
    postcodes: bool,
    each: impl FnMut(usize, usize) -> Option<()>,
) -> Option<()> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_path() {
        // SAFETY: this processor has every feature the function is compiled for, checked
        // just above.
        #[allow(unsafe_code)]
        return unsafe { candidate_strings_avx2(members, phones, postcodes, each) };
    }
    candidate_strings_sse2(members, phones, postcodes, each)
}

/// [`candidate_strings`] with 16-byte vectors (on x86-64) and the baseline instructions.
fn candidate_strings_sse2(
    members: &[u8],
    phones: bool,
    postcodes: bool,
    each: impl FnMut(usize, usize) -> Option<()>,
) -> Option<()> {
    candidates_by(members, phones, postcodes, each, classify_full, prefix_xor)
}

/// [`candidate_strings`] compiled for AVX2, so that [`classify_avx2`] is inlined, and for the
/// bit instructions that come with it: `popcnt`, `tzcnt`, `lzcnt`, and a carry-less
/// multiplication for the quotes' running XOR. Without them, counting the digits of a run
/// and finding the next one were library loops.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1,lzcnt,pclmulqdq")]
fn candidate_strings_avx2(
    members: &[u8],
    phones: bool,
    postcodes: bool,
    each: impl FnMut(usize, usize) -> Option<()>,
) -> Option<()> {
    candidates_by(members, phones, postcodes, each, |b| classify_avx2(b), |x| prefix_xor_clmul(x))
}

#[inline(always)]
fn candidates_by(
    members: &[u8],
    phones: bool,
    postcodes: bool,
    mut each: impl FnMut(usize, usize) -> Option<()>,
    full: impl Fn(&[u8; 64]) -> Classes + Copy,
    prefix_xor: impl Fn(u64) -> u64,
) -> Option<()> {
    let n = members.len();
    let block = |k: usize| match members.get(k * 64..) {
        Some(rest) if !rest.is_empty() => classify(&rest[..rest.len().min(64)], full),
        _ => Classes::SPACES,
    };
    // The unescaped quotes of a block, given whether the block before it ended in a
    // backslash that escapes its first byte; `carry` becomes the same for the block after.
    let unescaped = |c: &Classes, carry: &mut bool| {
        let mut escaped = u64::from(*carry);
        *carry = false;
        let mut backslashes = c.backslash;
        while backslashes != 0 {
            let i = backslashes.trailing_zeros();
            backslashes &= backslashes - 1;
            if escaped >> i & 1 == 0 {
                match i {
                    63 => *carry = true,
                    _ => escaped |= 1 << (i + 1),
                }
            }
        }
        c.quote & !escaped
    };
    let mut escape_carry = false;
    let mut cur = block(0);
    let mut cur_quotes = unescaped(&cur, &mut escape_carry);
    // What the previous block leaves to this one: it ended inside a string (all ones) or not;
    // its last byte belongs to a run of digits and separators (already judged there).
    let (mut inside, mut run_carry) = (0u64, false);
    let mut last_open = None;
    let mut judged_until = 0;
    for k in 0..n.div_ceil(64) {
        let base = k * 64;
        // The next block is read one ahead: a run may go on into it, and a string found here
        // may close there.
        let next = block(k + 1);
        let next_quotes = unescaped(&next, &mut escape_carry);

        let quotes = cur_quotes;
        let in_string = prefix_xor(quotes) ^ inside;
        inside = 0u64.wrapping_sub(in_string >> 63);
        if cur.backslash & !in_string != 0 {
            return None;
        }
        let opens = quotes & in_string;

        let mut hits = 0u64;
        if postcodes {
            let (d, l) = (wide(cur.digit, next.digit), wide(cur.letter, next.letter));
            hits |= (d & (l >> 1) & (l >> 2) & !((d | l) >> 3)) as u64;
        }
        let runs = cur.digit | cur.sep;
        if phones {
            let x = wide(runs, next.digit | next.sep);
            let d = wide(cur.digit, next.digit);
            // Where nine bytes of a run begin.
            let two = x & (x >> 1);
            let four = two & (two >> 2);
            let nine = (four & (four >> 4) & (x >> 8)) as u64;
            // The first byte of each run that starts in this block (the run the previous
            // block ended in was judged there, as a whole) and is nine bytes long or more.
            let first = runs & !((runs << 1) | u64::from(run_carry));
            let mut starts = nine & first & in_string;
            while starts != 0 {
                let w = starts.trailing_zeros();
                starts &= starts - 1;
                // The run's length in this block (up to its end).
                let here = (!(runs >> w)).trailing_zeros();
                let hit = if w + here < 64 {
                    // Most runs end in the block they start in.
                    ((cur.digit >> w) & ((1u64 << here) - 1)).count_ones() >= 9
                } else {
                    let len = (!(x >> w)).trailing_zeros();
                    // A run that goes on past the next block is taken without counting;
                    // `len` is below 128 otherwise.
                    w + len >= 128 || ((d >> w) & ((1u128 << len.min(127)) - 1)).count_ones() >= 9
                };
                hits |= u64::from(hit) << w;
            }
        }
        run_carry = runs >> 63 == 1;

        hits &= in_string;
        while hits != 0 {
            let p = hits.trailing_zeros();
            hits &= hits - 1;
            if base + p as usize >= judged_until {
                let before = opens & (u64::MAX >> (63 - p));
                let start = match before {
                    0 => last_open?,
                    _ => base + 63 - before.leading_zeros() as usize,
                };
                // Its closing quote: the first quote after the hit, in this block or the
                // next one, or further on.
                let after = quotes & (u64::MAX << p << 1);
                let end = if after != 0 {
                    base + after.trailing_zeros() as usize + 1
                } else if next_quotes != 0 {
                    base + 64 + next_quotes.trailing_zeros() as usize + 1
                } else {
                    json::string_end(members, start)?
                };
                each(start, end)?;
                judged_until = end;
            }
        }
        if opens != 0 {
            last_open = Some(base + 63 - opens.leading_zeros() as usize);
        }
        cur = next;
        cur_quotes = next_quotes;
    }
    // A text that ends in a backslash ends inside a string, since a backslash outside one is
    // refused above.
    (inside == 0).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so a failure can be replayed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    #[test]
    fn vector_classes_equal_bytewise_ones() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..2000 {
            let mut b = [0u8; 64];
            for x in &mut b {
                // Half the rounds in ASCII, half over every byte value.
                let r = rng.next() as u8;
                *x = if round % 2 == 0 { r & 0x7f } else { r };
            }
            assert_eq!(classify_full(&b), classify_bytewise(&b), "{b:?}");
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                #[allow(unsafe_code)]
                // SAFETY: checked just above.
                let avx2 = unsafe { classify_avx2(&b) };
                assert_eq!(avx2, classify_bytewise(&b), "{b:?}");
            }
        }
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks(64) {
            let b: &[u8; 64] = chunk.try_into().unwrap();
            assert_eq!(classify_full(b), classify_bytewise(b));
        }
    }

    /// The strings a byte-by-byte reading finds (the way masking read documents before):
    /// a run of nine digits among separators, or a digit followed by two letters and then
    /// no letter or digit.
    fn candidates_bytewise(members: &[u8], phones: bool, postcodes: bool) -> Option<Vec<(usize, usize)>> {
        let class = |c: Option<&u8>| match c.copied().unwrap_or(b' ') {
            b'0'..=b'9' => 'd',
            b'a'..=b'z' | b'A'..=b'Z' => 'l',
            b' ' | b'-' | b'.' | b'(' | b')' | b'+' => 's',
            b'"' => 'q',
            b'\\' => 'b',
            _ => 'o',
        };
        let mut found = Vec::new();
        let mut i = 0;
        while let Some(q) = memchr::memchr(b'"', members.get(i..)?) {
            let start = i + q;
            let (mut j, mut run, mut candidate) = (start + 1, 0, false);
            loop {
                match class(Some(members.get(j)?)) {
                    'd' => {
                        run += 1;
                        candidate |= phones && run >= 9;
                        candidate |= postcodes
                            && class(members.get(j + 1)) == 'l'
                            && class(members.get(j + 2)) == 'l'
                            && !matches!(class(members.get(j + 3)), 'l' | 'd');
                    }
                    's' => {}
                    'q' => break,
                    'b' => {
                        run = 0;
                        j += 2;
                        continue;
                    }
                    _ => run = 0,
                }
                j += 1;
            }
            i = j + 1;
            if candidate {
                found.push((start, i));
            }
        }
        Some(found)
    }

    /// What [`candidate_strings`] finds; the baseline path must find the same.
    fn candidates(members: &[u8], phones: bool, postcodes: bool) -> Option<Vec<(usize, usize)>> {
        let mut found = Vec::new();
        let got = candidate_strings(members, phones, postcodes, |s, e| {
            found.push((s, e));
            Some(())
        });
        let mut baseline = Vec::new();
        let base = candidate_strings_sse2(members, phones, postcodes, |s, e| {
            baseline.push((s, e));
            Some(())
        });
        assert_eq!((got, &found), (base, &baseline), "{:?}", String::from_utf8_lossy(members));
        got.map(|()| found)
    }

    #[test]
    fn the_running_xor_by_multiplication_equals_the_shifts() {
        #[cfg(target_arch = "x86_64")]
        if has_avx2_path() {
            let mut rng = Rng(0x51_7cc1_b727_220a);
            for x in [0, 1, u64::MAX, 1 << 63].into_iter().chain((0..10_000).map(|_| rng.next())) {
                #[allow(unsafe_code)]
                // SAFETY: the processor has pclmulqdq, checked above.
                let by_clmul = unsafe { prefix_xor_clmul(x) };
                assert_eq!(by_clmul, prefix_xor(x), "{x:#x}");
            }
        }
    }

    /// Random members in iotw's JSON, with strings made of the pieces the filter reacts to,
    /// of every length, across block edges.
    fn document(rng: &mut Rng) -> String {
        let pieces: Vec<&str> = concat!(
            "0|1|7|9|01132 496|0113| |-|.|(|)|+|+44|AB|x|LS1 4AP|1AA|SW1A|\\\"|\\\\|\\n|\\u00e9|é|—|:|/|@|sip:|",
            "2026-11-27T10:00:00.123Z|10.10.1.23|07700900123|4AP|a1bc|9ZZ9"
        )
        .split('|')
        .collect();
        let mut s = String::new();
        let members = 1 + rng.next() % 12;
        for m in 0..members {
            if m > 0 {
                s.push(',');
            }
            s.push_str(&format!("\"k{m}\":"));
            match rng.next() % 5 {
                0 => s.push_str(&format!("{}", rng.next() % 100_000_000_000)),
                1 => s.push_str("{\"ip\":\"10.0.0.1\",\"port\":5060}"),
                _ => {
                    s.push('"');
                    for _ in 0..rng.next() % 40 {
                        s.push_str(rng.pick(&pieces));
                    }
                    s.push('"');
                }
            }
        }
        s
    }

    #[test]
    fn every_string_a_bytewise_reading_finds_is_found() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut flagged = 0;
        for _ in 0..20_000 {
            let doc = document(&mut rng);
            for (phones, postcodes) in [(true, true), (true, false), (false, true)] {
                let want = candidates_bytewise(doc.as_bytes(), phones, postcodes).unwrap();
                let got = candidates(doc.as_bytes(), phones, postcodes).unwrap();
                flagged += want.len();
                // A superset, in order; the strings handed on are whole strings.
                assert!(want.iter().all(|w| got.contains(w)), "{doc}\nwant {want:?}\ngot {got:?}");
                assert!(got.windows(2).all(|w| w[0].1 <= w[1].0), "{got:?}");
                for &(s, e) in &got {
                    assert_eq!(doc.as_bytes()[s], b'"');
                    assert_eq!(json::string_end(doc.as_bytes(), s), Some(e));
                }
            }
        }
        // The generator does make strings to find.
        assert!(flagged > 10_000, "{flagged}");
    }

    #[test]
    fn a_long_run_of_digits_across_blocks_is_found() {
        for at in 0..140 {
            for len in [9, 10, 63, 64, 65, 130, 300] {
                let doc = format!("\"a\":\"{}{}\",\"b\":1", "x".repeat(at), "1".repeat(len));
                let got = candidates(doc.as_bytes(), true, false).unwrap();
                assert_eq!(got, vec![(4, doc.len() - 6)], "at {at} len {len}");
                let eight = format!("\"a\":\"{}{}\"", "x".repeat(at), "1 2.3-4(5)6+7 8");
                assert_eq!(candidates(eight.as_bytes(), true, false).unwrap(), vec![], "{eight}");
            }
        }
    }

    #[test]
    fn text_that_is_not_json_as_written_is_refused() {
        for bad in ["\"a\":\"open", "\"a\":1\\", "\"a\":\"x\\"] {
            assert_eq!(candidates(bad.as_bytes(), true, true), None, "{bad}");
        }
        assert_eq!(candidates(b"", true, true), Some(vec![]));
    }
}
