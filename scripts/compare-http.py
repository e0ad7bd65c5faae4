#!/usr/bin/env python3
"""Compares iotw's HTTP transaction documents with tshark's HTTP dissection, message by message.

For every capture with HTTP (default: ../shared/captures/http*.pcap and testdata/http/*.pcap),
tshark (with out-of-order TCP segments reassembled, as iotw does) lists each request and
response; each is matched to iotw's document by client port and its place on the connection.
The table gives agreement per field: method, URI, status, Content-Type, Content-Length, and
response time (tshark's http.time against event.duration, within 1 ms). Exit status 0 only at
100 % and with every message found.

Usage: scripts/compare-http.py [--iotw PATH] [CAPTURE ...]
"""
import glob
import os
import sys

from peers import ROOT, Agreement, arguments, captures, iotw_documents, run

FIELDS = ["method", "uri", "status", "content_type", "content_length", "response_time"]
EF = ["frame.number", "frame.time_epoch", "tcp.srcport", "tcp.dstport", "http.request.method", "http.request.uri", "http.response.code",
      "http.content_type", "http.content_length_header", "http.time", "http.request_in"]


def mime(v):
    return v.split(";")[0].strip().lower() if v else None


def tshark_messages(path):
    """Requests and responses keyed by (client port, request number on that connection)."""
    cmd = ["tshark", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", path, "-Y", "http", "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in EF:
        cmd += ["-e", f]
    rows, order, by_frame = {}, {}, {}
    for line in run(cmd).splitlines():
        c = dict(zip(EF, line.split("\t") + [""] * len(EF)))
        methods = [m for m in c["http.request.method"].split("|") if m]
        uris = c["http.request.uri"].split("|")
        lengths = c["http.content_length_header"].split("|")
        types = c["http.content_type"].split("|")
        for k, m in enumerate(methods):
            # Pipelined requests in one frame: one entry each.
            port = c["tcp.srcport"]
            n = order[port] = order.get(port, 0) + 1
            rows[(port, n)] = {"method": m, "uri": uris[k] if k < len(uris) else None, "at": float(c["frame.time_epoch"]),
                               "req_type": mime(types[k]) if len(methods) == len(types) else None,
                               "req_length": lengths[k] if len(methods) == len(lengths) and lengths[k] else None}
            by_frame.setdefault(c["frame.number"], []).append((port, n))
        if c["http.response.code"]:
            codes = c["http.response.code"].split("|")
            for k, code in enumerate(codes):
                if code.startswith("1"):
                    continue  # interim: noted on the transaction, not a document of its own
                reqs = by_frame.get(c["http.request_in"].split("|")[k] if c["http.request_in"] else "", [])
                key = next((r for r in reqs if "status" not in rows[r]), None)
                if key is None:
                    # tshark leaves a response unpaired when its request shared a frame with
                    # another (pipelining): it answers the connection's oldest open request, and
                    # its time is counted the way http.time is, frame to frame.
                    port = c["tcp.dstport"]
                    key = next((r for r in sorted(rows) if r[0] == port and "status" not in rows[r]), None)
                    if key is None:
                        continue
                times = c["http.time"].split("|") if c["http.time"] else []
                took = float(times[k]) if k < len(times) else float(c["frame.time_epoch"]) - rows[key]["at"]
                rows[key].update({"status": code, "resp_type": mime(types[k] if k < len(types) else ""),
                                  "resp_length": (lengths[k] or None) if k < len(lengths) else None,
                                  "time": took})
    return rows


def iotw_messages(iotw, path):
    rows, order = {}, {}
    docs = [d for d in iotw_documents(iotw, path) if d["event"]["dataset"] == "http"]
    docs.sort(key=lambda d: (d["source"]["port"], d["@timestamp"]))
    for d in docs:
        h = d["http"]
        q, r = h.get("request"), h.get("response")
        if q is None:
            continue
        port = str(d["source"]["port"])
        n = order[port] = order.get(port, 0) + 1
        row = {"method": q.get("method"), "uri": d.get("url", {}).get("original"),
               "req_type": q.get("mime_type"), "req_length": q.get("headers", {}).get("content-length")}
        if r:
            row.update({"status": str(r.get("status_code")), "resp_type": r.get("mime_type"),
                        "resp_length": r.get("headers", {}).get("content-length"),
                        "time": d["event"].get("duration", 0) / 1e9})
        rows[(port, n)] = row
    return rows


def agree(field, t, o):
    if field == "method":
        return t["method"] == o["method"]
    if field == "uri":
        return t["uri"] == o["uri"]
    if field == "status":
        return t.get("status") == o.get("status")
    if field == "content_type":
        return t["req_type"] == o["req_type"] and t.get("resp_type") == o.get("resp_type")
    if field == "content_length":
        return t["req_length"] == o["req_length"] and t.get("resp_length") == o.get("resp_length")
    if field == "response_time":
        if t.get("time") is None:
            return o.get("time") is None
        return o.get("time") is not None and abs(t["time"] - o["time"]) <= 0.001


def main():
    a = arguments(__doc__)
    caps = a.captures or (captures("http*.pcap") + sorted(glob.glob(os.path.join(ROOT, "testdata", "http", "*.pcap"))))
    table = Agreement(FIELDS, 22)
    table.header(["requests", "responses"])
    for c in caps:
        theirs, ours = tshark_messages(c), iotw_messages(a.iotw, c)
        responses = sum(1 for t in theirs.values() if "status" in t)
        table.capture(os.path.basename(c), theirs, ours, [len(theirs), responses], agree)
    sys.exit(0 if table.finish("HTTP fields against tshark") else 1)


if __name__ == "__main__":
    main()
