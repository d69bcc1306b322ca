#!/usr/bin/python3
# ISC license.
"""A faulty DNS resolver for the fault tests (tests/integration/faults.sh):
a UDP and TCP forwarder in front of a real resolver that goes wrong on
purpose.

    dnsfault.py ADDR PORT [--upstream ADDR[:PORT]] [--answer N]
                [--delay SECONDS] [--silent] [--log FILE]

    --upstream A[:P]  where queries go (default 127.0.0.1:53, the world's
                      unbound)
    --answer N        forward the first N queries, then stop answering
                      (a resolver that dies in the middle of a run)
    --delay SECONDS   answer each query this late (a slow resolver)
    --silent          answer nothing at all (a black-holed resolver)
    --log FILE        one line per query: "N QTYPE QNAME forwarded|dropped"

TCP connections are accepted and held without an answer when the query is
dropped.  Sessions are bounded (200 TCP connections in all; each is held
20 s at most).  "ready" is printed on stdout once both sockets listen.
"""

import argparse
import socket
import struct
import sys
import threading
import time


def qinfo(pkt):
    """(qtype, qname) of a query, for the log; best effort."""
    try:
        i, labels = 12, []
        while pkt[i]:
            n = pkt[i]
            labels.append(pkt[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = struct.unpack("!H", pkt[i + 1:i + 3])[0]
        return qtype, ".".join(labels) + "."
    except (IndexError, struct.error):
        return 0, "?"


def main():
    p = argparse.ArgumentParser(prog="dnsfault.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--upstream", default="127.0.0.1:53")
    p.add_argument("--answer", type=int, default=-1)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--silent", action="store_true")
    p.add_argument("--log")
    o = p.parse_args()
    host, _, port = o.upstream.rpartition(":")
    if not host:
        host, port = o.upstream, "53"
    up = (host, int(port))
    logf = open(o.log, "a", buffering=1) if o.log else None
    lock = threading.Lock()
    count = [0]

    def decide(pkt):
        """True when this query is to be answered; logs it."""
        with lock:
            count[0] += 1
            n = count[0]
            fwd = not o.silent and (o.answer < 0 or n <= o.answer)
            if logf:
                qt, qn = qinfo(pkt)
                logf.write("%.3f %d %d %s %s\n" % (
                    time.time(), n, qt, qn, "forwarded" if fwd else
                    "dropped"))
        return fwd

    def ask_udp(pkt):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        try:
            s.sendto(pkt, up)
            return s.recv(65535)
        except OSError:
            return None
        finally:
            s.close()

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((o.addr, o.port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((o.addr, o.port))
    tcp.listen(16)

    def udp_one(pkt, peer):
        if o.delay:
            time.sleep(o.delay)
        ans = ask_udp(pkt)
        if ans is not None:
            udp.sendto(ans, peer)

    def udp_loop():
        while True:
            pkt, peer = udp.recvfrom(65535)
            if len(pkt) >= 12 and decide(pkt):
                threading.Thread(target=udp_one, args=(pkt, peer),
                                 daemon=True).start()

    def tcp_one(c):
        c.settimeout(20)
        try:
            hdr = c.recv(2, socket.MSG_WAITALL)
            if len(hdr) < 2:
                return
            pkt = c.recv(struct.unpack("!H", hdr)[0], socket.MSG_WAITALL)
            if not decide(pkt):
                c.recv(1)	# held until the client gives up
                return
            if o.delay:
                time.sleep(o.delay)
            u = socket.create_connection(up, timeout=5)
            u.sendall(hdr + pkt)
            h = u.recv(2, socket.MSG_WAITALL)
            ans = u.recv(struct.unpack("!H", h)[0], socket.MSG_WAITALL)
            u.close()
            c.sendall(h + ans)
        except (OSError, struct.error):
            pass
        finally:
            c.close()

    threading.Thread(target=udp_loop, daemon=True).start()
    print("ready", flush=True)
    for _ in range(200):
        c, _ = tcp.accept()
        threading.Thread(target=tcp_one, args=(c,), daemon=True).start()
    time.sleep(20)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
