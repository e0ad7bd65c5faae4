//! The site simulator against the decoder: every T-Library message the simulator puts on the
//! wire must come out of `iotw capture` with the same attributes, whatever wire profile both
//! speak; and no credential may reach a document.
//! `scripts/compare-genesys.sh` runs this with the comparison table printed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use iotw::simulate::{simulate, SimConfig};
use iotw_decode::genesys::tables::{enum_name, AttributeId};
use iotw_decode::genesys::{field, secret, WireProfile};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every document `iotw capture --output ndjson` writes for a capture (default config).
fn capture_docs(pcap: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["capture", "--output", "ndjson", "--no-progress", "--quiet", "-r"])
        .arg(pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// What a decoded document should say for a ground-truth attribute value.
fn expected(a: AttributeId, v: &Value) -> Value {
    match v {
        Value::Number(n) if a == AttributeId::EVENT_SEQUENCE_NUMBER => {
            Value::from(format!("{:016x}", n.as_i64().unwrap()))
        }
        Value::Number(n) => enum_name(a, n.as_i64().unwrap()).map_or(v.clone(), Value::from),
        _ => v.clone(),
    }
}

/// Simulates a site with `profile`, decodes it with the same profile, compares; returns the
/// table rows (message, on the wire, decoded identically).
fn round_trip(name: &str, profile_text: &str) -> BTreeMap<String, (u64, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let profile = WireProfile::parse(profile_text).unwrap();
    let (pcap, truth) = (dir.path().join("site.pcapng"), dir.path().join("truth.ndjson"));
    let cfg =
        SimConfig { agents: 6, calls_per_hour: 160, duration: 1_200_000_000_000, seed: 7, ..SimConfig::default() };
    let files = (std::fs::File::create(&pcap).unwrap(), std::fs::File::create(&truth).unwrap());
    let report = simulate(&cfg, &profile, files.0, Some(files.1), None::<std::fs::File>).unwrap();
    assert!(report.answered > 0 && report.abandoned > 0, "{report:?}");
    std::fs::write(dir.path().join("profile.toml"), profile_text).unwrap();
    std::fs::write(dir.path().join("iotw.toml"), "[genesys]\nprofile = \"profile.toml\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["capture", "--output", "ndjson", "--no-progress", "--quiet", "-c"])
        .arg(dir.path().join("iotw.toml"))
        .arg("-r")
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("not-a-real-password"), "{name}: a password reached a document");
    let docs: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let anomalies: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "anomaly").collect();
    assert!(anomalies.is_empty(), "{name}: {anomalies:?}");
    let mut by_key: HashMap<(String, String, String), &Value> = HashMap::new();
    for d in docs.iter().filter(|d| d["event"]["dataset"] == "genesys") {
        let ep = |e: &Value| format!("{}:{}", e["ip"].as_str().unwrap(), e["port"]);
        let route = format!("{}>{}", ep(&d["source"]), ep(&d["destination"]));
        let key = (
            d["@timestamp"].as_str().unwrap().to_owned(),
            d["genesys"]["message"]["name"].as_str().unwrap().to_owned(),
            route,
        );
        assert!(by_key.insert(key, d).is_none(), "two documents for one message");
    }
    let mut rows: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let truth = lines(&truth);
    for t in truth.iter().filter(|t| t["protocol"] == "tlib") {
        let msg = t["message"].as_str().unwrap().to_owned();
        let row = rows.entry(msg.clone()).or_default();
        row.0 += 1;
        let route = format!("{}>{}", t["source"].as_str().unwrap(), t["destination"].as_str().unwrap());
        let key = (t["@timestamp"].as_str().unwrap().to_owned(), msg.clone(), route);
        let Some(d) = by_key.remove(&key) else { continue };
        let g = &d["genesys"];
        let mut same = d["genesys"]["message"]["id"] == t["id"];
        for (attr, v) in t["attributes"].as_object().unwrap() {
            let a = AttributeId::by_name(attr).unwrap();
            let got = if secret(a) {
                // Never written: present only as its absence.
                assert!(g["attributes"].get(attr).is_none());
                continue;
            } else if let Some(f) = field(a) {
                &g[f]
            } else {
                &g["attributes"][attr]
            };
            if *got != expected(a, v) {
                eprintln!("{name}: {msg} {attr}: decoded {got}, sent {v}");
                same = false;
            }
        }
        row.1 += u64::from(same);
    }
    assert!(
        by_key.is_empty(),
        "{name}: documents for messages never sent: {:?}",
        by_key.keys().take(3).collect::<Vec<_>>()
    );
    // Every SIP message too.
    let sip_truth = truth.iter().filter(|t| t["protocol"] == "sip").count();
    let sip_docs = docs.iter().filter(|d| d["event"]["dataset"] == "sip").count();
    assert_eq!(sip_docs, sip_truth, "{name}: SIP messages");
    let wire = rows.values().map(|r| r.0).sum::<u64>();
    let ok = rows.values().map(|r| r.1).sum::<u64>();
    println!("profile {name}: {ok} of {wire} T-Lib messages decoded with identical attributes; {sip_docs} of {sip_truth} SIP messages");
    for (m, (n, k)) in &rows {
        println!("  {m:<32} {n:>6} sent {k:>6} identical");
    }
    assert_eq!(ok, wire, "{name}: every message identical");
    assert_eq!(wire, report.tlib_messages);
    rows
}

#[test]
fn simulated_site_decodes_to_its_ground_truth_with_the_default_profile() {
    let rows = round_trip("tlib-default", iotw_decode::genesys::profile::DEFAULT_TEXT);
    for m in [
        "EventRouteRequest",
        "RequestRouteCall",
        "EventRouteUsed",
        "EventRinging",
        "EventEstablished",
        "EventReleased",
        "EventAbandoned",
        "RequestDistributeUserEvent",
        "EventUserEvent",
    ] {
        assert!(rows.get(m).is_some_and(|r| r.0 > 0), "the site says {m}");
    }
}

#[test]
fn outbound_desktop_protocol_fields_come_out_of_the_user_data() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("site.pcapng");
    let cfg = SimConfig {
        agents: 3,
        calls_per_hour: 30,
        previews_per_hour: 120,
        duration: 600_000_000_000,
        seed: 5,
        ..SimConfig::default()
    };
    let none = None::<std::fs::File>;
    simulate(&cfg, &WireProfile::default(), std::fs::File::create(&pcap).unwrap(), none, None::<std::fs::File>)
        .unwrap();
    let docs = capture_docs(&pcap);
    let ob: Vec<&Value> = docs.iter().filter_map(|d| d["genesys"].get("outbound")).collect();
    // 20 records, 4 steps each, each step a request and the event it causes.
    assert_eq!(ob.len(), 20 * 4 * 2);
    let processed: Vec<&&Value> = ob.iter().filter(|o| o["request_type"] == "RecordProcessed").collect();
    assert_eq!(processed.len(), 20 * 2);
    for o in processed {
        assert!(matches!(o["call_result"].as_str(), Some("Answer" | "NoAnswer")), "{o}");
        assert!(o["record_handle"].as_i64().unwrap() > 1000);
        assert_eq!(o["campaign"], "Renewals_Q1");
    }
    assert!(ob
        .iter()
        .any(|o| o["user_event"] == "PreviewRecord" && o["phone"].is_string() && o["calling_list"] == "Renewals_List"));
}

#[test]
fn simulated_site_decodes_with_profiles_that_differ_from_the_default() {
    let d = iotw_decode::genesys::profile::DEFAULT_TEXT;
    for (name, text) in [
        ("little-endian", d.replace("byte_order = \"big\"", "byte_order = \"little\"")),
        ("length-counts-header", d.replace("length_includes_header = false", "length_includes_header = true")),
        (
            "32-bit-ids-16-bit-type",
            d.replace("id_bytes = 2", "id_bytes = 4").replace("type_bytes = 4", "type_bytes = 2"),
        ),
        ("attribute-count", d.replace("attribute_count_bytes = 0", "attribute_count_bytes = 2")),
    ] {
        round_trip(name, &text);
    }
}

/// Simulates a site speaking `profile_text` with its T-Server log; returns (pcap, log) paths.
fn site_with_log(
    dir: &Path,
    tag: &str,
    profile_text: &str,
    seed: u64,
    start: i64,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let profile = WireProfile::parse(profile_text).unwrap();
    let (pcap, log) = (dir.join(format!("{tag}.pcapng")), dir.join(format!("{tag}.log")));
    let cfg =
        SimConfig { agents: 5, calls_per_hour: 150, duration: 600_000_000_000, seed, start, ..SimConfig::default() };
    let files = (std::fs::File::create(&pcap).unwrap(), std::fs::File::create(&log).unwrap());
    simulate(&cfg, &profile, files.0, None::<std::fs::File>, Some(files.1)).unwrap();
    (pcap, log)
}

fn calibrate(pcap: &Path, log: &Path, out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["genesys", "calibrate", "--pcap"])
        .arg(pcap)
        .arg("--log")
        .arg(log)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn calibration_finds_the_profile_a_site_speaks_and_refuses_to_guess_from_another_period() {
    let d = iotw_decode::genesys::profile::DEFAULT_TEXT;
    let dir = tempfile::tempdir().unwrap();
    let start = SimConfig::default().start;
    for (tag, text) in [
        ("little-endian", d.replace("byte_order = \"big\"", "byte_order = \"little\"")),
        ("length-counts-header", d.replace("length_includes_header = false", "length_includes_header = true")),
        ("32-bit-ids", d.replace("id_bytes = 2", "id_bytes = 4")),
        (
            "16-bit-types-nul-strings",
            d.replace("type_bytes = 4", "type_bytes = 2").replace("string_nul = false", "string_nul = true"),
        ),
        (
            "kv-widths-no-keepalives",
            d.replace("key_length_bytes = 2", "key_length_bytes = 1")
                .replace("string_length_bytes = 2", "string_length_bytes = 4")
                .replace("empty_is_keepalive = true", "empty_is_keepalive = false"),
        ),
    ] {
        let truth = WireProfile::parse(&text).unwrap();
        let (pcap, log) = site_with_log(dir.path(), tag, &text, 3, start);
        let out = dir.path().join(format!("{tag}-calibrated.toml"));
        let report = calibrate(&pcap, &log, &out);
        assert!(!report.contains("undetermined:"), "{tag}: {report}");
        let mut got = WireProfile::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
        got.name = truth.name.clone();
        if !truth.packet.empty_is_keepalive {
            // A site without keep-alives cannot say how they would look: undetermined, and the
            // starting value stays.
            assert!(
                report.lines().any(|l| l.starts_with("packet.empty_is_keepalive") && l.contains("undetermined")),
                "{report}"
            );
            got.packet.empty_is_keepalive = false;
        } else {
            assert!(
                report.lines().any(|l| l.starts_with("packet.empty_is_keepalive") && l.contains("confirmed")),
                "{report}"
            );
        }
        assert_eq!(got, truth, "{tag}: calibrated back to the profile it was simulated with\n{report}");
        // The same site's capture with the log of another hour: no profile, not a wrong one.
        let (_, other_log) = site_with_log(dir.path(), &format!("{tag}-later"), &text, 4, start + 3_600_000_000_000);
        let out2 = dir.path().join(format!("{tag}-other.toml"));
        let report = calibrate(&pcap, &other_log, &out2);
        assert!(report.contains("undetermined:"), "{tag} with another period's log: {report}");
        assert!(!out2.exists());
    }
}

#[test]
fn each_simulated_call_is_one_journey_linking_its_sip_legs_and_conn_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = (dir.path().join("site.pcapng"), dir.path().join("truth.ndjson"));
    let cfg =
        SimConfig { agents: 6, calls_per_hour: 120, duration: 3_600_000_000_000, seed: 21, ..SimConfig::default() };
    let files = (std::fs::File::create(&pcap).unwrap(), std::fs::File::create(&truth).unwrap());
    let report = simulate(&cfg, &WireProfile::default(), files.0, Some(files.1), None::<std::fs::File>).unwrap();
    let docs = capture_docs(&pcap);
    // The calls on the wire: their CallUUIDs and ConnIDs, from the ground truth.
    let mut truth_calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut handed_on: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for t in lines(&truth).iter().filter(|t| t["protocol"] == "tlib") {
        if let Some(u) = t["attributes"]["AttributeCallUUID"].as_str() {
            let h = handed_on.entry(u.to_owned()).or_default();
            h.0 |= t["message"] == "EventReleased" && t["attributes"]["AttributeCallState"] == 1;
            h.1 |= t["message"] == "EventPartyAdded";
        }
        if let (Some(u), Some(c)) =
            (t["attributes"]["AttributeCallUUID"].as_str(), t["attributes"]["AttributeConnID"].as_str())
        {
            let v = truth_calls.entry(u.to_owned()).or_default();
            if !v.iter().any(|x| x == c) {
                v.push(c.to_owned());
            }
        }
    }
    let journeys: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "journey").collect();
    assert_eq!(journeys.len() as u64, report.calls, "one journey per call");
    assert_eq!(journeys.len(), truth_calls.len());
    let (t, c) = handed_on.values().fold((0, 0), |(t, c), h| (t + u32::from(h.0), c + u32::from(h.1)));
    assert!(t > 0 && c > 0, "the site transfers ({t}) and conferences ({c}) some calls");
    for j in journeys {
        let j = &j["journey"];
        let uuid = j["call_uuid"].as_str().unwrap();
        let conn: Vec<String> =
            j["conn_ids"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        assert_eq!(Some(&conn), truth_calls.get(uuid), "{uuid}: its ConnIDs");
        let legs = j["sip"]["legs"].as_u64().unwrap();
        let (transferred, conferenced) = handed_on.get(uuid).copied().unwrap_or_default();
        assert_eq!(
            (j["transferred"].as_bool(), j["conferenced"].as_bool()),
            (Some(transferred), Some(conferenced)),
            "{uuid}"
        );
        match j["outcome"].as_str().unwrap() {
            "answered" => {
                let agents = 1 + u64::from(transferred || conferenced);
                assert_eq!(legs, 1 + agents, "{uuid}: the trunk leg and each agent's");
                assert!(j["talk_time"].as_i64().unwrap() > 0 && j["agent_dn"].is_string());
                let states: Vec<&Value> = j["sip"]["calls"].as_array().unwrap().iter().map(|c| &c["state"]).collect();
                assert!(states.iter().all(|s| *s == "completed"), "{uuid}: {states:?}");
                assert_eq!(
                    j["parties"].as_array().unwrap().len() as u64,
                    2 + agents,
                    "{uuid}: route point, ANI, agents"
                );
            }
            "abandoned" => assert_eq!((legs, j["sip"]["calls"][0]["state"].as_str()), (1, Some("cancelled")), "{uuid}"),
            other => panic!("{uuid}: outcome {other}"),
        }
    }
}

#[test]
fn the_same_seed_makes_the_same_site_byte_for_byte() {
    let cfg = SimConfig { agents: 3, calls_per_hour: 100, duration: 300_000_000_000, seed: 9, ..SimConfig::default() };
    let run = |cfg: &SimConfig| {
        let (mut pcap, mut truth, mut log) = (Vec::new(), Vec::new(), Vec::new());
        simulate(cfg, &WireProfile::default(), &mut pcap, Some(&mut truth), Some(&mut log)).unwrap();
        (pcap, truth, log)
    };
    let a = run(&cfg);
    assert!(a == run(&cfg), "same seed, same files");
    assert!(a.0 != run(&SimConfig { seed: 10, ..cfg.clone() }).0, "another seed, another site");
    let text = String::from_utf8(a.2).unwrap();
    assert!(!text.contains("not-a-real-password"), "the log masks passwords as T-Server does");
}
