#!/usr/bin/python3
"""Python WebSocket echo server for bench-ws.sh: Debian's python3-websockets on
python3-uvloop.  Every message goes back as it came; no compression and no
pings (ping_interval=None: uws-load counts bytes and wants nothing else).

usage: /usr/bin/python3 ws-echo.py PORT"""
import asyncio
import sys

import uvloop
import websockets


async def echo(ws, *_):
    async for msg in ws:
        await ws.send(msg)


async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port, compression=None, ping_interval=None,
                                max_size=16 * 1024 * 1024):
        print("listening on port %d" % port, flush=True)
        await asyncio.Future()


uvloop.install()
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 18202))
