#!/usr/bin/python3
# ISC license.
"""A tiny SMTP-ish peer for failure tests.

    greeter.py ADDR PORT GREETING [IDLE_SECONDS]

Every connection gets GREETING (one line, or several separated by newlines,
each sent with CRLF).  After a 421 greeting the connection is closed at once
(RFC 5321 section 3.8).  Otherwise QUIT is answered with 221 and every other
command with 503, until the client closes, IDLE_SECONDS (default 30) pass
without a line, or 100 lines were read.  An empty GREETING sends nothing and
holds the connection until the idle time ends (a silent server).
"""

import asyncio
import sys


def main():
    if len(sys.argv) not in (4, 5):
        sys.stderr.write("usage: greeter.py ADDR PORT GREETING [IDLE_SECONDS]\n")
        return 64
    addr, port, greeting = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    idle = float(sys.argv[4]) if len(sys.argv) == 5 else 30.0
    lines = [l for l in greeting.split("\n") if l]

    async def session(reader, writer):
        try:
            if not lines:
                await asyncio.wait_for(reader.read(1), idle)
                return
            for l in lines:
                writer.write(l.encode("utf-8", "replace") + b"\r\n")
            await writer.drain()
            if lines[-1].startswith("421"):
                return
            for _ in range(100):
                line = await asyncio.wait_for(reader.readline(), idle)
                if not line:
                    return
                verb = line.strip().split(b" ", 1)[0].upper()
                if verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                writer.write(b"503 5.5.1 No service here\r\n")
                await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(session, addr, port,
                                            reuse_address=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
