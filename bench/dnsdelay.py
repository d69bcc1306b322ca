#!/usr/bin/python3
# ISC license.
#
# dnsdelay.py LISTEN_ADDR PORT UPSTREAM_ADDR UPSTREAM_PORT DELAY_MS LIFETIME_S
#
# A UDP DNS relay for the benchmarks: every query is held for DELAY_MS, then
# sent to the upstream resolver from a fresh socket, and the answer is passed
# back unchanged.  Each query is delayed on its own, so queries that arrive
# together are answered together: a resolver with a round-trip time of
# DELAY_MS.  Exits by itself after LIFETIME_S seconds.  Used only inside the
# test world (bench/mxconnect.sh).

import asyncio
import socket
import sys


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, reply, query):
        self.reply = reply
        self.query = query
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.sendto(self.query)

    def datagram_received(self, data, addr):
        self.reply(data)
        self.transport.close()

    def error_received(self, exc):
        self.transport.close()


class Relay(asyncio.DatagramProtocol):
    def __init__(self, upstream, delay):
        self.upstream = upstream
        self.delay = delay
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay, self.forward, data, addr)

    def forward(self, data, addr):
        loop = asyncio.get_running_loop()

        def reply(answer):
            self.transport.sendto(answer, addr)

        task = loop.create_datagram_endpoint(
            lambda: Upstream(reply, data), remote_addr=self.upstream)
        up = asyncio.ensure_future(task)

        def reap():
            # An upstream that never answers: drop the socket after 5 s.
            if up.done() and not up.exception():
                up.result()[0].close()

        loop.call_later(5, reap)


async def main():
    if len(sys.argv) != 7:
        sys.stderr.write("usage: dnsdelay.py ADDR PORT UP_ADDR UP_PORT "
                         "DELAY_MS LIFETIME_S\n")
        sys.exit(64)
    addr, port = sys.argv[1], int(sys.argv[2])
    upstream = (sys.argv[3], int(sys.argv[4]))
    delay = float(sys.argv[5]) / 1000.0
    lifetime = float(sys.argv[6])
    loop = asyncio.get_running_loop()
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Relay(upstream, delay), local_addr=(addr, port), family=fam)
    print("dnsdelay: %s:%d -> %s:%d, %g ms" %
          (addr, port, upstream[0], upstream[1], delay * 1000), flush=True)
    await asyncio.sleep(lifetime)
    transport.close()


asyncio.run(main())
