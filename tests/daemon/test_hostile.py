#!/usr/bin/python3
"""eddy black-box: whatever some clients send, the others keep being served
(garbage, huge heads, half-closed and reset connections, idle floods,
max_connections backpressure)."""
import os
import random
import struct
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
for base in ("", "files"):
    os.makedirs(os.path.join(WWW, base), exist_ok=True)
    with open(os.path.join(WWW, base, "big.bin"), "wb") as f:
        f.truncate(16 << 20)      # sparse: costs no disk

CONF = """
[server]
listen = 127.0.0.1:{port}
[timeouts]
header = 2s
keepalive = 2s
body = 2s
send = 2s
[route /health]
type = return
status = 200
body = ok
content_type = text/plain
[route /upload]
type = return
status = 200
body = received
[route /files/]
type = static
root = {www}
"""


@suite.fixture
def d():
    return suite.start(CONF, subs={"www": WWW})


def rst_close(sock):
    """Closes with a TCP reset instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def quiet(fn):
    """A hostile client: socket errors are expected and ignored."""
    def run(port, rng):
        try:
            fn(port, rng)
        except (OSError, Failure):
            pass
    run.__name__ = fn.__name__
    return run


@quiet
def garbage(port, rng):
    with Conn(port, timeout=3) as c:
        c.send(rng.randbytes(rng.randint(1, 4096)))
        if rng.random() < 0.5:
            c.wait_closed(3)


@quiet
def huge_head(port, rng):
    with Conn(port, timeout=3) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for _ in range(64):
            c.send(b"X-Junk: " + b"j" * 16000 + b"\r\n")


@quiet
def half_closed(port, rng):
    with Conn(port, timeout=3) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Part")
        c.sock.shutdown(socket.SHUT_WR)
        c.wait_closed(3)


@quiet
def connect_close(port, rng):
    Conn(port, timeout=3).close()


@quiet
def reset_mid_request(port, rng):
    c = Conn(port, timeout=3)
    c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"b" * 5000)
    rst_close(c.sock)


@quiet
def pipeline_and_leave(port, rng):
    c = Conn(port, timeout=3)
    c.send(build_request("GET", "/health") * 200)
    if rng.random() < 0.5:
        rst_close(c.sock)
    else:
        c.close()


@quiet
def download_and_reset(port, rng):
    c = Conn(port, timeout=3)
    c.req("GET", "/files/big.bin")
    c.sock.recv(rng.randint(1, 200000))
    if rng.random() < 0.5:
        rst_close(c.sock)
    else:
        c.close()


@quiet
def bad_chunks(port, rng):
    with Conn(port, timeout=3) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\nfffffffffffffffffffff\r\n")
        c.wait_closed(3)


@quiet
def slow_bytes(port, rng):
    with Conn(port, timeout=3) as c:
        for b in b"GET /health HTTP/1.1\r\n":
            c.send(bytes([b]))
            time.sleep(0.2)


HOSTILE = [garbage, huge_head, half_closed, connect_close, reset_mid_request,
           pipeline_and_leave, download_and_reset, bad_chunks, slow_bytes]


def attack(port, fn, seconds, seed):
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        fn(port, rng)
        n += 1
        time.sleep(0.005)
    return n


@suite.test("a burst of hostile clients (%d kinds) while a normal client is served"
            % len(HOSTILE), timeout=60)
def _():
    dd = d()
    threads = [spawn(attack, dd.port, fn, 3.0, i) for i, fn in enumerate(HOSTILE)]
    lat, failures = [], []
    keep = dd.conn()
    try:
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            try:
                r = dd.get("/health")
                eq((r.status, r.body), (200, b"ok"), "fresh-connection response")
                keep.req("GET", "/health")
                r = keep.read_response()
                eq((r.status, r.body), (200, b"ok"), "keep-alive response")
            except Exception as e:
                failures.append(repr(e))
                keep.close()
                keep = dd.conn()
            lat.append(time.monotonic() - t0)
            time.sleep(0.05)
    finally:
        keep.close()
    counts = [t.join_result(scaled(15)) for t in threads]
    eq(failures, [], "normal client failures during the burst")
    ok(len(lat) >= 10, "only %d normal requests" % len(lat))
    less(max(lat), scaled(0.5), "worst normal-client latency (s) for two requests")
    ok(all(counts), "a hostile client never ran: %r" % counts)
    dd.health()


@suite.test("a half-closed client (request, then shutdown(SHUT_WR)) gets its response")
def _():
    with d().conn() as c:
        c.req("GET", "/health")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        eq((r.status, r.body), (200, b"ok"), "response")
        c.expect_closed(scaled(2))


@suite.test("clients resetting during a 16 MiB response do not hurt the daemon")
def _():
    dd = d()
    for i in range(20):
        c = Conn(dd.port)
        c.req("GET", "/files/big.bin")
        c.sock.recv(65536)
        rst_close(c.sock)
    time.sleep(0.2)
    ok(dd.running(), "daemon died (SIGPIPE?)")
    dd.health()


@suite.test("300 idle connections: others still served, the idle ones closed by timeouts")
def _():
    dd = d()
    idle = []
    try:
        for i in range(300):
            c = Conn(dd.port)
            if i % 2:
                c.send(b"GET /hea")       # a partial head
            idle.append(c)
        for _ in range(5):
            r, t0 = None, time.monotonic()
            r = dd.get("/health")
            eq(r.status, 200, "status with 300 idle connections")
            # Generous for ASan builds running two test files at once.
            less(time.monotonic() - t0, scaled(0.5), "latency (s)")
        deadline = time.monotonic() + 2 + scaled(3)
        for i, c in enumerate(idle):
            closed, _ = c.wait_closed(max(0.1, deadline - time.monotonic()))
            ok(closed, "idle connection %d still open after the timeouts" % i)
    finally:
        for c in idle:
            c.close()
    dd.health()


@suite.test("max_connections = 4: the fifth connection waits for a free slot")
def _():
    dd = suite.start("[server]\nlisten = 127.0.0.1:{port}\nmax_connections = 4\n"
                     "[route /health]\ntype = return\nstatus = 200\nbody = ok\n",
                     name="maxconn")
    time.sleep(0.2)     # let the start-up probe's slot be released
    held = []
    try:
        for i in range(4):
            c = dd.conn()
            c.req("GET", "/health")
            eq(c.read_response().status, 200, "held connection %d" % i)
            held.append(c)
        with dd.conn(timeout=scaled(5)) as fifth:
            fifth.req("GET", "/health")
            ok(not fifth.readable(0.5), "the fifth connection was served at the limit")
            held.pop().close()
            r = fifth.read_response(timeout=scaled(3))
            eq(r.status, 200, "the fifth connection after a slot freed")
    finally:
        for c in held:
            c.close()


suite.run()
