#!/usr/bin/env bash
# Benchmarks (not part of the tests): iotw and tshark on the same capture in one run.
#   1. read + L2-L4 + flows + reassembly, one core, capture replayed in-process (median of runs)
#      vs `tshark -r FILE -q -z conv,udp -z conv,tcp` (its flow table), median of 3, with full
#      dissection and with the SIP/SDP dissectors off (the fairer peer for flows alone)
#   2. the whole `iotw capture --output ndjson` vs tshark on the same file, hyperfine if present,
#      and SIP documents vs `tshark -T ek` (scripts/bench-sip.py)
#   3. shipping: spool encoding and bulk delivery to a discarding loopback server (documents/s)
#   3b. HTTP and HTTPS (decrypted) documents vs `tshark -T ek` with the key log (scripts/bench-web.py;
#      makes its capture with scripts/make-web-capture.sh, root)
#   4. peak RSS while 1,000,000 short TCP flows churn through the flow table
#   5. enrichment (IP geolocation, geotagging, masking) per document of a simulated site
#   6. Fireman: 100 rules with filters evaluated in the stream, documents/s on one core
# Usage: scripts/bench.sh [CAPTURE]   (default ../shared/captures/sipp-udp-5000calls.pcapng)
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-$(pwd)/../shared/captures/sipp-udp-5000calls.pcapng}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cargo build --release --quiet
cargo bench --quiet -p iotw --bench pipeline --no-run
echo "== iotw: read + L2-L4 + flows + reassembly (in-process replays)"
cargo bench --quiet -p iotw --bench pipeline -- "$cap" 100 5 | tail -1 | tee "$out"
echo "== iotw: the same with TCP reassembly (sipp over TCP; TLS), in-process replays"
cargo bench --quiet -p iotw --bench pipeline -- "$(pwd)/testdata/captures/sipp-tcp-10calls.pcap" 20000 5 | tail -1
cargo bench --quiet -p iotw --bench pipeline -- "$(pwd)/testdata/captures/tls12-chacha20poly1305.pcap" 20000 5 | tail -1
pkts=$(tshark -r "$cap" -T fields -e frame.number 2>/dev/null | wc -l)
iotw_pps=$(grep -o 'median: [0-9]*' "$out" | grep -o '[0-9]*')
tshark_median() {
  local t=()
  for _ in 1 2 3; do
    local s e
    s=$(date +%s.%N); tshark -r "$cap" -q -n "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    t+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${t[@]}" | sort -g | sed -n 2p
}
for variant in "full dissection:" "flows only (SIP and SDP dissectors off):"; do
  if [ "$variant" = "full dissection:" ]; then
    med=$(tshark_median -z conv,udp -z conv,tcp)
  else
    med=$(tshark_median -z conv,udp -z conv,tcp --disable-protocol sip --disable-protocol sdp)
  fi
  pps=$(echo "$pkts / $med" | bc -l)
  printf '== tshark -q -z conv, %s median %.0f packets/s over 3 runs; iotw/tshark = %.0fx\n' \
    "$variant" "$pps" "$(echo "$iotw_pps / $pps" | bc -l)"
done
echo "== whole command (hyperfine): iotw capture --output ndjson vs tshark -q -z conv,udp"
if command -v hyperfine >/dev/null; then
  hyperfine -w 1 -r 5 -N \
    "target/release/iotw capture -r $cap --output ndjson --out /dev/null --no-progress --quiet" \
    "tshark -r $cap -q -n -z conv,udp --disable-protocol sip --disable-protocol sdp" 2>&1 \
    | grep -E "Time|faster" || true
else
  echo "(hyperfine not installed: apt-get install hyperfine)"
fi
echo "== SIP documents: iotw capture --output ndjson vs tshark -T ek (interleaved runs)"
python3 scripts/bench-sip.py "$cap" --runs 5
echo "== T-Library: a simulated one-hour site with 200 agents (iotw simulate), decoded"
sim=$(mktemp -d)
target/release/iotw simulate -w "$sim/site.pcapng" --agents 200 --calls-per-hour 3600 --duration 1h --seed 11 2>&1 | tail -1
echo "pcap size per hour: $(stat -c %s "$sim/site.pcapng") bytes"
for run in 1 2 3; do
  /usr/bin/time -f "%e s wall %U s user %S s sys" target/release/iotw capture -r "$sim/site.pcapng" -f "tcp port 3000" \
    --output ndjson --out /dev/null --no-progress 2>&1 | grep -E "documents:|wall"
done
echo "(T-Lib messages/s per core = genesys documents / (user + sys) of the run)"
rm -rf "$sim"
echo "== shipping: spool records, and gzip _bulk delivery to a loopback server that discards"
cargo bench --quiet -p iotw --bench ship -- "$cap" 5 | tail -3
echo "   (end to end into a real server: scripts/compare-elastic.py prints documents/s into osmem)"
echo "== HTTP and HTTPS documents: iotw vs tshark -T ek, with the key log (interleaved runs)"
python3 scripts/bench-web.py --runs 5
echo "== enrichment: ns per document of a simulated site (no peer runs this on an agent)"
cargo bench --quiet -p iotw --bench enrich -- 9 | tail -5
echo "== Fireman: 100 rules in the stream (ElastAlert 2 polls Elasticsearch instead; no in-stream peer)"
cargo bench --quiet -p iotw --bench fireman -- 5 | tail -2
echo "== flow table churn: 1,000,000 short TCP flows"
cargo bench --quiet -p iotw --bench pipeline -- --churn 1000000
