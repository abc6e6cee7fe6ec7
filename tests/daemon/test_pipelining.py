#!/usr/bin/python3
"""eddy black-box: pipelined requests are answered in order."""
import os
import random
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
BODIES = {}
for i in range(16):
    BODIES["/p%02d.txt" % i] = ("pipelined response number %d\n" % i).encode() * (i + 1)
    write_file(WWW + "/p%02d.txt" % i, BODIES["/p%02d.txt" % i])
BIG = os.urandom(1 << 20)
write_file(WWW + "/big.bin", BIG)

CONF = """
[server]
listen = 127.0.0.1:{port}
[route /]
type = static
root = {www}
[route /echo]
type = return
status = 200
body = echoed
content_type = text/plain
"""


@suite.fixture
def d():
    return suite.start(CONF, subs={"www": WWW})


PATHS = sorted(BODIES)


@suite.test("16 pipelined GETs in one write: answered in order, bodies checked")
def _():
    with d().conn() as c:
        c.send(b"".join(build_request("GET", p) for p in PATHS))
        for i, p in enumerate(PATHS):
            r = c.read_response()
            eq(r.status, 200, "status of response %d" % i)
            eq(r.body, BODIES[p], "body of response %d (%s)" % (i, p))
        c.expect_open(0.2)


@suite.test("16 pipelined GETs twice on the same connection")
def _():
    with d().conn() as c:
        for rnd in range(2):
            order = PATHS[::-1] if rnd else PATHS
            c.send(b"".join(build_request("GET", p) for p in order))
            for i, p in enumerate(order):
                eq(c.read_response().body, BODIES[p], "round %d body %d (%s)" % (rnd, i, p))


@suite.test("pipelined GET, HEAD, POST with bodies, GET: in order")
def _():
    reqs = [("GET", "/p00.txt", b""), ("HEAD", "/p01.txt", b""),
            ("POST", "/echo", b"x" * 1000), ("GET", "/p02.txt", b""),
            ("POST", "/echo", None), ("HEAD", "/p03.txt", b""), ("GET", "/p04.txt", b"")]
    data = b""
    for m, p, body in reqs:
        if body is None:
            data += build_request(m, p, headers=[("Transfer-Encoding", "chunked")],
                                  body=chunked(b"y" * 3000))
        else:
            data += build_request(m, p, body=body)
    with d().conn() as c:
        c.send(data)
        for i, (m, p, body) in enumerate(reqs):
            r = c.read_response(m)
            eq(r.status, 200, "status %d (%s %s)" % (i, m, p))
            if m == "HEAD":
                eq(r.h("content-length"), str(len(BODIES[p])), "HEAD Content-Length %d" % i)
            elif p == "/echo":
                eq(r.body, b"echoed", "body %d" % i)
            else:
                eq(r.body, BODIES[p], "body %d" % i)


@suite.test("pipelined requests split into random small writes")
def _():
    rng = random.Random(4)
    data = b"".join(build_request("GET", p) for p in PATHS)
    with d().conn() as c:
        i = 0
        while i < len(data):
            n = rng.randint(1, 40)
            c.send(data[i:i + n])
            i += n
            if rng.random() < 0.1:
                time.sleep(0.002)
        for i, p in enumerate(PATHS):
            eq(c.read_response().body, BODIES[p], "body %d (%s)" % (i, p))


@suite.test("pipelined: a 1 MiB file between two small ones keeps the order")
def _():
    with d().conn() as c:
        c.send(build_request("GET", "/p00.txt") + build_request("GET", "/big.bin")
               + build_request("GET", "/p01.txt") + build_request("GET", "/big.bin")
               + build_request("GET", "/p02.txt"))
        eq(c.read_response().body, BODIES["/p00.txt"], "first")
        ok(c.read_response().body == BIG, "second (1 MiB) body differs")
        eq(c.read_response().body, BODIES["/p01.txt"], "third")
        ok(c.read_response().body == BIG, "fourth (1 MiB) body differs")
        eq(c.read_response().body, BODIES["/p02.txt"], "fifth")


@suite.test("pipelined: the last request says close; all answered, then closed")
def _():
    with d().conn() as c:
        c.send(b"".join(build_request("GET", p) for p in PATHS[:5])
               + build_request("GET", PATHS[5], headers=[("Connection", "close")]))
        for i, p in enumerate(PATHS[:6]):
            eq(c.read_response().body, BODIES[p], "body %d" % i)
        eq(c.expect_closed(scaled(2)), b"", "bytes after the last response")


@suite.test("pipelined: requests after Connection: close are not answered")
def _():
    with d().conn() as c:
        c.send(build_request("GET", PATHS[0], headers=[("Connection", "close")])
               + build_request("GET", PATHS[1]) + build_request("GET", PATHS[2]))
        eq(c.read_response().body, BODIES[PATHS[0]], "first body")
        eq(c.expect_closed(scaled(2)), b"", "bytes after the close response")


@suite.test("pipelined: valid requests before a malformed one are answered, then 400")
def _():
    with d().conn() as c:
        c.send(build_request("GET", PATHS[0]) + build_request("GET", PATHS[1])
               + b"GET /x HTTP/1.1\r\nBad Header Name: 1\r\n\r\n" + build_request("GET", PATHS[2]))
        eq(c.read_response().body, BODIES[PATHS[0]], "first body")
        eq(c.read_response().body, BODIES[PATHS[1]], "second body")
        eq(c.read_response().status, 400, "third status")
        eq(c.expect_closed(scaled(2)), b"", "bytes after the 400")


@suite.test("100 pipelined requests in one write")
def _():
    paths = [PATHS[i % 16] for i in range(100)]
    with d().conn() as c:
        c.send(b"".join(build_request("GET", p) for p in paths))
        for i, p in enumerate(paths):
            eq(c.read_response().body, BODIES[p], "body %d" % i)


@suite.test("16 pipelined requests with curl's HTTP/1.1 client on one connection")
def _():
    dd = d()
    args = []
    for p in PATHS:
        args += ["-o", "/dev/null", dd.url(p)]
    p = curl("-v", "-w", "%{http_code} %{size_download}\\n", *args)
    eq(p.returncode, 0, "curl exit code")
    lines = p.stdout.decode().split()
    eq(lines[0::2], ["200"] * 16, "statuses")
    eq([int(x) for x in lines[1::2]], [len(BODIES[q]) for q in PATHS], "sizes")
    eq(len(re.findall(r"(?i)connected to",
                      p.stderr.decode("utf-8", "replace"))), 1, "connections made")


suite.run()
