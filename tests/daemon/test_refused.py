#!/usr/bin/python3
"""eddy black-box: refused requests are visible (an error-log line with the
status, the peer and the reason; an access-log record for requests refused
while parsing), chunk framing is bounded (extensions 413, trailers 431), an
unknown method gets 501, and keepalive = 0 turns keep-alive off."""
import os
import re
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()

HEADER_S = 2
BODY_S = 2
CONF = """[server]
listen = 127.0.0.1:{port}
[log]
access = {acc}
error = {err}
[timeouts]
header = %ds
body = %ds
keepalive = {keepalive}
[limits]
header_size = 4k
uri_size = 1k
body_size = 64k
headers = 20
[route /health]
type = return
status = 200
body = ok
[route /upload]
type = return
status = 201
body = stored
""" % (HEADER_S, BODY_S)


def lines_of(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def start(name, keepalive="75s"):
    acc, err = suite.path(name + "-access.log"), suite.path(name + "-error.log")
    d = suite.start(CONF, name=name, subs={"acc": acc, "err": err, "keepalive": keepalive})
    d.acc, d.err = acc, err
    return d


@suite.fixture
def d():
    return start("refused")


# host ident user [time] "request" status bytes ...
ACCESS = re.compile(r'^(\S+) \S+ \S+ \[[^\]]+\] "((?:[^"\\]|\\.)*)" (\d{3}) ')


def check_refused(d, data, status, reason, request=None, access=True):
    """Sends data; expects status, then the connection closed, an error-log
    line with the peer, the status and reason (a regex), and (access) one
    more access-log record with the status and, if given, the request
    field."""
    n = len(lines_of(d.acc))
    r, closed, _ = exchange(d.port, data, timeout=scaled(HEADER_S + BODY_S + 3))
    ok(r is not None, "a response before the close")
    eq(r.status, status, "status")
    ok(closed, "connection closed after the %d" % status)
    pats = [re.compile(p, re.I) for p in (r"\b127\.0\.0\.1\b", r"\b%d\b" % status, reason)]
    wait_until(lambda: any(all(p.search(line) for p in pats) for line in lines_of(d.err)), 3,
               "an error-log line with the peer, %d and %r" % (status, reason))
    if not access:
        return
    lines = wait_until(lambda: len(lines_of(d.acc)) > n and lines_of(d.acc), 3,
                       "an access-log record")
    recs = [ACCESS.match(line) for line in lines[n:]]
    ok(all(recs), "access-log lines in combined format: %r" % lines[n:])
    found = [m for m in recs if m.group(3) == str(status)]
    ok(found, "an access-log record with status %d in %r" % (status, lines[n:]))
    eq(found[0].group(1), "127.0.0.1", "access-log peer")
    if request is not None:
        eq(found[0].group(2), request, "access-log request field")


# -------------------------------------------------- each refusal class, logged


@suite.test("400 garbage request line: error log with llhttp's reason, access log")
def _():
    check_refused(d(), b"\x01\x02 garbage\r\n\r\n", 400, "invalid method")


@suite.test("400 HTTP/1.1 without Host: error log, access log")
def _():
    check_refused(d(), b"GET /x HTTP/1.1\r\n\r\n", 400, "Host", "GET /x HTTP/1.1")


@suite.test("414 request target over uri_size: error log, access log")
def _():
    check_refused(d(), build_request("GET", "/" + "u" * 2000), 414, "uri_size")


@suite.test("431 head over header_size: error log, access log")
def _():
    data = build_request("GET", "/big", headers=[("X-Big", "b" * 5000)])
    check_refused(d(), data, 431, "header_size", "GET /big HTTP/1.1")


@suite.test("431 too many header fields: error log, access log")
def _():
    data = build_request("GET", "/many", headers=[("X-H%d" % i, "v") for i in range(30)])
    check_refused(d(), data, 431, "header fields", "GET /many HTTP/1.1")


@suite.test("501 unknown method FOO: error log, access log")
def _():
    check_refused(d(), build_request("FOO", "/"), 501, "method", "FOO / HTTP/1.1")


@suite.test("501 transfer coding other than chunked: error log")
def _():
    data = build_request("POST", "/upload", headers=[("Transfer-Encoding", "gzip")])
    check_refused(d(), data, 501, "transfer coding", "POST /upload HTTP/1.1")


@suite.test("505 HTTP/2.0 request line: error log, access log")
def _():
    check_refused(d(), build_request("GET", "/v", version="HTTP/2.0"), 505, "version")


@suite.test("417 Expect other than 100-continue: error log")
def _():
    data = build_request("POST", "/upload", headers=[("Expect", "tea"), ("Content-Length", "3")])
    check_refused(d(), data + b"abc", 417, "Expect", "POST /upload HTTP/1.1")


@suite.test("413 Content-Length over body_size: error log")
def _():
    data = build_request("POST", "/upload", headers=[("Content-Length", str(1 << 20))])
    check_refused(d(), data, 413, "body_size", "POST /upload HTTP/1.1")


@suite.test("408 header timeout: error log, access log")
def _():
    check_refused(d(), b"GET /slow HTTP/1.1\r\nHost: x\r\n", 408, "header timeout")


@suite.test("408 body timeout: error log, access log with the 408 (not the handler's 201)")
def _():
    data = build_request("POST", "/upload", headers=[("Content-Length", "100")]) + b"x" * 10
    check_refused(d(), data, 408, "body timeout", "POST /upload HTTP/1.1")


# ------------------------------------------------------- chunk framing bounds

def chunked_head():
    return build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")])


@suite.test("a 1 MiB chunk extension with body_size = 64k: 413, error log, access log")
def _():
    data = chunked_head() + b"5;ext=" + b"e" * (1 << 20) + b"\r\nhello\r\n0\r\n\r\n"
    check_refused(d(), data, 413, "chunk extension", "POST /upload HTTP/1.1")


@suite.test("many small chunk extensions count toward body_size: 413")
def _():
    # One extension per chunk: llhttp 8.1 refuses a second one with a value.
    data = chunked_head() + b"1;eeeeeeeeeeeeeeeeeeeeeeee=ffffffffffffffffffff\r\nx\r\n" * 4000
    check_refused(d(), data + b"0\r\n\r\n", 413, "body_size", "POST /upload HTTP/1.1")


@suite.test("a 1 MiB trailer with header_size = 4k: 431, error log, access log")
def _():
    data = chunked_head() + b"5\r\nhello\r\n0\r\nX-Trailer: " + b"t" * (1 << 20) + b"\r\n\r\n"
    check_refused(d(), data, 431, "trailer", "POST /upload HTTP/1.1")


@suite.test("small extensions and trailers are still accepted")
def _():
    with d().conn() as c:
        c.send(chunked_head() + b"5;name=value\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n")
        eq(c.read_response().status, 201, "status")
        c.req("GET", "/health")
        eq(c.read_response().status, 200, "next request on the connection")


# ------------------------------------------------------------------- 501

@suite.test("unknown methods get 501: FOO, BREW, PATCHY, lower-case get")
def _():
    for m in ("FOO", "BREW", "PATCHY", "get"):
        r, closed, _ = exchange(d().port, build_request(m, "/health"))
        ok(r is not None, "%s: a response" % m)
        eq(r.status, 501, "%s status" % m)


@suite.test("a method that is not a token gets 400")
def _():
    for data in (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00 / HTTP/1.1\r\n\r\n"):
        r, closed, _ = exchange(d().port, data)
        ok(r is not None, "%r: a response" % data)
        eq(r.status, 400, "%r status" % data)


# ------------------------------------------------------------- keepalive = 0

@suite.fixture
def nokeep():
    return start("nokeep", keepalive="0")


@suite.test("keepalive = 0 passes -t")
def _():
    p = suite.path("nokeep-t.ini")
    write_file(p, fill(CONF, {"port": "1", "acc": "off", "err": "stderr", "keepalive": "0"}))
    rc, out, err = run_eddy(["-t", "-c", p])
    eq(rc, 0, "eddy -t exit code (%s%s)" % (out, err))


@suite.test("keepalive = 0: Connection: close on every response, then the close")
def _():
    dd = nokeep()
    for version in ("HTTP/1.1", "HTTP/1.0"):
        with dd.conn() as c:
            headers = [("Connection", "keep-alive")] if version == "HTTP/1.0" else []
            c.send(build_request("GET", "/health", version=version, headers=headers)
                   + build_request("GET", "/health"))
            r = c.read_response()
            eq(r.status, 200, "%s status" % version)
            eq(r.body, b"ok", "%s body" % version)
            isin("close", r.tokens("Connection"), "%s Connection tokens" % version)
            closed, extra = c.wait_closed(scaled(3))
            ok(closed, "%s: connection closed after the response" % version)
            eq(extra, b"", "%s: bytes after the first response" % version)


@suite.test("keepalive = 0: many sequential clients are all served")
def _():
    dd = nokeep()
    for i in range(20):
        r = dd.get("/health")
        eq((r.status, r.body), (200, b"ok"), "request %d" % i)


suite.run()
