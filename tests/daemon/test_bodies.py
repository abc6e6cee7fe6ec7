#!/usr/bin/python3
"""eddy black-box: request bodies (Content-Length, chunked), 100-continue."""
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
body_size = 1m
[route /upload]
type = return
status = 200
body = received
content_type = text/plain
[route /health]
type = return
status = 200
body = ok
content_type = text/plain
"""
LIMIT = 1 << 20


@suite.fixture
def d():
    return suite.start(CONF)


def then_health(c, what):
    """A request after the upload on the same connection must work: the body
    was read (and discarded) exactly."""
    c.req("GET", "/health")
    r = c.read_response()
    eq((r.status, r.body), (200, b"ok"), "request after " + what)


@suite.test("Content-Length upload, then another request on the connection")
def _():
    with d().conn() as c:
        c.req("POST", "/upload", body=os.urandom(10000))
        r = c.read_response()
        eq((r.status, r.body), (200, b"received"), "upload response")
        then_health(c, "a 10000-byte upload")


@suite.test("chunked upload with extensions and trailer, then another request")
def _():
    body = (b"5;name=value\r\nhello\r\n"
            b"6\r\n world\r\n"
            b"1A\r\n" + b"z" * 26 + b"\r\n"
            b"0\r\nX-Trailer: yes\r\n\r\n")
    with d().conn() as c:
        c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")])
               + body)
        r = c.read_response()
        eq((r.status, r.body), (200, b"received"), "upload response")
        then_health(c, "a chunked upload")


@suite.test("chunked upload sent a few bytes at a time")
def _():
    data = chunked(os.urandom(3000), sizes=(1, 17, 255, 1000))
    with d().conn() as c:
        c.send(build_request("PUT", "/upload", headers=[("Transfer-Encoding", "chunked")]))
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
        r = c.read_response()
        eq((r.status, r.body), (200, b"received"), "upload response")
        then_health(c, "a trickled chunked upload")


@suite.test("Content-Length body sent in pieces with pauses")
def _():
    body = os.urandom(5000)
    with d().conn() as c:
        c.send(build_request("POST", "/upload", headers=[("Content-Length", str(len(body)))]))
        for i in range(0, len(body), 1000):
            time.sleep(0.05)
            c.send(body[i:i + 1000])
        eq(c.read_response().status, 200, "upload status")
        then_health(c, "a paused upload")


@suite.test("900 KiB uploads with http.client (Content-Length and chunked)")
def _():
    body = os.urandom(900 * 1024)
    c = d().http()
    try:
        c.request("POST", "/upload", body=body)
        r = c.getresponse()
        eq((r.status, r.read()), (200, b"received"), "Content-Length upload")
        c.request("POST", "/upload", body=iter([body[i:i + 65536]
                                                 for i in range(0, len(body), 65536)]),
                  headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        r = c.getresponse()
        eq((r.status, r.read()), (200, b"received"), "chunked upload")
        c.request("GET", "/health")
        r = c.getresponse()
        eq((r.status, r.read()), (200, b"ok"), "request after the uploads")
    finally:
        c.close()


@suite.test("a body of exactly body_size bytes is accepted")
def _():
    with d().conn() as c:
        c.req("POST", "/upload", body=b"e" * LIMIT)
        eq(c.read_response().status, 200, "status")
        then_health(c, "a body of exactly the limit")


@suite.test("curl uploads: --data-binary (Content-Length) and chunked")
def _():
    path = suite.path("upload.bin")
    write_file(path, os.urandom(200000))
    dd = d()
    r = curl_fetch(dd.url("/upload"), "--data-binary", "@" + path)
    eq((r.rc, r.status, r.body), (0, 200, b"received"), "curl Content-Length upload")
    r = curl_fetch(dd.url("/upload"), "--data-binary", "@" + path,
                   "-H", "Transfer-Encoding: chunked")
    eq((r.rc, r.status, r.body), (0, 200, b"received"), "curl chunked upload")


@suite.test("Expect: 100-continue: 100 Continue before the body, then the response")
def _():
    body = os.urandom(20000)
    with d().conn() as c:
        c.req("POST", "/upload", headers=[("Content-Length", str(len(body))),
                                          ("Expect", "100-continue")])
        r = c.read_response(skip_1xx=False, timeout=scaled(3))
        eq((r.version, r.status), ("HTTP/1.1", 100), "interim response")
        eq(r.reason, "Continue", "100 reason phrase")
        c.send(body)
        r = c.read_response()
        eq((r.status, r.body), (200, b"received"), "final response")
        then_health(c, "a 100-continue upload")


@suite.test("Expect: 100-continue with a chunked body")
def _():
    with d().conn() as c:
        c.req("POST", "/upload", headers=[("Transfer-Encoding", "chunked"),
                                          ("Expect", "100-continue")])
        eq(c.read_response(skip_1xx=False, timeout=scaled(3)).status, 100, "interim status")
        c.send(chunked(b"q" * 5000))
        eq(c.read_response().status, 200, "final status")
        then_health(c, "a chunked 100-continue upload")


@suite.test("Expect: 100-continue over body_size: 413 and no 100")
def _():
    with d().conn() as c:
        c.req("POST", "/upload", headers=[("Content-Length", str(2 * LIMIT)),
                                          ("Expect", "100-continue")])
        r = c.read_response(skip_1xx=False, timeout=scaled(3))
        eq(r.status, 413, "first response status (must not be 100)")


@suite.test("Expect: 100-continue with the body sent at once: 200")
def _():
    with d().conn() as c:
        c.req("POST", "/upload", headers=[("Expect", "100-continue")], body=b"b" * 300)
        eq(c.read_response().status, 200, "final status")
        then_health(c, "an eager 100-continue upload")


@suite.test("curl with Expect: 100-continue sees 100 then 200")
def _():
    path = suite.path("upload2.bin")
    write_file(path, os.urandom(100000))
    r = curl_fetch(d().url("/upload"), "--data-binary", "@" + path,
                   "-H", "Expect: 100-continue", "--expect100-timeout", str(scaled(5)))
    eq((r.rc, r.status, r.body), (0, 200, b"received"), "curl result")
    match(r"^HTTP/1\.1 100", r.blocks[0], "first response head curl saw")


@suite.test("a body on a GET to a return route is read and discarded")
def _():
    with d().conn() as c:
        c.req("GET", "/upload", body=b"g" * 777)
        eq(c.read_response().status, 200, "status")
        then_health(c, "a GET with a body")


@suite.test("HTTP/1.0 POST with Content-Length")
def _():
    with d().conn() as c:
        c.req("POST", "/upload", version="HTTP/1.0", body=b"old" * 100)
        r = c.read_response()
        eq((r.status, r.body), (200, b"received"), "response")


suite.run()
