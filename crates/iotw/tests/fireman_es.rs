//! `iotw fireman run` against a real OpenSearch-speaking server (osmem-server): a simulated
//! site is shipped into it by `iotw capture`, then the rules run against the index. They must
//! raise exactly what `iotw fireman test` raises over the same capture (one semantics), when
//! one instance stops half-way and another carries on from the memory it saved in the index,
//! and when two instances run at once (the lease lets only one of them alert).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

mod common;
use common::{iotw, Osmem};

/// (rule, @timestamp, key, state) of each alert document, sorted.
fn alerts(ndjson: &str) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = ndjson
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["event"]["kind"] == "alert")
        .map(|d| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (s(&d["rule"]["name"]), s(&d["@timestamp"]), s(&d["fireman"]["key"]), s(&d["fireman"]["state"]))
        })
        .collect();
    v.sort();
    v
}

fn run(args: &[&str]) -> Child {
    iotw().args(["fireman", "run"]).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn finish(c: Child) -> (String, String) {
    let out = c.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

fn rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("abandoned.yaml"),
        // An index of its own: read by a stage of its own, with its own position and memory.
        "name: abandoned\ntype: any\nindex: \"iotw-genesys-*\"\nrealert: {minutes: 0}\n\
         filter:\n- term: {genesys.message.name: EventAbandoned}\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("busy.yaml"),
        "name: busy\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 2}\nquery_key: genesys.this_dn\n\
         filter:\n- term: {genesys.message.name: EventEstablished}\n",
    )
    .unwrap();
    std::fs::write(
        rules.join("quiet.yaml"),
        "name: quiet\ntype: flatline\nthreshold: 3\ntimeframe: {minutes: 1}\nrealert: {minutes: 2}\n\
         filter:\n- term: {sip.method: INVITE}\n",
    )
    .unwrap();
    rules
}

#[test]
fn fireman_run_against_opensearch_raises_what_the_backtest_raises_once() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("site.pcapng");
    let out = iotw()
        .args(["simulate", "--duration", "15m", "--agents", "8", "--seed", "3", "--out"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    let rules = rules(dir.path());
    let r = rules.to_str().unwrap();

    // What should fire: the backtest over the capture.
    let out = iotw().args(["fireman", "test", r, "--output", "ndjson", "-r"]).arg(&pcap).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = alerts(&String::from_utf8(out.stdout).unwrap());
    for rule in ["abandoned", "busy", "quiet"] {
        assert!(expected.iter().any(|a| a.0 == rule), "{rule} fires on the site: {expected:?}");
    }

    // The site into the index.
    let os = Osmem::start("127.0.0.1:0");
    let cfg = dir.path().join("iotw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[output]\nkind = \"elasticsearch\"\ndata_dir = {:?}\n\n[elasticsearch]\nurls = [{:?}]\nflush_interval = \"100ms\"\n",
            dir.path().join("data"),
            os.url
        ),
    )
    .unwrap();
    // The index templates first (the cluster applies the count rules' filters, and a terms
    // aggregation needs keyword fields). osmem refuses the lifecycle policy, one step of
    // setup's, so its exit status is not looked at: the terms rule firing below shows the
    // templates took.
    iotw().args(["setup", "-c"]).arg(&cfg).output().unwrap();
    let out =
        iotw().args(["capture", "--no-progress", "--quiet", "-c"]).arg(&cfg).arg("-r").arg(&pcap).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs =
        iotw().args(["capture", "--output", "ndjson", "--no-progress", "--quiet", "-r"]).arg(&pcap).output().unwrap();
    let times: Vec<i64> = String::from_utf8(docs.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["@timestamp"].as_str().unwrap().to_string())
        .map(|t| nanos(&t))
        .collect();
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    let at = iotw_event::format_rfc3339_micros;
    let (from, mid, until) = (at(first), at(first + (last - first) / 2), at(last + 1_000_000_000));
    let common = ["--url", &os.url, "--run-every", "100ms", "--ndjson", "--lease", "3s"];

    // One instance reads to half-way and stops; another carries on from its saved memory.
    let (a, _) = finish(run(&[&[r, "--name", "a", "--from", &from, "--until", &mid][..], &common[..]].concat()));
    let (b, berr) = finish(run(&[&[r, "--name", "b", "--until", &until][..], &common[..]].concat()));
    // b took up where a stopped (a's last document, on the site's day), not from now.
    assert!(berr.contains(&format!("b holds the lease; reading from {}", &mid[..10])), "{berr}");
    let mut both = alerts(&a);
    both.extend(alerts(&b));
    both.sort();
    assert_eq!(both, expected, "a stop half-way loses nothing and repeats nothing");
    assert!(!alerts(&a).is_empty() && !alerts(&b).is_empty(), "both halves alert");
    // The rule with an index of its own kept its own position and memory.
    let saved = ureq::get(&format!("{}/iotw-fireman-state/_search?size=10", os.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let mut ids: Vec<String> = serde_json::from_str::<Value>(&saved).unwrap()["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().chars().take(6).collect())
        .collect();
    ids.sort();
    assert_eq!(ids, ["lease", "state", "state-"]);

    // Two instances at once, from the start, with a state index of their own: one alerts.
    let state = ["--state-index", "ha-state"];
    let c = run(&[&[r, "--name", "c", "--from", &from, "--until", &until][..], &common[..], &state[..]].concat());
    let d = run(&[&[r, "--name", "d", "--from", &from, "--until", &until][..], &common[..], &state[..]].concat());
    let ((c, cerr), (d, derr)) = (finish(c), finish(d));
    let mut pair = alerts(&c);
    pair.extend(alerts(&d));
    pair.sort();
    assert_eq!(pair, expected, "exactly one of the two alerted, once\n{cerr}\n{derr}");
    assert!(alerts(&c).is_empty() || alerts(&d).is_empty(), "only the lease holder alerts");

    // Past the last document: every round's end is read, so the clock moves on without
    // documents and the INVITE flatline fires on the quiet index (the backtest has no clock
    // past the last document, so these alerts are the only extra ones).
    let later = at(last + 300_000_000_000);
    let e = run(&[
        &[r, "--name", "e", "--from", &from, "--until", &later][..],
        &common[..],
        &["--state-index", "quiet"][..],
    ]
    .concat());
    let (e, _) = finish(e);
    let got = alerts(&e);
    let extra: Vec<_> = got.iter().filter(|x| !expected.contains(x)).collect();
    assert!(expected.iter().all(|x| got.contains(x)), "everything the backtest raised");
    assert!(!extra.is_empty(), "the flatline fires after the last document");
    for x in &extra {
        assert_eq!((x.0.as_str(), x.3.as_str()), ("quiet", "firing"), "{x:?}");
        assert!(nanos(&x.1) > last, "{x:?}");
    }

    // Rules fed counts (`_count`, a terms aggregation): counting carries on from where the
    // first instance stopped (on a run's end), so the two halves raise what one run raises.
    let counted = dir.path().join("counted");
    std::fs::create_dir_all(&counted).unwrap();
    std::fs::write(
        counted.join("established.yaml"),
        "name: established\ntype: frequency\nnum_events: 8\ntimeframe: {minutes: 1}\nrealert: {minutes: 0}\n\
         use_count_query: true\nfilter:\n- term: {genesys.message.name: EventEstablished}\n",
    )
    .unwrap();
    std::fs::write(
        counted.join("per_dn.yaml"),
        "name: per_dn\ntype: frequency\nnum_events: 3\ntimeframe: {minutes: 2}\nrealert: {minutes: 0}\n\
         query_key: genesys.this_dn\nuse_terms_query: true\n\
         filter:\n- term: {genesys.message.name: EventEstablished}\n",
    )
    .unwrap();
    let c = counted.to_str().unwrap();
    let secs = |n: i64| n * 1_000_000_000;
    let mid = at(first + secs((last - first) / secs(2)));
    let each = ["--url", &os.url, "--run-every", "1s", "--ndjson", "--lease", "5s"];
    let whole = |state: &str, name: &str, from: &str, until: &str| {
        alerts(
            &finish(run(&[
                &[c, "--name", name, "--state-index", state][..],
                &each[..],
                &["--from", from, "--until", until][..],
            ]
            .concat()))
            .0,
        )
    };
    let one = whole("counted-one", "one", &from, &until);
    let first_half = whole("counted-two", "two", &from, &mid);
    let second_half = alerts(
        &finish(run(
            &[&[c, "--name", "three", "--state-index", "counted-two", "--until", &until][..], &each[..]].concat()
        ))
        .0,
    );
    for rule in ["established", "per_dn"] {
        assert!(one.iter().any(|a| a.0 == rule), "{rule} fires on counts: {one:?}");
    }
    assert!(!first_half.is_empty() && !second_half.is_empty(), "both halves alert");
    let mut two = first_half;
    two.extend(second_half);
    two.sort();
    assert_eq!(two, one, "counting stopped half-way loses nothing and repeats nothing");
}

fn nanos(t: &str) -> i64 {
    iotw_event::parse_time(t, 0).unwrap()
}

/// A document indexed after the point already read (older `@timestamp` than what was read) is
/// seen with `--buffer-time`, once however often its window is read again; without it, it is
/// not. Two instances run side by side in real time, each with its own state.
#[test]
fn buffer_time_reads_late_documents_once() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("marked.yaml"),
        "name: marked\ntype: any\nrealert: {minutes: 0}\nfilter:\n- term: {labels.test: marked}\n",
    )
    .unwrap();
    let r = rules.to_str().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let s = |n: i64| n * 1_000_000_000;
    let now = iotw_event::wall_clock();
    let at = iotw_event::format_rfc3339_micros;
    let doc = |id: &str, ts: i64| {
        let body = serde_json::json!({"@timestamp": at(ts), "labels": {"test": "marked"}, "message": id});
        os.put(&format!("/iotw-test/_doc/{id}?refresh=true"), &body);
    };
    let (from, until) = (at(now - s(1)), at(now + s(5)));
    let each = |name: &str, more: &[&str]| {
        let args = [&[r, "--url", &os.url, "--name", name, "--state-index", name][..], more].concat();
        run(&[&args[..], &["--from", &from, "--until", &until, "--run-every", "300ms", "--ndjson"][..]].concat())
    };
    let buffered = each("buffered", &["--buffer-time", "10s"]);
    let plain = each("plain", &[]);
    // On time, then (once both have read past it) one from before it.
    doc("on-time", now);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    doc("late", now - s(1) / 2);
    let times = |out: &str| alerts(out).into_iter().map(|a| nanos(&a.1)).collect::<Vec<_>>();
    let (b, _) = finish(buffered);
    let (p, _) = finish(plain);
    let ms = |t: i64| t - t.rem_euclid(1_000_000);
    assert_eq!(times(&b).into_iter().map(ms).collect::<Vec<_>>(), vec![ms(now - s(1) / 2), ms(now)], "{b}");
    assert_eq!(times(&p).into_iter().map(ms).collect::<Vec<_>>(), vec![ms(now)], "{p}");
}
