#!/usr/bin/env python3
"""Carries SIP over TCP across a TLS leg, so that real SIP (sipp's, which this sipp build cannot
send over TLS itself) travels as SIPS through OpenSSL, with the session secrets in a key log:

    sipp UAC --tcp--> :LISTEN --TLS--> :TLS_PORT (5061) --tcp--> sipp UAS at :UPSTREAM

Both TLS ends are Python's ssl module (OpenSSL); the server end writes the NSS key log.
Runs until killed.

Usage: scripts/sips-relay.py LISTEN TLS_PORT UPSTREAM CERT KEY KEYLOG
"""
import socket
import ssl
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def join(a, b):
    threading.Thread(target=pump, args=(a, b), daemon=True).start()
    threading.Thread(target=pump, args=(b, a), daemon=True).start()


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    return s


def main():
    listen, tls_port, upstream = (int(x) for x in sys.argv[1:4])
    cert, key, keylog = sys.argv[4:7]
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.keylog_filename = keylog
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    plain, tls = listener(listen), listener(tls_port)

    def tls_side():
        while True:
            conn, _ = tls.accept()
            try:
                wrapped = server_ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                continue
            join(wrapped, socket.create_connection(("127.0.0.1", upstream)))

    threading.Thread(target=tls_side, daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _ = plain.accept()
        out = client_ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)), server_hostname="sips.iotw.test")
        join(conn, out)


if __name__ == "__main__":
    main()
