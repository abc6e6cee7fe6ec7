"""workerstest: what the black-box tests of worker processes share
(test_workers_pubsub.py, test_workers_relay.py): which worker holds a
connection (read with ss(8): the kernel decides, nothing assumes an even
spread), clients opened until every worker has some, a channel's state
asked of each worker, and WebSocket and event-stream subscribers that
check ids and order.

EDDY_TEST_WORKERS=1 runs the same checks on one process (no master), to
check the tests themselves.  EDDY_TEST_VERBOSE=1 prints how the clients
were spread over the workers."""
import base64
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

WORKERS = int(os.environ.get("EDDY_TEST_WORKERS") or 2)
V1 = "eddy.pubsub.v1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STARTED = r"started worker (\d+) \(pid (\d+), generation (\d+)\)"
BOUND = 60  # clients opened at most to get some on every worker


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def workers(d, n=None):
    """{slot: pid} of the newest generation's live workers (from the log);
    with one process (n, by default EDDY_TEST_WORKERS, is 1), {1: its pid}."""
    if (WORKERS if n is None else n) == 1:
        return {1: d.proc.pid}
    found = {}
    for slot, pid, gen in re.findall(STARTED, d.output()):
        if pid_alive(int(pid)):
            found[int(slot)] = (int(gen), int(pid))
    newest = max((g for g, _ in found.values()), default=0)
    return {s: p for s, (g, p) in found.items() if g == newest}


SS_LINE = re.compile(r'\S+:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+),')


def server_pids(port):
    """{client port: pid of the server process holding it} for the
    established connections to port (those accepted by a process)."""
    p = subprocess.run(["ss", "-Htnp", "state", "established", "( sport = :%d )" % port],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=scaled(10))
    out = {}
    for line in p.stdout.splitlines():
        m = SS_LINE.search(line)
        if m and int(m.group(1)) == port:
            out[int(m.group(2))] = int(m.group(3))
    return out


def holder(d, sock):
    """The pid of the eddy process that accepted the connection sock."""
    lport = sock.getsockname()[1]
    return wait_until(lambda: server_pids(d.port).get(lport), 5,
                      "ss shows which process holds client port %d" % lport)


def spread(d, open_fn, per_worker=1, pids=None, what="clients"):
    """Opens clients (open_fn() -> an object with .sock) until every worker
    (pids, by default the newest generation's) holds per_worker of them;
    returns [(client, pid)] of all of them (the extras are kept)."""
    if pids is None:
        pids = workers(d).values()
        eq(len(pids), WORKERS, "live workers %s" % sorted(pids))
    pids = set(pids)
    got = []
    while True:
        counts = {p: sum(1 for _, q in got if q == p) for p in pids}
        if all(n >= per_worker for n in counts.values()):
            if os.environ.get("EDDY_TEST_VERBOSE"):
                sys.stdout.write("# %s: %s\n" % (what, counts))
            return got
        if len(got) >= BOUND:
            for c, _ in got:
                c.close()
            fail("%s: after %d connections the workers hold %s (wanted %d each)"
                 % (what, len(got), counts, per_worker))
        c = open_fn()
        got.append((c, holder(d, c.sock)))


def pinned(d, pids=None):
    """{pid: a keep-alive Conn served by that worker}, one per worker."""
    got = spread(d, lambda: Conn(d.port), pids=pids, what="HTTP connections")
    out = {}
    for c, pid in got:
        if pid in out:
            c.close()
        else:
            out[pid] = c
    return out


# ------------------------------------------------------------------ HTTP on a given connection

def publish_on(c, path, body, ctype="text/plain; charset=utf-8"):
    """POSTs on the keep-alive Conn c; returns (id, subscribers)."""
    if isinstance(body, str):
        body = body.encode()
    c.req("POST", path, body=body, headers=[("Content-Type", ctype)], content_length=True)
    r = c.read_response("POST")
    eq(r.status, 200, "POST %s %r status (body %r)" % (path, body[:40], r.body[:200]))
    try:
        a = json.loads(r.body)
    except ValueError:
        fail("POST %s answer is not JSON: %r" % (path, r.body[:200]))
    ok(isinstance(a, dict) and isinstance(a.get("id"), int)
       and isinstance(a.get("subscribers"), int),
       "POST %s answer must be {\"id\":N,\"subscribers\":K}: %r" % (path, a))
    return a["id"], a["subscribers"]


def state_on(c, path):
    """The channel's JSON state by GET on Conn c (None on 404)."""
    c.req("GET", path)
    r = c.read_response()
    if r.status == 404:
        return None
    eq(r.status, 200, "GET %s status (body %r)" % (path, r.body[:200]))
    try:
        s = json.loads(r.body)
    except ValueError:
        fail("GET %s: not JSON: %r" % (path, r.body[:300]))
    return s


def states(d, path):
    """{pid: (last_id, subscribers)} by GET on a new connection to each worker."""
    out = {}
    for pid, c in pinned(d).items():
        with c:
            s = state_on(c, path)
        out[pid] = None if s is None else (s.get("last_id"), s.get("subscribers"))
    return out


def wait_states(d, path, last_id, subs, timeout=5):
    """Until GET on every worker answers last_id and subs subscribers."""
    want = {p: (last_id, subs) for p in workers(d).values()}
    wait_until(lambda: states(d, path) == want, timeout,
               "GET %s on every worker says last_id %s, %s subscribers" % (path, last_id, subs))


# ------------------------------------------------------------------ subscribers

class WS:
    """A hand-made WebSocket client (masked frames out, frames in)."""

    def __init__(self, port, path, protocols=(), conn=None):
        self.c = conn or Conn(port)
        self.sock = self.c.sock
        key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
        if protocols:
            hdrs.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
        self.c.req("GET", path, headers=hdrs)
        r = self.c.read_head()
        if r.status != 101:
            self.close()
            fail("WebSocket subscribe to %s: status %d %r" % (path, r.status, r.head[:300]))
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        eq(r.h("sec-websocket-accept"), accept, "Sec-WebSocket-Accept")
        self.protocol = r.h("sec-websocket-protocol")

    def close(self):
        self.c.close()

    def send(self, opcode, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        self.c.send(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _need(self, n, deadline):
        while len(self.c.buf) < n:
            if not self.c._fill(deadline):
                raise Closed("WebSocket closed by the server (%s, %d bytes pending)"
                             % ("reset" if self.c.reset else "EOF", len(self.c.buf)))

    def frame(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.c.timeout)
        buf = self.c.buf
        self._need(2, deadline)
        b0, b1 = buf[0], buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack(">H", bytes(buf[2:4]))[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack(">Q", bytes(buf[2:10]))[0], 10
        self._need(off + n, deadline)
        payload = bytes(buf[off:off + n])
        del buf[:off + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def message(self, timeout=None):
        """(opcode, payload) of the next data message; a close is (8, payload)."""
        deadline = time.monotonic() + (timeout or self.c.timeout)
        op0, parts = None, []
        while True:
            fin, op, payload = self.frame(max(0.01, deadline - time.monotonic()))
            if op == 9:
                self.send(10, payload)
                continue
            if op == 10:
                continue
            if op == 8:
                return 8, payload
            op0 = op if op0 is None else op0
            parts.append(payload)
            if fin:
                return op0, b"".join(parts)


class RawSSE:
    """GET with Accept: text/event-stream on a raw Conn (chunked body decoded)."""

    def __init__(self, port, path, headers=(), conn=None, wait=True):
        self.c = conn or Conn(port)
        self.sock = self.c.sock
        self.path = path
        self.c.req("GET", path, headers=[("Accept", "text/event-stream")] + list(headers))
        self.data = bytearray()
        if wait:
            self.begin()

    def begin(self):
        """Reads the response head (a subscription sent with wait=False)."""
        path = self.path
        r = self.c.read_head()
        if r.status != 200:
            self.close()
            fail("SSE subscribe to %s: status %d %r" % (path, r.status, r.head[:300]))
        match(r"^text/event-stream", r.h("content-type") or "", "SSE Content-Type")
        self.chunked = r.tokens("transfer-encoding") == ["chunked"]

    def close(self):
        self.c.close()

    def _more(self, deadline):
        if not self.chunked:
            if not self.c._fill(deadline):
                raise Closed("SSE stream closed (have %r)" % bytes(self.data[:200]))
            self.data += self.c.buf
            self.c.buf.clear()
            return
        size = int(self.c._take_line(deadline).split(b";")[0].strip(), 16)
        if size == 0:
            raise Closed("SSE stream ended (last chunk; have %r)" % bytes(self.data[:200]))
        self.data += self.c._take(size, deadline)
        eq(self.c._take(2, deadline), b"\r\n", "chunk terminator")

    def line(self, deadline):
        while b"\n" not in self.data:
            self._more(deadline)
        i = self.data.index(b"\n")
        line = bytes(self.data[:i]).rstrip(b"\r").decode("utf-8")
        del self.data[:i + 1]
        return line

    def event(self, timeout=None):
        """{"data": [lines], "id":..., "event":...} of the next event."""
        deadline = time.monotonic() + (timeout or self.c.timeout)
        ev, seen = {"data": []}, False
        while True:
            line = self.line(deadline)
            if line == "":
                if seen:
                    return ev
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                ev["data"].append(value)
            elif field in ("id", "event") and not (field == "event" and value == "message"):
                ev[field] = value
            seen = True


KINDS = ("raw", "v1", "sse")


class Sub:
    """A subscriber of one kind: raw WebSocket, eddy.pubsub.v1 WebSocket,
    SSE with ?since= or SSE with Last-Event-ID (kind "sse-leid")."""

    def __init__(self, d, kind, path, since=None, conn=None, wait=True):
        self.kind, self.path = kind, path
        q = "" if since is None or kind == "sse-leid" else "?since=%d" % since
        if kind in ("raw", "v1"):
            self.cl = WS(d.port, path + q, protocols=[V1] if kind == "v1" else (), conn=conn)
            eq(self.cl.protocol, V1 if kind == "v1" else None, "Sec-WebSocket-Protocol")
        else:
            hdrs = [("Last-Event-ID", str(since))] if kind == "sse-leid" else []
            self.cl = RawSSE(d.port, path + q, hdrs, conn=conn, wait=wait)
        self.sock = self.cl.sock
        self.pid = None

    def close(self):
        self.cl.close()

    def __repr__(self):
        return "%s subscriber of %s on pid %s" % (self.kind, self.path, self.pid)

    def next(self, timeout=None):
        """("msg", id or None, payload bytes, binary) or ("gap", from, to)."""
        if self.kind == "raw":
            op, payload = self.cl.message(timeout)
            ok(op in (1, 2), "%r: a data message, not opcode %d %r" % (self, op, payload[:60]))
            return ("msg", None, payload, op == 2)
        if self.kind == "v1":
            op, payload = self.cl.message(timeout)
            eq(op, 1, "%r: opcode (payload %r)" % (self, payload[:100]))
            try:
                m = json.loads(payload)
            except ValueError:
                fail("%r: v1 frame not JSON: %r" % (self, payload[:200]))
            if "gap" in m:
                return ("gap", m["gap"].get("from"), m["gap"].get("to"))
            if "b64" in m:
                return ("msg", m.get("id"), base64.b64decode(m["b64"]), True)
            return ("msg", m.get("id"), m.get("data", "").encode(), False)
        ev = self.cl.event(timeout)
        data = "\n".join(ev["data"])
        if ev.get("event") == "gap":
            g = json.loads(data)
            return ("gap", g.get("from"), g.get("to"))
        ident = int(ev["id"]) if "id" in ev else None
        if ev.get("event") == "binary":
            return ("msg", ident, base64.b64decode(data), True)
        eq(ev.get("event"), None, "%r: event type" % self)
        return ("msg", ident, data.encode(), False)

    def expect(self, msgs, gap=None):
        """Reads the gap notice (if given, and the kind has them) and then
        msgs [(id, payload bytes, binary)] in order."""
        got = []
        try:
            if gap is not None and self.kind != "raw":
                got.append(self.next())
                eq(got[-1], ("gap",) + tuple(gap), "%r: the gap notice" % self)
            for ident, payload, binary in msgs:
                got.append(self.next())
                want = ("msg", None if self.kind == "raw" else ident, payload, binary)
                eq(got[-1], want, "%r: message %d of %d (received so far %s)"
                   % (self, len(got), len(msgs), [g[1:3] for g in got[:-1]][-5:]))
        except Closed as e:
            fail("%r: closed after %d messages: %s" % (self, len(got), e))


def subscribers(d, kinds, path, per_worker=1, since=None, pids=None):
    """Subs of every kind, at least per_worker of each kind on every worker."""
    out = []
    for kind in kinds:
        for s, pid in spread(d, lambda: Sub(d, kind, path, since), per_worker, pids,
                             "%s subscribers of %s" % (kind, path)):
            s.pid = pid
            out.append(s)
    return out


def close_all(xs):
    for x in xs:
        x.close()


def per_pid(subs):
    out = {}
    for s in subs:
        out[s.pid] = out.get(s.pid, 0) + 1
    return out

