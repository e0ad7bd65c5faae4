//! Record decryption with a session's secrets (RFC 5246 §6.3 key expansion and RFC 5288 /
//! RFC 7905 nonces for TLS 1.2; RFC 8446 §7.1-7.3 key schedule and §5.2 inner plaintext for
//! TLS 1.3). Crypto is ring's: HMAC and HKDF for the keys, AES-GCM and ChaCha20-Poly1305 to
//! open records. Nothing here is hand-written cryptography.
//!
//! Supported: TLS 1.2 with AES-128/256-GCM or ChaCha20-Poly1305 suites; TLS 1.3 with its three
//! AEAD suites. Not supported yet: CBC suites with HMAC (TLS 1.0-1.2), AES-CCM, key updates
//! (TLS 1.3 KeyUpdate), 0-RTT early data.

use ring::{aead, hkdf, hmac};

/// What a cipher suite needs for decryption.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    aead: &'static aead::Algorithm,
    key_len: usize,
    /// TLS 1.2: the implicit part of the nonce (4 for GCM, 12 for ChaCha20); TLS 1.3: 12.
    fixed_iv: usize,
    sha384: bool,
}

/// The suite of cipher `id`, when it can be decrypted here.
pub fn suite(id: u16) -> Option<Suite> {
    use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsPRF};
    let tls13 = |aead, key_len, sha384| Some(Suite { aead, key_len, fixed_iv: 12, sha384 });
    match id {
        0x1301 => return tls13(&aead::AES_128_GCM, 16, false),
        0x1302 => return tls13(&aead::AES_256_GCM, 32, true),
        0x1303 => return tls13(&aead::CHACHA20_POLY1305, 32, false),
        _ => {}
    }
    let c = tls_parser::TlsCipherSuite::from_id(id)?;
    let sha384 = c.prf == TlsPRF::Sha384;
    match (c.enc, c.enc_mode, c.enc_size) {
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 128) => {
            Some(Suite { aead: &aead::AES_128_GCM, key_len: 16, fixed_iv: 4, sha384 })
        }
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm, 256) => {
            Some(Suite { aead: &aead::AES_256_GCM, key_len: 32, fixed_iv: 4, sha384 })
        }
        (TlsCipherEnc::Chacha20_Poly1305, _, _) => {
            Some(Suite { aead: &aead::CHACHA20_POLY1305, key_len: 32, fixed_iv: 12, sha384 })
        }
        _ => None,
    }
}

/// One direction's record decryption.
pub struct Opener {
    key: aead::LessSafeKey,
    iv: [u8; 12],
    /// TLS 1.2 GCM: the record starts with an 8-byte explicit nonce.
    explicit_nonce: bool,
    tls13: bool,
    seq: u64,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Opener").field("tls13", &self.tls13).field("seq", &self.seq).finish()
    }
}

/// A record that does not open: wrong secrets, or bytes damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptError;

fn opener(s: &Suite, key: &[u8], iv: &[u8], tls13: bool) -> Option<Opener> {
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(s.aead, key).ok()?);
    let mut full = [0u8; 12];
    full.get_mut(..iv.len())?.copy_from_slice(iv);
    Some(Opener { key, iv: full, explicit_nonce: !tls13 && s.fixed_iv == 4, tls13, seq: 0 })
}

/// TLS 1.2 PRF (RFC 5246 §5): P_SHA256 or P_SHA384 of `secret` over `label` + `seed`.
fn prf(sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let alg = if sha384 { hmac::HMAC_SHA384 } else { hmac::HMAC_SHA256 };
    let key = hmac::Key::new(alg, secret);
    let mut label_seed = label.to_vec();
    label_seed.extend_from_slice(seed);
    let mut a = hmac::sign(&key, &label_seed).as_ref().to_vec();
    let mut at = 0;
    while at < out.len() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&a);
        ctx.update(&label_seed);
        let block = ctx.sign();
        let n = block.as_ref().len().min(out.len() - at);
        out[at..at + n].copy_from_slice(&block.as_ref()[..n]);
        at += n;
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
}

/// TLS 1.2: the client's and the server's openers from the master secret.
pub fn tls12(s: &Suite, master: &[u8], client_random: &[u8; 32], server_random: &[u8; 32]) -> Option<(Opener, Opener)> {
    let mut seed = Vec::with_capacity(64);
    seed.extend_from_slice(server_random);
    seed.extend_from_slice(client_random);
    let mut block = vec![0u8; 2 * (s.key_len + s.fixed_iv)];
    prf(s.sha384, master, b"key expansion", &seed, &mut block);
    let (ck, rest) = block.split_at(s.key_len);
    let (sk, rest) = rest.split_at(s.key_len);
    let (civ, siv) = rest.split_at(s.fixed_iv);
    Some((opener(s, ck, civ, false)?, opener(s, sk, siv, false)?))
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(sha384: bool, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let alg = if sha384 { hkdf::HKDF_SHA384 } else { hkdf::HKDF_SHA256 };
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    let full = format!("tls13 {label}");
    let info = [&(len as u16).to_be_bytes()[..], &[full.len() as u8], full.as_bytes(), &[0u8]];
    let okm = prk.expand(&info, Len(len)).ok()?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).ok()?;
    Some(out)
}

/// TLS 1.3: an opener for a traffic secret.
pub fn tls13(s: &Suite, secret: &[u8]) -> Option<Opener> {
    let key = expand_label(s.sha384, secret, "key", s.key_len)?;
    let iv = expand_label(s.sha384, secret, "iv", 12)?;
    opener(s, &key, &iv, true)
}

const TAG: usize = 16;

impl Opener {
    /// Opens one record: its real content type and plaintext.
    pub fn open(&mut self, content: u8, version: u16, body: &[u8]) -> Result<(u8, Vec<u8>), DecryptError> {
        let seq = self.seq;
        let mut nonce = self.iv;
        let cipher = if self.explicit_nonce {
            let explicit = body.get(..8).ok_or(DecryptError)?;
            nonce[4..].copy_from_slice(explicit);
            &body[8..]
        } else {
            for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                *n ^= s;
            }
            body
        };
        if cipher.len() < TAG {
            return Err(DecryptError);
        }
        let mut aad = Vec::with_capacity(13);
        if self.tls13 {
            aad.extend_from_slice(&[content, (version >> 8) as u8, version as u8]);
            aad.extend_from_slice(&(body.len() as u16).to_be_bytes());
        } else {
            aad.extend_from_slice(&seq.to_be_bytes());
            aad.extend_from_slice(&[content, (version >> 8) as u8, version as u8]);
            aad.extend_from_slice(&((cipher.len() - TAG) as u16).to_be_bytes());
        }
        let mut buf = cipher.to_vec();
        let plain_len = self
            .key
            .open_in_place(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(&aad), &mut buf)
            .map_err(|_| DecryptError)?
            .len();
        buf.truncate(plain_len);
        self.seq += 1;
        if !self.tls13 {
            return Ok((content, buf));
        }
        // TLSInnerPlaintext: content, the real type, zero padding.
        let end = buf.iter().rposition(|b| *b != 0).ok_or(DecryptError)?;
        let real = buf[end];
        buf.truncate(end);
        Ok((real, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0)).collect()
    }

    #[test]
    fn hkdf_expand_label_gives_the_rfc_8448_handshake_keys() {
        // RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic secret, and the
        // key and iv it expands to.
        let secret = unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");
        let key = expand_label(false, &secret, "key", 16);
        let iv = expand_label(false, &secret, "iv", 12);
        assert_eq!(key, Some(unhex("3fce516009c21727d0f2e4e86ee403bc")));
        assert_eq!(iv, Some(unhex("5d313eb2671276ee13000b30")));
    }

    #[test]
    fn tls12_prf_matches_a_published_vector() {
        // The TLS 1.2 PRF (SHA-256) test vector circulated on the IETF TLS list.
        let secret = unhex("9bbe436ba940f017b17652849a71db35");
        let seed = unhex("a0ba9f936cda311827a6f796ffd5198c");
        let mut out = [0u8; 16];
        prf(false, &secret, b"test label", &seed, &mut out);
        assert_eq!(out.to_vec(), unhex("e3f229ba727be17b8d122620557cd453"));
    }

    #[test]
    fn a_record_that_does_not_open_is_an_error_not_a_panic() {
        let s = suite(0x1301).unwrap_or_else(|| panic!("TLS_AES_128_GCM_SHA256"));
        let mut o = tls13(&s, &[7; 32]).unwrap_or_else(|| panic!("opener"));
        assert_eq!(o.open(23, 0x0303, &[0; 40]).map(|_| ()), Err(DecryptError));
        assert_eq!(o.open(23, 0x0303, &[0; 3]).map(|_| ()), Err(DecryptError));
        assert!(suite(0x002f).is_none(), "CBC suites are not decrypted yet");
    }
}
