#!/usr/bin/env python3
"""Checks the test Beats receiver (scripts/lumberjack-receiver.py) against a third-party sender,
pylogbeat (installed by scripts/install-test-peers.sh), before it is used to check ours:
windows of several sizes, every event received once, in order, with its content, on disk
when acknowledged; a damaged frame closes the connection without taking the receiver down;
over TLS with a required client certificate, a client with the certificate is served and one
without is refused.

    scripts/check-lumberjack-receiver.py
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile

try:
    import pylogbeat
except ImportError:
    sys.exit("pylogbeat is missing: run scripts/install-test-peers.sh")

HERE = os.path.dirname(os.path.abspath(__file__))


def certificates(d):
    """A test CA and, signed by it, a server certificate for localhost and a client certificate."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=check-ca")
    for who, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(d, who + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("req", *ec, "-keyout", who + ".key", "-out", who + ".csr", "-subj", "/CN=" + who)
        run("x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", who + ".pem", "-days", "2", "-extfile", who + ".ext")


def check_tls(tmp):
    """pylogbeat over TLS with a client certificate is served; without one, refused."""
    certificates(tmp)
    p = lambda name: os.path.join(tmp, name)
    out = p("tls-events.ndjson")
    rx = subprocess.Popen([sys.executable, os.path.join(HERE, "lumberjack-receiver.py"), "--out", out,
                           "--tls-cert", p("server.pem"), "--tls-key", p("server.key"), "--tls-client-ca", p("ca.pem")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = json.loads(rx.stdout.readline())["port"]
        with pylogbeat.PyLogBeatClient("localhost", port, timeout=10, ssl_enable=True, ca_certs=p("ca.pem"),
                                       certfile=p("client.pem"), keyfile=p("client.key")) as client:
            client.send([{"n": i} for i in range(100)])
        got = [json.loads(line) for line in open(out)]
        assert [g["n"] for g in got] == list(range(100)), "TLS: every event once, in order"
        try:
            with pylogbeat.PyLogBeatClient("localhost", port, timeout=10, ssl_enable=True,
                                           ca_certs=p("ca.pem")) as client:
                client.send([{"n": "no certificate"}])
            refused = False
        except (OSError, EOFError):
            refused = True
        assert refused, "a client without a certificate is refused"
        assert len(open(out).read().splitlines()) == 100, "nothing from the refused client"
    finally:
        rx.kill()
        _, err = rx.communicate()
    assert "handshake failed" in err, err
    return 100


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "events.ndjson")
        rx = subprocess.Popen([sys.executable, os.path.join(HERE, "lumberjack-receiver.py"), "--out", out],
                              stdout=subprocess.PIPE, text=True)
        try:
            port = json.loads(rx.stdout.readline())["port"]
            sent = []
            with pylogbeat.PyLogBeatClient("127.0.0.1", port, timeout=10) as client:
                n = 0
                for size in (1, 7, 250, 1000, 3):
                    batch = [{"n": n + i, "message": f"event {n + i}", "nested": {"k": [1, 2, "x"]}} for i in range(size)]
                    n += size
                    client.send(batch)  # returns once the receiver acknowledged the window
                    sent += batch
                    got = [json.loads(line) for line in open(out)]
                    assert len(got) == len(sent), f"acknowledged but not on disk: {len(got)} of {len(sent)}"
            got = [json.loads(line) for line in open(out)]
            assert [g["n"] for g in got] == [s["n"] for s in sent], "events once each, in order"
            assert all(g["nested"] == {"k": [1, 2, "x"]} and g["message"] == f"event {g['n']}" for g in got)
            assert [g["@seq"] for g in got] == list(range(1, len(sent) + 1)), "sequence numbers as sent"
            # A frame of an unknown type: that connection is closed, the receiver goes on.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"2W" + struct.pack(">I", 1) + b"2Z")
                assert s.recv(16) == b"", "the bad connection is closed"
            with pylogbeat.PyLogBeatClient("127.0.0.1", port, timeout=10) as client:
                client.send([{"after": True}])
            last = json.loads(open(out).read().splitlines()[-1])
            assert last["after"] is True
            print(f"lumberjack receiver: {len(sent) + 1} events from pylogbeat {pylogbeat.__version__}, "
                  "all received once, in order, on disk when acknowledged: OK")
        finally:
            rx.kill()
        n = check_tls(tmp)
        print(f"lumberjack receiver over TLS: {n} events from pylogbeat with a client certificate; "
              "a client without one refused: OK")


if __name__ == "__main__":
    main()
