#!/usr/bin/python3
# ISC license.
"""An SMTP/LMTP server for the test world (aiosmtpd).

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
    --implicit-tls       TLS from the first octet (RFC 8314, port 465)
    --auth FILE          offer AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2 against
                         "user:secret" lines of FILE (XOAUTH2: the secret
                         is the token); after TLS only, unless
    --auth-plaintext     AUTH also without TLS
    --reject ADDR=REPLY  answer RCPT TO:<ADDR> with REPLY ("550 5.1.1 no")
                         (repeatable); with --lmtp, the reply after DATA
    --size N             SIZE N (default 1048576)
    --smtputf8           offer SMTPUTF8
    --chunking           offer CHUNKING (BDAT, RFC 3030)
    --pipelining         offer PIPELINING (RFC 2920)
    --dsn                offer DSN and accept its parameters (RFC 3461)
    --lmtp               speak LMTP (RFC 2033): one reply per recipient
    --dump DIR           store each message as DIR/ID.eml (the octets as
                         received, un-stuffed) and DIR/ID.env (envelope)
Global options:
    --log FILE           append one line per event (connect, starttls,
                         envelope, close) to FILE
    --max-sessions N     serve at most N sessions in all (default 500);
                         later connections get "421" and are closed
    --max-concurrent N   at most N sessions at a time (default 50)
    --idle SECONDS       close a session idle this long (default 30)

Mail is accepted (and discarded unless --dump).  Only /usr/bin/python3 has
Debian's aiosmtpd.  "ready" is printed on stdout once every listener is
bound.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import logging
import os
import shlex
import ssl
import sys
import time

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

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
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--auth-plaintext", action="store_true")
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--size", type=int, default=DATA_LIMIT)
    p.add_argument("--smtputf8", action="store_true")
    p.add_argument("--chunking", action="store_true")
    p.add_argument("--pipelining", action="store_true")
    p.add_argument("--dsn", action="store_true")
    p.add_argument("--lmtp", action="store_true")
    p.add_argument("--dump")
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
    def __init__(self, log, where, opts):
        self.log = log
        self.where = where
        self.opts = opts
        self.rejects = {}
        for r in opts.reject:
            addr, _, reply = r.partition("=")
            self.rejects[addr.lower()] = reply
        self.users = {}
        if opts.auth:
            with open(opts.auth) as f:
                for line in f:
                    u, _, pw = line.rstrip("\n").partition(":")
                    if u:
                        self.users[u] = pw
        self.count = 0

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        extra = []
        if self.opts.pipelining:
            extra.append("250-PIPELINING")
        if self.opts.chunking:
            extra.append("250-CHUNKING")
        if self.opts.dsn:
            extra.append("250-DSN")
        extra.append("250-ENHANCEDSTATUSCODES")
        return responses[:-1] + extra + responses[-1:]

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        reply = self.rejects.get(address.lower())
        if reply and not self.opts.lmtp:
            self.log(self.where, session.peer[0], "reject", address, reply)
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def dump(self, server, session, envelope, content):
        if not self.opts.dump:
            return
        self.count += 1
        base = os.path.join(self.opts.dump, "%s-%d-%06d" % (
            self.where.replace(":", "-"), os.getpid(), self.count))
        with open(base + ".env", "w") as f:
            f.write("from %s\n" % envelope.mail_from)
            for o in envelope.mail_options:
                f.write("mail-option %s\n" % o)
            for r in envelope.rcpt_tos:
                f.write("rcpt %s\n" % r)
            for o in envelope.rcpt_options:
                f.write("rcpt-option %s\n" % o)
            tls = session.ssl or server.transport.get_extra_info("ssl_object")
            f.write("tls %s\n" % ("yes" if tls else "no"))
            login = session.login_data
            f.write("auth %s\n" % (login.decode() if login else "-"))
            f.write("bdat %s\n" % ("yes" if getattr(envelope, "bdat",
                                                     False) else "no"))
        with open(base + ".tmp", "wb") as f:
            f.write(content)
        os.rename(base + ".tmp", base + ".eml")

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        self.log(self.where, session.peer[0], "mail",
                 "from=<%s>" % envelope.mail_from,
                 "rcpt=" + ",".join("<%s>" % r for r in envelope.rcpt_tos),
                 "size=%d" % len(content),
                 "tls=%s" % ("yes" if session.ssl else "no"))
        self.dump(server, session, envelope, content)
        if self.opts.lmtp:
            # RFC 2033 section 4.2: one reply per recipient.
            replies = [self.rejects.get(r.lower(),
                                        "250 2.0.0 <%s> delivered" % r)
                       for r in envelope.rcpt_tos]
            return "\r\n".join(replies)
        return "250 2.0.0 Ok: queued"

    def authenticator(self, server, session, envelope, mechanism, data):
        if isinstance(data, LoginPassword):
            ok = self.users.get(data.login.decode()) == data.password.decode()
            return AuthResult(success=ok, handled=False, auth_data=data)
        return AuthResult(success=False, handled=False)

    async def auth_CRAM__MD5(self, server, args):
        chal = ("<%d.%d@mxkit.test>" % (os.getpid(),
                                        time.time_ns())).encode()
        resp = await server.challenge_auth(chal)
        if not isinstance(resp, bytes):
            return AuthResult(success=False, handled=True)
        user, _, digest = resp.decode(errors="replace").rpartition(" ")
        pw = self.users.get(user)
        if pw is None:
            return AuthResult(success=False, handled=False)
        want = hmac.new(pw.encode(), chal, hashlib.md5).hexdigest()
        return AuthResult(success=hmac.compare_digest(want, digest),
                          handled=False,
                          auth_data=LoginPassword(user.encode(), b""))

    async def auth_XOAUTH2(self, server, args):
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        try:
            raw = base64.b64decode(args[1], validate=True).decode()
        except Exception:
            return AuthResult(success=False, handled=False)
        fields = dict(f.split("=", 1) for f in raw.split("\x01") if "=" in f)
        user = fields.get("user", "")
        tok = fields.get("auth", "")
        if tok.startswith("Bearer ") and self.users.get(user) == tok[7:]:
            return AuthResult(success=True,
                              auth_data=LoginPassword(user.encode(), b""))
        return AuthResult(success=False, handled=False)


def strip_params(arg, names):
    """Remove ESMTP parameters named in names from a MAIL/RCPT argument."""
    words = arg.split(" ")
    keep, got = [], []
    for i, w in enumerate(words):
        if i > 0 and w.split("=", 1)[0].upper() in names:
            got.append(w)
        else:
            keep.append(w)
    return " ".join(keep), got


def make_server_class(sessions, log, where, opts):
    base = LMTP if opts.lmtp else SMTP

    class Server(base):
        async def smtp_MAIL(self, arg):
            got = []
            if opts.dsn and arg:
                arg, got = strip_params(arg, ("RET", "ENVID"))
            self._bdat = bytearray()
            await super().smtp_MAIL(arg)
            if got and self.envelope.mail_from is not None:
                self.envelope.mail_options.extend(got)

        async def smtp_RCPT(self, arg):
            got = []
            if opts.dsn and arg:
                arg, got = strip_params(arg, ("NOTIFY", "ORCPT"))
            n = len(self.envelope.rcpt_tos)
            await super().smtp_RCPT(arg)
            if got and len(self.envelope.rcpt_tos) > n:
                self.envelope.rcpt_options.extend(got)

        async def smtp_BDAT(self, arg):
            if not opts.chunking:
                await self.push("500 5.5.1 BDAT not offered")
                return
            words = (arg or "").split()
            if not words or not words[0].isdigit() or len(words) > 2 or (
                    len(words) == 2 and words[1].upper() != "LAST"):
                await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
                return
            size = int(words[0])
            data = await self._reader.readexactly(size)
            if not self.envelope.mail_from or not self.envelope.rcpt_tos:
                await self.push("503 5.5.1 Error: need MAIL and RCPT")
                return
            buf = getattr(self, "_bdat", bytearray())
            buf += data
            self._bdat = buf
            if len(buf) > self.data_size_limit:
                self._bdat = bytearray()
                self._set_post_data_state()
                await self.push("552 5.3.4 Error: too much mail data")
                return
            if len(words) == 1:
                await self.push("250 2.0.0 %d octets received" % size)
                return
            self.envelope.original_content = bytes(buf)
            self.envelope.content = bytes(buf)
            self.envelope.bdat = True
            self._bdat = bytearray()
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push(status)

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
        if l.cert and not l.no_starttls and not l.implicit_tls:
            ctx = make_context(l.cert, l.key)
        wrap = make_context(l.cert, l.key) if l.implicit_tls else None
        cls = make_server_class(sessions, log, where, l)
        handler = Handler(log, where, l)
        hostname = l.hostname or l.addr
        if l.auth:
            auth = dict(authenticator=handler.authenticator,
                        auth_require_tls=not (l.auth_plaintext or wrap))
        else:
            auth = dict(auth_exclude_mechanism=["PLAIN", "LOGIN"])

        def factory(cls=cls, handler=handler, ctx=ctx, hostname=hostname,
                    req=l.require_starttls, size=l.size, utf8=l.smtputf8,
                    auth=auth):
            return cls(handler, hostname=hostname, ident="mxkit test smtpd",
                       tls_context=ctx, require_starttls=req,
                       timeout=args.idle, data_size_limit=size,
                       enable_SMTPUTF8=utf8, **auth)

        servers.append(await loop.create_server(factory, l.addr, l.port,
                                                reuse_address=True,
                                                ssl=wrap))
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
