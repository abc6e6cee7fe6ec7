#!/usr/bin/python3
"""eddy black-box: keep-alive, HEAD, 405, routes, redirect, return headers,
Server and Date headers."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
# The static route is mounted at /files/; the file exists both at the root
# and under files/ so the test holds whether or not the prefix is stripped.
for rel in ("f.txt", "files/f.txt"):
    write_file(os.path.join(WWW, rel), "static file\n")

ROUTES = """
[route /health]
type = return
status = 200
body = ok
content_type = text/plain

[route = /exact]
type = return
status = 200
body = exact
content_type = text/plain

[route /a/]
type = return
status = 200
body = a
content_type = text/plain

[route /a/b/]
type = return
status = 200
body = ab
content_type = text/plain

[route /hdrs]
type = return
status = 201
body = {"made": true}
content_type = application/json
header = X-Example: 1
header = X-Other: two words

[route /old]
type = redirect
status = 301
location = /new

[route /files/]
type = static
root = {www}
"""


@suite.fixture
def main():
    return suite.start("[server]\nlisten = 127.0.0.1:{port}\n" + ROUTES, name="main",
                       subs={"www": WWW})


@suite.fixture
def limited():
    return suite.start("[server]\nlisten = 127.0.0.1:{port}\nserver_header = off\n"
                       "[limits]\nrequests_per_connection = 3\n" + ROUTES,
                       name="limited", subs={"www": WWW})


@suite.fixture
def custom():
    return suite.start("[server]\nlisten = 127.0.0.1:{port}\nserver_header = tester/1.0\n"
                       + ROUTES, name="custom", subs={"www": WWW})


def no_close(r, what="response"):
    lacks(r.tokens("connection"), "close", what + " Connection header")


@suite.test("GET on a return route: 200, body, Content-Type, Content-Length")
def _():
    r = main().get("/health")
    eq(r.version, "HTTP/1.1", "version")
    eq(r.status, 200, "status")
    eq(r.body, b"ok", "body")
    eq(r.h("content-length"), "2", "Content-Length")
    match(r"^text/plain", r.h("content-type"), "Content-Type")


@suite.test("keep-alive: three requests on one HTTP/1.1 connection")
def _():
    with main().conn() as c:
        for i in range(3):
            c.req("GET", "/health?i=%d" % i)
            r = c.read_response()
            eq((r.status, r.body), (200, b"ok"), "response %d" % i)
            no_close(r)
        c.expect_open(0.3)


@suite.test("keep-alive: http.client reuses its socket")
def _():
    c = main().http()
    try:
        socks = []
        for path in ("/health", "/a/x", "/exact"):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            eq(r.status, 200, "status of " + path)
            ok(c.sock is not None, "http.client closed the socket after " + path)
            socks.append(c.sock)
        ok(socks[0] is socks[1] is socks[2], "http.client opened a new connection")
    finally:
        c.close()


@suite.test("keep-alive: curl fetches two URLs on one connection")
def _():
    d = main()
    p = curl("-v", "-o", "/dev/null", "-o", "/dev/null", d.url("/health"), d.url("/exact"))
    eq(p.returncode, 0, "curl exit code")
    err = p.stderr.decode("utf-8", "replace")
    match(r"(?i)re-?using existing connection", err, "curl -v output")
    eq(len(re.findall(r"(?i)connected to", err)), 1, "number of connections curl made")


@suite.test("HTTP/1.0 with Connection: keep-alive stays open")
def _():
    with main().conn() as c:
        for i in range(2):
            c.req("GET", "/health", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
            r = c.read_response()
            eq((r.status, r.body), (200, b"ok"), "response %d" % i)
            isin("keep-alive", r.tokens("connection"), "Connection header of a 1.0 keep-alive")
        c.expect_open(0.3)


@suite.test("HTTP/1.0 without keep-alive is closed after the response")
def _():
    with main().conn() as c:
        c.req("GET", "/health", version="HTTP/1.0", host=None)
        r = c.read_response()
        eq((r.status, r.body), (200, b"ok"), "response")
        c.expect_closed(scaled(2))


@suite.test("Connection: close: the response says close and the server closes")
def _():
    with main().conn() as c:
        c.req("GET", "/health", headers=[("Connection", "close")])
        r = c.read_response()
        eq(r.status, 200, "status")
        isin("close", r.tokens("connection"), "Connection header")
        eq(c.expect_closed(scaled(2)), b"", "bytes after the response")


@suite.test("requests_per_connection = 3: the third response closes the connection")
def _():
    with limited().conn() as c:
        for i in range(2):
            c.req("GET", "/health")
            r = c.read_response()
            eq(r.status, 200, "status %d" % i)
            no_close(r, "response %d" % i)
        c.req("GET", "/health")
        r = c.read_response()
        eq(r.status, 200, "third status")
        isin("close", r.tokens("connection"), "Connection header of the third response")
        c.expect_closed(scaled(2))


@suite.test("requests_per_connection = 3: a fourth pipelined request is not answered")
def _():
    with limited().conn() as c:
        c.send(build_request("GET", "/health") * 4)
        rs = [c.read_response() for _ in range(3)]
        eq([r.status for r in rs], [200, 200, 200], "statuses")
        eq(c.expect_closed(scaled(2)), b"", "bytes after the third response")


def same_headers(get, head, what):
    for name in ("content-length", "content-type", "location", "x-example", "server",
                 "etag", "last-modified", "cache-control"):
        eq(head.h(name), get.h(name), "%s: HEAD vs GET %s" % (what, name))
    eq(head.status, get.status, what + ": HEAD vs GET status")


@suite.test("HEAD on return, redirect, static and 404: GET's headers, no body")
def _():
    d = main()
    for path in ("/health", "/hdrs", "/old", "/files/f.txt", "/nothing-here"):
        with d.conn() as c:
            c.req("GET", path)
            g = c.read_response()
            # HEAD then GET pipelined: a body after the HEAD response would
            # be read as the start of the next response and break it.
            c.send(build_request("HEAD", path) + build_request("GET", "/exact"))
            h = c.read_response("HEAD")
            same_headers(g, h, path)
            after = c.read_response()
            eq((after.status, after.body), (200, b"exact"), "response after HEAD " + path)


@suite.test("405 with Allow for DELETE and POST on a static route")
def _():
    d = main()
    for method in ("DELETE", "POST", "PUT"):
        r = d.request(method, "/files/f.txt", body=b"x" if method != "DELETE" else b"")
        eq(r.status, 405, method + " status")
        allow = r.tokens("allow")
        isin("get", allow, method + " Allow header")
        isin("head", allow, method + " Allow header")
        lacks(allow, method.lower(), method + " Allow header")


@suite.test("unknown path: 404")
def _():
    r = main().get("/nothing-here")
    eq(r.status, 404, "status")


@suite.test("exact route: only its own path")
def _():
    d = main()
    eq(d.get("/exact").body, b"exact", "/exact body")
    eq(d.get("/exact?q=1").body, b"exact", "/exact?q=1 body")
    eq(d.get("/exact/x").status, 404, "/exact/x status")
    eq(d.get("/exactly").status, 404, "/exactly status")


@suite.test("prefix routes: the longest prefix wins")
def _():
    d = main()
    eq(d.get("/a/x").body, b"a", "/a/x")
    eq(d.get("/a/b/x").body, b"ab", "/a/b/x")
    eq(d.get("/a/b/").body, b"ab", "/a/b/")
    eq(d.get("/a/b").body, b"a", "/a/b")
    eq(d.get("/a").status, 404, "/a")


@suite.test("redirect route: 301 with Location (raw and curl)")
def _():
    d = main()
    r = d.get("/old")
    eq(r.status, 301, "status")
    eq(r.h("location"), "/new", "Location")
    c = curl_fetch(d.url("/old"))
    eq((c.rc, c.status, c.h("location")), (0, 301, "/new"), "curl rc, status, Location")


@suite.test("return route: custom status, Content-Type and repeated header lines")
def _():
    r = main().get("/hdrs")
    eq(r.status, 201, "status")
    eq(r.body, b'{"made": true}', "body")
    match(r"^application/json", r.h("content-type"), "Content-Type")
    eq(r.hs("x-example"), ["1"], "X-Example")
    eq(r.hs("x-other"), ["two words"], "X-Other")


@suite.test("return route accepts POST, PUT and DELETE")
def _():
    d = main()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = d.request(method, "/health", body=b"" if method == "DELETE" else b"data")
        eq((r.status, r.body), (200, b"ok"), method)


@suite.test("Server header: 'eddy' by default, the configured value, none when off")
def _():
    server = main().get("/health").h("server")
    match(r"^eddy", server, "default Server header")
    eq(custom().get("/health").h("server"), "tester/1.0", "configured Server header")
    eq(limited().get("/health").h("server"), None, "Server with server_header = off")
    eq(custom().get("/nothing").h("server"), "tester/1.0", "Server header on a 404")


@suite.test("Date header: IMF-fixdate, within 2s of now, on 200, 301 and 404")
def _():
    d = main()
    for path in ("/health", "/old", "/nothing"):
        r = d.get(path)
        date = r.h("date")
        match(IMF_FIXDATE, date, "Date of " + path)
        t = email.utils.parsedate_to_datetime(date).timestamp()
        less(abs(t - time.time()), 2.5, "Date of %s distance from now (s)" % path)


@suite.test("Date header advances with time")
def _():
    d = main()
    t0 = email.utils.parsedate_to_datetime(d.get("/health").h("date")).timestamp()
    time.sleep(1.2)
    t1 = email.utils.parsedate_to_datetime(d.get("/health").h("date")).timestamp()
    between(t1 - t0, 1, 3, "Date difference after sleeping 1.2s")


@suite.test("a request with an empty body (Content-Length: 0) keeps the connection")
def _():
    with main().conn() as c:
        c.req("POST", "/health", headers=[("Content-Length", "0")])
        eq(c.read_response().status, 200, "POST status")
        c.req("GET", "/exact")
        eq(c.read_response().body, b"exact", "next response")


suite.run()
