#!/usr/bin/python3
"""eddy black-box: [server] workers = N (a master and N worker processes):
serving, a killed worker replaced, a stuck one killed, a broken reload,
graceful SIGTERM, workers = auto, a new port on reload, systemd.  Reloads under
load and pub/sub across workers: test_workers_pubsub.py; metrics gathered from
every worker: test_workers_metrics.py."""
import fcntl
import os
import struct
import subprocess
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403
from workerstest import children, pid_alive, workers  # noqa: E402,F401

suite = Suite()

CONF = """[server]
listen = 127.0.0.1:{port}
workers = 2
[timeouts]
shutdown = 3s
[route /health]
type = return
status = 200
body = ok
[route /upload]
type = return
status = 200
body = {body}
"""
BROKEN = CONF + "[route /x]\ntype = return\ncolour = blue\n"
BROKEN_LINE = len(BROKEN.splitlines())


def start(name, conf=CONF, body="one", **kw):
    d = suite.start(conf.replace("{body}", body), name=name, **kw)
    d.wait_output(r"generation 1: 2 workers ready", 5)
    return d


@suite.test("workers = 2: two worker processes serve, the master only supervises")
def _():
    d = start("serve")
    ws = workers(d)
    eq(sorted(ws), [1, 2], "worker slots")
    eq(sorted(children(d.proc.pid)), sorted(ws.values()), "the master's children")
    for _ in range(20):
        eq(d.get("/upload").body, b"one", "body")
    contains(d.output(), "master (pid %d): starting 2 workers" % d.proc.pid, "log")


@suite.test("SIGKILL of a worker: logged with the signal, replaced by a new one that serves "
            "the configuration the master checked (not the file edited since)")
def _():
    d = start("kill")
    old = workers(d)
    d.write_conf(BROKEN.replace("{body}", "edited"))
    os.kill(old[1], signal.SIGKILL)
    d.wait_output(r"worker 1 was killed by signal 9 \([^)]*\) after \d+ ms; "
                  r"restarting it in 100 ms", 5)
    wait_until(lambda: workers(d).get(1, old[1]) != old[1], scaled(5), "worker 1 replaced")
    new = workers(d)
    eq(new[2], old[2], "worker 2 untouched")
    ok(pid_alive(new[1]), "the new worker 1 runs")
    eq(sorted(children(d.proc.pid)), sorted(new.values()), "the master's children")
    for _ in range(20):
        eq(d.get("/upload").body, b"one", "body")


@suite.test("a stopped worker (no watchdog pings) is killed and replaced")
def _():
    os.environ["EDDY_WORKER_WATCHDOG_MS"] = str(int(scaled(1.5) * 1000))
    try:
        d = start("stuck")
    finally:
        del os.environ["EDDY_WORKER_WATCHDOG_MS"]
    old = workers(d)
    os.kill(old[2], signal.SIGSTOP)
    d.wait_output(r"worker 2 \(pid %d\) sent no watchdog ping for \d+ ms: killing it" % old[2], 10)
    d.wait_output(r"worker 2 was killed by signal 9", 5)
    wait_until(lambda: workers(d).get(2, old[2]) != old[2], scaled(5), "worker 2 replaced")
    eq(workers(d)[1], old[1], "worker 1 (pinging) untouched")
    d.health()


@suite.test("SIGHUP with a broken file: FILE:LINE logged, the old workers keep serving")
def _():
    d = start("broken")
    old = workers(d)
    d.reload(BROKEN.replace("{body}", "two"))
    d.wait_output(r"%s:%d: " % (re.escape(d.conf_path), BROKEN_LINE), 3)
    d.wait_output(r"reload failed: 1 error in ", 3)
    eq(workers(d), old, "workers")
    eq(sorted(children(d.proc.pid)), sorted(old.values()), "the master's children")
    eq(d.get("/upload").body, b"one", "the old configuration serves")
    d.reload(CONF.replace("{body}", "two"))
    wait_until(lambda: d.get("/upload").body == b"two", scaled(5), "a good reload applies")


@suite.test("SIGTERM: a request in flight completes, every worker drains, the master exits 0")
def _():
    d = start("term")
    ws = workers(d)
    slow = d.conn(timeout=scaled(8))
    slow.req("POST", "/upload", headers=[("Content-Length", "10")])
    slow.send(b"01234")
    time.sleep(0.2)
    d.send_signal(signal.SIGTERM)
    d.wait_output(r"shutting down: 2 workers drain", 3)
    slow.send(b"56789")
    r = slow.read_response()
    eq((r.status, r.body), (200, b"one"), "the in-flight request")
    eq(d.wait_exit(scaled(8)), 0, "exit code")
    for pid in ws.values():
        ok(not pid_alive(pid), "worker %d gone" % pid)
    contains(d.output(), "worker 1 (generation 1) exited with status 0", "log")


@suite.test("workers = auto: -t accepts it; the master starts one worker per usable CPU")
def _():
    conf = suite.path("auto-t.ini")
    write_file(conf, CONF.replace("workers = 2", "workers = auto")
               .replace("{port}", "1").replace("{body}", "x").encode())
    rc, _, err = run_eddy(["-t", "-c", conf])
    eq(rc, 0, "eddy -t exit code (%s)" % err.strip())
    d = suite.start(CONF.replace("workers = 2", "workers = auto").replace("{body}", "x"),
                    name="auto")
    n = len(os.sched_getaffinity(0))
    d.wait_output(r"starting %d workers" % n, 5)
    d.health()
    for bad in ("0", "many", "-1"):
        write_file(conf, CONF.replace("workers = 2", "workers = " + bad)
                   .replace("{port}", "1").replace("{body}", "x").encode())
        rc, _, err = run_eddy(["-t", "-c", conf])
        eq(rc, 1, "eddy -t exit code for workers = %s" % bad)
        contains(err, "%s:3: workers" % conf, "message")


@suite.test("SIGHUP with a new port: the new generation serves it, the old port closes "
            "once the old workers are gone")
def _():
    d = start("relisten", conf=CONF.replace("{port}", "{port1}"), ports=2, probe="{port1}")
    p1, p2 = d.subs["port1"], d.subs["port2"]
    ok(not can_connect(p2), "port2 open before the reload")
    d.reload(CONF.replace("{port}", "{port2}").replace("{body}", "two"))
    wait_until(lambda: can_connect(p2), scaled(5), "port2 accepts after the reload")
    eq(request(p2, "GET", "/upload").body, b"two", "port2 serves the new configuration")
    wait_until(lambda: not can_connect(p1), scaled(10), "port1 closed after the reload")
    d.wait_output(r"stopped listening on 127\.0\.0\.1:%d" % p1, 5)


class Notify:
    """A manager's NOTIFY_SOCKET that notes each datagram's sender pid."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.path = suite.path("notify.sock")
        self.sock.bind(self.path)
        self.msgs = []

    def count(self, key):
        return sum(key in text.split("\n") for _, text in self.msgs)

    def wait(self, key, timeout=5, count=1):
        """Until count datagrams have the line key."""
        deadline = time.monotonic() + scaled(timeout)
        while self.count(key) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("no %s within %.1fs; got %s" % (key, scaled(timeout), self.msgs[-8:]))
            self.sock.settimeout(left)
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = [struct.unpack("iII", d[:12])[0] for lvl, typ, d in anc
                   if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS]
            self.msgs.append((pid[0] if pid else None, data.decode()))


@suite.test("systemd: only the master notifies; READY=1 once the workers are ready, "
            "RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM")
def _():
    n = Notify()
    os.environ["NOTIFY_SOCKET"] = n.path
    try:
        d = suite.start(CONF.replace("{body}", "one"), name="notify")
    finally:
        del os.environ["NOTIFY_SOCKET"]
    n.wait("READY=1", 10)
    contains(d.output(), "generation 1: 2 workers ready", "log before READY=1")
    d.reload(CONF.replace("{body}", "two"))
    n.wait("RELOADING=1", 10)
    n.wait("READY=1", 10, count=2)
    eq(d.get("/upload").body, b"two", "the reloaded configuration serves")
    d.send_signal(signal.SIGTERM)
    n.wait("STOPPING=1", 5)
    eq(d.wait_exit(scaled(8)), 0, "exit code")
    eq(sorted(set(pid for pid, _ in n.msgs)), [d.proc.pid], "senders (the master's pid only)")


@suite.test("socket activation: the master takes systemd's socket (binding nothing) and "
            "the workers serve it")
def _():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    port = ls.getsockname()[1]
    d = suite.daemon(CONF.replace("{body}", "one"), name="activated")
    d.subs["port"] = port
    cmd = " ".join("'%s'" % a for a in eddy_cmd(["-c", d.write_conf()]))
    d.cmd = ["/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; "
             "exec " + cmd]

    def place():
        high = fcntl.fcntl(ls.fileno(), fcntl.F_DUPFD_CLOEXEC, 100)
        os.dup2(high, 3)
    with open(d.stderr_path, "wb") as err, open(d.stdout_path, "wb") as out:
        d.proc = subprocess.Popen(d.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                  close_fds=False, preexec_fn=place)
    d.wait_output(r"generation 1: 2 workers ready", 5)
    ls.close()  # only eddy holds it now
    contains(d.output(), "listen 127.0.0.1:%d: using the socket systemd passed" % port, "log")
    lacks(d.output(), "(master, for the workers)", "log (the master bound something)")
    for _ in range(10):
        eq(d.get("/upload").body, b"one", "body")
    eq(d.stop(), 0, "exit code")


suite.run()
