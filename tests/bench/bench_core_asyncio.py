#!/usr/bin/python3
"""The task-core microbenchmarks of bench-core.c, done in asyncio.

Prints the same `name<TAB>ns_per_op<TAB>ops` lines, each the best of three
runs.  Run with Debian's interpreter:

    /usr/bin/python3 bench_core_asyncio.py [scale] [--uvloop]

scale multiplies the iteration counts, which are 1/20 of the C ones or
less (asyncio is that much slower, and each benchmark should take about a
second).  There is no ctx_switch line: asyncio has no bare context switch.
"""
import asyncio
import sys
import time

SCALE = 1
RUNS = 3


def report(name, elapsed_ns, ops):
    print(f"{name}\t{elapsed_ns / ops:.1f}\t{ops}", flush=True)


async def yielder(n):
    for _ in range(n):
        await asyncio.sleep(0)


async def task_switch(n):
    """Two tasks yielding to each other: ns per yield."""
    best = None
    for _ in range(RUNS):
        t0 = time.perf_counter_ns()
        a = asyncio.create_task(yielder(n))
        b = asyncio.create_task(yielder(n))
        await a
        await b
        ns = time.perf_counter_ns() - t0
        best = ns if best is None else min(best, ns)
    report("task_switch", best, 2 * n)


async def yield_(n):
    best = None
    for _ in range(RUNS):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await asyncio.sleep(0)
        ns = time.perf_counter_ns() - t0
        best = ns if best is None else min(best, ns)
    report("yield", best, n)


async def empty():
    return 0


async def spawn_join_once(n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.create_task(empty())
    return time.perf_counter_ns() - t0


async def spawn_join(n):
    best = min([await spawn_join_once(n) for _ in range(RUNS)])
    report("spawn_join", best, n)


async def timeout_scope(n):
    best = None
    for _ in range(RUNS):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            async with asyncio.timeout(1):
                pass
        ns = time.perf_counter_ns() - t0
        best = ns if best is None else min(best, ns)
    report("timeout_scope", best, n)


async def sleep_forever():
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        return 0
    return -1


async def cancel_join(n):
    """Batches of sleeping tasks; only the cancel and the await are timed."""
    batch = 1000
    best = None
    for _ in range(RUNS):
        total = 0
        done = 0
        while done < n:
            ts = [asyncio.create_task(sleep_forever()) for _ in range(batch)]
            await asyncio.sleep(0)
            t0 = time.perf_counter_ns()
            for t in ts:
                t.cancel()
                await t
            total += time.perf_counter_ns() - t0
            done += batch
        best = total if best is None else min(best, total)
    report("cancel_join", best, (n + batch - 1) // batch * batch)


async def main():
    await spawn_join_once(SCALE * 1000)  # warm-up
    await task_switch(SCALE * 50000)
    await yield_(SCALE * 50000)
    await spawn_join(SCALE * 50000)
    await timeout_scope(SCALE * 50000)
    await cancel_join(SCALE * 10000)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--uvloop"]
    if args:
        SCALE = max(1, int(args[0]))
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
        print("# asyncio with uvloop", flush=True)
    else:
        print(f"# asyncio, Python {sys.version.split()[0]}", flush=True)
    asyncio.run(main())
