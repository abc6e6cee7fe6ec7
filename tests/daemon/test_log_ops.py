#!/usr/bin/python3
"""eddy black-box: the access log in operation: a full disk, a stalled
log (serving never waits, drops are counted), $remote_user, $time_local,
the [log] buffer and time keys, rate-limited refusal lines."""
import base64
import os
import stat
import sys
import threading
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()

CONF = """[server]
listen = 127.0.0.1:{port}
[log]
access = {log}
error = {err}
{extra}
[route /health]
type = return
status = 200
body = ok
content_type = text/plain
"""

QUOTED = r'"((?:[^"\\]|\\.)*)"'
COMBINED = re.compile(r'^(\S+) (\S+) (\S+) \[([^\]]+)\] %s (\d{3}) (\d+|-) %s %s$'
                      % (QUOTED, QUOTED, QUOTED))
SUMMARY = re.compile(r"access log: (\d+) records written, (\d+) dropped")


def lines_of(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def text_of(path):
    return "\n".join(lines_of(path))


def parse(line):
    m = COMBINED.match(line)
    ok(m, "not a combined-format line: %r" % line)
    return m.groups()


def start(name, log=None, extra="", env=None):
    log = log or suite.path(name + "-access.log")
    err = suite.path(name + "-error.log")
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        d = suite.start(CONF, name=name, subs={"log": log, "err": err, "extra": extra})
    finally:
        for k, v in old.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v
    return d, log, err


def pipelined(d, n, batch=100):
    """n pipelined GET /health on one connection; every response read."""
    with d.conn() as c:
        for i in range(0, n, batch):
            k = min(batch, n - i)
            c.send(build_request("GET", "/health") * k)
            for _ in range(k):
                eq(c.read_response().status, 200, "status")


def stop_summary(d, err):
    """Stops d (exit code 0) and returns (written, dropped) from its error log."""
    eq(d.stop(), 0, "exit code")
    m = SUMMARY.search(text_of(err))
    ok(m, "no 'records written, dropped' line in the error log:\n%s" % tail(text_of(err)))
    return int(m.group(1)), int(m.group(2))


def one_line(d, log, headers):
    n = len(lines_of(log))
    eq(d.get("/health", headers=headers).status, 200, "status")
    return parse(wait_until(lambda: len(lines_of(log)) > n and lines_of(log), 3,
                            "a new access-log line")[n])


@suite.test("disk full (/dev/full): one error line a second, every record counted dropped")
def _():
    if not os.path.exists("/dev/full"):
        raise Skip("no /dev/full")
    d, _, err = start("full", log="/dev/full")
    t0 = time.monotonic()
    total = 0
    for _ in range(6):
        pipelined(d, 100)
        total += 100
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    written, dropped = stop_summary(d, err)
    eq((written, dropped), (0, total), "records written, dropped")
    errs = [x for x in lines_of(err) if "/dev/full" in x]
    ok(errs, "no error line names the log")
    contains(errs[0].lower(), "no space", "the error line")
    # One line per second per reason, plus the final count of a window.
    less(len(errs), elapsed + 3, "error lines in %.1fs (%s)" % (elapsed, errs))
    match(r"\(and \d+ more like it in the last \d+s\)", "\n".join(errs),
          "the count of suppressed lines")


@suite.test("a stalled log: serving goes on, drops are counted and logged, nothing leaks")
def _():
    fifo = suite.path("stall.fifo")
    os.mkfifo(fifo)
    # Read end open (non-blocking) but not read: the pipe fills and the
    # writer blocks, as on a stalled disk.
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    got = bytearray()
    try:
        d, _, err = start("stall", log=fifo, extra="buffer = 128k")
        n = 4000
        t0 = time.monotonic()
        pipelined(d, n, batch=500)
        less(time.monotonic() - t0, scaled(10), "seconds to serve %d requests" % n)
        wait_until(lambda: "buffer full" in text_of(err), 3, "a 'buffer full' line")
        d.health()

        def drain():
            os.set_blocking(rfd, True)
            while True:
                b = os.read(rfd, 65536)
                if not b:
                    return
                got.extend(b)
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        written, dropped = stop_summary(d, err)
        t.join(scaled(5))
    finally:
        os.close(rfd)
    lines = got.decode("utf-8", "replace").splitlines()
    ok(dropped > 0, "some records dropped with a 128k buffer and a stalled pipe")
    ok(written > 500, "records written (%d): about a pipe's worth" % written)
    eq(written + dropped, n + 1, "records written + dropped (%d requests + the health check)"
       % n)
    eq(len(lines), written, "lines that came out of the pipe")
    for line in lines[:3] + lines[-3:]:
        parse(line)
    full = [x for x in lines_of(err) if "buffer full" in x]
    less(len(full), 6, "'buffer full' lines (rate-limited)")


@suite.test("the log turned off and on by reloads: only the lines of the 'on' phases")
def _():
    d, log, err = start("toggle")
    off = CONF.replace("access = {log}", "access = off")
    on = CONF
    pipelined(d, 5)
    d.reload(off)
    wait_until(lambda: "reloaded" in text_of(err), 3, "reload logged")
    pipelined(d, 7)
    nreload = text_of(err).count("reloaded")
    d.reload(on)
    wait_until(lambda: text_of(err).count("reloaded") > nreload, 3, "second reload logged")
    pipelined(d, 3)
    written, dropped = stop_summary(d, err)
    eq((written, dropped), (8, 0), "records written, dropped")
    eq(len(lines_of(log)), 8, "lines in the log")


@suite.test("$remote_user: the user of Basic auth, escaped; '-' if none or invalid")
def _():
    d, log, _ = start("user")
    def user(auth):
        headers = [("Authorization", auth)] if auth is not None else []
        return one_line(d, log, headers)[2]
    b64 = lambda s: base64.b64encode(s).decode()
    eq(user("Basic " + b64(b"alice:secret")), "alice", "plain user")
    eq(user("basic   " + b64(b"bob:x:y").rstrip("=")), "bob", "lower-case scheme, no padding")
    eq(user("Basic " + b64(b'a b"c\\d\x01:pw')), r"a\x20b\x22c\x5cd\x01", "escaped user")
    eq(user(None), "-", "no Authorization")
    eq(user("Basic " + b64(b"nocolon")), "-", "no colon")
    eq(user("Basic " + b64(b":pw")), "-", "empty user")
    eq(user("Basic !!!notbase64"), "-", "not base64")
    eq(user("Bearer " + b64(b"carol:pw")), "-", "another scheme")


@suite.test("$time_local: the local zone (TZ) by default, UTC with time = utc")
def _():
    d, log, _ = start("tzlocal", env={"TZ": "XST-05:30"})
    when = one_line(d, log, [])[3]
    ok(when.endswith(" +0530"), "local time %r ends with +0530" % when)
    d2, log2, _ = start("tzutc", extra="time = utc", env={"TZ": "XST-05:30"})
    when = one_line(d2, log2, [])[3]
    ok(when.endswith(" +0000"), "UTC time %r ends with +0000" % when)
    d3, log3, _ = start("tzwest", env={"TZ": "YST+03"})
    when = one_line(d3, log3, [])[3]
    ok(when.endswith(" -0300"), "local time %r ends with -0300" % when)


@suite.test("refused requests: one error-log line per reason a second, the rest counted")
def _():
    d, _, err = start("refused", log="off")
    n = 300
    t0 = time.monotonic()
    for _ in range(n):
        exchange(d.port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    elapsed = time.monotonic() - t0

    def refused():
        return [x for x in lines_of(err) if re.search(r"\] 127\.0\.0\.1: 400 ", x)]

    def accounted():
        return sum(1 + int(m.group(1) if m else 0) for m in
                   (re.search(r"\(and (\d+) more like it in the last \d+s\)", x)
                    for x in refused()))
    # The count of a window is written when it ends, without another refusal.
    wait_until(lambda: accounted() >= n, 3, "all %d refusals accounted for" % n)
    eq(accounted(), n, "refusals accounted for (%s)" % refused())
    less(len(refused()), elapsed + 3, "refusal lines in %.1fs" % elapsed)
    ok(len(refused()) >= 2, "a first line and a count line")
    d.health()


@suite.test("-t: [log] buffer and time are checked with FILE:LINE")
def _():
    for extra, msg in (("buffer = 1k", "buffer: 1k is out of range"),
                       ("buffer = lots", "buffer: 'lots' is not a size"),
                       ("time = mars", "time: 'mars' is not one of local, utc")):
        path = suite.path("bad.ini")
        with open(path, "w") as f:
            f.write(fill(CONF, {"port": 1, "log": "off", "err": "stderr", "extra": extra}))
        rc, out, err = run_eddy(["-t", "-c", path])
        eq(rc, 1, "exit code for %r" % extra)
        contains(err, "%s:6: %s" % (path, msg), "-t output")
    with open(path, "w") as f:
        f.write(fill(CONF, {"port": 1, "log": "off", "err": "stderr",
                            "extra": "buffer = 1m\ntime = utc"}))
    eq(run_eddy(["-t", "-c", path])[0], 0, "-t exit code for good values")


suite.run()
