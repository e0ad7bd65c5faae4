#!/usr/bin/env bash
# Makes testdata/tls/tls-local.pcap: real TLS handshakes over loopback between OpenSSL's
# s_server and curl / s_client, captured by tcpdump. Needs root (or capture rights), tcpdump,
# openssl and curl.
#   - TLS 1.2 and TLS 1.3 with SNI and ALPN (curl), a certificate chain (leaf + CA)
#   - TLS 1.2 resumed with the session saved by a first connection (s_client -sess_out/-sess_in)
#   - a client that does not trust the CA: a fatal alert (unknown_ca), no application data
#   - TLS 1.2 with a client certificate the server asked for
# Usage: scripts/make-tls-capture.sh [OUT.pcap]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/testdata/tls/tls-local.pcap}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3650 -subj "/C=GB/O=iotw test/CN=iotw test CA" 2>/dev/null
printf 'subjectAltName=DNS:localhost,DNS:iotw.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/C=GB/L=London/O=iotw test/OU=capture/CN=iotw.test" 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 3650 -extfile server.ext 2>/dev/null
cat server.pem ca.pem > chain.pem
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl req "${ec[@]}" -keyout client.key -out client.csr -subj "/CN=iotw agent" 2>/dev/null
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 3650 -extfile client.ext 2>/dev/null

p1=$(free_port); p2=$(free_port)
tcpdump -i lo -U -n -s 0 -w "$work/tls.pcap" "tcp port $p1 or tcp port $p2" 2>tcpdump.err &
pids+=($!); dump=$!
for _ in $(seq 50); do grep -q "listening on" tcpdump.err && break; sleep 0.1; done
# Server 1: any version, ALPN, a chain; answers HTTP (-www).
openssl s_server -accept "$p1" -cert server.pem -key server.key -cert_chain chain.pem -alpn http/1.1 -www -quiet 2>/dev/null &
pids+=($!)
# Server 2: TLS 1.2 only, asks for a client certificate.
openssl s_server -accept "$p2" -cert server.pem -key server.key -tls1_2 -Verify 1 -CAfile ca.pem -www -quiet 2>/dev/null &
pids+=($!)
sleep 0.5
url="https://iotw.test:$p1/"
res=(--resolve "iotw.test:$p1:127.0.0.1")
curl -s -o /dev/null --cacert ca.pem "${res[@]}" --tlsv1.2 --tls-max 1.2 "$url"
curl -s -o /dev/null --cacert ca.pem "${res[@]}" --tlsv1.3 "$url"
curl -s -o /dev/null "${res[@]}" "$url" || true   # the CA is not trusted: curl sends a fatal alert
echo | openssl s_client -connect "127.0.0.1:$p1" -servername iotw.test -tls1_2 -sess_out sess.pem -CAfile ca.pem >/dev/null 2>&1
printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect "127.0.0.1:$p1" -servername iotw.test -tls1_2 -sess_in sess.pem -CAfile ca.pem -ign_eof >/dev/null 2>&1
printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect "127.0.0.1:$p2" -servername iotw.test -cert client.pem -key client.key -CAfile ca.pem -ign_eof >/dev/null 2>&1
sleep 0.5
kill -INT "$dump"; wait "$dump" || true
mv "$work/tls.pcap" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)"
