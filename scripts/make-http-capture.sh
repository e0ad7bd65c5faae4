#!/usr/bin/env bash
# Makes testdata/http/http-local.pcap: real HTTP/1.x traffic over loopback (scripts/http-traffic.py:
# Python's http.server and curl), captured by tcpdump. Needs root (or capture rights),
# tcpdump, curl and python3.
# Usage: scripts/make-http-capture.sh [OUT.pcap]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/testdata/http/http-local.pcap}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
tcpdump -i lo -U -n -s 0 -w "$work/http.pcap" "tcp port $port" 2>"$work/tcpdump.err" &
pid=$!
for _ in $(seq 50); do grep -q "listening on" "$work/tcpdump.err" && break; sleep 0.1; done
python3 "$root/scripts/http-traffic.py" "$port"
sleep 0.5
kill -INT $pid; wait $pid || true
mv "$work/http.pcap" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)"
