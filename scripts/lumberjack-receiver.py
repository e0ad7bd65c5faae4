#!/usr/bin/env python3
"""A Beats (lumberjack v2) receiver for the tests: what Logstash's beats input does with the
frames, minus Logstash. No such receiver can be installed here, so this one stands in; it is
checked against a third-party sender (pylogbeat) by scripts/check-lumberjack-receiver.py
before our own sender is checked against it.

    scripts/lumberjack-receiver.py --out EVENTS.ndjson [--port N]
        [--tls-cert PEM --tls-key PEM [--tls-client-ca PEM]] [--json-lines]

Prints {"port": N} on its first line, then serves until killed. Per connection: a window
frame (2W, the count of events to come), then JSON frames (2J: sequence, length, JSON) sent
bare or inside zlib-compressed frames (2C). Once a window's events are all in, they are
appended to EVENTS (one JSON object per line, with "@seq"), flushed and fsynced, and only
then acknowledged (2A with the last sequence number): an acknowledged event is on disk.
With --json-lines it is a tcp input with the json_lines codec instead: each line received is
appended to EVENTS as it is (no acknowledgement; what the output's TLS test needs).
With --tls-cert and --tls-key each connection is TLS (Python's ssl, i.e. OpenSSL); with
--tls-client-ca as well, a client certificate signed by that CA is required (what Logstash's
ssl_client_authentication => required does). A failed handshake is reported on stderr as
"receiver: handshake failed: ..." and the connection closed.
Caps: window 1,000,000 events, a frame 64 MiB, a decompressed frame 256 MiB; anything else
closes the connection.
"""
import argparse
import io
import json
import os
import socket
import socketserver
import ssl
import struct
import sys
import threading
import zlib

MAX_WINDOW = 1_000_000
MAX_FRAME = 64 << 20
MAX_INFLATED = 256 << 20
LOCK = threading.Lock()


class Bad(Exception):
    pass


def read_exact(f, n):
    b = f.read(n)
    if b is None or len(b) < n:
        raise EOFError
    return b


def frames(f):
    """(type, payload) of each frame read from f; compressed frames are opened in place."""
    while True:
        head = f.read(2)
        if not head:
            return
        if len(head) < 2:
            raise EOFError
        version, kind = head[0], chr(head[1])
        if version != ord("2"):
            raise Bad(f"protocol version {version!r}")
        if kind == "W":
            yield "W", struct.unpack(">I", read_exact(f, 4))[0]
        elif kind == "J":
            seq, n = struct.unpack(">II", read_exact(f, 8))
            if n > MAX_FRAME:
                raise Bad(f"JSON frame of {n} bytes")
            yield "J", (seq, read_exact(f, n))
        elif kind == "C":
            n = struct.unpack(">I", read_exact(f, 4))[0]
            if n > MAX_FRAME:
                raise Bad(f"compressed frame of {n} bytes")
            d = zlib.decompressobj()
            inner = d.decompress(read_exact(f, n), MAX_INFLATED)
            if d.unconsumed_tail:
                raise Bad("decompressed frame too large")
            yield from frames(io.BytesIO(inner))
        else:
            raise Bad(f"frame type {kind!r}")


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as e:
                print(f"receiver: handshake failed: {e}", file=sys.stderr, flush=True)
                return
        out = self.server.out
        if self.server.json_lines:
            try:
                for line in self.rfile:
                    with LOCK, open(out, "ab") as f:
                        f.write(line)
            except (ConnectionError, ssl.SSLError) as e:
                print(f"receiver: closing a connection: {e}", file=sys.stderr)
            return
        window, events = None, []
        try:
            for kind, value in frames(self.rfile):
                if kind == "W":
                    if value > MAX_WINDOW:
                        raise Bad(f"window of {value}")
                    window, events = value, []
                    continue
                seq, payload = value
                doc = json.loads(payload)
                doc["@seq"] = seq
                events.append(doc)
                if window is not None and len(events) >= window:
                    with LOCK:
                        with open(out, "a") as f:
                            for e in events:
                                f.write(json.dumps(e, separators=(",", ":")) + "\n")
                            f.flush()
                            os.fsync(f.fileno())
                    self.wfile.write(struct.pack(">BBI", ord("2"), ord("A"), seq))
                    self.wfile.flush()
                    window, events = None, []
        except (EOFError, ConnectionError):
            pass
        except (Bad, ValueError, zlib.error) as e:
            print(f"receiver: closing a connection: {e}", file=sys.stderr)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:
            # The handshake runs in the connection's thread (Handler.handle), not here.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def setup_tls(self, cert, key, client_ca):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        self.tls = ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--json-lines", action="store_true")
    a = ap.parse_args()
    server = Server(("127.0.0.1", a.port), Handler)
    server.out = a.out
    server.json_lines = a.json_lines
    if a.tls_cert:
        server.setup_tls(a.tls_cert, a.tls_key, a.tls_client_ca)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
