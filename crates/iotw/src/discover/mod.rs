//! Discovery: the estate described from its own traffic. The documents capture mode makes
//! (flows, and what the decoders read: SIP, HTTP, TLS, Genesys T-Library) are folded into an
//! [`Inventory`]: hosts and the names they go by, the services they offer (address, port,
//! transport, the protocol found on it by content), who uses each, and what each side says
//! about itself (Genesys application names, server versions and roles, SIP User-Agent and
//! Server strings, HTTP Server headers, TLS certificates).
//!
//! Nothing here guesses: a field is filled only from what was on the wire, and says where it
//! came from when that is not obvious (`genesys.type_basis`). Unknown stays unknown.

pub mod output;
pub mod report;

use iotw_event::{format_rfc3339_micros, Event, Nanos};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The inventory file's format version (`iotw_inventory`).
pub const FORMAT: u32 = 1;
/// Distinct values kept per list (names, software strings, client applications).
const MAX_VALUES: usize = 32;
/// Clients kept per service.
const MAX_CLIENTS: usize = 4096;
/// Services kept in all (a scan of every port would otherwise fill memory).
const MAX_SERVICES: usize = 65536;

/// What discovery found.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Inventory {
    pub iotw_inventory: u32,
    /// First and last packet time of what was read (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Capture files or interfaces read.
    #[serde(default)]
    pub sources: Vec<String>,
    pub hosts: Vec<Host>,
    pub services: Vec<Service>,
    /// Services past the cap that were not kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub services_not_kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One address and what it is known by.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub ip: IpAddr,
    /// Names learned from the traffic, each with where it was seen (`tls.sni`,
    /// `tls.certificate`, `http.host`, `sip.via`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<Name>,
    /// Genesys applications running here (named by themselves when they registered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    /// Software strings this host sent as a client (SIP User-Agent, HTTP User-Agent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_software: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name {
    pub name: String,
    pub source: String,
}

/// A listening service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Service {
    pub ip: IpAddr,
    pub port: u16,
    pub transport: String,
    /// The protocol found on it by content (`sip`, `http`, `tls`, `tlib`), or `unknown`.
    pub protocol: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Connections (TCP) or conversations (UDP) that ended, or were still open at the end.
    pub flows: u64,
    /// Bytes both ways over those flows.
    pub bytes: u64,
    pub clients: Vec<Client>,
    /// Software strings it answered with (SIP Server or User-Agent, HTTP Server).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<String>,
    /// SIP: `uac` when it sent INVITEs, `uas` when it answered them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sip_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesys: Option<Genesys>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsIdentity>,
}

impl Service {
    /// `ip:port/transport` (IPv6 in brackets).
    pub fn key(&self) -> String {
        match self.ip {
            IpAddr::V4(a) => format!("{a}:{}/{}", self.port, self.transport),
            IpAddr::V6(a) => format!("[{a}]:{}/{}", self.port, self.transport),
        }
    }
}

/// One client of a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Client {
    pub ip: IpAddr,
    /// The Genesys applications that connected from there, by the name they registered with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<String>,
    pub flows: u64,
    pub bytes: u64,
}

impl Client {
    fn new(ip: IpAddr) -> Self {
        Client { ip, applications: Vec::new(), flows: 0, bytes: 0 }
    }
}

/// What a Genesys server said about itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Genesys {
    /// The CfgAppType name of the server's kind, when its protocol tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Why the type is what it is (e.g. `serves T-Library`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The wire profile its messages were read with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// The certificate a TLS service presented.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TlsIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_to_expiry: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Names clients asked for (SNI).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
}

/// Adds `v` to a sorted list of distinct values, up to the cap.
fn add(list: &mut Vec<String>, v: &str) {
    let v = v.trim();
    if v.is_empty() || list.len() >= MAX_VALUES {
        return;
    }
    if let Err(at) = list.binary_search_by(|x| x.as_str().cmp(v)) {
        list.insert(at, v.to_owned());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    ip: IpAddr,
    port: u16,
    udp: bool,
}

impl Key {
    fn transport(&self) -> &'static str {
        if self.udp {
            "udp"
        } else {
            "tcp"
        }
    }
}

/// The working state: documents in, an [`Inventory`] out.
#[derive(Debug, Default)]
pub struct Discovery {
    first: Option<Nanos>,
    last: Option<Nanos>,
    hosts: BTreeMap<IpAddr, Host>,
    services: BTreeMap<Key, Working>,
    not_kept: u64,
    sources: Vec<String>,
}

#[derive(Debug)]
struct Working {
    service: Service,
    first: Nanos,
    last: Nanos,
    clients: BTreeMap<IpAddr, Client>,
}

/// One side of a document: `source` or `destination`.
fn endpoint(e: &Event, side: &str) -> Option<(IpAddr, u16)> {
    let ip = e.get_str(&format!("{side}.ip"))?.parse().ok()?;
    let port = e.get(&format!("{side}.port"))?.as_u64().and_then(|p| u16::try_from(p).ok())?;
    Some((ip, port))
}

fn u64_of(e: &Event, name: &str) -> u64 {
    e.get(name).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// A host name worth keeping: not an address, not empty, no wildcard.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.parse::<IpAddr>().is_err()
        && !s.contains('*')
        && s.len() <= 253
        && s.contains(|c: char| c.is_ascii_alphabetic())
}

impl Discovery {
    pub fn new(sources: Vec<String>) -> Self {
        Discovery { sources, ..Discovery::default() }
    }

    /// Services found so far (the live count).
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    fn host(&mut self, ip: IpAddr) -> &mut Host {
        self.hosts.entry(ip).or_insert_with(|| Host {
            ip,
            names: Vec::new(),
            applications: Vec::new(),
            client_software: Vec::new(),
        })
    }

    fn name(&mut self, ip: IpAddr, name: &str, source: &str) {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_name(&name) {
            return;
        }
        let h = self.host(ip);
        let n = Name { name, source: source.to_owned() };
        if h.names.len() < MAX_VALUES {
            if let Err(at) = h.names.binary_search(&n) {
                h.names.insert(at, n);
            }
        }
    }

    /// The service at `key`, made when first seen (unless the cap is reached).
    fn service(&mut self, key: Key, ts: Nanos) -> Option<&mut Working> {
        if !self.services.contains_key(&key) {
            if self.services.len() >= MAX_SERVICES {
                self.not_kept += 1;
                return None;
            }
            let service = Service {
                ip: key.ip,
                port: key.port,
                transport: key.transport().to_owned(),
                protocol: "unknown".to_owned(),
                first_seen: String::new(),
                last_seen: String::new(),
                flows: 0,
                bytes: 0,
                clients: Vec::new(),
                software: Vec::new(),
                sip_roles: Vec::new(),
                genesys: None,
                tls: None,
            };
            self.services.insert(key, Working { service, first: ts, last: ts, clients: BTreeMap::new() });
            self.host(key.ip);
        }
        let w = self.services.get_mut(&key)?;
        w.first = w.first.min(ts);
        w.last = w.last.max(ts);
        Some(w)
    }

    /// The service side of a document: its destination, except where the source is a service
    /// already known (a response).
    fn service_of(&self, e: &Event) -> Option<(Key, IpAddr)> {
        let udp = e.get_str("network.transport").is_some_and(|t| t == "udp");
        let (sip, sport) = endpoint(e, "source")?;
        let (dip, dport) = endpoint(e, "destination")?;
        let src = Key { ip: sip, port: sport, udp };
        let dst = Key { ip: dip, port: dport, udp };
        if self.services.contains_key(&dst) {
            Some((dst, sip))
        } else if self.services.contains_key(&src) {
            Some((src, dip))
        } else {
            Some((dst, sip))
        }
    }

    /// Folds one document in.
    pub fn observe(&mut self, e: &Event) {
        let ts = e.ts;
        // A flow document is written when the flow ends: it began at its event.start.
        let start = if e.dataset == "flow" { flow_start(e) } else { ts };
        self.first = Some(self.first.map_or(start, |f| f.min(start)));
        self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
        match e.dataset {
            "flow" => self.flow(e, start),
            "sip" => self.sip(e),
            "http" => self.http(e),
            "tls" => self.tls(e),
            "genesys_summary" => self.genesys(e),
            "dns" => self.dns(e),
            _ => {}
        }
    }

    fn flow(&mut self, e: &Event, start: Nanos) {
        let Some(transport) = e.get_str("network.transport").map(|t| t.into_owned()) else { return };
        if transport != "tcp" && transport != "udp" {
            return;
        }
        let udp = transport == "udp";
        let (Some((sip, sport)), Some((dip, dport))) = (endpoint(e, "source"), endpoint(e, "destination")) else {
            return;
        };
        let protocol = e.get_str("flow.protocol").map(|p| p.into_owned());
        // A TCP connection that never carried data (a scan, a refused connect) offers nothing.
        let payload = u64_of(e, "flow.source_payload_bytes") + u64_of(e, "flow.destination_payload_bytes");
        if !udp && payload == 0 && protocol.is_none() {
            return;
        }
        let final_report = e.get("flow.final").and_then(|v| v.as_bool()).unwrap_or(true);
        let bytes = u64_of(e, "network.bytes");
        // TCP: the responder listens. UDP SIP: both ends send from the port they listen on.
        let mut ends = vec![(Key { ip: dip, port: dport, udp }, sip)];
        if udp && protocol.as_deref() == Some("sip") {
            ends.push((Key { ip: sip, port: sport, udp }, dip));
        }
        for (key, client) in ends {
            let Some(w) = self.service(key, start) else { continue };
            w.last = w.last.max(e.ts);
            if let Some(p) = &protocol {
                if w.service.protocol == "unknown" {
                    w.service.protocol = p.clone();
                }
            }
            if final_report {
                w.service.flows += 1;
                w.service.bytes += bytes;
            }
            if w.clients.len() < MAX_CLIENTS || w.clients.contains_key(&client) {
                let c = w.clients.entry(client).or_insert_with(|| Client::new(client));
                if final_report {
                    c.flows += 1;
                    c.bytes += bytes;
                }
            }
        }
    }

    fn sip(&mut self, e: &Event) {
        let Some((sip, sport)) = endpoint(e, "source") else { return };
        let udp = e.get_str("network.transport").is_some_and(|t| t == "udp");
        let response = e.get_str("sip.type").is_some_and(|t| t == "response");
        // User-Agent (requests) or Server (responses): what the sender runs.
        let ua = e.get_str("sip.user_agent.original").map(|s| s.into_owned());
        let key = Key { ip: sip, port: sport, udp };
        // The sender listens where it sends from over UDP; over TCP only a responder does.
        let listening = self.services.contains_key(&key) || udp || response;
        let invite = if response {
            e.get_str("sip.cseq.method").is_some_and(|m| m == "INVITE")
        } else {
            e.get_str("sip.method").is_some_and(|m| m == "INVITE")
        };
        if let Some(w) = listening.then(|| self.service(key, e.ts)).flatten() {
            if let Some(ua) = &ua {
                add(&mut w.service.software, ua);
            }
            if invite {
                add(&mut w.service.sip_roles, if response { "uas" } else { "uac" });
            }
        } else if let Some(ua) = &ua {
            add(&mut self.host(sip).client_software, ua);
        }
        if !response {
            // A request's top Via names the host that sent it, when it is a name.
            if let Some(Value::Array(vias)) = e.get("sip.via.original") {
                if let Some(host) = vias.first().and_then(|v| v.as_str()).and_then(via_host) {
                    self.name(sip, &host, "sip.via");
                }
            }
        }
    }

    fn http(&mut self, e: &Event) {
        let Some((key, client)) = self.service_of(e) else { return };
        if let Some(server) = e.get_str("http.response.headers.server").map(|s| s.into_owned()) {
            if let Some(w) = self.service(key, e.ts) {
                add(&mut w.service.software, &server);
            }
        }
        if let Some(ua) = e.get_str("user_agent.original").map(|s| s.into_owned()) {
            add(&mut self.host(client).client_software, &ua);
        }
        if let Some(domain) = e.get_str("url.domain").map(|s| s.into_owned()) {
            self.name(key.ip, &domain, "http.host");
        }
    }

    fn tls(&mut self, e: &Event) {
        let Some((key, _)) = self.service_of(e) else { return };
        let sni = e.get_str("tls.client.server_name").map(|s| s.into_owned());
        let subject = e.get_str("tls.server.subject").map(|s| s.into_owned());
        let issuer = e.get_str("tls.server.issuer").map(|s| s.into_owned());
        let not_after = e.get_str("tls.server.not_after").map(|s| s.into_owned());
        let days = e.get("tls.server.days_to_expiry").and_then(|v| v.as_i64());
        let version = e.get_str("tls.version").map(|s| s.into_owned());
        let sans: Vec<String> = match e.get("tls.server.x509.alternative_names") {
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        let cns: Vec<String> = match e.get("tls.server.x509.subject.common_name") {
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        if let Some(w) = self.service(key, e.ts) {
            if w.service.protocol == "unknown" {
                w.service.protocol = "tls".to_owned();
            }
            let t = w.service.tls.get_or_insert_with(TlsIdentity::default);
            if subject.is_some() {
                // The latest certificate wins (a renewal shows as the new one).
                t.subject = subject;
                t.issuer = issuer;
                t.not_after = not_after;
                t.days_to_expiry = days;
            }
            if let Some(v) = &version {
                add(&mut t.versions, v);
            }
            if let Some(s) = &sni {
                add(&mut t.server_names, s);
            }
        }
        if let Some(s) = sni {
            self.name(key.ip, &s, "tls.sni");
        }
        for n in sans.iter().chain(&cns) {
            self.name(key.ip, n, "tls.certificate");
        }
    }

    /// Names from DNS answers: each address answered is known by the name asked for and by
    /// the names along the way (CNAMEs); a PTR answer names the address it was asked about.
    fn dns(&mut self, e: &Event) {
        let question = e.get_str("dns.question.name").map(|s| s.into_owned());
        let Some(Value::Array(answers)) = e.get("dns.answers") else { return };
        let field = |a: &Value, k: &str| a.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let mut names: Vec<String> = question.iter().cloned().collect();
        for a in &answers {
            match (field(a, "type").as_deref(), field(a, "name"), field(a, "data")) {
                (Some("CNAME"), Some(owner), Some(target)) => {
                    names.push(owner);
                    names.push(target);
                }
                (Some("A" | "AAAA"), Some(owner), Some(data)) => {
                    if let Ok(ip) = data.parse::<IpAddr>() {
                        self.name(ip, &owner, "dns");
                        for n in &names {
                            self.name(ip, n, "dns");
                        }
                    }
                }
                (Some("PTR"), Some(owner), Some(target)) => {
                    if let Some(ip) = reverse_ip(&owner) {
                        self.name(ip, &target, "dns");
                    }
                }
                _ => {}
            }
        }
    }

    fn genesys(&mut self, e: &Event) {
        let Some((key, client)) = self.service_of(e) else { return };
        let app = e.get_str("genesys.client.application_name").map(|s| s.into_owned());
        let version = e.get_str("genesys.server.version").map(|s| s.into_owned());
        let role = e.get_str("genesys.server.role").map(|s| s.into_owned());
        let protocol = e.get_str("genesys.protocol").map(|s| s.into_owned());
        let profile = e.get_str("genesys.profile").map(|s| s.into_owned());
        if let Some(w) = self.service(key, e.ts) {
            if let Some(p) = &protocol {
                if w.service.protocol == "unknown" {
                    w.service.protocol = p.clone();
                }
            }
            let g = w.service.genesys.get_or_insert_with(Genesys::default);
            if protocol.as_deref() == Some("tlib") && g.r#type.is_none() {
                // What answers T-Library requests is a T-Server (SIP Server is one): the
                // protocol says so, not a name.
                g.r#type = Some("CFGTServer".to_owned());
                g.type_basis = Some("serves T-Library".to_owned());
            }
            if version.is_some() {
                g.version = version;
            }
            if role.is_some() {
                g.role = role;
            }
            if profile.is_some() {
                g.profile = profile;
            }
            if let Some(a) = &app {
                if w.clients.len() < MAX_CLIENTS || w.clients.contains_key(&client) {
                    let c = w.clients.entry(client).or_insert_with(|| Client::new(client));
                    add(&mut c.applications, a);
                }
            }
        }
        if let Some(a) = app {
            add(&mut self.host(client).applications, &a);
        }
    }

    /// The inventory as it stands.
    pub fn inventory(&self) -> Inventory {
        let services = self
            .services
            .values()
            .map(|w| {
                let mut s = w.service.clone();
                s.first_seen = format_rfc3339_micros(w.first);
                s.last_seen = format_rfc3339_micros(w.last);
                s.clients = w.clients.values().cloned().collect();
                s
            })
            .collect();
        Inventory {
            iotw_inventory: FORMAT,
            first_seen: self.first.map(format_rfc3339_micros),
            last_seen: self.last.map(format_rfc3339_micros),
            sources: self.sources.clone(),
            hosts: self.hosts.values().cloned().collect(),
            services,
            services_not_kept: self.not_kept,
        }
    }
}

/// The address of a reverse name (`4.3.2.1.in-addr.arpa`, nibbles under `ip6.arpa`).
fn reverse_ip(name: &str) -> Option<IpAddr> {
    let name = name.to_ascii_lowercase();
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut parts: Vec<&str> = v4.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        parts.reverse();
        return parts.join(".").parse().ok();
    }
    let v6 = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = v6.split('.').collect();
    if nibbles.len() != 32 || nibbles.iter().any(|n| n.len() != 1) {
        return None;
    }
    let hex: String = nibbles.iter().rev().copied().collect();
    let groups: Vec<&str> = (0..8).map(|i| &hex[i * 4..i * 4 + 4]).collect();
    groups.join(":").parse().ok()
}

/// When a flow began.
fn flow_start(e: &Event) -> Nanos {
    e.get_str("event.start").and_then(|s| iotw_event::parse_time(&s, 0).ok()).unwrap_or(e.ts)
}

/// The host of a Via value (`SIP/2.0/UDP host:port;params`).
fn via_host(via: &str) -> Option<String> {
    let sent_by = via.split_whitespace().nth(1)?;
    let sent_by = sent_by.split(';').next()?;
    let host =
        if let Some(rest) = sent_by.strip_prefix('[') { rest.split(']').next()? } else { sent_by.split(':').next()? };
    Some(host.to_owned())
}

impl Inventory {
    /// Reads an inventory written by `iotw discover --json`.
    pub fn read(path: &std::path::Path) -> Result<Inventory, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let inv: Inventory = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if inv.iotw_inventory != FORMAT {
            return Err(format!(
                "{}: inventory format {} (this iotw reads {FORMAT})",
                path.display(),
                inv.iotw_inventory
            ));
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests;
