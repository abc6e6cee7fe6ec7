#!/usr/bin/python3
"""eddy black-box: configuration that passes -t must work (issue 7).

The BOM, what -t checks for start-up (config path, log files, static
root), zero durations, configured headers, return bodies, redirect
variables."""
import os
import shutil
import stat
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
write_file(os.path.join(WWW, "hello.txt"), b"hello\n")
write_file(os.path.join(WWW, "page.html"), b"<p>page</p>\n")

HEALTH = "[route /health]\ntype = return\nbody = ok\n"


def conf_file(name, text, binary=False):
    """Writes a config (text with {port}, {tmp}, {www} filled) and returns its path."""
    path = suite.path(name + ".ini")
    data = text if binary else fill(text, {"port": free_port(), "tmp": suite.tmp,
                                           "www": WWW}).encode()
    with open(path, "wb") as f:
        f.write(data)
    return path


def check_ok(name, text):
    """eddy -t accepts the config; returns its path."""
    path = conf_file(name, text)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 0, "%s: exit code of eddy -t (output: %s)" % (name, (out + err).strip()[:500]))
    return path


def check_refused(name, text, line, *hints, binary=False):
    """eddy -t refuses the config with FILE:LINE: a message naming a hint."""
    path = conf_file(name, text, binary)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 1, "%s: exit code of eddy -t (output: %s)" % (name, (out + err).strip()[:500]))
    m = re.search(r"^%s:%d: (.*)$" % (re.escape(path), line), out + err, re.M)
    ok(m, "%s: no error reported as %s:%d in:\n%s" % (name, path, line, out + err))
    ok(any(h.lower() in m.group(1).lower() for h in hints),
       "%s: message %r names none of %s" % (name, m.group(1), hints))
    return out + err


def unprivileged():
    """A command prefix that runs eddy as an unprivileged user (root bypasses
    permission checks), or [] when not root; Skip if that is impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise Skip("running as root without setpriv")
    # The unprivileged user must reach the binary and the test files.
    d = suite.tmp
    while d not in ("/", ""):
        if not os.stat(d).st_mode & stat.S_IXOTH:
            os.chmod(d, os.stat(d).st_mode | 0o711)
        d = os.path.dirname(d)
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


def run_unprivileged(args):
    prefix = unprivileged()
    p = subprocess.run(prefix + eddy_cmd(args), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=scaled(10))
    if prefix and p.returncode in (126, 127):
        raise Skip("the unprivileged user cannot run %s" % eddy_binary())
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# ------------------------------------------------------------------ BOM

@suite.test("BOM: a first line of only EF BB is an error on line 1, read within the line")
def _():
    check_refused("bom-short", b"\xef\xbb", 1, "expected", binary=True)
    check_refused("bom-short-nl", b"\xef\xbb\n[server]\nlisten = 8080\n", 1, "expected",
                  binary=True)


@suite.test("BOM: a partial BOM before a section is reported, not eaten with the [")
def _():
    check_refused("bom-partial", b"\xef\xbb[server]\nlisten = 127.0.0.1:8080\n", 1, "expected",
                  binary=True)


@suite.test("BOM: a full UTF-8 BOM is skipped and the first line is read whole")
def _():
    path = conf_file("bom-full", b"\xef\xbb\xbf[server]\nlisten = 127.0.0.1:8080\n"
                     b"max_connections = 7\n", binary=True)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 0, "exit code (output: %s)" % (out + err).strip()[:300])
    path = conf_file("bom-key", b"\xef\xbb\xbfcolour = blue\n", binary=True)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 1, "exit code for a key before any section")
    match(r"%s:1: .*outside" % re.escape(path), out + err, "message")


# ------------------------------------------------- what start-up needs

@suite.test("-t: a config path that is a directory is refused (exit 1)")
def _():
    d = suite.path("confdir.ini")
    os.makedirs(d, exist_ok=True)
    for args in (["-t", "-c", d], ["-c", d]):
        rc, out, err = run_eddy(args)
        eq(rc, 1, "exit code of eddy %s (output: %s)" % (" ".join(args), (out + err)[:300]))
        match(r"%s: .*directory" % re.escape(d), out + err, "message")


@suite.test("-t: an unreadable config file is refused with its path and why")
def _():
    path = conf_file("unreadable", "[server]\nlisten = 127.0.0.1:{port}\n")
    os.chmod(path, 0)
    rc, out, err = run_unprivileged(["-t", "-c", path])
    eq(rc, 1, "exit code (output: %s)" % (out + err).strip()[:300])
    match(r"%s: .*(?i:permission denied)" % re.escape(path), out + err, "message")


@suite.test("-t: log files that cannot be opened for append: FILE:LINE, the path and errno")
def _():
    missing = suite.path("no-such-dir", "access.log")
    out = check_refused("log-access", "[server]\nlisten = 127.0.0.1:{port}\n[log]\n"
                        "access = %s\n" % missing, 4, "access")
    contains(out, missing, "message names the path")
    match(r"(?i)no such file", out, "message gives the errno")
    out = check_refused("log-error", "[server]\nlisten = 127.0.0.1:{port}\n[log]\n"
                        "level = info\nerror = %s\n" % WWW, 5, "error")
    match(r"(?i)is a directory", out, "message gives the errno")
    logdir = suite.path("logs")
    os.makedirs(logdir, exist_ok=True)
    os.chmod(logdir, 0o755)
    path = conf_file("log-perm", "[server]\nlisten = 127.0.0.1:{port}\n[log]\n"
                     "access = %s/a.log\n" % logdir)
    rc, out, err = run_unprivileged(["-t", "-c", path])
    eq(rc, 1, "exit code for an access log in a directory not writable")
    match(r"%s:4: .*a\.log.*(?i:permission denied)" % re.escape(path), out + err, "message")


@suite.test("-t: a log file that can be opened passes and is created")
def _():
    log = suite.path("created.log")
    check_ok("log-good", "[server]\nlisten = 127.0.0.1:{port}\n[log]\naccess = %s\n" % log)
    ok(os.path.exists(log), "access log created")


@suite.test("-t: a static root that does not exist, is a file or cannot be entered: root's line")
def _():
    base = "[server]\nlisten = 127.0.0.1:{port}\n[route /s/]\ntype = static\nroot = %s\n"
    out = check_refused("root-missing", base % suite.path("nope"), 5, "root")
    match(r"(?i)no such file", out, "message")
    out = check_refused("root-file", base % os.path.join(WWW, "hello.txt"), 5, "root")
    match(r"(?i)not a directory", out, "message")
    locked = suite.path("locked")
    os.makedirs(locked, exist_ok=True)
    os.chmod(locked, 0)
    path = conf_file("root-locked", base % locked)
    rc, out, err = run_unprivileged(["-t", "-c", path])
    eq(rc, 1, "exit code for a root that cannot be entered (output: %s)" % (out + err)[:300])
    match(r"%s:5: .*(?i:permission denied)" % re.escape(path), out + err, "message")


@suite.test("-t: uri_size > header_size is reported on its line")
def _():
    check_refused("uri-size", "[server]\nlisten = 127.0.0.1:{port}\n[limits]\nuri_size = 64k\n"
                  "headers = 10\n", 4, "uri_size")
    check_refused("uri-size2", "[limits]\nuri_size = 4k\nheader_size = 2k\n", 3, "uri_size")


@suite.test("-t: a server_header the head cannot carry (too long, control bytes) is refused")
def _():
    check_refused("server-long", "[server]\nlisten = 127.0.0.1:{port}\nserver_header = %s\n"
                  % ("x" * 120), 3, "server_header")
    check_refused("server-ctl", b"[server]\nserver_header = a\x01b\n", 2, "server_header",
                  binary=True)
    check_refused("ctype-ctl", b"[route = /a]\ntype = return\ncontent_type = a\rb\n", 3,
                  "content_type", binary=True)
    check_ok("server-99", "[server]\nlisten = 127.0.0.1:{port}\nserver_header = %s\n"
             % ("x" * 99))


# ------------------------------------------------------- zero durations

@suite.test("zero durations: header, body and send = 0 are refused with FILE:LINE")
def _():
    for i, key in enumerate(("header", "body", "send")):
        check_refused("zero-" + key, "[server]\nlisten = 127.0.0.1:{port}\n[timeouts]\n"
                      "shutdown = 5s\n%s = 0%s\n" % (key, ("", "ms", "s")[i]), 5, key)


@suite.test("zero durations: keepalive = 0 passes -t and serves with Connection: close")
def _():
    conf = "[server]\nlisten = 127.0.0.1:{port}\n[timeouts]\nkeepalive = 0\n" + HEALTH
    check_ok("zero-keepalive", conf)
    d = suite.start(conf, name="zero-keepalive")
    for i in range(3):
        with Conn(d.port) as c:
            c.req("GET", "/health")
            r = c.read_response()
            eq((r.status, r.body), (200, b"ok"), "response %d" % i)
            isin("close", r.tokens("connection"), "Connection tokens of response %d" % i)
            c.expect_closed(what="connection after the response")
    d.stop()
    eq(d.rc, 0, "exit code")


@suite.test("zero durations: shutdown = 0 cancels a stuck download at once on SIGTERM")
def _():
    write_file(os.path.join(WWW, "big.bin"), b"x" * (8 << 20))
    conf = ("[server]\nlisten = 127.0.0.1:{port}\n[timeouts]\nshutdown = 0\nsend = 60s\n"
            "[route /]\ntype = static\nroot = %s\n" % WWW)
    check_ok("zero-shutdown", conf)
    d = suite.start(conf, name="zero-shutdown")
    c = Conn(d.port, rcvbuf=4096)
    c.req("GET", "/big.bin")
    c.read_head()  # the download is in flight; the client reads no further
    rc = d.stop(timeout=scaled(8))
    c.close()
    ok(not d.killed, "eddy still running %.1fs after SIGTERM with shutdown = 0" % d.stop_seconds)
    eq(rc, 0, "exit code")
    less(d.stop_seconds, scaled(5), "seconds from SIGTERM to exit")


# ------------------------------------------------ configured headers

@suite.test("header = framing and hop-by-hop headers are refused by -t with FILE:LINE")
def _():
    for name in ("Content-Length: 5", "transfer-encoding: chunked", "Connection: close",
                 "Keep-Alive: timeout=5", "Upgrade: websocket", "TE: trailers",
                 "Trailer: X", "Proxy-Connection: keep-alive"):
        check_refused("hop-" + name.split(":")[0], "[server]\nlisten = 127.0.0.1:{port}\n"
                      "[route /h]\ntype = return\nheader = X-Ok: 1\nheader = %s\n" % name,
                      6, name.split(":")[0])


@suite.test("header = a key's header twice, or both header and its key: refused by -t")
def _():
    check_refused("hdr-twice", "[route /h]\ntype = return\nheader = Server: a\n"
                  "header = server: b\n", 4, "already")
    check_refused("hdr-key", "[route /h]\ntype = return\ncontent_type = text/x\n"
                  "header = Content-Type: text/y\n", 4, "content_type")
    check_refused("hdr-loc", "[route /o]\ntype = redirect\nlocation = /n\n"
                  "header = Location: /m\n", 4, "location")
    check_refused("hdr-cc", "[route /s/]\ntype = static\nroot = {www}\n"
                  "cache_control = no-cache\nheader = Cache-Control: max-age=5\n", 5,
                  "cache_control")


@suite.test("header = one the route type writes itself (static ETag, Location...): refused by -t")
def _():
    for name in ("ETag: \"x\"", "Last-Modified: x", "Location: /y", "Vary: Accept", "Allow: GET"):
        check_refused("own-" + name.split(":")[0], "[route /s/]\ntype = static\nroot = {www}\n"
                      "header = %s\n" % name, 4, "writes this header itself")
    # A return route writes no Location: a configured one is its own.
    path = conf_file("own-ret", "[route /r]\ntype = return\nstatus = 301\n"
                     "header = Location: /there\n", False)
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 0, "-t exit code (%s)" % (out + err).strip())


def one_of_each(r, expect, what):
    for name, value in expect.items():
        eq(r.hs(name) if hasattr(r, "hs") else [v for k, v in r.headers
                                                if k.lower() == name.lower()],
           [value], "%s: %s headers" % (what, name))


@suite.test("header = Server, Date, Content-Type, Cache-Control replace the defaults (once each)")
def _():
    conf = ("[server]\nlisten = 127.0.0.1:{port}\n"
            "[route = /r]\ntype = return\nbody = hi\nheader = Server: front\n"
            "header = Content-Type: application/json\nheader = Cache-Control: no-store\n"
            "header = Date: Thu, 01 Jan 2037 00:00:00 GMT\n"
            "[route /s/]\ntype = static\nroot = %s\nheader = Cache-Control: max-age=9\n"
            "header = Content-Type: text/x-mine\nheader = Server: files\n"
            "[route = /o]\ntype = redirect\nlocation = /n\nheader = Server: redir\n"
            "[route = /plain]\ntype = return\nbody = p\n" % WWW)
    d = suite.start(conf, name="headers")
    for i in range(2):  # the second answer of /r is a replay
        r = d.get("/r")
        eq((r.status, r.body), (200, b"hi"), "/r")
        one_of_each(r, {"Server": "front", "Content-Type": "application/json",
                        "Cache-Control": "no-store", "Date": "Thu, 01 Jan 2037 00:00:00 GMT",
                        "Content-Length": "2"}, "/r")
    r = d.get("/s/hello.txt")
    eq((r.status, r.body), (200, b"hello\n"), "/s/hello.txt")
    one_of_each(r, {"Server": "files", "Content-Type": "text/x-mine",
                    "Cache-Control": "max-age=9"}, "/s/hello.txt")
    eq(len(r.hs("date")), 1, "/s/hello.txt: Date headers")
    r = d.get("/o")
    one_of_each(r, {"Server": "redir", "Location": "/n"}, "/o")
    r = d.get("/plain")
    one_of_each(r, {"Server": "eddy", "Content-Type": "text/plain; charset=utf-8"}, "/plain")
    eq(len(r.hs("date")), 1, "/plain: Date headers")
    c = curl_fetch(d.url("/r"))
    eq((c.rc, c.status, c.body), (0, 200, b"hi"), "curl /r")
    one_of_each(c, {"Server": "front", "Content-Type": "application/json"}, "curl /r")
    d.stop()
    eq(d.rc, 0, "exit code")


# ------------------------------------------------------- return bodies

@suite.test("return body: quotes stripped, escapes decoded, \; keeps a comment character")
def _():
    conf = ("[server]\nlisten = 127.0.0.1:{port}\n"
            "[route = /esc]\ntype = return\nbody = line1\\nline2\\tx \\\\ \\\"q\\\" a \\; b\n"
            "[route = /quoted]\ntype = return\nbody = \"  padded  \"\n"
            "[route = /plain]\ntype = return\nbody = as is ; a comment\n")
    check_ok("ret-escapes", conf)
    d = suite.start(conf, name="ret-escapes")
    eq(d.get("/esc").body, b'line1\nline2\tx \\ "q" a ; b', "/esc body")
    eq(d.get("/quoted").body, b"  padded  ", "/quoted body")
    eq(d.get("/plain").body, b"as is", "/plain body")
    d.stop()
    eq(d.rc, 0, "exit code")
    check_refused("ret-bad-escape", "[route = /e]\ntype = return\nbody = a\\qb\n", 3, "escape")


@suite.test("return body_file: served whole; unreadable, too large or with body: -t error")
def _():
    page = suite.path("page.txt")
    data = bytes(range(256)) * 40 + b"end\n"
    write_file(page, data)
    conf = ("[server]\nlisten = 127.0.0.1:{port}\n[route = /f]\ntype = return\n"
            "content_type = application/octet-stream\nbody_file = %s\n" % page)
    check_ok("ret-file", conf)
    d = suite.start(conf, name="ret-file")
    r = d.get("/f")
    eq((r.status, r.body), (200, data), "/f")
    d.stop()
    eq(d.rc, 0, "exit code")
    missing = suite.path("no-page.txt")
    out = check_refused("ret-file-missing", "[route = /f]\ntype = return\nbody_file = %s\n"
                        % missing, 3, "body_file")
    contains(out, missing, "message names the path")
    big = suite.path("big-page.txt")
    write_file(big, b"x" * (1024 * 1024 + 1))
    check_refused("ret-file-big", "[route = /f]\ntype = return\nbody_file = %s\n" % big, 3,
                  "larger")
    check_refused("ret-file-dir", "[route = /f]\ntype = return\nbody_file = %s\n" % WWW, 3,
                  "directory")
    check_refused("ret-file-both", "[route = /f]\ntype = return\nbody = x\nbody_file = %s\n"
                  % page, 1, "one of")


@suite.test("return: a body on 204 or 304 is a -t error on the body's line")
def _():
    check_refused("ret-204", "[route = /n]\ntype = return\nstatus = 204\nbody = x\n", 4,
                  "204")
    page = suite.path("page.txt")
    check_refused("ret-304", "[route = /n]\ntype = return\nbody_file = %s\nstatus = 304\n"
                  % page, 3, "304")
    check_ok("ret-204-empty", "[route = /n]\ntype = return\nstatus = 204\n")


# ------------------------------------------------- redirect variables

@suite.test("redirect: $rest$is_args$args keeps the rest of the path and the query")
def _():
    conf = ("[server]\nlisten = 127.0.0.1:{port}\n"
            "[route /old/]\ntype = redirect\nstatus = 301\n"
            "location = https://x/new/$rest$is_args$args\n"
            "[route /keep]\ntype = redirect\nlocation = https://y${request_uri}\n"
            "[route /q/]\ntype = redirect\nlocation = /dest?from=$rest&$query\n"
            "[route = /fixed]\ntype = redirect\nlocation = /price$5\n")
    check_ok("redir-vars", conf)
    d = suite.start(conf, name="redir-vars")
    cases = [("/old/a/b?x=1", 301, "https://x/new/a/b?x=1"),
             ("/old/a/b", 301, "https://x/new/a/b"),
             ("/old/", 301, "https://x/new/"),
             ("/old/sp%20ace/%3Fq?y=%41&z", 301, "https://x/new/sp%20ace/%3Fq?y=%41&z"),
             ("/old/%0D%0ASet-Cookie:%20a=b", 301, "https://x/new/%0D%0ASet-Cookie:%20a=b"),
             ("/old/caf%C3%A9", 301, "https://x/new/caf%C3%A9"),
             ("/keep/a?b=c", 302, "https://y/keep/a?b=c"),
             ("/keep/a?a{b}|\"<^`", 302, "https://y/keep/a?a%7Bb%7D%7C%22%3C%5E%60"),
             ("/q/z", 302, "/dest?from=z&"),
             ("/fixed", 302, "/price$5")]
    for target, status, location in cases:
        with Conn(d.port) as c:
            c.send(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            r = c.read_response()
        eq(r.status, status, "status for %r" % target)
        eq(r.hs("location"), [location], "Location for %r" % target)
        lacks(r.head.decode("latin-1"), "\nSet-Cookie", "head for %r" % target)
    d.stop()
    eq(d.rc, 0, "exit code")


@suite.test("redirect: an unknown $variable in location is a -t error on its line")
def _():
    check_refused("redir-unknown", "[route /o]\ntype = redirect\nstatus = 301\n"
                  "location = /n$path\n", 4, "variable")


suite.run()
