#!/usr/bin/python3
# ISC license.
"""An SMTP server with STARTTLS for the test world (aiosmtpd).

    smtpd.py ADDR PORT [LISTENER OPTIONS] [GLOBAL OPTIONS]
    smtpd.py --table FILE [GLOBAL OPTIONS]

Listener options (one listener on the command line, or one per line of
FILE: "ADDR PORT [LISTENER OPTIONS]"; '#' starts a comment):
    --cert FILE          certificate chain (PEM: leaf first, then issuers,
                         all sent in the handshake); offers STARTTLS
    --key FILE           its private key (default: the --cert file)
    --no-starttls        do not offer STARTTLS even with a certificate
    --require-starttls   refuse MAIL/RCPT/DATA before STARTTLS (530)
    --hostname NAME      name in the greeting and EHLO reply (default ADDR)
Global options:
    --log FILE           append one line per event (connect, starttls,
                         envelope, close) to FILE
    --max-sessions N     serve at most N sessions in all (default 500);
                         later connections get "421" and are closed
    --max-concurrent N   at most N sessions at a time (default 50)
    --idle SECONDS       close a session idle this long (default 30)

Mail is accepted and discarded (the envelope and size are logged).  Only
/usr/bin/python3 has Debian's aiosmtpd.  "ready" is printed on stdout once
every listener is bound.
"""

import argparse
import asyncio
import logging
import shlex
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP

DATA_LIMIT = 1 << 20


def listener_parser():
    p = argparse.ArgumentParser(prog="smtpd.py listener", add_help=False)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--no-starttls", action="store_true")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--hostname")
    return p


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None

    def __call__(self, *words):
        if self.f:
            self.f.write("%.3f %s\n" % (time.time(), " ".join(
                str(w) for w in words)))


class Sessions:
    """Counts sessions across every listener."""

    def __init__(self, max_total, max_concurrent):
        self.max_total = max_total
        self.max_concurrent = max_concurrent
        self.total = 0
        self.live = set()


class Handler:
    def __init__(self, log, where):
        self.log = log
        self.where = where

    async def handle_DATA(self, server, session, envelope):
        self.log(self.where, session.peer[0], "mail",
                 "from=<%s>" % envelope.mail_from,
                 "rcpt=" + ",".join("<%s>" % r for r in envelope.rcpt_tos),
                 "size=%d" % len(envelope.content or b""),
                 "tls=%s" % ("yes" if session.ssl else "no"))
        return "250 2.0.0 Ok: discarded"


def make_server_class(sessions, log, where):
    class Server(SMTP):
        def connection_made(self, transport):
            if getattr(self, "_original_transport", None) is not None:
                # The second call, after the TLS handshake.
                super().connection_made(transport)
                ssl_obj = transport.get_extra_info("ssl_object")
                log(where, self.session.peer[0], "starttls",
                    ssl_obj.version() if ssl_obj else "?")
                return
            if (sessions.total >= sessions.max_total or
                    len(sessions.live) >= sessions.max_concurrent):
                log(where, "-", "refused", "limit")
                transport.write(b"421 4.3.2 session limit reached\r\n")
                transport.close()
                self._refused = True
                return
            sessions.total += 1
            sessions.live.add(id(self))
            super().connection_made(transport)
            log(where, self.session.peer[0], "connect")

        def connection_lost(self, error):
            if getattr(self, "_refused", False):
                return
            if id(self) in sessions.live:
                sessions.live.discard(id(self))
                log(where, self.session.peer[0], "close")
            super().connection_lost(error)

    return Server


def make_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key or cert)
    return ctx


async def serve(listeners, args, log):
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(
        lambda _loop, c: log("-", "-", "error", repr(c.get("exception",
                                                           c.get("message")))))
    sessions = Sessions(args.max_sessions, args.max_concurrent)
    servers = []
    for l in listeners:
        where = "%s:%d" % (l.addr, l.port)
        ctx = None
        if l.cert and not l.no_starttls:
            ctx = make_context(l.cert, l.key)
        cls = make_server_class(sessions, log, where)
        handler = Handler(log, where)
        hostname = l.hostname or l.addr

        def factory(cls=cls, handler=handler, ctx=ctx, hostname=hostname,
                    req=l.require_starttls):
            return cls(handler, hostname=hostname, ident="mxkit test smtpd",
                       tls_context=ctx, require_starttls=req,
                       timeout=args.idle, data_size_limit=DATA_LIMIT)

        servers.append(await loop.create_server(factory, l.addr, l.port,
                                                reuse_address=True))
        log(where, "-", "listen", "starttls=%s" % ("yes" if ctx else "no"))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main():
    p = argparse.ArgumentParser(prog="smtpd.py")
    p.add_argument("--table")
    p.add_argument("--log")
    p.add_argument("--max-sessions", type=int, default=500)
    p.add_argument("--max-concurrent", type=int, default=50)
    p.add_argument("--idle", type=float, default=30.0)
    args, rest = p.parse_known_args()
    lp = listener_parser()
    listeners = []
    try:
        if args.table:
            if rest:
                p.error("--table and a listener on the command line")
            with open(args.table) as f:
                for line in f:
                    words = shlex.split(line, comments=True)
                    if words:
                        listeners.append(lp.parse_args(words))
        else:
            listeners.append(lp.parse_args(rest))
    except SystemExit:
        sys.stderr.write(__doc__)
        return 64
    if not listeners:
        sys.stderr.write("smtpd.py: no listeners\n")
        return 64
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    log = Log(args.log)
    try:
        asyncio.run(serve(listeners, args, log))
    except KeyboardInterrupt:
        pass
    except (OSError, ssl.SSLError) as e:
        sys.stderr.write("smtpd.py: %s\n" % e)
        return 71
    return 0


if __name__ == "__main__":
    sys.exit(main())
