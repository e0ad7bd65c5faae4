#!/usr/bin/env python3
"""Compares iotw's TLS session documents with tshark's TLS dissection and with ja4plus (a
third-party JA4+ implementation), session by session.

For every TLS capture (default: ../shared/captures/tls*.pcap*, retrans-tls.pcap and anything
in testdata/tls/), each handshake is keyed by its client port: SNI, negotiated version, cipher
suite, JA3 and JA3S (tshark's fields), the server certificate's subject, issuer and not-after
(tshark's X.509 dissection, read from its PDML), and JA4 and JA4S (ja4plus). Prints an
agreement table; exit status 0 only at 100 % with every session found on both sides.

Usage: scripts/compare-tls.py [--iotw PATH] [CAPTURE ...]
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

from peers import ROOT, Agreement, arguments, captures, iotw_documents, run

FIELDS = ["sni", "version", "cipher", "ja3", "ja3s", "subject", "issuer", "not_after", "ja4", "ja4s"]
VERSIONS = {"0x0304": "1.3", "0x0303": "1.2", "0x0302": "1.1", "0x0301": "1.0", "0x0300": "3.0"}
# tshark's attribute names (RFC 4514 order, like iotw's) to the short names iotw writes.
ATTRS = {"id-at-commonName": "CN", "id-at-countryName": "C", "id-at-localityName": "L",
         "id-at-stateOrProvinceName": "ST", "id-at-organizationName": "O", "id-at-organizationalUnitName": "OU",
         "id-at-streetAddress": "STREET", "id-at-serialNumber": "serialNumber", "pkcs-9-at-emailAddress": "emailAddress",
         "id-domainComponent": "DC"}


def rdns(seq):
    """A DN from tshark's RDN items (DER order), written as RFC 4514 does: last RDN first."""
    out = []
    for item in seq.iter("field"):
        if item.get("name") != "x509if.RDNSequence_item":
            continue
        parts = []
        for attr in item.iter("field"):
            if attr.get("name") != "x509if.RelativeDistinguishedName_item_element":
                continue
            kids = list(attr.iter("field"))
            oid = next(k for k in kids if k.get("name") == "x509if.oid").get("showname")
            name = re.search(r"\((.*)\)", oid).group(1)
            # The value: the innermost field with text (a string choice inside DirectoryString).
            leaf = [k for k in kids[1:] if k.get("name") != "x509if.oid" and len(list(k)) == 0]
            value = leaf[-1].get("show") if leaf else ""
            parts.append(f"{ATTRS.get(name, name)}={value}")
        out.append("+".join(parts))
    return ",".join(reversed(out))


def tshark_sessions(path):
    xml = run(["tshark", "-r", path, "-Y", "tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==11",
               "-T", "pdml"])
    out, clients = {}, set()
    for pkt in ET.fromstring(xml).iter("packet"):
        f = {}
        for e in pkt.iter("field"):
            f.setdefault(e.get("name"), []).append(e)
        sport = f["tcp.srcport"][0].get("show")
        dport = f["tcp.dstport"][0].get("show")
        types = [e.get("show") for e in f.get("tls.handshake.type", [])]
        if "1" in types:
            clients.add(sport)
            s = out.setdefault(sport, {})
            s["sni"] = f["tls.handshake.extensions_server_name"][0].get("show") if "tls.handshake.extensions_server_name" in f else None
            s["ja3"] = f["tls.handshake.ja3"][0].get("show")
        if "2" in types:
            s = out.setdefault(dport, {})
            sv = [e.get("show") for e in f.get("tls.handshake.extensions.supported_version", [])]
            legacy = [e.get("show") for e in f.get("tls.handshake.version", [])]
            s["version"] = VERSIONS.get(sv[-1] if sv else legacy[-1])
            s["cipher"] = f["tls.handshake.ciphersuite"][0].get("showname").split(": ", 1)[1].rsplit(" (", 1)[0]
            s["ja3s"] = f["tls.handshake.ja3s"][0].get("show")
        if "11" in types and "tls.handshake.certificate" in f and sport not in clients:
            s = out.setdefault(dport, {})
            first = f["tls.handshake.certificate"][0]
            subject = next(e for e in first.iter("field") if e.get("name") == "x509af.subject")
            issuer = next(e for e in first.iter("field") if e.get("name") == "x509af.issuer")
            s["subject"] = rdns(subject)
            s["issuer"] = rdns(issuer)
            after = next(e for e in first.iter("field") if e.get("name") == "x509af.notAfter")
            t = next(e for e in after.iter("field") if e.get("name") in ("x509af.utcTime", "x509af.generalizedTime"))
            s["not_after"] = t.get("showname").split(": ", 1)[1].replace(" (UTC)", "")
    return out


def ja4plus_sessions(path):
    p = subprocess.run(["ja4plus", "analyze", path, "--types", "ja4,ja4s", "--format", "json"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"ja4plus failed on {path}: {p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        r = json.loads(line)
        if r["type"] == "ja4":
            out.setdefault(str(r["src_port"]), {})["ja4"] = r["fingerprint"]
        elif r["type"] == "ja4s":
            out.setdefault(str(r["dst_port"]), {})["ja4s"] = r["fingerprint"]
    return out


def iotw_sessions(iotw, path):
    # Handshakes as seen in the clear, like tshark and ja4plus here (decryption is
    # compare-https.py's): no key log, even where a capture has one.
    out = {}
    for d in iotw_documents(iotw, path, decrypt=False):
        if d["event"]["dataset"] != "tls":
            continue
        t = d["tls"]
        c, s = t.get("client", {}), t.get("server", {})
        after = s.get("not_after")
        out[str(d["source"]["port"])] = {
            "sni": c.get("server_name"), "version": t.get("version"), "cipher": t.get("cipher"),
            "ja3": c.get("ja3"), "ja3s": s.get("ja3s"), "ja4": c.get("ja4"), "ja4s": s.get("ja4s"),
            "subject": s.get("subject"), "issuer": s.get("issuer"),
            "not_after": after[:19].replace("T", " ") if after else None,
        }
    return out


def main():
    a = arguments(__doc__)
    if not shutil.which("ja4plus"):
        sys.exit("ja4plus is missing: run scripts/install-test-peers.sh")
    caps = a.captures or (captures("tls*.pcap*", "retrans-tls.pcap") +
                          sorted(glob.glob(os.path.join(ROOT, "testdata", "tls", "*.pcap*"))))
    table = Agreement(FIELDS, 28)
    table.header(["sessions"])
    for c in caps:
        theirs = tshark_sessions(c)
        for port, v in ja4plus_sessions(c).items():
            theirs.setdefault(port, {}).update(v)
        table.capture(os.path.basename(c), theirs, iotw_sessions(a.iotw, c), [len(theirs)])
    sys.exit(0 if table.finish("TLS fields against tshark and ja4plus") else 1)


if __name__ == "__main__":
    main()
