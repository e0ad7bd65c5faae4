#!/usr/bin/env python3
"""SIP documents, iotw against tshark, on the same capture in one run (not a test).

    scripts/bench-sip.py [CAPTURE] [--runs N] [--repeat K] [--plain-ek]

Runs are interleaved (iotw, iotw on one core, tshark, iotw, ...) so that a machine whose
speed drifts during the run affects every side alike; each set gives one ratio and the
medians are reported. Measured per run: wall time, and CPU time (user + system, all threads)
of the process. iotw takes a few hundredths of the time tshark takes, so each of its runs is
K runs back to back (their mean): a machine whose speed swings from second to second then
weighs on both sides over spans of similar length, instead of on one short iotw run.

  iotw:          iotw capture -r CAPTURE --output ndjson --out /dev/null
  iotw, 1 core:  the same under `taskset -c 0` (all its threads on one core)
  tshark:        tshark -r CAPTURE -T ek --disable-protocol sdp > /dev/null
  with --plain-ek, also once: tshark -r CAPTURE -T ek > /dev/null (full SDP dissection; slow)

"SIP traffic" is the sum of the captured frame lengths (what went over the wire, headers
included). Gbit/s per core is that over the CPU time of the one-core runs: a second core
lets iotw render documents beside the decoding, which costs some CPU for a shorter wall time.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402

ROOT = peers.ROOT


def timed(argv):
    """Wall and CPU seconds of one run, output to /dev/null."""
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdout=null, stderr=null)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return wall, usage.ru_utime + usage.ru_stime


def frame_bytes(cap):
    out = subprocess.run(["tshark", "-r", cap, "-T", "fields", "-e", "frame.cap_len"],
                         capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in out.split())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20, help="iotw runs back to back per measurement (mean)")
    ap.add_argument("--plain-ek", action="store_true")
    a = ap.parse_args()
    found = peers.captures("sipp-udp-5000calls.pcapng")
    cap = a.capture or (found[0] if found else sys.exit("no capture given and sipp-udp-5000calls.pcapng not found"))
    peers.require_tshark()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    iotw = [os.path.join(ROOT, "target/release/iotw"), "capture", "-r", cap, "--output", "ndjson",
            "--out", "/dev/null", "--no-progress", "--quiet"]
    tshark = ["tshark", "-r", cap, "-n", "-T", "ek", "--disable-protocol", "sdp"]
    nbytes = frame_bytes(cap)
    print(f"capture {os.path.basename(cap)}: {nbytes} bytes of frames")
    pinned = ["taskset", "-c", "0"] + iotw
    timed(iotw)  # warm the page cache

    def repeated(argv):
        runs = [timed(argv) for _ in range(max(1, a.repeat))]
        return statistics.fmean(w for w, _ in runs), statistics.fmean(c for _, c in runs)

    rows = []
    for i in range(a.runs):
        iw, ic = repeated(iotw)
        _, pc = repeated(pinned)
        tw, tc = timed(tshark)
        rows.append((iw, ic, tw, tc, pc))
        print(f"run {i + 1}: iotw {iw * 1e3:7.1f} ms wall {ic * 1e3:7.1f} ms cpu, one core {pc * 1e3:7.1f} ms cpu | "
              f"tshark {tw:6.2f} s wall {tc:6.2f} s cpu | ratio {tw / iw:5.1f}x wall, {tc / pc:5.1f}x cpu")
    med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
    ratio_wall = statistics.median(r[2] / r[0] for r in rows)
    ratio_cpu = statistics.median(r[3] / r[4] for r in rows)
    print(f"median iotw: {med(0) * 1e3:.1f} ms wall, {med(1) * 1e3:.1f} ms cpu on all cores "
          f"({nbytes * 8 / med(0) / 1e9:.2f} Gbit/s wall); one core: {med(4) * 1e3:.1f} ms cpu "
          f"= {nbytes * 8 / med(4) / 1e9:.2f} Gbit/s of SIP per core (best run {nbytes * 8 / min(r[4] for r in rows) / 1e9:.2f})")
    print(f"median tshark -T ek --disable-protocol sdp: {med(2):.2f} s wall, {med(3):.2f} s cpu")
    print(f"iotw/tshark throughput: {ratio_wall:.1f}x (wall), {ratio_cpu:.1f}x (cpu, iotw on one core), "
          f"median of {a.runs} sets (iotw: mean of {max(1, a.repeat)} runs in each)")
    if a.plain_ek:
        tw, tc = timed(["tshark", "-r", cap, "-n", "-T", "ek"])
        iw, ic = timed(iotw)
        print(f"tshark -T ek (SDP on), one run: {tw:.2f} s wall; iotw next to it {iw * 1e3:.1f} ms: {tw / iw:.0f}x")


if __name__ == "__main__":
    main()
