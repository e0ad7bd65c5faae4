//! `iotw discover` end to end: on simulated sites against the simulator's ground truth, on
//! real SIP and TLS captures against what capture mode decodes from them, the generated
//! configuration used in capture mode, and the audit of one site against another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn iotw(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_iotw")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "iotw panicked: {stderr}");
    out
}

fn ok(args: &[&str]) -> String {
    let out = iotw(args);
    assert!(out.status.success(), "iotw {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn captures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn inventory(pcap: &Path, dir: &Path, extra: &[&str]) -> Value {
    let json = dir.join("inventory.json");
    let mut args = vec!["discover", "-q", "--no-progress", "-r", s(pcap), "--json", s(&json)];
    args.extend_from_slice(extra);
    ok(&args);
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn services(inv: &Value) -> BTreeMap<String, &Value> {
    inv["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (format!("{}:{}/{}", s["ip"].as_str().unwrap(), s["port"], s["transport"].as_str().unwrap()), s))
        .collect()
}

fn simulate(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let pcap = dir.join(format!("{name}.pcapng"));
    let truth = dir.join(format!("{name}.ndjson"));
    let mut args = vec!["simulate", "--out", s(&pcap), "--truth", s(&truth), "--duration", "3m", "--agents", "6"];
    args.extend_from_slice(extra);
    ok(&args);
    (pcap, truth)
}

fn datasets(out: &str) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for l in out.lines() {
        let d: Value = serde_json::from_str(l).unwrap();
        *n.entry(d["event"]["dataset"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    n
}

#[test]
fn a_simulated_site_is_inventoried_exactly_as_the_simulator_built_it() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = simulate(dir.path(), "site", &[]);
    let cfg = dir.path().join("iotw.toml");
    let inv = inventory(&pcap, dir.path(), &["--write-config", s(&cfg)]);
    let found = services(&inv);

    // What the simulator put on the wire: T-Lib servers (where clients registered, with the
    // version and role they were told), the applications and their hosts, and SIP endpoints
    // (over UDP, each listens where it sends from), with who sent and who answered INVITEs.
    let mut want: BTreeMap<String, (String, Option<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut apps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut roles: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut version = BTreeMap::new();
    for m in lines(&truth) {
        let (src, dst) = (m["source"].as_str().unwrap(), m["destination"].as_str().unwrap());
        match m["protocol"].as_str().unwrap() {
            "tlib" => {
                if m["message"] == "RequestRegisterClient" {
                    let app = m["attributes"]["AttributeApplicationName"].as_str().unwrap().to_owned();
                    let host = src.split(':').next().unwrap().to_owned();
                    want.entry(format!("{dst}/tcp"))
                        .or_insert(("tlib".into(), None, BTreeSet::new()))
                        .2
                        .insert(app.clone());
                    apps.entry(host).or_default().insert(app);
                }
                if m["message"] == "EventServerInfo" {
                    let role = match m["attributes"]["AttributeServerRole"].as_i64() {
                        Some(0) => "Primary",
                        other => panic!("a role the test does not know: {other:?}"),
                    };
                    let v = m["attributes"]["AttributeServerVersion"].as_str().unwrap();
                    version.insert(format!("{src}/tcp"), (v.to_owned(), role));
                }
            }
            "sip" => {
                let line = m["start_line"].as_str().unwrap();
                want.entry(format!("{src}/udp")).or_insert(("sip".into(), None, BTreeSet::new()));
                if line.starts_with("INVITE ") {
                    roles.entry(format!("{src}/udp")).or_default().insert("uac");
                }
                if line.starts_with("SIP/2.0 ") {
                    roles.entry(format!("{src}/udp")).or_default();
                }
            }
            other => panic!("a protocol the test does not know: {other}"),
        }
    }
    assert_eq!(found.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "services");
    for (key, (protocol, _, clients)) in &want {
        let f = found[key];
        assert_eq!(f["protocol"], protocol.as_str(), "{key}");
        if protocol == "tlib" {
            let (v, role) = &version[key];
            assert_eq!(f["genesys"]["version"], v.as_str(), "{key}");
            assert_eq!(f["genesys"]["role"], *role, "{key}");
            assert_eq!(f["genesys"]["type"], "CFGTServer", "{key}");
            let got: BTreeSet<String> = f["clients"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|c| c["applications"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
                .collect();
            assert_eq!(&got, clients, "{key}");
        }
        if let Some(r) = roles.get(key).filter(|r| r.contains("uac")) {
            assert!(f["sip_roles"].as_array().unwrap().iter().any(|x| x == "uac"), "{key}: {r:?} {f}");
        }
    }
    for h in inv["hosts"].as_array().unwrap() {
        let ip = h["ip"].as_str().unwrap();
        let got: BTreeSet<String> = h
            .get("applications")
            .map(|a| a.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(got, apps.get(ip).cloned().unwrap_or_default(), "applications on {ip}");
    }

    // The configuration it wrote keeps every Genesys and SIP message in capture mode.
    let all = datasets(&ok(&["capture", "--output", "ndjson", "--no-progress", "--quiet", "-r", s(&pcap)]));
    let kept =
        datasets(&ok(&["capture", "-c", s(&cfg), "--output", "ndjson", "--no-progress", "--quiet", "-r", s(&pcap)]));
    for d in ["genesys", "sip", "call", "genesys_summary"] {
        assert!(all.get(d).copied().unwrap_or(0) > 0, "{d}: {all:?}");
        assert_eq!(kept.get(d), all.get(d), "{d}");
    }
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("filter = \"(tcp port 3000 and host 10.10.0.10)"), "{text}");
}

#[test]
fn the_audit_of_two_sites_reports_the_changed_version_and_the_added_component() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _) = simulate(dir.path(), "before", &[]);
    let (after, _) =
        simulate(dir.path(), "after", &["--server-version", "8.5.001.02", "--add-client", "StatServer_2@10.10.0.31"]);
    let old = dir.path().join("before.json");
    ok(&["discover", "-q", "--no-progress", "-r", s(&before), "--json", s(&old)]);
    let out = iotw(&["discover", "-q", "--no-progress", "-r", s(&after), "--diff", s(&old)]);
    assert_eq!(out.status.code(), Some(1), "changes found: exit status 1");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines,
        [
            vec!["+", "client_added", "10.10.0.10:3000/tcp", "10.10.0.31", "(StatServer_2)"],
            vec!["~", "version_changed", "10.10.0.10:3000/tcp", "8.1.103.17", "->", "8.5.001.02"],
        ],
        "{text}"
    );
    // The same site against itself: nothing, exit status 0.
    let same = iotw(&["discover", "-q", "--no-progress", "-r", s(&before), "--diff", s(&old)]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(String::from_utf8(same.stdout).unwrap(), "no changes\n");
    // An inventory that does not read is an error, before any capture is read.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = iotw(&["discover", "-q", "-r", s(&before), "--diff", s(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json"));
}

#[test]
fn sipp_captures_show_the_uac_and_the_uas_on_their_ports() {
    let dir = tempfile::tempdir().unwrap();
    let udp = services(&inventory(&captures("captures/sipp-udp-20calls.pcapng"), dir.path(), &[]))
        .into_iter()
        .map(|(k, v)| (k, v["sip_roles"].clone()))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(
        udp,
        BTreeMap::from([
            ("127.0.0.1:5060/udp".to_owned(), serde_json::json!(["uac"])),
            ("127.0.0.1:5070/udp".to_owned(), serde_json::json!(["uas"])),
        ])
    );
    // Over TCP the UAC is the client of the UAS's port.
    let inv = inventory(&captures("captures/sipp-tcp-10calls.pcap"), dir.path(), &[]);
    let tcp = services(&inv);
    assert_eq!(tcp.keys().collect::<Vec<_>>(), ["127.0.0.1:5071/tcp"]);
    assert_eq!(tcp["127.0.0.1:5071/tcp"]["sip_roles"], serde_json::json!(["uas"]));
    assert_eq!(tcp["127.0.0.1:5071/tcp"]["flows"], 1);
    // sip.pcapng: a phone that says what it is.
    let inv = inventory(&captures("captures/sip.pcapng"), dir.path(), &[]);
    assert_eq!(services(&inv)["10.102.130.150:5060/udp"]["software"], serde_json::json!(["CSCO/7"]));
}

#[test]
fn each_tls_service_has_the_certificate_capture_mode_reads() {
    let dir = tempfile::tempdir().unwrap();
    for pcap in [captures("tls/tls-local.pcap"), captures("captures/tls12-chacha20poly1305.pcap")] {
        let inv = inventory(&pcap, dir.path(), &[]);
        let found = services(&inv);
        // capture mode's TLS documents (checked against tshark by compare-tls.py): the
        // certificate each server presented.
        let mut want: BTreeMap<String, String> = BTreeMap::new();
        for l in ok(&["capture", "--output", "ndjson", "--no-progress", "--quiet", "-r", s(&pcap)]).lines() {
            let d: Value = serde_json::from_str(l).unwrap();
            if d["event"]["dataset"] == "tls" {
                if let Some(subject) = d["tls"]["server"]["subject"].as_str() {
                    let key = format!("{}:{}/tcp", d["destination"]["ip"].as_str().unwrap(), d["destination"]["port"]);
                    want.insert(key, subject.to_owned());
                }
            }
        }
        assert!(!want.is_empty());
        for (key, subject) in &want {
            let f = found.get(key).unwrap_or_else(|| panic!("{key} not in the inventory"));
            assert_eq!(f["protocol"], "tls", "{key}");
            assert_eq!(f["tls"]["subject"], subject.as_str(), "{key}");
        }
        assert_eq!(found.values().filter(|f| f["protocol"] == "tls").count(), want.len());
    }
}

#[test]
fn inventory_documents_go_to_the_output_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = captures("captures/sipp-udp-20calls.pcapng");
    let out = dir.path().join("inv.ndjson");
    ok(&["discover", "-q", "--no-progress", "-r", s(&pcap), "--output", "ndjson", "--out", s(&out)]);
    let docs = lines(&out);
    assert_eq!(docs.len(), 2);
    assert!(docs.iter().all(|d| d["event"]["dataset"] == "inventory" && d["network"]["protocol"] == "sip"));
    // Without --output (and no -c), nothing is written anywhere but the terminal.
    let table = ok(&["discover", "--no-progress", "-r", s(&pcap)]);
    assert!(table.contains("127.0.0.1:5060/udp") && table.contains("2 services on 1 hosts"), "{table}");
}

#[test]
fn dns_answers_name_the_addresses_they_resolve_to() {
    // Made by scripts/make-dns-capture.sh: dig asking dnsmasq over UDP and TCP.
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(&captures("dns/dns-local.pcap"), dir.path(), &[]);
    let names = |ip: &str| -> BTreeSet<(String, String)> {
        let h = inv["hosts"].as_array().unwrap().iter().find(|h| h["ip"] == ip).unwrap_or_else(|| panic!("{ip}"));
        h["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].as_str().unwrap().to_owned(), n["source"].as_str().unwrap().to_owned()))
            .collect()
    };
    let dns = |n: &str| (n.to_owned(), "dns".to_owned());
    // A and AAAA, through the CNAME sip -> sipserver, and the PTR record.
    assert_eq!(names("10.10.0.10"), BTreeSet::from([dns("sip.cc.iotw.test"), dns("sipserver.cc.iotw.test")]));
    assert_eq!(names("2001:db8::10"), BTreeSet::from([dns("sipserver.cc.iotw.test")]));
    let resolver = services(&inv);
    let udp = resolver.iter().find(|(k, _)| k.ends_with(":53/udp")).map(|(_, v)| *v).unwrap();
    assert_eq!(udp["protocol"], "dns");
}
