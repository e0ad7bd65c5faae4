#!/usr/bin/env python3
"""Compares iotw's SIP message documents with tshark's SIP/SDP dissection, message by message.

For every capture that carries SIP (default: ../shared/captures/sip.pcapng and sipp-*, and
testdata/sip/sips-local.pcap, SIP over TLS decrypted by both with its key log), both sides list the SIP messages in frame order; the script prints an agreement table per field:
method/status, Call-ID, CSeq number and method, From/To tags, top Via branch, User-Agent (or
Server), Content-Length, SDP media ports and payload types. Exit status 0 only at 100 %.

Usage: scripts/compare-sip.py [--iotw PATH] [CAPTURE ...]
"""
import os
import sys

from peers import ROOT, arguments, captures, iotw_documents, run, tshark_keylog

AGG = "|"
FIELDS = ["kind", "call_id", "cseq", "from_tag", "to_tag", "branch", "user_agent", "content_length", "media_ports", "payload_types"]



def tshark_messages(path):
    ef = ["sip.Method", "sip.Status-Code", "sip.Call-ID", "sip.CSeq.seq", "sip.CSeq.method", "sip.from.tag",
          "sip.to.tag", "sip.Via.branch", "sip.User-Agent", "sip.Server", "sip.Content-Length", "sdp.media"]
    cmd = ["tshark", "-r", path, *tshark_keylog(path), "-Y", "sip", "-T", "fields", "-E", "occurrence=a",
           "-E", f"aggregator={AGG}"]
    for f in ef:
        cmd += ["-e", f]
    out = []
    for line in run(cmd).splitlines():
        c = line.split("\t")
        vals = {f: (c[i].split(AGG) if i < len(c) and c[i] else []) for i, f in enumerate(ef)}
        n = len(vals["sip.CSeq.method"])
        for k in range(n):
            def pick(f, only_if_one=False):
                v = vals[f]
                if len(v) == n:
                    return v[k]
                if n == 1 and v:
                    return v[0]
                return None
            method, status = pick("sip.Method"), pick("sip.Status-Code")
            media = [m.split() for m in vals["sdp.media"]] if n == 1 else []
            out.append({
                "kind": method or status,
                "call_id": pick("sip.Call-ID"),
                "cseq": f"{pick('sip.CSeq.seq')} {pick('sip.CSeq.method')}",
                "from_tag": pick("sip.from.tag"),
                "to_tag": pick("sip.to.tag"),
                "branch": pick("sip.Via.branch"),
                "user_agent": pick("sip.User-Agent") or pick("sip.Server"),
                "content_length": pick("sip.Content-Length"),
                "media_ports": ",".join(m[1] for m in media if len(m) > 1) or None,
                "payload_types": ";".join(",".join(m[3:]) for m in media) or None,
            })
    return out


def iotw_messages(iotw, path):
    out = []
    for d in iotw_documents(iotw, path):
        if d["event"]["dataset"] != "sip":
            continue
        s = d["sip"]
        media = s.get("sdp", {}).get("media", [])
        out.append({
            "kind": s.get("method") or str(s.get("code")),
            "call_id": s.get("call_id"),
            "cseq": f"{s.get('cseq', {}).get('code')} {s.get('cseq', {}).get('method')}",
            "from_tag": s.get("from", {}).get("tag"),
            "to_tag": s.get("to", {}).get("tag"),
            "branch": s.get("via", {}).get("branch"),
            "user_agent": s.get("user_agent", {}).get("original"),
            "content_length": str(s.get("content_length")) if "content_length" in s else None,
            "media_ports": ",".join(str(m.get("port")) for m in media) or None,
            "payload_types": ";".join(",".join(m.get("formats", [])) for m in media) or None,
        })
    return out


def compare_calls(iotw, path):
    """Each completed call's setup time, answer delay and talk duration against the frame
    times tshark shows for its INVITE, first 18x, 200 and BYE (within 1 microsecond)."""
    from decimal import Decimal

    out = run(["tshark", "-r", path, *tshark_keylog(path), "-Y", "sip", "-T", "fields", "-e", "frame.time_epoch", "-e", "sip.Call-ID",
               "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.CSeq.method"])
    t = {}
    for line in out.splitlines():
        ts, cid, method, code, cmethod = (line.split("\t") + [""] * 5)[:5]
        ns = int(Decimal(ts) * 10**9)
        d = t.setdefault(cid, {})
        if method == "INVITE":
            d.setdefault("invite", ns)
        if cmethod == "INVITE" and code and 180 <= int(code) < 200:
            d.setdefault("ringing", ns)
        if cmethod == "INVITE" and code == "200":
            d.setdefault("answer", ns)
        if method == "BYE":
            d.setdefault("bye", ns)
    invites = sum(1 for d in t.values() if "invite" in d and "bye" in d)
    agree = total = 0
    for d in iotw_documents(iotw, path):
        if d["event"]["dataset"] != "call" or d["call"]["state"] != "completed":
            continue
        total += 1
        c, x = d["call"], t.get(d["call"]["id"], {})
        try:
            want = (x["ringing"] - x["invite"], x["answer"] - x["invite"], x["bye"] - x["answer"])
        except KeyError:
            continue
        got = (c.get("setup_time"), c.get("answer_delay"), c.get("talk_duration"))
        agree += all(g is not None and abs(g - w) <= 1000 for g, w in zip(got, want))
    return invites, total, agree


def main():
    a = arguments(__doc__)
    caps = a.captures or captures("sip.pcapng", "sipp-*") + [os.path.join(ROOT, "testdata", "sip", "sips-local.pcap")]
    total = {f: [0, 0] for f in FIELDS}
    bad = 0
    print(f"{'capture':30} {'messages':>9}  " + " ".join(f"{f[:12]:>12}" for f in FIELDS))
    for c in caps:
        theirs, ours = tshark_messages(c), iotw_messages(a.iotw, c)
        row = {f: [0, 0] for f in FIELDS}
        if len(theirs) != len(ours):
            print(f"{os.path.basename(c):30} tshark {len(theirs)} messages, iotw {len(ours)}: DIFFER")
            bad += 1
        for t, o in zip(theirs, ours):
            for f in FIELDS:
                row[f][0] += 1
                if t[f] == o[f]:
                    row[f][1] += 1
                elif bad < 20:
                    print(f"    {os.path.basename(c)} {f}: tshark {t[f]!r} iotw {o[f]!r}")
                    bad += 1
        for f in FIELDS:
            total[f][0] += row[f][0]
            total[f][1] += row[f][1]
        cells = " ".join(f"{100.0 * row[f][1] / max(row[f][0], 1):>11.2f}%" for f in FIELDS)
        print(f"{os.path.basename(c):30} {len(theirs):>9}  {cells}")
    cells = " ".join(f"{100.0 * total[f][1] / max(total[f][0], 1):>11.2f}%" for f in FIELDS)
    print(f"{'all':30} {total['kind'][0]:>9}  {cells}")
    ok = bad == 0 and all(v[0] == v[1] for v in total.values())
    print("SIP fields: 100 % agreement with tshark" if ok else "SIP fields: DIFFER from tshark")
    print(f"{'capture':30} {'tshark calls':>12} {'iotw completed':>15} {'times agree':>12}")
    for c in caps:
        if not os.path.basename(c).startswith(("sipp-", "sips-")):
            continue
        want, got, agree = compare_calls(a.iotw, c)
        good = want == got == agree
        ok &= good
        print(f"{os.path.basename(c):30} {want:>12} {got:>15} {agree:>12}  {'agree' if good else 'DIFFER'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
