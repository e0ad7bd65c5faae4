#!/usr/bin/env python3
"""Compares iotw's DNS documents with tshark's DNS dissection, response by response.

For every response tshark shows (default: testdata/dns/dns-local.pcap, made by
scripts/make-dns-capture.sh with dnsmasq and dig over UDP and TCP, and the shared
dns-ooo.pcap), iotw must have a document for the same client port and id with the same question
name and type, response code, answer count, and record data of every section (A, AAAA, CNAME,
MX, SRV, PTR, TXT); the response time must agree within 1 microsecond. Exit status 0 only at 100 %.

Usage: scripts/compare-dns.py [--iotw PATH] [CAPTURE ...]
"""
import os
import sys
from decimal import Decimal

from peers import ROOT, arguments, captures, iotw_documents, run

AGG = "|"
TYPES = {"1": "A", "28": "AAAA", "5": "CNAME", "15": "MX", "16": "TXT", "33": "SRV", "12": "PTR", "2": "NS", "6": "SOA"}
RCODES = {"0": "NOERROR", "1": "FORMERR", "2": "SERVFAIL", "3": "NXDOMAIN", "4": "NOTIMP", "5": "REFUSED"}
FIELDS = ["question", "response_code", "answers_count", "answers", "response_time"]


def tshark_responses(path):
    ef = ["udp.dstport", "tcp.dstport", "dns.id", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
          "dns.count.answers", "dns.time", "dns.a", "dns.aaaa", "dns.cname", "dns.mx.preference",
          "dns.mx.mail_exchange", "dns.srv.priority", "dns.srv.weight", "dns.srv.port", "dns.srv.target",
          "dns.ptr.domain_name", "dns.txt"]
    # Out-of-order TCP segments reassembled, as iotw does.
    cmd = ["tshark", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "dns.flags.response == 1", "-T", "fields", "-E", "occurrence=a",
           "-E", f"aggregator={AGG}"]
    for f in ef:
        cmd += ["-e", f]
    out = {}
    for line in run(cmd).splitlines():
        c = line.split("\t")
        v = {f: (c[i].split(AGG) if i < len(c) and c[i] else []) for i, f in enumerate(ef)}
        port = (v["udp.dstport"] or v["tcp.dstport"])[0]
        answers = set()
        for t, k in (("A", "dns.a"), ("AAAA", "dns.aaaa"), ("CNAME", "dns.cname"), ("PTR", "dns.ptr.domain_name")):
            answers |= {(t, x) for x in v[k]}
        answers |= {("MX", f"{p} {n}") for p, n in zip(v["dns.mx.preference"], v["dns.mx.mail_exchange"])}
        answers |= {("SRV", f"{p} {w} {po} {t}") for p, w, po, t in
                    zip(v["dns.srv.priority"], v["dns.srv.weight"], v["dns.srv.port"], v["dns.srv.target"])}
        if v["dns.txt"]:
            answers.add(("TXT", " ".join(v["dns.txt"])))
        time = v["dns.time"][0] if v["dns.time"] else None
        out[(port, int(v["dns.id"][0], 16))] = {
            "question": (v["dns.qry.name"][0], TYPES.get(v["dns.qry.type"][0], v["dns.qry.type"][0])),
            "response_code": RCODES.get(v["dns.flags.rcode"][0], v["dns.flags.rcode"][0]),
            "answers_count": int(v["dns.count.answers"][0]),
            "answers": answers,
            "response_time": int(Decimal(time) * 10**9) if time else None,
        }
    return out


def iotw_responses(iotw, path):
    out = {}
    for d in iotw_documents(iotw, path):
        if d["event"]["dataset"] != "dns" or "response_code" not in d["dns"]:
            continue
        dns = d["dns"]
        q = dns.get("question", {})
        # tshark's fields hold the records of every section.
        records = dns.get("answers", []) + dns.get("authorities", []) + dns.get("additionals", [])
        answers = {(a["type"], a["data"]) for a in records if a["type"] in ("A", "AAAA", "CNAME", "MX", "SRV", "PTR", "TXT")}
        out[(str(d["source"]["port"]), dns["id"])] = {
            "question": (q.get("name"), q.get("type")),
            "response_code": dns["response_code"],
            "answers_count": dns["answers_count"],
            "answers": answers,
            "response_time": d["event"].get("duration"),
        }
    return out


def main():
    a = arguments(__doc__)
    caps = a.captures or [os.path.join(ROOT, "testdata", "dns", "dns-local.pcap")] + captures("dns-ooo.pcap")
    ok = True
    print(f"{'capture':24} {'responses':>9}  " + " ".join(f"{f[:13]:>13}" for f in FIELDS))
    for c in caps:
        theirs, ours = tshark_responses(c), iotw_responses(a.iotw, c)
        agree = {f: 0 for f in FIELDS}
        for key, t in theirs.items():
            o = ours.get(key)
            for f in FIELDS:
                if o is None:
                    continue
                if f == "response_time":
                    same = (t[f] is None and o[f] is None) or (t[f] is not None and o[f] is not None
                                                                  and abs(t[f] - o[f]) <= 1000)
                else:
                    same = t[f] == o[f]
                if same:
                    agree[f] += 1
                else:
                    print(f"    {os.path.basename(c)} {key} {f}: tshark {t[f]!r} iotw {o[f]!r}")
            if o is None:
                print(f"    {os.path.basename(c)} {key}: not in iotw's documents")
        extra = set(ours) - set(theirs)
        if extra:
            print(f"    {os.path.basename(c)}: iotw has responses tshark does not: {sorted(extra)}")
        n = len(theirs)
        ok &= n > 0 and all(agree[f] == n for f in FIELDS) and not extra
        cells = " ".join(f"{100.0 * agree[f] / max(n, 1):>12.2f}%" for f in FIELDS)
        print(f"{os.path.basename(c):24} {n:>9}  {cells}")
    print("DNS fields: 100 % agreement with tshark" if ok else "DNS fields: DIFFER from tshark")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
