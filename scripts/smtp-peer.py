#!/usr/bin/env python3
"""A real SMTP receiver on loopback for the e-mail alerter's tests (aiosmtpd; not a test).

    scripts/smtp-peer.py DIR [--tls CERT KEY] [--user U --password P]

Listens on 127.0.0.1 at a free port and prints `ready PORT` once it accepts. Every message
received is written to DIR as N.eml, with the envelope in N.json (sender, recipients, whether
the session was under TLS and who authenticated). With --tls the server offers STARTTLS and
requires it before AUTH and MAIL; with --user it requires AUTH (PLAIN or LOGIN) with those
credentials. Stops when its standard input closes.
"""
import argparse
import json
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        base = os.path.join(self.out, str(self.n))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "tls": session.ssl is not None,
                "login": (session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword)
                          else None),
            }, f)
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kw = {}
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*a.tls)
        kw.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    if a.user:
        def check(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == a.user
                  and auth_data.password.decode() == a.password)
            return AuthResult(success=ok, handled=False, auth_data=auth_data)
        kw.update(authenticator=check, auth_required=True)
    else:
        kw.update(auth_require_tls=False)
    c = Controller(Keep(a.dir), hostname="127.0.0.1", port=port, **kw)
    c.start()
    print(f"ready {port}", flush=True)
    sys.stdin.read()
    c.stop()


if __name__ == "__main__":
    main()
