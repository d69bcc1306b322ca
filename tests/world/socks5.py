#!/usr/bin/python3
# ISC license.
"""A small SOCKS5 proxy (RFC 1928, CONNECT only, no authentication) for tests.

    socks5.py ADDR PORT LOGFILE

Names (ATYP 3) are resolved by the proxy with the system resolver, as Tor or
ssh -D do for socks5h clients.  Each request is logged as one line
"CONNECT <atyp> <host> <port> -> <reply code>" so tests can check what the
client sent.  Connections to the destination time out after 10 seconds.
At most 200 sessions are served; each relays until either side closes or
60 seconds pass without data.
"""

import asyncio
import ipaddress
import socket
import struct
import sys

REPLIES = {
    socket.ECONNREFUSED if hasattr(socket, "ECONNREFUSED") else 111: 5,
}


async def relay(r, w):
    try:
        while True:
            data = await asyncio.wait_for(r.read(65536), 60)
            if not data:
                break
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        try:
            w.close()
        except Exception:
            pass


def main():
    addr, port, logname = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    log = open(logname, "a", buffering=1)
    served = 0

    async def session(reader, writer):
        nonlocal served
        served += 1
        if served > 200:
            writer.close()
            return
        try:
            ver, n = await asyncio.wait_for(reader.readexactly(2), 10)
            methods = await reader.readexactly(n)
            if ver != 5 or 0 not in methods:
                writer.write(b"\x05\xff")
                writer.close()
                return
            writer.write(b"\x05\x00")
            ver, cmd, _, atyp = await reader.readexactly(4)
            if atyp == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif atyp == 4:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            elif atyp == 3:
                ln = (await reader.readexactly(1))[0]
                host = (await reader.readexactly(ln)).decode("ascii", "replace")
            else:
                writer.write(b"\x05\x08\x00\x01" + bytes(6))
                writer.close()
                return
            dport = struct.unpack("!H", await reader.readexactly(2))[0]
            code = 0
            try:
                r2, w2 = await asyncio.wait_for(
                    asyncio.open_connection(host, dport), 10)
            except asyncio.TimeoutError:
                code = 6
            except socket.gaierror:
                code = 4
            except ConnectionRefusedError:
                code = 5
            except OSError:
                code = 1
            log.write("CONNECT %d %s %d -> %d\n" % (atyp, host, dport, code))
            writer.write(bytes([5, code, 0, 1]) + bytes(6))
            await writer.drain()
            if code != 0:
                writer.close()
                return
            await asyncio.gather(relay(reader, w2), relay(r2, writer))
        except Exception:
            try:
                writer.close()
            except Exception:
                pass

    async def run():
        server = await asyncio.start_server(session, addr, port)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
