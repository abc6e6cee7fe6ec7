#!/usr/bin/python3
"""The servers of bench-io.c, done in asyncio, for tests/bench/run-io.sh.

    /usr/bin/python3 bench_io_asyncio.py server [--uvloop]
        asyncio's streams echo server (readline, write, drain) on 127.0.0.1,
        port 0; prints "port N" and serves until killed.  bench-io's client
        drives it and measures its CPU time.
    /usr/bin/python3 bench_io_asyncio.py thread [--uvloop]
        asyncio.to_thread round trip, `name<TAB>ns_per_op<TAB>ops` as
        bench-io prints it (best of three runs).

Run with Debian's interpreter; uvloop is `apt-get install python3-uvloop`.
"""
import asyncio
import sys
import time


async def handle_echo(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve():
    server = await asyncio.start_server(handle_echo, "127.0.0.1", 0, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def noop(x):
    return x


async def thread_bench():
    n = 2000  # asyncio is about ten times slower than eddy here
    best = None
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await asyncio.to_thread(noop, 1)
        ns = time.perf_counter_ns() - t0
        best = ns if best is None else min(best, ns)
    print(f"to_thread\t{best / n:.1f}\t{n}", flush=True)


def main():
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.install()
    if args == ["server"]:
        asyncio.run(serve())
    elif args == ["thread"]:
        asyncio.run(thread_bench())
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
