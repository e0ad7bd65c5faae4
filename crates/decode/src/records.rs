//! Flow and anomaly documents (field list: docs/events.md, "flow" and "anomaly").

use iotw_event::{field as f, format_rfc3339_micros, Event, Nanos};
use iotw_flow::{Dir, EndReason, FlowMeta};
use serde_json::Value;
use std::net::IpAddr;

/// Sets `source.*`/`destination.*` (and `network.*`, `related.ip`) for a packet going `dir`.
pub fn set_endpoints(e: &mut Event, m: &FlowMeta, dir: Dir) {
    let (s, d) = match dir {
        Dir::Orig => (m.orig, m.resp),
        Dir::Resp => (m.resp, m.orig),
    };
    e.set(f::SOURCE_IP, s.ip.to_string());
    e.set(f::DESTINATION_IP, d.ip.to_string());
    if matches!(m.key.proto, 6 | 17) {
        e.set(f::SOURCE_PORT, s.port);
        e.set(f::DESTINATION_PORT, d.port);
    }
    e.set(f::NETWORK_TRANSPORT, m.transport_name());
    e.set(f::NETWORK_TYPE, if s.ip.is_ipv4() { "ipv4" } else { "ipv6" });
    e.set(f::NETWORK_IANA_NUMBER, m.key.proto.to_string());
    e.set(f::NETWORK_COMMUNITY_ID, m.community_id.clone());
    if m.key.vlan != 0 {
        e.set(f::NETWORK_VLAN_ID, m.key.vlan.to_string());
    }
    let related: Vec<Value> = if s.ip == d.ip {
        vec![s.ip.to_string().into()]
    } else {
        vec![s.ip.to_string().into(), d.ip.to_string().into()]
    };
    e.set(f::RELATED_IP, related);
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
    set_endpoints(&mut e, m, Dir::Orig);
    let [o, r] = m.counts;
    e.set(f::EVENT_CATEGORY, vec!["network"]);
    e.set(f::EVENT_TYPE, if final_ { vec!["connection", "end"] } else { vec!["connection", "info"] });
    e.set(f::EVENT_START, format_rfc3339_micros(m.start));
    e.set(f::EVENT_END, format_rfc3339_micros(m.last));
    e.set(f::EVENT_DURATION, m.last - m.start);
    e.set(f::SOURCE_PACKETS, o.packets);
    e.set(f::SOURCE_BYTES, o.bytes);
    e.set(f::DESTINATION_PACKETS, r.packets);
    e.set(f::DESTINATION_BYTES, r.bytes);
    e.set(f::NETWORK_PACKETS, o.packets + r.packets);
    e.set(f::NETWORK_BYTES, o.bytes + r.bytes);
    e.set(f::FLOW_ID, flow_id(m));
    e.set(f::FLOW_FINAL, final_);
    e.set(f::FLOW_SOURCE_PAYLOAD_BYTES, o.payload_bytes);
    e.set(f::FLOW_DESTINATION_PAYLOAD_BYTES, r.payload_bytes);
    if let Some(reason) = end {
        e.set(f::FLOW_END_REASON, reason.as_str());
    }
    if let Some(p) = protocol {
        e.set(f::FLOW_PROTOCOL, p);
    }
    let mut state = "";
    if let Some(t) = &m.tcp {
        state = t.conn_state();
        e.set(f::FLOW_STATE, state);
        e.set(f::FLOW_HISTORY, t.history.as_str());
        e.set(f::FLOW_RETRANSMITTED_BYTES, t.duplicate[0] + t.duplicate[1]);
        e.set(f::FLOW_MISSING_BYTES, t.missing[0] + t.missing[1]);
    }
    e.set(
        f::MESSAGE,
        format!(
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
    Event::new("flow.id", "event", 0, &[m.community_id.as_bytes(), &start, &m.key.vlan.to_be_bytes()]).id
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
    e.set(f::EVENT_CATEGORY, vec!["network"]);
    e.set(f::EVENT_TYPE, vec!["info"]);
    e.set(f::EVENT_REASON, code);
    e.set(f::MESSAGE, detail);
    if let Some((m, dir)) = flow {
        set_endpoints(&mut e, m, dir);
        e.set(f::FLOW_ID, flow_id(m));
    }
    if let Some((n, source)) = frame {
        e.set(f::IOTW_FRAME, n);
        e.set(f::IOTW_CAPTURE_SOURCE, source);
    }
    e
}
