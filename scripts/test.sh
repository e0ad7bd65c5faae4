#!/usr/bin/env bash
# The project's test command: installs the test peers, then runs every suite.
#   0. cargo fmt --check and clippy -D warnings
#   1. cargo test: unit, contract, golden and end-to-end CLI tests (all crates), including the
#      alerters against a loopback HTTP listener and aiosmtpd (tests/alerters.rs), `fireman run`
#      and its HA lease against osmem-server (tests/fireman_es.rs), the
#      Genesys simulator against its ground truth and calibration (crates/iotw/tests/genesys.rs)
#      and shipping into osmem-server through outages, kills, refusals and 429s (tests/elastic.rs)
#      and to a Beats receiver (tests/logstash.rs), and discovery against the simulator's
#      ground truth and real captures (tests/discover.rs)
#   2. scripts/compare-tshark.py: conversations and TCP streams against tshark, every capture;
#      scripts/compare-sip.py: every SIP message's fields against tshark's SIP/SDP dissection
#      scripts/compare-http.py: every HTTP request's and response's fields against tshark's
#      scripts/compare-tls.py: every TLS handshake's fields against tshark's and ja4plus's
#      scripts/compare-https.py: decrypted HTTP and followed TLS plaintext against tshark's
#      scripts/compare-dns.py: every DNS response's fields against tshark's
#      scripts/compare-elastic.py: a capture replayed into osmem-server holds exactly the
#      documents --output ndjson makes, by kind, each id once;
#      scripts/check-lumberjack-receiver.py: the test Beats receiver against pylogbeat
#      scripts/check-discover-report.py: the discovery report opened by headless Chromium
#      scripts/compare-elastalert.py: Fireman's seven rule types against ElastAlert 2's own
#      scripts/compare-elastalert-es.py: ElastAlert 2 run against osmem-server, beside
#      `iotw fireman run` (the same index) and `iotw fireman test` (the capture)
#   3. scripts/live-test.sh: live AF_PACKET capture against tcpdump with sipp calls (root only)
#      scripts/live-tls-test.sh: curl over HTTPS on lo, decrypted live with its key log (root only)
set -uo pipefail
cd "$(dirname "$0")/.."
passed=0
failed=0
suite() {
  local name=$1; shift
  local started=$SECONDS
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "=== $name FAILED"; fi
  echo "=== $name: $((SECONDS - started)) s"
}

scripts/install-test-peers.sh || { echo "installing test peers failed"; exit 1; }
suite "format" cargo fmt --all --check
suite "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
suite "cargo test" cargo test --workspace --locked
cargo build --release --locked --quiet || { echo "release build failed"; exit 1; }
suite "tshark comparison: flows and streams" python3 scripts/compare-tshark.py
suite "tshark comparison: SIP messages" python3 scripts/compare-sip.py
suite "tshark comparison: HTTP messages" python3 scripts/compare-http.py
suite "tshark and ja4plus comparison: TLS handshakes" python3 scripts/compare-tls.py
suite "tshark comparison: TLS decryption" python3 scripts/compare-https.py
suite "tshark comparison: DNS" python3 scripts/compare-dns.py
suite "shipping: every document into OpenSearch (osmem)" python3 scripts/compare-elastic.py
suite "Beats test receiver against pylogbeat" python3 scripts/check-lumberjack-receiver.py
suite "discovery report rendered by Chromium" python3 scripts/check-discover-report.py
suite "ElastAlert 2 comparison: Fireman's rule types" python3 scripts/compare-elastalert.py
suite "ElastAlert 2 against OpenSearch (osmem) beside Fireman's two modes" python3 scripts/compare-elastalert-es.py
if [ "$(id -u)" -eq 0 ]; then
  suite "live capture" scripts/live-test.sh
  suite "live TLS decryption" scripts/live-tls-test.sh
else
  echo "=== live capture: needs root (AF_PACKET); run as root to include it"
  failed=$((failed + 1))
fi
echo "suites: $passed passed, $failed failed, in $SECONDS s"
[ "$failed" -eq 0 ]
