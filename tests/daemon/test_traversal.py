#!/usr/bin/python3
"""eddy black-box: static paths never escape the root (.., %2e%2e, encoded
slashes and NUL, backslashes, absolute-form targets, symlinks)."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
SECRET = ("TOPSECRET-%s\n" % os.urandom(8).hex()).encode()
OUTSIDE = ("OUTSIDE-%s\n" % os.urandom(8).hex()).encode()
WWW = suite.path("www")
write_file(suite.path("secret.txt"), SECRET)
write_file(suite.path("outside", "inner.txt"), OUTSIDE)
write_file(os.path.join(WWW, "a.txt"), b"inside a\n")
write_file(os.path.join(WWW, "index.html"), b"<p>index</p>\n")
write_file(os.path.join(WWW, "sub", "b.txt"), b"inside b\n")
write_file(os.path.join(WWW, "viasym", "a.txt"), b"inside a\n")
os.symlink("../secret.txt", os.path.join(WWW, "out.txt"))
os.symlink(suite.path("secret.txt"), os.path.join(WWW, "abs.txt"))
os.symlink("../outside", os.path.join(WWW, "outdir"))
os.symlink("/etc", os.path.join(WWW, "etc"))
os.symlink("a.txt", os.path.join(WWW, "in.txt"))
os.symlink("../a.txt", os.path.join(WWW, "sub", "up.txt"))
os.symlink(WWW, suite.path("wwwlink"))

CONF = """
[server]
listen = 127.0.0.1:{port}
[route /]
type = static
root = {www}
[route /viasym/]
type = static
root = {wwwlink}
"""
FOLLOW = """
[server]
listen = 127.0.0.1:{port}
[route /]
type = static
root = {www}
follow_symlinks = on
"""
SUBS = {"www": WWW, "wwwlink": suite.path("wwwlink")}


@suite.fixture
def d():
    return suite.start(CONF, subs=SUBS, name="strict")


@suite.fixture
def follow():
    return suite.start(FOLLOW, subs=SUBS, name="follow")


LEAKS = (SECRET.strip(), OUTSIDE.strip(), b"root:x:0:0", b"root:*:0:0")


def refused(target, daemon=None, raw=None):
    """Sends one request; the answer must be a 4xx without leaked content."""
    daemon = daemon or d()
    data = raw or ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target).encode("latin-1")
    with Conn(daemon.port) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = c.read_response()
        except Closed:
            fail("%r: connection closed without a response" % target)
    for leak in LEAKS:
        lacks(r.body, leak, "%r: response body" % target)
    between(r.status, 400, 499, "%r: status" % target)
    return r


DOTDOT = [
    "/../secret.txt",
    "/../../../../../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/a/%2e%2e/%2e%2e/secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/sub/../../secret.txt",
    "/sub/./../../secret.txt",
    "/./../secret.txt",
    "//../secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/sub/..%2f..%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/..;/secret.txt",
]

ENCODED_SLASH = [
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/sub%2f..%2f..%2fsecret.txt",
    "/%2f..%2fsecret.txt",
    "/%2F%2E%2E%2Fsecret.txt",
    "/%2fetc%2fpasswd",
]

NUL = [
    "/a.txt%00",
    "/a.txt%00.html",
    "/sub/b.txt%00/../../secret.txt",
    "/..%00/secret.txt",
    "/%00../secret.txt",
]

BACKSLASH = [
    "/..\\secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/%5c..%5csecret.txt",
    "/..%5c..%5csecret.txt",
    "/sub%5c..%5c..%5csecret.txt",
]

ABSOLUTE = [
    "http://localhost/../secret.txt",
    "http://localhost/%2e%2e/secret.txt",
    "http://localhost/../../../../etc/passwd",
    "http://localhost/..%2fsecret.txt",
    "http://localhost:1/sub/../../secret.txt",
    "http://../secret.txt",
    "http://localhost@evil/../secret.txt",
    "http:/../secret.txt",
    "file:///etc/passwd",
    "../secret.txt",
    "secret.txt",
    "*",
]


@suite.test("sanity: files inside the root are served")
def _():
    eq(d().get("/a.txt").body, b"inside a\n", "/a.txt")
    eq(d().get("/sub/b.txt").body, b"inside b\n", "/sub/b.txt")


@suite.test("dot-dot segments, raw and percent-encoded (%d targets)" % len(DOTDOT))
def _():
    for t in DOTDOT:
        refused(t)


@suite.test("encoded slashes %%2f (%d targets)" % len(ENCODED_SLASH))
def _():
    for t in ENCODED_SLASH:
        refused(t)


@suite.test("encoded NUL %%00: never truncates the path (%d targets)" % len(NUL))
def _():
    for t in NUL:
        refused(t)


@suite.test("a raw NUL byte in the target: 400")
def _():
    r = refused("/a.txt\0.html", raw=b"GET /a.txt\0.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
    eq(r.status, 400, "status")


@suite.test("backslashes, raw and encoded (%d targets)" % len(BACKSLASH))
def _():
    for t in BACKSLASH:
        refused(t)


@suite.test("absolute-form and other odd request targets (%d targets)" % len(ABSOLUTE))
def _():
    for t in ABSOLUTE:
        refused(t)


@suite.test("symlinks out of the root (file, absolute, directory, /etc): 403 or 404")
def _():
    for t in ("/out.txt", "/abs.txt", "/outdir/inner.txt", "/etc/passwd", "/etc/hostname"):
        r = refused(t)
        isin(r.status, (403, 404), t + " status")


@suite.test("symlinks inside the root are served")
def _():
    eq(d().get("/in.txt").body, b"inside a\n", "/in.txt -> a.txt")
    eq(d().get("/sub/up.txt").body, b"inside a\n", "/sub/up.txt -> ../a.txt")


@suite.test("a root configured through a symlink works")
def _():
    r = d().get("/viasym/a.txt")
    eq((r.status, r.body), (200, b"inside a\n"), "/viasym/a.txt")


@suite.test("follow_symlinks = on: the same symlinks are followed")
def _():
    r = follow().get("/out.txt")
    eq((r.status, r.body), (200, SECRET), "/out.txt")
    r = follow().get("/outdir/inner.txt")
    eq((r.status, r.body), (200, OUTSIDE), "/outdir/inner.txt")


@suite.test("follow_symlinks = on still refuses dot-dot and %2e%2e")
def _():
    for t in ("/../secret.txt", "/%2e%2e/secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
              "/..%2fsecret.txt", "/a.txt%00"):
        refused(t, daemon=follow())


@suite.test("after every attempt the daemon still serves")
def _():
    d().health("/a.txt")
    follow().health("/a.txt")


suite.run()
