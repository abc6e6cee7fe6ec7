#!/usr/bin/python3
"""eddy black-box: regression tests for a review of the pub/sub relay between
the master and its workers ([server] workers = 2; src/daemon/relay.c):

- the master dies (SIGKILL) while a worker holds a POST publish whose body
  has not come yet: the worker answers 503 (or closes), frees nothing it
  should not, and exits;
- a big history does not get new workers killed as "not reading their relay"
  (after a SIGKILL, after a SIGHUP), while a worker that really stops reading
  is killed: records (EDDY_RELAY_QUEUE_MAX) and bytes (EDDY_RELAY_QUEUE_BYTES)
  past what it was sent at its start;
- a failed reload changes nothing in pub/sub (the history limit stays);
- a new worker does not bring expired history back (history_timeout);
- with history = 0: a ?since on a worker without a copy of the channel still
  gets the gap notice, and a channel's ids never repeat.

Which worker holds a connection is read with ss(8), as in
test_workers_pubsub.py (the helpers they share are in workerstest.py).  A worker stopped
with SIGSTOP is always sent SIGCONT again, so that nothing is left behind."""
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403
from workerstest import *  # noqa: E402,F401,F403

suite = Suite()
STUCK = "does not read its relay"

BASE = """[server]
listen = 127.0.0.1:{port}
workers = 2
[timeouts]
shutdown = {shutdown}
[route /health]
type = return
status = 200
body = {body}
"""


def conf(routes, body="one", shutdown="3s"):
    return BASE.replace("{body}", body).replace("{shutdown}", shutdown) + routes


def start(name, routes, env=None, expect_exit=0, **kw):
    """A started daemon with 2 workers; env: variables for it (the master
    reads them)."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        d = suite.start(conf(routes, **kw), name=name, expect_exit=expect_exit)
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v
    d.wait_output(r"generation 1: 2 workers ready", 5)
    return d


# ------------------------------------------------------------------ who serves what
# (copied from test_workers_pubsub.py)


# ------------------------------------------------------------------ more helpers

def payload(tag, i, size):
    """A text message of size bytes that says which it is."""
    head = b"%s-%04d-" % (tag.encode(), i)
    return head + b"x" * (size - len(head))


def replaced(d, slot, old_pid, timeout=5):
    """Waits until worker slot runs again under a new pid; returns it."""
    wait_until(lambda: workers(d).get(slot, old_pid) != old_pid, timeout,
               "worker %d (pid %d) replaced" % (slot, old_pid))
    return workers(d)[slot]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Publisher:
    """POSTs to path every interval seconds, each on a new connection
    (whichever worker takes it), until finish(): counts the 200s; other
    outcomes (a worker killed under a request) are kept for the report."""

    def __init__(self, d, path, interval=0.05, size=64):
        self.d, self.path, self.interval, self.size = d, path, interval, size
        self.stop = threading.Event()
        self.ok, self.other = 0, []
        self.thread = spawn(self.run)

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                r = self.d.request("POST", self.path, body=payload("live", i, self.size),
                                   headers=[("Content-Type", "text/plain")],
                                   timeout=scaled(15))
                if r.status == 200:
                    self.ok += 1
                else:
                    self.other.append(r.status)
            except (Failure, OSError) as e:
                self.other.append(repr(e)[:100])
            self.stop.wait(self.interval)

    def finish(self):
        self.stop.set()
        self.thread.join_result(scaled(20))


class Stopped:
    """SIGSTOP of a worker for a with block; SIGCONT after, if it lives."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *a):
        if pid_alive(self.pid):
            try:
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def all_msgs(tag, n, size, first=1):
    return [(first + i, payload(tag, first + i, size), False) for i in range(n)]


# ------------------------------------------------------------------ 1. the master dies (e1)

@suite.test("the master dies (SIGKILL) while a worker holds a POST publish whose body has not "
            "come: the worker answers 503 or closes (not 500, no invalid free), both exit",
            timeout=60)
def _():
    d = start("master-dies", "[route /ps/]\ntype = pubsub\n", expect_exit=-signal.SIGKILL)
    old = workers(d)
    eq(len(old), 2, "workers %s" % old)
    c = Conn(d.port, timeout=scaled(15))
    try:
        eq(publish_on(c, "/ps/x", "hi")[0], 1, "the first publish's id (the relay works)")
        pid = holder(d, c.sock)
        c.send(b"POST /ps/x HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 5\r\n\r\n")
        time.sleep(0.2)  # the head is read; the body waits
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait()
        # Both workers see their relay close: every request through it fails now.
        wait_until(lambda: d.output().count("relay to the master: closed") >= 2, 10,
                   "both workers log that their relay closed")
        try:
            c.send(b"hello")
            r = c.read_response("POST")
        except (Closed, BrokenPipeError, ConnectionResetError):
            r = None  # closed without an answer: allowed
        sys.stdout.write("# the publish without a master: %s\n" % (
            "closed unanswered" if r is None else "%d %r" % (r.status, r.body[:60])))
        if r is not None:
            eq(r.status, 503, "the publish answered by worker %d without a master (body %r)"
               % (pid, r.body[:100]))
        wait_until(lambda: not any(pid_alive(p) for p in old.values()), 15,
                   "both workers exit after the master's death")
    finally:
        c.close()
    out = d.output()
    eq(len(re.findall(r"\] exiting$", out, re.M)), 2,
       "workers that logged 'exiting' (one that crashed does not)\n%s" % tail(out, 30))
    for bad in ("Invalid free", "invalid pointer", "double free", "free():", "Segmentation",
                "AddressSanitizer", "Aborted"):
        lacks(out, bad, "the log")


# ------------------------------------------------------------------ 2. a big history (e2, e3)

HIST_SIZE = 8192  # bytes per message: the history is more than a socket buffer holds
HIST_ROUTES = """[route /ps/]
type = pubsub
history = 100
"""


@suite.fixture
def hist():
    """2 workers that may have 50 records unread beyond their start-up
    history, and 3 channels x 100 messages of 8 KiB of history (300
    records, 2.4 MB: more than the relay's socket takes at once, so a
    new worker has ~270 records waiting while it starts)."""
    d = start("history", HIST_ROUTES, env={"EDDY_RELAY_QUEUE_MAX": "50"})
    conns = pinned(d)
    try:
        for ch in range(3):
            c = conns[sorted(conns)[ch % 2]]
            for i in range(1, 101):
                eq(publish_on(c, "/ps/c%d" % ch, payload("c%d" % ch, i, HIST_SIZE))[0], i,
                   "id of message %d of c%d" % (i, ch))
        st = state_on(c, "/ps/c2")
        eq((st["last_id"], st["history"]), (100, 100), "c2's (last_id, history)")
    finally:
        close_all(conns.values())
    return d


@suite.test("a big history: a SIGKILLed worker's replacement is not killed for the history "
            "it reads (EDDY_RELAY_QUEUE_MAX=50, 300 records), serves ?since=0 and lives on "
            "while publishes go on", timeout=60)
def _():
    d = hist()
    old = workers(d)
    pub = Publisher(d, "/ps/live")
    try:
        wait_until(lambda: pub.ok >= 3, 5, "publishes under way")
        os.kill(old[1], signal.SIGKILL)
        d.wait_output(r"worker 1 was killed by signal 9", 5)
        new = replaced(d, 1, old[1])
        ok_before = pub.ok
        time.sleep(2)
        ok(pub.ok > ok_before, "publishes went on for 2 s (%d, was %d; other outcomes %s)"
           % (pub.ok, ok_before, pub.other[-5:]))
    finally:
        pub.finish()
    lacks(d.output(), STUCK, "the log")
    ok(pid_alive(new), "the new worker 1 (pid %d) lives" % new)
    eq(workers(d), {1: new, 2: old[2]}, "the workers")
    subs = subscribers(d, ("v1",), "/ps/c0", since=0, pids=[new])
    try:
        for s in subs:
            s.expect(all_msgs("c0", 100, HIST_SIZE))
    finally:
        close_all(subs)


@suite.test("a big history: a SIGHUP reload's new workers are not killed for the history "
            "they read; the reload succeeds", timeout=60)
def _():
    d = hist()
    old = workers(d)
    before = d.output().count("configuration reloaded")
    pub = Publisher(d, "/ps/live")
    try:
        wait_until(lambda: pub.ok >= 3, 5, "publishes under way")
        d.reload(conf(HIST_ROUTES, body="two"))
        wait_until(lambda: d.output().count("configuration reloaded") > before
                   or "reload failed" in d.output(), 15, "the reload ends")
        ok_before = pub.ok
        time.sleep(1)
        ok(pub.ok > ok_before, "publishes went on (%d, was %d; other outcomes %s)"
           % (pub.ok, ok_before, pub.other[-5:]))
    finally:
        pub.finish()
    out = d.output()
    lacks(out, "reload failed", "the log")
    lacks(out, STUCK, "the log")
    new = workers(d)
    eq(len(new), 2, "new workers %s" % new)
    ok(not set(new.values()) & set(old.values()), "a new generation: %s, was %s" % (new, old))
    eq(d.get("/health").body, b"two", "the new configuration serves")
    subs = subscribers(d, ("v1",), "/ps/c1", since=0)
    try:
        for s in subs:
            s.expect(all_msgs("c1", 100, HIST_SIZE))
    finally:
        close_all(subs)


@suite.test("a worker that stops reading its relay (SIGSTOP) is killed once 50 records wait "
            "beyond its start-up history (EDDY_RELAY_QUEUE_MAX=50), and replaced", timeout=60)
def _():
    d = hist()
    w = workers(d)
    conn = pinned(d)[w[2]]
    n = 0
    try:
        with Stopped(w[1]):
            deadline = time.monotonic() + scaled(20)
            killed = r"worker 1 \(pid %d\) %s" % (w[1], STUCK)
            while n % 20 or not re.search(killed, d.output()):
                ok(n < 3000 and time.monotonic() < deadline,
                   "worker 1 (pid %d, stopped) not killed after %d publishes of 1 KiB"
                   % (w[1], n))
                n += 1
                publish_on(conn, "/ps/flood", payload("flood", n, 1024))
            d.wait_output(r"worker 1 was killed by signal 9", 5)
        new = replaced(d, 1, w[1])
        sys.stdout.write("# killed after %d publishes\n" % n)
        # The replacement reads the history (300 + 100 + up to 100 records) and serves.
        for i in range(5):
            publish_on(conn, "/ps/flood", b"after")
        ok(pid_alive(new), "the new worker 1 lives")
        eq(len(re.findall(STUCK, d.output())), 1, "workers killed as stuck")
    finally:
        conn.close()


# ------------------------------------------------------------------ 3. bytes (e4)

@suite.test("a stopped worker is killed once 1 MiB waits for it (EDDY_RELAY_QUEUE_BYTES=1048576, "
            "4 publishes of 512 KiB); the master stays small", timeout=60)
def _():
    d = start("bytes", "[route /ps/]\ntype = pubsub\nhistory = 1\nmax_message = 1m\n",
              env={"EDDY_RELAY_QUEUE_BYTES": "1048576"})
    w = workers(d)
    conn = pinned(d)[w[2]]
    try:
        with Stopped(w[1]):
            for i in range(1, 5):
                eq(publish_on(conn, "/ps/big", payload("big", i, 512 << 10))[0], i, "id")
            d.wait_output(r"worker 1 \(pid %d\) %s" % (w[1], STUCK), 5)
            d.wait_output(r"worker 1 was killed by signal 9", 5)
        replaced(d, 1, w[1])
        if not VALGRIND:
            less(rss_kib(d.proc.pid), 64 << 10, "the master's RSS in KiB")
        eq(publish_on(conn, "/ps/big", b"small")[0], 5, "a publish after")
    finally:
        conn.close()


# ------------------------------------------------------------------ 4. a failed reload (e9)

E9_GOOD = "[route /ps/]\ntype = pubsub\nhistory = 10\n"
E9_BAD = "[route /ps/]\ntype = pubsub\nhistory = 2\n[route /x]\ntype = return\nstatus = 999\n"


@suite.test("a failed reload changes nothing in pub/sub: history = 10 stays (not the broken "
            "file's 2) in the state, on both workers and on a worker started after",
            timeout=60)
def _():
    d = start("failed-reload", E9_GOOD)
    conns = pinned(d)
    subs = []
    try:
        c = list(conns.values())[0]
        for i in range(1, 11):
            eq(publish_on(c, "/ps/a", payload("a", i, 16))[0], i, "id")
        for pid, c in conns.items():
            st = state_on(c, "/ps/a")
            eq((st["last_id"], st["history"]), (10, 10), "GET /ps/a on pid %d" % pid)
        close_all(conns.values())
        d.reload(conf(E9_BAD, body="bad"))
        d.wait_output(r"reload failed", 10)
        eq(d.get("/health").body, b"one", "the previous configuration serves")
        conns = pinned(d)
        for pid, c in conns.items():
            st = state_on(c, "/ps/a")
            eq((st["last_id"], st["history"]), (10, 10),
               "GET /ps/a on pid %d after the failed reload" % pid)
        subs = subscribers(d, ("v1", "sse"), "/ps/a", since=0)
        for s in subs:
            s.expect(all_msgs("a", 10, 16))
        close_all(subs)
        old = workers(d)
        os.kill(old[1], signal.SIGKILL)
        new = replaced(d, 1, old[1])
        subs = subscribers(d, ("v1", "sse"), "/ps/a", since=0, pids=[new])
        for s in subs:
            s.expect(all_msgs("a", 10, 16))
        c = pinned(d, pids=[new])[new]
        conns[new] = c
        st = state_on(c, "/ps/a")
        eq((st["last_id"], st["history"]), (10, 10), "GET /ps/a on the new worker")
    finally:
        close_all(subs)
        close_all(conns.values())


# ------------------------------------------------------------------ 5. expired history (e10)

# The message expires H seconds after its publish; the worker is killed at
# H/3 (a restarted worker that dated its copy from its own start would keep
# it until 4H/3); the subscribers come once the master's copy expired.
E10_H = max(6, round(6 * SCALE))


@suite.test("a worker started after a publish does not bring it back once history_timeout "
            "passed: ?since=0 gets the gap notice on the new worker as on the old", timeout=90)
def _():
    d = start("expiry", "[route /ps/]\ntype = pubsub\nhistory_timeout = %ds\n" % E10_H)
    conns = pinned(d)
    subs = []
    try:
        c = list(conns.values())[0]
        eq(publish_on(c, "/ps/room", "old")[0], 1, "id")
        t0 = time.monotonic()
        close_all(conns.values())
        time.sleep(E10_H / 3.0)
        old = workers(d)
        os.kill(old[1], signal.SIGKILL)
        new = replaced(d, 1, old[1])
        conns = {new: pinned(d, pids=[new])[new]}
        # The master's copy expires first (GET says history 0).
        wait_until(lambda: (state_on(conns[new], "/ps/room") or {}).get("history") == 0, E10_H + 5,
                   "the master's history of room expires")
        late = time.monotonic() - t0
        if late >= E10_H * 4 / 3.0:
            # Too slow a machine: a new worker that dated its copy from its
            # start would have dropped it by now too; the test proves less.
            sys.stdout.write("# note: subscribing %.1fs after the publish (H = %ds)\n"
                             % (late, E10_H))
        subs = subscribers(d, ("v1", "sse"), "/ps/room", since=0, pids=[new, old[2]])
        eq(publish_on(conns[new], "/ps/room", "live")[0], 2, "the next id")
        for s in subs:
            s.expect([(2, b"live", False)], gap=(1, 1))
    finally:
        close_all(subs)
        close_all(conns.values())


# ------------------------------------------------------------------ 6. history = 0 (e6, e7)

H0_ROUTES = "[route /ps/]\ntype = pubsub\nhistory = 0\n"


@suite.fixture
def h0():
    return start("history0", H0_ROUTES)


@suite.test("history = 0: a ?since=2 on the worker without a copy of the channel gets the "
            "gap notice 3..5, as on the worker that has one", timeout=60)
def _():
    d = h0()
    got = spread(d, lambda: Conn(d.port), per_worker=2, what="HTTP connections")
    by = {}
    for c, pid in got:
        by.setdefault(pid, []).append(c)
    a, b = sorted(by)
    subs = []
    try:
        # A live subscriber on worker a only: worker b never has the channel.
        live = Sub(d, "sse", "/ps/room", conn=by[a][0])
        live.pid = a
        subs.append(live)
        wait_until(lambda: (state_on(by[b][1], "/ps/room") or {}).get("subscribers") == 1, 5,
                   "the master counts the subscriber")
        sent = []
        for i in range(1, 6):
            eq(publish_on(by[b][1], "/ps/room", "m%d" % i)[0], i, "id")
            sent.append((i, b"m%d" % i, False))
        live.expect(sent)
        late = subscribers(d, ("v1", "sse"), "/ps/room", since=2, pids=[b])
        late += subscribers(d, ("v1", "sse"), "/ps/room", since=2, pids=[a])
        subs += late
        n, _ = publish_on(by[a][1], "/ps/room", "live")
        eq(n, 6, "the next id")
        for s in late:
            s.expect([(6, b"live", False)], gap=(3, 5))
        live.expect([(6, b"live", False)])
    finally:
        close_all(subs)
        for c, _ in got:
            c.close()


@suite.test("history = 0: a channel's ids never repeat, also when it is freed between "
            "publishes, and when a subscription and a publish cross at the master", timeout=60)
def _():
    d = h0()
    conns = pinned(d)
    a, b = sorted(conns)
    subs = []
    try:
        # Nobody subscribed, no history: the channel is freed after each.
        ids = [publish_on(conns[(a, b)[i % 2]], "/ps/free", "f%d" % i)[0] for i in range(4)]
        eq(ids, [1, 2, 3, 4], "ids of 4 publishes to a channel without subscribers")
        # While the master is stopped, worker a gets a subscriber and worker
        # b a publish (both orders): the master sees both at once.
        for order in ("sub-first", "pub-first"):
            ch = "/ps/cross-" + order
            c_sub = Conn(d.port)
            sub_pid = holder(d, c_sub.sock)
            poster = conns[b if sub_pid == a else a]
            answered = []
            os.kill(d.proc.pid, signal.SIGSTOP)
            try:
                if order == "pub-first":
                    t = spawn(lambda: answered.append(publish_on(poster, ch, "x1")[0]))
                    time.sleep(0.3)
                s = Sub(d, "sse", ch, conn=c_sub, wait=False)
                s.pid = sub_pid
                subs.append(s)
                time.sleep(0.3)
                if order == "sub-first":
                    t = spawn(lambda: answered.append(publish_on(poster, ch, "x1")[0]))
                    time.sleep(0.3)
            finally:
                os.kill(d.proc.pid, signal.SIGCONT)
            t.join_result(scaled(15))
            s.cl.begin()
            answered += [publish_on(poster, ch, "x%d" % i)[0] for i in (2, 3)]
            eq(len(set(answered)), 3, "%s: ids answered to 3 publishes %s" % (order, answered))
            ok(answered == sorted(answered), "%s: ids in order %s" % (order, answered))
            got = [s.next() for _ in range(3)]
            eq([g[1] for g in got], answered, "%s: ids the subscriber got %s" % (order, got))
    finally:
        close_all(subs)
        close_all(conns.values())


suite.run()
