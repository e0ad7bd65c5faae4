#!/usr/bin/env python3
"""HTTP and TLS documents, iotw against tshark, on the same capture in one run (not a test).

    scripts/bench-web.py [--capture FILE --keys FILE] [--runs N]

The capture (default: made by scripts/make-web-capture.sh into target/bench/, 100 rounds of
HTTP and HTTPS over loopback) is decoded with its key log by both, interleaved run by run:

  iotw:    iotw capture -r CAPTURE --tls-keylog KEYS --output ndjson --out /dev/null
  tshark:  tshark -r CAPTURE -o tls.keylog_file:KEYS -T ek > /dev/null

Reports medians: wall time, iotw's documents per second (HTTP transactions, TLS sessions,
flows), and the throughput ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402


def timed(argv):
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        subprocess.run(argv, stdout=null, stderr=null, check=True)
        return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--capture")
    ap.add_argument("--keys")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iotw", default=os.path.join(peers.ROOT, "target", "release", "iotw"))
    a = ap.parse_args()
    cap, keys = a.capture, a.keys
    if not cap:
        d = os.path.join(peers.ROOT, "target", "bench")
        os.makedirs(d, exist_ok=True)
        cap, keys = os.path.join(d, "web.pcap"), os.path.join(d, "web.keys")
        if not os.path.exists(cap):
            subprocess.run([os.path.join(peers.ROOT, "scripts", "make-web-capture.sh"), cap, keys, "100"], check=True)
    iotw = [a.iotw, "capture", "-r", cap, "--tls-keylog", keys, "--output", "ndjson", "--no-progress", "--quiet"]
    docs = [json.loads(l) for l in peers.run(iotw).splitlines()]
    kinds = {}
    for d in docs:
        kinds[d["event"]["dataset"]] = kinds.get(d["event"]["dataset"], 0) + 1
    packets = int(peers.run(["capinfos", "-c", "-M", "-T", cap]).splitlines()[-1].split("\t")[-1]) \
        if subprocess.run(["which", "capinfos"], capture_output=True).returncode == 0 else None
    print(f"capture {os.path.basename(cap)}: {os.path.getsize(cap)} bytes, {packets} packets; iotw documents {kinds}")
    ours, theirs = [], []
    for i in range(a.runs):
        ours.append(timed(iotw[:-1] + ["--out", "/dev/null", "--quiet"]))
        theirs.append(timed(["tshark", "-r", cap, "-o", f"tls.keylog_file:{keys}", "-T", "ek"]))
        print(f"run {i + 1}: iotw {ours[-1] * 1000:8.1f} ms | tshark {theirs[-1]:6.2f} s | ratio {theirs[-1] / ours[-1]:6.1f}x")
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"median iotw: {o * 1000:.1f} ms ({len(docs) / o:,.0f} documents/s); tshark -T ek: {t:.2f} s"
          f"{f' ({packets / t:,.0f} packets/s)' if packets else ''}")
    print(f"iotw/tshark throughput: {statistics.median(x / y for x, y in zip(theirs, ours)):.1f}x (median of {a.runs} runs)")


if __name__ == "__main__":
    main()
