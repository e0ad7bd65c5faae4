#!/usr/bin/env bash
# Live capture, checked against tcpdump: sipp makes real SIP calls over loopback while iotw
# (AF_PACKET, kernel filter) and tcpdump (libpcap) capture the same traffic. Every packet
# tcpdump saw must be in iotw's stored flows exactly once; iotw must report its drop counters
# and stop cleanly on SIGINT with everything stored.
# Needs root (AF_PACKET), sipp and tcpdump (scripts/install-test-peers.sh).
# Usage: scripts/live-test.sh [IOTW_BINARY] [CALLS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
iotw=${1:-$root/target/release/iotw}
calls=${2:-300}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "live test: FAILED: $*"; echo "--- iotw stderr"; cat "$work/iotw.err" 2>/dev/null || true; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root for AF_PACKET"
command -v sipp >/dev/null && command -v tcpdump >/dev/null || fail "sipp/tcpdump missing: run scripts/install-test-peers.sh"

filter="udp and (port 5060 or port 5070)"
tcpdump -i lo -U -n -w "$work/oracle.pcap" "$filter" 2>"$work/tcpdump.err" &
pids+=($!); tcpdump_pid=$!
"$iotw" capture -i lo --filter "$filter" --data-dir "$work/data" --no-progress 2>"$work/iotw.err" &
pids+=($!); iotw_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/tcpdump.err" 2>/dev/null && grep -q "capturing on" "$work/iotw.err" 2>/dev/null && break
  sleep 0.1
done
grep -q "capturing on" "$work/iotw.err" || fail "iotw did not start"

cd "$work"
# sipp -bg prints "Background mode - PID=[N]" and exits 99.
uas_out=$(sipp -sn uas -i 127.0.0.1 -p 5070 -bg -nostdin 2>&1 || true)
uas_pid=$(echo "$uas_out" | grep -o 'PID=\[[0-9]*\]' | grep -o '[0-9]\+' || true)
[ -n "$uas_pid" ] || fail "sipp uas did not start: $uas_out"
pids+=("$uas_pid")
sleep 0.3
kill -0 "$uas_pid" 2>/dev/null || fail "sipp uas exited (is port 5070 in use?)"
sipp -sn uac 127.0.0.1:5070 -i 127.0.0.1 -p 5060 -m "$calls" -r 200 -nostdin -timeout 60s >/dev/null 2>&1 || fail "sipp uac failed"
kill "$uas_pid" 2>/dev/null || true
sleep 1

kill -INT "$iotw_pid"
wait "$iotw_pid" || fail "iotw exited with status $? after SIGINT"
kill -INT "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true

oracle=$(tcpdump -r "$work/oracle.pcap" -n 2>/dev/null | wc -l)
stored=$("$iotw" search --data-dir "$work/data" --format json --limit 100000 'event.dataset:flow' \
  | python3 -c 'import sys,json; print(sum(json.loads(l)["network"]["packets"] for l in sys.stdin))')
drops=$(grep -o "kernel dropped [0-9]*" "$work/iotw.err" || true)
echo "live test: $calls calls; tcpdump saw $oracle packets; iotw stored flows with $stored packets; $drops"
grep -q "kernel accepted" "$work/iotw.err" || fail "no kernel counters in the summary"
[ "$oracle" -ge $((calls * 6)) ] || fail "tcpdump saw too few packets ($oracle) for $calls calls"
[ "$stored" -eq "$oracle" ] || fail "iotw stored $stored packets, tcpdump saw $oracle"

# Part 3: rules on a live network that goes quiet. A flatline rule on INVITEs must fire once
# the calls stop, while iotw is still capturing: with no document coming, the rules' clock
# follows the wall clock ([fireman] quiet_lag), not only the next packet.
mkdir -p "$work/rules"
cat > "$work/rules/quiet.yaml" <<'YAML'
name: invites-stopped
type: flatline
threshold: 1
timeframe: {seconds: 3}
filter:
- term: {sip.method: INVITE}
YAML
printf '[fireman]\nrules = ["rules"]\nquiet_lag = "1s"\nstate_file = "quiet.state"\nsave_every = "1s"\n' > "$work/quiet.toml"
rm -f "$work/iotw.err"
"$iotw" capture -c "$work/quiet.toml" -i lo --filter "$filter" --output ndjson --out "$work/quiet.ndjson" \
  --no-progress 2>"$work/iotw.err" &
pids+=($!); iotw_pid=$!
for _ in $(seq 100); do grep -q "capturing on" "$work/iotw.err" 2>/dev/null && break; sleep 0.1; done
uas_out=$(sipp -sn uas -i 127.0.0.1 -p 5070 -bg -nostdin 2>&1 || true)
uas_pid=$(echo "$uas_out" | grep -o 'PID=\[[0-9]*\]' | grep -o '[0-9]\+' || true)
[ -n "$uas_pid" ] || fail "sipp uas did not start: $uas_out"
pids+=("$uas_pid")
sleep 0.3
sipp -sn uac 127.0.0.1:5070 -i 127.0.0.1 -p 5060 -m 20 -r 20 -nostdin -timeout 60s >/dev/null 2>&1 || fail "sipp uac failed"
kill "$uas_pid" 2>/dev/null || true
# Quiet: three seconds of timeframe, one of lag, one of looking; no packet arrives meanwhile.
sleep 7
# The rules' memory is saved while the run goes on (save_every), not only at its end.
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["rules"][0][0] == "invites-stopped"' \
  "$work/quiet.state" || fail "the rules' memory was not saved during the run"
kill -INT "$iotw_pid"
wait "$iotw_pid" || fail "iotw exited with status $? after SIGINT (rules)"
python3 - "$work/quiet.ndjson" <<'PY' || fail "no flatline alert while the network was quiet"
import json, sys
from datetime import datetime
docs = [json.loads(l) for l in open(sys.argv[1])]
ts = lambda d: datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00")).timestamp()
invites = [ts(d) for d in docs if d.get("sip", {}).get("method") == "INVITE" and d["event"]["dataset"] == "sip"]
alerts = [d for d in docs if d["event"].get("kind") == "alert" and d["rule"]["name"] == "invites-stopped"]
assert invites, "no INVITE documents"
fired = [ts(a) for a in alerts if a["fireman"]["state"] == "firing"]
last = max(invites)
# The last INVITE leaves the window 3 s later: the alert carries that time.
assert any(abs(f - (last + 3)) < 0.01 for f in fired), (last, fired)
print(f"live test: flatline fired {fired[-1] - last:.3f} s after the last of {len(invites)} INVITEs, on a quiet network")
PY

# Part 2: two interfaces in one process. A veth pair leads into a network namespace of this
# test's own (a test host at 198.18.0.2, RFC 2544 benchmarking range); datagrams go out over
# loopback and over the veth, and each interface's flow must hold exactly what was sent.
# This part stops iotw with SIGTERM (the first part with SIGINT).
if ip netns add iotw-live-peer 2>/dev/null; then
  cleanup2() { ip netns del iotw-live-peer 2>/dev/null || true; ip link del iotw-live0 2>/dev/null || true; cleanup; }
  trap cleanup2 EXIT
  ip link add iotw-live0 type veth peer name iotw-live1
  ip link set iotw-live1 netns iotw-live-peer
  ip addr add 198.18.0.1/24 dev iotw-live0
  ip link set iotw-live0 up
  ip netns exec iotw-live-peer ip addr add 198.18.0.2/24 dev iotw-live1
  ip netns exec iotw-live-peer ip link set iotw-live1 up
  ip netns exec iotw-live-peer ip link set lo up
  rm -f "$work/iotw.err"
  "$iotw" capture -i lo -i iotw-live0 --filter "udp port 7777" --output ndjson --out "$work/two.ndjson" \
    --no-progress 2>"$work/iotw.err" &
  pids+=($!); iotw_pid=$!
  for _ in $(seq 100); do grep -q "capturing on" "$work/iotw.err" 2>/dev/null && break; sleep 0.1; done
  python3 - <<'PY' || fail "sending datagrams failed"
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7000))
for i in range(500):
    s.sendto(b"lo %d" % i, ("127.0.0.1", 7777))
    s.sendto(b"veth %d" % i, ("198.18.0.2", 7777))
    if i % 50 == 0:
        time.sleep(0.01)
PY
  sleep 1
  kill -TERM "$iotw_pid"
  wait "$iotw_pid" || fail "iotw (two interfaces) exited with status $? after SIGTERM"
  python3 - "$work/two.ndjson" <<'PY' || fail "two-interface flows are wrong"
import json, sys
flows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["event"]["dataset"] == "flow":
        flows[d["destination"]["ip"]] = d["source"]["packets"]
print("live test: two interfaces: packets per destination", flows)
assert flows.get("127.0.0.1") == 500, flows
assert flows.get("198.18.0.2") == 500, flows
PY
  grep -q "iotw-live0: kernel accepted" "$work/iotw.err" || fail "no counters for the second interface"
  echo "live test: 2 passed, 0 failed"
else
  fail "cannot create a network namespace for the two-interface test"
fi

# Part 3: SIP calls over TCP, decoded live: every call sipp completes is one completed call.
tcp_calls=200
"$iotw" capture -i lo --filter "tcp and (port 5080 or port 5081)" --output ndjson --out "$work/tcp.ndjson" \
  --no-progress 2>"$work/iotw.err" &
pids+=($!); iotw_pid=$!
for _ in $(seq 100); do grep -q "capturing on" "$work/iotw.err" 2>/dev/null && break; sleep 0.1; done
cd "$work"
uas_out=$(sipp -sn uas -t t1 -i 127.0.0.1 -p 5081 -bg -nostdin 2>&1 || true)
uas_pid=$(echo "$uas_out" | grep -o 'PID=\[[0-9]*\]' | grep -o '[0-9]\+' || true)
[ -n "$uas_pid" ] || fail "sipp uas (TCP) did not start: $uas_out"
pids+=("$uas_pid")
sleep 0.3
sipp -sn uac -t t1 127.0.0.1:5081 -i 127.0.0.1 -p 5080 -m "$tcp_calls" -r 100 -nostdin -timeout 60s >/dev/null 2>&1 \
  || fail "sipp uac (TCP) failed"
kill "$uas_pid" 2>/dev/null || true
sleep 1
kill -INT "$iotw_pid"
wait "$iotw_pid" || fail "iotw (SIP over TCP) exited with status $?"
completed=$(python3 -c "
import json,sys
print(sum(1 for l in open(sys.argv[1]) if (d:=json.loads(l))['event']['dataset']=='call' and d['call']['state']=='completed'))
" "$work/tcp.ndjson")
echo "live test: SIP over TCP: $tcp_calls calls made, $completed completed call documents"
[ "$completed" -eq "$tcp_calls" ] || fail "expected $tcp_calls completed calls, got $completed"
echo "live test: 3 passed, 0 failed"
