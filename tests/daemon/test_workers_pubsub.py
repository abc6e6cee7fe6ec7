#!/usr/bin/python3
"""eddy black-box: pub/sub with [server] workers = 2 (the master relays every
publish to every worker): one id sequence per channel whichever worker takes
a POST, every subscriber (raw WebSocket, eddy.pubsub.v1, SSE) on every worker
gets everything in order, ?since= / Last-Event-ID and gap notices on every
worker, the channel state counted over the workers, client_publish across
workers, a killed worker restarted with the history, subscribers kept across
a SIGHUP reload; `eddy -t` accepts pubsub with workers = 2; and ten SIGHUP
reloads under load without a failed request.

Which worker holds a connection is read with ss(8) (the server-side socket's
pid for the client's local port): every test opens clients until each worker
holds some, never trusting the kernel to spread them.

EDDY_TEST_WORKERS=1 runs the same checks on one process (no master), to
check the tests themselves; the tests that need a master skip then.
EDDY_TEST_VERBOSE=1 prints how the clients were spread over the workers."""
import json
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403
from workerstest import *  # noqa: E402,F401,F403

suite = Suite()

CONF = """[server]
listen = 127.0.0.1:{port}
workers = {workers}
[timeouts]
shutdown = {shutdown}
[route /health]
type = return
status = 200
body = {body}
[route /ps/]
type = pubsub
[route /pg/]
type = pubsub
history = 3
[route /cp/]
type = pubsub
client_publish = on
[route /files/]
type = static
root = {root}
"""
# A file larger than a loopback socket takes at once: its response waits
# for the client to read, a wait that a drain must not cut.
BIG = os.urandom(4 << 20)


def files_root():
    root = suite.path("www")
    if not os.path.exists(root):
        os.makedirs(root)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(BIG)
    return root


def conf(body="one", shutdown="3s"):
    return (CONF.replace("{workers}", str(WORKERS)).replace("{body}", body)
            .replace("{shutdown}", shutdown).replace("{root}", files_root()))


def need_workers():
    if WORKERS < 2:
        raise Skip("needs worker processes (EDDY_TEST_WORKERS=%d)" % WORKERS)


def start(name, **kw):
    d = suite.start(conf(**kw), name=name)
    if WORKERS > 1:
        d.wait_output(r"generation 1: %d workers ready" % WORKERS, 5)
    return d


# ------------------------------------------------------------------ who serves what

@suite.fixture
def shared():
    return start("shared")


# ------------------------------------------------------------------ 7. eddy -t

@suite.test("eddy -t accepts a pubsub route with workers = 2; the daemon starts with it")
def _():
    need_workers()
    path = suite.path("t.ini")
    write_file(path, fill(conf(), {"port": free_port()}))
    rc, out, err = run_eddy(["-t", "-c", path])
    eq(rc, 0, "eddy -t exit code (%s)" % (out + err).strip()[-300:])
    d = shared()
    eq(sorted(children(d.proc.pid)), sorted(workers(d).values()), "the master's children")


# ------------------------------------------------------------------ 1, 3. fan-out and state

@suite.test("a publish on either worker reaches every subscriber (raw, v1, SSE) on every "
            "worker in order; ids 1,2,3... across workers; subscribers counted over all")
def _():
    d = shared()
    subs = subscribers(d, KINDS, "/ps/fan")
    total = len(subs)
    counts = per_pid(subs)
    ok(all(n >= 2 for n in counts.values()), "2+ subscribers on every worker: %s" % counts)
    posters = pinned(d)
    try:
        # The channel exists (subscribed) before any publish: last_id 0.
        want = {p: total for p in posters}
        wait_until(lambda: {p: (state_on(c, "/ps/fan") or {}).get("subscribers")
                            for p, c in posters.items()} == want, 5,
                   "GET /ps/fan on every worker counts the %d subscribers %s" % (total, counts))
        order = sorted(posters)
        sent = []
        for i in range(1, 21):
            pid = order[i % len(order)]
            if i == 7:
                body, ctype, binary = b"\x00\xffbin%d" % i, "application/octet-stream", True
            else:
                body, ctype, binary = ("m%d via %d \u20ac" % (i, pid)).encode(), \
                    "text/plain; charset=utf-8", False
            n, k = publish_on(posters[pid], "/ps/fan", body, ctype)
            eq((n, k), (i, total), "POST #%d on pid %d: (id, subscribers)" % (i, pid))
            sent.append((n, body, binary))
        # Both workers at once: the ids still make one sequence.
        threads = [spawn(lambda c=posters[p], p=p: [(publish_on(c, "/ps/fan", b)[0], b)
                                                    for b in (b"c%d-%d" % (p, j)
                                                              for j in range(15))])
                   for p in order]
        results = [t.join_result(scaled(20)) for t in threads]
        for r in results:
            ids = [n for n, _ in r]
            eq(ids, sorted(ids), "the ids one connection got, in its order")
        conc = sorted(x for r in results for x in r)
        eq([n for n, _ in conc], list(range(21, 21 + 15 * len(order))),
           "ids of the concurrent publishes")
        sent += [(n, b, False) for n, b in conc]
        for s in subs:
            s.expect(sent)
        last = sent[-1][0]
        for pid, c in posters.items():
            st = state_on(c, "/ps/fan")
            eq((st.get("channel"), st.get("last_id"), st.get("subscribers")),
               ("fan", last, total), "GET /ps/fan on pid %d: (channel, last_id, subscribers)"
               % pid)
    finally:
        close_all(subs)
        close_all(posters.values())


@suite.test("GET on a channel from either worker: the same last_id and the subscribers of "
            "every worker; closing one worker's subscribers shows on the other")
def _():
    d = shared()
    subs = subscribers(d, ("raw",), "/ps/state", per_worker=2)
    total = len(subs)
    posters = pinned(d)
    try:
        for pid, c in posters.items():
            eq(state_on(c, "/ps/nothing-here"), None, "GET of a channel nobody used, pid %d"
               % pid)
        wait_states(d, "/ps/state", 0, total)
        for i, pid in enumerate(sorted(posters)):
            eq(publish_on(posters[pid], "/ps/state", "s%d" % i)[0], i + 1, "id")
        # The subscribers of the first worker leave.
        gone = sorted(posters)[0]
        close_all(s for s in subs if s.pid == gone)
        left = [s for s in subs if s.pid != gone]
        wait_states(d, "/ps/state", len(posters), len(left))
        n, k = publish_on(posters[gone], "/ps/state", "after")
        eq((n, k), (len(posters) + 1, len(left)),
           "(id, subscribers) of a POST on the worker whose subscribers left")
        for s in left:
            s.expect([(i + 1, b"s%d" % i, False) for i in range(len(posters))]
                     + [(n, b"after", False)])
    finally:
        close_all(subs)
        close_all(posters.values())


# ------------------------------------------------------------------ 2. history, since, gaps

def publish_synced(d, posters, path, tag, n=10):
    """Publishes n messages on the workers in turn, ids 1..n, with a live v1
    subscriber on every worker that tells when each worker has them all
    (the answer to a POST does not wait for the other workers): (those
    subscribers, [(id, body, binary)])."""
    order = sorted(posters)
    sync = subscribers(d, ("v1",), path)
    sent = []
    for i in range(1, n + 1):
        k, _ = publish_on(posters[order[i % len(order)]], path, "%s%d" % (tag, i))
        sent.append((k, b"%s%d" % (tag.encode(), i), False))
    eq([k for k, _, _ in sent], list(range(1, n + 1)), "ids")
    for sub in sync:
        sub.expect(sent)
    return sync, sent


@suite.test("?since=5 and Last-Event-ID: 5 on either worker replay ids 6..10, then live ones")
def _():
    d = shared()
    posters = pinned(d)
    subs = []
    try:
        order = sorted(posters)
        sync, sent = publish_synced(d, posters, "/ps/hist", "h")
        subs += sync
        late = subscribers(d, KINDS + ("sse-leid",), "/ps/hist", since=5)
        subs += late
        for s in late:
            s.expect(sent[5:])
        wait_states(d, "/ps/hist", 10, len(subs))
        for i, pid in enumerate(order):
            n, k = publish_on(posters[pid], "/ps/hist", "live%d" % i)
            eq((n, k), (11 + i, len(subs)), "(id, subscribers) of a live publish")
            sent.append((n, b"live%d" % i, False))
        for s in subs:
            s.expect(sent[10:])
    finally:
        close_all(subs)
        close_all(posters.values())


@suite.test("a since older than the history (history = 3) gets the gap notice on either "
            "worker: {\"gap\":{...}} and event: gap, then the kept ids")
def _():
    d = shared()
    posters = pinned(d)
    subs = []
    try:
        order = sorted(posters)
        sync, sent = publish_synced(d, posters, "/pg/gap", "g")
        subs += sync
        late = subscribers(d, KINDS + ("sse-leid",), "/pg/gap", since=2)
        subs += late
        for s in late:
            s.expect(sent[7:], gap=(3, 7))
        n, _ = publish_on(posters[order[0]], "/pg/gap", "live")
        for s in subs:
            s.expect([(n, b"live", False)])
    finally:
        close_all(subs)
        close_all(posters.values())


# ------------------------------------------------------------------ 4. client_publish

@suite.test("client_publish = on: a WebSocket subscriber's message on one worker reaches "
            "the subscribers on the other, in one id sequence with POSTs")
def _():
    d = shared()
    senders = subscribers(d, ("raw",), "/cp/room")
    receivers = subscribers(d, ("v1", "sse"), "/cp/room")
    posters = pinned(d)
    try:
        by = {}
        for s in senders:
            by.setdefault(s.pid, s)
        extra = [s for s in senders if s not in by.values()]
        listeners = receivers + extra
        wait_states(d, "/cp/room", 0, len(senders) + len(receivers))
        sent = []
        for pid in sorted(by):
            text = "from a client on pid %d" % pid
            by[pid].cl.send(1, text)
            sent.append((len(sent) + 1, text.encode(), False))
            # The others see it before the next one is sent (one order).
            for s in listeners:
                if s.pid != pid:
                    s.expect(sent[-1:])
            for s in listeners:
                if s.pid == pid:
                    s.expect(sent[-1:])
        pid = sorted(by)[0]
        by[pid].cl.send(2, b"\x00\x01bin")
        sent.append((len(sent) + 1, b"\x00\x01bin", True))
        for s in listeners:
            s.expect(sent[-1:])
        n, k = publish_on(posters[sorted(posters)[-1]], "/cp/room", "posted")
        eq(n, len(sent) + 1, "the POSTed id follows the client messages' ids")
        for s in listeners:
            s.expect([(n, b"posted", False)])
    finally:
        close_all(senders + receivers)
        close_all(posters.values())


# ------------------------------------------------------------------ 5. SIGKILL

@suite.test("SIGKILL of a worker: restarted; ids go on; the new worker has the history; "
            "the dead worker's subscribers no longer counted")
def _():
    need_workers()
    d = start("kill")
    subs = subscribers(d, ("v1", "raw"), "/ps/k")
    posters = pinned(d)
    try:
        wait_states(d, "/ps/k", 0, len(subs))
        order = sorted(posters)
        sent = []
        for i in range(1, 6):
            n, _ = publish_on(posters[order[i % 2]], "/ps/k", "k%d" % i)
            sent.append((n, b"k%d" % i, False))
        eq([n for n, _, _ in sent], [1, 2, 3, 4, 5], "ids")
        for s in subs:
            s.expect(sent)
        close_all(posters.values())
        old = workers(d)
        victim = old[1]
        os.kill(victim, signal.SIGKILL)
        d.wait_output(r"worker 1 was killed by signal 9", 5)
        wait_until(lambda: workers(d).get(1, victim) != victim, 5, "worker 1 restarted")
        new = workers(d)
        match(r"started worker 1 \(pid %d, generation 1\)" % new[1], d.output(), "log")
        eq(new[2], old[2], "worker 2 untouched")
        dead = [s for s in subs if s.pid == victim]
        alive = [s for s in subs if s.pid != victim]
        for s in dead:
            try:
                op, payload = s.cl.message(scaled(5))
                isin(op, (8,), "%r after its worker was killed: %r" % (s, payload[:60]))
            except Closed:
                pass
        wait_states(d, "/ps/k", 5, len(alive))
        posters = pinned(d)
        for pid in sorted(posters):
            n, k = publish_on(posters[pid], "/ps/k", "after %d" % pid)
            eq((n, k), (len(sent) + 1, len(alive)),
               "(id, subscribers) of a POST on pid %d after the kill" % pid)
            sent.append((n, b"after %d" % pid, False))
        for s in alive:
            s.expect(sent[5:])
        late = subscribers(d, ("v1", "sse"), "/ps/k", since=0, pids=[new[1]])
        subs += late
        for s in late:
            s.expect(sent)
    finally:
        close_all(subs)
        close_all(posters.values())


# ------------------------------------------------------------------ 6. SIGHUP

@suite.test("SIGHUP reload: subscribers on the old workers keep receiving what is published "
            "on the new ones, in order; subscribers on the new workers get the history")
def _():
    need_workers()
    d = start("reload", shutdown="10s")
    subs = subscribers(d, ("v1", "raw"), "/ps/r")
    posters = pinned(d)
    try:
        wait_states(d, "/ps/r", 0, len(subs))
        sent = []
        for i, pid in enumerate(sorted(posters) * 2):
            n, _ = publish_on(posters[pid], "/ps/r", "before %d" % i)
            sent.append((n, b"before %d" % i, False))
        eq([n for n, _, _ in sent], [1, 2, 3, 4], "ids before the reload")
        for s in subs:
            s.expect(sent)
        close_all(posters.values())
        old = workers(d)
        d.reload(conf(body="two", shutdown="10s"))
        d.wait_output(r"configuration reloaded", 10)
        new = workers(d)
        eq(len(new), 2, "new workers")
        ok(not set(new.values()) & set(old.values()), "a new generation: %s, was %s"
           % (new, old))
        for pid in old.values():
            ok(pid_alive(pid), "old worker %d still drains (its subscribers)" % pid)
        posters = pinned(d)
        eq(set(posters), set(new.values()), "new connections go to the new workers")
        c = list(posters.values())[0]
        c.req("GET", "/health")
        eq(c.read_response().body, b"two", "the new configuration serves")
        for i, pid in enumerate(sorted(posters) * 2):
            n, _ = publish_on(posters[pid], "/ps/r", "after %d" % i)
            sent.append((n, b"after %d" % i, False))
        eq([n for n, _, _ in sent], list(range(1, 9)), "ids across the reload")
        for s in subs:
            s.expect(sent[4:])
        late = subscribers(d, ("v1", "raw"), "/ps/r", since=0)
        for s in late:
            s.expect(sent)
        st = state_on(posters[new[1]], "/ps/r")
        eq((st.get("last_id"), st.get("subscribers")), (8, len(subs) + len(late)),
           "GET /ps/r on a new worker: (last_id, subscribers old and new)")
        subs += late
    finally:
        close_all(subs)
        close_all(posters.values())
    # Their subscribers gone, the old workers finish draining.
    wait_until(lambda: not any(pid_alive(p) for p in old.values()), 10, "old workers exit")


# ------------------------------------------------------------------ reloads under load

def read_response(sock):
    """(status, close, body) of one response on sock; EOFError on a close
    before its first byte."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if buf:
                raise ConnectionError("closed mid-head after %r" % buf[:80])
            raise EOFError()
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    need = int(hdrs.get("content-length", "0"))
    rest = bytearray(rest)
    while len(rest) < need:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return status, hdrs.get("connection", "").lower() == "close", bytes(rest[:need])


class Load:
    """Clients busy all along: GET /health on keep-alive connections, GET
    /health on a new connection each, POST /ps/load on keep-alive
    connections (whose ids must go 1, 2, 3...), GET /ps/load (the channel's
    state: a handler that waits for the master) and GET of a 4 MiB file on
    keep-alive connections (each must arrive whole).  A keep-alive connection
    the server closes between requests (a draining worker) is retried on a
    new one, as every HTTP client does; anything else is an error."""

    def __init__(self, port):
        self.port, self.stop = port, threading.Event()
        self.ok = self.retried = 0
        self.errors, self.statuses, self.ids = [], [], []
        self.threads = [spawn(self.run, "keepalive"), spawn(self.run, "fresh"),
                        spawn(self.run, "publish"), spawn(self.run, "state"),
                        spawn(self.run, "static")]

    def one(self, sock, mode):
        if mode == "publish":
            body = b"p%d" % (len(self.ids) + 1)
            sock.sendall(b"POST /ps/load HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        elif mode == "state":
            sock.sendall(b"GET /ps/load HTTP/1.1\r\nHost: t\r\n\r\n")
        elif mode == "static":
            sock.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        else:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n"
                         + (b"Connection: close\r\n" if mode == "fresh" else b"") + b"\r\n")
        return read_response(sock)

    def run(self, mode):
        sock, used = None, False
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock, used = socket.create_connection(("127.0.0.1", self.port),
                                                          timeout=scaled(10)), False
                try:
                    published = bool(self.ids)  # before the request, not after its answer
                    status, close, body = self.one(sock, mode)
                except (EOFError, ConnectionResetError, BrokenPipeError):
                    if not used:
                        raise
                    self.retried += 1  # the server closed an idle keep-alive connection
                    sock.close()
                    sock = None
                    continue
                used = True
                if status // 100 == 2:
                    self.ok += 1
                    if mode == "publish":
                        self.ids.append(json.loads(body)["id"])
                    elif mode == "static" and body != BIG:
                        self.errors.append("static: %d bytes, not the file" % len(body))
                elif mode == "state" and status == 404 and not published:
                    pass  # before the first publish the channel does not exist
                else:
                    self.statuses.append((mode, status, body[:100]))
                if close or mode == "fresh":
                    sock.close()
                    sock = None
            except Exception as e:  # noqa: BLE001
                self.errors.append("%s: %r" % (mode, e))
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join_result(scaled(15))


@suite.test("ten SIGHUP reloads in a row under load: zero socket errors, zero non-2xx, "
            "publish ids consecutive, the last configuration served")
def _():
    d = start("reload-load")
    load = Load(d.port)
    try:
        for i in range(10):
            before = d.output().count("configuration reloaded")
            d.reload(conf(body="gen%d" % (i + 2)))
            wait_until(lambda: d.output().count("configuration reloaded") > before,
                       10, "reload %d done" % (i + 1))
            time.sleep(0.2)
        eq(d.get("/health").body, b"gen11", "the last configuration serves")
        if WORKERS > 1:
            wait_until(lambda: len(children(d.proc.pid)) == WORKERS, 10,
                       "only the last generation's workers left")
    finally:
        load.finish()
    sys.stdout.write("# %d requests ok (%d publishes), %d idle keep-alive closes retried\n"
                     % (load.ok, len(load.ids), load.retried))
    gaps = [(a, b) for a, b in zip([0] + load.ids, load.ids) if b != a + 1]
    bad = []
    if load.errors:
        bad.append("%d socket errors: %s" % (len(load.errors), load.errors[:5]))
    if load.statuses:
        bad.append("%d non-2xx responses: %s" % (len(load.statuses), load.statuses[:5]))
    if gaps:
        bad.append("publish ids not consecutive (previous, next): %s" % gaps[:5])
    # A draining worker answers a busy keep-alive client's next request
    # (with Connection: close) instead of closing it unread: wrk, which
    # never retries, would count each such close as a read error.
    if load.retried:
        bad.append("%d keep-alive connections closed under a busy client" % load.retried)
    eq(bad, [], "what went wrong")
    ok(load.ok > 100, "requests made under load (%d)" % load.ok)
    ok(len(load.ids) > 20, "publishes made under load (%d)" % len(load.ids))


suite.run()
