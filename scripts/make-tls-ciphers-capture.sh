#!/usr/bin/env bash
# Makes testdata/tls/tls-ciphers.pcap and its key log tls-ciphers.keys: curl (writing
# SSLKEYLOGFILE) fetching a 40 KB file (one name per case), so each response spans several records, from OpenSSL's
# s_server over loopback, once per record protection the decryptor must open beyond the
# shared captures' AES-GCM and ChaCha20-Poly1305:
#   - TLS 1.2 AES-128-CBC with HMAC-SHA1, encrypt-then-MAC (OpenSSL's default) and without it
#   - TLS 1.2 AES-256-CBC with HMAC-SHA384 (the SHA-384 PRF)
#   - TLS 1.2 AES-128-CCM and AES-256-CCM_8
#   - TLS 1.3 TLS_AES_128_CCM_SHA256 and TLS_AES_128_CCM_8_SHA256
#   - TLS 1.1 and TLS 1.0 AES-128-CBC with HMAC-SHA1 (the MD5/SHA-1 PRF; TLS 1.0 chains IVs)
# and, with s_client's commands, keys that change mid-connection (lines of text both ways, before and after):
#   - TLS 1.2 renegotiation (a second handshake, encrypted, with a new master secret)
#   - TLS 1.3 KeyUpdate, asked of the server too (both sides move to the next traffic secret)
# Needs root (or capture rights), tcpdump, openssl and curl.
# Usage: scripts/make-tls-ciphers-capture.sh [OUT.pcap]   (the key log is written beside it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/testdata/tls/tls-ciphers.pcap}
keys=${out%.pcap}.keys
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.pem \
    -days 3650 -subj "/C=GB/O=iotw test/CN=iotw.test" 2>/dev/null
# Text, so tshark's follow output and iotw's can be compared byte for byte.
head -c 30000 /dev/urandom | base64 > big.txt

# name | s_server options | curl options
cases=(
    "cbc-sha1-etm|-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA|--tlsv1.2 --tls-max 1.2"
    "cbc-sha1-mte|-tls1_2 -no_etm -cipher ECDHE-ECDSA-AES128-SHA|--tlsv1.2 --tls-max 1.2"
    "cbc-sha384|-tls1_2 -cipher ECDHE-ECDSA-AES256-SHA384|--tlsv1.2 --tls-max 1.2"
    "ccm|-tls1_2 -cipher ECDHE-ECDSA-AES128-CCM|--tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-CCM"
    "ccm8|-tls1_2 -cipher ECDHE-ECDSA-AES256-CCM8|--tlsv1.2 --tls-max 1.2 --ciphers ECDHE-ECDSA-AES256-CCM8"
    "tls13-ccm|-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256|--tlsv1.3 --tls13-ciphers TLS_AES_128_CCM_SHA256"
    "tls13-ccm8|-tls1_3 -ciphersuites TLS_AES_128_CCM_8_SHA256|--tlsv1.3 --tls13-ciphers TLS_AES_128_CCM_8_SHA256"
    "tls11-cbc|-tls1_1 -cipher ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0|--tlsv1.1 --tls-max 1.1 --ciphers ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
    "tls10-cbc|-tls1 -cipher ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0|--tlsv1.0 --tls-max 1.0 --ciphers ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
)
ports=()
for _ in "${cases[@]}"; do ports+=("$(free_port)"); done
# name | port | s_server options | s_client options | command
changes=(
    "renegotiate|$(free_port)|-tls1_2 -client_renegotiation|-tls1_2|R"
    "key-update|$(free_port)|-tls1_3|-tls1_3|K"
)
for c in "${changes[@]}"; do IFS='|' read -r _ port _ <<<"$c"; ports+=("$port"); done
filter=$(printf 'tcp port %s or ' "${ports[@]}"); filter=${filter% or }
tcpdump -i lo -U -n -s 0 -w "$work/tls.pcap" "$filter" 2>tcpdump.err &
pids+=($!); dump=$!
for _ in $(seq 50); do grep -q "listening on" tcpdump.err && break; sleep 0.1; done
for i in "${!cases[@]}"; do
    IFS='|' read -r name server client <<<"${cases[$i]}"
    cp big.txt "$name.txt"
    # shellcheck disable=SC2086 # the options are words
    openssl s_server -accept "${ports[$i]}" -cert server.pem -key server.key $server -WWW -quiet >/dev/null 2>&1 &
    pids+=($!)
done
sleep 0.5
for i in "${!cases[@]}"; do
    IFS='|' read -r name server client <<<"${cases[$i]}"
    # shellcheck disable=SC2086
    got=$(SSLKEYLOGFILE="$work/keys" curl -s -k $client --resolve "iotw.test:${ports[$i]}:127.0.0.1" \
        "https://iotw.test:${ports[$i]}/$name.txt" | wc -c || true)
    [ "$got" -gt 40000 ] || { echo "$name: curl got $got bytes" >&2; exit 1; }
done
# Keys that change mid-connection: s_client's command lines "R" (renegotiate) and "K"
# (KeyUpdate, asking the server to update too), with lines both ways before and after.
for c in "${changes[@]}"; do
    IFS='|' read -r name port server client cmd <<<"$c"
    # The server sends a line before the change and one after (its stdin, timed from now).
    # shellcheck disable=SC2086
    (sleep 0.7; printf -- '-- %s server before\n' "$name"; sleep 1.2; printf -- '-- %s server after\n' "$name"; sleep 1) |
        openssl s_server -accept "$port" -cert server.pem -key server.key $server -naccept 1 -quiet >/dev/null 2>&1 &
    pids+=($!)
    sleep 0.3
    # shellcheck disable=SC2086
    (printf -- '-- %s client before\n' "$name"; sleep 1; echo "$cmd"; sleep 0.5; printf -- '-- %s client after\n' "$name"; sleep 1.5) |
        openssl s_client -connect "127.0.0.1:$port" $client -keylogfile "$work/keys" >"$name.out" 2>&1 || true
    grep -q -- "-- $name server after" "$name.out" || { echo "$name: no server line after the change" >&2; exit 1; }
done
sleep 0.5
kill -INT "$dump"; wait "$dump" || true
mv "$work/tls.pcap" "$out"
mv "$work/keys" "$keys"
echo "wrote $out ($(stat -c %s "$out") bytes) and $keys ($(wc -l < "$keys") lines)"
