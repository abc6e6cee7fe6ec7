#!/usr/bin/python3
"""eddy black-box: lingering close.  When eddy ends a connection while the
client is still sending (requests_per_connection, Connection: close,
HTTP/1.0, a refused request), the last response must arrive whole instead
of being cut by the RST a close with unread input provokes; and a client
that never closes its side is dropped after the linger bound."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
BIG = os.urandom(200 * 1024)
write_file(os.path.join(WWW, "big.bin"), BIG)
write_file(os.path.join(WWW, "small.txt"), b"small\n")

CONF = """[server]
listen = 127.0.0.1:{port}
[timeouts]
linger = {linger}
shutdown = {shutdown}
[limits]
requests_per_connection = {rpc}
body_size = 1k
[route /]
type = static
root = {www}
"""

# Pipelined bytes the server never reads: more than its read buffer takes,
# so some stay unread in its socket at the close.
JUNK_REQUESTS = build_request("GET", "/small.txt") * 600
ROUNDS = 10


def daemon(name, linger="5s", rpc=0, shutdown="10s"):
    return suite.start(CONF, name=name, subs={"www": WWW, "linger": linger, "rpc": rpc,
                                              "shutdown": shutdown})


@suite.fixture
def rpc1():
    return daemon("rpc1", rpc=1)


@suite.fixture
def plain():
    return daemon("plain")


def whole_response(d, first, extra):
    """Sends first + extra in one write with a small receive buffer and
    reads late, so that the response is still in flight when eddy closes;
    returns the first response's body."""
    with d.conn(rcvbuf=8192) as c:
        c.send(first + extra)
        time.sleep(0.2)
        r = c.read_response()
        eq(r.status, 200, "status")
        c.wait_closed()
        return r.body


def check_rounds(d, first, extra):
    whole = 0
    for _ in range(ROUNDS):
        try:
            body = whole_response(d, first, extra)
        except (Failure, OSError):
            continue
        whole += body == BIG
    eq(whole, ROUNDS, "responses that arrived whole")


@suite.test("requests_per_connection = 1 with pipelined requests: the 200 KB response arrives whole")
def _():
    check_rounds(rpc1(), build_request("GET", "/big.bin"), JUNK_REQUESTS)


@suite.test("Connection: close followed by pipelined garbage: the response arrives whole")
def _():
    first = build_request("GET", "/big.bin", headers=[("Connection", "close")])
    check_rounds(plain(), first, b"\x00garbage\xff" * 4000)


@suite.test("HTTP/1.0 followed by more requests: the response arrives whole")
def _():
    first = build_request("GET", "/big.bin", version="HTTP/1.0")
    check_rounds(plain(), first, JUNK_REQUESTS)


@suite.test("a refused request with an unread body: the 413 arrives whole")
def _():
    d = plain()
    for _ in range(ROUNDS):
        with d.conn() as c:
            c.send(build_request("POST", "/small.txt", headers=[("Content-Length", "100000")])
                   + b"x" * 65536)
            r = c.read_response()
            eq(r.status, 413, "status")
            c.wait_closed()


@suite.test("SIGTERM while a keep-alive client is idle: its last response still arrives whole")
def _():
    d = daemon("drainidle")
    with d.conn(rcvbuf=8192) as c:
        c.req("GET", "/big.bin")
        time.sleep(0.5)  # the response waits in eddy's socket, the connection idles
        d.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            c.send(JUNK_REQUESTS)  # the next requests, which the drain refuses
        except OSError:
            pass
        r = c.read_response()
        eq(r.status, 200, "status")
        ok(r.body == BIG, "the whole body (%d of %d bytes)" % (len(r.body), len(BIG)))
    eq(d.wait_exit(scaled(10)), 0, "exit code")


def time_to_reset(c, limit):
    """Trickles a byte every 0.1 s until the server resets the connection;
    returns the seconds that took."""
    start = time.monotonic()
    c.sock.settimeout(0.1)
    while time.monotonic() - start < limit:
        try:
            c.sock.send(b"x")
            if c.sock.recv(100) == b"":
                pass  # the half-close seen again
        except socket.timeout:
            pass
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
        time.sleep(0.1)
    fail("connection still open after %.1f s" % limit)


@suite.test("a client that keeps sending after Connection: close is dropped after linger")
def _():
    d = daemon("linger1", linger="1s")
    with d.conn() as c:
        # A byte after the request: the client is still sending, so eddy lingers.
        c.send(build_request("GET", "/small.txt", headers=[("Connection", "close")]) + b"x")
        r = c.read_response()
        eq(r.body, b"small\n", "body")
        closed, extra = c.wait_closed()
        ok(closed, "half-close (EOF) after the response")
        t = time_to_reset(c, scaled(6))
        between(t, 0.5, scaled(3), "seconds until the full close")


@suite.test("a silent client that never closes is dropped after linger")
def _():
    d = daemon("linger1s", linger="1s")
    with d.conn() as c:
        c.send(build_request("GET", "/small.txt", headers=[("Connection", "close")]) + b"x")
        c.read_response()
        c.wait_closed()
        time.sleep(1.5 * SCALE)
        t = time_to_reset(c, scaled(3))
        less(t, scaled(1), "seconds until a reset once the linger is over")


def closed_at_once(d, what):
    """A Connection: close request with nothing after it: the connection is
    fully closed (a reset for the next byte) within a second."""
    with d.conn() as c:
        c.req("GET", "/small.txt", headers=[("Connection", "close")])
        c.read_response()
        c.wait_closed()
        time.sleep(0.3)
        t = time_to_reset(c, scaled(3))
        less(t, scaled(1), what)


@suite.test("linger = 0 closes at once")
def _():
    closed_at_once(daemon("linger0", linger="0"), "seconds until a reset")


@suite.test("SIGTERM ends within timeouts.shutdown while a client lingers")
def _():
    d = daemon("lingerterm", linger="30s", shutdown="1s")
    with d.conn() as c:
        c.send(build_request("GET", "/small.txt", headers=[("Connection", "close")]) + b"x")
        c.read_response()
        c.wait_closed()
        c.send(b"x")
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        ok(d.wait_exit(scaled(5)) is not None, "eddy exited")
        less(time.monotonic() - t0, scaled(3), "seconds to exit")


@suite.test("nothing left to read: a plain close, no linger")
def _():
    closed_at_once(daemon("nolinger", linger="30s"),
                   "seconds until a reset (linger = 30s must not apply)")


@suite.test("SIGTERM with an idle keep-alive client: eddy exits at once, no linger")
def _():
    d = daemon("idleterm", linger="30s", shutdown="10s")
    with d.conn() as c:
        c.req("GET", "/small.txt")
        eq(c.read_response().status, 200, "status")
        time.sleep(0.3)
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        eq(d.wait_exit(scaled(5)), 0, "exit code")
        less(time.monotonic() - t0, scaled(1), "seconds to exit")


suite.run()
