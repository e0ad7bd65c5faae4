#!/usr/bin/env bash
# Live TLS decryption, real parts end to end: a local HTTPS server (Python's http.server
# wrapped in ssl) on loopback, curl writing its session secrets to SSLKEYLOGFILE, and
# `iotw capture -i lo --tls-keylog FILE` decoding the requests inside. The key log is written
# while iotw runs (read again as it grows). Needs root (AF_PACKET), curl, openssl, python3.
# Usage: scripts/live-tls-test.sh [IOTW_BINARY] [REQUESTS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
iotw=$(realpath "${1:-$root/target/release/iotw}")
n=${2:-20}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "live TLS test: FAILED: $*"; echo "--- iotw stderr"; cat "$work/iotw.err" 2>/dev/null || true; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root for AF_PACKET"
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > server.py <<PY
import http.server, ssl
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = ("secret page " + self.path + "\n").encode()
        self.send_response(200); self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
s = http.server.ThreadingHTTPServer(("127.0.0.1", $port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("cert.pem", "key.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
python3 server.py & pids+=($!)
: > keys.log
"$iotw" capture -i lo --filter "tcp port $port" --tls-keylog keys.log --output ndjson --out docs.ndjson \
  --no-progress 2>iotw.err & pids+=($!); iotw_pid=$!
for _ in $(seq 100); do grep -q "capturing on" iotw.err 2>/dev/null && break; sleep 0.1; done
grep -q "capturing on" iotw.err || fail "iotw did not start"
sleep 0.3
for i in $(seq "$n"); do
  v=$([ $((i % 2)) -eq 0 ] && echo --tlsv1.3 || echo "--tlsv1.2 --tls-max 1.2")
  # shellcheck disable=SC2086
  SSLKEYLOGFILE=$work/keys.log curl -s -o /dev/null --cacert cert.pem $v "https://localhost:$port/page-$i" \
    || fail "curl request $i failed"
done
sleep 1
kill -INT "$iotw_pid"; wait "$iotw_pid" || true
got=$(python3 - "$n" <<'PY'
import json, sys
n = int(sys.argv[1])
docs = [json.loads(l) for l in open("docs.ndjson")]
http = [d for d in docs if d["event"]["dataset"] == "http"]
paths = sorted(d["url"]["original"] for d in http if d["http"].get("response", {}).get("status_code") == 200)
want = sorted(f"/page-{i}" for i in range(1, n + 1))
tls = [d for d in docs if d["event"]["dataset"] == "tls"]
decrypted = sum(1 for d in tls if d["tls"].get("decrypted"))
versions = sorted({d["tls"].get("version") for d in tls})
ok = paths == want and all(d["url"]["scheme"] == "https" for d in http) and decrypted == n
print(f"{len(paths)} of {n} requests decoded (200), {decrypted} of {len(tls)} sessions decrypted, TLS {versions}:",
      "OK" if ok else "DIFFER")
sys.exit(0 if ok else 1)
PY
) || fail "$got"
echo "live TLS test: $got"
