#!/usr/bin/env python3
"""Decryption checked against tshark: for each TLS capture with secrets (a key log file, or
pcapng Decryption Secrets Blocks), the HTTP requests and responses tshark shows once it
decrypts (`-o tls.keylog_file:...`) must be in iotw's documents (`--tls-keylog ...`): method,
URI and status per connection, in order (iotw also reports responses whose body ends with the
connection, which tshark leaves out); and each stream's decrypted bytes (`iotw follow --tls-keylog`)
must equal `tshark -q -z follow,tls,raw,N`.

Usage: scripts/compare-https.py [--iotw PATH]
"""
import os
import sys

from peers import ROOT, arguments, iotw_documents, run

SHARED = os.path.join(ROOT, "..", "shared", "captures")


def cases():
    """(capture, key log or None) pairs: the shared captures (else their copies in testdata),
    and the project's own capture of the suites they lack."""
    base = SHARED if os.path.isdir(SHARED) else os.path.join(ROOT, "testdata", "captures")
    keys = os.path.join(base, "keys")
    return [(os.path.join(base, "tls12-chacha20poly1305.pcap"), os.path.join(keys, "tls12-chacha20poly1305.keys")),
            (os.path.join(base, "tls13-rfc8446.pcap"), os.path.join(keys, "tls13-rfc8446.keys")),
            (os.path.join(base, "tls12-dsb.pcapng"), None),
            # Made here (scripts/make-tls-ciphers-capture.sh): CBC with HMAC (TLS 1.0-1.2, with
            # and without encrypt-then-MAC), AES-CCM and CCM_8 (TLS 1.2 and 1.3).
            (os.path.join(ROOT, "testdata", "tls", "tls-ciphers.pcap"),
             os.path.join(ROOT, "testdata", "tls", "tls-ciphers.keys"))]


def tshark_http(path, keylog):
    cmd = ["tshark", "-r", path, "-Y", "http", "-T", "fields", "-E", "occurrence=f",
           "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "http.request.method", "-e", "http.request.uri",
           "-e", "http.response.code"]
    if keylog:
        cmd[1:1] = ["-o", f"tls.keylog_file:{keylog}"]
    reqs, resps = {}, {}
    for line in run(cmd).splitlines():
        sport, dport, method, uri, code = (line.split("\t") + [""] * 5)[:5]
        if method:
            reqs.setdefault(sport, []).append((method, uri))
        if code:
            resps.setdefault(dport, []).append(code)
    return reqs, resps


def iotw_http(iotw, path, keylog):
    args = ["capture", "-r", path, "--output", "ndjson", "--no-progress", "--quiet"]
    if keylog:
        args += ["--tls-keylog", keylog]
    docs = [__import__("json").loads(l) for l in run([iotw, *args]).splitlines()]
    reqs, resps = {}, {}
    for d in sorted((d for d in docs if d["event"]["dataset"] == "http"), key=lambda d: d["@timestamp"]):
        port = str(d["source"]["port"])
        q, r = d["http"].get("request"), d["http"].get("response")
        if q:
            reqs.setdefault(port, []).append((q["method"], d["url"]["original"]))
        if r:
            resps.setdefault(port, []).append(str(r["status_code"]))
    return reqs, resps


def tshark_follow(path, keylog, n):
    cmd = ["tshark", "-r", path, "-q", "-z", f"follow,tls,raw,{n}"]
    if keylog:
        cmd[1:1] = ["-o", f"tls.keylog_file:{keylog}"]
    return follow_bytes(run(cmd))


def follow_bytes(text):
    """Both directions' bytes from follow's hex output (the responder's lines indented)."""
    out = {0: b"", 1: b""}
    body = text.split("=" * 67)
    lines = body[1].splitlines() if len(body) > 1 else []
    for line in lines:
        if not line.strip() or line.startswith(("Follow", "Filter", "Node")):
            continue
        side = 1 if line.startswith("\t") else 0
        hexs = line.strip()
        if all(c in "0123456789abcdef" for c in hexs):
            out[side] += bytes.fromhex(hexs)
    return out


def main():
    a = arguments(__doc__)
    ok = True
    print(f"{'capture':28} {'requests':>9} {'responses':>9} {'streams':>8}  result")
    for path, keylog in cases():
        name = os.path.basename(path)
        t_req, t_resp = tshark_http(path, keylog)
        o_req, o_resp = iotw_http(a.iotw, path, keylog)
        # Every request tshark shows, and every response it shows (tshark leaves out a response
        # whose body runs until the connection closes, which iotw reports).
        extra = sum(len(o_resp.get(p, [])) - len(t_resp.get(p, [])) for p in o_resp)
        same = t_req == o_req and all(o_resp.get(p, [])[:len(v)] == v for p, v in t_resp.items()) and t_req
        if not same:
            print(f"    {name}: tshark requests {t_req} responses {t_resp}\n    iotw requests {o_req} responses {o_resp}")
        streams = int(run(["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream"]).split()[-1]) + 1
        followed = 0
        for n in range(streams):
            theirs = tshark_follow(path, keylog, n)
            args = ["follow", "-r", path, "--stream", str(n), "--tls"]
            if keylog:
                args += ["--tls-keylog", keylog]
            ours = follow_bytes(run([a.iotw, *args]))
            if theirs == ours and (theirs[0] or theirs[1]):
                followed += 1
            else:
                print(f"    {name} stream {n}: tshark {len(theirs[0])}+{len(theirs[1])} bytes, "
                      f"iotw {len(ours[0])}+{len(ours[1])} bytes, {'equal' if theirs == ours else 'DIFFER'}")
        good = bool(same) and followed == streams
        ok &= good
        n_req = sum(len(v) for v in t_req.values())
        n_resp = sum(len(v) for v in t_resp.values())
        more = f" (+{extra} responses tshark does not show)" if extra > 0 else ""
        print(f"{name:28} {n_req:>9} {n_resp:>9} {followed:>4}/{streams:<3}  {'agree' if good else 'DIFFER'}{more}")
    print("decryption: HTTP and followed plaintext agree with tshark" if ok else "decryption: DIFFER from tshark")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
