//! Fireman's alerters end to end: `iotw capture` over a simulated site with rules whose
//! alerts go to webhooks (a real HTTP listener on loopback, here), Slack and Teams webhooks, a
//! command, and e-mail through a real SMTP server (aiosmtpd, `scripts/smtp-peer.py`, with
//! STARTTLS and AUTH). What each receives is checked against the alert documents of the same
//! run; retries, refusals and a wrong password are counted in the run's summary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

mod common;
use common::{iotw_run as iotw, simulate};

/// The alert documents of a capture run's output, per rule, in order.
fn alert_docs(ndjson: &str, rule: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|d| d["event"]["kind"] == "alert" && d["rule"]["name"] == rule)
        .collect()
}

#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// An HTTP/1.1 listener on loopback that records every request and answers each path with
/// the statuses scripted for it (then 200).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(script: Vec<(&str, Vec<u16>)>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script: Vec<(String, VecDeque<u16>)> = script.into_iter().map(|(p, s)| (p.to_string(), s.into())).collect();
        let script = Arc::new(Mutex::new(script));
        let g = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                let len: usize =
                    headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let status = script
                    .lock()
                    .unwrap()
                    .iter_mut()
                    .find(|(p, _)| *p == path)
                    .and_then(|(_, s)| s.pop_front())
                    .unwrap_or(200);
                g.lock().unwrap().push(Request { path, headers, body: serde_json::from_slice(&body).unwrap() });
                let _ = write!(conn, "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            }
        });
        Receiver { port, got }
    }

    fn at(&self, path: &str) -> Vec<Request> {
        self.got.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }
}

fn capture(dir: &Path, pcap: &str) -> (String, String) {
    let cfg = dir.join("iotw.toml");
    std::fs::write(&cfg, "[fireman]\nrules = [\"rules\"]\n").unwrap();
    let (ok, out, err) =
        iotw(&["capture", "-c", cfg.to_str().unwrap(), "-r", pcap, "--output", "ndjson", "--no-progress"]);
    assert!(ok, "{err}");
    (out, err)
}

fn rules_dir(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    rules
}

const ABANDONED: &str = "type: any\nfilter:\n- term: {genesys.message.name: EventAbandoned}\n\
     alert_subject: \"Abandoned on {0}\"\nalert_subject_args: [genesys.this_dn]\n";

#[test]
fn alerts_reach_a_webhook_slack_teams_and_a_command_as_the_documents_say() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let rx = Receiver::start(vec![]);
    let piped = dir.path().join("piped.ndjson");
    let u = format!("http://127.0.0.1:{}", rx.port);
    std::fs::write(
        rules_dir(dir.path()).join("abandoned.yaml"),
        format!(
            "name: abandoned\nrealert: {{minutes: 0}}\n{ABANDONED}\
             alert: [post, slack, ms_teams, command]\n\
             http_post_url: {u}/hook\nhttp_post_headers: {{X-Token: s3cret}}\n\
             http_post_static_payload: {{site: lab}}\nhttp_post_payload: {{rule: rule.name, subject: event.reason}}\n\
             slack_webhook_url: {u}/slack\nslack_username_override: iotw\nslack_channel_override: \"#ops\"\n\
             ms_teams_webhook_url: {u}/teams\nms_teams_theme_color: \"#ff0000\"\n\
             command: [sh, -c, \"cat >> '{}'\"]\npipe_match_json: true\n",
            piped.display()
        ),
    )
    .unwrap();
    let (out, err) = capture(dir.path(), &pcap);
    let alerts = alert_docs(&out, "abandoned");
    let n = alerts.len();
    assert!(n >= 5, "the simulated site abandons calls: {n}");
    assert!(
        err.contains(&format!(
            "alerts delivered: {} (command {n}, ms_teams {n}, post {n}, slack {n}); failed 0",
            4 * n
        )),
        "{err}"
    );

    let hooks = rx.at("/hook");
    assert_eq!(hooks.len(), n);
    for (h, a) in hooks.iter().zip(&alerts) {
        assert_eq!(h.body, serde_json::json!({"site": "lab", "rule": "abandoned", "subject": a["event"]["reason"]}));
        assert!(h.headers.contains(&("x-token".into(), "s3cret".into())), "{:?}", h.headers);
        assert!(h.headers.contains(&("content-type".into(), "application/json".into())));
    }
    let slack = rx.at("/slack");
    assert_eq!(slack.len(), n);
    for (s, a) in slack.iter().zip(&alerts) {
        let att = &s.body["attachments"][0];
        assert_eq!((att["title"].clone(), att["color"].as_str()), (a["event"]["reason"].clone(), Some("danger")));
        assert!(att["text"].as_str().unwrap().starts_with(a["message"].as_str().unwrap()));
        assert_eq!((s.body["username"].as_str(), s.body["channel"].as_str()), (Some("iotw"), Some("#ops")));
    }
    let teams = rx.at("/teams");
    assert_eq!(teams.len(), n);
    for (t, a) in teams.iter().zip(&alerts) {
        assert_eq!(t.body["@type"], "MessageCard");
        assert_eq!(
            (t.body["title"].clone(), t.body["themeColor"].as_str()),
            (a["event"]["reason"].clone(), Some("#ff0000"))
        );
    }
    // The command got each alert document on its standard input.
    let lines: Vec<Value> =
        std::fs::read_to_string(&piped).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, alerts);
}

#[test]
fn a_refused_webhook_is_retried_a_missing_one_is_not_and_both_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let rx = Receiver::start(vec![("/flaky", vec![503, 429]), ("/gone", vec![404, 404, 404])]);
    let u = format!("http://127.0.0.1:{}", rx.port);
    let rules = rules_dir(dir.path());
    // A day of realert: one alert each.
    for (name, path) in [("flaky", "/flaky"), ("gone", "/gone")] {
        std::fs::write(
            rules.join(format!("{name}.yaml")),
            format!("name: {name}\nrealert: {{days: 1}}\n{ABANDONED}alert: post\nhttp_post_url: {u}{path}\n"),
        )
        .unwrap();
    }
    let (out, err) = capture(dir.path(), &pcap);
    assert_eq!((alert_docs(&out, "flaky").len(), alert_docs(&out, "gone").len()), (1, 1));
    // Two refusals then the delivery; the 404 is final.
    assert_eq!((rx.at("/flaky").len(), rx.at("/gone").len()), (3, 1));
    assert!(err.contains("alerts delivered: 1 (post 1); failed 1 (post 1); retries 2; dropped 0"), "{err}");
    assert!(err.contains("/gone: HTTP 404"), "{err}");
    // The whole alert document is posted when no payload is named.
    let body = &rx.at("/flaky")[2].body;
    assert_eq!(body, &alert_docs(&out, "flaky")[0]);
}

/// A certificate authority and a server certificate it signed for 127.0.0.1: (CA, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let ok = Command::new("openssl").args(args).stderr(Stdio::null()).status().unwrap();
        assert!(ok.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=iotw test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("req.csr"),
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        &p("req.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("cert.pem"),
    ]);
    (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
fn email_goes_through_a_real_smtp_server_with_starttls_and_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let (ca, cert, key) = certificates(dir.path());
    let mail = dir.path().join("mail");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-peer.py");
    let mut peer = Command::new("python3")
        .arg(&script)
        .arg(&mail)
        .args(["--tls", cert.to_str().unwrap(), key.to_str().unwrap(), "--user", "alerts", "--password", "pa55"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd (scripts/install-test-peers.sh installs it)");
    let mut ready = String::new();
    BufReader::new(peer.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let port: u16 =
        ready.strip_prefix("ready ").unwrap_or_else(|| panic!("smtp peer: {ready:?}")).trim().parse().unwrap();

    let rules = rules_dir(dir.path());
    std::fs::write(dir.path().join("rules/auth.yaml.txt"), "user: alerts\npassword: pa55\n").unwrap();
    std::fs::write(dir.path().join("rules/wrong.txt"), "user: alerts\npassword: nope\n").unwrap();
    for (name, auth) in [("mail", "auth.yaml.txt"), ("mail-wrong", "wrong.txt")] {
        std::fs::write(
            rules.join(format!("{name}.yaml")),
            format!(
                "name: {name}\nrealert: {{days: 1}}\n{ABANDONED}alert: email\nemail: [ops@example.com]\n\
                 cc: lead@example.com\nfrom_addr: iotw@example.com\nsmtp_host: 127.0.0.1\nsmtp_port: {port}\n\
                 smtp_auth_file: {auth}\nsmtp_ca_certs: {}\n",
                ca.display()
            ),
        )
        .unwrap();
    }
    let (out, err) = capture(dir.path(), &pcap);
    drop(peer.stdin.take());
    let _ = peer.wait();
    assert!(err.contains("alerts delivered: 1 (email 1); failed 1 (email 1)"), "{err}");
    let alert = &alert_docs(&out, "mail")[0];
    let envelope: Value = serde_json::from_str(&std::fs::read_to_string(mail.join("1.json")).unwrap()).unwrap();
    assert_eq!(
        envelope,
        serde_json::json!({"mail_from": "iotw@example.com", "rcpt_tos": ["ops@example.com", "lead@example.com"],
                           "tls": true, "login": "alerts"})
    );
    let eml = std::fs::read_to_string(mail.join("1.eml")).unwrap();
    assert!(eml.contains(&format!("Subject: {}", alert["event"]["reason"].as_str().unwrap())), "{eml}");
    assert!(eml.contains("To: ops@example.com") && eml.contains("Cc: lead@example.com"), "{eml}");
    assert!(eml.contains("rule: mail\r\nstate: firing"), "{eml}");
    assert!(!mail.join("2.eml").exists(), "the wrong password delivered nothing");
}

#[test]
fn alerter_mistakes_are_named_by_rule_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        ("alert: pager\n", "unknown alerter \"pager\""),
        ("alert: slack\n", "slack_webhook_url: required"),
        ("alert: post\nhttp_post_url: ftp://x\n", "http_post_url: \"ftp://x\" is not an http"),
        ("alert: email\n", "email: required"),
        ("alert: email\nemail: a@b\nsmtp_auth_file: missing.yaml\n", "missing.yaml"),
        ("alert: command\ncommand: []\n", "command: required"),
        ("alert: post\nhttp_post_urls: http://x\n", "http_post_urls"),
    ];
    for (i, (yaml, want)) in bad.iter().enumerate() {
        let f = dir.path().join(format!("r{i}.yaml"));
        std::fs::write(&f, format!("name: r{i}\ntype: any\n{yaml}")).unwrap();
        let (ok, _, err) = iotw(&["fireman", "check", f.to_str().unwrap()]);
        assert!(!ok, "{yaml}");
        assert!(err.contains(&format!("r{i}.yaml")) && err.contains(want), "{yaml}: {err}");
    }
}

/// Greedy periods as aggregation makes them: a group starts at an alert and takes the alerts
/// before `end` of its start; the sizes of the groups, in the order they end.
fn groups(times: &[i64], end: impl Fn(i64) -> i64) -> Vec<usize> {
    let mut out = Vec::new();
    let mut start: Option<(i64, usize)> = None;
    for &t in times {
        match start {
            Some((s, n)) if t < end(s) => start = Some((s, n + 1)),
            Some((_, n)) => {
                out.push(n);
                start = Some((t, 1));
            }
            None => start = Some((t, 1)),
        }
    }
    out.extend(start.map(|(_, n)| n));
    out
}

fn nanos(ts: &str) -> i64 {
    iotw_event::parse_time(ts, 0).unwrap()
}

#[test]
fn aggregation_sends_one_summary_per_period_and_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = simulate(dir.path());
    let rx = Receiver::start(vec![]);
    let u = format!("http://127.0.0.1:{}", rx.port);
    let rules = rules_dir(dir.path());
    let texts = dir.path().join("summaries.txt");
    std::fs::write(
        rules.join("all.yaml"),
        format!(
            "name: all\nrealert: {{minutes: 0}}\n{ABANDONED}aggregation: {{minutes: 3}}\n\
             summary_table_fields: [genesys.this_dn]\nalert: post\nhttp_post_url: {u}/all\n"
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("per-dn.yaml"),
        format!(
            "name: per-dn\nrealert: {{minutes: 0}}\n{ABANDONED}aggregation: {{minutes: 3}}\n\
             aggregation_key: genesys.this_dn\nalert_text_type: aggregation_summary_only\n\
             summary_table_fields: [genesys.this_dn]\nalert: [post, command]\nhttp_post_url: {u}/per-dn\n\
             command: [sh, -c, \"cat >> '{}'; echo '<end>' >> '{}'\"]\npipe_alert_text: true\n",
            texts.display(),
            texts.display()
        ),
    )
    .unwrap();
    std::fs::write(
        rules.join("sched.yaml"),
        format!(
            "name: sched\nrealert: {{minutes: 0}}\n{ABANDONED}aggregation: {{schedule: '*/5 * * * *'}}\n\
             alert: post\nhttp_post_url: {u}/sched\n"
        ),
    )
    .unwrap();
    let (out, err) = capture(dir.path(), &pcap);
    let alerts = alert_docs(&out, "all");
    assert!(alerts.len() >= 5, "{err}");
    let times: Vec<i64> = alerts.iter().map(|a| nanos(a["@timestamp"].as_str().unwrap())).collect();
    let period = 180 * 1_000_000_000;
    // One post per period, carrying how many alerts it sums up.
    let posted: Vec<u64> = rx.at("/all").iter().map(|r| r.body["fireman"]["aggregated"].as_u64().unwrap()).collect();
    assert_eq!(posted, groups(&times, |s| s + period).iter().map(|&n| n as u64).collect::<Vec<_>>());
    assert!(posted.len() < alerts.len(), "aggregation groups alerts: {posted:?}");
    // On a schedule: a group goes at the first whole five minutes after its first alert.
    let five = 300 * 1_000_000_000;
    let sched: Vec<u64> = rx.at("/sched").iter().map(|r| r.body["fireman"]["aggregated"].as_u64().unwrap()).collect();
    let want_sched: Vec<u64> = groups(&times, |s| (s.div_euclid(five) + 1) * five).iter().map(|&n| n as u64).collect();
    assert_eq!(sched, want_sched);
    assert_ne!(want_sched, groups(&times, |s| s + five).iter().map(|&n| n as u64).collect::<Vec<_>>());
    // Per DN: the same, each DN's alerts on their own.
    let mut by_dn: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for (a, t) in alert_docs(&out, "per-dn").iter().zip(&times) {
        let dn = a["event"]["reason"].as_str().unwrap().trim_start_matches("Abandoned on ").to_string();
        by_dn.entry(dn).or_default().push(*t);
    }
    let mut want: Vec<(String, u64)> = Vec::new();
    for (dn, ts) in &by_dn {
        want.extend(groups(ts, |s| s + period).into_iter().map(|n| (dn.clone(), n as u64)));
    }
    let mut got: Vec<(String, u64)> = rx
        .at("/per-dn")
        .iter()
        .map(|r| {
            let reason = r.body["event"]["reason"].as_str().unwrap();
            (reason.trim_start_matches("Abandoned on ").to_string(), r.body["fireman"]["aggregated"].as_u64().unwrap())
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // Each summary's text is its table (summary only): one row, the DN and its count.
    let mut rows: Vec<(String, u64)> = std::fs::read_to_string(&texts)
        .unwrap()
        .split("<end>")
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            assert!(t.contains("| genesys.this_dn | count |"), "{t}");
            assert!(!t.contains("A document matched"), "summary only: {t}");
            let mut lines = t.lines().skip_while(|l| !l.starts_with("| genesys.this_dn"));
            let row = lines.nth(1).unwrap_or_else(|| panic!("{t}"));
            let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
            (cells[0].to_string(), cells[1].parse().unwrap())
        })
        .collect();
    rows.sort();
    assert_eq!(rows, want);
}
