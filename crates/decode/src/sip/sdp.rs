//! SDP (RFC 8866) bodies: the session fields and every media description. Pure; unknown
//! lines are ignored, malformed ones skipped (the rest is still reported).

use smallvec::SmallVec;

/// A body's fields, borrowed from it. Lists hold what a typical body has without allocating
/// (one media description; six formats and four `rtpmap`s per media); more go to the heap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sdp<'a> {
    pub version: Option<&'a str>,
    pub owner_username: Option<&'a str>,
    pub owner_session_id: Option<&'a str>,
    pub owner_version: Option<&'a str>,
    pub owner_ip: Option<&'a str>,
    pub session_name: Option<&'a str>,
    /// Session-level `c=` line and its address.
    pub connection_info: Option<&'a str>,
    pub connection_address: Option<&'a str>,
    pub direction: Option<&'a str>,
    pub media: SmallVec<[Media<'a>; 1]>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Media<'a> {
    pub kind: &'a str,
    pub port: Option<u16>,
    pub protocol: &'a str,
    pub formats: SmallVec<[&'a str; 6]>,
    /// `a=rtpmap`: (payload type, encoding name, clock rate).
    pub rtpmap: SmallVec<[(&'a str, &'a str, Option<u32>); 4]>,
    pub connection_address: Option<&'a str>,
    pub direction: Option<&'a str>,
    pub ptime: Option<u32>,
}

const DIRECTIONS: [&str; 4] = ["sendrecv", "sendonly", "recvonly", "inactive"];

/// The space-separated fields of a line (runs of spaces or tabs tolerated).
fn fields(v: &str) -> impl Iterator<Item = &str> {
    split_bytes(v, |c| matches!(c, b' ' | b'\t')).filter(|f| !f.is_empty())
}

/// The pieces of `text` between the ASCII bytes `at` picks (bodies are short: a byte loop
/// beats the general string searcher).
fn split_bytes(text: &str, at: impl Fn(u8) -> bool) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(&at) {
            // `at` picks ASCII bytes only, so both sides are on character boundaries.
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => rest.take(),
        }
    })
}

/// `text` up to the first `b` (an ASCII byte), and the rest after it; all of `text` when there
/// is none. SDP fields are short: a byte loop beats the general string searcher.
fn cut(text: &str, b: u8) -> (&str, Option<&str>) {
    match text.bytes().position(|c| c == b) {
        // `b` is ASCII, so both sides are on character boundaries.
        Some(i) => (text.get(..i).unwrap_or(text), text.get(i + 1..)),
        None => (text, None),
    }
}

/// Parses an SDP body; `max_media` caps the media descriptions kept.
pub fn parse(body: &[u8], max_media: usize) -> Option<Sdp<'_>> {
    if !body.starts_with(b"v=") {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut s = Sdp::default();
    // RFC 8866 §5: `<type>=<value>` lines, fields separated by single spaces.
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut start = 0;
    let ends = iotw_event::bytes::positions(text.as_bytes(), b'\n').chain(std::iter::once(text.len()));
    for end in ends {
        // `\n` is ASCII: these are character boundaries.
        let line = text.get(start..end).unwrap_or("");
        start = end + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (k, v) = match line.as_bytes() {
            [k, b'=', ..] => (*k, line.get(2..).unwrap_or("")),
            _ => continue,
        };
        let in_media = !s.media.is_empty();
        match k {
            b'v' => s.version = Some(v),
            b'o' => {
                let mut f = fields(v);
                let (user, id, version) = (f.next(), f.next(), f.next());
                if let Some(ip) = f.nth(2) {
                    (s.owner_username, s.owner_session_id, s.owner_version) = (user, id, version);
                    s.owner_ip = Some(ip);
                }
            }
            b's' => s.session_name = Some(v),
            b'c' => {
                let addr = fields(v).nth(2).map(|a| cut(a, b'/').0);
                match s.media.last_mut() {
                    Some(m) => m.connection_address = addr,
                    None => {
                        s.connection_info = Some(v);
                        s.connection_address = addr;
                    }
                }
            }
            b'm' => {
                if s.media.len() >= max_media {
                    continue;
                }
                let mut f = fields(v);
                let kind = f.next().unwrap_or("");
                let port = f.next().and_then(|p| cut(p, b'/').0.parse().ok());
                let protocol = f.next().unwrap_or("");
                s.media.push(Media { kind, port, protocol, formats: f.collect(), ..Media::default() });
            }
            b'a' => {
                let (name, value) = cut(v, b':');
                let value = value.unwrap_or("");
                if name.len() == 8 && DIRECTIONS.contains(&name) {
                    match s.media.last_mut() {
                        Some(m) => m.direction = Some(name),
                        None => s.direction = Some(name),
                    }
                } else if in_media {
                    let Some(m) = s.media.last_mut() else { continue };
                    match name {
                        "rtpmap" => {
                            let (pt, enc) = cut(value, b' ');
                            let (codec, rate) = cut(enc.unwrap_or(""), b'/');
                            let rate = rate.and_then(|r| cut(r, b'/').0.parse().ok());
                            m.rtpmap.push((pt, codec, rate));
                        }
                        "ptime" => m.ptime = value.trim().parse().ok(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.1.1\r\ns=-\r\nc=IN IP4 127.0.1.1\r\n\
t=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendonly\r\nm=video 0 RTP/AVP 96\r\nc=IN IP4 10.0.0.9/127\r\n";

    #[test]
    fn session_and_media_descriptions() {
        let s = parse(OFFER, 16).unwrap();
        assert_eq!(s.owner_ip, Some("127.0.1.1"));
        assert_eq!(s.connection_address, Some("127.0.1.1"));
        assert_eq!(s.media.len(), 2);
        let a = &s.media[0];
        assert_eq!((a.kind, a.port, a.protocol), ("audio", Some(6000), "RTP/AVP"));
        assert_eq!(a.formats.as_slice(), ["0", "8", "101"]);
        assert_eq!(a.rtpmap[2], ("101", "telephone-event", Some(8000)));
        assert_eq!((a.ptime, a.direction), (Some(20), Some("sendonly")));
        assert_eq!(s.media[1].connection_address, Some("10.0.0.9"));
        assert_eq!(s.media[1].port, Some(0));
    }

    /// The parser as first written, with the standard library's splitting: the reference
    /// the byte-level one is checked against.
    fn parse_by_splitting(body: &[u8], max_media: usize) -> Option<Sdp<'_>> {
        let text = std::str::from_utf8(body).ok()?;
        if !text.starts_with("v=") {
            return None;
        }
        let mut s = Sdp::default();
        let text = text.strip_suffix('\n').unwrap_or(text);
        for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            let (k, v) = match line.as_bytes() {
                [k, b'=', ..] => (*k, &line[2..]),
                _ => continue,
            };
            let in_media = !s.media.is_empty();
            match k {
                b'v' => s.version = Some(v),
                b'o' => {
                    let mut f = v.split([' ', '\t']).filter(|f| !f.is_empty());
                    let (user, id, version) = (f.next(), f.next(), f.next());
                    if let Some(ip) = f.nth(2) {
                        (s.owner_username, s.owner_session_id, s.owner_version) = (user, id, version);
                        s.owner_ip = Some(ip);
                    }
                }
                b's' => s.session_name = Some(v),
                b'c' => {
                    let mut f = v.split([' ', '\t']).filter(|f| !f.is_empty());
                    let addr = f.nth(2).map(|a| a.split('/').next().unwrap_or(a));
                    match s.media.last_mut() {
                        Some(m) => m.connection_address = addr,
                        None => (s.connection_info, s.connection_address) = (Some(v), addr),
                    }
                }
                b'm' => {
                    if s.media.len() >= max_media {
                        continue;
                    }
                    let mut f = v.split([' ', '\t']).filter(|f| !f.is_empty());
                    let kind = f.next().unwrap_or("");
                    let port = f.next().and_then(|p| p.split('/').next()?.parse().ok());
                    let protocol = f.next().unwrap_or("");
                    s.media.push(Media { kind, port, protocol, formats: f.collect(), ..Media::default() });
                }
                b'a' => {
                    let (name, value) = v.split_once(':').unwrap_or((v, ""));
                    if DIRECTIONS.contains(&name) {
                        match s.media.last_mut() {
                            Some(m) => m.direction = Some(name),
                            None => s.direction = Some(name),
                        }
                    } else if let (true, Some(m)) = (in_media, s.media.last_mut()) {
                        match name {
                            "rtpmap" => {
                                let (pt, enc) = value.split_once(' ').unwrap_or((value, ""));
                                let mut e = enc.split('/');
                                let codec = e.next().unwrap_or("");
                                m.rtpmap.push((pt, codec, e.next().and_then(|r| r.parse().ok())));
                            }
                            "ptime" => m.ptime = value.trim().parse().ok(),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Some(s)
    }

    #[test]
    fn bodies_read_as_splitting_them_does() {
        let mut bodies: Vec<Vec<u8>> =
            vec![OFFER.to_vec(), b"v=0".to_vec(), b"v=0\n\n".to_vec(), vec![b'v', b'=', 0xff]];
        let lines = [
            "v=0",
            "o=a 1 2 IN IP4 10.0.0.1",
            "o=a  1\t2 IN IP4",
            "s=-",
            "c=IN IP4 10.0.0.2/127",
            "c=IN IP4",
            "c=IN  IP6 ::1/2/3",
            "m=audio 6000/2 RTP/AVP 0 8",
            "m=video 0 RTP/AVP",
            "m=x 99999 P",
            "m=",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000/1",
            "a=rtpmap:9",
            "a=rtpmap:9 G722/",
            "a=ptime: 20 ",
            "a=sendonly",
            "a=inactive:x",
            "a=recvonly",
            "a=",
            "a:sendrecv",
            "x",
            "",
            "\u{e9}=\u{e9}",
            "a=rtpmap:\u{e9} \u{e9}/8000",
        ];
        let mut n = 7u64;
        for _ in 0..4000 {
            let mut body = String::from("v=0");
            for _ in 0..(n % 13) {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                body.push_str(if n & (1 << 40) != 0 { "\r\n" } else { "\n" });
                body.push_str(lines[(n >> 33) as usize % lines.len()]);
            }
            if n & (1 << 41) != 0 {
                body.push('\n');
            }
            bodies.push(body.into_bytes());
        }
        for b in &bodies {
            for max in [0, 1, 16] {
                assert_eq!(parse(b, max), parse_by_splitting(b, max), "{:?}", String::from_utf8_lossy(b));
            }
        }
    }

    #[test]
    fn not_sdp_and_media_cap() {
        assert!(parse(b"<xml/>", 16).is_none());
        assert_eq!(parse(OFFER, 1).unwrap().media.len(), 1);
    }
}
