#!/usr/bin/python3
"""eddy black-box: header (slowloris), body, keep-alive and send timeouts."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
HUGE = 64 << 20
for base in ("", "files/"):
    write_file(os.path.join(WWW, base, "a.txt"), b"a\n")
    with open(os.path.join(WWW, base, "huge.bin"), "wb") as f:
        f.truncate(HUGE)      # sparse: costs no disk

HEADER, BODY, KEEPALIVE, SEND = 2.0, 2.0, 1.0, 2.0
CONF = """
[server]
listen = 127.0.0.1:{port}
[timeouts]
header = 2s
body = 2000ms
keepalive = 1s
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
content_type = text/plain
[route /files/]
type = static
root = {www}
"""
SLOW_HEAD = b"GET /health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\n\r\n"


@suite.fixture
def d():
    return suite.start(CONF, subs={"www": WWW})


def slowloris(port, interval=1.0):
    """Sends SLOW_HEAD one byte per interval until the server answers;
    returns (response or None, seconds until it, closed afterwards)."""
    c = Conn(port, timeout=scaled(3))
    t0 = time.monotonic()
    try:
        for i in range(len(SLOW_HEAD)):
            if time.monotonic() - t0 > HEADER + scaled(3):
                break
            try:
                c.send(SLOW_HEAD[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            if c.readable(interval):
                break
        try:
            r = c.read_response()
        except Failure:
            r = None
        elapsed = time.monotonic() - t0
        closed, _ = c.wait_closed(scaled(3))
        return r, elapsed, closed
    finally:
        c.close()


def timed_get(daemon, path="/health"):
    t0 = time.monotonic()
    r = daemon.get(path)
    return r, time.monotonic() - t0


@suite.test("slowloris (a byte a second): 408 and closed after timeouts.header, "
            "while another client is served in < 200 ms")
def _():
    dd = d()
    slow = spawn(slowloris, dd.port)
    lat = []
    while slow.is_alive() and len(lat) < 100:
        r, t = timed_get(dd)
        eq((r.status, r.body), (200, b"ok"), "normal client response %d" % len(lat))
        lat.append(t)
        time.sleep(0.1)
    r, elapsed, closed = slow.join_result(scaled(10))
    ok(r is not None, "the slow client got no response (closed silently or still open)")
    eq(r.status, 408, "slow client status")
    ok(closed, "slow client's connection still open after the 408")
    between(elapsed, HEADER - 0.5, HEADER + scaled(2), "seconds until the 408")
    ok(len(lat) >= 5, "only %d normal requests meanwhile" % len(lat))
    less(max(lat), scaled(0.2), "worst normal-client latency (s) during the attack")


@suite.test("ten slowloris clients at once: all get 408, normal clients still served")
def _():
    dd = d()
    slow = [spawn(slowloris, dd.port) for _ in range(10)]
    lat = []
    while any(t.is_alive() for t in slow) and len(lat) < 100:
        r, t = timed_get(dd)
        eq(r.status, 200, "normal client status")
        lat.append(t)
        time.sleep(0.1)
    for i, t in enumerate(slow):
        r, elapsed, closed = t.join_result(scaled(10))
        ok(r is not None and r.status == 408 and closed,
           "slow client %d: %r closed=%s" % (i, r, closed))
    less(max(lat), scaled(0.2), "worst normal-client latency (s)")


@suite.test("a partial head then silence: 408 and closed after timeouts.header")
def _():
    with d().conn(timeout=scaled(HEADER + 5)) as c:
        t0 = time.monotonic()
        c.send(b"GET /health HTTP/1.1\r\nHo")
        r = c.read_response()
        elapsed = time.monotonic() - t0
        eq(r.status, 408, "status")
        c.expect_closed(scaled(2))
        between(elapsed, HEADER - 0.5, HEADER + scaled(2), "seconds until the 408")


@suite.test("a connection that sends nothing is closed (nothing or a 408 sent)")
def _():
    with d().conn(timeout=scaled(10)) as c:
        t0 = time.monotonic()
        extra = c.expect_closed(max(HEADER, KEEPALIVE) + scaled(2))
        elapsed = time.monotonic() - t0
        if extra:
            match(r"^HTTP/1\.1 408 ", extra.decode("latin-1"), "bytes sent before the close")
        between(elapsed, min(HEADER, KEEPALIVE) - 0.5, max(HEADER, KEEPALIVE) + scaled(2),
                "seconds until the close")


@suite.test("keep-alive timeout: an idle connection is closed after timeouts.keepalive")
def _():
    with d().conn(timeout=scaled(10)) as c:
        c.req("GET", "/health")
        eq(c.read_response().status, 200, "first status")
        t0 = time.monotonic()
        extra = c.expect_closed(KEEPALIVE + scaled(2))
        elapsed = time.monotonic() - t0
        if extra:
            match(r"^HTTP/1\.1 408 ", extra.decode("latin-1"), "bytes sent before the close")
        between(elapsed, KEEPALIVE - 0.4, KEEPALIVE + scaled(2), "seconds until the close")


@suite.test("keep-alive timeout restarts after each request")
def _():
    with d().conn() as c:
        for i in range(4):
            c.req("GET", "/health")
            eq(c.read_response().status, 200, "status %d" % i)
            time.sleep(KEEPALIVE * 0.6)


@suite.test("a body that stops arriving: 408 and closed after timeouts.body")
def _():
    with d().conn(timeout=scaled(BODY + 5)) as c:
        c.req("POST", "/upload", headers=[("Content-Length", "100")])
        c.send(b"0123456789")
        t0 = time.monotonic()
        r = c.read_response()
        elapsed = time.monotonic() - t0
        eq(r.status, 408, "status")
        c.expect_closed(scaled(2))
        between(elapsed, BODY - 0.5, BODY + scaled(2), "seconds until the 408")


@suite.test("a body trickling in slower than timeouts.body overall but within it per read")
def _():
    with d().conn(timeout=scaled(10)) as c:
        c.req("POST", "/upload", headers=[("Content-Length", "6")])
        for b in b"abcdef":
            time.sleep(BODY * 0.25)
            c.send(bytes([b]))
        r = c.read_response()
        eq((r.status, r.body), (200, b"received"), "response")


@suite.test("send timeout: a client that never reads is dropped after timeouts.send")
def _():
    dd = d()
    with dd.conn(rcvbuf=4096, timeout=scaled(10)) as c:
        c.req("GET", "/files/huge.bin")
        time.sleep(SEND + scaled(1.5))
        got = 0
        t0 = time.monotonic()
        c.sock.settimeout(scaled(5))
        while True:
            try:
                data = c.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            except socket.timeout:
                fail("connection still open %.1fs after the send timeout (%d bytes read)"
                     % (SEND + scaled(1.5) + time.monotonic() - t0, got))
            if not data:
                break
            got += len(data)
        less(got, HUGE, "bytes received from a 64 MiB response")
    dd.health()


suite.run()
