use super::output::{capture_config, capture_filter, diff, diff_text};
use super::*;
use iotw_event::Event;

const T0: Nanos = 1_767_603_600_000_000_000;

fn ends(e: &mut Event, transport: &str, src: (&str, u16), dst: (&str, u16)) {
    ends_bytes(e, transport, src, dst, None);
}

fn ends_bytes(e: &mut Event, transport: &str, src: (&str, u16), dst: (&str, u16), bytes: Option<u64>) {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|_| panic!("{s}"));
    e.obj("source").ip("ip", ip(src.0)).u64("port", u64::from(src.1)).end();
    e.obj("destination").ip("ip", ip(dst.0)).u64("port", u64::from(dst.1)).end();
    e.obj("network").str("transport", transport);
    if let Some(b) = bytes {
        e.u64("bytes", b);
    }
    e.end();
}

fn flow(transport: &str, src: (&str, u16), dst: (&str, u16), protocol: Option<&str>, final_report: bool) -> Event {
    let mut e = Event::new("flow", "event", T0 + 5_000_000_000, &[src.0.as_bytes(), &src.1.to_be_bytes()]);
    ends_bytes(&mut e, transport, src, dst, Some(1000));
    e.obj("event").time("start", T0).end();
    e.obj("flow").bool("final", final_report).u64("source_payload_bytes", 400);
    e.opt_str("protocol", protocol).end();
    e.render();
    e
}

fn summary(client: (&str, u16), app: &str, version: &str) -> Event {
    let mut e = Event::new("genesys_summary", "metric", T0 + 1_000_000_000, &[app.as_bytes()]);
    ends(&mut e, "tcp", client, ("10.0.0.10", 3000));
    e.obj("genesys").str("protocol", "tlib").str("profile", "tlib-default");
    e.obj("client").str("application_name", app).end();
    e.obj("server").str("version", version).str("role", "Primary").end().end();
    e.render();
    e
}

fn site(version: &str, extra: bool) -> Inventory {
    let mut d = Discovery::new(vec!["test".into()]);
    d.observe(&flow("tcp", ("10.0.0.20", 40000), ("10.0.0.10", 3000), Some("tlib"), true));
    d.observe(&summary(("10.0.0.20", 40000), "URS_1", version));
    if extra {
        d.observe(&flow("tcp", ("10.0.0.31", 40001), ("10.0.0.10", 3000), Some("tlib"), true));
        d.observe(&summary(("10.0.0.31", 40001), "StatServer_2", version));
    }
    // SIP over UDP: both ends listen where they send from.
    d.observe(&flow("udp", ("10.0.2.10", 5060), ("10.0.0.10", 5060), Some("sip"), true));
    // A connection that carried nothing offers nothing.
    let mut scan = flow("tcp", ("10.0.0.99", 50000), ("10.0.0.10", 22), None, true);
    scan = {
        let mut e = Event::new("flow", "event", scan.ts, &[b"scan"]);
        ends(&mut e, "tcp", ("10.0.0.99", 50000), ("10.0.0.10", 22));
        e.obj("flow").bool("final", true).end();
        e.render();
        e
    };
    d.observe(&scan);
    d.inventory()
}

#[test]
fn flows_and_registrations_become_services_with_their_clients_and_versions() {
    let inv = site("8.1.103.17", false);
    let keys: Vec<String> = inv.services.iter().map(Service::key).collect();
    assert_eq!(keys, ["10.0.0.10:3000/tcp", "10.0.0.10:5060/udp", "10.0.2.10:5060/udp"]);
    let tlib = &inv.services[0];
    assert_eq!(tlib.protocol, "tlib");
    let g = tlib.genesys.as_ref().unwrap_or_else(|| panic!("genesys"));
    assert_eq!(g.version.as_deref(), Some("8.1.103.17"));
    assert_eq!(g.role.as_deref(), Some("Primary"));
    assert_eq!(g.r#type.as_deref(), Some("CFGTServer"));
    assert_eq!(tlib.clients.len(), 1);
    assert_eq!(tlib.clients[0].applications, ["URS_1"]);
    assert_eq!((tlib.flows, tlib.bytes), (1, 1000));
    let urs = inv.hosts.iter().find(|h| h.ip.to_string() == "10.0.0.20").unwrap_or_else(|| panic!("host"));
    assert_eq!(urs.applications, ["URS_1"]);
    assert_eq!(inv.services[1].clients[0].ip.to_string(), "10.0.2.10");
    assert_eq!(inv.first_seen.as_deref(), Some("2026-01-05T09:00:00.000000Z"));
}

#[test]
fn an_interim_flow_report_is_not_counted_twice() {
    let mut d = Discovery::new(Vec::new());
    d.observe(&flow("tcp", ("10.0.0.20", 40000), ("10.0.0.10", 3000), Some("tlib"), false));
    d.observe(&flow("tcp", ("10.0.0.20", 40000), ("10.0.0.10", 3000), Some("tlib"), true));
    let inv = d.inventory();
    assert_eq!(inv.services[0].flows, 1);
    assert_eq!(inv.services[0].clients[0].flows, 1);
}

#[test]
fn the_diff_says_exactly_what_changed() {
    let old = site("8.1.103.17", false);
    let new = site("8.1.103.99", true);
    let changes = diff(&old, &new);
    let got: Vec<(&str, &str, &str)> =
        changes.iter().map(|c| (c.kind, c.service.as_str(), c.detail.as_str())).collect();
    assert_eq!(
        got,
        [
            ("client_added", "10.0.0.10:3000/tcp", "10.0.0.31 (StatServer_2)"),
            ("version_changed", "10.0.0.10:3000/tcp", "8.1.103.17 -> 8.1.103.99"),
        ]
    );
    assert_eq!(diff(&new, &new), []);
    assert_eq!(diff_text(&[]), "no changes\n");
    let back = diff(&new, &old);
    assert!(back.iter().any(|c| c.kind == "client_removed"), "{back:?}");
    // A service that went away, and one that came.
    let mut moved = new.clone();
    moved.services.retain(|s| s.port != 5060 || s.ip.to_string() != "10.0.2.10");
    let kinds: Vec<&str> = diff(&new, &moved).iter().map(|c| c.kind).collect();
    assert_eq!(kinds, ["service_removed"]);
    let kinds: Vec<&str> = diff(&moved, &new).iter().map(|c| c.kind).collect();
    assert_eq!(kinds, ["service_added"]);
}

#[test]
fn the_capture_filter_parses_and_keeps_what_was_found() {
    let inv = site("8.1.103.17", true);
    let f = capture_filter(&inv);
    assert_eq!(
        f,
        "(tcp port 3000 and host 10.0.0.10) or \
         (udp and (host 10.0.0.10 or host 10.0.2.10) and (port 5060 or not portrange 0-65535))"
    );
    iotw_capture::filter::parse(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
    let cfg = capture_config(&inv);
    assert!(cfg.contains("[capture]\nfilter = \""), "{cfg}");
    let parsed: toml::Value = toml::from_str(&cfg).unwrap_or_else(|e| panic!("{e}\n{cfg}"));
    assert_eq!(parsed["capture"]["filter"].as_str(), Some(f.as_str()));
    let empty = capture_config(&Inventory::default());
    assert!(empty.contains("filter = \"\""), "{empty}");
}

#[test]
fn the_inventory_reads_back_as_written_and_another_format_is_refused() {
    let inv = site("8.1.103.17", true);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = dir.path().join("inv.json");
    std::fs::write(&p, serde_json::to_string(&inv).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(Inventory::read(&p), Ok(inv.clone()));
    let mut other = serde_json::to_value(&inv).unwrap_or_default();
    other["iotw_inventory"] = 99.into();
    std::fs::write(&p, other.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let err = Inventory::read(&p).err().unwrap_or_default();
    assert!(err.contains("format 99"), "{err}");
    std::fs::write(&p, "{").unwrap_or_else(|e| panic!("{e}"));
    assert!(Inventory::read(&p).is_err());
}

#[test]
fn names_come_from_via_headers_and_are_never_addresses() {
    assert_eq!(via_host("SIP/2.0/UDP sbc1.example.net:5060;branch=z9hG4bK1").as_deref(), Some("sbc1.example.net"));
    assert_eq!(via_host("SIP/2.0/TCP [2001:db8::1]:5060;branch=z").as_deref(), Some("2001:db8::1"));
    assert_eq!(via_host("garbage"), None);
    assert!(is_name("sip.example"));
    assert!(!is_name("10.0.0.1"));
    assert!(!is_name("2001:db8::1"));
    assert!(!is_name("*.example"));
    assert!(!is_name(""));
}

#[test]
fn reverse_names_give_back_their_addresses() {
    assert_eq!(reverse_ip("10.0.10.10.in-addr.arpa"), "10.10.0.10".parse().ok());
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";
    assert_eq!(reverse_ip(v6), "2001:db8::1".parse().ok());
    assert_eq!(reverse_ip("example.com"), None);
    assert_eq!(reverse_ip("1.2.3.in-addr.arpa"), None);
}
