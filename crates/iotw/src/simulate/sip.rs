//! SIP messages of the simulated site, as text.

use std::net::{Ipv4Addr, SocketAddrV4};

/// A SIP message's text.
#[allow(clippy::too_many_arguments)]
pub(super) fn sip_text(
    start: &str,
    via: SocketAddrV4,
    branch: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: &str,
    extra: &[String],
    body: &str,
) -> String {
    let mut m = format!(
        "{start}\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK{branch}\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n"
    );
    for h in extra {
        m.push_str(h);
        m.push_str("\r\n");
    }
    if !body.is_empty() {
        m.push_str("Content-Type: application/sdp\r\n");
    }
    m.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    m
}

pub(super) fn sdp(ip: Ipv4Addr, port: u16) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n")
}

/// One SIP dialog's fixed parts.
pub(super) struct Dialog {
    pub(super) a: SocketAddrV4,
    pub(super) b: SocketAddrV4,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) call_id: String,
    pub(super) uuid: String,
}

impl Dialog {
    /// The Via branch of a request (without the `z9hG4bK` cookie), for its responses.
    pub(super) fn branch(&self, method: &str, cseq: u32, a_to_b: bool) -> String {
        let src = if a_to_b { self.a } else { self.b };
        format!("{}-{cseq}-{method}", self.call_id.len() as u64 ^ u64::from(cseq) ^ u64::from(src.port()))
    }

    /// A request from side A (`a_to_b`) or side B.
    pub(super) fn request(
        &self,
        method: &str,
        uri: &str,
        cseq: u32,
        a_to_b: bool,
        extra: &[String],
        body: &str,
    ) -> (SocketAddrV4, SocketAddrV4, String) {
        let (src, dst) = if a_to_b { (self.a, self.b) } else { (self.b, self.a) };
        let (from, to) = if a_to_b { (&self.from, &self.to) } else { (&self.to, &self.from) };
        let branch = self.branch(method, cseq, a_to_b);
        let text = sip_text(
            &format!("{method} {uri} SIP/2.0"),
            src,
            &branch,
            from,
            to,
            &self.call_id,
            &format!("{cseq} {method}"),
            extra,
            body,
        );
        (src, dst, text)
    }

    /// A response to a request from side A (`to_a`) or side B.
    pub(super) fn response(
        &self,
        status: &str,
        cseq: &str,
        to_a: bool,
        branch: &str,
        extra: &[String],
        body: &str,
    ) -> (SocketAddrV4, SocketAddrV4, String) {
        let (src, dst) = if to_a { (self.b, self.a) } else { (self.a, self.b) };
        let (from, to) = if to_a { (&self.from, &self.to) } else { (&self.to, &self.from) };
        let text = sip_text(&format!("SIP/2.0 {status}"), dst, branch, from, to, &self.call_id, cseq, extra, body);
        (src, dst, text)
    }
}
