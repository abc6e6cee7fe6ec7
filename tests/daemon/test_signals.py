#!/usr/bin/python3
"""eddy black-box: SIGHUP reload (routes, listeners, broken file), SIGTERM
and SIGINT graceful shutdown."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
BIG = os.urandom(4 << 20)
for base in ("", "files/"):
    write_file(os.path.join(WWW, base, "big.bin"), BIG)

COMMON = """[timeouts]
shutdown = 3s
[route /health]
type = return
status = 200
body = ok
content_type = text/plain
[route /files/]
type = static
root = {www}
"""
OLD = """[server]
listen = 127.0.0.1:{port}
""" + COMMON + """[route /old]
type = return
status = 200
body = old-route
[route /upload]
type = return
status = 200
body = old-upload
"""
NEW = """[server]
listen = 127.0.0.1:{port}
""" + COMMON + """[route /new]
type = return
status = 200
body = new-route
[route /upload]
type = return
status = 200
body = new-upload
"""
BROKEN = NEW + "[route /x]\ntype = return\ncolour = blue\n"
BROKEN_LINE = len(BROKEN.splitlines())
SHUTDOWN = 3.0


def start(name, conf=OLD, **kw):
    return suite.start(conf, name=name, subs={"www": WWW}, **kw)


def body_of(d, path):
    r = d.get(path)
    return r.status, r.body


@suite.test("SIGHUP with a changed route: the new route is served, the old one removed")
def _():
    d = start("hup-routes")
    eq(body_of(d, "/old"), (200, b"old-route"), "/old before")
    d.reload(NEW)
    wait_until(lambda: body_of(d, "/new") == (200, b"new-route"), 3, "/new served")
    eq(d.get("/old").status, 404, "/old after the reload")
    eq(body_of(d, "/upload"), (200, b"new-upload"), "/upload after the reload")
    d.health()


@suite.test("SIGHUP with a broken file: FILE:LINE errors logged, the old config serves")
def _():
    d = start("hup-broken")
    d.reload(BROKEN)
    d.wait_output(r"%s:%d: " % (re.escape(d.conf_path), BROKEN_LINE), 3)
    time.sleep(0.2)
    ok(d.running(), "daemon exited after a broken reload")
    eq(body_of(d, "/old"), (200, b"old-route"), "/old after the broken reload")
    eq(d.get("/new").status, 404, "/new after the broken reload")
    d.reload(NEW)
    wait_until(lambda: body_of(d, "/new") == (200, b"new-route"), 3,
               "/new served after fixing the file")


@suite.test("SIGHUP with a missing file: error logged, the old config serves")
def _():
    d = start("hup-missing")
    os.rename(d.conf_path, d.conf_path + ".away")
    d.send_signal(signal.SIGHUP)
    d.wait_output(re.escape(d.conf_path), 3)
    time.sleep(0.2)
    eq(body_of(d, "/old"), (200, b"old-route"), "/old")
    os.rename(d.conf_path + ".away", d.conf_path)


@suite.test("SIGHUP: the in-flight request finishes under the old config, "
            "the next one on the same connection uses the new")
def _():
    d = start("hup-inflight")
    with d.conn() as c:
        c.req("POST", "/upload", headers=[("Content-Length", "10")])
        c.send(b"01234")
        time.sleep(0.2)
        d.reload(NEW)
        wait_until(lambda: body_of(d, "/new") == (200, b"new-route"), 3, "reload done")
        c.send(b"56789")
        r = c.read_response()
        eq((r.status, r.body), (200, b"old-upload"), "the in-flight request's response")
        c.req("GET", "/upload")
        r = c.read_response()
        eq((r.status, r.body), (200, b"new-upload"), "the next request's response")


@suite.test("SIGHUP: a listener that appeared is opened, one that disappeared closed")
def _():
    d = start("hup-listen", conf=OLD.replace("{port}", "{port1}"), ports=2, probe="{port1}")
    p1, p2 = d.subs["port1"], d.subs["port2"]
    ok(not can_connect(p2), "port2 open before the reload")
    d.reload(NEW.replace("{port}", "{port2}"))
    wait_until(lambda: can_connect(p2), 3, "port2 accepts after the reload")
    eq(request(p2, "GET", "/new").body, b"new-route", "/new on port2")
    wait_until(lambda: not can_connect(p1), 3, "port1 closed after the reload")


@suite.test("ten SIGHUPs in a row: still serving, still the right config")
def _():
    d = start("hup-storm")
    for i in range(10):
        d.reload(NEW if i % 2 == 0 else OLD)
        time.sleep(0.02)
    wait_until(lambda: body_of(d, "/old") == (200, b"old-route"), 3, "last config (OLD)")
    d.health()


@suite.test("SIGTERM with a slow request in flight: it completes with Connection: close, "
            "idle keep-alive connections close at once, exit 0")
def _():
    d = start("term-slow")
    idle = d.conn()
    idle.req("GET", "/health")
    eq(idle.read_response().status, 200, "idle connection's first response")
    slow = d.conn(timeout=scaled(SHUTDOWN + 5))
    slow.req("POST", "/upload", headers=[("Content-Length", "10")])
    slow.send(b"01234")
    time.sleep(0.2)
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    idle.expect_closed(scaled(1), "the idle keep-alive connection")
    idle.close()
    wait_until(lambda: not can_connect(d.port), 1, "the listener is closed")
    ok(d.running(), "daemon exited with a request in flight")
    slow.send(b"56789")
    r = slow.read_response()
    eq((r.status, r.body), (200, b"old-upload"), "the in-flight response")
    isin("close", r.tokens("connection"), "Connection header of the in-flight response")
    slow.expect_closed(scaled(2), "the in-flight connection")
    slow.close()
    rc = d.wait_exit(SHUTDOWN + scaled(2))
    eq(rc, 0, "exit code")
    less(time.monotonic() - t0, SHUTDOWN + scaled(1), "seconds from SIGTERM to exit")


@suite.test("SIGTERM during a 4 MiB download: the download completes, exit 0")
def _():
    d = start("term-download")
    with d.conn(rcvbuf=65536, timeout=scaled(10)) as c:
        c.req("GET", "/files/big.bin")
        h = c.read_head()
        eq(h.status, 200, "status")
        got = bytearray(c.buf)
        c.buf.clear()
        c.sock.settimeout(scaled(5))
        signalled = False
        while len(got) < len(BIG):
            data = c.sock.recv(16384)
            ok(data, "connection closed after %d of %d bytes" % (len(got), len(BIG)))
            got += data
            if not signalled and len(got) > 256 * 1024:
                d.send_signal(signal.SIGTERM)
                signalled = True
                time.sleep(0.3)
        ok(bytes(got) == BIG, "the downloaded body differs from the file")
        c.expect_closed(scaled(2))
    eq(d.wait_exit(SHUTDOWN + scaled(2)), 0, "exit code")


@suite.test("SIGTERM with a request that never completes: exit 0 within timeouts.shutdown")
def _():
    d = start("term-stuck")
    with d.conn(timeout=scaled(10)) as c:
        c.req("POST", "/upload", headers=[("Content-Length", "1000")])
        c.send(b"only a part")
        time.sleep(0.2)
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        rc = d.wait_exit(SHUTDOWN + scaled(3))
        elapsed = time.monotonic() - t0
        eq(rc, 0, "exit code")
        between(elapsed, SHUTDOWN - 1.0, SHUTDOWN + scaled(1.5), "seconds from SIGTERM to exit")
        c.expect_closed(scaled(1), "the stuck connection")


@suite.test("SIGTERM when idle: exit 0 at once")
def _():
    d = start("term-idle")
    d.health()
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    eq(d.wait_exit(scaled(3)), 0, "exit code")
    less(time.monotonic() - t0, scaled(1), "seconds to exit")


@suite.test("SIGINT: graceful exit 0")
def _():
    d = start("int")
    d.health()
    d.send_signal(signal.SIGINT)
    eq(d.wait_exit(scaled(3)), 0, "exit code")


@suite.test("SIGHUP to a port that is taken: reload failed, nothing changes, the old port serves")
def _():
    d = start("hup-taken", conf=OLD.replace("{port}", "{port1}"), ports=2, probe="{port1}")
    p1, p2 = d.subs["port1"], d.subs["port2"]
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((HOST, p2))
    blocker.listen(1)
    try:
        # Both listeners in the new file: p1 is kept, p2 cannot be bound.
        d.reload(NEW.replace("listen = 127.0.0.1:{port}",
                             "listen = 127.0.0.1:{port1}\nlisten = 127.0.0.1:{port2}"))
        m = d.wait_output(r"reload failed: cannot listen on 127\.0\.0\.1:%d: [^\n]*; "
                          r"still serving the previous configuration" % p2, 3)
        ok(m, "the failure line")
        eq(body_of(d, "/old"), (200, b"old-route"), "/old on the old port")
        eq(d.get("/new").status, 404, "/new (the new config must not be applied)")
        lacks(d.output(), "configuration reloaded", "log")
        # A new file whose only listener is taken must not close the old one.
        d.reload(NEW.replace("{port}", "{port2}"))
        wait_until(lambda: d.output().count("reload failed") >= 2, 3, "the second failure")
        ok(can_connect(p1), "the old port closed by a failed reload")
        eq(body_of(d, "/old"), (200, b"old-route"), "/old after the second failed reload")
    finally:
        blocker.close()
    # Once the port is free the same reload applies: new port, old one closed.
    d.reload(NEW.replace("{port}", "{port2}"))
    wait_until(lambda: can_connect(p2), 3, "port2 accepts after the port was freed")
    eq(request(p2, "GET", "/new").body, b"new-route", "/new on port2")
    wait_until(lambda: not can_connect(p1), 3, "port1 closed after the reload")
    contains(d.output(), "configuration reloaded", "log")


@suite.test("SIGHUP with an error log that cannot be opened: reload failed, no new "
            "listener, the old config serves")
def _():
    d = start("hup-badlog", conf=OLD.replace("{port}", "{port1}"), ports=2, probe="{port1}")
    p1, p2 = d.subs["port1"], d.subs["port2"]
    bad = NEW.replace("{port}", "{port2}") + "[log]\nerror = {tmp}/no/such/dir/error.log\n"
    d.reload(bad)
    # The config check may catch the path first; either way nothing applies.
    d.wait_output(r"reload failed: [^\n]*; still serving the previous configuration", 3)
    ok(not can_connect(p2), "the new listener stayed open after the failed reload")
    eq(body_of(d, "/old"), (200, b"old-route"), "/old on the old port")
    d.reload(OLD.replace("{port}", "{port1}"))
    wait_until(lambda: d.output().count("configuration reloaded") >= 1, 3, "a good reload")
    d.health()


@suite.test("SIGHUP under -r DIR: the log says what is reloaded")
def _():
    d = suite.start(None, name="hup-root", args=["-l", "127.0.0.1:{port}", "-r", WWW])
    eq(request(d.port, "GET", "/big.bin").status, 200, "a file from -r")
    d.send_signal(signal.SIGHUP)
    d.wait_output(r"SIGHUP: reloading the embedded default with -r %s " % re.escape(WWW), 3)
    d.wait_output(r"configuration reloaded from the embedded default with -r %s"
                  % re.escape(WWW), 3)
    eq(request(d.port, "GET", "/big.bin").status, 200, "a file from -r after the reload")


suite.run()
