//! Golden tests: capture in, documents out, compared with reviewed output in
//! `testdata/golden/` (packet and byte counts there were checked against tshark by
//! `scripts/compare-tshark.py`). After an intended change, regenerate with
//! `IOTW_UPDATE_GOLDEN=1 cargo test -p iotw --test golden` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn golden(capture: &str) {
    golden_in("testdata/captures", capture);
}

fn golden_in(dir: &str, capture: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_iotw"))
        .args(["capture", "--output", "ndjson", "--no-progress", "--quiet", "-r"])
        .arg(root.join(dir).join(capture))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = String::from_utf8(out.stdout).unwrap();
    let path = root.join("testdata/golden").join(format!("{capture}.ndjson"));
    if std::env::var_os("IOTW_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{capture}: document {} differs", i + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count(), "{capture}: document count");
}

#[test]
fn tcp_oddities_golden() {
    golden("tcp-badsegments.pcap");
}

#[test]
fn out_of_order_dns_golden() {
    golden("dns-ooo.pcap");
}

#[test]
fn sip_over_udp_golden() {
    golden("sip.pcapng");
}

#[test]
fn ipv6_golden() {
    golden("ipv6.pcap");
}

#[test]
fn http_transactions_golden() {
    golden_in("testdata/http", "http-local.pcap");
}

#[test]
fn tls_handshakes_golden() {
    golden_in("testdata/tls", "tls-local.pcap");
}
