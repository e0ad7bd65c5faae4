//! Capture filters in tcpdump (pcap-filter(7)) syntax: the subset iotw supports, parsed once,
//! then either compiled to classic BPF for the kernel ([`bpf`]) or evaluated on parsed packets
//! ([`Filter::matches`], for capture files). Both paths are tested to agree.
//!
//! Supported: `host`, `net` (CIDR or `mask`), `port`, `portrange`, with `src`/`dst`/`src or dst`/
//! `src and dst`; `tcp`, `udp`, `icmp`, `ip`, `ip6`; `vlan [ID]`; `and`/`&&`, `or`/`||`,
//! `not`/`!`, parentheses; qualifier elision (`host a or b`, `port 80 or 443`).
//! Not supported (a clear error): byte-offset expressions (`tcp[13] & 2 != 0`), `ether`,
//! `gateway`, `proto N`, `less`/`greater`, names that need DNS.

pub mod bpf;
mod eval;

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at `{near}`)")]
pub struct FilterError {
    pub message: String,
    pub near: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dirn {
    Src,
    Dst,
    SrcOrDst,
    SrcAndDst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Ip,
    Ip6,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prim {
    Host { dir: Dirn, addr: IpAddr },
    Net { dir: Dirn, addr: IpAddr, prefix: u8 },
    Port { dir: Dirn, proto: Option<Proto>, lo: u16, hi: u16 },
    Proto(Proto),
    Vlan(Option<u16>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// The empty filter: accept everything.
    True,
    Prim(Prim),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub expr: Expr,
    pub text: String,
}

/// Parses a filter expression; the empty string accepts everything.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    let toks = tokenize(text);
    let mut p = Parser { toks, pos: 0, last: None, depth: 0 };
    let expr = if p.toks.is_empty() { Expr::True } else { p.or()? };
    if let Some(t) = p.toks.get(p.pos) {
        return Err(p.err(format!("unexpected `{t}`")));
    }
    Ok(Filter { expr, text: text.to_owned() })
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        if c.is_whitespace() || c == '(' || c == ')' || c == '!' || two == "&&" || two == "||" {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if two == "&&" || two == "||" {
                out.push(two);
                i += 2;
                continue;
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The kind of the last primitive, for qualifier elision (`port 80 or 443`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Host(Dirn),
    Net(Dirn),
    Port(Dirn, Option<Proto>),
    PortRange(Dirn, Option<Proto>),
    Vlan,
}

struct Parser {
    toks: Vec<String>,
    pos: usize,
    last: Option<Kind>,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn err(&self, message: String) -> FilterError {
        let near = self.toks.get(self.pos.min(self.toks.len().saturating_sub(1))).cloned().unwrap_or_default();
        FilterError { message, near }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut e = self.and()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.pos += 1;
            let r = self.and()?;
            e = Expr::Or(Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut e = self.not()?;
        while matches!(self.peek(), Some("and" | "&&")) {
            self.pos += 1;
            let r = self.not()?;
            e = Expr::And(Box::new(e), Box::new(r));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if matches!(self.peek(), Some("not" | "!")) {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err("filter nests too deeply".into()));
            }
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, FilterError> {
        match self.peek() {
            Some("(") => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.err("filter nests too deeply".into()));
                }
                let e = self.or()?;
                self.depth -= 1;
                if self.next().as_deref() != Some(")") {
                    return Err(self.err("missing `)`".into()));
                }
                Ok(e)
            }
            Some(_) => self.primitive().map(Expr::Prim),
            None => Err(self.err("filter ends where a primitive was expected".into())),
        }
    }

    fn primitive(&mut self) -> Result<Prim, FilterError> {
        let mut proto = None;
        let mut dir = None;
        // Protocol qualifier or protocol primitive.
        if let Some(p) = self.peek().and_then(proto_name) {
            self.pos += 1;
            match self.peek() {
                Some("src" | "dst" | "port" | "portrange") if matches!(p, Proto::Tcp | Proto::Udp) => proto = Some(p),
                Some("src" | "dst" | "host" | "net") if matches!(p, Proto::Ip | Proto::Ip6) => proto = Some(p),
                _ => return Ok(Prim::Proto(p)),
            }
        }
        if matches!(self.peek(), Some("src" | "dst")) {
            let first = self.next().unwrap_or_default();
            dir = Some(if first == "src" { Dirn::Src } else { Dirn::Dst });
            if matches!(self.peek(), Some("or" | "and"))
                && matches!(self.toks.get(self.pos + 1).map(String::as_str), Some("src" | "dst"))
            {
                let op = self.next().unwrap_or_default();
                self.pos += 1;
                dir = Some(if op == "or" { Dirn::SrcOrDst } else { Dirn::SrcAndDst });
            }
        }
        let dir_or = dir.unwrap_or(Dirn::SrcOrDst);
        let Some(word) = self.next() else {
            return Err(self.err("filter ends inside a primitive".into()));
        };
        let kind = match word.as_str() {
            "host" => Kind::Host(dir_or),
            "net" => Kind::Net(dir_or),
            "port" => Kind::Port(dir_or, proto),
            "portrange" => Kind::PortRange(dir_or, proto),
            "vlan" if dir.is_none() && proto.is_none() => {
                self.last = Some(Kind::Vlan);
                return match self.peek().map(|t| t.parse::<u16>()) {
                    Some(Ok(id)) => {
                        self.pos += 1;
                        if id > 4095 {
                            return Err(self.err(format!("VLAN id {id} is above 4095")));
                        }
                        Ok(Prim::Vlan(Some(id)))
                    }
                    _ => Ok(Prim::Vlan(None)),
                };
            }
            other if dir.is_none() && proto.is_none() => {
                // Qualifier elision: `host a or b`.
                let Some(last) = self.last else {
                    return Err(self.err(format!("`{other}` is not a primitive this filter supports")));
                };
                self.pos -= 1;
                last
            }
            other => return Err(self.err(format!("`{other}` is not a primitive this filter supports"))),
        };
        self.last = Some(kind);
        let Some(id) = self.next() else {
            return Err(self.err("filter ends where a value was expected".into()));
        };
        match kind {
            Kind::Host(dir) => {
                let addr: IpAddr = id
                    .parse()
                    .map_err(|_| self.err(format!("`{id}` is not an IP address (names are not resolved)")))?;
                check_family(proto, addr).map_err(|m| self.err(m))?;
                Ok(Prim::Host { dir, addr })
            }
            Kind::Net(dir) => {
                let (addr, prefix) = self.net(&id)?;
                check_family(proto, addr).map_err(|m| self.err(m))?;
                Ok(Prim::Net { dir, addr, prefix })
            }
            Kind::Port(dir, proto) => {
                let p = port(&id).map_err(|m| self.err(m))?;
                Ok(Prim::Port { dir, proto, lo: p, hi: p })
            }
            Kind::PortRange(dir, proto) => {
                let (a, b) =
                    id.split_once('-').ok_or_else(|| self.err(format!("`{id}` is not a port range like 5060-5070")))?;
                let (lo, hi) = (port(a).map_err(|m| self.err(m))?, port(b).map_err(|m| self.err(m))?);
                Ok(Prim::Port { dir, proto, lo: lo.min(hi), hi: lo.max(hi) })
            }
            Kind::Vlan => {
                let id: u16 = id
                    .parse()
                    .ok()
                    .filter(|v| *v <= 4095)
                    .ok_or_else(|| self.err(format!("`{id}` is not a VLAN id")))?;
                Ok(Prim::Vlan(Some(id)))
            }
        }
    }

    fn net(&mut self, id: &str) -> Result<(IpAddr, u8), FilterError> {
        let (addr, prefix) = match id.split_once('/') {
            Some((a, p)) => {
                let addr: IpAddr = a.parse().map_err(|_| self.err(format!("`{a}` is not a network address")))?;
                let prefix: u8 = p.parse().map_err(|_| self.err(format!("`{p}` is not a prefix length")))?;
                (addr, prefix)
            }
            None => {
                let addr: IpAddr = id.parse().map_err(|_| self.err(format!("`{id}` is not a network address")))?;
                if self.peek() == Some("mask") {
                    self.pos += 1;
                    let m = self.next().unwrap_or_default();
                    let mask: std::net::Ipv4Addr =
                        m.parse().map_err(|_| self.err(format!("`{m}` is not a netmask")))?;
                    let bits = u32::from(mask);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return Err(self.err(format!("netmask {m} is not contiguous")));
                    }
                    (addr, bits.leading_ones() as u8)
                } else {
                    (addr, if addr.is_ipv4() { 32 } else { 128 })
                }
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(self.err(format!("prefix /{prefix} is longer than {max}")));
        }
        if mask_addr(addr, prefix) != addr {
            return Err(self.err(format!("{addr}/{prefix} has host bits set")));
        }
        Ok((addr, prefix))
    }
}

fn proto_name(t: &str) -> Option<Proto> {
    Some(match t {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        "ip" => Proto::Ip,
        "ip6" => Proto::Ip6,
        _ => return None,
    })
}

fn check_family(proto: Option<Proto>, addr: IpAddr) -> Result<(), String> {
    match (proto, addr) {
        (Some(Proto::Ip), IpAddr::V6(_)) | (Some(Proto::Ip6), IpAddr::V4(_)) => {
            Err(format!("{addr} does not match the address family"))
        }
        _ => Ok(()),
    }
}

fn port(s: &str) -> Result<u16, String> {
    s.parse::<u16>().map_err(|_| format!("`{s}` is not a port number (0-65535; service names are not resolved)"))
}

/// `addr` with all bits after `prefix` cleared.
pub(crate) fn mask_addr(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

#[cfg(test)]
mod tests;
