#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), JOBS at a time (default 2), on the
# stable toolchain (no sanitizer: `-s none`; debug assertions and overflow checks on).
# Seeds: the test captures for the file reader. Crashes land in fuzz/artifacts/<target>/ and
# must become named regression tests. Installs cargo-fuzz (crates.io) when it is missing.
# Usage: scripts/fuzz.sh [SECONDS] [JOBS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}
jobs=${2:-2}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(capture_file wire defrag reassembly filter query sip http tls tls_decrypt dns enrich pipeline kvlist tlib tlib_message tlib_log fireman)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -O -a -s none
(cd .. && cargo build --release --quiet)
# Hex lines on stdin (tshark's payload fields or follow output) to seed files in DIR.
hex_to_seeds() {
  python3 -c '
import hashlib, sys
for line in sys.stdin:
    b = bytes.fromhex(line.strip())
    open(sys.argv[1] + "/" + hashlib.sha1(b).hexdigest()[:16], "wb").write(b)
' "$1"
}
mkdir -p corpus/capture_file corpus/sip corpus/pipeline
cp -n ../testdata/captures/*.pcap* corpus/capture_file/ 2>/dev/null || true
# The whole pipeline: seeded with the SIP captures and a small simulated site.
cp -n ../testdata/captures/sip*.pcap* corpus/pipeline/ 2>/dev/null || true
mkdir -p corpus/tlib corpus/kvlist corpus/tlib_log
cp -n ../testdata/genesys/log-samples.txt corpus/tlib_log/ 2>/dev/null || true
if [ -z "$(ls corpus/tlib)" ]; then
  # T-Lib seeds: the client and server streams of a simulated site (default profile).
  ../target/release/iotw simulate -w corpus/pipeline/simulated-site.pcapng --agents 2 --calls-per-hour 60 \
    --duration 3m 2>/dev/null || true
  if command -v tshark >/dev/null; then
    tshark -r corpus/pipeline/simulated-site.pcapng -q -z follow,tcp,raw,0 2>/dev/null \
      | grep -E '^\s*[0-9a-f]+$' | tr -d ' \t' | head -60 | hex_to_seeds corpus/tlib || true
  fi
fi
# SIP seeds: the SIP payloads of a test capture, one file per message.
if [ -z "$(ls corpus/sip)" ] && command -v tshark >/dev/null; then
  tshark -r ../testdata/captures/sipp-udp-20calls.pcapng -c 12 -T fields -e udp.payload 2>/dev/null \
    | hex_to_seeds corpus/sip || true
fi
# HTTP seeds: the requests and responses of the local HTTP capture, one file per segment.
mkdir -p corpus/http
if [ -z "$(ls corpus/http)" ] && command -v tshark >/dev/null; then
  tshark -r ../testdata/http/http-local.pcap -Y 'tcp.len > 0' -T fields -e tcp.payload 2>/dev/null \
    | hex_to_seeds corpus/http || true
fi
# TLS seeds: each direction's stream of the local TLS capture (records as sent).
mkdir -p corpus/tls
if [ -z "$(ls corpus/tls)" ] && command -v tshark >/dev/null; then
  for s in 0 1 2 3 4 5; do
    tshark -r ../testdata/tls/tls-local.pcap -q -z "follow,tcp,raw,$s" 2>/dev/null \
      | grep -E '^\s*[0-9a-f]+$' | tr -d ' \t' | head -4 | hex_to_seeds corpus/tls || true
  done
fi
# Decryption seeds: connections whose secrets the target has built in (the RFC 8446 example,
# and the project's capture of CBC, CCM, renegotiation and KeyUpdate), as the target reads
# them: a direction byte, a u16 length, the bytes, per chunk.
mkdir -p corpus/tls_decrypt
if command -v tshark >/dev/null; then
  for seed in tls13-rfc8446:../testdata/captures/tls13-rfc8446.pcap:0 tls13-rfc8446:../testdata/captures/tls13-rfc8446.pcap:1 \
      $(for s in $(seq 0 10); do echo "ciphers:../testdata/tls/tls-ciphers.pcap:$s"; done); do
    IFS=: read -r name file s <<<"$seed"
    [ -e "corpus/tls_decrypt/$name-$s" ] && continue
    tshark -r "$file" -q -z "follow,tcp,raw,$s" 2>/dev/null | python3 -c '
import struct, sys
out = b""
for line in sys.stdin:
    h = line.strip()
    if not h or not all(c in "0123456789abcdef" for c in h):
        continue
    b = bytes.fromhex(h)[:4096]
    out += struct.pack(">BH", 1 if line.startswith("\t") else 0, len(b)) + b
    if len(out) > 16384:
        break
open(sys.argv[1], "wb").write(out)
' "corpus/tls_decrypt/$name-$s" || true
  done
fi
# DNS seeds: each message of the project's DNS capture as the target reads it (control byte:
# direction, and TCP for the framed ones; a u16 length; the bytes).
mkdir -p corpus/dns
if [ -z "$(ls corpus/dns)" ] && command -v tshark >/dev/null; then
  tshark -r ../testdata/dns/dns-local.pcap -T fields -e dns.flags.response -e tcp.len -e udp.payload -e tcp.payload 2>/dev/null \
    | python3 -c '
import struct, sys
for i, line in enumerate(sys.stdin):
    resp, tcplen, udp, tcp = (line.rstrip("\n").split("\t") + [""] * 4)[:4]
    data = bytes.fromhex((udp or tcp).replace(":", ""))
    ctl = (1 if resp == "1" else 0) | (2 if tcp else 0)
    open(f"corpus/dns/msg-{i}", "wb").write(struct.pack(">BH", ctl, len(data)) + data)
' || true
fi
run() {
  local t=$1
  local extra=()
  # Whole captures are larger than libFuzzer's default input size.
  [ "$t" = pipeline ] && extra=(-max_len=262144)
  mkdir -p "corpus/$t" "artifacts/$t"
  if cargo fuzz run -O -a -s none "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 "${extra[@]}" \
       -artifact_prefix="artifacts/$t/" >"fuzz-$t.log" 2>&1; then
    echo "$t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "fuzz-$t.log" | tail -1), no crash"
  else
    echo "$t: FAILED, see fuzz/fuzz-$t.log and fuzz/artifacts/$t/"
    return 1
  fi
}
status=0
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || status=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || status=1; running=$((running - 1)); done
exit $status
