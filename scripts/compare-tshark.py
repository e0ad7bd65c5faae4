#!/usr/bin/env python3
"""Compares iotw with tshark on real captures.

1. Conversations: per TCP/UDP conversation, network.community_id against the Community ID
   reference implementation (PyPI `communityid`), and frames and bytes each way from iotw's flow
   documents against `tshark -q -z conv,tcp` / `-z conv,udp` (frames exactly; bytes exactly
   against tshark's per-frame `frame.len`, and rendered as tshark renders them, e.g. "6186 kB").
2. Streams: every TCP stream N, `iotw follow` against `tshark -q -z follow,tcp,raw,N`, per
   direction, byte for byte; tshark's "[N bytes missing in capture file]" marker counts as a
   gap of N, which iotw reports as a gap.

Usage: scripts/compare-tshark.py [--iotw PATH] [CAPTURE ...]   (default: ../shared/captures/*, else testdata/captures/*)
Exit status 0 only when everything agrees.
"""
import collections
import os
import re
import sys

from peers import arguments, captures, iotw_documents, run




def split_ep(s):
    addr, port = s.rsplit(":", 1)
    return addr.strip("[]"), int(port)


def tshark_size(n):
    """tshark 4's format_size(): SI prefixes, integer division."""
    if n < 10000:
        return f"{n} bytes"
    for unit, div in (("kB", 1000), ("MB", 1000**2), ("GB", 1000**3), ("TB", 1000**4)):
        if n // div < 10000:
            return f"{n // div} {unit}"
    return f"{n // 1000**5} PB"


CONV_ROW = re.compile(
    r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+ \S+)\s+(\d+)\s+(\d+ \S+)\s+(\d+)\s+(\d+ \S+)"
)


def tshark_convs(path, proto):
    out = run(["tshark", "-r", path, "-q", "-z", f"conv,{proto}"])
    convs = collections.defaultdict(lambda: [0, "", 0, ""])
    for line in out.splitlines():
        m = CONV_ROW.match(line.strip())
        if not m:
            continue
        a, b = split_ep(m.group(1)), split_ep(m.group(2))
        # "<-" is B to A, "->" is A to B.
        key = (proto, a, b)
        convs[key] = [int(m.group(5)), m.group(6), int(m.group(3)), m.group(4)]
    return convs


def tshark_exact_bytes(path, proto):
    fields = ["frame.len", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", f"{proto}.srcport", f"{proto}.dstport"]
    cmd = ["tshark", "-r", path, "-Y", proto, "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    sums = collections.Counter()
    for line in run(cmd).splitlines():
        c = line.split("\t")
        if len(c) < 7 or not c[5]:
            continue
        src = c[1] or c[3]
        dst = c[2] or c[4]
        sums[((src, int(c[5])), (dst, int(c[6])))] += int(c[0])
    return sums


def reference_community_id(d):
    """network.community_id as Corelight's reference implementation computes it."""
    import communityid

    cid = communityid.CommunityID()
    t = d["network"]["transport"]
    s, r = d["source"], d["destination"]
    if t == "tcp":
        tup = communityid.FlowTuple.make_tcp(s["ip"], r["ip"], s["port"], r["port"])
    elif t == "udp":
        tup = communityid.FlowTuple.make_udp(s["ip"], r["ip"], s["port"], r["port"])
    else:
        return None
    return cid.calc(tup)


def iotw_flows(iotw, path, problems):
    flows = collections.defaultdict(lambda: [0, 0, 0, 0])
    for d in iotw_documents(iotw, path):
        if d.get("event", {}).get("dataset") != "flow" or not d.get("flow", {}).get("final"):
            continue
        want = reference_community_id(d)
        if want is not None and d["network"]["community_id"] != want:
            problems.append(f"community_id {d['network']['community_id']} != reference {want}")
        t = d["network"]["transport"]
        if t not in ("tcp", "udp"):
            continue
        s = (d["source"]["ip"], d["source"]["port"])
        r = (d["destination"]["ip"], d["destination"]["port"])
        f = flows[(t, s, r)]
        f[0] += d["source"]["packets"]
        f[1] += d["source"]["bytes"]
        f[2] += d["destination"]["packets"]
        f[3] += d["destination"]["bytes"]
    return flows


def compare_convs(iotw, path):
    problems, compared = [], 0
    ours = iotw_flows(iotw, path, problems)
    for proto in ("tcp", "udp"):
        theirs = tshark_convs(path, proto)
        exact = tshark_exact_bytes(path, proto)
        seen = set()
        for (p, a, b), (fa, ba_txt, fb, bb_txt) in theirs.items():
            compared += 1
            if (p, a, b) in ours:
                o = ours[(p, a, b)]
                ab = (o[0], o[1], o[2], o[3])
                seen.add((p, a, b))
            elif (p, b, a) in ours:
                o = ours[(p, b, a)]
                ab = (o[2], o[3], o[0], o[1])
                seen.add((p, b, a))
            else:
                problems.append(f"{proto} {a}<->{b}: tshark has it, iotw does not")
                continue
            want = (fa, exact[(a, b)], fb, exact[(b, a)])
            if ab != want or tshark_size(ab[1]) != ba_txt or tshark_size(ab[3]) != bb_txt:
                problems.append(f"{proto} {a}<->{b}: iotw {ab}, tshark {want} ({ba_txt}, {bb_txt})")
        for k in ours:
            if k[0] == proto and k not in seen:
                problems.append(f"{proto} {k[1]}<->{k[2]}: iotw has it, tshark does not")
    return compared, problems


MISSING = re.compile(r"^\[(\d+) bytes missing in capture file\]\x00$")


def tokens(chunks):
    """Per direction: data runs merged, gaps kept as ('gap', n)."""
    out = []
    for c in chunks:
        if isinstance(c, int):
            out.append(("gap", c))
        elif out and out[-1][0] == "data":
            out[-1] = ("data", out[-1][1] + c)
        else:
            out.append(("data", c))
    return out


def parse_follow(text, ours):
    streams = []
    cur = None
    for line in text.splitlines():
        if line.startswith("Node 0: "):
            cur = {"nodes": [line[8:].strip()], "dirs": {0: [], 1: []}}
            streams.append(cur)
        elif line.startswith("Node 1: ") and cur:
            cur["nodes"].append(line[8:].strip())
        elif cur is not None and line and not line.startswith("=") and not line.startswith("Follow:") and not line.startswith("Filter:"):
            d = 1 if line.startswith("\t") else 0
            h = line.strip()
            m = re.match(r"^\[(\d+) bytes missing\]$", h) if ours else None
            if m:
                cur["dirs"][d].append(int(m.group(1)))
                continue
            b = bytes.fromhex(h)
            m2 = MISSING.match(b.decode("latin-1")) if not ours else None
            cur["dirs"][d].append(int(m2.group(1)) if m2 else b)
    return streams


def keyed(stream):
    a, b = split_ep(stream["nodes"][0]), split_ep(stream["nodes"][1])
    return {a: tokens(stream["dirs"][0]), b: tokens(stream["dirs"][1])}, frozenset([a, b])


def compare_streams(iotw, path):
    n = len([l for l in run(["tshark", "-r", path, "-q", "-z", "conv,tcp"]).splitlines() if "<->" in l])
    if n == 0:
        return 0, []
    ours = {}
    for s in parse_follow(run([iotw, "follow", "-r", path]), True):
        by, k = keyed(s)
        ours.setdefault(k, []).append(by)
    problems = []
    idx = sorted({int(x) for x in run(["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream"]).split() if x})
    for i in idx:
        s = parse_follow(run(["tshark", "-r", path, "-q", "-z", f"follow,tcp,raw,{i}"]), False)
        if not s:
            continue
        by, k = keyed(s[0])
        cands = ours.get(k, [])
        if not any(all(c.get(ep, []) == toks for ep, toks in by.items()) for c in cands):
            problems.append(f"stream {i} {sorted(k)}: iotw's bytes differ from tshark's")
    return len(idx), problems


def main():
    a = arguments(__doc__)
    try:
        import communityid  # noqa: F401
    except ImportError:
        sys.exit("the communityid package is missing: run scripts/install-test-peers.sh")
    if not os.path.exists(a.iotw):
        sys.exit(f"{a.iotw} is missing: build it first (cargo build --release)")
    caps = a.captures or captures("*.pcap*")
    failed = 0
    print(f"{'capture':32} {'conversations':>14} {'tcp streams':>12}  result")
    for c in caps:
        nc, pc = compare_convs(a.iotw, c)
        ns, ps = compare_streams(a.iotw, c)
        ok = not pc and not ps
        failed += not ok
        print(f"{os.path.basename(c):32} {nc:>14} {ns:>12}  {'agree' if ok else 'DIFFER'}")
        for p in pc + ps:
            print(f"    {p}")
    print(f"{len(caps) - failed} of {len(caps)} captures agree with tshark")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
