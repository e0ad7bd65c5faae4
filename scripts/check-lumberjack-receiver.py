#!/usr/bin/env python3
"""Checks the test Beats receiver (scripts/lumberjack-receiver.py) against a third-party sender,
pylogbeat (installed by scripts/install-test-peers.sh), before it is used to check ours:
windows of several sizes, every event received once, in order, with its content, on disk
when acknowledged; a damaged frame closes the connection without taking the receiver down.

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


if __name__ == "__main__":
    main()
