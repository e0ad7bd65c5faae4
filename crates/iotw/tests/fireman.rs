//! Fireman end to end: rules read from files, run over a simulated site's capture by
//! `iotw fireman test` (backtest) and inside `iotw capture` (in the stream), and the alerts
//! counted against the documents that should raise them, counted independently.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

mod common;
use common::{iotw_run as iotw, simulate};

fn docs(ndjson: &str) -> Vec<Value> {
    ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn rules_fire_the_same_in_a_backtest_and_in_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("abandoned.yaml"),
        "name: abandoned\ntype: any\nrealert: {minutes: 0}\nfilter:\n- term: {genesys.message.name: EventAbandoned}\n\
         alert_subject: \"Abandoned on {0}\"\nalert_subject_args: [genesys.this_dn]\n\
         include: [genesys.this_dn, source.ip, genesys.no_such_field]\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("busy-agents.yml"),
        "name: busy\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 2}\nquery_key: genesys.this_dn\n\
         filter:\n- query: {query_string: {query: \"genesys.message.name:EventEstablished\"}}\n",
    )
    .unwrap();
    // What should fire, counted from the decoded documents themselves.
    let (ok, plain, err) = iotw(&["capture", "-r", &pcap, "--output", "ndjson", "--no-progress", "--quiet"]);
    assert!(ok, "{err}");
    let abandoned: Vec<Value> =
        docs(&plain).into_iter().filter(|d| d["genesys"]["message"]["name"] == "EventAbandoned").collect();
    assert!(abandoned.len() >= 5, "the simulated site abandons calls: {}", abandoned.len());

    let (ok, out, err) = iotw(&["fireman", "test", rules.to_str().unwrap(), "-r", &pcap, "--output", "ndjson"]);
    assert!(ok, "{err}");
    let alerts = docs(&out);
    let fired: Vec<&Value> = alerts.iter().filter(|a| a["rule"]["name"] == "abandoned").collect();
    assert_eq!(fired.len(), abandoned.len());
    for (a, d) in fired.iter().zip(&abandoned) {
        assert_eq!(a["@timestamp"], d["@timestamp"]);
        assert_eq!(a["event"]["reason"], format!("Abandoned on {}", d["genesys"]["this_dn"].as_str().unwrap()));
        assert_eq!((a["event"]["kind"].as_str(), a["fireman"]["state"].as_str()), (Some("alert"), Some("firing")));
        // `include`: the fields of the document that raised it; a missing one is left out.
        let m = a["fireman"]["match"].as_object().unwrap();
        assert_eq!((&m["genesys.this_dn"], &m["source.ip"]), (&d["genesys"]["this_dn"], &d["source"]["ip"]));
        assert_eq!(m.len(), 2, "{m:?}");
    }
    assert!(err.contains("rule abandoned (any)") && err.contains("rule busy (frequency)"), "{err}");
    let busy = alerts.iter().filter(|a| a["rule"]["name"] == "busy").count();
    assert!(busy > 0, "three calls answered on one DN within two minutes happen on the simulated site");

    // The same rules inside capture mode: the same alerts, shipped as documents.
    let cfg = dir.path().join("iotw.toml");
    std::fs::write(&cfg, "[fireman]\nrules = [\"rules\"]\n").unwrap();
    let (ok, stream, err) =
        iotw(&["capture", "-c", cfg.to_str().unwrap(), "-r", &pcap, "--output", "ndjson", "--no-progress", "--quiet"]);
    assert!(ok, "{err}");
    let in_stream: Vec<Value> = docs(&stream).into_iter().filter(|d| d["event"]["kind"] == "alert").collect();
    let by = |rule: &str| in_stream.iter().filter(|a| a["rule"]["name"] == rule).count();
    assert_eq!((by("abandoned"), by("busy")), (abandoned.len(), busy));
    let ids = |v: &[&Value]| v.iter().map(|a| a["@timestamp"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let stream_abandoned: Vec<&Value> = in_stream.iter().filter(|a| a["rule"]["name"] == "abandoned").collect();
    assert_eq!(ids(&stream_abandoned), ids(&fired));

    // Into the embedded store: the alerts table lists exactly those alerts.
    let store = dir.path().join("store");
    std::fs::write(&cfg, format!("[output]\ndata_dir = {store:?}\n\n[fireman]\nrules = [\"rules\"]\n")).unwrap();
    let (ok, _, err) = iotw(&["capture", "-c", cfg.to_str().unwrap(), "-r", &pcap, "--no-progress", "--quiet"]);
    assert!(ok, "{err}");
    let d = store.to_str().unwrap();
    let list = |more: &[&str]| {
        let args = [&["fireman", "alerts", "--data-dir", d, "--limit", "100000", "--oldest-first"][..], more].concat();
        let (ok, out, err) = iotw(&args);
        assert!(ok, "{err}");
        (out, err)
    };
    let (json, _) = list(&["--format", "json"]);
    let key = |a: &Value| (a["@timestamp"].to_string(), a["rule"]["name"].to_string(), a["fireman"]["key"].to_string());
    let mut table_docs: Vec<_> = docs(&json).iter().map(key).collect();
    let mut expected: Vec<_> = in_stream.iter().map(key).collect();
    table_docs.sort();
    expected.sort();
    assert_eq!(table_docs, expected);
    let (table, err) = list(&["--rule", "abandoned", "--state", "firing"]);
    assert!(err.contains(&format!("{} alerts", abandoned.len())), "{err}");
    let first = table.lines().nth(1).unwrap();
    let d0 = &abandoned[0];
    assert!(first.contains(d0["@timestamp"].as_str().unwrap()) && first.contains("abandoned  firing"), "{table}");
    assert!(first.contains(&format!("Abandoned on {}", d0["genesys"]["this_dn"].as_str().unwrap())), "{table}");
}

#[test]
fn a_broken_rule_stops_the_run_and_names_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("bad.yaml");
    std::fs::write(&rule, "name: bad\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 1}\nrealert: 5\n").unwrap();
    let (ok, _, err) = iotw(&["fireman", "check", rule.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.yaml") && err.contains("realert") && err.contains("line 5"), "{err}");
    let cfg = dir.path().join("iotw.toml");
    std::fs::write(&cfg, "[fireman]\nrules = [\"bad.yaml\"]\n").unwrap();
    let (ok, _, err) = iotw(&["config", "check", cfg.to_str().unwrap()]);
    assert!(!ok && err.contains("fireman.rules") && err.contains("bad.yaml"), "{err}");
}

/// A restart in the middle of the windows: the documents of a simulated site cut in two at a
/// moment when windows are open, the first part tested with `--state`, then the second part
/// with the same state file. The alerts of the two runs together must be exactly those of one
/// run over everything — no baseline lost, no alert sent twice — and without the state file
/// the second part must differ (so the test can fail).
#[test]
fn a_restart_mid_window_loses_no_baseline_and_repeats_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let (ok, plain, err) = iotw(&["capture", "-r", &pcap, "--output", "ndjson", "--no-progress", "--quiet"]);
    assert!(ok, "{err}");
    let mut lines: Vec<(String, &str)> = plain
        .lines()
        .map(|l| (serde_json::from_str::<Value>(l).unwrap()["@timestamp"].as_str().unwrap().to_string(), l))
        .collect();
    lines.sort();
    let cut = lines.len() / 2;
    let write = |name: &str, part: &[(String, &str)]| {
        let p = dir.path().join(name);
        std::fs::write(&p, part.iter().map(|(_, l)| format!("{l}\n")).collect::<String>()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (all, first, second) =
        (write("all.ndjson", &lines), write("a.ndjson", &lines[..cut]), write("b.ndjson", &lines[cut..]));
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    for (name, body) in [
        ("busy", "type: frequency\nnum_events: 4\ntimeframe: {minutes: 3}\nquery_key: genesys.this_dn\nfilter:\n- term: {genesys.message.name: EventEstablished}\n"),
        ("abandon-spike", "type: spike\ntimeframe: {minutes: 2}\nspike_height: 2\nspike_type: both\nfilter:\n- term: {genesys.message.name: EventAbandoned}\n"),
        ("quiet-dn", "type: flatline\nthreshold: 2\ntimeframe: {minutes: 1}\nquery_key: genesys.this_dn\nfilter:\n- exists: {field: genesys.this_dn}\n"),
        ("moved", "type: change\nquery_key: genesys.this_dn\ncompare_key: genesys.agent_id\nignore_null: true\n"),
        ("errors", "type: any\nrealert: {minutes: 5}\nfilter:\n- range: {sip.code: {gte: 400}}\n"),
    ] {
        std::fs::write(rules.join(format!("{name}.yaml")), format!("name: {name}\n{body}")).unwrap();
    }
    let test = |ndjson: &str, state: Option<&str>| -> Vec<String> {
        let mut args = vec!["fireman", "test", rules.to_str().unwrap(), "--ndjson", ndjson, "--output", "ndjson"];
        if let Some(s) = state {
            args.extend(["--state", s]);
        }
        let (ok, out, err) = iotw(&args);
        assert!(ok, "{err}");
        out.lines().map(str::to_string).collect()
    };
    let whole = test(&all, None);
    assert!(whole.len() > 10, "the rules fire on the simulated site: {}", whole.len());
    let state = dir.path().join("fireman.state");
    let mut resumed = test(&first, Some(state.to_str().unwrap()));
    assert!(state.exists());
    resumed.extend(test(&second, Some(state.to_str().unwrap())));
    assert_eq!(resumed, whole, "the two runs with memory equal one run");
    let mut forgetful = test(&first, None);
    forgetful.extend(test(&second, None));
    assert_ne!(forgetful, whole, "without memory the second part differs");
}
