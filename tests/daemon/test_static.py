#!/usr/bin/python3
"""eddy black-box: static files (types, validators, 304, ranges, index,
precompressed .gz, large files, cache invalidation)."""
import gzip
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
MT = 1577934245                      # Thu, 02 Jan 2020 03:04:05 GMT
MT_DATE = "Thu, 02 Jan 2020 03:04:05 GMT"

FILES = {
    "index.html": (b"<!doctype html><title>root index</title>\n", "text/html"),
    "a.txt": (b"hello, static world\n", "text/plain"),
    "style.css": (b"body { color: red }\n", "text/css"),
    "app.js": (b"console.log('hi');\n", ("application/javascript", "text/javascript")),
    "data.json": (b'{"k": 1}\n', "application/json"),
    "img.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"),
    "pic.jpg": (b"\xff\xd8\xff\xe0" + bytes(100), "image/jpeg"),
    "logo.svg": (b"<svg xmlns='http://www.w3.org/2000/svg'/>\n", "image/svg+xml"),
    "blob.zzqq": (b"unknown extension\n", "application/octet-stream"),
    "sub/index.html": (b"<p>sub index</p>\n", "text/html"),
    "sub/b.txt": (b"in sub\n", "text/plain"),
    "noindex/x.txt": (b"x\n", "text/plain"),
    "with space.txt": (b"spaced\n", "text/plain"),
    "range.txt": (b"0123456789abcdefghij", "text/plain"),
    "gz/plain.txt": (b"plain text that also exists compressed\n" * 20, "text/plain"),
    "gz/style.css": (b"p { margin: 0 }\n" * 30, "text/css"),
    "gz/only.txt": (b"no compressed sibling\n", "text/plain"),
}
for rel, (data, _) in FILES.items():
    write_file(os.path.join(WWW, rel), data, mtime=MT)
GZ = {}
for rel in ("gz/plain.txt", "gz/style.css"):
    GZ[rel] = gzip.compress(FILES[rel][0], mtime=0)
    write_file(os.path.join(WWW, rel + ".gz"), GZ[rel], mtime=MT)
BIG = os.urandom(1 << 20)
write_file(os.path.join(WWW, "big.bin"), BIG, mtime=MT)
HUGE = os.urandom(4 << 20)
write_file(os.path.join(WWW, "huge.bin"), HUGE, mtime=MT)

# Routes mounted below / get their files both at root/ and root/<prefix>/,
# so the tests hold whether the daemon strips the route prefix or not.
WWW2 = suite.path("www2")
for base in ("", "nogz/"):
    write_file(os.path.join(WWW2, base, "gz/plain.txt"), FILES["gz/plain.txt"][0], MT)
    write_file(os.path.join(WWW2, base, "gz/plain.txt.gz"), GZ["gz/plain.txt"], MT)
WWW3 = suite.path("www3")
for base in ("", "alt/"):
    write_file(os.path.join(WWW3, base, "home.htm"), b"<p>custom index</p>\n", MT)
MUT = suite.path("mut")
os.makedirs(os.path.join(MUT, "mut"))

CONF = """
[server]
listen = 127.0.0.1:{port}
[route /]
type = static
root = {www}
index = index.html
precompressed = on
cache_control = public, max-age=60
[route /nogz/]
type = static
root = {www2}
precompressed = off
[route /alt/]
type = static
root = {www3}
index = home.htm
[route /mut/]
type = static
root = {mut}
"""


@suite.fixture
def d():
    return suite.start(CONF, subs={"www": WWW, "www2": WWW2, "www3": WWW3, "mut": MUT})


def get(path, headers=(), method="GET"):
    return d().request(method, path, headers=headers)


def quoted(path):
    return "/" + path.replace(" ", "%20")


@suite.test("200: body, Content-Length and Content-Type by extension")
def _():
    for rel, (data, ctype) in FILES.items():
        r = get(quoted(rel))
        eq(r.status, 200, rel + " status")
        eq(r.body, data, rel + " body")
        eq(r.h("content-length"), str(len(data)), rel + " Content-Length")
        types = ctype if isinstance(ctype, tuple) else (ctype,)
        mime = (r.h("content-type") or "").split(";")[0].strip().lower()
        isin(mime, types, rel + " Content-Type")


@suite.test("ETag (strong, quoted), Last-Modified = file mtime, Cache-Control")
def _():
    r = get("/a.txt")
    match(r'^"[^"]+"$', r.h("etag"), "ETag")
    eq(r.h("last-modified"), MT_DATE, "Last-Modified")
    eq(r.h("cache-control"), "public, max-age=60", "Cache-Control")
    eq(get("/a.txt").h("etag"), r.h("etag"), "ETag of the same file twice")


@suite.test("HEAD on a static file: GET's headers, no body")
def _():
    with d().conn() as c:
        c.send(build_request("HEAD", "/big.bin") + build_request("GET", "/a.txt"))
        h = c.read_response("HEAD")
        eq(h.status, 200, "HEAD status")
        eq(h.h("content-length"), str(len(BIG)), "HEAD Content-Length")
        ok(h.h("etag") and h.h("last-modified"), "HEAD lacks ETag or Last-Modified")
        eq(c.read_response().body, FILES["a.txt"][0], "response after HEAD")


@suite.test("1 MiB file with a raw socket, http.client and curl")
def _():
    eq(get("/big.bin").body == BIG, True, "raw body equals the file")
    c = d().http()
    try:
        for i in range(2):
            c.request("GET", "/big.bin")
            r = c.getresponse()
            eq((r.status, r.read() == BIG), (200, True), "http.client round %d" % i)
    finally:
        c.close()
    r = curl_fetch(d().url("/big.bin"))
    eq((r.rc, r.status, r.body == BIG), (0, 200, True), "curl rc, status, body equal")


@suite.test("4 MiB file to a slow reader with a tiny receive buffer")
def _():
    with d().conn(rcvbuf=4096) as c:
        c.send(build_request("GET", "/huge.bin") + build_request("GET", "/a.txt"))
        h = c.read_head()
        eq(h.status, 200, "status")
        n = int(h.h("content-length"))
        eq(n, len(HUGE), "Content-Length")
        got = bytearray(c.buf)
        c.buf.clear()
        c.sock.settimeout(IO_TIMEOUT)
        k = 0
        while len(got) < n:
            chunk = c.sock.recv(min(8192, n - len(got)))
            ok(chunk, "connection closed after %d bytes" % len(got))
            got += chunk
            k += 1
            if k % 64 == 0:
                time.sleep(0.01)
        ok(bytes(got) == HUGE, "body differs from the file")
        eq(c.read_response().body, FILES["a.txt"][0], "pipelined response after it")


@suite.test("If-None-Match with the ETag: 304, no body, connection reusable")
def _():
    etag = get("/a.txt").h("etag")
    with d().conn() as c:
        for inm in (etag, '"nope", ' + etag, "*", "W/" + etag):
            c.req("GET", "/a.txt", headers=[("If-None-Match", inm)])
            r = c.read_response()
            eq(r.status, 304, "status for If-None-Match: " + inm)
            eq(r.h("etag"), etag, "ETag of the 304")
        c.req("GET", "/a.txt", headers=[("If-None-Match", '"other"')])
        r = c.read_response()
        eq((r.status, r.body), (200, FILES["a.txt"][0]), "non-matching If-None-Match")


@suite.test("If-Modified-Since: 304 when not modified, 200 otherwise")
def _():
    for ims, status in ((MT_DATE, 304), (http_date(MT + 3600), 304),
                        (http_date(MT - 1), 200), (http_date(MT - 86400 * 365), 200),
                        ("not a date", 200)):
        r = get("/a.txt", headers=[("If-Modified-Since", ims)])
        eq(r.status, status, "status for If-Modified-Since: " + ims)
        if status == 200:
            eq(r.body, FILES["a.txt"][0], "body for If-Modified-Since: " + ims)


@suite.test("RFC 9110 13.2.2: If-None-Match takes precedence over If-Modified-Since")
def _():
    etag = get("/a.txt").h("etag")
    r = get("/a.txt", headers=[("If-None-Match", '"other"'), ("If-Modified-Since", MT_DATE)])
    eq(r.status, 200, "mismatching If-None-Match with a matching If-Modified-Since")
    r = get("/a.txt", headers=[("If-None-Match", etag),
                               ("If-Modified-Since", http_date(MT - 86400))])
    eq(r.status, 304, "matching If-None-Match with an older If-Modified-Since")


@suite.test("Range: 206 with Content-Range for first-last, suffix and open ranges")
def _():
    data = FILES["range.txt"][0]
    cases = (("bytes=0-9", 0, 9), ("bytes=-5", 15, 19), ("bytes=5-", 5, 19),
             ("bytes=0-0", 0, 0), ("bytes=19-19", 19, 19), ("bytes=10-1000", 10, 19),
             ("bytes=-100", 0, 19))
    for spec, first, last in cases:
        r = get("/range.txt", headers=[("Range", spec)])
        eq(r.status, 206, spec + " status")
        eq(r.h("content-range"), "bytes %d-%d/20" % (first, last), spec + " Content-Range")
        eq(r.body, data[first:last + 1], spec + " body")
        eq(r.h("content-length"), str(last - first + 1), spec + " Content-Length")


@suite.test("Range in the middle of a 1 MiB file")
def _():
    r = get("/big.bin", headers=[("Range", "bytes=500000-600000")])
    eq(r.status, 206, "status")
    eq(r.h("content-range"), "bytes 500000-600000/%d" % len(BIG), "Content-Range")
    ok(r.body == BIG[500000:600001], "body differs from the file slice")


@suite.test("unsatisfiable Range: 416 with Content-Range: bytes */len")
def _():
    for spec in ("bytes=20-", "bytes=100-200", "bytes=20-20"):
        r = get("/range.txt", headers=[("Range", spec)])
        eq(r.status, 416, spec + " status")
        eq(r.h("content-range"), "bytes */20", spec + " Content-Range")


@suite.test("a Range of another unit is ignored (200); a malformed one is 200 or 416")
def _():
    data = FILES["range.txt"][0]
    r = get("/range.txt", headers=[("Range", "items=0-1")])
    eq((r.status, r.body), (200, data), "Range: items=0-1")
    for spec in ("bytes=abc", "bytes=5-2", "bytes=--1"):
        r = get("/range.txt", headers=[("Range", spec)])
        isin(r.status, (200, 416), spec + " status")
        if r.status == 200:
            eq(r.body, data, spec + " body")


@suite.test("several ranges: 200 with the whole file or 206 multipart/byteranges")
def _():
    r = get("/range.txt", headers=[("Range", "bytes=0-1,5-6")])
    isin(r.status, (200, 206), "status")
    if r.status == 200:
        eq(r.body, FILES["range.txt"][0], "body")
    else:
        match(r"^multipart/byteranges", r.h("content-type"), "Content-Type of the 206")


@suite.test("If-Range: matching ETag gives 206, another ETag the whole file")
def _():
    etag = get("/range.txt").h("etag")
    r = get("/range.txt", headers=[("Range", "bytes=0-3"), ("If-Range", etag)])
    eq((r.status, r.body), (206, b"0123"), "matching If-Range")
    r = get("/range.txt", headers=[("Range", "bytes=0-3"), ("If-Range", '"stale"')])
    eq((r.status, r.body), (200, FILES["range.txt"][0]), "non-matching If-Range")
    eq(r.h("content-range"), None, "Content-Range on the 200")


@suite.test("index file for / and /sub/, custom index name")
def _():
    r = get("/")
    eq((r.status, r.body), (200, FILES["index.html"][0]), "/")
    match(r"^text/html", r.h("content-type"), "Content-Type of /")
    eq(get("/sub/").body, FILES["sub/index.html"][0], "/sub/")
    eq(get("/alt/").body, b"<p>custom index</p>\n", "/alt/ with index = home.htm")


@suite.test("directory without index: 403 or 404 (no listing)")
def _():
    r = get("/noindex/")
    isin(r.status, (403, 404), "status")
    lacks(r.body, b"x.txt", "body (a listing?)")


@suite.test("missing files and files used as directories: 404")
def _():
    eq(get("/missing.txt").status, 404, "/missing.txt")
    eq(get("/sub/missing/deeper.txt").status, 404, "/sub/missing/deeper.txt")
    isin(get("/a.txt/x").status, (403, 404), "/a.txt/x")
    isin(get("/" + "n" * 300).status, (403, 404, 414), "a 300-char name")


@suite.test("query strings are ignored, percent-encoding decoded")
def _():
    eq(get("/a.txt?v=1&x=%2e%2e").body, FILES["a.txt"][0], "/a.txt?v=1")
    eq(get("/with%20space.txt").body, b"spaced\n", "/with%20space.txt")
    eq(get("/%61.txt").body, FILES["a.txt"][0], "/%61.txt")
    eq(get("/sub/%62.txt").body, FILES["sub/b.txt"][0], "/sub/%62.txt")


@suite.test("precompressed: Accept-Encoding: gzip gets the .gz with Vary")
def _():
    for rel, ctype in (("gz/plain.txt", "text/plain"), ("gz/style.css", "text/css")):
        r = get("/" + rel, headers=[("Accept-Encoding", "gzip, deflate")])
        eq(r.status, 200, rel + " status")
        eq(r.h("content-encoding"), "gzip", rel + " Content-Encoding")
        isin("accept-encoding", r.tokens("vary"), rel + " Vary")
        match("^" + ctype, r.h("content-type"), rel + " Content-Type")
        eq(r.body, GZ[rel], rel + " body")
        eq(r.h("content-length"), str(len(GZ[rel])), rel + " Content-Length")
        eq(gzip.decompress(r.body), FILES[rel][0], rel + " decompressed")


@suite.test("precompressed: without gzip in Accept-Encoding the plain file, with Vary")
def _():
    data = FILES["gz/plain.txt"][0]
    for ae in (None, "identity", "gzip;q=0", "br"):
        r = get("/gz/plain.txt", headers=[("Accept-Encoding", ae)] if ae else [])
        eq(r.status, 200, "status, Accept-Encoding: %s" % ae)
        eq(r.h("content-encoding"), None, "Content-Encoding, Accept-Encoding: %s" % ae)
        eq(r.body, data, "body, Accept-Encoding: %s" % ae)
        isin("accept-encoding", r.tokens("vary"), "Vary, Accept-Encoding: %s" % ae)


@suite.test("precompressed: codings are case-insensitive, q-values honoured")
def _():
    for ae in ("GZIP", "br;q=1.0, gzip;q=0.5", "deflate, gzip"):
        r = get("/gz/plain.txt", headers=[("Accept-Encoding", ae)])
        eq(r.h("content-encoding"), "gzip", "Content-Encoding for " + ae)


@suite.test("precompressed: the gzip variant has its own ETag; HEAD agrees")
def _():
    plain = get("/gz/plain.txt")
    gz = get("/gz/plain.txt", headers=[("Accept-Encoding", "gzip")])
    ne(gz.h("etag"), plain.h("etag"), "ETag of the gzip variant")
    h = get("/gz/plain.txt", headers=[("Accept-Encoding", "gzip")], method="HEAD")
    eq((h.h("content-encoding"), h.h("content-length")),
       ("gzip", str(len(GZ["gz/plain.txt"]))), "HEAD Content-Encoding and Content-Length")
    r = get("/gz/plain.txt", headers=[("Accept-Encoding", "gzip"),
                                      ("If-None-Match", gz.h("etag"))])
    eq(r.status, 304, "If-None-Match with the gzip ETag")


@suite.test("precompressed: curl --compressed gets the original bytes")
def _():
    r = curl_fetch(d().url("/gz/plain.txt"), "--compressed")
    eq((r.rc, r.status), (0, 200), "curl rc, status")
    eq(r.h("content-encoding"), "gzip", "Content-Encoding")
    eq(r.body, FILES["gz/plain.txt"][0], "decoded body")


@suite.test("precompressed: no .gz sibling, or precompressed = off: the plain file")
def _():
    r = get("/gz/only.txt", headers=[("Accept-Encoding", "gzip")])
    eq((r.status, r.h("content-encoding")), (200, None), "file without .gz")
    eq(r.body, FILES["gz/only.txt"][0], "body of the file without .gz")
    r = get("/nogz/gz/plain.txt", headers=[("Accept-Encoding", "gzip")])
    eq((r.status, r.h("content-encoding")), (200, None), "route with precompressed = off")
    eq(r.body, FILES["gz/plain.txt"][0], "body with precompressed = off")


@suite.test("cache invalidation: a changed file is served changed, a deleted one 404")
def _():
    for rel in ("m.txt", "mut/m.txt"):
        write_file(os.path.join(MUT, rel), b"version one\n", mtime=MT)
    r1 = get("/mut/m.txt")
    eq(r1.body, b"version one\n", "first body")
    for _ in range(20):
        get("/mut/m.txt")                     # make it hot
    for rel in ("m.txt", "mut/m.txt"):
        write_file(os.path.join(MUT, rel), b"version two, longer\n", mtime=MT + 10)
    wait_until(lambda: get("/mut/m.txt").body == b"version two, longer\n", 3,
               "the changed file is served")
    r2 = get("/mut/m.txt")
    ne(r2.h("etag"), r1.h("etag"), "ETag after the change")
    eq(r2.h("last-modified"), http_date(MT + 10), "Last-Modified after the change")
    # Same size, new content and mtime: the size alone must not validate.
    for rel in ("m.txt", "mut/m.txt"):
        write_file(os.path.join(MUT, rel), b"version 3!, longer\n", mtime=MT + 20)
    wait_until(lambda: get("/mut/m.txt").body == b"version 3!, longer\n", 3,
               "the same-size change is served")
    for rel in ("m.txt", "mut/m.txt"):
        os.unlink(os.path.join(MUT, rel))
    wait_until(lambda: get("/mut/m.txt").status == 404, 3, "the deleted file is 404")
    for rel in ("n.txt", "mut/n.txt"):
        write_file(os.path.join(MUT, rel), b"new file\n")
    wait_until(lambda: get("/mut/n.txt").body == b"new file\n", 3, "a new file is served")


# Directories whose names need escaping in a Location header.
ODD_DIRS = {
    b"a b": ("/a%20b", "/a%20b/"),
    b"x\r\nSet-Cookie: y=1": ("/x%0D%0ASet-Cookie:%20y=1", "/x%0D%0ASet-Cookie:%20y=1/"),
    b"caf\xc3\xa9 100%\"q\"": ("/caf%C3%A9%20100%25%22q%22", "/caf%C3%A9%20100%25%22q%22/"),
}
for name in ODD_DIRS:
    write_file(os.path.join(WWW.encode(), name, b"index.html"), b"odd " + name + b"\n", MT)


@suite.test("directory redirect: the Location is percent-encoded, no header injection")
def _():
    for name, (target, location) in ODD_DIRS.items():
        r = get(target)
        eq(r.status, 301, "%r status" % name)
        eq(r.h("location"), location, "%r Location" % name)
        eq(r.h("set-cookie"), None, "%r Set-Cookie" % name)
        ok(b"\r\nSet-Cookie" not in r.head, "%r: injected header in %r" % (name, r.head))
        # The Location leads to the directory's index.
        f = get(location)
        eq((f.status, f.body), (200, b"odd " + name + b"\n"), "%r followed" % name)


@suite.test("directory redirect keeps the query, escaped")
def _():
    r = get("/a%20b?x=1&y=%22z%22")
    eq((r.status, r.h("location")), (301, "/a%20b/?x=1&y=%22z%22"), "plain query")
    r = get("/sub?v=%0d%0aX:1")
    eq((r.status, r.h("location")), (301, "/sub/?v=%0d%0aX:1"), "escaped CR LF stays escaped")
    r = get("/sub?")
    eq((r.status, r.h("location")), (301, "/sub/?"), "empty query")
    r = get("/sub")
    eq((r.status, r.h("location")), (301, "/sub/"), "no query")


suite.run()
