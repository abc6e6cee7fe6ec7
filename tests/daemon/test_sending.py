#!/usr/bin/python3
"""eddy black-box: the response write path.  timeouts.send bounds each wait
for the client to take bytes, not the whole response; the access log counts
the body bytes that actually left (whole, cut by the client, cut by a
shutdown)."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
MB = 1 << 20
SIZES = {"one.bin": 1 * MB, "big.bin": 12 * MB, "huge.bin": 64 * MB}
os.makedirs(WWW, exist_ok=True)
for name, size in SIZES.items():
    with open(os.path.join(WWW, name), "wb") as f:
        f.truncate(size)      # sparse: costs no disk

SEND = 2.0
CONF = """
[server]
listen = 127.0.0.1:{port}
[timeouts]
send = 2s
shutdown = {shutdown}
[log]
access = {log}
[route /health]
type = return
status = 200
body = ok
content_type = text/plain
[route /files/]
type = static
root = {www}
"""

QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMBINED = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]+)\] %s (\d{3}) (\d+|-) %s %s$'
                      % (QUOTED, QUOTED, QUOTED))


def start(name, shutdown="5s", send="2s"):
    log = suite.path(name + "-access.log")
    conf = CONF.replace("send = 2s", "send = " + send)
    d = suite.start(conf, name=name, subs={"www": WWW, "log": log, "shutdown": shutdown})
    return d, log


@suite.fixture
def served():
    return start("send")


def log_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def find(path, target):
    """The (status, bytes) of the log line that requests target, or None.
    Records are written asynchronously: tests use targets of their own."""
    for line in log_lines(path):
        m = COMBINED.match(line)
        if m and m.group(5).split(" ")[1] == target:
            return int(m.group(6)), int(m.group(7)) if m.group(7) != "-" else 0
    return None


def logged(path, target, timeout=5):
    """Waits for the log line of target: (status, bytes)."""
    return wait_until(lambda: find(path, target), timeout, "a log line for %s" % target)


def read_head(c):
    """Reads a 200 response's head; returns the body bytes that came with it
    (taken out of the connection's buffer: read c.sock directly next)."""
    r = c.read_head()
    eq(r.status, 200, "status")
    got = len(c.buf)
    del c.buf[:]
    return got


def read_until_closed(c, limit):
    """Reads until EOF or reset; returns the bytes read."""
    got = 0
    while got < limit:
        try:
            data = c.sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not data:
            break
        got += len(data)
    return got


@suite.test("send timeout bounds each wait: a slow steady reader gets a 12 MB file "
            "over more than 3x timeouts.send", timeout=90)
def _():
    d, log = served()
    rate = 1.5 * MB                     # bytes per second
    with d.conn(rcvbuf=64 * 1024, timeout=scaled(10)) as c:
        c.req("GET", "/files/big.bin")
        got = read_head(c)
        t0 = time.monotonic()
        while got < SIZES["big.bin"]:
            # Read no faster than rate: the server's writes wait often.
            ahead = got / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(min(ahead, 0.1))
            data = c.sock.recv(min(64 * 1024, SIZES["big.bin"] - got))
            if not data:
                fail("cut after %d of %d bytes, %.1fs in" % (got, SIZES["big.bin"],
                                                             time.monotonic() - t0))
            got += len(data)
        took = time.monotonic() - t0
    ok(took > 3 * SEND, "the download took %.1fs, not more than 3x the send timeout" % took)
    eq(logged(log, "/files/big.bin"), (200, SIZES["big.bin"]), "logged status, bytes")


@suite.test("send timeout: a client that stops reading is cut about timeouts.send later")
def _():
    d, log = served()
    with d.conn(rcvbuf=16 * 1024, timeout=scaled(10)) as c:
        c.req("GET", "/files/huge.bin?stall")
        got = read_head(c)
        while got < 2 * MB:
            got += len(c.sock.recv(65536))
        t0 = time.monotonic()           # stops reading here
        # The record is written when the response ends: not before the
        # send timeout, and soon after it.
        time.sleep(SEND - 0.7)
        eq(find(log, "/files/huge.bin?stall"), None, "log line before the send timeout")
        status, sent = logged(log, "/files/huge.bin?stall", timeout=3)
        took = time.monotonic() - t0
        c.sock.settimeout(scaled(5))
        # Whatever the buffers held, then the end: EOF or RST.
        got += read_until_closed(c, SIZES["huge.bin"])
    less(got, SIZES["huge.bin"], "bytes received of a 64 MB response")
    between(took, SEND - 0.7, SEND + scaled(2), "seconds from the last read to the cut")
    eq(status, 200, "logged status")
    between(sent, 2 * MB, got, "logged bytes of the cut response")


@suite.test("access log: a whole download counts its size, a HEAD 0")
def _():
    d, log = served()
    r = d.get("/files/one.bin?get")
    eq(r.status, 200, "status")
    eq(len(r.body), SIZES["one.bin"], "body length")
    eq(logged(log, "/files/one.bin?get"), (200, SIZES["one.bin"]), "logged status, bytes")
    r = d.request("HEAD", "/files/one.bin?head")
    eq(r.status, 200, "HEAD status")
    eq(logged(log, "/files/one.bin?head"), (200, 0), "logged HEAD status, bytes")


@suite.test("access log: a download cut by the client counts what left, not the size")
def _():
    d, log = served()
    size = SIZES["huge.bin"]
    with d.conn(rcvbuf=16 * 1024, timeout=scaled(10)) as c:
        c.req("GET", "/files/huge.bin?cut")
        got = read_head(c)
        while got < 100 * 1024:
            got += len(c.sock.recv(65536))
        # Let the server fill its socket, then go.
        time.sleep(0.3)
    status, sent = logged(log, "/files/huge.bin?cut", timeout=SEND + 5)
    eq(status, 200, "logged status")
    ok(100 * 1024 <= sent < size, "logged bytes %d: not in [100 KiB, %d)" % (sent, size))
    d.health()


@suite.test("access log: pipelined responses cut in the middle are counted each", timeout=30)
def _():
    d, log = served()
    with d.conn(rcvbuf=16 * 1024, timeout=scaled(10)) as c:
        c.send(build_request("GET", "/files/one.bin?p1") + build_request("GET", "/health?p2") +
               build_request("GET", "/files/huge.bin?p3"))
        r = c.read_response()
        eq(len(r.body), SIZES["one.bin"], "first body")
        r = c.read_response()
        eq(r.body, b"ok", "second body")
        got = read_head(c)
        while got < 100 * 1024:
            got += len(c.sock.recv(65536))
    eq(logged(log, "/files/one.bin?p1"), (200, SIZES["one.bin"]), "first: status, bytes")
    eq(logged(log, "/health?p2"), (200, 2), "second: status, bytes")
    status, sent = logged(log, "/files/huge.bin?p3", timeout=SEND + 5)
    eq(status, 200, "third: status")
    ok(100 * 1024 <= sent < SIZES["huge.bin"], "bytes of the cut one: %d" % sent)


@suite.test("access log: downloads cut by shutdown are logged with what left, status 200 "
            "(keep-alive and Connection: close)", timeout=40)
def _():
    d, log = start("shutdown", shutdown="1s", send="30s")
    size = SIZES["huge.bin"]
    conns = [d.conn(rcvbuf=16 * 1024, timeout=scaled(10)) for _ in range(2)]
    try:
        conns[0].req("GET", "/files/huge.bin")
        conns[1].req("GET", "/files/huge.bin?close", headers=[("Connection", "close")])
        for c in conns:
            got = read_head(c)
            while got < 100 * 1024:
                got += len(c.sock.recv(65536))
        time.sleep(0.3)                 # they stop reading: the server waits
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        eq(d.wait_exit(scaled(10)), 0, "exit code")
        less(time.monotonic() - t0, 1 + scaled(3), "seconds from SIGTERM to exit")
    finally:
        for c in conns:
            c.close()
    for target in ("/files/huge.bin", "/files/huge.bin?close"):
        status, sent = logged(log, target)
        eq(status, 200, "logged status of " + target)
        ok(100 * 1024 <= sent < size, "logged bytes %d of %s: not in [100 KiB, %d)"
           % (sent, target, size))


suite.run()
