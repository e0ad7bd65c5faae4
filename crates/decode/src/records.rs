//! Flow and anomaly documents (field list: docs/events.md, "flow" and "anomaly").

use iotw_event::field::role;
use iotw_event::{Event, Lead, Nanos};
use iotw_flow::{Dir, EndReason, FlowMeta};
use std::net::IpAddr;
use std::sync::Arc;

/// Writes `source`/`destination`, `network` and `related.ip` for a packet going `dir`, with
/// `network.protocol` when known.
pub fn set_endpoints(e: &mut Event, m: &FlowMeta, dir: Dir, protocol: Option<&str>) {
    endpoints(e, m, dir, protocol, false);
}

/// The endpoint members of one flow's documents, written once per direction and protocol
/// and copied into every document after that.
#[derive(Debug, Default)]
pub struct EndpointCache {
    dirs: [Option<(&'static str, Arc<Lead>)>; 2],
}

impl EndpointCache {
    /// Writes what [`set_endpoints`] writes, from the cache.
    pub fn write(&mut self, e: &mut Event, m: &FlowMeta, dir: Dir, protocol: &'static str) {
        e.append_lead(self.entry(m, dir, protocol));
    }

    /// The members [`EndpointCache::write`] writes, to be copied into a document later
    /// ([`Event::append_lead`]), possibly on another thread.
    pub fn lead(&mut self, m: &FlowMeta, dir: Dir, protocol: &'static str) -> Arc<Lead> {
        self.entry(m, dir, protocol).clone()
    }

    /// The members for `dir` and `protocol`, written first when the cache holds others.
    fn entry(&mut self, m: &FlowMeta, dir: Dir, protocol: &'static str) -> &Arc<Lead> {
        let slot = &mut self.dirs[dir.index()];
        if slot.as_ref().is_some_and(|(p, _)| *p != protocol) {
            *slot = None;
        }
        let (_, lead) = slot.get_or_insert_with(|| {
            let mut e = Event::new(protocol, "event", 0, &[]);
            let mark = e.mark();
            set_endpoints(&mut e, m, dir, Some(protocol));
            (protocol, Arc::new(Lead::since(&e, mark, Some(role::NO_PERSONAL_DATA))))
        });
        lead
    }
}

/// The endpoint objects, with the flow's packet and byte counts when `counts`; they are
/// tagged as holding no personal data.
fn endpoints(e: &mut Event, m: &FlowMeta, dir: Dir, protocol: Option<&str>, counts: bool) {
    let at = e.mark();
    let (s, d, cs, cd) = match dir {
        Dir::Orig => (m.orig, m.resp, m.counts[0], m.counts[1]),
        Dir::Resp => (m.resp, m.orig, m.counts[1], m.counts[0]),
    };
    let ports = matches!(m.key.proto, 6 | 17);
    for (key, ep, c) in [("source", s, cs), ("destination", d, cd)] {
        e.obj(key).ip("ip", ep.ip);
        if ports {
            e.u64("port", ep.port.into());
        }
        if counts {
            e.u64("packets", c.packets).u64("bytes", c.bytes);
        }
        e.end();
    }
    e.obj("network");
    e.str("transport", &m.transport_name());
    e.str("type", if s.ip.is_ipv4() { "ipv4" } else { "ipv6" });
    e.str("iana_number", itoa::Buffer::new().format(m.key.proto));
    e.str("community_id", &m.community_id);
    if m.key.vlan != 0 {
        e.obj("vlan").str("id", itoa::Buffer::new().format(m.key.vlan)).end();
    }
    if counts {
        e.u64("packets", cs.packets + cd.packets).u64("bytes", cs.bytes + cd.bytes);
    }
    e.opt_str("protocol", protocol);
    e.end();
    e.obj("related").arr("ip").item_ip(s.ip);
    if s.ip != d.ip {
        e.item_ip(d.ip);
    }
    e.end().end();
    e.tag_members_since(role::NO_PERSONAL_DATA, at);
}

/// The flow document: final when the flow ended, periodic (`flow.final: false`) otherwise.
pub fn flow(m: &FlowMeta, end: Option<EndReason>, protocol: Option<&str>) -> Event {
    let final_ = end.is_some();
    let report = m.reports.to_be_bytes();
    let start = m.start.to_be_bytes();
    let vlan = m.key.vlan.to_be_bytes();
    // Same flow, same start, same report number => same id, whatever the run.
    let identity: [&[u8]; 5] = [m.community_id.as_bytes(), &start, &vlan, &report, &[u8::from(final_)]];
    let mut e = Event::new("flow", "event", m.last, &identity);
    endpoints(&mut e, m, Dir::Orig, None, true);
    let [o, r] = m.counts;
    e.obj("event").consts("category", &["network"]);
    e.consts("type", if final_ { &["connection", "end"] } else { &["connection", "info"] });
    e.time("start", m.start).time("end", m.last).i64("duration", m.last - m.start).end();
    e.obj("flow").str("id", &flow_id(m)).bool("final", final_);
    e.u64("source_payload_bytes", o.payload_bytes).u64("destination_payload_bytes", r.payload_bytes);
    if let Some(reason) = end {
        e.str("end_reason", reason.as_str());
    }
    e.opt_str("protocol", protocol);
    let mut state = "";
    if let Some(t) = &m.tcp {
        state = t.conn_state();
        e.str("state", state).str("history", t.history.as_str());
        e.u64("retransmitted_bytes", t.duplicate[0] + t.duplicate[1]);
        e.u64("missing_bytes", t.missing[0] + t.missing[1]);
    }
    e.end();
    e.str(
        "message",
        &format!(
            "{} {} -> {} {}{} pkts {} bytes",
            m.transport_name(),
            fmt_ep(m.orig.ip, m.orig.port, m.key.proto),
            fmt_ep(m.resp.ip, m.resp.port, m.key.proto),
            if state.is_empty() { String::new() } else { format!("{state} ") },
            o.packets + r.packets,
            o.bytes + r.bytes
        ),
    );
    e
}

/// A stable id for the flow across its periodic and final documents.
pub fn flow_id(m: &FlowMeta) -> String {
    let start = m.start.to_be_bytes();
    iotw_event::id_of("flow.id", &[m.community_id.as_bytes(), &start, &m.key.vlan.to_be_bytes()])
}

/// `addr:port` for TCP and UDP, the address alone otherwise.
fn fmt_ep(ip: IpAddr, port: u16, proto: u8) -> String {
    match (ip, proto) {
        (IpAddr::V4(a), 6 | 17) => format!("{a}:{port}"),
        (IpAddr::V6(a), 6 | 17) => format!("[{a}]:{port}"),
        (a, _) => a.to_string(),
    }
}

/// An anomaly document: malformed traffic, a limit hit, a damaged capture.
/// `frame` is the capture's frame number (1-based) where known.
pub fn anomaly(
    ts: Nanos,
    code: &str,
    detail: &str,
    flow: Option<(&FlowMeta, Dir)>,
    frame: Option<(u64, &str)>,
) -> Event {
    let frame_no = frame.map_or(0, |(n, _)| n).to_be_bytes();
    let ts_b = ts.to_be_bytes();
    let cid = flow.map_or("", |(m, _)| m.community_id.as_str());
    let mut e =
        Event::new("anomaly", "event", ts, &[code.as_bytes(), detail.as_bytes(), &ts_b, &frame_no, cid.as_bytes()]);
    if let Some((m, dir)) = flow {
        set_endpoints(&mut e, m, dir, None);
        e.obj("flow").str("id", &flow_id(m)).end();
    }
    e.obj("event").consts("category", &["network"]).consts("type", &["info"]).str("reason", code).end();
    e.str("message", detail);
    if let Some((n, source)) = frame {
        e.obj("iotw").u64("frame", n).obj("capture").str("source", source).end().end();
    }
    e
}
