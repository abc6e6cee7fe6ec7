#!/usr/bin/python3
"""eddy black-box: limits (414, 431, 413) and malformed requests (400 and
close, 501, 505)."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()

CONF = """
[server]
listen = 127.0.0.1:{port}
[limits]
uri_size = 1k
header_size = 8k
headers = 20
body_size = 1k
[route /]
type = return
status = 200
body = fine
content_type = text/plain
"""


@suite.fixture
def d():
    return suite.start(CONF)


NEXT = b"GET /next HTTP/1.1\r\nHost: localhost\r\n\r\n"


def answered(data, statuses, what, closed=True, follow=True):
    """Sends data (plus a valid request after it); the first response must
    have one of statuses, and if closed the connection must then close
    without answering the valid request."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    r, was_closed, extra = exchange(d().port, data + (NEXT if follow else b""))
    ok(r is not None, "%s: closed without a response" % what)
    isin(r.status, statuses, "%s: status" % what)
    if closed:
        ok(was_closed, "%s: connection not closed after %d" % (what, r.status))
        eq(extra, b"", "%s: bytes after the %d (the next request was answered?)"
           % (what, r.status))
    return r


def req(target="/", headers=(("Host", "localhost"),), version="HTTP/1.1", method="GET",
        body=b""):
    lines = ["%s %s %s" % (method, target, version)] + ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------------ limits

@suite.test("uri_size: a 2000-byte target is 414; a 900-byte one is served")
def _():
    eq(d().get("/" + "u" * 899).status, 200, "900-byte target")
    answered(req("/" + "u" * 1999), 414, "2000-byte target")


@suite.test("uri_size: a 64 KiB target is 414 (or 431) and closed")
def _():
    answered(req("/" + "u" * 65536), (414, 431), "64 KiB target")


@suite.test("header_size: one 10 KiB header is 431; 7 KiB of headers are served")
def _():
    r = d().get("/", headers=[("X-Big", "b" * 7000)])
    eq(r.status, 200, "7 KiB header")
    answered(req(headers=[("Host", "localhost"), ("X-Big", "b" * 10240)]), 431,
             "10 KiB header")


@suite.test("header_size: ten 1 KiB headers (under the count limit) are 431")
def _():
    hs = [("Host", "localhost")] + [("X-H%d" % i, "h" * 1024) for i in range(10)]
    answered(req(headers=hs), 431, "10 x 1 KiB headers")


@suite.test("headers: 30 headers are 431; 15 are served")
def _():
    r = d().get("/", headers=[("X-N%d" % i, "v") for i in range(15)])
    eq(r.status, 200, "16 headers")
    hs = [("Host", "localhost")] + [("X-N%d" % i, "v") for i in range(30)]
    answered(req(headers=hs), 431, "31 headers")


@suite.test("a head that never ends (1 MiB without CRLF CRLF): 431 and closed, quickly")
def _():
    t0 = time.monotonic()
    with d().conn() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Endless: ")
        sent = 0
        try:
            while sent < (1 << 20) and not c.readable(0):
                c.send(b"e" * 16384)
                sent += 16384
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        isin(r.status, (431, 400), "status")
        c.expect_closed(scaled(2))
    less(time.monotonic() - t0, scaled(5), "seconds to answer")


@suite.test("body_size: Content-Length over the limit is 413 before the body is sent")
def _():
    with d().conn() as c:
        c.req("POST", "/", headers=[("Content-Length", "10000")])
        r = c.read_response(timeout=scaled(3))
        eq(r.status, 413, "status")
        c.expect_closed(scaled(2))


@suite.test("body_size: a 2 KiB chunked body is 413")
def _():
    answered(req(method="POST", headers=[("Host", "localhost"),
                                         ("Transfer-Encoding", "chunked")],
                 body=chunked(b"c" * 2048, sizes=(256,))),
             413, "2 KiB chunked body", follow=False)


@suite.test("body_size: a 100 MiB chunked stream is cut off with 413")
def _():
    with d().conn() as c:
        c.req("POST", "/", headers=[("Transfer-Encoding", "chunked")])
        piece = b"4000\r\n" + b"c" * 0x4000 + b"\r\n"
        try:
            for _ in range(6400):
                if c.readable(0):
                    break
                c.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        eq(c.read_response().status, 413, "status")


@suite.test("body_size: exactly 1k is served")
def _():
    r = d().request("POST", "/", body=b"k" * 1024)
    eq(r.status, 200, "status")


# ------------------------------------------------------------------ malformed

@suite.test("bad request lines: 400 and closed")
def _():
    for data in (b"GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"GET / XTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"GET /\x7f HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"GET ../x HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"GET /\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"GET /\tx HTTP/1.1\r\nHost: localhost\r\n\r\n"):
        answered(data, 400, repr(data[:30]))


@suite.test("garbage and unknown methods: 400 (or 501) and closed")
def _():
    for data in (b"GARBAGE\r\n\r\n",
                 b"GET\r\n\r\n",
                 b" GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"FOO / HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
                 b"\x00\x00\x00\x00\r\n\r\n"):
        answered(data, (400, 501), repr(data[:30]))


@suite.test("a request line ended by a bare LF: 400 and closed")
def _():
    answered(b"GET / HTTP/1.1\nHost: localhost\r\n\r\n", 400, "bare LF after the version")
    answered(b"GET / HTTP/1.1\nHost: localhost\n\n", 400, "bare LF everywhere")


@suite.test("a header line ended by a bare LF: 400 and closed")
def _():
    answered(b"GET / HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n", 400, "bare LF in headers")


@suite.test("HTTP/1.1 without Host: 400 and closed; HTTP/1.0 without Host: 200")
def _():
    answered(req(headers=[("X-A", "b")]), 400, "HTTP/1.1 without Host")
    eq(d().get("/", version="HTTP/1.0", host=None).status, 200, "HTTP/1.0 without Host")


@suite.test("duplicate Host (same or different value): 400 and closed")
def _():
    answered(req(headers=[("Host", "localhost"), ("Host", "evil")]), 400, "two Hosts")
    answered(req(headers=[("Host", "localhost"), ("Host", "localhost")]), 400,
             "the same Host twice")
    answered(req(headers=[("Host", "a"), ("X-A", "b"), ("host", "a")]), 400,
             "Host and host")


@suite.test("bad header names: 400 and closed")
def _():
    for line in ("Bad Name: x", "Host : localhost", "X(: y", "X\x01: y", "NoColon",
                 ": empty-name", "X\x7f: y", "\xe9t\xe9: y"):
        data = ("GET / HTTP/1.1\r\nHost: localhost\r\n%s\r\n\r\n" % line).encode("latin-1")
        answered(data, 400, repr(line))


@suite.test("control characters in a header value: 400 and closed")
def _():
    for value in ("a\x01b", "a\x00b", "a\rb"):
        data = ("GET / HTTP/1.1\r\nHost: localhost\r\nX-V: %s\r\n\r\n" % value).encode()
        answered(data, 400, repr(value))


@suite.test("Content-Length with Transfer-Encoding: 400 and closed")
def _():
    for hs in ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
               [("Transfer-Encoding", "chunked"), ("Content-Length", "5")]):
        answered(req(method="POST", headers=[("Host", "localhost")] + hs,
                     body=b"5\r\nhello\r\n0\r\n\r\n"), 400, repr(hs))


@suite.test("duplicate or invalid Content-Length: 400 and closed")
def _():
    for hs in ([("Content-Length", "5"), ("Content-Length", "6")],
               [("Content-Length", "5"), ("Content-Length", "5")],
               [("Content-Length", "5, 5")], [("Content-Length", "-1")],
               [("Content-Length", "abc")], [("Content-Length", "1 2")],
               [("Content-Length", "+5")], [("Content-Length", "0x5")]):
        answered(req(method="POST", headers=[("Host", "localhost")] + hs, body=b"hello"),
                 400, repr(hs))
    answered(req(method="POST", headers=[("Host", "localhost"),
                                         ("Content-Length", "99999999999999999999999")]),
             (400, 413), "Content-Length overflowing 64 bits")


@suite.test("bad chunked framing: 400 and closed")
def _():
    for body in (b"zz\r\nhello\r\n0\r\n\r\n",          # not hex
                 b"5\r\nhelloXX0\r\n\r\n",             # no CRLF after the data
                 b"-5\r\nhello\r\n0\r\n\r\n"):
        answered(req(method="POST", headers=[("Host", "localhost"),
                                             ("Transfer-Encoding", "chunked")], body=body),
                 400, repr(body[:20]), follow=False)
    answered(req(method="POST", headers=[("Host", "localhost"),
                                         ("Transfer-Encoding", "chunked")],
                 body=b"ffffffffffffffffff\r\n"), (400, 413), "chunk size overflowing 64 bits",
             follow=False)


@suite.test("unknown transfer coding: 501")
def _():
    for te in ("foo", "foo, chunked", "gzip, chunked"):
        answered(req(method="POST", headers=[("Host", "localhost"),
                                             ("Transfer-Encoding", te)],
                     body=b"0\r\n\r\n"), 501, "Transfer-Encoding: " + te, closed=False)


@suite.test("HTTP/2.0, HTTP/1.2 and HTTP/3.0 request lines: 505")
def _():
    for v in ("HTTP/2.0", "HTTP/1.2", "HTTP/3.0"):
        answered(req(version=v), 505, v, closed=False)


@suite.test("other bad versions and the HTTP/2 preface: 400 or 505, closed")
def _():
    for data in (req(version="HTTP/0.9"), req(version="HTTP/11"), req(version="HTTP/1.x"),
                 b"GET / HTTP/1.1\r\r\nHost: localhost\r\n\r\n",
                 b"GET / HTTP/1.1 extra\r\nHost: localhost\r\n\r\n",
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
        answered(data, (400, 505), repr(data[:30]))


@suite.test("the daemon still serves after all of the above")
def _():
    d().health("/")


suite.run()
