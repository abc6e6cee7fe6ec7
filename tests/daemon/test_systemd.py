#!/usr/bin/python3
"""eddy black-box: systemd integration.  The generated units (systemd-analyze
verify and security), the notify protocol (READY, RELOADING, STOPPING,
STATUS, WATCHDOG) on a datagram socket of the test's own, socket activation
(LISTEN_FDS/LISTEN_PID, a hand-over between two processes under load) and
the journal's priority prefixes (JOURNAL_STREAM)."""
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403
from eddytest import _die_with_parent  # noqa: E402

suite = Suite()
BUILD = os.environ.get("EDDY_BUILDDIR", ".")

CONF = """[server]
listen = 127.0.0.1:{port}
[timeouts]
shutdown = 3s
[log]
level = info
[route /health]
type = return
status = 200
body = ok
"""


# ------------------------------------------------------------------ helpers

class Notify:
    """The manager's end of NOTIFY_SOCKET: a datagram socket that collects
    what eddy sends, as (monotonic time, {key: value}) pairs."""

    count = 0

    def __init__(self, abstract=False):
        Notify.count += 1
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "eddy-test-%d-%d" % (os.getpid(), Notify.count)
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = suite.path("notify%d.sock" % Notify.count)
            self.sock.bind(path)
            self.env = path
        self.msgs = []

    def _read(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return False
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.msgs.append((time.monotonic(), fields))
        return True

    def wait(self, key, timeout=5, value=None, start=0):
        """The first message from index start on that has key (= value)."""
        deadline = time.monotonic() + scaled(timeout)
        i = start
        while True:
            while i < len(self.msgs):
                f = self.msgs[i][1]
                if key in f and (value is None or f[key] == value):
                    return i, f
                i += 1
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no %s%s from eddy within %.1fs; got %s"
                     % (key, "=" + value if value else "", scaled(timeout),
                        [m[1] for m in self.msgs[start:]][-8:]))
            self._read(left)

    def collect(self, seconds):
        """Everything that arrives within seconds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read(end - time.monotonic())

    def times(self, key, since=0.0):
        return [t for t, f in self.msgs if key in f and t >= since]

    def close(self):
        self.sock.close()


def launch(conf=CONF, env=None, fds=(), port=None, name=None, sh_env=None):
    """Starts eddy with extra environment; fds (listening sockets) become
    descriptors 3, 4... and LISTEN_PID is set to eddy's own pid (a shell
    exports it, then execs eddy) when sh_env says so."""
    d = suite.daemon(conf, name=name)
    d.subs["port"] = port or free_port()
    args = ["-c", d.write_conf()]
    cmd = " ".join("'%s'" % a for a in eddy_cmd(args))
    full_env = dict(os.environ)
    full_env.update(env or {})
    d.cmd = ["/bin/sh", "-c", "%s exec %s" % (sh_env or "", cmd)]
    nums = [s.fileno() for s in fds]

    def place():
        # Python's descriptors are close-on-exec: only those dup2 makes
        # here (3, 4...) reach eddy.  Out of the way first, as a socket
        # may already sit at 3.
        _die_with_parent()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in nums]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
    with open(d.stderr_path, "wb") as err, open(d.stdout_path, "wb") as out:
        d.proc = subprocess.Popen(d.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  env=full_env, close_fds=False, preexec_fn=place)
    return d


def activated(fds, names=None, **kw):
    env = dict(kw.pop("env", {}), LISTEN_FDS=str(len(fds)))
    if names:
        env["LISTEN_FDNAMES"] = names
    return launch(fds=fds, env=env, sh_env="LISTEN_PID=$$; export LISTEN_PID;", **kw)


def listening_socket(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, port))
    s.listen(128)
    return s


def ready(d, port):
    wait_until(lambda: not d.running() and fail("%s exited: %s\n%s"
                                                 % (d.name, d.proc.returncode,
                                                    tail(d.stderr())))
               or can_connect(port), 10, "%s accepts on %s" % (d.name, port))


def get_ok(port, path="/health"):
    r = request(port, "GET", path, headers={"Connection": "close"})
    eq(r.status, 200, "GET %s status" % path)
    return r


def analyze(*args, env=None):
    if shutil.which("systemd-analyze") is None:
        raise Skip("systemd-analyze not installed (Debian package systemd)")
    p = subprocess.run(["systemd-analyze"] + list(args), capture_output=True, timeout=scaled(30),
                       env=dict(os.environ, **(env or {})), cwd=suite.tmp)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def units():
    """The units make generated, made checkable here: their ExecStart paths
    (configure's sbindir, maybe not installed yet) point at the built eddy,
    and MANPATH finds the pages of Documentation= in the source tree."""
    src = {u: os.path.join(BUILD, "systemd", u) for u in ("eddy.service", "eddy.socket")}
    for u, p in src.items():
        if not os.path.isfile(p):
            raise Skip("%s not generated (make in the build directory)" % p)
    with open(src["eddy.service"]) as f:
        service = f.read()
    ok(not re.search(r"@[a-z]+@", service), "no @...@ left in eddy.service")
    m = match(r"(?m)^ExecStart=(/\S+)/eddy -c (/\S+)/eddy/eddy\.ini$", service, "ExecStart")
    sbindir = m.group(1)
    contains(service, "ExecStartPre=%s/eddy -t -c %s/eddy/eddy.ini" % (sbindir, m.group(2)))
    out = suite.path("units")
    os.makedirs(out, exist_ok=True)
    if not os.access(os.path.join(sbindir, "eddy"), os.X_OK):
        service = service.replace(sbindir + "/eddy", os.path.abspath(eddy_binary()))
    with open(os.path.join(out, "eddy.service"), "w") as f:
        f.write(service)
    shutil.copy(src["eddy.socket"], os.path.join(out, "eddy.socket"))
    man = suite.path("man")
    for page, sec in (("eddy.8", "8"), ("eddy.ini.5", "5")):
        os.makedirs(os.path.join(man, "man" + sec), exist_ok=True)
        dst = os.path.join(man, "man" + sec, page)
        if not os.path.exists(dst):
            os.symlink(os.path.join(srcdir(), "man", page), dst)
    return out, {"MANPATH": man}


# ------------------------------------------------------------------ units

@suite.test("units: systemd-analyze verify of eddy.service and eddy.socket says nothing")
def _():
    out, env = units()
    rc, so, se = analyze("verify", os.path.join(out, "eddy.service"),
                         os.path.join(out, "eddy.socket"), env=env)
    eq(se.strip(), "", "systemd-analyze verify stderr")
    eq(rc, 0, "systemd-analyze verify exit code")


@suite.test("units: systemd-analyze security exposure of eddy.service <= 1.2")
def _():
    out, env = units()
    rc, so, se = analyze("security", "--offline=yes", os.path.join(out, "eddy.service"), env=env)
    m = match(r"Overall exposure level for eddy\.service: (\d+\.\d+)", so + se, "security output")
    less(float(m.group(1)), 1.21, "exposure level")
    with open(os.path.join(out, "eddy.service")) as f:
        unit = f.read()
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                 "WatchdogSec=", "LimitNOFILE=", "DynamicUser=yes", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "SystemCallFilter=@system-service",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "LogsDirectory=eddy",
                 "MemoryDenyWriteExecute=yes", "Documentation=man:eddy(8) man:eddy.ini(5)"):
        contains(unit, "\n" + line, "eddy.service")


# ------------------------------------------------------------------ notify

@suite.test("notify: READY=1 with STATUS once listening, STOPPING=1 on SIGTERM")
def _():
    n = Notify()
    d = launch(env={"NOTIFY_SOCKET": n.env}, name="ready")
    i, f = n.wait("READY", 10, "1")
    ok(can_connect(d.port), "accepting when READY=1 arrives")
    match(r"\d+ connections, [\d.]+ requests/s", f.get("STATUS", ""), "STATUS with READY")
    get_ok(d.port)
    d.send_signal(signal.SIGTERM)
    n.wait("STOPPING", 5, "1", start=i + 1)
    eq(d.wait_exit(scaled(5)), 0, "exit code")
    n.close()


@suite.test("notify: an abstract NOTIFY_SOCKET (@name) gets READY=1 and STOPPING=1")
def _():
    n = Notify(abstract=True)
    d = launch(env={"NOTIFY_SOCKET": n.env}, name="abstract")
    i, _f = n.wait("READY", 10, "1")
    d.send_signal(signal.SIGTERM)
    n.wait("STOPPING", 5, "1", start=i + 1)
    eq(d.wait_exit(scaled(5)), 0, "exit code")
    n.close()


@suite.test("notify: SIGHUP sends RELOADING=1 with MONOTONIC_USEC, then READY=1")
def _():
    n = Notify()
    d = launch(env={"NOTIFY_SOCKET": n.env}, name="reload")
    i, _f = n.wait("READY", 10, "1")
    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    d.reload(CONF + "[route /new]\ntype = return\nbody = new\n")
    i, f = n.wait("RELOADING", 5, "1", start=i + 1)
    after = time.clock_gettime(time.CLOCK_MONOTONIC)
    usec = int(f.get("MONOTONIC_USEC", "0"))
    between(usec / 1e6, before - 0.001, after + 0.001, "MONOTONIC_USEC (CLOCK_MONOTONIC, s)")
    j, f = n.wait("READY", 5, "1", start=i + 1)
    lacks(f.get("STATUS", ""), "failed", "STATUS after a good reload")
    eq(get_ok(d.port, "/new").body, b"new", "the new route serves")

    # A broken file: RELOADING=1, then READY=1 all the same (the old one
    # serves), and STATUS says the reload failed.
    d.reload(CONF + "[route /x]\ntype = return\ncolour = blue\n")
    i, f = n.wait("RELOADING", 5, "1", start=j + 1)
    j, f = n.wait("READY", 5, "1", start=i + 1)
    contains(f.get("STATUS", ""), "reload failed", "STATUS after a failed reload")
    eq(get_ok(d.port, "/new").body, b"new", "the previous configuration still serves")
    n.close()


@suite.test("notify: periodic STATUS= counts open connections and requests")
def _():
    n = Notify()
    d = launch(env={"NOTIFY_SOCKET": n.env}, name="status")
    i, _f = n.wait("READY", 10, "1")
    idle = [Conn(d.port) for _ in range(3)]
    for _ in range(20):
        get_ok(d.port)

    def three():
        _i, f = n.wait("STATUS", 8, start=len(n.msgs))
        return re.search(r"serving: 3 connections, [\d.]+ requests/s", f["STATUS"])
    wait_until(three, 12, "STATUS= with the 3 idle connections")
    for c in idle:
        c.close()
    n.close()


@suite.test("watchdog: WATCHDOG=1 every half WATCHDOG_USEC, none while stopped, again after")
def _():
    n = Notify()
    d = launch(env={"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "400000"}, name="watchdog")
    n.wait("READY", 10, "1")
    t0 = time.monotonic()
    n.collect(2.0)
    pings = n.times("WATCHDOG", t0)
    # 200 ms apart: about 10 in 2 s (loose bounds for a loaded machine).
    between(len(pings), 6, 12, "WATCHDOG=1 pings in 2s")
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    less(sorted(gaps)[len(gaps) // 2], 0.3, "median gap between pings (s)")

    d.send_signal(signal.SIGSTOP)
    try:
        # What was sent before the stop is read now, not counted below.
        time.sleep(0.1)
        while n._read(0.001):
            pass
        t1 = time.monotonic()
        n.collect(1.2)
        eq(len(n.times("WATCHDOG", t1)), 0, "pings while the process is stopped")
    finally:
        d.send_signal(signal.SIGCONT)
    t2 = time.monotonic()
    n.collect(1.0)
    less(2, len(n.times("WATCHDOG", t2)) + 0.5, "pings within 1s of SIGCONT")
    n.close()


@suite.test("watchdog: WATCHDOG_PID of another process means no pings")
def _():
    n = Notify()
    launch(env={"NOTIFY_SOCKET": n.env, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"},
           name="wdpid")
    n.wait("READY", 10, "1")
    t0 = time.monotonic()
    n.collect(0.8)
    eq(len(n.times("WATCHDOG", t0)), 0, "pings for another pid")
    n.close()


# ------------------------------------------------------------------ socket activation

@suite.test("activation: passed sockets are served; a listen entry they match is not bound")
def _():
    a, b = listening_socket(), listening_socket()
    pa, pb = a.getsockname()[1], b.getsockname()[1]
    pc = free_port()
    conf = CONF.replace("[server]\n", "[server]\nlisten = 127.0.0.1:%d\n" % pc)
    d = activated([a, b], names="web:extra", conf=conf, port=pa, name="activated")
    ready(d, pc)
    d.wait_output(r"listening on 127\.0\.0\.1:%d\b" % pc, 5)
    # The config's own port (pa) is held by the test's socket: had eddy
    # bound it rather than adopted fd 3, it would have exited (EADDRINUSE).
    for p in (pa, pb, pc):
        get_ok(p)
    out = d.stderr()
    match(r"listen 127\.0\.0\.1:%d: using the socket systemd passed \(web\)" % pa, out, "log")
    match(r"\[warn\] systemd passed 127\.0\.0\.1:%d \(extra\), which no listen entry names"
          % pb, out, "log")
    match(r"listening on 127\.0\.0\.1:%d\b" % pc, out, "log")

    # A reload keeps the passed sockets, even one the new file drops.
    d.reload(CONF.replace("{port}", str(pc)))
    d.wait_output(r"configuration reloaded", 5)
    for p in (pa, pb, pc):
        get_ok(p)
    a.close()
    b.close()


@suite.test("activation: any-address, host-name, IPv6 and Unix entries match their sockets")
def _():
    wild = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    wild.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    wild.bind(("0.0.0.0", 0))
    wild.listen(16)
    named = listening_socket()
    path = suite.path("activated.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    unix.listen(16)
    socks = [wild, named, unix]
    pw, pn = wild.getsockname()[1], named.getsockname()[1]
    entries = [":%d" % pw, "localhost:%d" % pn, "unix:" + path]
    addrs = [pw, pn, "unix:" + path]
    try:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.bind(("::1", 0))
        v6.listen(16)
        socks.append(v6)
        entries.append("[::1]:%d" % v6.getsockname()[1])
        addrs.append(("::1", v6.getsockname()[1]))
    except OSError:
        pass  # no IPv6 here
    conf = CONF.replace("listen = 127.0.0.1:{port}\n",
                        "".join("listen = %s\n" % e for e in entries))
    d = activated(socks, conf=conf, port=pw, name="matching")
    ready(d, pw)
    for entry in entries:
        d.wait_output(re.escape("listen %s: using the socket systemd passed" % entry), 5)
    for addr in addrs:
        get_ok(addr)
    lacks(d.stderr(), "[warn]", "log")
    for s in socks:
        s.close()


@suite.test("activation: a passed socket that is not listening fails the start (exit 2)")
def _():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))  # bound, never listen()ed
    d = activated([s], names="bad", name="notlistening")
    d.expect_exit = 2
    eq(d.wait_exit(scaled(10)), 2, "exit code")
    contains(d.stderr(), "socket 3 passed by systemd (bad): not a listening stream socket", "log")
    s.close()


@suite.test("activation: LISTEN_PID of another process is ignored")
def _():
    a = listening_socket()
    d = launch(fds=[a], env={"LISTEN_FDS": "1", "LISTEN_PID": "1"}, name="otherpid")
    ready(d, d.port)
    lacks(d.stderr(), "systemd passed", "log")
    # Nobody accepts on the passed socket: a request there gets no answer.
    with Conn(a.getsockname()[1], timeout=0.5) as c:
        c.send(build_request("GET", "/health"))
        ok(not c.readable(0.5), "no response on a socket eddy did not adopt")
    a.close()


@suite.test("activation: a socket handed from one eddy to the next under load loses nothing",
            timeout=60)
def _():
    lsock = listening_socket()
    port = lsock.getsockname()[1]
    stop = threading.Event()
    results = {"ok": 0, "errors": []}

    def hammer():
        while not stop.is_set():
            try:
                r = request(port, "GET", "/health", headers={"Connection": "close"},
                            timeout=scaled(5))
                if r.status == 200:
                    results["ok"] += 1
                else:
                    results["errors"].append("status %d" % r.status)
            except Exception as e:  # a lost connection
                results["errors"].append("%s: %s" % (type(e).__name__, e))
    clients = [spawn(hammer) for _ in range(2)]
    try:
        prev = None
        for k in range(5):
            n = Notify()
            d = activated([lsock], conf=CONF, port=port, name="handover%d" % k,
                          env={"NOTIFY_SOCKET": n.env})
            n.wait("READY", 10, "1")
            served = results["ok"]
            wait_until(lambda: results["ok"] > served + 20, 10, "requests served")
            if prev is not None:
                eq(prev.stop(), 0, "exit code of the previous eddy")
            prev = d
            n.close()
        served = results["ok"]
        wait_until(lambda: results["ok"] > served + 20, 10, "requests served by the last one")
    finally:
        stop.set()
        for t in clients:
            t.join_result(scaled(10))
    eq(results["errors"][:5], [], "failed requests (of %d)" % (results["ok"]
                                                                + len(results["errors"])))
    lsock.close()


# ------------------------------------------------------------------ journal

def journal_daemon(name, matching):
    d = suite.daemon(CONF, name=name)
    d.subs["port"] = free_port()
    # The stream eddy's stderr will be: the file the harness opens for it.
    open(d.stderr_path, "wb").close()
    st = os.stat(d.stderr_path)
    js = "%d:%d" % (st.st_dev, st.st_ino + (0 if matching else 1))
    args = ["-c", d.write_conf()]
    with open(d.stderr_path, "ab") as err, open(d.stdout_path, "wb") as out:
        d.proc = subprocess.Popen(eddy_cmd(args), stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=err, env=dict(os.environ, JOURNAL_STREAM=js),
                                  preexec_fn=_die_with_parent)
    ready(d, d.port)
    return d


@suite.test("journal: stderr that is JOURNAL_STREAM gets <N> priorities and no times")
def _():
    d = journal_daemon("journal", True)
    d.wait_output(r"listening on", 5)
    d.reload(CONF + "[route /x]\ntype = return\ncolour = blue\n")
    d.wait_output(r"reload failed", 5)
    out = d.stderr()
    match(r"(?m)^<6>\[info\] listening on 127\.0\.0\.1:%d$" % d.port, out, "info line")
    match(r"(?m)^<3>\[error\] reload failed", out, "error line")
    lacks(out, "Z [info]", "time stamps")
    for line in out.splitlines():
        match(r"^<[3467]>", line, "every error-log line")


@suite.test("journal: a JOURNAL_STREAM naming another file changes nothing")
def _():
    d = journal_daemon("notjournal", False)
    out = d.wait_output(r"listening on", 5).string
    match(r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[info\] listening on", out, "time stamps")
    lacks(out, "<6>", "priority prefixes")


suite.run()
