//! The `iotw` binary end to end: real captures in, documents out, bad input handled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn iotw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iotw"))
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures").join(name)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("iotw runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "iotw panicked: {stderr}");
    out
}

fn ndjson(args: &[&str]) -> (Vec<Value>, String, i32) {
    let out = run(iotw().args(["capture", "--output", "ndjson", "--no-progress"]).args(args));
    let docs = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    (docs, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

fn datasets(docs: &[Value], name: &str) -> usize {
    docs.iter().filter(|d| d["event"]["dataset"] == name).count()
}

#[test]
fn capture_stores_and_search_finds_it_again_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let f = testdata("tls12-chacha20poly1305.pcap");
    for round in 0..2 {
        let out = run(iotw().args(["capture", "--no-progress", "--data-dir", data, "-r"]).arg(&f));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // 7 flows and their 7 TLS handshakes.
        let want = if round == 0 { "written 14, already stored 0" } else { "written 0, already stored 14" };
        assert!(stderr.contains(want), "round {round}: {stderr}");
    }
    let out = run(iotw().args([
        "search",
        "--data-dir",
        data,
        "--format",
        "json",
        "--limit",
        "100",
        "destination.port:443 AND flow.state:OTH",
    ]));
    assert!(out.status.success());
    let hits: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), 7, "each TLS connection once; the capture starts mid-stream (no SYN)");
    assert!(hits.iter().all(|h| h["network"]["community_id"].as_str().is_some_and(|c| c.starts_with("1:"))));
    let out = run(iotw().args([
        "search",
        "--data-dir",
        data,
        "--since",
        "2000-01-01",
        "--until",
        "2001-01-01",
        "--format",
        "json",
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "time range excludes everything");
    let out = run(iotw().args([
        "search",
        "--data-dir",
        data,
        "source.ip:10.42.0.1 AND event.dataset:flow",
        "--fields",
        "source.port,flow.history",
    ]));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("source.port"), "{table}");
    assert_eq!(table.lines().count(), 8, "header and 7 rows: {table}");
}

#[test]
fn ndjson_flow_documents_carry_ecs_fields() {
    let (docs, stderr, code) = ndjson(&["-r", testdata("sipp-tcp-10calls.pcap").to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let flows: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "flow").collect();
    assert_eq!(flows.len(), 1);
    let d = flows[0];
    assert_eq!(d["flow"]["protocol"], "sip", "the flow knows what it carried");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["network"]["transport"], "tcp");
    assert_eq!(d["source"]["port"], 5061, "the SYN sender originates");
    assert_eq!(d["destination"]["port"], 5071);
    assert_eq!(d["flow"]["state"], "SF");
    assert_eq!(d["network"]["packets"], 106);
    assert_eq!(d["flow"]["final"], true);
    assert!(d["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(d["event"]["duration"].as_i64().unwrap() > 0);
}

#[test]
fn bulk_output_pairs_a_create_action_with_each_document() {
    let (docs, _, code) = ndjson(&["--bulk", "-r", testdata("tls13-rfc8446.pcap").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(docs.len(), 8, "two flows and their two TLS handshakes");
    for pair in docs.chunks(2) {
        let action = &pair[0]["create"];
        let dataset = pair[1]["event"]["dataset"].as_str().unwrap();
        assert!(dataset == "flow" || dataset == "tls", "{dataset}");
        assert!(action["_index"].as_str().unwrap().starts_with(&format!("iotw-{dataset}-")));
        assert!(action["_id"].as_str().unwrap().len() >= 16);
    }
}

#[test]
fn several_files_merge_in_time_order_and_ids_are_deterministic() {
    let a = testdata("sipp-udp-20calls.pcapng");
    let b = testdata("http-ooo.pcap");
    let (docs, _, _) = ndjson(&["-r", a.to_str().unwrap(), "-r", b.to_str().unwrap()]);
    let (again, _, _) = ndjson(&["-r", b.to_str().unwrap(), "-r", a.to_str().unwrap()]);
    assert_eq!(datasets(&docs, "flow"), 2);
    let ids = |d: &[Value]| {
        let mut v: Vec<String> = d.iter().filter_map(|x| x["flow"]["id"].as_str()).map(str::to_owned).collect();
        v.sort();
        v
    };
    assert!(!ids(&docs).is_empty());
    assert_eq!(ids(&docs), ids(&again), "same packets, same ids, whatever the file order");
}

#[test]
fn file_filter_keeps_only_matching_packets() {
    let f = testdata("tls12-chacha20poly1305.pcap");
    let (docs, stderr, _) = ndjson(&["--filter", "tcp port 41832", "-r", f.to_str().unwrap()]);
    assert_eq!(datasets(&docs, "flow"), 1, "{stderr}");
    assert!(stderr.contains("filtered out: 55"), "{stderr}");
    let (_, stderr, code) = ndjson(&["--filter", "tcp port banana", "-r", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("not a port number"), "{stderr}");
}

fn write_tmp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}

#[test]
fn truncated_capture_keeps_what_came_before_and_says_so() {
    let full = std::fs::read(testdata("sipp-udp-20calls.pcapng")).unwrap();
    let t = write_tmp(&full[..full.len() / 2]);
    let (docs, stderr, code) = ndjson(&["-r", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("truncated at byte"), "{stderr}");
    let flow = docs.iter().find(|d| d["event"]["dataset"] == "flow").expect("the flow before the damage is kept");
    assert!(flow["network"]["packets"].as_u64().unwrap() > 20);
    assert!(docs.iter().any(|d| d["event"]["reason"] == "capture_damaged"));
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = write_tmp(b"this is not a capture\n");
    let empty = write_tmp(b"");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(testdata("http.pcap")).unwrap()).unwrap();
    let mut gzb = gz.finish().unwrap();
    let n = gzb.len();
    gzb[n / 2] ^= 0xff;
    let corrupt_gz = write_tmp(&gzb);
    for (path, want, code) in [
        (dir.path().to_path_buf(), "is a directory", 1),
        (text.path().to_path_buf(), "not a pcap or pcapng file", 1),
        (empty.path().to_path_buf(), "empty file", 1),
        (dir.path().join("missing.pcap"), "No such file", 1),
        (corrupt_gz.path().to_path_buf(), "", 0),
    ] {
        let out = run(iotw().args(["capture", "--output", "ndjson", "--no-progress", "-r"]).arg(&path));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{}: {stderr}", path.display());
        if code == 1 {
            assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
            assert!(stderr.contains(want), "{stderr}");
        } else {
            assert!(stderr.contains("corrupt compressed data") || stderr.contains("truncated"), "{stderr}");
        }
    }
}

/// A pcap file of raw-IP (LINKTYPE_RAW) frames, or of any link type.
fn pcap(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&link.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        b.extend_from_slice(&(1_700_000_000 + i as u32 / 1000).to_le_bytes());
        b.extend_from_slice(&((i as u32 % 1000) * 1000).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    b
}

fn ipv4_fragment(id: u16, offset: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len() as u16;
    let ff = (offset / 8) | if more { 0x2000 } else { 0 };
    let mut f = vec![0x45, 0];
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&ff.to_be_bytes());
    f.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn fragment_flood_is_bounded_counted_and_survived() {
    // 20,000 first fragments that never complete, then one whole fragmented datagram:
    // 20,001 datagrams through a table of 1,000 means 19,001 evictions.
    let mut frames: Vec<Vec<u8>> = (0..20_000u32).map(|i| ipv4_fragment(i as u16, 0, true, &[0u8; 16])).collect();
    let mut udp = vec![0x13, 0xc4, 0x13, 0xc4, 0, 28, 0, 0];
    udp.extend_from_slice(b"OPTIONS sip:x SIP/2.0");
    frames.push(ipv4_fragment(60_000, 16, false, &udp[16..]));
    frames.push(ipv4_fragment(60_000, 0, true, &udp[..16]));
    let t = write_tmp(&pcap(101, &frames));
    let cfg = write_tmp(b"[defrag]\nmax_pending = 1000\n");
    let (docs, stderr, code) = ndjson(&["-c", cfg.path().to_str().unwrap(), "-r", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("fragment_pending_limit 19001"), "{stderr}");
    assert!(stderr.contains("documents suppressed by rate limit"), "{stderr}");
    let flows: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "flow").collect();
    assert_eq!(flows.len(), 1, "the complete datagram still made its flow");
    assert_eq!(flows[0]["source"]["packets"], 2);
}

#[test]
fn unknown_link_type_and_impossible_lengths_are_counted_anomalies() {
    let t = write_tmp(&pcap(147, &[vec![1, 2, 3], vec![4, 5, 6]]));
    let (docs, stderr, code) = ndjson(&["-r", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("unsupported_link_type 2"), "{stderr}");
    assert_eq!(docs[0]["iotw"]["frame"], 1);
    // IPv4 header claiming IHL 15 in a 24-byte frame; TCP data offset past the end.
    let mut bad_tcp = ipv4_fragment(1, 0, false, &[0u8; 20]);
    bad_tcp[9] = 6;
    bad_tcp[20 + 12] = 0xf0;
    let t = write_tmp(&pcap(
        101,
        &[vec![0x4f, 0, 0, 24, 0, 0, 0, 0, 64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0], bad_tcp],
    ));
    let (docs, stderr, code) = ndjson(&["-r", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("ip_truncated 1") && stderr.contains("l4_truncated 1"), "{stderr}");
    assert_eq!(datasets(&docs, "anomaly"), 2);
}

#[test]
fn config_check_names_line_and_key() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../iotw.example.toml");
    let out = run(iotw().args(["config", "check"]).arg(&good));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = write_tmp(b"[flow]\nudp_idle = \"1m\"\n\n[output]\nbach_size = 10\n");
    let out = run(iotw().args(["config", "check"]).arg(bad.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains(":5:1: unknown field `bach_size`"), "{stderr}");
    let out = run(iotw().args(["config", "default"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), std::fs::read_to_string(&good).unwrap());
}

#[test]
fn every_subcommand_has_help() {
    for sub in [&["capture"][..], &["search"], &["follow"], &["config", "check"], &["config", "default"]] {
        let out = run(iotw().args(sub).arg("--help"));
        assert!(out.status.success(), "{sub:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage:"), "{sub:?}");
    }
}

#[test]
fn follow_writes_each_direction_of_each_stream() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(iotw()
        .args(["follow", "--format", "raw", "--out"])
        .arg(dir.path())
        .arg("-r")
        .arg(testdata("http-ooo.pcap")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let req = std::fs::read(dir.path().join("stream-0-orig.bin")).unwrap();
    assert!(req.starts_with(b"PUT /1 HTTP/1.1\r\n"));
    assert!(req.ends_with(b"0\r\n\r\n"));
}

#[test]
fn ip_fragmented_sip_invite_is_decoded_whole() {
    let sip = b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
From: <sip:ann@10.0.0.1>;tag=1\r\nTo: <sip:bob@10.0.0.2>\r\nCall-ID: frag@10.0.0.1\r\nCSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";
    let mut udp = vec![0x13, 0xc4, 0x13, 0xc4];
    udp.extend_from_slice(&((8 + sip.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(sip);
    let (a, rest) = udp.split_at(64);
    let (b, c) = rest.split_at(64);
    let frames = vec![ipv4_fragment(7, 128, false, c), ipv4_fragment(7, 0, true, a), ipv4_fragment(7, 64, true, b)];
    let t = write_tmp(&pcap(101, &frames));
    let (docs, stderr, code) = ndjson(&["-r", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let sips: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "sip").collect();
    assert_eq!(sips.len(), 1, "{stderr}");
    assert_eq!(sips[0]["sip"]["method"], "INVITE");
    assert_eq!(sips[0]["sip"]["call_id"], "frag@10.0.0.1");
}

#[test]
fn setup_prints_a_template_per_dataset_without_a_server() {
    let out = run(iotw().args(["setup", "--print"]));
    assert!(out.status.success());
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 13);
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"iotw-sip") && names.contains(&"iotw-journey") && names.contains(&"iotw-alert"),
        "{names:?}"
    );
    let http = &lines[names.iter().position(|n| *n == "iotw-http").unwrap()]["template"]["template"]["mappings"];
    let p = &http["properties"];
    assert_eq!(p["http"]["properties"]["response"]["properties"]["status_code"]["type"], "long");
    assert_eq!(p["url"]["properties"]["original"]["type"], "keyword");
    assert_eq!(p["event"]["properties"]["start"]["type"], "date");
    for l in &lines {
        let t = &l["template"];
        assert!(t["index_patterns"][0].as_str().unwrap().ends_with("-*"));
        assert_eq!(t["template"]["mappings"]["properties"]["@timestamp"]["type"], "date");
    }
}

#[test]
fn tls_sessions_decrypt_with_a_key_log_and_the_http_inside_is_decoded() {
    let keys = testdata("keys/tls13-rfc8446.keys");
    let f = testdata("tls13-rfc8446.pcap");
    let (plain, _, _) = ndjson(&["-r", f.to_str().unwrap()]);
    assert_eq!(datasets(&plain, "http"), 0, "without the secrets nothing inside is read");
    let (docs, stderr, code) = ndjson(&["-r", f.to_str().unwrap(), "--tls-keylog", keys.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let paths: Vec<&str> = docs
        .iter()
        .filter(|d| d["event"]["dataset"] == "http")
        .map(|d| d["url"]["original"].as_str().unwrap())
        .collect();
    // /early travelled as 0-RTT early data.
    assert_eq!(paths, ["/first", "/early", "/second"]);
    assert!(docs.iter().filter(|d| d["event"]["dataset"] == "http").all(|d| d["url"]["scheme"] == "https"));
    let tls: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "tls").collect();
    assert!(tls.iter().all(|d| d["tls"]["decrypted"] == true));
    assert_eq!(tls[0]["tls"]["server"]["subject"], "O=BoringSSL,C=US", "the TLS 1.3 certificate, decrypted");
    let secret = std::fs::read_to_string(&keys).unwrap();
    let secret = secret.lines().next().unwrap().split_whitespace().last().unwrap();
    let all = serde_json::to_string(&docs).unwrap() + &stderr;
    assert!(!all.contains(secret), "secrets never reach documents or messages");
}

#[test]
fn cbc_and_ccm_suites_decrypt_in_every_version_that_defines_them() {
    // Made by scripts/make-tls-ciphers-capture.sh: curl fetching the same 40,527-byte
    // response over nine suites and versions, and s_client changing keys mid-connection.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/tls");
    let f = dir.join("tls-ciphers.pcap");
    let keys = dir.join("tls-ciphers.keys");
    let (docs, stderr, code) = ndjson(&["-r", f.to_str().unwrap(), "--tls-keylog", keys.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("tls_decrypt_failed"), "{stderr}");
    let mut suites: Vec<String> = docs
        .iter()
        .filter(|d| d["event"]["dataset"] == "tls")
        .map(|d| {
            assert_eq!(d["tls"]["decrypted"], true, "{d}");
            format!("{} {}", d["tls"]["version"].as_str().unwrap(), d["tls"]["cipher"].as_str().unwrap())
        })
        .collect();
    suites.sort();
    assert_eq!(
        suites,
        [
            "1.0 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "1.1 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
            // The renegotiated connection: two handshakes.
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "1.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "1.3 TLS_AES_128_CCM_8_SHA256",
            "1.3 TLS_AES_128_CCM_SHA256",
            // The one with key updates.
            "1.3 TLS_AES_256_GCM_SHA384",
        ]
    );
    let http: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "http").collect();
    assert_eq!(http.len(), 9);
    for d in http {
        assert_eq!(d["http"]["response"]["status_code"], 200, "{d}");
        assert_eq!(d["http"]["response"]["body"]["bytes"], 40527, "{d}");
    }
    // Streams 9 and 10 change keys mid-connection: a TLS 1.2 renegotiation and a TLS 1.3
    // KeyUpdate both ways. The lines sent after the change are read too.
    for (stream, name) in [("9", "renegotiate"), ("10", "key-update")] {
        let out =
            run(iotw().args(["follow", "--tls", "--stream", stream, "-r"]).arg(&f).arg("--tls-keylog").arg(&keys));
        let text = String::from_utf8_lossy(&out.stdout);
        for side in ["client", "server"] {
            for when in ["before", "after"] {
                let line = format!("-- {name} {side} {when}\n");
                assert!(text.contains(&iotw_hex(line.as_bytes())), "{name}: {line:?} missing in\n{text}");
            }
        }
    }
}

#[test]
fn sip_over_tls_decrypts_into_messages_and_calls() {
    // Made by scripts/make-sips-capture.sh: ten sipp calls carried over TLS on port 5061.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sip");
    let f = dir.join("sips-local.pcap");
    let (plain, _, _) = ndjson(&["-r", f.to_str().unwrap()]);
    assert_eq!(datasets(&plain, "sip"), 0, "without the secrets nothing inside is read");
    assert_eq!(datasets(&plain, "tls"), 1);
    let keys = dir.join("sips-local.keys");
    let (docs, stderr, code) = ndjson(&["-r", f.to_str().unwrap(), "--tls-keylog", keys.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(datasets(&docs, "sip"), 60, "{stderr}");
    let calls: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "call").collect();
    assert_eq!(calls.len(), 10);
    assert!(calls.iter().all(|c| c["call"]["state"] == "completed" && c["tls"]["decrypted"] == true));
    assert!(docs.iter().filter(|d| d["event"]["dataset"] == "sip").all(|d| d["tls"]["decrypted"] == true));
}

#[test]
fn a_tls_connection_captured_after_its_handshake_is_still_tls() {
    // retrans-tls.pcap begins after the handshake: application data, retransmitted.
    let f = testdata("retrans-tls.pcap");
    let (docs, stderr, code) = ndjson(&["-r", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let flows: Vec<&Value> = docs.iter().filter(|d| d["event"]["dataset"] == "flow").collect();
    assert!(!flows.is_empty());
    assert!(flows.iter().all(|d| d["flow"]["protocol"] == "tls"), "{flows:?}");
    assert_eq!(datasets(&docs, "tls"), 0, "no handshake, no session document");
    assert_eq!(datasets(&docs, "anomaly"), 0, "{docs:?}");
}

#[test]
fn secrets_embedded_in_pcapng_decrypt_and_follow_shows_the_plaintext() {
    let f = testdata("tls12-dsb.pcapng");
    let (docs, stderr, _) = ndjson(&["-r", f.to_str().unwrap()]);
    let urls: Vec<&str> =
        docs.iter().filter(|d| d["event"]["dataset"] == "http").map(|d| d["url"]["full"].as_str().unwrap()).collect();
    assert_eq!(urls, ["https://example.com/", "https://example.net/"], "{stderr}");
    let out = run(iotw().args(["follow", "--tls", "--stream", "0", "-r"]).arg(&f));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Follow: tls,raw"), "{text}");
    let first = text.lines().nth(5).unwrap();
    assert!(first.starts_with(&iotw_hex(b"HEAD / HTTP/1.1\r\nHost: example.com")), "{text}");
}

#[test]
fn secrets_that_do_not_fit_are_an_anomaly_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.keys");
    let text = std::fs::read_to_string(testdata("keys/tls13-rfc8446.keys")).unwrap();
    // The right client randoms, wrong secrets.
    let damaged: String = text
        .lines()
        .map(|l| {
            let mut p: Vec<String> = l.split_whitespace().map(str::to_owned).collect();
            if let Some(last) = p.last_mut() {
                *last = "00".repeat(last.len() / 2);
            }
            p.join(" ") + "\n"
        })
        .collect();
    std::fs::write(&wrong, damaged).unwrap();
    let f = testdata("tls13-rfc8446.pcap");
    let (docs, stderr, code) = ndjson(&["-r", f.to_str().unwrap(), "--tls-keylog", wrong.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("tls_decrypt_failed"), "{stderr}");
    assert_eq!(datasets(&docs, "tls"), 2, "the handshakes are still reported");
    let missing =
        run(iotw().args(["capture", "--output", "ndjson", "-r"]).arg(&f).args(["--tls-keylog", "/no/such.keys"]));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such.keys"));
}

fn iotw_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
