#!/usr/bin/env bash
# Makes the web benchmark capture: ROUNDS rounds of real HTTP (scripts/http-traffic.py: 12
# transactions each) and of HTTPS (curl against OpenSSL's s_server, TLS 1.2 and 1.3, with
# SSLKEYLOGFILE) over loopback, captured by tcpdump, plus the key log. Not committed (large);
# scripts/bench-web.py makes it when missing. Needs root (or capture rights), tcpdump, curl,
# openssl, python3.
# Usage: scripts/make-web-capture.sh OUT.pcap OUT.keys [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "$1"); keys=$(realpath -m "$2"); rounds=${3:-100}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
p1=$(free_port); p2=$(free_port)
: > "$keys"
tcpdump -i lo -U -n -s 0 -B 65536 -w "$out" "tcp port $p1 or tcp port $p2" 2>tcpdump.err &
pids+=($!); dump=$!
for _ in $(seq 50); do grep -q "listening on" tcpdump.err && break; sleep 0.1; done
openssl s_server -accept "$p2" -cert cert.pem -key key.pem -www -quiet 2>/dev/null &
pids+=($!)
sleep 0.3
for i in $(seq "$rounds"); do
  python3 "$root/scripts/http-traffic.py" "$p1"
  SSLKEYLOGFILE=$keys curl -s -o /dev/null --cacert cert.pem --tlsv1.2 --tls-max 1.2 "https://localhost:$p2/a$i" \
    "https://localhost:$p2/b$i"
  SSLKEYLOGFILE=$keys curl -s -o /dev/null --cacert cert.pem --tlsv1.3 "https://localhost:$p2/c$i"
done
sleep 0.5
kill -INT "$dump"; wait "$dump" || true
echo "wrote $out ($(stat -c %s "$out") bytes) and $keys"
