#!/usr/bin/python3
"""The sync microbenchmarks of bench-sync.c, done in asyncio, for comparison.

Prints the same `name<TAB>ns_per_op<TAB>ops` lines.  Run with Debian's
interpreter: /usr/bin/python3 bench_sync_asyncio.py [scale] [--uvloop]
(scale multiplies the iteration counts, which are 1/20 of the C ones:
asyncio is that much slower and each benchmark should take a few seconds).
"""
import asyncio
import sys
import time

SCALE = 1


def report(name, elapsed_ns, ops):
    print(f"{name}\t{elapsed_ns / ops:.1f}\t{ops}", flush=True)


async def queue_handoff(name, maxsize, n):
    q = asyncio.Queue(maxsize)

    async def producer():
        for i in range(n):
            await q.put(i + 1)

    async def consumer():
        total = 0
        for _ in range(n):
            total += await q.get()
        assert total == n * (n + 1) // 2

    t0 = time.perf_counter_ns()
    c = asyncio.create_task(consumer())
    p = asyncio.create_task(producer())
    await p
    await c
    report(name, time.perf_counter_ns() - t0, n)


async def queue_pingpong(n):
    req, rep = asyncio.Queue(1), asyncio.Queue(1)

    async def echoer():
        for _ in range(n):
            await rep.put(await req.get())

    t = asyncio.create_task(echoer())
    t0 = time.perf_counter_ns()
    for i in range(n):
        await req.put(i + 1)
        await rep.get()
    report("queue_pingpong", time.perf_counter_ns() - t0, n)
    await t


async def lock_uncontended(n):
    lock = asyncio.Lock()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    report("lock_uncontended", time.perf_counter_ns() - t0, n)


async def lock_contended(n):
    lock = asyncio.Lock()
    per_task = n // 2

    async def worker():
        for _ in range(per_task):
            async with lock:
                await asyncio.sleep(0)

    t0 = time.perf_counter_ns()
    await asyncio.gather(worker(), worker())
    report("lock_contended", time.perf_counter_ns() - t0, 2 * per_task)


async def sem_uncontended(n):
    sem = asyncio.Semaphore(1)
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await sem.acquire()
        sem.release()
    report("sem_uncontended", time.perf_counter_ns() - t0, n)


async def event_pingpong(n):
    ping, pong = asyncio.Event(), asyncio.Event()

    async def ponger():
        for _ in range(n):
            await ping.wait()
            ping.clear()
            pong.set()

    t = asyncio.create_task(ponger())
    t0 = time.perf_counter_ns()
    for _ in range(n):
        ping.set()
        await pong.wait()
        pong.clear()
    report("event_pingpong", time.perf_counter_ns() - t0, n)
    await t


async def select4(name, maxsize, n):
    """Go's select has no asyncio form; its nearest is asyncio.wait over one
    get task per queue, FIRST_COMPLETED, renewing only the tasks that
    finished (cheaper than racing four fresh gets and cancelling three)."""
    qs = [asyncio.Queue(maxsize) for _ in range(4)]

    async def producer():
        for i in range(n):
            await qs[i % 4].put(i + 1)

    async def consumer():
        total = got = 0
        getters = {asyncio.ensure_future(q.get()): k for k, q in enumerate(qs)}
        while got < n:
            done, _ = await asyncio.wait(getters, return_when=asyncio.FIRST_COMPLETED)
            for f in done:
                k = getters.pop(f)
                total += f.result()
                got += 1
                getters[asyncio.ensure_future(qs[k].get())] = k
        for f in getters:
            f.cancel()
        assert total == n * (n + 1) // 2

    t0 = time.perf_counter_ns()
    c = asyncio.create_task(consumer())
    p = asyncio.create_task(producer())
    await p
    await c
    report(name, time.perf_counter_ns() - t0, n)


async def gen_next(name, n):
    """`async for` over an async generator: one __anext__ per item.  The
    generator runs inline in the consumer's task, without the event loop
    (asyncio has no generator that is a task of its own, as eddy's is)."""

    async def counter():
        for i in range(1, n + 1):
            yield i

    t0 = time.perf_counter_ns()
    total = 0
    async for v in counter():
        total += v
    report(name, time.perf_counter_ns() - t0, n)
    assert total == n * (n + 1) // 2


async def main():
    await queue_handoff("queue_handoff_max1", 1, 50000 * SCALE)
    await queue_handoff("queue_handoff_max64", 64, 200000 * SCALE)
    await queue_pingpong(50000 * SCALE)
    await lock_uncontended(1000000 * SCALE)
    await lock_contended(50000 * SCALE)
    await sem_uncontended(1000000 * SCALE)
    await event_pingpong(50000 * SCALE)
    # asyncio has no channel: a Queue(1) is its nearest rendezvous.
    await queue_handoff("chan_handoff", 1, 50000 * SCALE)
    await queue_handoff("chan_handoff_cap64", 64, 200000 * SCALE)
    await select4("select4_handoff", 1, 50000 * SCALE)
    await select4("select4_cap64", 64, 200000 * SCALE)
    await gen_next("gen_next", 200000 * SCALE)
    # No run-ahead form in asyncio: the same generator.
    await gen_next("gen_next_ahead", 200000 * SCALE)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if args:
        SCALE = max(1, int(args[0]))
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main())
