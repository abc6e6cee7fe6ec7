#!/usr/bin/python3
"""eddy black-box: listeners.  Port 0 logs the port bound, a host name
listens on every address it resolves to, [server] backlog (capped by
net.core.somaxconn with a warning), Unix listeners with a mode and their
peers logged as unix:UID, and running out of file descriptors."""
import os
import resource
import stat
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
"""


def somaxconn():
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def listen_backlog(port):
    """The backlog of the TCP listener on port, as ss reports it (Send-Q)."""
    p = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True, text=True,
                       timeout=scaled(5))
    if p.returncode != 0:
        raise Skip("ss failed: %s" % p.stderr.strip())
    rows = [line.split() for line in p.stdout.splitlines() if line.strip()]
    ok(rows, "no listener on port %d in ss -ltn" % port)
    return int(rows[0][2])


def check_conf(text):
    """Runs eddy -t on text: (exit code, stderr)."""
    path = suite.path("check-%d.ini" % abs(hash(text)))
    write_file(path, text)
    rc, _, err = run_eddy(["-c", path, "-t"])
    return rc, err, path


@suite.test("listen = 127.0.0.1:0: the log says which port was bound, and it serves")
def _():
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\nlisten = 127.0.0.1:0\n" + ROUTES,
                    name="port0")
    m = d.wait_output(r"listening on 127\.0\.0\.1:0 \(127\.0\.0\.1:(\d+)\)", 3)
    port = int(m.group(1))
    ne(port, 0, "the port bound")
    eq(request(port, "GET", "/health").body, b"ok", "/health on the port bound")


@suite.test("listen = localhost:PORT: resolved at start, one listener per address")
def _():
    d = suite.start("[server]\nlisten = localhost:{port}\n" + ROUTES, name="localhost")
    addrs = sorted({ai[4][0] for ai in socket.getaddrinfo(
        "localhost", d.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)})
    ok(addrs, "localhost resolves to nothing here")
    for a in addrs:
        shown = "[%s]" % a if ":" in a else a
        d.wait_output(r"listening on localhost:%d \(%s:%d\)" % (d.port, re.escape(shown), d.port),
                      3)
        eq(request((a, d.port), "GET", "/health").body, b"ok", "/health on %s" % a)


@suite.test("-t: a host name is a valid listen address, a malformed one is refused with its line")
def _():
    rc, err, _ = check_conf("[server]\nlisten = localhost:8080\n" + ROUTES)
    eq(rc, 0, "exit code of -t with localhost:8080 (stderr: %s)" % err.strip())
    rc, err, path = check_conf("[server]\nlisten = bad_host!:8080\n" + ROUTES)
    eq(rc, 1, "exit code of -t with bad_host!:8080")
    contains(err, "%s:2: listen bad_host!:8080: not an IPv4 address or a host name" % path)
    rc, err, path = check_conf("[server]\nlisten = 1.2.3.256:8080\n" + ROUTES)
    eq(rc, 1, "exit code of -t with 1.2.3.256:8080")
    contains(err, "%s:2: listen 1.2.3.256:8080" % path)


@suite.test("a name that does not resolve: start-up fails with exit code 2 and says why")
def _():
    port = free_port()
    path = suite.path("unresolved.ini")
    write_file(path, "[server]\nlisten = no-such-host.invalid:%d\n" % port + ROUTES)
    rc, _, err = run_eddy(["-c", path], timeout=scaled(30))
    eq(rc, 2, "exit code")
    contains(err, "cannot listen on no-such-host.invalid:%d" % port)


@suite.test("[server] backlog: the default is 511, a configured one is used")
def _():
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\n" + ROUTES, name="backlog-default")
    eq(listen_backlog(d.port), min(511, somaxconn()), "default backlog")
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\nbacklog = 64\n" + ROUTES,
                    name="backlog-64")
    eq(listen_backlog(d.port), 64, "backlog = 64")
    lacks(d.output(), "somaxconn", "log")
    # A reload applies a new backlog to the listener it keeps.
    d.reload("[server]\nlisten = 127.0.0.1:{port}\nbacklog = 100\n" + ROUTES)
    wait_until(lambda: listen_backlog(d.port) == 100, 3, "backlog 100 after the reload")


@suite.test("[server] backlog above net.core.somaxconn: capped, with a warning")
def _():
    cap = somaxconn()
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\nbacklog = %d\n" % (cap + 1) + ROUTES,
                    name="backlog-cap")
    d.wait_output(r"\[warn\] backlog %d exceeds net\.core\.somaxconn \(%d\): using %d"
                  % (cap + 1, cap, cap), 3)
    eq(listen_backlog(d.port), cap, "the backlog in use")
    rc, err, path = check_conf("[server]\nbacklog = 0\n" + ROUTES)
    eq(rc, 1, "exit code of -t with backlog = 0")
    contains(err, "%s:2: backlog" % path)


@suite.test("listen = unix:PATH mode=0660: the socket file gets the mode, the access log "
            "shows the peer as unix:UID; a reload changes the mode")
def _():
    sock = suite.path("mode.sock")
    conf = "[server]\nlisten = unix:%s mode=0660\n" % sock + ROUTES
    d = suite.start(conf, name="unix-mode", probe="unix:" + sock)
    eq(oct(stat.S_IMODE(os.stat(sock).st_mode)), oct(0o660), "mode of the socket file")
    ok(stat.S_ISSOCK(os.stat(sock).st_mode), "not a socket")
    eq(request("unix:" + sock, "GET", "/health").body, b"ok", "/health over the socket")
    d.wait_output(r"(?m)^unix:%d - - \[[^\]]+\] \"GET /health HTTP/1\.1\" 200 " % os.getuid(), 3)
    d.reload(conf.replace("mode=0660", "mode=0600"))
    wait_until(lambda: stat.S_IMODE(os.stat(sock).st_mode) == 0o600, 3, "mode 0600 after reload")
    eq(request("unix:" + sock, "GET", "/health").body, b"ok", "/health after the reload")


@suite.test("-t: mode= on a TCP address, a bad mode or an unknown option is refused")
def _():
    for value, msg in (("127.0.0.1:8080 mode=0660", "mode= applies to unix: addresses only"),
                       ("unix:/tmp/x.sock mode=0999", "mode must be octal permission bits"),
                       ("unix:/tmp/x.sock mode=", "mode must be octal permission bits"),
                       ("unix:/tmp/x.sock colour=blue", "unknown option")):
        rc, err, path = check_conf("[server]\nlisten = %s\n" % value + ROUTES)
        eq(rc, 1, "exit code of -t with listen = %s" % value)
        contains(err, "%s:2: listen %s: %s" % (path, value, msg))


NOFILE = 64


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@suite.test("out of file descriptors: start-up warns, the error log says so (rate-limited), "
            "waiting clients are served once connections close", timeout=60)
def _():
    d = suite.start("[server]\nlisten = 127.0.0.1:{port}\n[timeouts]\nkeepalive = 60s\n"
                    + ROUTES, name="emfile", preexec=low_nofile)
    # (valgrind keeps a few descriptors for itself and shows a lower limit)
    d.wait_output(r"\[warn\] max_connections 10000 exceeds what the descriptor limit allows "
                  r"\(RLIMIT_NOFILE \d+: about \d+ connections\)", 3)
    held, waiting = [], []
    try:
        # Keep-alive connections until the daemon has no descriptor left:
        # then a request gets no answer and the error log says why.
        for _ in range(NOFILE):
            c = d.conn(timeout=scaled(10))
            c.req("GET", "/health")
            wait_until(lambda: c.readable(0.05) or "too many open files" in d.output(),
                       scaled(5), "a response or the EMFILE line")
            if not c.readable(0.05):
                waiting.append(c)
                break
            try:
                r = c.read_response()
            except Closed:
                # Only under valgrind: the kernel hands out a descriptor in
                # the range valgrind keeps for itself, so valgrind closes it
                # and reports EMFILE; every client past the limit sees that.
                ok(VALGRIND, "connection %d closed by the server" % len(held))
                c.close()
                break
            eq(r.status, 200, "status on connection %d" % len(held))
            held.append(c)
        ok(waiting or VALGRIND, "%d connections served with RLIMIT_NOFILE %d"
           % (len(held), NOFILE))
        # More clients past the limit are neither served nor closed: they wait.
        for _ in range(0 if VALGRIND else 4):
            c = d.conn(timeout=scaled(10))
            c.req("GET", "/health")
            waiting.append(c)
        m = d.wait_output(r"\[error\] accept on 127\.0\.0\.1:%d: too many open files "
                          r"\(RLIMIT_NOFILE \d+, (\d+) connections open\)" % d.port, 5)
        ok(int(m.group(1)) > 0, "connections open when out of descriptors")
        if waiting:
            waiting[0].expect_open(0.5, "a client waiting past the descriptor limit")
        # The lines are rate-limited: at most about one a second.
        time.sleep(1.5)
        lines = len(re.findall(r"too many open files", d.output()))
        less(lines, 6, "EMFILE lines in about 2 s")
    finally:
        for c in held:
            c.close()
    for i, c in enumerate(waiting):
        r = c.read_response()
        eq(r.status, 200, "status of waiting client %d after descriptors were freed" % i)
        c.close()
    d.health()


suite.run()
