"""Shared by the comparison scripts: running commands, finding the captures, reading iotw's
documents."""
import functools
import glob
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return p.stdout


def require_tshark():
    if not shutil.which("tshark"):
        sys.exit("tshark is missing: run scripts/install-test-peers.sh")


def captures(*patterns):
    """The shared captures next to the checkout, else the committed test captures."""
    shared = os.path.join(ROOT, "..", "shared", "captures")
    base = shared if os.path.isdir(shared) else os.path.join(ROOT, "testdata", "captures")
    return sorted(p for pat in patterns for p in glob.glob(os.path.join(base, pat)))


def keylog(path):
    """The TLS key log made with a capture (`X.keys` beside `X.pcap`), or None."""
    keys = os.path.splitext(path)[0] + ".keys"
    return keys if os.path.exists(keys) else None


def tshark_keylog(path):
    """tshark's options to decrypt a capture with its key log, if it has one."""
    keys = keylog(path)
    return ["-o", f"tls.keylog_file:{keys}"] if keys else []


@functools.lru_cache(maxsize=4)
def iotw_documents(iotw, path, decrypt=True):
    """Every document `iotw capture --output ndjson` writes for one capture (decrypting TLS
    with the capture's key log, if it has one, unless `decrypt` is false)."""
    keys = keylog(path) if decrypt else None
    extra = ["--tls-keylog", keys] if keys else []
    out = run([iotw, "capture", "-r", path, "--output", "ndjson", "--no-progress", "--quiet", *extra])
    return [json.loads(line) for line in out.splitlines()]


def arguments(doc):
    """The comparison scripts' command line: --iotw PATH and captures; tshark must be there."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iotw", default=os.path.join(ROOT, "target", "release", "iotw"))
    ap.add_argument("captures", nargs="*")
    a = ap.parse_args()
    require_tshark()
    return a


class Agreement:
    """Per-field agreement between a peer's records and iotw's, matched by key: a row per
    capture, a total, and every difference printed."""

    def __init__(self, fields, width):
        self.fields, self.width = fields, width
        self.total = {f: [0, 0] for f in fields}
        self.bad = 0

    def header(self, counts):
        print(f"{'capture':{self.width}} " + " ".join(f"{c:>9}" for c in counts) + "  "
              + " ".join(f"{f[:13]:>13}" for f in self.fields))

    def capture(self, name, theirs, ours, counts, agree=lambda f, t, o: t.get(f) == o.get(f)):
        row = {f: [0, 0] for f in self.fields}
        for key in sorted(set(theirs) | set(ours)):
            t, o = theirs.get(key), ours.get(key)
            if t is None or o is None:
                print(f"    {name} {key}: peer {t} iotw {o}")
                self.bad += 1
                continue
            for f in self.fields:
                row[f][0] += 1
                if agree(f, t, o):
                    row[f][1] += 1
                else:
                    self.bad += 1
                    print(f"    {name} {key} {f}: peer {t.get(f)!r} iotw {o.get(f)!r}")
        for f in self.fields:
            self.total[f][0] += row[f][0]
            self.total[f][1] += row[f][1]
        print(f"{name:{self.width}} " + " ".join(f"{c:>9}" for c in counts) + "  " + self._cells(row))

    @staticmethod
    def _cells(row):
        return " ".join(f"{100.0 * a / n:>12.2f}%" if n else f"{'-':>13}" for n, a in row.values())

    def finish(self, what):
        """Prints the total; true at 100 % with something compared."""
        n = max(v[0] for v in self.total.values())
        print(f"{'all':{self.width}} {n:>9}  " + self._cells(self.total))
        ok = self.bad == 0 and n > 0 and all(v[0] == v[1] for v in self.total.values())
        print(f"{what}: 100 % agreement" if ok else f"{what}: DIFFER")
        return ok


ELASTALERT_VENV = os.path.join(ROOT, "target", "peers", "elastalert")


def reexec_in_elastalert_venv():
    """Runs this script again in the virtualenv holding ElastAlert 2 (install-test-peers.sh)."""
    py = os.path.join(ELASTALERT_VENV, "bin", "python")
    if os.path.realpath(sys.prefix) != os.path.realpath(ELASTALERT_VENV):
        if not os.path.exists(py):
            sys.exit(f"ElastAlert 2 is not installed in {ELASTALERT_VENV}: run scripts/install-test-peers.sh")
        os.execv(py, [py, *sys.argv])


def spells(seconds):
    """Runs of consecutive seconds, as (first, one past the last)."""
    out = []
    for s in sorted(seconds):
        if out and s <= out[-1][1]:
            out[-1][1] = s + 1
        else:
            out.append([s, s + 1])
    return [tuple(x) for x in out]
