use super::*;

const INVITE: &[u8] = b"INVITE sip:service@127.0.0.1:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.1.1:5060;branch=z9hG4bK-1-0\r\n\
From: \"Alice A\" <sip:alice@127.0.1.1:5060>;tag=1SIPpTag001\r\n\
t: sut <sip:service@127.0.0.1:5070>\r\n\
i: 1-12345@127.0.1.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:alice@127.0.1.1:5060\r\n\
Max-Forwards: 70\r\n\
X-Genesys-CallUUID: ABCDEF0123\r\n\
Subject: Performance\r\n  Test\r\n\
Content-Type: application/sdp\r\n\
l: 4\r\n\r\nv=0\r";

#[test]
fn request_with_compact_and_folded_headers() {
    let Parsed::Message(m) = parse(INVITE, 65536, 64, false).unwrap() else { panic!("complete") };
    assert_eq!(m.start, StartLine::Request { method: "INVITE", uri: "sip:service@127.0.0.1:5070" });
    assert_eq!(m.version, "2.0");
    assert_eq!(m.header("call-id"), Some("1-12345@127.0.1.1"));
    assert_eq!(m.header("subject"), Some("Performance Test"));
    assert_eq!(m.header("x-genesys-calluuid"), Some("ABCDEF0123"));
    assert_eq!(m.body, b"v=0\r");
    assert_eq!(m.len, INVITE.len());
    let from = parse_name_addr(m.header("from").unwrap());
    assert_eq!(from.display, Some("Alice A"));
    assert_eq!((from.uri.user, from.uri.host, from.uri.port), (Some("alice"), Some("127.0.1.1"), Some(5060)));
    assert_eq!(from.param("tag"), Some("1SIPpTag001"));
    let via = parse_via(m.header("via").unwrap());
    assert_eq!((via.transport, via.host, via.port, via.branch), ("UDP", "127.0.1.1", Some(5060), Some("z9hG4bK-1-0")));
    assert_eq!(parse_cseq(m.header("cseq").unwrap()), Some((1, "INVITE")));
}

#[test]
fn stream_framing_waits_for_headers_and_body() {
    for cut in [10, INVITE.len() - 3] {
        match parse(&INVITE[..cut], 65536, 64, false).unwrap() {
            Parsed::Incomplete { needed } => assert!(needed > cut),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    let mut two = INVITE.to_vec();
    two.extend_from_slice(b"SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
    let Parsed::Message(m) = parse(&two, 65536, 64, false).unwrap() else { panic!() };
    let Parsed::Message(r) = parse(&two[m.len..], 65536, 64, false).unwrap() else { panic!() };
    assert_eq!(r.start, StartLine::Response { code: 100, phrase: "Trying" });
}

#[test]
fn datagram_without_content_length_takes_the_rest() {
    let d = b"SIP/2.0 200 OK\r\nCSeq: 2 BYE\r\n\r\nbody";
    let Parsed::Message(m) = parse(d, 65536, 64, true).unwrap() else { panic!() };
    assert_eq!(m.body, b"body");
    let short = b"SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    let Parsed::Message(m) = parse(short, 65536, 64, true).unwrap() else { panic!() };
    assert!(m.body_truncated);
}

#[test]
fn malformed_messages_are_named_errors() {
    for (bytes, code) in [
        (&b"SIP/2.0 abc OK\r\n\r\n"[..], "sip_bad_start_line"),
        (b"INVITE sip:x\r\n\r\n", "sip_bad_start_line"),
        (b"OPTIONS sip:x SIP/2.0\r\nNoColonHere\r\n\r\n", "sip_bad_header"),
        (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: lots\r\n\r\n", "sip_bad_content_length"),
        (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", "sip_message_too_large"),
    ] {
        assert_eq!(parse(bytes, 65536, 64, false).unwrap_err().code, code, "{:?}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn header_limit_keeps_the_first_headers() {
    let mut m = b"OPTIONS sip:x SIP/2.0\r\n".to_vec();
    for i in 0..10 {
        m.extend_from_slice(format!("X-H{i}: {i}\r\n").as_bytes());
    }
    m.extend_from_slice(b"\r\n");
    let Parsed::Message(p) = parse(&m, 65536, 4, false).unwrap() else { panic!() };
    assert_eq!((p.headers.len(), p.dropped_headers), (4, 6));
}

#[test]
fn probe_recognises_requests_and_responses_only() {
    assert_eq!(looks_like_sip(b"REGISTER sip:x SIP/2.0\r\n"), Some(true));
    assert_eq!(looks_like_sip(b"SIP/2.0 180 Ringing\r\n"), Some(true));
    assert_eq!(looks_like_sip(b"GET / HTTP/1.1\r\n"), Some(false));
    assert_eq!(looks_like_sip(b"INV"), None);
    assert_eq!(looks_like_sip(b"\x16\x03\x01"), Some(false));
}

#[test]
fn uris_lists_and_ipv6() {
    let u = parse_uri("sips:+441234567890@[2001:db8::1]:5061;transport=tls?subject=x");
    assert_eq!((u.scheme, u.user, u.host, u.port), ("sips", Some("+441234567890"), Some("2001:db8::1"), Some(5061)));
    let t = parse_uri("tel:+44-20-7946-0000;phone-context=x");
    assert_eq!((t.scheme, t.user), ("tel", Some("+44-20-7946-0000")));
    let parts: Vec<&str> = split_list("\"A, B\" <sip:a@x>;q=1, <sip:b@y>").collect();
    assert_eq!(parts, ["\"A, B\" <sip:a@x>;q=1", "<sip:b@y>"]);
}

#[test]
fn short_uris_read_as_byte_by_byte() {
    let mut inputs: Vec<String> = [
        "sip:alice@127.0.1.1:5060",
        "sips:+441234567890@[2001:db8::1]:5061;transport=tls?subject=x",
        "sip:a:pw@h;lr?x=@y",
        "tel:+44-20-7946-0000;phone-context=x",
        "TEL:123",
        "sip:h:99999",
        "sip:[::1",
        "sip:@",
        "nocolon",
        ":",
        "sip:caf\u{e9}@h\u{e9}te:1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // And every mix of the delimiters and a few troublesome pieces, up to 64 bytes and past.
    let pieces = [":", "@", "?", ";", "[", "]", "sip", "tel", "1", "5060", "a", " ", "\u{e9}", "99999"];
    let mut n = 7u64;
    for _ in 0..20_000 {
        let mut s = String::new();
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        for _ in 0..(n >> 59) + (n >> 61) {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push_str(pieces[(n >> 33) as usize % pieces.len()]);
        }
        inputs.push(s);
    }
    let mut short = 0;
    for s in &inputs {
        assert_eq!(parse_uri(s), parse_uri_bytewise(trim_lws(s)), "{s:?}");
        short += usize::from(trim_lws(s).len() <= 64);
    }
    assert!(short > 15_000 && short < inputs.len(), "both lengths tried: {short} short");
}

#[test]
fn header_parameters_are_those_of_the_whole_value() {
    for v in [
        "\"Alice A\" <sip:alice@127.0.1.1:5060>;tag=1SIPpTag001",
        " <sip:bob@x;lr>;tag=b2 ",
        "sip:carl@y;tag=c3;expires=60",
        "sip:dan@z",
        "<sip:eve@w",
        "\"no uri\" <>;tag=",
        "",
    ] {
        assert_eq!(name_addr_params(v), parse_name_addr(v).params, "{v:?}");
    }
    assert_eq!(param(name_addr_params(" <sip:bob@x;tag=no>;tag=b2 "), "tag"), Some("b2"), "not the URI's");
}

#[test]
fn messages_with_more_lines_than_the_scan_keeps_parse_whole() {
    let mut m = b"OPTIONS sip:x SIP/2.0\r\n".to_vec();
    for i in 0..300 {
        m.extend_from_slice(format!("X-H{i}: v{i}\r\n").as_bytes());
    }
    m.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    let Parsed::Message(p) = parse(&m, 65536, 1000, false).unwrap() else { panic!() };
    assert_eq!(p.headers.len(), 301);
    assert_eq!(p.header("x-h299"), Some("v299"));
    // Content-Length is the 301st header: past where the index keeps places.
    assert_eq!(p.body, b"ok");
    assert_eq!(p.known(Known::CONTENT_LENGTH), Some("2"));
    assert_eq!(p.known(Known::VIA), None);
    assert_eq!((p.body, p.len), (&b"ok"[..], m.len()));
}

/// Header lines cut as reading each one would cut them: at its first colon, the name
/// trimmed and refused when empty or spaced, whether the line lies in the blocks whose colons
/// the scan found or past them (heads of 2 KiB and more), and across block boundaries.
#[test]
fn header_lines_are_cut_at_their_first_colon_wherever_they_lie() {
    let pieces = ["X-A", "x-b", "Via", "v", " ", "\t", ":", "val", "a:b", "\u{e9}", "SIP/2.0 h;branch=1"];
    let mut n = 11u64;
    let mut next = || {
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (n >> 33) as usize
    };
    for round in 0..3000 {
        let mut m = String::from("OPTIONS sip:x SIP/2.0\r\n");
        // Padding so that lines start anywhere, and sometimes past the first 2 KiB.
        let pad = next() % 70 + if round % 5 == 0 { 2100 } else { 0 };
        m.push_str(&format!("X-Pad: {}\r\n", "p".repeat(pad)));
        let mut lines = Vec::new();
        for _ in 0..(next() % 4 + 1) {
            let mut line = String::new();
            for _ in 0..(next() % 6 + 1) {
                line.push_str(pieces[next() % pieces.len()]);
            }
            if line.starts_with([' ', '\t']) {
                line.insert(0, 'Y'); // not a folded line
            }
            lines.push(line);
        }
        for l in &lines {
            m.push_str(l);
            m.push_str("\r\n");
        }
        m.push_str("\r\n");
        let want: Result<Vec<(String, String)>, ()> = lines
            .iter()
            .map(|l| {
                let (name, value) = l.split_once(':').ok_or(())?;
                let name = trim_lws(name);
                if name.is_empty() || name.contains(' ') {
                    return Err(());
                }
                Ok((header_name(name).0.into_owned(), trim_lws(value).to_owned()))
            })
            .collect();
        let got = match parse(m.as_bytes(), 1 << 20, 64, false) {
            Ok(Parsed::Message(p)) => {
                Ok(p.headers[1..].iter().map(|h| (h.name.to_string(), h.value.to_string())).collect::<Vec<_>>())
            }
            Ok(Parsed::Incomplete { .. }) => panic!("whole message: {m:?}"),
            Err(e) => {
                assert_eq!(e.code, "sip_bad_header", "{m:?}");
                Err(())
            }
        };
        assert_eq!(got, want, "{m:?}");
    }
}

#[test]
fn an_owned_message_reads_back_the_same_without_parsing_again() {
    let mut two = INVITE.to_vec();
    two.extend_from_slice(b"SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nX-Odd: a\r\n b\r\nContent-Length: 0\r\n\r\n");
    for at in [0, INVITE.len()] {
        let Parsed::Message(m) = parse(&two[at..], 65536, 64, false).unwrap() else { panic!() };
        let owned = OwnedMessage::new(&m);
        let again = owned.view();
        assert_eq!(
            (again.start.clone(), again.version, again.body, again.len),
            (m.start.clone(), m.version, m.body, m.len)
        );
        let names = |m: &Message<'_>| {
            m.headers.iter().map(|h| (h.name.to_string(), h.value.to_string(), h.known)).collect::<Vec<_>>()
        };
        assert_eq!(names(&again), names(&m));
        assert_eq!(again.index, m.index);
    }
    // A header of a copy is two ranges and an index: the list is most of what the rendering
    // thread reads of a copy.
    assert!(std::mem::size_of::<(Text, Text, Option<u8>)>() <= 20);
}

#[test]
fn a_header_list_handed_back_parses_the_next_message_in_the_same_memory() {
    let mut two = INVITE.to_vec();
    two.extend_from_slice(b"SIP/2.0 100 Trying\r\nCSeq: 1 INVITE\r\nX-Odd: a\r\n b\r\nContent-Length: 0\r\n\r\n");
    let Parsed::Message(first) = parse(&two, 65536, 64, false).unwrap() else { panic!() };
    let (len, want) = (first.len, first.headers.len());
    let list = reuse(first.headers);
    let (at, room) = (list.as_ptr(), list.capacity());
    assert!(list.is_empty() && room >= want, "emptied, its room kept: {room} for {want}");
    let Parsed::Message(next) = parse_with(&two[len..], 65536, 64, false, list).unwrap() else { panic!() };
    assert_eq!(next.headers.as_ptr(), at, "the same memory");
    let fresh = parse(&two[len..], 65536, 64, false).unwrap();
    assert_eq!(Parsed::Message(next), fresh, "as parsed into a new list");
}

#[test]
fn the_known_names_index_finds_what_a_scan_finds() {
    for (i, name) in KNOWN.iter().enumerate() {
        assert_eq!(known_id(name.as_bytes()), Some(i), "{name}");
    }
    let raw = b"OPTIONS sip:a@b SIP/2.0\r\nX-A: 1\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP g;branch=z9hG4bK2, \
                SIP/2.0/UDP f\r\nCALL-ID: c1\r\nx-a: 2\r\nFrom: <sip:a@b>;tag=1\r\nf: <sip:x@y>\r\n\
                Reason: Q.850;cause=16\r\nl: 0\r\n\r\n";
    let Parsed::Message(m) = parse(raw, 65536, 64, false).unwrap() else { panic!() };
    let names = ["via", "call-id", "from", "x-a", "reason", "content-length", "to", "cseq", "x-b", "subject"];
    for name in names {
        let scan = m.headers.iter().find(|h| h.name == name).map(|h| h.value.as_ref());
        assert_eq!(m.header(name), scan, "{name}");
        let all: Vec<&str> = m.headers.iter().filter(|h| h.name == name).flat_map(|h| split_list(&h.value)).collect();
        assert_eq!(m.header_values(name).collect::<Vec<_>>(), all, "{name}");
    }
    assert_eq!(m.header_values("via").count(), 3);
    assert_eq!(m.header("from"), Some("<sip:a@b>;tag=1"));
    assert_eq!(m.header("to"), None);
}

/// What `param` did before it became one pass: split at `;`, then at the first `=`.
fn param_by_splitting<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        trim_lws(k).eq_ignore_ascii_case(name).then(|| trim_quotes(trim_lws(v)))
    })
}

#[test]
fn parameters_and_via_branches_read_as_splitting_them_does() {
    let mut inputs: Vec<String> = [
        "",
        ";",
        ";;",
        "branch",
        ";branch",
        ";branch=",
        ";BRANCH = \"z9hG4bK-1\" ;rport",
        ";rport;branch=z9hG4bK-2;received=10.0.0.1",
        ";a=b=c;branch=x=y",
        " ; branch=\t z9 \t",
        ";tag=1;tag=2",
        ";\u{e9}=\u{e9};branch=\u{e9}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // And every mix of a few troublesome pieces.
    let pieces = [";", "=", " ", "branch", "tag", "\"", "x", "\u{e9}"];
    let mut n = 1u64;
    for _ in 0..5000 {
        let mut s = String::new();
        for _ in 0..(n % 9) {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push_str(pieces[(n >> 33) as usize % pieces.len()]);
        }
        inputs.push(s);
    }
    for p in &inputs {
        for name in ["branch", "tag", "x", ""] {
            assert_eq!(param(p, name), param_by_splitting(p, name), "{p:?} {name:?}");
        }
        let long = format!("SIP/2.0/UDP {}.example:5060{p}", "h".repeat(50));
        for via in [format!("SIP/2.0/UDP h:5060{p}"), format!(" SIP/2.0/TCP\t[::1]:5061 {p}"), p.clone(), long] {
            assert_eq!(via_branch(&via), parse_via(&via).branch, "{via:?}");
            assert_eq!(via_branch(&via), via_branch_bytewise(&via), "{via:?}");
        }
    }
}

#[test]
fn word_lowercasing_is_ascii_lowercasing() {
    let check = |b: [u8; 8]| {
        let mut expected = b;
        expected.make_ascii_lowercase();
        assert_eq!(lowercase_word(u64::from_le_bytes(b)).to_le_bytes(), expected, "{b:?}");
    };
    let mut n = 7u64;
    for _ in 0..50_000 {
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        check(n.to_le_bytes());
    }
    for start in (0..=255u8).step_by(8) {
        check(std::array::from_fn(|i| start.wrapping_add(i as u8)));
    }
}

#[test]
fn known_names_are_found_in_any_case_and_nothing_else_is() {
    for (i, name) in KNOWN.iter().enumerate() {
        assert_eq!(known_id(name.as_bytes()), Some(i));
        assert_eq!(known_id(name.to_ascii_uppercase().as_bytes()), Some(i));
        let mut odd = name.to_string().into_bytes();
        let mid = odd.len() / 2;
        odd[mid] ^= 0x01;
        assert_eq!(known_id(&odd), None, "{}", String::from_utf8_lossy(&odd));
        let mut cr = name.to_string().into_bytes();
        if let Some(dash) = cr.iter().position(|&c| c == b'-') {
            cr[dash] = b'\r'; // '-' is '\r' with the lowercase bit set: not the same name
            assert_eq!(known_id(&cr), None);
        }
    }
    assert_eq!(known_id(b""), None);
    assert_eq!(known_id(b"X-Unknown"), None);
}
