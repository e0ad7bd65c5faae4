#!/usr/bin/env bash
# Makes testdata/sip/sips-local.pcap and its key log sips-local.keys: sipp calls (UAC and UAS,
# over TCP) carried across a TLS leg on port 5061 by scripts/sips-relay.py, captured on that
# leg only, so the capture holds SIP over TLS and nothing else. Needs root (or capture
# rights), tcpdump, openssl, sipp and python3.
# Usage: scripts/make-sips-capture.sh [OUT.pcap] [CALLS]   (the key log is written beside it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/testdata/sip/sips-local.pcap}
calls=${2:-10}
keys=${out%.pcap}.keys
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tls_port=5061
if ! python3 -c "import socket; socket.socket().bind(('127.0.0.1', $tls_port))" 2>/dev/null; then
    echo "port $tls_port is taken" >&2; exit 1
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sips.key -out sips.pem \
    -days 3650 -subj "/C=GB/O=iotw test/CN=sips.iotw.test" 2>/dev/null
uas=$(free_port); relay=$(free_port)
tcpdump -i lo -U -n -s 0 -w "$work/sips.pcap" "tcp port $tls_port" 2>tcpdump.err &
pids+=($!); dump=$!
for _ in $(seq 50); do grep -q "listening on" tcpdump.err && break; sleep 0.1; done
# sipp -bg prints "Background mode - PID=[N]" and exits 99.
uas_out=$(sipp -sn uas -t t1 -i 127.0.0.1 -p "$uas" -bg -nostdin 2>&1 || true)
uas_pid=$(grep -o 'PID=\[[0-9]*' <<<"$uas_out" | tr -dc 0-9)
[ -n "$uas_pid" ] || { echo "sipp uas did not start: $uas_out" >&2; exit 1; }
pids+=("$uas_pid")
python3 "$root/scripts/sips-relay.py" "$relay" "$tls_port" "$uas" sips.pem sips.key "$work/keys" >relay.out 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready relay.out && break; sleep 0.1; done
sipp -sn uac -t t1 -i 127.0.0.1 -m "$calls" -r 5 -d 200 -nostdin -timeout 30s "127.0.0.1:$relay" >/dev/null 2>&1 \
    || { echo "sipp UAC failed" >&2; exit 1; }
sleep 0.5
kill -INT "$dump"; wait "$dump" || true
mv "$work/sips.pcap" "$out"
mv "$work/keys" "$keys"
echo "wrote $out ($(stat -c %s "$out") bytes) and $keys ($(wc -l < "$keys") lines)"
