#!/usr/bin/env bash
# Benchmarks (not part of the tests): iotw and tshark on the same capture in one run.
#   1. read + L2-L4 + flows + reassembly, one core, capture replayed in-process (median of runs)
#      vs `tshark -r FILE -q -z conv,udp -z conv,tcp` (its flow table), median of 3
#   2. the whole `iotw capture --output ndjson` vs tshark on the same file, hyperfine if present
#   3. peak RSS while 1,000,000 short TCP flows churn through the flow table
# Usage: scripts/bench.sh [CAPTURE]   (default ../shared/captures/sipp-udp-5000calls.pcapng)
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-$(pwd)/../shared/captures/sipp-udp-5000calls.pcapng}
cargo build --release --quiet
cargo bench --quiet -p iotw --bench pipeline --no-run
echo "== iotw: read + L2-L4 + flows + reassembly (in-process replays)"
cargo bench --quiet -p iotw --bench pipeline -- "$cap" 100 5 | tail -1 | tee /tmp/iotw-bench.txt
pkts=$(tshark -r "$cap" -T fields -e frame.number 2>/dev/null | wc -l)
echo "== tshark -q -z conv (same file, $pkts packets)"
t=()
for _ in 1 2 3; do
  s=$(date +%s.%N); tshark -r "$cap" -q -z conv,udp -z conv,tcp >/dev/null 2>&1; e=$(date +%s.%N)
  t+=("$(echo "$e - $s" | bc -l)")
done
med=$(printf '%s\n' "${t[@]}" | sort -g | sed -n 2p)
tshark_pps=$(echo "$pkts / $med" | bc -l)
iotw_pps=$(grep -o 'median: [0-9]*' /tmp/iotw-bench.txt | grep -o '[0-9]*')
printf 'tshark median: %.0f packets/s; iotw/tshark ratio: %.1fx\n' "$tshark_pps" "$(echo "$iotw_pps / $tshark_pps" | bc -l)"
echo "== whole command: iotw capture --output ndjson vs tshark -T ek (SDP off, the fair peer)"
if command -v hyperfine >/dev/null; then
  hyperfine -w 1 -r 5 -N \
    "target/release/iotw capture -r $cap --output ndjson --out /dev/null --no-progress --quiet" \
    "tshark -r $cap -q -z conv,udp" 2>&1 | grep -E "Time|±|faster|iotw|tshark" || true
fi
echo "== flow table churn: 1,000,000 short TCP flows"
cargo bench --quiet -p iotw --bench pipeline -- --churn 1000000
