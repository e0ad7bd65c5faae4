use super::*;

fn head(s: &str) -> Head<'_> {
    match parse_head(s.as_bytes(), 65536, 64) {
        Ok(Parsed::Head(h)) => h,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_head_is_read_with_lowercased_field_names() {
    let h = head("GET /a?b=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8\r\nX-Two: a\r\nx-two: b\r\n\r\nBODY");
    assert_eq!(h.start, StartLine::Request { method: "GET", target: "/a?b=1" });
    assert_eq!(h.version, "1.1");
    assert_eq!(h.get("host"), Some("example.org"));
    assert_eq!(h.get("user-agent"), Some("curl/8"));
    assert_eq!(h.list("x-two").collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(h.len, 82);
}

#[test]
fn a_status_line_with_an_empty_phrase_and_bare_lf_line_ends_is_read() {
    let h = head("HTTP/1.0 204\nServer: x\n\n");
    assert_eq!(h.start, StartLine::Response { code: 204, phrase: "" });
    assert_eq!(h.version, "1.0");
    assert_eq!(h.len, 24);
}

#[test]
fn an_unfinished_head_asks_for_more_and_an_endless_one_is_refused() {
    assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n", 1024, 8), Ok(Parsed::Incomplete));
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(2000));
    assert_eq!(parse_head(long.as_bytes(), 1024, 8).map_err(|e| e.code), Err("http_head_too_large"));
}

#[test]
fn bad_start_lines_and_fields_are_named_errors() {
    for (text, code) in [
        ("GET /\r\n\r\n", "http_bad_start_line"),
        ("HTTP/1.1 2000 OK\r\n\r\n", "http_bad_start_line"),
        ("HTTP/x.1 200 OK\r\n\r\n", "http_bad_start_line"),
        ("GET / HTTP/1.1\r\nno colon\r\n\r\n", "http_bad_header"),
        ("GET / HTTP/1.1\r\nbad name: x\r\n\r\n", "http_bad_header"),
        ("GET / HTTP/1.1\r\n folded first\r\n\r\n", "http_bad_header"),
    ] {
        assert_eq!(parse_head(text.as_bytes(), 1024, 8).map_err(|e| e.code), Err(code), "{text:?}");
    }
}

#[test]
fn fields_past_the_limit_are_counted_not_kept() {
    let h = match parse_head(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 1024, 2) {
        Ok(Parsed::Head(h)) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.dropped_headers, 1);
}

#[test]
fn framing_follows_rfc_9112_section_6_3() {
    let f = |s: &str, m: Option<&str>| framing(&head(s), m).map_err(|e| e.code);
    assert_eq!(f("GET / HTTP/1.1\r\n\r\n", None), Ok(Framing::None));
    assert_eq!(f("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", None), Ok(Framing::Length(12)));
    assert_eq!(f("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", None), Ok(Framing::Length(5)));
    assert_eq!(f("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", None), Err("http_bad_framing"));
    assert_eq!(f("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", None), Err("http_bad_framing"));
    assert_eq!(
        f("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n", None),
        Ok(Framing::Chunked)
    );
    assert_eq!(f("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", None), Err("http_bad_framing"));
    assert_eq!(f("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Some("GET")), Ok(Framing::UntilClose));
    assert_eq!(f("HTTP/1.1 200 OK\r\n\r\n", Some("GET")), Ok(Framing::UntilClose));
    assert_eq!(f("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Some("HEAD")), Ok(Framing::None));
    assert_eq!(f("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", Some("GET")), Ok(Framing::None));
    assert_eq!(f("HTTP/1.1 100 Continue\r\n\r\n", Some("POST")), Ok(Framing::None));
    assert_eq!(f("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", Some("GET")), Ok(Framing::Tunnel));
    assert_eq!(f("HTTP/1.1 200 Connection established\r\n\r\n", Some("CONNECT")), Ok(Framing::Tunnel));
}

#[test]
fn chunk_size_lines_are_read_with_extensions_and_capped() {
    assert_eq!(chunk_size(b"1a\r\nxx"), Ok(Some((26, 4))));
    assert_eq!(chunk_size(b"0;ext=1\r\n"), Ok(Some((0, 9))));
    assert_eq!(chunk_size(b"ff"), Ok(None));
    assert_eq!(chunk_size(b"zz\r\n").map_err(|e| e.code), Err("http_bad_chunk"));
    assert_eq!(chunk_size(b"1000000000000000\r\n").map_err(|e| e.code), Err("http_bad_chunk"));
    assert_eq!(chunk_size(&[b'1'; 2000]).map_err(|e| e.code), Err("http_bad_chunk"));
}

#[test]
fn trailers_end_at_their_empty_line() {
    assert_eq!(trailer_end(b"\r\nGET"), Some(2));
    assert_eq!(trailer_end(b"X-Sum: 1\r\n\r\nGET"), Some(12));
    assert_eq!(trailer_end(b"X-Sum: 1\r\n"), None);
    assert_eq!(trailer_end(b"\r"), None);
}

#[test]
fn http_is_told_from_sip_and_from_other_bytes() {
    assert_eq!(looks_like_http(b"GET / HTTP/1.1\r\n"), Some(true));
    assert_eq!(looks_like_http(b"M-SEARCH * HTTP/1.1\r\n"), Some(true));
    assert_eq!(looks_like_http(b"HTTP/1.1 200 OK\r\n"), Some(true));
    assert_eq!(looks_like_http(b"HTT"), None);
    assert_eq!(looks_like_http(b"GET /long/path"), None);
    assert_eq!(looks_like_http(b"INVITE sip:a@b SIP/2.0\r\n"), Some(false));
    assert_eq!(looks_like_http(b"SIP/2.0 200 OK\r\n"), Some(false));
    assert_eq!(looks_like_http(b"\x16\x03\x01\x02\x00"), Some(false));
    assert_eq!(looks_like_http(b"get / HTTP/1.1\r\n"), Some(false));
}
