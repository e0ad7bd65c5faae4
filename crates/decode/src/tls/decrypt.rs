//! Record decryption with a session's secrets: RFC 5246 §6.3 key expansion (and the RFC 2246
//! PRF for TLS 1.0/1.1), RFC 5288 / RFC 6655 / RFC 7905 nonces and §6.2.3.2 CBC records with
//! HMAC (RFC 7366 encrypt-then-MAC when negotiated) for TLS 1.0-1.2; RFC 8446 §7.1-7.3 key
//! schedule and §5.2 inner plaintext for TLS 1.3.
//!
//! Crypto is from well-kept crates, nothing here is hand-written cryptography: ring for HKDF,
//! record MACs, AES-GCM and ChaCha20-Poly1305; RustCrypto's `hmac` for the PRF (TLS 1.0/1.1 need
//! HMAC-MD5, which ring lacks), `ccm` for AES-CCM and `cbc` over `aes` for CBC suites. What is
//! left here is the record format: nonces, additional data, padding and where the MAC sits.
//!
//! Supported: AES-128/256 in GCM, CCM, CCM_8 and CBC (with HMAC-SHA1/256/384), and
//! ChaCha20-Poly1305, in TLS 1.0 to 1.3 as each version defines them; TLS 1.3 KeyUpdate. Not
//! supported: other block ciphers (3DES, Camellia, ARIA), stream ciphers (RC4), NULL
//! encryption, compression.

use aes::{Aes128, Aes256};
use ccm::consts::{U12, U16, U8};
use ccm::{Ccm, KeyInit as _};
use cipher::{block_padding::NoPadding, BlockModeDecrypt as _, KeyIvInit as _};
use ring::{aead, hkdf, hmac as ring_hmac};

/// A record MAC (CBC suites).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MacAlg {
    Sha1,
    Sha256,
    Sha384,
}

impl MacAlg {
    fn len(self) -> usize {
        match self {
            MacAlg::Sha1 => 20,
            MacAlg::Sha256 => 32,
            MacAlg::Sha384 => 48,
        }
    }

    fn ring(self) -> ring_hmac::Algorithm {
        match self {
            MacAlg::Sha1 => ring_hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            MacAlg::Sha256 => ring_hmac::HMAC_SHA256,
            MacAlg::Sha384 => ring_hmac::HMAC_SHA384,
        }
    }
}

/// How a suite protects records.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An AEAD ring provides (AES-GCM, ChaCha20-Poly1305).
    Ring(&'static aead::Algorithm),
    /// AES-CCM with a tag of 16 or 8 bytes.
    Ccm { tag: usize },
    /// AES-CBC with an HMAC.
    Cbc(MacAlg),
}

/// What a cipher suite needs for decryption.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    kind: Kind,
    key_len: usize,
    /// TLS 1.2 AEAD: the implicit part of the nonce (4 for GCM and CCM, 12 for ChaCha20);
    /// TLS 1.3: 12; CBC: the block size (an IV only TLS 1.0 uses).
    fixed_iv: usize,
    sha384: bool,
}

/// The suite of cipher `id`, when it can be decrypted here.
pub fn suite(id: u16) -> Option<Suite> {
    use tls_parser::{TlsCipherEnc, TlsCipherEncMode, TlsCipherMac, TlsPRF};
    let tls13 = |kind, key_len, sha384| Some(Suite { kind, key_len, fixed_iv: 12, sha384 });
    match id {
        0x1301 => return tls13(Kind::Ring(&aead::AES_128_GCM), 16, false),
        0x1302 => return tls13(Kind::Ring(&aead::AES_256_GCM), 32, true),
        0x1303 => return tls13(Kind::Ring(&aead::CHACHA20_POLY1305), 32, false),
        0x1304 => return tls13(Kind::Ccm { tag: 16 }, 16, false),
        0x1305 => return tls13(Kind::Ccm { tag: 8 }, 16, false),
        _ => {}
    }
    let c = tls_parser::TlsCipherSuite::from_id(id)?;
    let sha384 = c.prf == TlsPRF::Sha384;
    let aes = |size| match size {
        128 => Some(16),
        256 => Some(32),
        _ => None,
    };
    let (kind, key_len, fixed_iv) = match (c.enc, c.enc_mode) {
        (TlsCipherEnc::Aes, TlsCipherEncMode::Gcm) => {
            let alg = if c.enc_size == 128 { &aead::AES_128_GCM } else { &aead::AES_256_GCM };
            (Kind::Ring(alg), aes(c.enc_size)?, 4)
        }
        (TlsCipherEnc::Aes, TlsCipherEncMode::Ccm) => {
            let tag = if c.name.ends_with("CCM_8") { 8 } else { 16 };
            (Kind::Ccm { tag }, aes(c.enc_size)?, 4)
        }
        (TlsCipherEnc::Aes, TlsCipherEncMode::Cbc) => {
            let mac = match c.mac {
                TlsCipherMac::HmacSha1 => MacAlg::Sha1,
                TlsCipherMac::HmacSha256 => MacAlg::Sha256,
                TlsCipherMac::HmacSha384 => MacAlg::Sha384,
                _ => return None,
            };
            (Kind::Cbc(mac), aes(c.enc_size)?, 16)
        }
        (TlsCipherEnc::Chacha20_Poly1305, _) => (Kind::Ring(&aead::CHACHA20_POLY1305), 32, 12),
        _ => return None,
    };
    Some(Suite { kind, key_len, fixed_iv, sha384 })
}

/// What the handshake settled that record protection depends on (TLS 1.0-1.2).
#[derive(Debug, Clone, Copy)]
pub struct Negotiated {
    /// The protocol version (0x0301 TLS 1.0 ... 0x0303 TLS 1.2).
    pub version: u16,
    /// RFC 7366 encrypt-then-MAC (CBC suites only).
    pub encrypt_then_mac: bool,
}

/// An AES-CCM key of one of the four shapes TLS uses.
enum CcmKey {
    A128T16(Box<Ccm<Aes128, U16, U12>>),
    A128T8(Box<Ccm<Aes128, U8, U12>>),
    A256T16(Box<Ccm<Aes256, U16, U12>>),
    A256T8(Box<Ccm<Aes256, U8, U12>>),
}

impl CcmKey {
    fn new(key: &[u8], tag: usize) -> Option<CcmKey> {
        Some(match (key.len(), tag) {
            (16, 16) => CcmKey::A128T16(Box::new(Ccm::new_from_slice(key).ok()?)),
            (16, 8) => CcmKey::A128T8(Box::new(Ccm::new_from_slice(key).ok()?)),
            (32, 16) => CcmKey::A256T16(Box::new(Ccm::new_from_slice(key).ok()?)),
            (32, 8) => CcmKey::A256T8(Box::new(Ccm::new_from_slice(key).ok()?)),
            _ => return None,
        })
    }

    /// Opens `buf` (ciphertext then tag) in place; its plaintext length.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
        fn run<A: ccm::aead::AeadInOut>(a: &A, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<usize> {
            let tag_len = buf.len().checked_sub(<A::TagSize as ccm::aead::array::typenum::Unsigned>::USIZE)?;
            let (data, tag) = buf.split_at_mut(tag_len);
            let tag = ccm::aead::Tag::<A>::try_from(&*tag).ok()?;
            let nonce = ccm::aead::Nonce::<A>::try_from(&nonce[..]).ok()?;
            a.decrypt_inout_detached(&nonce, aad, data.into(), &tag).ok()?;
            Some(tag_len)
        }
        match self {
            CcmKey::A128T16(k) => run(&**k, nonce, aad, buf),
            CcmKey::A128T8(k) => run(&**k, nonce, aad, buf),
            CcmKey::A256T16(k) => run(&**k, nonce, aad, buf),
            CcmKey::A256T8(k) => run(&**k, nonce, aad, buf),
        }
    }
}

/// How one direction's records are opened.
enum Cipher {
    Ring(Box<aead::LessSafeKey>),
    Ccm(CcmKey),
    Cbc(Box<CbcKeys>),
}

/// A CBC suite's keys for one direction.
struct CbcKeys {
    key: Vec<u8>,
    mac: ring_hmac::Key,
    mac_len: usize,
    encrypt_then_mac: bool,
    /// TLS 1.0: the IV is the last ciphertext block of the previous record (RFC 2246
    /// §6.2.3.2); later versions carry an explicit IV in each record.
    chained_iv: Option<[u8; 16]>,
}

/// One direction's record decryption.
pub struct Opener {
    cipher: Cipher,
    /// TLS 1.3: the suite and the traffic secret the keys came from, for a KeyUpdate.
    tls13_secret: Option<(Suite, Vec<u8>)>,
    iv: [u8; 12],
    /// TLS 1.2 GCM and CCM: the record starts with an 8-byte explicit nonce.
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

/// An AEAD opener (GCM, CCM, ChaCha20-Poly1305).
fn aead_opener(s: &Suite, key: &[u8], iv: &[u8], tls13: bool) -> Option<Opener> {
    let cipher = match s.kind {
        Kind::Ring(alg) => Cipher::Ring(Box::new(aead::LessSafeKey::new(aead::UnboundKey::new(alg, key).ok()?))),
        Kind::Ccm { tag } => Cipher::Ccm(CcmKey::new(key, tag)?),
        Kind::Cbc(_) => return None,
    };
    let mut full = [0u8; 12];
    full.get_mut(..iv.len())?.copy_from_slice(iv);
    Some(Opener { cipher, tls13_secret: None, iv: full, explicit_nonce: !tls13 && s.fixed_iv == 4, tls13, seq: 0 })
}

/// P_hash (RFC 5246 §5) with HMAC `M`, XORed into `out`.
fn p_hash<M: hmac::Mac + hmac::digest::KeyInit + Clone>(secret: &[u8], label_seed: &[u8], out: &mut [u8]) {
    let Ok(key) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else { return };
    let mut a = key.clone().chain_update(label_seed).finalize().into_bytes().to_vec();
    let mut at = 0;
    while at < out.len() {
        let block = key.clone().chain_update(&a).chain_update(label_seed).finalize().into_bytes();
        for (o, b) in out[at..].iter_mut().zip(block.iter()) {
            *o ^= b;
        }
        at += block.len();
        a = key.clone().chain_update(&a).finalize().into_bytes().to_vec();
    }
}

/// The TLS PRF over `label` + `seed`: TLS 1.2's P_SHA256 (or P_SHA384 when the suite says
/// so), or for TLS 1.0/1.1 P_MD5 over the secret's first half XOR P_SHA1 over its second
/// (RFC 2246 §5).
fn prf(version: u16, sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let mut label_seed = label.to_vec();
    label_seed.extend_from_slice(seed);
    out.fill(0);
    if version >= 0x0303 {
        if sha384 {
            p_hash::<hmac::Hmac<sha2::Sha384>>(secret, &label_seed, out);
        } else {
            p_hash::<hmac::Hmac<sha2::Sha256>>(secret, &label_seed, out);
        }
    } else {
        let half = secret.len().div_ceil(2);
        p_hash::<hmac::Hmac<md5::Md5>>(&secret[..half], &label_seed, out);
        p_hash::<hmac::Hmac<sha1::Sha1>>(&secret[secret.len() - half..], &label_seed, out);
    }
}

/// TLS 1.0-1.2: the client's and the server's openers from the master secret.
pub fn tls12(
    s: &Suite,
    n: Negotiated,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<(Opener, Opener)> {
    if !(0x0301..=0x0303).contains(&n.version) || (n.version < 0x0303 && !matches!(s.kind, Kind::Cbc(_))) {
        return None;
    }
    let mut seed = Vec::with_capacity(64);
    seed.extend_from_slice(server_random);
    seed.extend_from_slice(client_random);
    let mac_len = match s.kind {
        Kind::Cbc(m) => m.len(),
        _ => 0,
    };
    let mut block = vec![0u8; 2 * (mac_len + s.key_len + s.fixed_iv)];
    prf(n.version, s.sha384, master, b"key expansion", &seed, &mut block);
    let (cmac, rest) = block.split_at(mac_len);
    let (smac, rest) = rest.split_at(mac_len);
    let (ck, rest) = rest.split_at(s.key_len);
    let (sk, rest) = rest.split_at(s.key_len);
    let (civ, siv) = rest.split_at(s.fixed_iv);
    let Kind::Cbc(alg) = s.kind else {
        return Some((aead_opener(s, ck, civ, false)?, aead_opener(s, sk, siv, false)?));
    };
    let cbc = |key: &[u8], mac: &[u8], iv: &[u8]| Opener {
        cipher: Cipher::Cbc(Box::new(CbcKeys {
            key: key.to_vec(),
            mac: ring_hmac::Key::new(alg.ring(), mac),
            mac_len,
            encrypt_then_mac: n.encrypt_then_mac,
            chained_iv: (n.version == 0x0301).then(|| iv.try_into().ok()).flatten(),
        })),
        tls13_secret: None,
        iv: [0; 12],
        explicit_nonce: false,
        tls13: false,
        seq: 0,
    };
    Some((cbc(ck, cmac, civ), cbc(sk, smac, siv)))
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
    let mut o = aead_opener(s, &key, &iv, true)?;
    o.tls13_secret = Some((*s, secret.to_vec()));
    Some(o)
}

/// The MAC's input before the data (RFC 5246 §6.2.3.1): sequence number, type, version, length.
fn mac_header(seq: u64, content: u8, version: u16, len: usize) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[..8].copy_from_slice(&seq.to_be_bytes());
    h[8] = content;
    h[9..11].copy_from_slice(&version.to_be_bytes());
    h[11..].copy_from_slice(&(len as u16).to_be_bytes());
    h
}

/// Decrypts whole AES blocks in place (CBC).
fn cbc_decrypt(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), DecryptError> {
    let done = match key.len() {
        16 => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
            .map_err(|_| DecryptError)?
            .decrypt_padded::<NoPadding>(buf)
            .is_ok(),
        32 => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
            .map_err(|_| DecryptError)?
            .decrypt_padded::<NoPadding>(buf)
            .is_ok(),
        _ => false,
    };
    done.then_some(()).ok_or(DecryptError)
}

/// The length of `plain` without its TLS padding (RFC 5246 §6.2.3.2: `n + 1` bytes of `n`).
fn unpad(plain: &[u8]) -> Result<usize, DecryptError> {
    let n = *plain.last().ok_or(DecryptError)? as usize;
    let keep = plain.len().checked_sub(n + 1).ok_or(DecryptError)?;
    if plain[keep..].iter().all(|b| *b as usize == n) {
        Ok(keep)
    } else {
        Err(DecryptError)
    }
}

impl Opener {
    /// TLS 1.3: the opener after a KeyUpdate, from the next traffic secret (RFC 8446 §7.2).
    pub fn updated(&self) -> Option<Opener> {
        let (s, secret) = self.tls13_secret.as_ref()?;
        let next = expand_label(s.sha384, secret, "traffic upd", if s.sha384 { 48 } else { 32 })?;
        tls13(s, &next)
    }

    /// Opens one record: its real content type and plaintext.
    pub fn open(&mut self, content: u8, version: u16, body: &[u8]) -> Result<(u8, Vec<u8>), DecryptError> {
        let plain = match &mut self.cipher {
            Cipher::Cbc(keys) => keys.open(self.seq, content, version, body)?,
            _ => self.open_aead(content, version, body)?,
        };
        self.seq += 1;
        if !self.tls13 {
            return Ok((content, plain));
        }
        // TLSInnerPlaintext: content, the real type, zero padding.
        let mut plain = plain;
        let end = plain.iter().rposition(|b| *b != 0).ok_or(DecryptError)?;
        let real = plain[end];
        plain.truncate(end);
        Ok((real, plain))
    }

    fn open_aead(&self, content: u8, version: u16, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
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
        let tag = match &self.cipher {
            Cipher::Ccm(CcmKey::A128T8(_) | CcmKey::A256T8(_)) => 8,
            _ => 16,
        };
        let plain_len = cipher.len().checked_sub(tag).ok_or(DecryptError)?;
        let aad = if self.tls13 {
            let mut a = [0u8; 5];
            a[0] = content;
            a[1..3].copy_from_slice(&version.to_be_bytes());
            a[3..].copy_from_slice(&(body.len() as u16).to_be_bytes());
            a.to_vec()
        } else {
            mac_header(seq, content, version, plain_len).to_vec()
        };
        let mut buf = cipher.to_vec();
        let n = match &self.cipher {
            Cipher::Ring(key) => key
                .open_in_place(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(&aad), &mut buf)
                .map_err(|_| DecryptError)?
                .len(),
            Cipher::Ccm(key) => key.open(&nonce, &aad, &mut buf).ok_or(DecryptError)?,
            Cipher::Cbc(_) => return Err(DecryptError),
        };
        buf.truncate(n);
        Ok(buf)
    }
}

impl CbcKeys {
    /// Opens a CBC record: MAC-then-encrypt (the MAC inside, over the plaintext) or, with
    /// encrypt-then-MAC, the MAC outside over IV and ciphertext.
    fn open(&mut self, seq: u64, content: u8, version: u16, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let verify = |data: &[u8], tag: &[u8]| {
            let mut ctx = ring_hmac::Context::with_key(&self.mac);
            ctx.update(&mac_header(seq, content, version, data.len()));
            ctx.update(data);
            // A passive reader has no padding oracle to fear: a plain comparison will do.
            (ctx.sign().as_ref() == tag).then_some(()).ok_or(DecryptError)
        };
        let sealed = if self.encrypt_then_mac {
            let cut = body.len().checked_sub(self.mac_len).ok_or(DecryptError)?;
            let (sealed, tag) = body.split_at(cut);
            verify(sealed, tag)?;
            sealed
        } else {
            body
        };
        let (iv, ciphertext) = match self.chained_iv {
            Some(iv) => (iv, sealed),
            None => {
                let (iv, rest) = sealed.split_at_checked(16).ok_or(DecryptError)?;
                (iv.try_into().map_err(|_| DecryptError)?, rest)
            }
        };
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
            return Err(DecryptError);
        }
        let last: [u8; 16] = ciphertext[ciphertext.len() - 16..].try_into().map_err(|_| DecryptError)?;
        let mut buf = ciphertext.to_vec();
        cbc_decrypt(&self.key, &iv, &mut buf)?;
        let mut len = unpad(&buf)?;
        if !self.encrypt_then_mac {
            len = len.checked_sub(self.mac_len).ok_or(DecryptError)?;
            verify(&buf[..len], &buf[len..len + self.mac_len])?;
        }
        if self.chained_iv.is_some() {
            self.chained_iv = Some(last);
        }
        buf.truncate(len);
        Ok(buf)
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
        prf(0x0303, false, &secret, b"test label", &seed, &mut out);
        assert_eq!(out.to_vec(), unhex("e3f229ba727be17b8d122620557cd453"));
    }

    #[test]
    fn a_record_that_does_not_open_is_an_error_not_a_panic() {
        let s = suite(0x1301).unwrap_or_else(|| panic!("TLS_AES_128_GCM_SHA256"));
        let mut o = tls13(&s, &[7; 32]).unwrap_or_else(|| panic!("opener"));
        assert_eq!(o.open(23, 0x0303, &[0; 40]).map(|_| ()), Err(DecryptError));
        assert_eq!(o.open(23, 0x0303, &[0; 3]).map(|_| ()), Err(DecryptError));
        assert!(suite(0x000a).is_none(), "3DES is not decrypted");
        assert!(suite(0x0005).is_none(), "RC4 is not decrypted");
    }

    /// A TLS 1.2 CBC record sealed the way RFC 5246 (or, with `etm`, RFC 7366) says.
    fn seal_cbc(key: &[u8], mac_key: &[u8], etm: bool, seq: u64, plain: &[u8]) -> Vec<u8> {
        use cipher::{BlockModeEncrypt as _, KeyIvInit as _};
        let mac = ring_hmac::Key::new(ring_hmac::HMAC_SHA256, mac_key);
        let sign = |data: &[u8]| {
            let mut c = ring_hmac::Context::with_key(&mac);
            c.update(&mac_header(seq, 23, 0x0303, data.len()));
            c.update(data);
            c.sign().as_ref().to_vec()
        };
        let iv = [9u8; 16];
        let mut inner = plain.to_vec();
        if !etm {
            inner.extend(sign(plain));
        }
        let pad = 15 - inner.len() % 16;
        inner.extend(std::iter::repeat_n(pad as u8, pad + 1));
        let n = inner.len();
        let enc = cbc::Encryptor::<Aes128>::new_from_slices(key, &iv).unwrap_or_else(|_| panic!("key"));
        let sealed = enc.encrypt_padded::<NoPadding>(&mut inner, n).unwrap_or_else(|_| panic!("blocks")).to_vec();
        let mut record = iv.to_vec();
        record.extend(sealed);
        if etm {
            let tag = sign(&record);
            record.extend(tag);
        }
        record
    }

    fn cbc_opener(key: &[u8], mac_key: &[u8], etm: bool) -> Opener {
        Opener {
            cipher: Cipher::Cbc(Box::new(CbcKeys {
                key: key.to_vec(),
                mac: ring_hmac::Key::new(ring_hmac::HMAC_SHA256, mac_key),
                mac_len: 32,
                encrypt_then_mac: etm,
                chained_iv: None,
            })),
            tls13_secret: None,
            iv: [0; 12],
            explicit_nonce: false,
            tls13: false,
            seq: 0,
        }
    }

    #[test]
    fn cbc_records_open_with_the_mac_inside_or_outside_and_a_changed_byte_is_refused() {
        let (key, mac_key) = ([3u8; 16], [5u8; 32]);
        for etm in [false, true] {
            let mut o = cbc_opener(&key, &mac_key, etm);
            for (seq, text) in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[b'x'; 47][..], b""].iter().enumerate() {
                let r = seal_cbc(&key, &mac_key, etm, seq as u64, text);
                assert_eq!(o.open(23, 0x0303, &r), Ok((23, text.to_vec())), "etm {etm}, record {seq}");
            }
            // The sequence number is in the MAC: a replayed record does not open.
            let replay = seal_cbc(&key, &mac_key, etm, 0, b"again");
            assert_eq!(o.open(23, 0x0303, &replay), Err(DecryptError), "etm {etm}");
            let mut o = cbc_opener(&key, &mac_key, etm);
            let mut r = seal_cbc(&key, &mac_key, etm, 0, b"GET / HTTP/1.1");
            r[20] ^= 1;
            assert_eq!(o.open(23, 0x0303, &r), Err(DecryptError), "etm {etm}: a changed byte");
            assert_eq!(o.open(23, 0x0303, &r[..15]), Err(DecryptError), "etm {etm}: shorter than a block");
        }
    }
}
