#!/usr/bin/env python3
"""Shipping, end to end: each capture replayed into a real OpenSearch-speaking server
(osmem-server, from scripts/install-test-peers.sh) must leave there exactly the documents
`iotw capture --output ndjson` makes of it, kind by kind, each id once.

    scripts/compare-elastic.py [CAPTURE ...]   (default: sipp-udp-5000calls.pcapng)

Also prints the end-to-end rate into the server. Exit status 0 only when every count agrees.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402

ROOT = peers.ROOT


def osmem():
    binary = os.environ.get("OSMEM_SERVER_BIN")
    if not binary:
        try:
            import osmem_server
        except ImportError:
            sys.exit("osmem-server is missing: run scripts/install-test-peers.sh")
        binary = osmem_server.resolve_binary()
    p = subprocess.Popen([binary, "-addr", "127.0.0.1:0", "-no-stdin-watch", "-no-ja", "-parent-pid", str(os.getpid())],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    hello = json.loads(p.stdout.readline())
    return p, hello["url"]


def get(url):
    with urllib.request.urlopen(url) as r:
        return json.load(r)


def stored(url):
    """Documents in the iotw indices by event.dataset, and the number of distinct ids."""
    kinds, ids = collections.Counter(), set()
    indices = [i["index"] for i in get(f"{url}/_cat/indices/iotw-*?format=json")]
    for index in indices:
        # One page per index (each holds < 10,000 documents here), to read every _id.
        total = get(f"{url}/{index}/_count")["count"]
        hits = []
        after = None
        while len(hits) < total:
            body = {"size": 5000, "sort": [{"_id": "asc"}], "_source": ["event.dataset"]}
            if after:
                body["search_after"] = after
            req = urllib.request.Request(f"{url}/{index}/_search", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as r:
                page = json.load(r)["hits"]["hits"]
            if not page:
                break
            hits += page
            after = page[-1]["sort"]
        for h in hits:
            kinds[h["_source"]["event"]["dataset"]] += 1
            ids.add((index, h["_id"]))
    return kinds, len(ids), sum(kinds.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="*")
    a = ap.parse_args()
    # The 5000-call benchmark capture when the shared captures are next to the checkout, else
    # the committed SIP captures.
    caps = a.captures or peers.captures("sipp-udp-5000calls.pcapng") or peers.captures("sip*.pcap*")
    if not caps:
        sys.exit("no capture found")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    iotw = os.path.join(ROOT, "target/release/iotw")
    ok = True
    for cap in caps:
        want = collections.Counter(d["event"]["dataset"] for d in peers.iotw_documents(iotw, cap))
        server, url = osmem()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = os.path.join(tmp, "iotw.toml")
                with open(cfg, "w") as f:
                    f.write(f'[output]\nkind = "elasticsearch"\ndata_dir = "{tmp}/data"\n'
                            f'[elasticsearch]\nurls = ["{url}"]\n')
                start = time.monotonic()
                p = subprocess.run([iotw, "capture", "-c", cfg, "-r", cap, "--no-progress"],
                                   capture_output=True, text=True)
                took = time.monotonic() - start
                if p.returncode != 0:
                    print(p.stderr)
                    ok = False
                    continue
            got, distinct, total = stored(url)
        finally:
            server.kill()
        name = os.path.basename(cap)
        print(f"{name}: {sum(want.values())} documents by --output ndjson, {total} in the server "
              f"({distinct} distinct ids); {total / took:.0f} documents/s end to end into osmem")
        for kind in sorted(set(want) | set(got)):
            mark = "ok" if want[kind] == got[kind] else "DIFFERENT"
            print(f"  {kind:16} ndjson {want[kind]:>7}  server {got[kind]:>7}  {mark}")
        ok &= want == got and distinct == total
    print("agreement: 100 %" if ok else "agreement: NOT 100 %")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
