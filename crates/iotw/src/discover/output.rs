//! What discovery writes: the terminal table, the capture configuration for the next mode,
//! inventory documents, and the audit of one inventory against an older one.

use super::{Inventory, Service};
use iotw_event::Event;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// A byte count for people (1.2 MB).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// What a service says it is, in one line.
pub fn identity(s: &Service) -> String {
    let mut parts = Vec::new();
    if let Some(g) = &s.genesys {
        let mut p = g.r#type.clone().unwrap_or_else(|| "Genesys".to_owned());
        for v in [&g.version, &g.role].into_iter().flatten() {
            p.push(' ');
            p.push_str(v);
        }
        parts.push(p);
    }
    if !s.sip_roles.is_empty() {
        parts.push(s.sip_roles.iter().map(|r| r.to_uppercase()).collect::<Vec<_>>().join("+"));
    }
    if !s.software.is_empty() {
        parts.push(s.software.join(", "));
    }
    if let Some(t) = &s.tls {
        if let Some(subject) = &t.subject {
            let days = t.days_to_expiry.map(|d| format!(", {d} days to expiry")).unwrap_or_default();
            parts.push(format!("cert {subject}{days}"));
        }
    }
    parts.join("; ")
}

/// The applications among a service's clients.
pub fn client_applications(s: &Service) -> Vec<&str> {
    let set: BTreeSet<&str> = s.clients.iter().flat_map(|c| c.applications.iter().map(String::as_str)).collect();
    set.into_iter().collect()
}

/// The terminal table: services, then hosts with names or applications.
pub fn table(inv: &Inventory) -> String {
    let mut out = String::new();
    let rows: Vec<[String; 6]> = inv
        .services
        .iter()
        .map(|s| {
            let apps = client_applications(s);
            let mut who = identity(s);
            if !apps.is_empty() {
                if !who.is_empty() {
                    who.push_str("; ");
                }
                let _ = write!(who, "clients: {}", apps.join(", "));
            }
            [s.key(), s.protocol.clone(), s.clients.len().to_string(), s.flows.to_string(), bytes(s.bytes), who]
        })
        .collect();
    let head = ["SERVICE", "PROTOCOL", "CLIENTS", "FLOWS", "BYTES", "WHAT IT SAYS"];
    let mut width = head.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r.iter()).take(5) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 5 {
                l.push_str(c);
            } else if (2..=4).contains(&i) {
                let _ = write!(l, "{c:>w$}  ", w = width[i]);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(head));
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    let named: Vec<_> = inv
        .hosts
        .iter()
        .filter(|h| !h.names.is_empty() || !h.applications.is_empty() || !h.client_software.is_empty())
        .collect();
    if !named.is_empty() {
        out.push_str("\nHOST             NAMES / APPLICATIONS / CLIENT SOFTWARE\n");
        for h in named {
            let mut what: Vec<String> = h.names.iter().map(|n| format!("{} ({})", n.name, n.source)).collect();
            what.extend(h.applications.iter().map(|a| format!("app {a}")));
            what.extend(h.client_software.iter().cloned());
            let _ = writeln!(out, "{:<16} {}", h.ip, what.join(", "));
        }
    }
    let _ = writeln!(out, "\n{} services on {} hosts", inv.services.len(), inv.hosts.len());
    if inv.services_not_kept > 0 {
        let _ = writeln!(out, "{} more services were seen but not kept (the cap is reached)", inv.services_not_kept);
    }
    out
}

/// A tcpdump-syntax filter that keeps the traffic of the services whose protocol was found,
/// and nothing else: per transport and port, the hosts offering it. UDP clauses also keep
/// later IP fragments of those hosts (they carry no ports), so fragmented SIP still reassembles.
pub fn capture_filter(inv: &Inventory) -> String {
    let mut groups: BTreeMap<(&str, u16), BTreeSet<IpAddr>> = BTreeMap::new();
    for s in inv.services.iter().filter(|s| s.protocol != "unknown") {
        groups.entry((s.transport.as_str(), s.port)).or_default().insert(s.ip);
    }
    let hosts = |set: &BTreeSet<IpAddr>| {
        let h: Vec<String> = set.iter().map(|ip| format!("host {ip}")).collect();
        if h.len() == 1 {
            h[0].clone()
        } else {
            format!("({})", h.join(" or "))
        }
    };
    let mut clauses = Vec::new();
    for ((transport, port), set) in &groups {
        if *transport == "udp" {
            clauses.push(format!("(udp and {} and (port {port} or not portrange 0-65535))", hosts(set)));
        } else {
            clauses.push(format!("({transport} port {port} and {})", hosts(set)));
        }
    }
    clauses.join(" or ")
}

/// TOML-quoted.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The configuration for capture mode: the services found, and a capture filter keeping
/// their traffic.
pub fn capture_config(inv: &Inventory) -> String {
    let mut out = String::new();
    out.push_str("# Written by `iotw discover`");
    if !inv.sources.is_empty() {
        let _ = write!(out, " from {}", inv.sources.join(", "));
    }
    if let (Some(a), Some(b)) = (&inv.first_seen, &inv.last_seen) {
        let _ = write!(out, ", traffic from {a} to {b}");
    }
    out.push_str(".\n# Use it with `iotw capture -c FILE`; `iotw config default` documents every key.\n#\n");
    out.push_str("# Services found (protocol by content; what each said about itself):\n");
    for s in &inv.services {
        let apps = client_applications(s);
        let clients = if apps.is_empty() { String::new() } else { format!(" <- {}", apps.join(", ")) };
        let line = format!("#   {:<28} {:<8} {}{clients}", s.key(), s.protocol, identity(s));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let unknown = inv.services.iter().filter(|s| s.protocol == "unknown").count();
    if unknown > 0 {
        let _ = writeln!(out, "# {unknown} services with no protocol iotw decodes are left out of the filter.");
    }
    out.push_str("\n[capture]\n");
    let filter = capture_filter(inv);
    if filter.is_empty() {
        out.push_str("# No service with a decoded protocol was found: everything is captured.\nfilter = \"\"\n");
    } else {
        let _ = writeln!(out, "filter = {}", quoted(&filter));
    }
    out
}

/// One inventory document per service (dataset `inventory`), for the configured sink.
pub fn documents(inv: &Inventory, ts: iotw_event::Nanos) -> Vec<Event> {
    inv.services
        .iter()
        .map(|s| {
            let key = s.key();
            let mut e = Event::new("inventory", "state", ts, &[key.as_bytes()]);
            e.obj("event").consts("category", &["network", "host"]).consts("type", &["info"]).end();
            e.obj("destination").ip("ip", s.ip).u64("port", u64::from(s.port)).end();
            e.obj("network").str("transport", &s.transport).str("protocol", &s.protocol).end();
            let mut v = serde_json::to_value(s).unwrap_or_default();
            if let Some(m) = v.as_object_mut() {
                // Address, transport and protocol are in destination.* and network.*; the
                // clients in clients.*.
                for k in ["ip", "port", "transport", "protocol", "clients"] {
                    m.remove(k);
                }
            }
            e.value("service", &v);
            let apps = client_applications(s);
            e.obj("clients").u64("count", s.clients.len() as u64);
            e.strs("applications", apps.iter().copied());
            e.arr("ip");
            for c in &s.clients {
                e.item_ip(c.ip);
            }
            e.end().end();
            e.str("message", &format!("{key} {} {}", s.protocol, identity(s)));
            e
        })
        .collect()
}

/// One difference between an older inventory and a newer one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Change {
    /// `service_added`, `service_removed`, `version_changed`, `software_changed`,
    /// `certificate_changed`, `protocol_changed`, `client_added`, `client_removed`.
    pub kind: &'static str,
    pub service: String,
    pub detail: String,
}

/// What changed from `old` to `new`.
pub fn diff(old: &Inventory, new: &Inventory) -> Vec<Change> {
    let by_key =
        |inv: &Inventory| -> BTreeMap<String, Service> { inv.services.iter().map(|s| (s.key(), s.clone())).collect() };
    let (a, b) = (by_key(old), by_key(new));
    let mut out = Vec::new();
    let change = |kind, service: &str, detail: String| Change { kind, service: service.to_owned(), detail };
    for (k, s) in &b {
        let Some(o) = a.get(k) else {
            out.push(change("service_added", k, format!("{} {}", s.protocol, identity(s)).trim().to_owned()));
            continue;
        };
        if o.protocol != s.protocol && o.protocol != "unknown" && s.protocol != "unknown" {
            out.push(change("protocol_changed", k, format!("{} -> {}", o.protocol, s.protocol)));
        }
        let version = |s: &Service| s.genesys.as_ref().and_then(|g| g.version.clone());
        if let (Some(ov), Some(nv)) = (version(o), version(s)) {
            if ov != nv {
                out.push(change("version_changed", k, format!("{ov} -> {nv}")));
            }
        }
        if !o.software.is_empty() && !s.software.is_empty() && o.software != s.software {
            out.push(change("software_changed", k, format!("{} -> {}", o.software.join(", "), s.software.join(", "))));
        }
        let subject = |s: &Service| s.tls.as_ref().and_then(|t| t.subject.clone().map(|x| (x, t.not_after.clone())));
        if let (Some(os), Some(ns)) = (subject(o), subject(s)) {
            if os != ns {
                let show = |(s, n): (String, Option<String>)| format!("{s} (until {})", n.unwrap_or_default());
                out.push(change("certificate_changed", k, format!("{} -> {}", show(os), show(ns))));
            }
        }
        let clients = |s: &Service| -> BTreeSet<String> {
            s.clients
                .iter()
                .flat_map(|c| {
                    // A client is its address, or each application that connected from it.
                    if c.applications.is_empty() {
                        vec![c.ip.to_string()]
                    } else {
                        c.applications.iter().map(|a| format!("{} ({a})", c.ip)).collect()
                    }
                })
                .collect()
        };
        let (oc, nc) = (clients(o), clients(s));
        for c in nc.difference(&oc) {
            out.push(change("client_added", k, c.clone()));
        }
        for c in oc.difference(&nc) {
            out.push(change("client_removed", k, c.clone()));
        }
    }
    for (k, s) in &a {
        if !b.contains_key(k) {
            out.push(change("service_removed", k, format!("{} {}", s.protocol, identity(s)).trim().to_owned()));
        }
    }
    out.sort();
    out
}

/// The changes as lines for people.
pub fn diff_text(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let mark = match c.kind {
            "service_added" | "client_added" => '+',
            "service_removed" | "client_removed" => '-',
            _ => '~',
        };
        let _ = writeln!(out, "{mark} {:<20} {:<28} {}", c.kind, c.service, c.detail);
    }
    if changes.is_empty() {
        out.push_str("no changes\n");
    }
    out
}
