//! The discovery report: one self-contained HTML file (no script, no fetch: it opens offline
//! and in locked-down browsers) with the topology drawn as SVG — hosts that offer services as
//! groups on the right with their services inside, client-only hosts on the left, one edge
//! per client and service coloured by protocol, details on hover — and a table beside it.
//!
//! Every service node carries `data-service="ip:port/transport"` and every edge
//! `data-edge="client -> service"`, so a test (or a person with the inspector) can check what
//! was drawn against the inventory.

use super::output::{client_applications, identity};
use super::{Host, Inventory, Service};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Escapes text for HTML and SVG.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A protocol's colour (edges, node borders, the legend).
fn colour(protocol: &str) -> &'static str {
    match protocol {
        "sip" => "#d9480f",
        "tlib" => "#1971c2",
        "http" => "#2f9e44",
        "tls" => "#7048e8",
        _ => "#868e96",
    }
}

const COL_W: f64 = 300.0;
const LEFT_X: f64 = 20.0;
const RIGHT_X: f64 = 620.0;
const ROW_H: f64 = 34.0;
const NODE_H: f64 = 26.0;
const GROUP_PAD: f64 = 8.0;
const GROUP_HEAD: f64 = 22.0;

/// A short label for a host: its first name, or its address.
fn host_label(h: Option<&Host>, ip: IpAddr) -> String {
    let mut label = ip.to_string();
    if let Some(h) = h {
        if let Some(n) = h.names.first() {
            let _ = write!(label, " {}", n.name);
        }
        if !h.applications.is_empty() {
            let _ = write!(label, " [{}]", h.applications.join(", "));
        }
    }
    label
}

/// Shortens a label to fit a box.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The report as one HTML document.
pub fn html(inv: &Inventory) -> String {
    // Hosts offering services, with their services; the rest of the clients on the left.
    let mut servers: BTreeMap<IpAddr, Vec<&Service>> = BTreeMap::new();
    for s in &inv.services {
        servers.entry(s.ip).or_default().push(s);
    }
    let hosts: BTreeMap<IpAddr, &Host> = inv.hosts.iter().map(|h| (h.ip, h)).collect();
    let clients: BTreeSet<IpAddr> = inv
        .services
        .iter()
        .flat_map(|s| s.clients.iter().map(|c| c.ip))
        .filter(|ip| !servers.contains_key(ip))
        .collect();

    let mut svg = String::new();
    let mut node_at: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut host_at: BTreeMap<IpAddr, (f64, f64)> = BTreeMap::new();
    // Right column: one group per server host.
    let mut y = 40.0;
    let mut groups = String::new();
    for (ip, services) in &servers {
        let h = hosts.get(ip).copied();
        let height = GROUP_HEAD + services.len() as f64 * ROW_H + GROUP_PAD;
        let _ = write!(
            groups,
            r#"<g class="host" data-host="{ip}"><title>{title}</title><rect x="{RIGHT_X}" y="{y}" width="{COL_W}" height="{height}" rx="8" class="group"/><text x="{tx}" y="{ty}" class="hostlabel">{label}</text>"#,
            title = esc(&host_title(h, *ip)),
            tx = RIGHT_X + 10.0,
            ty = y + 16.0,
            label = esc(&fit(&host_label(h, *ip), 44)),
        );
        // Edges from a host of this column leave it on the right.
        host_at.insert(*ip, (RIGHT_X + COL_W, y + 12.0));
        for (i, s) in services.iter().enumerate() {
            let ny = y + GROUP_HEAD + i as f64 * ROW_H;
            let key = s.key();
            let label = format!("{}/{} {}", s.port, s.transport, s.protocol);
            let what = identity(s);
            let _ = write!(
                groups,
                r#"<g class="service" data-service="{k}" data-protocol="{p}"><title>{t}</title><rect x="{x}" y="{ny}" width="{w}" height="{NODE_H}" rx="5" style="stroke:{c}"/><text x="{tx}" y="{ty}">{l}</text><text x="{vx}" y="{ty}" class="version">{v}</text></g>"#,
                k = esc(&key),
                p = esc(&s.protocol),
                t = esc(&format!("{key}\n{}\n{what}\nclients: {}", s.protocol, client_applications(s).join(", "))),
                x = RIGHT_X + 10.0,
                w = COL_W - 20.0,
                c = colour(&s.protocol),
                tx = RIGHT_X + 18.0,
                ty = ny + 17.0,
                l = esc(&label),
                vx = RIGHT_X + 150.0,
                v = esc(&fit(&short_identity(s), 22)),
            );
            node_at.insert(key, (RIGHT_X + 10.0, ny + NODE_H / 2.0));
        }
        groups.push_str("</g>");
        y += height + 14.0;
    }
    let right_height = y;
    // Left column: client-only hosts.
    let mut y = 40.0;
    let mut left = String::new();
    for ip in &clients {
        let h = hosts.get(ip).copied();
        let _ = write!(
            left,
            r#"<g class="client" data-host="{ip}"><title>{t}</title><rect x="{LEFT_X}" y="{y}" width="{COL_W}" height="{NODE_H}" rx="5"/><text x="{tx}" y="{ty}">{l}</text></g>"#,
            t = esc(&host_title(h, *ip)),
            tx = LEFT_X + 8.0,
            ty = y + 17.0,
            l = esc(&fit(&host_label(h, *ip), 46)),
        );
        host_at.insert(*ip, (LEFT_X + COL_W, y + NODE_H / 2.0));
        y += ROW_H;
    }
    let height = right_height.max(y) + 20.0;
    // Edges, under the nodes.
    let mut edges = String::new();
    let mut loops = 0usize;
    for s in &inv.services {
        let Some(&(sx, sy)) = node_at.get(&s.key()) else { continue };
        for c in &s.clients {
            let Some(&(cx, cy)) = host_at.get(&c.ip) else { continue };
            let path = if servers.contains_key(&c.ip) {
                // Host to a service in the same column: a loop out to the right, into the
                // node's right side; loops spread so that they stay apart.
                let bend = RIGHT_X + COL_W + 16.0 + (loops % 8) as f64 * 7.0;
                loops += 1;
                let ex = sx + COL_W - 20.0;
                format!("M{cx:.1},{cy:.1} C{bend:.1},{cy:.1} {bend:.1},{sy:.1} {ex:.1},{sy:.1}")
            } else {
                let mid = (cx + sx) / 2.0;
                format!("M{cx:.1},{cy:.1} C{mid:.1},{cy:.1} {mid:.1},{sy:.1} {sx:.1},{sy:.1}")
            };
            let apps =
                if c.applications.is_empty() { String::new() } else { format!(" ({})", c.applications.join(", ")) };
            let _ = write!(
                edges,
                r#"<path class="edge" data-edge="{ci} -> {k}" d="{path}" style="stroke:{col}"><title>{t}</title></path>"#,
                ci = c.ip,
                k = esc(&s.key()),
                col = colour(&s.protocol),
                t = esc(&format!("{}{apps} -> {} {}: {} flows", c.ip, s.key(), s.protocol, c.flows)),
            );
        }
    }
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="topology" width="{w}" height="{height}" viewBox="0 0 {w} {height}"><text x="{LEFT_X}" y="24" class="colhead">clients</text><text x="{RIGHT_X}" y="24" class="colhead">hosts and their services</text>{edges}{left}{groups}</svg>"#,
        w = RIGHT_X + COL_W + 80.0,
    );

    let mut legend = String::new();
    let protocols: BTreeSet<&str> = inv.services.iter().map(|s| s.protocol.as_str()).collect();
    for p in protocols {
        let _ = write!(
            legend,
            r#"<span class="key"><span class="swatch" style="background:{}"></span>{}</span>"#,
            colour(p),
            esc(p)
        );
    }

    let mut table = String::from(
        "<table id=\"services\"><thead><tr><th>service</th><th>protocol</th><th>what it says</th><th>clients</th><th>flows</th><th>first seen</th><th>last seen</th></tr></thead><tbody>",
    );
    for s in &inv.services {
        let mut clients: Vec<String> = s
            .clients
            .iter()
            .map(|c| {
                if c.applications.is_empty() {
                    c.ip.to_string()
                } else {
                    format!("{} ({})", c.ip, c.applications.join(", "))
                }
            })
            .collect();
        if clients.len() > 12 {
            let more = clients.len() - 12;
            clients.truncate(12);
            clients.push(format!("and {more} more"));
        }
        let _ = write!(
            table,
            "<tr data-service=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.key()),
            esc(&s.key()),
            esc(&s.protocol),
            esc(&identity(s)),
            esc(&clients.join(", ")),
            s.flows,
            esc(&s.first_seen),
            esc(&s.last_seen),
        );
    }
    table.push_str("</tbody></table>");

    let span = match (&inv.first_seen, &inv.last_seen) {
        (Some(a), Some(b)) => format!("traffic from {a} to {b}"),
        _ => "no traffic".to_owned(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>iotw discovery</title>
<style>
body{{font:13px system-ui,sans-serif;margin:16px;color:#212529}}
h1{{font-size:18px;margin:0 0 4px}} .sub{{color:#495057;margin-bottom:10px}}
.layout{{display:flex;gap:24px;align-items:flex-start}}
#topology .group{{fill:#f1f3f5;stroke:#adb5bd}} #topology .hostlabel{{font-weight:600}}
#topology .service rect{{fill:#fff;stroke-width:2}} #topology .client rect{{fill:#fff;stroke:#adb5bd}}
#topology .version{{fill:#495057;font-size:11px}} #topology .colhead{{fill:#868e96;font-size:12px}}
#topology .edge{{fill:none;stroke-width:1.6;opacity:.75}} #topology .edge:hover{{stroke-width:3;opacity:1}}
table{{border-collapse:collapse}} td,th{{border-bottom:1px solid #dee2e6;padding:3px 6px;text-align:left;vertical-align:top}}
.key{{margin-right:12px}} .swatch{{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}}
</style></head><body>
<h1>iotw discovery</h1>
<div class="sub">{sources} — {span} — {n} services on {h} hosts</div>
<div class="legend">{legend}</div>
<div class="layout"><div>{svg}</div><div>{table}</div></div>
</body></html>
"#,
        sources = esc(&inv.sources.join(", ")),
        span = esc(&span),
        n = inv.services.len(),
        h = inv.hosts.len(),
    )
}

/// The version or software shown inside a service node.
fn short_identity(s: &Service) -> String {
    if let Some(v) = s.genesys.as_ref().and_then(|g| g.version.clone()) {
        return v;
    }
    if let Some(sw) = s.software.first() {
        return sw.clone();
    }
    if let Some(subject) = s.tls.as_ref().and_then(|t| t.subject.clone()) {
        return subject;
    }
    String::new()
}

fn host_title(h: Option<&Host>, ip: IpAddr) -> String {
    let mut t = ip.to_string();
    if let Some(h) = h {
        for n in &h.names {
            let _ = write!(t, "\n{} ({})", n.name, n.source);
        }
        for a in &h.applications {
            let _ = write!(t, "\napplication {a}");
        }
        for s in &h.client_software {
            let _ = write!(t, "\nruns {s}");
        }
    }
    t
}
