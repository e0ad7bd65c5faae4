#!/usr/bin/env bash
# Makes testdata/dns/dns-local.pcap: dig asking dnsmasq (authoritative for a made-up zone,
# no upstream) over loopback on port 53, over UDP and TCP, captured by tcpdump:
#   A, AAAA, a CNAME chain, MX, TXT, SRV (SIP over UDP and TLS), PTR, a name that does not
#   exist (NXDOMAIN), and a query refused (outside the zone, with no upstream).
# Needs root (port 53 and capture rights), tcpdump, dnsmasq and dig.
# Usage: scripts/make-dns-capture.sh [OUT.pcap]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/testdata/dns/dns-local.pcap}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
cd "$work"
addr=127.0.0.53
if ! python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(('$addr', 53))" 2>/dev/null; then
    addr=127.0.0.54
fi
cat > hosts <<'H'
10.10.0.10 sipserver.cc.iotw.test
10.10.0.20 urs.cc.iotw.test
10.10.0.30 statserver.cc.iotw.test
2001:db8::10 sipserver.cc.iotw.test
H
tcpdump -i lo -U -n -s 0 -w "$work/dns.pcap" "port 53 and host $addr" 2>tcpdump.err &
pids+=($!); dump=$!
for _ in $(seq 50); do grep -q "listening on" tcpdump.err && break; sleep 0.1; done
dnsmasq --keep-in-foreground --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts=hosts \
    --listen-address="$addr" --bind-interfaces --port=53 --pid-file="$work/dnsmasq.pid" \
    --local=/cc.iotw.test/ --domain=cc.iotw.test \
    --cname=sip.cc.iotw.test,sipserver.cc.iotw.test \
    --mx-host=cc.iotw.test,mail.cc.iotw.test,10 \
    --txt-record=cc.iotw.test,"v=spf1 -all","site=london" \
    --srv-host=_sip._udp.cc.iotw.test,sipserver.cc.iotw.test,5060,10,60 \
    --srv-host=_sips._tcp.cc.iotw.test,sipserver.cc.iotw.test,5061,10,60 \
    --ptr-record=10.0.10.10.in-addr.arpa,sipserver.cc.iotw.test \
    2>dnsmasq.err &
pids+=($!)
for _ in $(seq 50); do dig +short +time=1 +tries=1 @"$addr" sipserver.cc.iotw.test >/dev/null 2>&1 && break; sleep 0.1; done
q() { dig +time=2 +tries=1 @"$addr" "$@" >/dev/null || true; }
for transport in +notcp +tcp; do
    q $transport sipserver.cc.iotw.test A
    q $transport sipserver.cc.iotw.test AAAA
    q $transport sip.cc.iotw.test A
    q $transport cc.iotw.test MX
    q $transport cc.iotw.test TXT
    q $transport _sip._udp.cc.iotw.test SRV
    q $transport _sips._tcp.cc.iotw.test SRV
    q $transport -x 10.10.0.10
    q $transport nosuch.cc.iotw.test A
    q $transport www.example.org A
done
sleep 0.5
kill -INT "$dump"; wait "$dump" || true
mv "$work/dns.pcap" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)"
