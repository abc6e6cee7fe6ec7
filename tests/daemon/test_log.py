#!/usr/bin/python3
"""eddy black-box: the access log (combined format, file, stderr, off),
SIGUSR1 reopening, the error log."""
import datetime
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()

ROUTES = """[route /health]
type = return
status = 200
body = ok
content_type = text/plain
[route /upload]
type = return
status = 201
body = stored
"""
FILE_CONF = """[server]
listen = 127.0.0.1:{port}
[log]
access = {log}
error = {err}
""" + ROUTES

# host ident user [time] "request" status bytes "referer" "user-agent"
QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMBINED = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]+)\] %s (\d{3}) (\d+|-) %s %s$'
                      % (QUOTED, QUOTED, QUOTED))


def lines_of(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def wait_lines(path, n, timeout=3):
    """Waits until path has at least n lines; returns them."""
    return wait_until(lambda: len(lines_of(path)) >= n and lines_of(path), timeout,
                      "%d lines in %s" % (n, os.path.basename(path)))


def parse(line):
    m = COMBINED.match(line)
    ok(m, "not a combined-format line: %r" % line)
    return m.groups()


def file_daemon(name):
    log = suite.path(name + "-access.log")
    err = suite.path(name + "-error.log")
    d = suite.start(FILE_CONF, name=name, subs={"log": log, "err": err})
    return d, log, err


@suite.fixture
def logged():
    return file_daemon("file")


@suite.test("access log: one combined-format line with every field right")
def _():
    d, log, _ = logged()
    n = len(lines_of(log))
    r = d.get("/health?x=1", headers=[("User-Agent", "eddytest/1.0"),
                                      ("Referer", "http://ref.example/page")])
    eq(r.status, 200, "status")
    line = wait_lines(log, n + 1)[n]
    host, ident, user, when, req, status, size, ref, ua = parse(line)
    eq((host, ident, user), ("127.0.0.1", "-", "-"), "host, ident, user")
    t = datetime.datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").timestamp()
    less(abs(t - time.time()), 5, "log time distance from now (s)")
    eq(req, "GET /health?x=1 HTTP/1.1", "request")
    eq((status, size), ("200", "2"), "status and bytes")
    eq((ref, ua), ("http://ref.example/page", "eddytest/1.0"), "referer and user-agent")


@suite.test("access log: 404, HEAD and POST lines; absent headers as \"-\"")
def _():
    d, log, _ = logged()
    n = len(lines_of(log))
    with d.conn() as c:
        c.send(build_request("GET", "/nothing") + build_request("HEAD", "/health")
               + build_request("POST", "/upload", body=b"x" * 50))
        c.read_response()
        c.read_response("HEAD")
        c.read_response()
    lines = wait_lines(log, n + 3)[n:n + 3]
    f = [parse(line) for line in lines]
    eq((f[0][4], f[0][5]), ("GET /nothing HTTP/1.1", "404"), "404 line")
    eq((f[1][4], f[1][5]), ("HEAD /health HTTP/1.1", "200"), "HEAD line")
    isin(f[1][6], ("0", "-"), "HEAD bytes")
    eq((f[2][4], f[2][5], f[2][6]), ("POST /upload HTTP/1.1", "201", "6"), "POST line")
    eq((f[0][7], f[0][8]), ("-", "-"), "referer and user-agent when absent")


@suite.test("access log: quotes and backslashes in fields cannot break a line")
def _():
    d, log, _ = logged()
    n = len(lines_of(log))
    ua = 'evil" 200 999 "x\\" \\'
    d.get("/health", headers=[("User-Agent", ua), ("Referer", '"')])
    d.get("/health", headers=[("User-Agent", "after")])
    lines = wait_lines(log, n + 2)[n:]
    eq(len(lines), 2, "number of new lines")
    f = parse(lines[0])
    eq(f[5], "200", "status field of the hostile line")
    eq(parse(lines[1])[8], "after", "user-agent of the next line")


@suite.test("access log: 2000 pipelined requests are all logged or the drops counted")
def _():
    d, log, err = logged()
    n = len(lines_of(log))
    with d.conn() as c:
        for _ in range(4):
            c.send(build_request("GET", "/health") * 500)
            for _ in range(500):
                c.read_response()
    last, stable = -1, 0
    deadline = time.monotonic() + scaled(5)
    while stable < 5 and time.monotonic() < deadline:
        cur = len(lines_of(log))
        stable = stable + 1 if cur == last else 0
        last = cur
        time.sleep(0.1)
    got = last - n
    if got < 2000:
        match(r"(?i)drop", open(err).read() if os.path.exists(err) else d.output(),
              "error log (only %d of 2000 lines logged)" % got)
    for line in lines_of(log)[n:n + got]:
        parse(line)


@suite.test("SIGUSR1 after moving the log: a new file gets the new lines, "
            "the old one keeps the earlier lines")
def _():
    d, log, _ = file_daemon("rotate")
    for i in range(2):
        d.get("/health?before=%d" % i)
    wait_lines(log, 2)
    os.rename(log, log + ".1")
    d.send_signal(signal.SIGUSR1)
    try:
        wait_until(lambda: os.path.exists(log), 1, "the new log file exists")
    except Failure:
        pass    # it may be created at the first write
    for i in range(3):
        d.get("/health?after=%d" % i)
    new = wait_lines(log, 3)
    old = lines_of(log + ".1")
    eq([parse(x)[4] for x in old],
       ["GET /health?before=%d HTTP/1.1" % i for i in range(2)], "requests in the moved file")
    eq([parse(x)[4] for x in new],
       ["GET /health?after=%d HTTP/1.1" % i for i in range(3)], "requests in the new file")


@suite.test("access = stderr: lines go to stderr")
def _():
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\n[log]\naccess = stderr\n" + ROUTES,
                    name="stderr")
    d.get("/health?to=stderr")
    m = d.wait_output(r'(?m)^.*"GET /health\?to=stderr HTTP/1\.1" 200 .*$')
    parse(m.group(0))


@suite.test("access = off: no access lines anywhere")
def _():
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\n[log]\naccess = off\n" + ROUTES,
                    name="off")
    d.get("/health?to=nowhere")
    time.sleep(0.5)
    lacks(d.output(), "to=nowhere", "daemon output")


@suite.test("error = FILE: a broken reload is reported there as FILE:LINE")
def _():
    d, _, err = logged()
    good = FILE_CONF
    d.reload(good + "[route /x]\ntype = return\ncolour = blue\n")
    line = len(good.splitlines()) + 3
    wait_until(lambda: os.path.exists(err) and
               re.search(r"%s:%d: " % (re.escape(d.conf_path), line), open(err).read()), 3,
               "FILE:LINE error in the error log")
    d.reload(good)
    d.health()


suite.run()
