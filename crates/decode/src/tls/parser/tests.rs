use super::*;

/// A ClientHello as a browser sends it: GREASE first in ciphers, extensions and groups.
fn client_hello_bytes() -> Vec<u8> {
    let mut ext = Vec::new();
    let mut push = |t: u16, body: &[u8]| {
        ext.extend_from_slice(&t.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    push(0x1a1a, &[]);
    // server_name: list length, type 0, name length, name.
    let name = b"example.org";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    push(0, &sni);
    push(10, &[0, 6, 0x2a, 0x2a, 0, 29, 0, 23]); // groups: GREASE, x25519, secp256r1
    push(11, &[1, 0]); // point formats: uncompressed
    push(13, &[0, 4, 4, 3, 8, 4]); // signature algorithms
    push(16, &[0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1']); // ALPN
    push(43, &[4, 0x0a, 0x0a, 3, 4]); // supported versions: GREASE, 1.3
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 6, 0x3a, 0x3a, 0x13, 0x01, 0xc0, 0x2b]); // ciphers
    body.extend_from_slice(&[1, 0]); // compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut msg = vec![hs::CLIENT_HELLO, 0, (body.len() >> 8) as u8, body.len() as u8];
    msg.extend_from_slice(&body);
    msg
}

#[test]
fn a_client_hello_is_read_with_its_extensions_in_order() {
    let c = client_hello(&client_hello_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(c.server_name.as_deref(), Some("example.org"));
    assert_eq!(c.ciphers, [0x3a3a, 0x1301, 0xc02b]);
    assert_eq!(c.extensions, [0x1a1a, 0, 10, 11, 13, 16, 43]);
    assert_eq!(c.alpn, ["h2", "http/1.1"]);
    assert_eq!(c.supported_versions, [0x0a0a, 0x0304]);
    assert_eq!(c.groups, [0x2a2a, 29, 23]);
}

#[test]
fn ja3_leaves_grease_out() {
    let c = client_hello(&client_hello_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    let (hash, text) = ja3(&c);
    assert_eq!(text, "771,4865-49195,0-10-11-13-16-43,29-23,0");
    assert_eq!(hash.len(), 32);
    assert_eq!(hash, hex_lower(&md5::Md5::digest(text.as_bytes())));
}

#[test]
fn ja4_follows_the_foxio_layout() {
    let c = client_hello(&client_hello_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    let j = ja4(&c);
    // TCP, TLS 1.3 (from supported_versions), SNI, 2 ciphers, 6 extensions, ALPN "h2".
    assert!(j.starts_with("t13d0206h2_"), "{j}");
    let parts: Vec<&str> = j.split('_').collect();
    assert_eq!(parts[1], sha256_12("1301,c02b"));
    assert_eq!(parts[2], sha256_12("000a,000b,000d,002b_0403,0804"));
}

#[test]
fn grease_values_are_recognised() {
    for g in [0x0a0a, 0x1a1a, 0xfafa] {
        assert!(is_grease(g));
    }
    for v in [0x0a1a, 0x0303, 0x1301, 0] {
        assert!(!is_grease(v));
    }
}

#[test]
fn records_are_framed_and_bad_headers_refused() {
    assert_eq!(
        record(&[22, 3, 1, 0, 2, 1, 2, 9]).unwrap_or_default(),
        Some((Record { content: 22, version: 0x0301, body: &[1, 2] }, 7))
    );
    assert_eq!(record(&[22, 3, 1, 0, 9, 1]).unwrap_or_default(), None, "a record not all there");
    assert_eq!(record(&[22, 3]).unwrap_or_default(), None);
    assert_eq!(record(&[99, 3, 1, 0, 1, 0]).map_err(|e| e.code), Err("tls_bad_record"));
    assert_eq!(record(&[23, 3, 3, 0xff, 0xff]).map_err(|e| e.code), Err("tls_bad_record"), "above 2^14 + 2048");
}

#[test]
fn handshake_messages_are_framed_and_capped() {
    assert_eq!(handshake(&[1, 0, 0, 2, 7, 7, 9], 100).unwrap_or_default(), Some((1, &[1u8, 0, 0, 2, 7, 7][..])));
    assert_eq!(handshake(&[1, 0, 0, 9, 7], 100).unwrap_or_default(), None);
    assert_eq!(handshake(&[11, 0xff, 0, 0], 1 << 16).map_err(|e| e.code), Err("tls_handshake_too_large"));
}

#[test]
fn tls_is_told_from_other_traffic_by_its_first_record() {
    assert_eq!(looks_like_tls(&[22, 3, 1, 0, 200, 1]), Some(true));
    assert_eq!(looks_like_tls(&[22, 3, 3, 0, 90, 2]), Some(true));
    assert_eq!(looks_like_tls(&[22, 3, 1]), None);
    assert_eq!(looks_like_tls(&[23, 3, 3, 0, 90, 2]), Some(false), "application data alone is not enough");
    assert_eq!(looks_like_tls(b"GET / HTTP/1.1"), Some(false));
}

#[test]
fn a_connection_captured_after_its_handshake_is_told_by_its_records() {
    // Two application-data records back to back, or one that ends the input exactly.
    let mut two = vec![23, 3, 3, 0, 3, 1, 2, 3];
    two.extend_from_slice(&[23, 3, 3, 0, 40]);
    assert_eq!(looks_like_tls_midstream(&two), Some(true));
    assert_eq!(looks_like_tls_midstream(&[23, 3, 3, 0, 3, 1, 2, 3]), Some(true));
    // A record longer than what is here: the signature and length decide.
    assert_eq!(looks_like_tls_midstream(&[23, 3, 1, 0x40, 0, 9, 9]), Some(true));
    // What follows a whole record must be a record too.
    assert_eq!(looks_like_tls_midstream(&[23, 3, 3, 0, 1, 0, b'G', b'E', b'T', b' ', b'/']), Some(false));
    assert_eq!(looks_like_tls_midstream(&[23, 3, 3, 0, 1, 0, 23, 3]), None);
    // Not application data, a bad version, an impossible length, or text.
    assert_eq!(looks_like_tls_midstream(&[21, 3, 3, 0, 2, 1, 0]), Some(false));
    assert_eq!(looks_like_tls_midstream(&[23, 3, 9, 0, 2, 1, 0]), Some(false));
    assert_eq!(looks_like_tls_midstream(&[23, 3, 3, 0xff, 0xff, 1]), Some(false));
    assert_eq!(looks_like_tls_midstream(&[23, 3, 3, 0, 0]), Some(false));
    assert_eq!(looks_like_tls_midstream(b"INVITE sip:x SIP/2.0"), Some(false));
    assert_eq!(looks_like_tls_midstream(&[23, 3]), None);
}

#[test]
fn a_truncated_hello_is_a_named_error() {
    let mut m = client_hello_bytes();
    m.truncate(30);
    assert_eq!(client_hello(&m).map_err(|e| e.code), Err("tls_bad_handshake"));
}
