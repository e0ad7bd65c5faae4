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


@functools.lru_cache(maxsize=4)
def iotw_documents(iotw, path):
    """Every document `iotw capture --output ndjson` writes for one capture."""
    out = run([iotw, "capture", "-r", path, "--output", "ndjson", "--no-progress", "--quiet"])
    return [json.loads(line) for line in out.splitlines()]
