#!/usr/bin/python3
# ISC license.
"""A misbehaving SMTP server for the fault tests (tests/integration/faults.sh).

    faulty.py ADDR PORT MODE [options]

Every session starts as a plain SMTP server would: "220 HOST ..." (except
in the greeting-* modes), EHLO answered with 250 PIPELINING, 8BITMIME and,
with --cert, STARTTLS; MAIL, RCPT, RSET, NOOP get 250, QUIT 221.  Then MODE
decides where it goes wrong:

    starttls-close    "220 go ahead" to STARTTLS, then close at once
    starttls-garbage  "220 go ahead", then non-TLS bytes (text, NUL, 0xff)
                      and close
    starttls-cut      "220 go ahead", a real TLS handshake (--cert) of which
                      only the first --cut octets of the server's first
                      flight are sent; then close
    starttls-stall    "220 go ahead", then read and never answer (until
                      --idle)
    data-close        354 to DATA, read --after octets of the message (0:
                      all of it, up to the final dot), then close without a
                      reply
    reply-binary      EHLO answered with binary junk (NUL, 0xff, bare CR,
                      LF), then close
    reply-longline    EHLO answered with "250-" and then --limit octets
                      without a line end
    reply-endless     EHLO answered with "250-line N" lines without end
                      (--limit octets in all)
    greeting-binary   random octets instead of the greeting (--limit in all)
    greeting-http     an HTTP/1.1 400 response instead of the greeting

Options:
    --cert FILE, --key FILE   for STARTTLS (the key defaults to --cert)
    --hostname NAME           in the greeting (default ADDR)
    --cut N                   octets of the TLS flight sent (default 60)
    --after N                 octets of DATA read before closing (default 0)
    --limit N                 octets of an endless answer (default 16 MiB);
                              sending stops earlier when the client closes
    --idle SECONDS            a silent client is dropped after this (20)
    --max-sessions N          sessions in all, then exit (default 500)
    --log FILE                one line per session: "MODE how-it-ended N"

"ready" is printed on stdout once the socket listens.
"""

import argparse
import os
import random
import socket
import ssl
import sys
import threading
import time


class Session:
    def __init__(self, conn, opts, log):
        self.c = conn
        self.o = opts
        self.log = log
        self.buf = b""
        self.sent = 0
        conn.settimeout(opts.idle)

    def send(self, data):
        self.c.sendall(data)
        self.sent += len(data)

    def line(self):
        """One line from the client, or None at EOF; bounded at 4 KiB."""
        while b"\n" not in self.buf:
            if len(self.buf) > 4096:
                return None
            data = self.c.recv(4096)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def stream(self, chunk):
        """Send chunk again and again, --limit octets in all."""
        while self.sent < self.o.limit:
            self.send(chunk)
        return "limit"

    def run(self):
        o = self.o
        host = (o.hostname or o.addr).encode()
        if o.mode == "greeting-binary":
            rnd = random.Random(7)
            return self.stream(bytes(rnd.randrange(256) for _ in range(4096)))
        if o.mode == "greeting-http":
            self.send(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n"
                      b"Content-Type: text/html\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")
            return "http"
        self.send(b"220 " + host + b" ESMTP faulty\r\n")
        while True:
            l = self.line()
            if l is None:
                return "client-closed"
            verb = l.split(b" ", 1)[0].upper()
            if verb in (b"EHLO", b"HELO", b"LHLO"):
                r = self.ehlo(host)
                if r:
                    return r
            elif verb == b"STARTTLS" and o.cert:
                self.send(b"220 2.0.0 go ahead\r\n")
                return self.starttls()
            elif verb == b"DATA":
                self.send(b"354 go on\r\n")
                return self.data()
            elif verb == b"QUIT":
                self.send(b"221 2.0.0 bye\r\n")
                return "quit"
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.send(b"250 2.0.0 ok\r\n")
            else:
                self.send(b"502 5.5.2 not here\r\n")

    def ehlo(self, host):
        o = self.o
        if o.mode == "reply-binary":
            self.send(b"2\x00\xff\xfe50\r\x1b[0m\n\x00\x01\x02\r\n\xff" * 8)
            return "binary"
        if o.mode == "reply-longline":
            self.send(b"250-" + host)
            return self.stream(b"x" * 8192)
        if o.mode == "reply-endless":
            self.send(b"250-" + host + b"\r\n")
            n = 0
            while self.sent < o.limit:
                n += 1
                self.send(b"".join(b"250-line %d\r\n" % (n * 100 + i)
                                   for i in range(100)))
            return "limit"
        caps = [host, b"PIPELINING", b"8BITMIME"]
        if o.cert:
            caps.append(b"STARTTLS")
        self.send(b"".join(b"250-" + c + b"\r\n" for c in caps[:-1]) +
                  b"250 " + caps[-1] + b"\r\n")
        return None

    def starttls(self):
        o = self.o
        if o.mode == "starttls-close":
            return "closed-after-220"
        if o.mode == "starttls-garbage":
            self.send(b"this is not TLS\r\n\x00\xff\xfe\x15\x03\x03\x00\x02"
                      b"\x02\x28 garbage " * 20)
            return "garbage"
        if o.mode == "starttls-stall":
            try:
                while self.c.recv(4096):
                    pass
            except socket.timeout:
                return "idle"
            return "client-closed"
        if o.mode == "starttls-cut":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(o.cert, o.key or o.cert)
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = ctx.wrap_bio(inc, out, server_side=True)
            if self.buf:
                inc.write(self.buf)
            flight = b""
            while not flight:
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                flight = out.read()
                if flight:
                    break
                data = self.c.recv(16384)
                if not data:
                    return "client-closed"
                inc.write(data)
            self.send(flight[:o.cut])
            return "cut %d of %d" % (min(o.cut, len(flight)), len(flight))
        return "starttls?"

    def data(self):
        o = self.o
        got = 0
        tail = b""
        while True:
            data = self.c.recv(65536)
            if not data:
                return "client-closed"
            got += len(data)
            if o.after and got >= o.after:
                return "closed-in-data %d" % got
            tail = (tail + data)[-5:]
            if tail.endswith(b"\r\n.\r\n") or tail == b".\r\n":
                return "closed-after-dot %d" % got


def main():
    p = argparse.ArgumentParser(prog="faulty.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("mode", choices=[
        "starttls-close", "starttls-garbage", "starttls-cut",
        "starttls-stall", "data-close", "reply-binary", "reply-longline",
        "reply-endless", "greeting-binary", "greeting-http"])
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--hostname")
    p.add_argument("--cut", type=int, default=60)
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--limit", type=int, default=16 << 20)
    p.add_argument("--idle", type=float, default=20.0)
    p.add_argument("--max-sessions", type=int, default=500)
    p.add_argument("--log")
    o = p.parse_args()
    if o.mode.startswith("starttls") and not o.cert:
        p.error("%s needs --cert" % o.mode)
    logf = open(o.log, "a", buffering=1) if o.log else None
    lock = threading.Lock()

    def log(*words):
        if logf:
            with lock:
                logf.write("%.3f %s\n" % (time.time(), " ".join(
                    str(w) for w in words)))

    fam = socket.AF_INET6 if ":" in o.addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((o.addr, o.port))
    s.listen(64)
    print("ready", flush=True)

    def serve(conn, peer):
        sess = Session(conn, o, log)
        try:
            how = sess.run()
        except socket.timeout:
            how = "idle"
        except (OSError, ssl.SSLError) as e:
            how = "error %s" % e.__class__.__name__
        finally:
            conn.close()
        log(o.mode, peer[0], how, "sent=%d" % sess.sent)

    for _ in range(o.max_sessions):
        conn, peer = s.accept()
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
    # Let the last sessions end, then exit.
    time.sleep(min(o.idle, 5))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
