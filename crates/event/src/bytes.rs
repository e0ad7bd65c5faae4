//! Byte classes of blocks of 64 bytes, one bit per byte, for scanners that jump from one byte
//! that matters to the next instead of searching again for each.

/// The bytes of `block` equal to `c`: bit `i` stands for byte `i`.
#[inline(always)]
pub fn eq_bits(block: &[u8; 64], c: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of every x86-64 processor (the target's baseline), so the one
        // feature `eq_bits_sse2` needs is always there. Nothing else in it is unsafe.
        #[allow(unsafe_code)]
        unsafe {
            eq_bits_sse2(block, c)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    block.iter().enumerate().fold(0, |bits, (i, &b)| bits | (u64::from(b == c) << i))
}

/// [`eq_bits`] of at most 64 bytes (those past the 64th are not looked at); the bytes past the
/// end are not `c`.
#[inline(always)]
pub fn eq_bits_of(block: &[u8], c: u8) -> u64 {
    let [bits] = eq_bits_each(block, [c]);
    bits
}

/// [`eq_bits_of`] for each byte of `cs`, the block padded once.
#[inline(always)]
pub fn eq_bits_each<const N: usize>(block: &[u8], cs: [u8; N]) -> [u64; N] {
    match <&[u8; 64]>::try_from(block) {
        Ok(whole) => cs.map(|c| eq_bits(whole, c)),
        Err(_) => {
            // The last, shorter block: the bytes past its end are neither.
            let mut padded = [0u8; 64];
            let n = block.len().min(64);
            padded[..n].copy_from_slice(&block[..n]);
            let within = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
            cs.map(|c| eq_bits(&padded, c) & within)
        }
    }
}

/// Where the bytes equal to `c` are in `text`, in order: a block of 64 bytes classified at a
/// time, so short texts cost one classification and each byte found a few instructions.
#[inline]
pub fn positions(text: &[u8], c: u8) -> impl Iterator<Item = usize> + '_ {
    let mut blocks = text.chunks(64).enumerate();
    let (mut base, mut bits) = (0usize, 0u64);
    std::iter::from_fn(move || {
        while bits == 0 {
            let (k, block) = blocks.next()?;
            (base, bits) = (k * 64, eq_bits_of(block, c));
        }
        let at = base + bits.trailing_zeros() as usize;
        bits &= bits - 1;
        Some(at)
    })
}

/// 16 bytes per comparison.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
#[inline]
fn eq_bits_sse2(block: &[u8; 64], c: u8) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x};
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&block[at..at + 8]);
        i64::from_le_bytes(w)
    };
    let wanted = _mm_set1_epi8(c as i8);
    let mut bits = 0u64;
    for k in 0..4 {
        let v = _mm_set_epi64x(word(16 * k + 8), word(16 * k));
        bits |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, wanted)) as u16) << (16 * k);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bit_is_its_byte() {
        let mut block = [b'a'; 64];
        for i in [0, 1, 15, 16, 31, 32, 47, 48, 63] {
            block[i] = b'\n';
        }
        let bits = eq_bits(&block, b'\n');
        for (i, &b) in block.iter().enumerate() {
            assert_eq!(bits >> i & 1 == 1, b == b'\n', "byte {i}");
        }
        assert_eq!(eq_bits(&block, b'a'), !bits);
    }

    #[test]
    fn each_class_is_its_own_bits() {
        let text = b"Via: a\r\nTo:b \n";
        for n in [0, 5, text.len()] {
            let [nl, colon, zero] = eq_bits_each(&text[..n], [b'\n', b':', 0]);
            assert_eq!((nl, colon, zero), (eq_bits_of(&text[..n], b'\n'), eq_bits_of(&text[..n], b':'), 0));
        }
    }

    #[test]
    fn positions_are_every_match_in_order() {
        for len in [0, 1, 63, 64, 65, 130, 200] {
            let text: Vec<u8> = (0..len).map(|i| if i % 7 == 3 || i == 64 { b';' } else { b'a' }).collect();
            let want: Vec<usize> = (0..len).filter(|&i| text[i] == b';').collect();
            assert_eq!(positions(&text, b';').collect::<Vec<_>>(), want, "{len}");
        }
    }

    #[test]
    fn a_short_block_has_nothing_past_its_end() {
        let text = b"ab\ncd\n\x00\x00";
        for n in 0..=text.len() {
            let want = (0..n).filter(|&i| text[i] == b'\n').fold(0u64, |m, i| m | 1 << i);
            assert_eq!(eq_bits_of(&text[..n], b'\n'), want);
            let zeros = (0..n).filter(|&i| text[i] == 0).fold(0u64, |m, i| m | 1 << i);
            assert_eq!(eq_bits_of(&text[..n], 0), zeros, "{n}");
        }
    }
}
