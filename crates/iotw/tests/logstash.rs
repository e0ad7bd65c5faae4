//! The Logstash output (Beats protocol) against the test receiver
//! (`scripts/lumberjack-receiver.py`, itself checked against the third-party sender
//! pylogbeat by `scripts/check-lumberjack-receiver.py`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn iotw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iotw"))
}

/// The test receiver, stopped when dropped.
struct Receiver {
    child: Child,
    port: u16,
}

impl Receiver {
    fn start(out: &Path, port: u16) -> Receiver {
        Receiver::start_with(out, port, &[], Stdio::inherit())
    }

    fn start_with(out: &Path, port: u16, args: &[PathBuf], stderr: Stdio) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lumberjack-receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--out")
            .arg(out)
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("python3 runs the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let hello: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("receiver said {line:?}: {e}"));
        Receiver { child, port: hello["port"].as_u64().unwrap() as u16 }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A simulated site: 131,623 documents for one hour with 200 agents.
fn big_site(dir: &Path) -> PathBuf {
    let p = dir.join("site.pcapng");
    let out = iotw()
        .args(["simulate", "-w"])
        .arg(&p)
        .args(["--agents", "200", "--calls-per-hour", "3600", "--duration", "1h", "--seed", "11"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    p
}

/// `iotw capture -c CFG -r INPUT`: whether it succeeded, and its stderr.
fn capture(cfg: &Path, input: &Path) -> (bool, String) {
    let out = iotw().args(["capture", "--no-progress", "-c"]).arg(cfg).arg("-r").arg(input).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn expected_ids(capture: &Path) -> HashSet<String> {
    let out = iotw()
        .args(["capture", "--output", "ndjson", "--bulk", "--no-progress", "--quiet", "-r"])
        .arg(capture)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"create\""))
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["create"]["_id"].as_str().unwrap().to_owned())
        .collect()
}

fn received(out: &Path) -> (usize, HashSet<String>) {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    let mut ids = HashSet::new();
    let mut n = 0;
    // Only whole lines: the receiver may be writing the last one.
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let v: Value = serde_json::from_str(line).unwrap();
        ids.insert(v["@metadata"]["_id"].as_str().unwrap().to_owned());
        n += 1;
    }
    (n, ids)
}

fn config(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let text = format!(
        "[output]\nkind = \"logstash\"\ndata_dir = {:?}\n\n[logstash]\nhosts = [\"127.0.0.1:{port}\"]\n{extra}\n\
         [elasticsearch]\nretry_initial = \"100ms\"\nretry_max = \"1s\"\n",
        dir.join("data")
    );
    let p = dir.join("iotw.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_hundred_thousand_documents_through_beats_are_all_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.ndjson");
    let rx = Receiver::start(&out, 0);
    let input = big_site(dir.path());
    let want = expected_ids(&input);
    assert!(want.len() >= 100_000, "{}", want.len());
    let cfg = config(dir.path(), rx.port, "");
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    let (n, ids) = received(&out);
    assert_eq!(ids, want, "{stderr}");
    assert_eq!(n, want.len(), "each once when nothing failed");
    assert!(stderr.contains(&format!("acknowledged {}", want.len())), "{stderr}");
}

#[test]
fn a_receiver_restarted_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.ndjson");
    let first = Receiver::start(&out, 0);
    let port = first.port;
    let input = big_site(dir.path());
    let want = expected_ids(&input);
    let cfg = config(dir.path(), port, "window = 500\n");
    let agent = iotw()
        .args(["capture", "--no-progress", "-c"])
        .arg(&cfg)
        .arg("-r")
        .arg(&input)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while received(&out).0 < 5_000 {
        assert!(started.elapsed() < Duration::from_secs(120), "nothing arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(first); // killed in the middle of the stream
    let before = received(&out).0;
    assert!(before < want.len(), "the receiver went down after everything arrived");
    std::thread::sleep(Duration::from_millis(1500));
    let _second = Receiver::start(&out, port);
    let run = agent.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let (_, ids) = received(&out);
    assert_eq!(ids.len(), want.len(), "{stderr}");
    assert_eq!(ids, want);
    assert!(stderr.contains("failed") && !stderr.contains(", 0 failed"), "the outage shows: {stderr}");
}

#[test]
fn json_lines_output_writes_every_document_as_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("site.pcapng");
    let sim = iotw()
        .args(["simulate", "-w"])
        .arg(&input)
        .args(["--agents", "10", "--calls-per-hour", "600", "--duration", "10m", "--seed", "3"])
        .output()
        .unwrap();
    assert!(sim.status.success());
    let want = expected_ids(&input);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let l2 = lines.clone();
    std::thread::spawn(move || {
        for c in listener.incoming().flatten() {
            let l3 = l2.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(c).lines().map_while(Result::ok) {
                    l3.lock().unwrap().push(line);
                }
            });
        }
    });
    let cfg = config(dir.path(), port, "protocol = \"json_lines\"\n");
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&format!("logstash json_lines: accepted {n}, written {n}", n = want.len())), "{stderr}");
    let started = Instant::now();
    while lines.lock().unwrap().len() < want.len() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got: HashSet<String> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["@metadata"]["_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want);
}

/// Runs openssl (installed by scripts/install-test-peers.sh).
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A test CA, a server certificate for `localhost` and 127.0.0.1, and a client certificate,
/// all signed by the CA: `ca.pem`, `server.{pem,key}`, `client.{pem,key}` in `dir`.
fn certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=iotw-test-ca"],
        ]
        .concat(),
    );
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, cn) in [("server", "localhost"), ("client", "iotw-agent")] {
        let (key, csr, pem, ext) =
            (format!("{who}.key"), format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
        let subj = format!("/CN={cn}");
        openssl(dir, &[&["req"][..], &ec, &["-keyout", &key, "-out", &csr, "-subj", &subj]].concat());
        openssl(
            dir,
            &["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
                .into_iter()
                .chain(["-out", &pem, "-days", "2", "-extfile", &ext])
                .collect::<Vec<_>>(),
        );
    }
}

/// The receiver's TLS arguments for the certificates of [`certificates`].
fn receiver_tls(d: &Path, require_client: bool) -> Vec<PathBuf> {
    let mut args = vec!["--tls-cert".into(), d.join("server.pem"), "--tls-key".into(), d.join("server.key")];
    if require_client {
        args.extend(["--tls-client-ca".into(), d.join("ca.pem")]);
    }
    args
}

fn small_site(dir: &Path) -> PathBuf {
    let input = dir.join("site.pcapng");
    let sim = iotw()
        .args(["simulate", "-w"])
        .arg(&input)
        .args(["--agents", "10", "--calls-per-hour", "600", "--duration", "10m", "--seed", "5"])
        .output()
        .unwrap();
    assert!(sim.status.success());
    input
}

#[test]
fn beats_over_tls_with_a_client_certificate_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let out = d.join("events.ndjson");
    let args = receiver_tls(d, true);
    let rx = Receiver::start_with(&out, 0, &args, Stdio::inherit());
    let input = small_site(d);
    let want = expected_ids(&input);
    // `localhost` checks the certificate's DNS name (and resolves to ::1 first on most
    // machines, while the receiver listens on 127.0.0.1 only).
    let tls = format!(
        "tls = true\nca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}\nwindow = 300\n",
        d.join("ca.pem"),
        d.join("client.pem"),
        d.join("client.key")
    );
    let cfg = config(d, rx.port, &tls);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("127.0.0.1:", "localhost:");
    std::fs::write(&cfg, text).unwrap();
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("shipping to Logstash over TLS"), "{stderr}");
    let (n, ids) = received(&out);
    assert_eq!(ids, want, "{stderr}");
    assert_eq!(n, want.len());
}

#[test]
fn an_untrusted_certificate_delivers_nothing_until_trusted_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let out = d.join("events.ndjson");
    let args = receiver_tls(d, false);
    let rx = Receiver::start_with(&out, 0, &args, Stdio::piped());
    let input = small_site(d);
    let want = expected_ids(&input);

    // No ca_file: the Mozilla roots do not know the test CA, so no handshake completes.
    let cfg = config(d, rx.port, "tls = true\n");
    let text = std::fs::read_to_string(&cfg).unwrap() + "drain_timeout = \"3s\"\n";
    std::fs::write(&cfg, text).unwrap();
    let (_, stderr) = capture(&cfg, &input);
    assert_eq!(received(&out).0, 0, "nothing crosses an unverified connection: {stderr}");
    assert!(stderr.contains("UnknownIssuer"), "the reason is shown: {stderr}");
    assert!(stderr.contains("acknowledged 0,") && stderr.contains("not delivered yet, kept in"), "{stderr}");

    // The same spool, now with verification off: everything left is delivered, with a warning.
    let cfg = config(d, rx.port, "tls = true\ninsecure_skip_verify = true\n");
    let empty = d.join("empty.pcap");
    // A pcap with no packets: a little-endian header, version 2.4, snaplen 65535, Ethernet.
    let header = [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
    std::fs::write(&empty, header).unwrap();
    let (ok, stderr) = capture(&cfg, &empty);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("WARNING: logstash.insecure_skip_verify is on"), "{stderr}");
    assert!(stderr.contains("from an earlier run wait in"), "{stderr}");
    let (n, ids) = received(&out);
    assert_eq!(ids, want, "{stderr}");
    assert_eq!(n, want.len());
}

#[test]
fn json_lines_over_tls_delivers_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certificates(d);
    let out = d.join("lines.ndjson");
    let mut args = receiver_tls(d, false);
    args.push("--json-lines".into());
    let rx = Receiver::start_with(&out, 0, &args, Stdio::inherit());
    let input = small_site(d);
    let want = expected_ids(&input);
    let extra = format!("protocol = \"json_lines\"\ntls = true\nca_file = {:?}\n", d.join("ca.pem"));
    let cfg = config(d, rx.port, &extra);
    let (ok, stderr) = capture(&cfg, &input);
    assert!(ok, "{stderr}");
    let started = Instant::now();
    while received(&out).0 < want.len() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (n, ids) = received(&out);
    assert_eq!(ids, want, "{stderr}");
    assert_eq!(n, want.len());
}
