#!/usr/bin/env python3
"""The discovery report, opened by a real browser: headless Chromium renders the HTML file
`iotw discover --html` writes for a simulated site (offline: the file fetches nothing).

Checked:
  - the DOM Chromium built has one drawn service node per service of the inventory
    (`--json`), with the same keys, and one edge per client of each service;
  - the screenshot shows the graph: pixels of each protocol's colour (T-Library blue, SIP
    orange) are there, in the area the SVG occupies.

Usage: scripts/check-discover-report.py [--iotw PATH] [--keep DIR]
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import peers  # noqa: E402

COLOURS = {"tlib": (0x19, 0x71, 0xC2), "sip": (0xD9, 0x48, 0x0F)}


def png_pixels(path):
    """Width, height and rows of RGB(A) tuples of a non-interlaced 8-bit PNG (Chromium's)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    at, idat, width = 8, b"", None
    while at < len(data):
        n, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        at += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, [[tuple(r[x * bpp:x * bpp + 3]) for x in range(width)] for r in rows]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    sys.exit("chromium is missing: run scripts/install-test-peers.sh")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iotw", default=os.path.join(peers.ROOT, "target", "release", "iotw"))
    ap.add_argument("--keep", help="keep the report and screenshot in this directory")
    a = ap.parse_args()
    work = a.keep or tempfile.mkdtemp()
    os.makedirs(work, exist_ok=True)
    pcap, inv_path, html = (os.path.join(work, n) for n in ("site.pcapng", "inventory.json", "report.html"))
    shot = os.path.join(work, "report.png")
    subprocess.run([a.iotw, "simulate", "--out", pcap, "--duration", "3m", "--agents", "6"], check=True,
                   stderr=subprocess.DEVNULL)
    subprocess.run([a.iotw, "discover", "-q", "--no-progress", "-r", pcap, "--json", inv_path, "--html", html],
                   check=True)
    inv = json.load(open(inv_path))
    want = {f"{s['ip']}:{s['port']}/{s['transport']}" for s in inv["services"]}
    want_edges = {f"{c['ip']} -> {s['ip']}:{s['port']}/{s['transport']}" for s in inv["services"] for c in s["clients"]}

    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--window-size=1600,1200"]
    url = "file://" + os.path.abspath(html)
    dom = subprocess.run(browser + ["--dump-dom", url], check=True, capture_output=True, text=True).stdout
    subprocess.run(browser + [f"--screenshot={shot}", url], check=True, capture_output=True)

    # The DOM after rendering: the drawn nodes (SVG groups), not the table's rows.
    svg = dom[dom.index("<svg"):dom.index("</svg>")]
    drawn = set(re.findall(r'<g class="service" data-service="([^"]+)"', svg))
    edges = set(re.findall(r'data-edge="([^"]+)"', svg))
    edges = {e.replace("&gt;", ">") for e in edges}
    ok = True
    print(f"services: inventory {len(want)}, drawn {len(drawn)}")
    if drawn != want:
        ok = False
        print(f"  missing {sorted(want - drawn)}, extra {sorted(drawn - want)}")
    print(f"edges: inventory {len(want_edges)}, drawn {len(edges)}")
    if edges != want_edges:
        ok = False
        print(f"  missing {sorted(want_edges - edges)}, extra {sorted(edges - want_edges)}")

    w, h, px = png_pixels(shot)
    for proto, rgb in COLOURS.items():
        n = sum(1 for row in px for p in row if all(abs(p[i] - rgb[i]) <= 24 for i in range(3)))
        print(f"screenshot {w}x{h}: {n} pixels of the {proto} colour")
        if n < 200:
            ok = False
            print(f"  the {proto} services and edges are not drawn")
    print("discovery report: drawn as the inventory says" if ok else "discovery report: DIFFERS")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
