//! DNS messages (RFC 1035 §4, RFC 3596 for AAAA, RFC 2782 for SRV): header, questions and
//! resource records, names with compression pointers. Every count and length read off the
//! wire is checked against what is left of the message; pointers may only go backwards, so a
//! loop cannot form.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Records read per section, at most (the rest are counted, not kept).
pub const MAX_RECORDS: usize = 64;
/// A name's length in text, at most (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 255;
/// Labels followed per name (compression included).
const MAX_LABELS: usize = 128;

/// Why a message does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header or than what its counts and lengths say.
    Truncated,
    /// A name that points forward or past the message, or is too long.
    BadName,
    /// A header that no DNS message has (an opcode or a count out of reason).
    NotDns,
}

impl Error {
    pub fn code(self) -> &'static str {
        match self {
            Error::Truncated => "dns_truncated",
            Error::BadName => "dns_bad_name",
            Error::NotDns => "dns_not_dns",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub class: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// The data as text: an address, a name, `pref name` (MX), `prio weight port target`
    /// (SRV), the strings (TXT), or RFC 3597's `\# len hex` for other types.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub flags: Flags,
    pub rcode: u8,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The counts the header gave (records past [`MAX_RECORDS`] are not kept).
    pub counts: [u16; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    pub authentic_data: bool,
    pub checking_disabled: bool,
}

impl Flags {
    /// Packetbeat's `dns.header_flags` names.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.authoritative, "AA"),
            (self.truncated, "TC"),
            (self.recursion_desired, "RD"),
            (self.recursion_available, "RA"),
            (self.authentic_data, "AD"),
            (self.checking_disabled, "CD"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
    }
}

fn u16_at(m: &[u8], at: usize) -> Result<u16, Error> {
    Ok(u16::from_be_bytes([*m.get(at).ok_or(Error::Truncated)?, *m.get(at + 1).ok_or(Error::Truncated)?]))
}

/// Reads the name at `at`: its text and where the name ends in place (after the first
/// pointer, or after the root label).
fn name(m: &[u8], mut at: usize) -> Result<(String, usize), Error> {
    let mut out = String::new();
    let mut end = None;
    let mut limit = at;
    for _ in 0..MAX_LABELS {
        let len = *m.get(at).ok_or(Error::Truncated)?;
        match len >> 6 {
            0 => {
                if len == 0 {
                    if out.is_empty() {
                        out.push('.');
                    }
                    return Ok((out, end.unwrap_or(at + 1)));
                }
                let label = m.get(at + 1..at + 1 + usize::from(len)).ok_or(Error::Truncated)?;
                if !out.is_empty() {
                    out.push('.');
                }
                for &b in label {
                    // Printable as is; anything else escaped as \DDD (RFC 4343).
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        out.push(char::from(b));
                    } else {
                        let _ = write!(out, "\\{b:03}");
                    }
                }
                if out.len() > MAX_NAME * 4 {
                    return Err(Error::BadName);
                }
                at += 1 + usize::from(len);
            }
            3 => {
                let target = usize::from(u16_at(m, at)? & 0x3fff);
                // Only backwards, and before every place already read: no loop.
                if target >= limit {
                    return Err(Error::BadName);
                }
                end.get_or_insert(at + 2);
                limit = target;
                at = target;
            }
            // 0b01 and 0b10: extended label types (RFC 6891 retired them).
            _ => return Err(Error::BadName),
        }
    }
    Err(Error::BadName)
}

/// A record type's mnemonic, or `TYPE<n>` (RFC 3597).
pub fn type_name(t: u16) -> String {
    let n = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        257 => "CAA",
        _ => return format!("TYPE{t}"),
    };
    n.to_owned()
}

/// A class's mnemonic.
pub fn class_name(c: u16) -> String {
    match c {
        1 => "IN".to_owned(),
        3 => "CH".to_owned(),
        4 => "HS".to_owned(),
        254 => "NONE".to_owned(),
        255 => "ANY".to_owned(),
        _ => format!("CLASS{c}"),
    }
}

/// A response code's name (RFC 1035, RFC 2136).
pub fn rcode_name(r: u8) -> String {
    let n = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return format!("RCODE{r}"),
    };
    n.to_owned()
}

/// An opcode's name.
pub fn opcode_name(o: u8) -> String {
    match o {
        0 => "QUERY".to_owned(),
        1 => "IQUERY".to_owned(),
        2 => "STATUS".to_owned(),
        4 => "NOTIFY".to_owned(),
        5 => "UPDATE".to_owned(),
        _ => format!("OPCODE{o}"),
    }
}

fn rdata(m: &[u8], t: u16, at: usize, len: usize) -> Result<String, Error> {
    let d = m.get(at..at + len).ok_or(Error::Truncated)?;
    let text = match (t, len) {
        (1, 4) => Ipv4Addr::new(d[0], d[1], d[2], d[3]).to_string(),
        (28, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(d);
            Ipv6Addr::from(b).to_string()
        }
        (2 | 5 | 12, _) => name(m, at)?.0,
        (15, _) if len >= 3 => format!("{} {}", u16_at(m, at)?, name(m, at + 2)?.0),
        (33, _) if len >= 7 => {
            let (p, w, port) = (u16_at(m, at)?, u16_at(m, at + 2)?, u16_at(m, at + 4)?);
            format!("{p} {w} {port} {}", name(m, at + 6)?.0)
        }
        (16, _) => {
            let mut parts = Vec::new();
            let mut i = 0;
            while i < d.len() {
                let n = usize::from(d[i]);
                let s = d.get(i + 1..i + 1 + n).ok_or(Error::Truncated)?;
                parts.push(String::from_utf8_lossy(s).into_owned());
                i += 1 + n;
            }
            parts.join(" ")
        }
        (6, _) => {
            let (mname, next) = name(m, at)?;
            let (rname, next) = name(m, next)?;
            let mut nums = Vec::new();
            for k in 0..5 {
                let p = next + 4 * k;
                let b = m.get(p..p + 4).ok_or(Error::Truncated)?;
                nums.push(u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_string());
            }
            format!("{mname} {rname} {}", nums.join(" "))
        }
        _ => {
            let mut s = format!("\\# {len}");
            if len > 0 {
                s.push(' ');
                for b in d.iter().take(256) {
                    let _ = write!(s, "{b:02x}");
                }
            }
            s
        }
    };
    Ok(text)
}

/// Parses one DNS message (the payload of a UDP datagram, or one length-framed message of
/// a TCP stream).
pub fn parse(m: &[u8]) -> Result<Message, Error> {
    if m.len() < 12 {
        return Err(Error::Truncated);
    }
    let id = u16_at(m, 0)?;
    let (f1, f2) = (m[2], m[3]);
    let opcode = (f1 >> 3) & 0x0f;
    if !matches!(opcode, 0..=2 | 4 | 5) || f2 & 0x40 != 0 {
        // Unassigned opcodes, and the Z bit (which must be zero).
        return Err(Error::NotDns);
    }
    let counts = [u16_at(m, 4)?, u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?];
    // Each question takes at least 5 bytes, each record 11: counts beyond that are not DNS.
    if usize::from(counts[0]) * 5 + (usize::from(counts[1]) + usize::from(counts[2]) + usize::from(counts[3])) * 11
        > m.len() - 12
    {
        return Err(Error::Truncated);
    }
    let mut at = 12;
    let mut questions = Vec::new();
    for _ in 0..counts[0] {
        let (n, next) = name(m, at)?;
        let q = Question { name: n, qtype: u16_at(m, next)?, class: u16_at(m, next + 2)? };
        at = next + 4;
        if questions.len() < MAX_RECORDS {
            questions.push(q);
        }
    }
    let mut sections: [Vec<Record>; 3] = Default::default();
    for (section, count) in sections.iter_mut().zip(&counts[1..]) {
        for _ in 0..*count {
            let (n, next) = name(m, at)?;
            let rtype = u16_at(m, next)?;
            let class = u16_at(m, next + 2)?;
            let ttl = (u32::from(u16_at(m, next + 4)?) << 16) | u32::from(u16_at(m, next + 6)?);
            let len = usize::from(u16_at(m, next + 8)?);
            let start = next + 10;
            if start + len > m.len() {
                return Err(Error::Truncated);
            }
            if section.len() < MAX_RECORDS {
                let data = rdata(m, rtype, start, len)?;
                section.push(Record { name: n, rtype, class, ttl, data });
            }
            at = start + len;
        }
    }
    let [answers, authorities, additionals] = sections;
    Ok(Message {
        id,
        response: f1 & 0x80 != 0,
        opcode,
        flags: Flags {
            authoritative: f1 & 0x04 != 0,
            truncated: f1 & 0x02 != 0,
            recursion_desired: f1 & 0x01 != 0,
            recursion_available: f2 & 0x80 != 0,
            authentic_data: f2 & 0x20 != 0,
            checking_disabled: f2 & 0x10 != 0,
        },
        rcode: f2 & 0x0f,
        questions,
        answers,
        authorities,
        additionals,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response for `www.example.com A` with a CNAME and an A record, names compressed.
    fn response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        // www.example.com CNAME web.example.com (web + pointer to example.com at 16).
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 6]);
        m.extend_from_slice(b"\x03web\xc0\x10");
        // web.example.com (pointer to the CNAME's data at 45) A 192.0.2.7.
        m.extend_from_slice(&[0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]);
        m
    }

    #[test]
    fn a_response_with_compressed_names_reads_whole() {
        let m = parse(&response()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(m.id, 0x1234);
        assert!(m.response && m.flags.recursion_desired && m.flags.recursion_available);
        assert_eq!(m.questions, [Question { name: "www.example.com".into(), qtype: 1, class: 1 }]);
        assert_eq!(m.answers.len(), 2);
        assert_eq!((m.answers[0].rtype, m.answers[0].data.as_str()), (5, "web.example.com"));
        assert_eq!((m.answers[1].name.as_str(), m.answers[1].data.as_str()), ("web.example.com", "192.0.2.7"));
        assert_eq!(m.answers[1].ttl, 60);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let r = response();
        for n in 0..r.len() {
            assert!(parse(&r[..n]).is_err(), "{n} bytes");
        }
    }

    #[test]
    fn pointers_that_loop_or_point_forward_are_refused() {
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        // A name that is a pointer to itself.
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&m), Err(Error::BadName));
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 14, 0, 0, 1, 0, 1]);
        assert_eq!(parse(&m), Err(Error::BadName));
    }

    #[test]
    fn counts_beyond_the_message_are_refused_before_anything_is_read() {
        let m = [0, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(parse(&m), Err(Error::Truncated));
        let z = [0, 1, 1, 0x40, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&z).err(), Some(Error::NotDns));
    }
}
