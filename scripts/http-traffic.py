#!/usr/bin/env python3
"""Real HTTP/1.x traffic over loopback for the HTTP decoder's tests: a server (Python's
http.server, HTTP/1.1) and clients (curl, and a raw socket for what curl no longer does:
pipelining). Captured by scripts/make-http-capture.sh into testdata/http/http-local.pcap.

    scripts/http-traffic.py PORT

What it makes, one connection per line unless said:
- keep-alive (curl, one connection): GET /json (Content-Length), GET /chunked (chunked with a
  trailer), GET /gzip (gzip), GET /missing (404), HEAD /json, GET /notmod (304)
- POST /upload with Expect: 100-continue (100 Continue, then 201)
- POST /upload with a chunked request body
- GET /close: HTTP/1.0 response without Content-Length, ended by closing the connection
- two GETs pipelined on one connection (raw socket), with Authorization and Cookie fields
- GET /json?x=1 with a Referer and a User-Agent
"""
import gzip
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps({"hello": "world", "n": list(range(20))}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/json":
            self.send(200, BODY)
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for part in (b"first chunk\n", b"second, longer chunk of text\n", b"third\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Checksum: 42\r\n\r\n")
        elif path == "/gzip":
            self.send(200, gzip.compress(b"<html>" + b"compressed text " * 50 + b"</html>"), "text/html",
                      [("Content-Encoding", "gzip")])
        elif path == "/notmod":
            self.send_response(304)
            self.send_header("ETag", '"abc"')
            self.end_headers()
        elif path == "/close":
            self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the connection closes\n" * 10)
            self.close_connection = True
        else:
            self.send(404, b"<h1>not found</h1>", "text/html")

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            got = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                got += len(self.rfile.read(size))
                self.rfile.readline()
        else:
            got = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send(201, json.dumps({"received": got}).encode())


def curl(*args):
    subprocess.run(["curl", "-s", *args], check=True, stdout=subprocess.DEVNULL)


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    # One keep-alive connection, several requests (curl reuses it).
    curl(f"{base}/json", f"{base}/chunked", f"{base}/gzip", f"{base}/missing", "--next", "-I", f"{base}/json",
         "--next", f"{base}/notmod")
    curl("-H", "Expect: 100-continue", "--data-binary", "x" * 2048, f"{base}/upload")
    curl("-H", "Transfer-Encoding: chunked", "--data-binary", "y" * 300, f"{base}/upload")
    curl("--http1.0", f"{base}/close")
    # Pipelined: both requests written before any response is read.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n"
                  b"GET /missing HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: session=secret\r\nConnection: close\r\n\r\n")
        while s.recv(65536):
            pass
    curl("-A", "iotw-test/1.0", "-e", "http://referrer.test/page", f"{base}/json?x=1")
    server.shutdown()


if __name__ == "__main__":
    main()
