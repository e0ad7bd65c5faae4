//! Shipping to a real OpenSearch-speaking server (osmem-server, installed by
//! `scripts/install-test-peers.sh`): every document arrives once, through an outage, a killed
//! agent, refused documents and 429 answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{iotw, Osmem};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures").join(name)
}

/// A simulated site's capture (SIP and Genesys T-Library, a few thousand documents).
fn site(dir: &Path, minutes: u32) -> PathBuf {
    let p = dir.join("site.pcapng");
    let out = iotw()
        .args(["simulate", "-w"])
        .arg(&p)
        .args(["--agents", "10", "--calls-per-hour", "600", "--duration", &format!("{minutes}m"), "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    p
}

/// What `--output ndjson` makes of a capture: documents by kind.
fn expected(capture: &Path) -> BTreeMap<String, u64> {
    let out =
        iotw().args(["capture", "--output", "ndjson", "--no-progress", "--quiet", "-r"]).arg(capture).output().unwrap();
    assert!(out.status.success());
    let mut kinds = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        *kinds.entry(v["event"]["dataset"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    kinds
}

fn config(dir: &Path, urls: &[&str], extra: &str) -> PathBuf {
    let urls: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    let text = format!(
        "[output]\nkind = \"elasticsearch\"\ndata_dir = {:?}\n\n[elasticsearch]\nurls = [{}]\n\
         retry_initial = \"100ms\"\nretry_max = \"1s\"\nflush_interval = \"100ms\"\ntimeout = \"20s\"\n{extra}",
        dir.join("data"),
        urls.join(", ")
    );
    let p = dir.join("iotw.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn capture(cfg: &Path, input: &Path) -> (bool, String) {
    let out = iotw().args(["capture", "--no-progress", "-c"]).arg(cfg).arg("-r").arg(input).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr)
}

/// A number from the summary's elasticsearch line: `stored 12`, `12 requests`...
fn summary_count(stderr: &str, before: &str, after: &str) -> u64 {
    let line = stderr.lines().find(|l| l.trim_start().starts_with("elasticsearch")).expect("an elasticsearch line");
    let words: Vec<&str> = line.split([' ', ',', '(', ')']).filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        if !before.is_empty() && *w == before && words.get(i + 1).is_some_and(|n| n.parse::<u64>().is_ok()) {
            return words[i + 1].parse().unwrap();
        }
        if !after.is_empty() && words.get(i + 1) == Some(&after) {
            if let Ok(n) = w.parse() {
                return n;
            }
        }
    }
    panic!("no {before}{after} in {line}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn every_document_arrives_once_by_kind_and_a_second_run_stores_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let input = site(dir.path(), 10);
    let want = expected(&input);
    let cfg = config(dir.path(), &[&os.url], "");
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    let (got, distinct) = os.by_kind();
    assert_eq!(got, want, "{stderr}");
    assert!(distinct);
    let total: u64 = want.values().sum();
    assert_eq!(summary_count(&stderr, "stored", ""), total);
    // The same capture again: every document is already there.
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    assert_eq!(os.by_kind().0, want);
    assert_eq!(summary_count(&stderr, "stored", "").min(1), 0, "{stderr}");
}

#[test]
fn a_server_that_starts_thirty_seconds_late_gets_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let input = site(dir.path(), 5);
    let want = expected(&input);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let cfg = config(dir.path(), &[&url], "");
    let agent = iotw()
        .args(["capture", "--no-progress", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(&input)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(30));
    let os = Osmem::start(&format!("127.0.0.1:{port}"));
    let out = agent.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("documents wait in the spool"), "{stderr}");
    let (got, distinct) = os.by_kind();
    assert_eq!(got, want, "{stderr}");
    assert!(distinct);
    assert!(summary_count(&stderr, "", "failed") > 0, "the outage shows in the counters: {stderr}");
}

/// Starts an agent, waits until `ready` says so from its stderr and some documents arrived
/// (but not all), and kills it (SIGKILL: no flushing, no goodbye). Returns how many arrived.
fn kill_while_delivering(cfg: &Path, input: &Path, os: &Osmem, total: u64, after_capture: bool) -> u64 {
    let mut agent = iotw()
        .args(["capture", "--no-progress", "-c"])
        .arg(cfg)
        .arg("-r")
        .arg(input)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = agent.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("capture done") {
                let _ = tx.send(());
            }
        }
    });
    let started = Instant::now();
    if after_capture {
        rx.recv_timeout(Duration::from_secs(60)).expect("the capture ends and delivery goes on");
    }
    while os.count("iotw-*") == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    agent.kill().unwrap();
    agent.wait().unwrap();
    let arrived = os.count("iotw-*");
    assert!(arrived < total, "killed after everything arrived ({arrived}): the test proves nothing");
    arrived
}

#[test]
fn documents_the_spool_took_are_delivered_after_the_agent_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let input = site(dir.path(), 30);
    let want = expected(&input);
    let total: u64 = want.values().sum();
    let cfg = config(dir.path(), &[&os.url], "max_documents = 200\nconcurrency = 1\n");
    kill_while_delivering(&cfg, &input, &os, total, true);
    // Restarted with nothing new to capture: the spool alone delivers the rest.
    let (ok, stderr) = capture(&cfg, &testdata("empty.pcap"));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("from an earlier run"), "{stderr}");
    let (got, distinct) = os.by_kind();
    assert_eq!(got, want, "{stderr}");
    assert!(distinct);
}

#[test]
fn an_agent_killed_while_delivering_and_run_again_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let input = site(dir.path(), 30);
    let want = expected(&input);
    let total: u64 = want.values().sum();
    let cfg = config(dir.path(), &[&os.url], "max_documents = 200\nconcurrency = 1\n");
    kill_while_delivering(&cfg, &input, &os, total, false);
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    let (got, distinct) = os.by_kind();
    assert_eq!(got, want, "{stderr}");
    assert!(distinct);
    let es_line = stderr.lines().find(|l| l.trim_start().starts_with("elasticsearch")).unwrap();
    let already: u64 = es_line
        .split("already stored ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(already > 0, "documents stored before the kill are recognised, not copied: {stderr}");
}

#[test]
fn a_document_the_mapping_refuses_is_dead_lettered_and_the_rest_of_its_batch_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    // flow.id is text in every flow document: a long cannot hold it.
    os.put(
        "/_index_template/conflict",
        &serde_json::json!({"index_patterns": ["iotw-flow-*"],
            "template": {"mappings": {"properties": {"flow": {"properties": {"id": {"type": "long"}}}}}}}),
    );
    let input = site(dir.path(), 5);
    let mut want = expected(&input);
    let flows = want.remove("flow").unwrap();
    let cfg = config(dir.path(), &[&os.url], "max_documents = 100000\n");
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    assert_eq!(os.by_kind().0, want, "every other document is indexed: {stderr}");
    assert_eq!(summary_count(&stderr, "dead-lettered", ""), flows);
    let dead = std::fs::read_to_string(dir.path().join("data/dead-letter.ndjson")).unwrap();
    let lines: Vec<Value> = dead.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, flows);
    for l in &lines {
        assert_eq!(l["status"], 400);
        assert!(l["error"]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{l}");
        assert_eq!(l["document"]["event"]["dataset"], "flow");
        assert!(l["_id"].as_str().is_some_and(|i| !i.is_empty()));
    }
}

/// What went through a [`refusing_proxy`].
#[derive(Default)]
struct Proxied {
    bulk_requests: AtomicUsize,
    /// The Authorization and X-Amz-Date headers of each request.
    signatures: std::sync::Mutex<Vec<(String, String)>>,
}

/// An HTTP proxy in front of osmem that answers 429 to the first `refuse` bulk requests.
fn refusing_proxy(upstream: &str, refuse: usize) -> (String, Arc<Proxied>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let seen = Arc::new(Proxied::default());
    let r = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let (upstream, r) = (upstream.clone(), r.clone());
            std::thread::spawn(move || {
                // One request per connection: the answer says Connection: close.
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut head = Vec::new();
                let mut length = 0usize;
                let (mut auth, mut date) = (String::new(), String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        match k.to_ascii_lowercase().as_str() {
                            "authorization" => auth = v.trim().to_owned(),
                            "x-amz-date" => date = v.trim().to_owned(),
                            _ => {}
                        }
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if !line.to_ascii_lowercase().starts_with("connection:") {
                        head.extend_from_slice(line.as_bytes());
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                r.signatures.lock().unwrap().push((auth, date));
                let bulk = head.starts_with(b"POST /_bulk");
                if bulk && r.bulk_requests.fetch_add(1, Ordering::SeqCst) < refuse {
                    let msg = b"{\"error\":{\"type\":\"es_rejected_execution_exception\"},\"status\":429}";
                    let _ = write!(client, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", msg.len());
                    let _ = client.write_all(msg);
                    return;
                }
                let mut up = TcpStream::connect(&upstream).unwrap();
                up.write_all(&head).unwrap();
                up.write_all(b"Connection: close\r\n\r\n").unwrap();
                up.write_all(&body).unwrap();
                let mut answer = Vec::new();
                up.read_to_end(&mut answer).unwrap();
                let _ = client.write_all(&answer);
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn bulk_requests_answered_429_are_sent_again_until_everything_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let (proxy, seen) = refusing_proxy(&os.url, 6);
    let input = site(dir.path(), 5);
    let want = expected(&input);
    let cfg = config(dir.path(), &[&proxy], "max_documents = 300\n");
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    let (got, distinct) = os.by_kind();
    assert_eq!(got, want, "{stderr}");
    assert!(distinct);
    assert!(seen.bulk_requests.load(Ordering::SeqCst) > 6);
    assert!(summary_count(&stderr, "", "failed") >= 6, "{stderr}");
    assert!(summary_count(&stderr, "", "backoffs") >= 6, "{stderr}");
    assert!(summary_count(&stderr, "retried", "") > 0, "{stderr}");
}

#[test]
fn several_endpoints_are_used_when_one_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let input = site(dir.path(), 5);
    let want = expected(&input);
    let cfg = config(dir.path(), &[&dead, &os.url], "max_documents = 300\n");
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    assert_eq!(os.by_kind().0, want, "{stderr}");
}

#[test]
fn a_sigv4_configured_run_signs_every_request_and_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    // osmem checks no signature: the proxy sees that every request carries one.
    let (proxy, seen) = refusing_proxy(&os.url, 0);
    let input = site(dir.path(), 5);
    let want = expected(&input);
    let cfg = config(dir.path(), &[&proxy], "aws_region = \"eu-west-2\"\naws_service = \"es\"\n");
    let out = iotw()
        .args(["capture", "--no-progress", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(&input)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(os.by_kind().0, want, "{stderr}");
    let sigs = seen.signatures.lock().unwrap();
    assert!(sigs.len() > 1);
    for (auth, date) in sigs.iter() {
        let day = date.get(..8).unwrap_or_default();
        let prefix = format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{day}/eu-west-2/es/aws4_request, SignedHeaders=");
        assert!(auth.starts_with(&prefix), "{auth}");
        assert!(auth.contains("Signature=") && date.len() == 16, "{auth} {date}");
        assert!(!stderr.contains("wJalrXUtnFEMI"), "the secret never reaches the output");
    }
}

#[test]
fn setup_installs_templates_with_the_documented_types_and_reports_what_was_refused() {
    let dir = tempfile::tempdir().unwrap();
    let os = Osmem::start("127.0.0.1:0");
    let cfg = config(dir.path(), &[&os.url], "");
    let out = iotw().args(["setup", "--retention-days", "14", "-c"]).arg(&cfg).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // osmem has no ISM: the refusal is named, the templates are installed anyway.
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("REFUSED  ISM policy iotw"), "{stdout}");
    assert_eq!(stdout.matches("ok       index template iotw-").count(), 13, "{stdout}");
    assert!(stderr.contains("refused 1 of 14"), "{stderr}");
    let input = site(dir.path(), 5);
    let want = expected(&input);
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    assert_eq!(os.by_kind().0, want, "every document fits the explicit mappings: {stderr}");
    assert_eq!(summary_count(&stderr, "dead-lettered", ""), 0, "{stderr}");
    let m = os.get("/iotw-sip-*/_mapping");
    let (_, index) = m.as_object().unwrap().iter().next().unwrap();
    let p = &index["mappings"]["properties"];
    assert_eq!(p["@timestamp"]["type"], "date");
    assert_eq!(p["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(p["sip"]["properties"]["code"]["type"], "long");
    assert_eq!(p["sip"]["properties"]["from"]["properties"]["uri"]["properties"]["port"]["type"], "long");
    assert_eq!(p["event"]["properties"]["duration"]["type"], "long");
    let g = os.get("/iotw-genesys-*/_mapping");
    let (_, index) = g.as_object().unwrap().iter().next().unwrap();
    assert_eq!(index["mappings"]["properties"]["genesys"]["properties"]["server_time"]["type"], "date");
}
