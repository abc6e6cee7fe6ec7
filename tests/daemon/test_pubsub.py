#!/usr/bin/python3
"""eddy black-box: pub/sub channels (type = pubsub) over WebSocket, POST and
Server-Sent Events: fan-out to 1,000 subscribers, slow consumers, publish
access rules, SSE with curl, ?since= replay and gap notices, client_publish,
channel state and freeing.

WebSocket clients: Debian's python3-websockets (a tenth of the fan-out's
subscribers), a lean asyncio.Protocol for the rest of them (FastSub), and a
hand-made blocking client (WS) where a test needs raw frames, a small receive
buffer or a client that never reads.  SSE through curl.  Every test skips
while `eddy -t` refuses `type = pubsub`."""
import asyncio
import base64
import hashlib
import json
import os
import resource
import select
import shutil
import struct
import subprocess
import sys
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

try:
    import websockets
    import websockets.client
    import websockets.exceptions
except ImportError:  # pragma: no cover - python3-websockets missing
    websockets = None

suite = Suite()

V1 = "eddy.pubsub.v1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

SERVER = """[server]
listen = 127.0.0.1:{port}
max_connections = 4000
[timeouts]
shutdown = 2s
"""


def conf(*routes):
    """A config: SERVER, then one [route PREFIX] type = pubsub per
    (prefix, {key: value}) given."""
    out = SERVER
    for prefix, keys in routes:
        out += "[route %s]\ntype = pubsub\n" % prefix
        for k, v in keys.items():
            out += "%s = %s\n" % (k, v)
    return out


@suite.fixture
def pubsub_support():
    """None when eddy -t accepts a pubsub route, else why not."""
    path = suite.path("probe.ini")
    write_file(path, fill(conf(("/ps/", {"history": 10})), {"port": free_port()}))
    rc, out, err = run_eddy(["-t", "-c", path])
    return None if rc == 0 else "eddy -t refuses type = pubsub: %s" % tail(out + err, 3)


def need_pubsub(ws_lib=False):
    why = pubsub_support()
    if why:
        raise Skip(why)
    if ws_lib and websockets is None:
        raise Skip("python3-websockets is not installed")


def start(name, *routes, **kw):
    return suite.start(conf(*routes), name=name, **kw)


# ------------------------------------------------------------------ HTTP helpers

def post(d, path, body, ctype="text/plain; charset=utf-8", headers=(), method="POST"):
    """Publishes on a new connection; returns the Response."""
    hdrs = list(headers)
    if ctype is not None:
        hdrs.append(("Content-Type", ctype))
    return d.request(method, path, body=body, headers=hdrs, content_length=True)


def publish(d, path, body, ctype="text/plain; charset=utf-8", **kw):
    """Publishes and checks the 200 {"id":N,"subscribers":K} answer; returns (N, K)."""
    r = post(d, path, body, ctype, **kw)
    eq(r.status, 200, "POST %s status (body %s)" % (path, r.body[:200]))
    return answer(r.body, path)


def answer(body, path):
    try:
        a = json.loads(body)
    except ValueError:
        fail("POST %s answer is not JSON: %r" % (path, body[:200]))
    ok(isinstance(a, dict) and isinstance(a.get("id"), int)
       and isinstance(a.get("subscribers"), int),
       "POST %s answer must be {\"id\":N,\"subscribers\":K}: %r" % (path, a))
    return a["id"], a["subscribers"]


def state(d, path):
    """The channel's JSON state (plain GET), or None on 404."""
    r = d.get(path)
    if r.status == 404:
        return None
    eq(r.status, 200, "GET %s status (body %s)" % (path, r.body[:200]))
    try:
        s = json.loads(r.body)
    except ValueError:
        fail("GET %s: not JSON: %r" % (path, r.body[:300]))
    ok(isinstance(s, dict), "GET %s: not a JSON object: %r" % (path, s))
    return s


def subscribers(d, path):
    s = state(d, path)
    return 0 if s is None else s.get("subscribers")


def wait_subscribers(d, path, n, timeout=5):
    wait_until(lambda: subscribers(d, path) == n, timeout,
               "GET %s says %d subscribers" % (path, n))


class Publisher:
    """POSTs over one keep-alive http.client connection."""

    def __init__(self, d, timeout=None):
        self.d = d
        self.h = http_conn(d.port, timeout=timeout)

    def __call__(self, path, body, ctype="text/plain; charset=utf-8"):
        self.h.request("POST", path, body=body, headers={"Content-Type": ctype})
        r = self.h.getresponse()
        data = r.read()
        eq(r.status, 200, "keep-alive POST %s status (body %s)" % (path, data[:200]))
        eq(r.will_close, False, "POST %s answer keeps the connection" % path)
        return answer(data, path)

    def close(self):
        self.h.close()


# ------------------------------------------------------------------ a raw WebSocket client

class WS:
    """A hand-made WebSocket client on a raw Conn: masked frames out,
    frames in, no extension.  status is the handshake's status (101 or
    the refusal, whose body is read)."""

    def __init__(self, port, path, protocols=(), headers=(), rcvbuf=None, timeout=None):
        self.c = Conn(port, timeout=timeout, rcvbuf=rcvbuf)
        key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
        if protocols:
            hdrs.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
        self.c.req("GET", path, headers=hdrs + list(headers))
        self.r = self.c.read_head()
        self.status = self.r.status
        self.protocol = self.r.h("sec-websocket-protocol")
        if self.status == 101:
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            eq(self.r.h("sec-websocket-accept"), accept, "Sec-WebSocket-Accept")
        else:
            cl = self.r.h("content-length")
            if cl:
                self.r.body = self.c._take(int(cl), time.monotonic() + self.c.timeout)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self.c.close()

    def send(self, opcode, payload, fin=True):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.c.send(head + mask + body)

    def _need(self, n, deadline):
        while len(self.c.buf) < n:
            if not self.c._fill(deadline):
                raise Closed("WebSocket closed by the server (%s, %d bytes pending)"
                             % ("reset" if self.c.reset else "EOF", len(self.c.buf)))

    def frame(self, timeout=None):
        """(fin, opcode, payload) of the next frame; Closed at EOF/reset."""
        deadline = time.monotonic() + (timeout or self.c.timeout)
        buf = self.c.buf
        self._need(2, deadline)
        b0, b1 = buf[0], buf[1]
        eq(b0 & 0x70, 0, "RSV bits of a server frame (no extension negotiated)")
        eq(b1 & 0x80, 0, "MASK bit of a server frame")
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
        """(opcode, payload) of the next data message (fragments joined,
        pings answered, pongs skipped); a close frame is returned as
        (8, payload)."""
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
            if op0 is None:
                isin(op, (1, 2), "opcode of a message's first frame")
                op0 = op
            else:
                eq(op, 0, "opcode of a continuation frame")
            parts.append(payload)
            if fin:
                return op0, b"".join(parts)

    def text(self, timeout=None):
        op, payload = self.message(timeout)
        eq(op, 1, "opcode (text) of message %s" % _short_bytes(payload))
        return payload.decode("utf-8")

    def json(self, timeout=None):
        t = self.text(timeout)
        try:
            return json.loads(t)
        except ValueError:
            fail("eddy.pubsub.v1 frame is not JSON: %r" % t[:300])

    def round_trip(self, timeout=None):
        """Pings and waits for the pong: every frame sent before has been
        read by the server.  False if the server closed instead."""
        tag = os.urandom(8)
        self.send(9, tag)
        deadline = time.monotonic() + (timeout or self.c.timeout)
        while True:
            try:
                fin, op, payload = self.frame(max(0.01, deadline - time.monotonic()))
            except Closed:
                return False
            if op == 8:
                return False
            if op == 10 and payload == tag:
                return True

    def expect_silence(self, seconds):
        """Nothing arrives for seconds (pings aside)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.c.readable(left):
                return
            fin, op, payload = self.frame()
            if op == 9:
                self.send(10, payload)
                continue
            fail("unexpected frame: opcode %d payload %s" % (op, _short_bytes(payload)))


def _short_bytes(b):
    return repr(b[:60]) + ("...(%d bytes)" % len(b) if len(b) > 60 else "")


def try_subscribe(d, path, **kw):
    """The WS if the handshake succeeded (101), else None."""
    ws = WS(d.port, path, **kw)
    if ws.status == 101:
        return ws
    ws.close()
    return None


def subscribe(d, path, **kw):
    ws = WS(d.port, path, **kw)
    eq(ws.status, 101, "WebSocket subscribe to %s (body %s)" % (path, ws.r.body[:200]))
    return ws


def close_code(payload):
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None


# ------------------------------------------------------------------ SSE with curl

class SSE:
    """curl -N -H 'Accept: text/event-stream' URL, read line by line."""

    def __init__(self, url, headers=(), seconds=30):
        if shutil.which("curl") is None:
            raise Skip("curl is not installed")
        cmd = ["curl", "-sS", "-N", "--max-time", str(int(scaled(seconds))),
               "-H", "Accept: text/event-stream"]
        for h in headers:
            cmd += ["-H", h]
        self.p = subprocess.Popen(cmd + [url], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        self.comments = []

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()

    def line(self, timeout=None):
        deadline = time.monotonic() + (timeout or IO_TIMEOUT)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.p.stdout], [], [], max(0, left))
            if not r:
                fail("SSE: no complete line within %.1fs (have %r)"
                     % (timeout or IO_TIMEOUT, self.buf[:300]))
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                self.p.wait()
                fail("SSE: curl ended (exit %s: %s), have %r"
                     % (self.p.returncode, self.p.stderr.read().decode(errors="replace").strip(),
                        self.buf[:300]))
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8")

    def event(self, timeout=None):
        """The next event as {"id":..., "event":..., "data":[lines]};
        comment lines are kept in self.comments."""
        deadline = time.monotonic() + (timeout or IO_TIMEOUT)
        ev = {"data": []}
        seen = False
        while True:
            line = self.line(max(0.01, deadline - time.monotonic()))
            if line == "":
                if seen:
                    return ev
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                ev["data"].append(value)
                seen = True
            elif field in ("id", "event"):
                # "message" is the type of an event without an event: line.
                if field != "event" or value != "message":
                    ev[field] = value
                seen = True


def parse_json(text, what):
    try:
        return json.loads(text)
    except ValueError as e:
        fail("%s is not JSON (%s): %r" % (what, e, text[:300]))


def sse_data(ev):
    return "\n".join(ev["data"])


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < n:
        raise Skip("RLIMIT_NOFILE %d < %d" % (soft, n))


# ------------------------------------------------------------------ 1. fan-out

# EDDY_PUBSUB_FANOUT=SUBSxMSGS changes the fan-out's size.  Under valgrind,
# which looks for memory errors rather than speed, a million deliveries
# would take most of an hour: 200 x 200 there.
N_SUBS, N_MSGS = map(int, (os.environ.get("EDDY_PUBSUB_FANOUT")
                           or ("200x200" if VALGRIND else "1000x1000")).split("x"))
# Every LIB_EVERY-th subscriber is a python3-websockets client, the others a
# lean asyncio.Protocol (FastSub): a million messages through the library's
# coroutines alone take more CPU than a loaded 2-core box gives in a minute.
LIB_EVERY = 10


class FastSub(asyncio.Protocol):
    """A subscriber as an asyncio.Protocol: the handshake, then frames
    parsed in place from each read.  msgs gets (opcode, payload) of every
    data message; done resolves after `want` of them or at close."""

    def __init__(self, path, v1, want):
        self.path, self.v1, self.want = path, v1, want
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.buf = bytearray()
        self.msgs = []
        self.protocol = None
        self.upgraded = False
        self.opened = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.error = None

    def connection_made(self, transport):
        self.t = transport
        hdrs = ("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                % (self.path, self.key))
        if self.v1:
            hdrs += "Sec-WebSocket-Protocol: %s\r\n" % V1
        transport.write((hdrs + "\r\n").encode())

    def _finish(self, error=None):
        if error and not self.error and not self.done.done():
            self.error = error
        for f in (self.opened, self.done):
            if not f.done():
                f.set_result(self.error)

    def connection_lost(self, exc):
        self._finish("connection closed%s" % (": %s" % exc if exc else ""))

    def data_received(self, data):
        self.buf += data
        if not self.upgraded and not self._handshake():
            return
        buf, pos, n_buf = self.buf, 0, len(self.buf)
        while n_buf - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, off = b1 & 0x7F, pos + 2
            if n == 126:
                if n_buf - pos < 4:
                    break
                n, off = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif n == 127:
                if n_buf - pos < 10:
                    break
                n, off = struct.unpack_from(">Q", buf, pos + 2)[0], pos + 10
            if n_buf - off < n:
                break
            op = b0 & 0x0F
            if b0 & 0x70 or b1 & 0x80 or not b0 & 0x80 or op not in (1, 2, 8, 9, 10):
                self._finish("unexpected frame header %02x %02x" % (b0, b1))
            elif op == 8:
                self._finish("close frame %r" % bytes(buf[off:off + n]))
            elif op == 9:
                mask = os.urandom(4)
                self.t.write(bytes([0x8A, 0x80 | n]) + mask +
                             bytes(c ^ mask[i % 4] for i, c in enumerate(buf[off:off + n])))
            elif op != 10:
                self.msgs.append((op, bytes(buf[off:off + n])))
            pos = off + n
        del buf[:pos]
        if len(self.msgs) >= self.want:
            self._finish()

    def _handshake(self):
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            return False
        head = bytes(self.buf[:i]).decode("latin-1").split("\r\n")
        del self.buf[:i + 4]
        hdr = dict((k.strip().lower(), v.strip()) for k, _, v in
                   (line.partition(":") for line in head[1:]))
        accept = base64.b64encode(hashlib.sha1((self.key + WS_GUID).encode()).digest()).decode()
        if not head[0].startswith("HTTP/1.1 101") or hdr.get("sec-websocket-accept") != accept:
            self._finish("handshake answered %r %r" % (head[0], hdr))
            self.t.close()
            return False
        self.protocol = hdr.get("sec-websocket-protocol")
        self.upgraded = True
        self.opened.set_result(None)
        return True

    def received(self):
        """What arrived, as str (text) or bytes, then the error if any."""
        out = [p.decode("utf-8") if op == 1 else p for op, p in self.msgs]
        return out + ([self.error] if self.error else [])


class LibSub:
    """The same with python3-websockets' client."""

    def __init__(self, path, v1, want):
        self.path, self.v1, self.want = path, v1, want
        self.got = []

    async def open(self, port):
        self.ws = await websockets.client.connect(
            "ws://%s:%d%s" % (HOST, port, self.path), subprotocols=[V1] if self.v1 else None,
            compression=None, ping_interval=None, max_queue=None, open_timeout=scaled(30),
            close_timeout=scaled(2))
        self.protocol = self.ws.subprotocol

    async def drain(self, deadline):
        loop = asyncio.get_running_loop()
        try:
            while len(self.got) < self.want:
                self.got.append(await asyncio.wait_for(self.ws.recv(),
                                                       max(0.01, deadline - loop.time())))
        except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed) as e:
            self.got.append(repr(e))

    def received(self):
        return self.got


# The publisher of the fan-out runs in its own process: in a thread it would
# wait for the GIL behind the subscribers' event loop after every answer.
PUBLISHER = r"""
import http.client, json, sys
port, path, n, timeout = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
h = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
ids = []
for i in range(1, n + 1):
    h.request("POST", path, body=b"m%d" % i, headers={"Content-Type": "text/plain"})
    r = h.getresponse()
    body = r.read()
    if r.status != 200 or r.will_close:
        sys.exit("POST %d: status %d, will_close %s, body %r" % (i, r.status, r.will_close, body))
    ids.append(json.loads(body)["id"])
print(json.dumps(ids))
"""


def publish_all(port, path, n):
    """POSTs m1..mn over one keep-alive http.client connection (in a child
    process); returns the ids answered."""
    p = subprocess.run([sys.executable, "-c", PUBLISHER, str(port), path, str(n),
                        str(scaled(20))], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=scaled(150))
    eq(p.returncode, 0, "publisher's exit code (stderr: %s)" % p.stderr.decode()[-600:])
    return json.loads(p.stdout)


async def fanout(d, path, ids_out):
    """Opens N_SUBS subscribers (even: raw, odd: eddy.pubsub.v1), publishes
    N_MSGS messages over one keep-alive connection (publish_all) and returns
    the subscribers, with timings."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(50)
    subs = [(LibSub if i % LIB_EVERY == 0 else FastSub)(path, i % 2 == 1, N_MSGS)
            for i in range(N_SUBS)]

    async def connect(sub):
        async with gate:
            if isinstance(sub, LibSub):
                return await sub.open(d.port)
            await loop.create_connection(lambda: sub, HOST, d.port)
            err = await asyncio.wait_for(sub.opened, scaled(30))
            ok(err is None, "subscriber: %s" % err)

    t0 = time.monotonic()
    try:
        await asyncio.gather(*(connect(s) for s in subs))
        for i, s in enumerate(subs):
            eq(s.protocol, V1 if s.v1 else None, "subscriber %d's subprotocol" % i)
        t_open = time.monotonic() - t0
        await loop.run_in_executor(None, wait_subscribers, d, path, N_SUBS, 20)

        t1 = time.monotonic()
        publisher = spawn(publish_all, d.port, path, N_MSGS)
        # About 10 s on an idle 2-core box; the bound leaves room for a loaded one.
        deadline = loop.time() + scaled(150)

        async def drain(s):
            if isinstance(s, LibSub):
                return await s.drain(deadline)
            try:
                await asyncio.wait_for(asyncio.shield(s.done), max(0.01, deadline - loop.time()))
            except asyncio.TimeoutError:
                s._finish("timed out")

        await asyncio.gather(*(drain(s) for s in subs))
        t_recv = time.monotonic() - t1
        ids_out.extend(await loop.run_in_executor(None, publisher.join_result, scaled(160)))
        t_pub = time.monotonic() - t1
    finally:
        closing = [s.ws.close() for s in subs if isinstance(s, LibSub) and hasattr(s, "ws")]
        for s in subs:
            if isinstance(s, FastSub) and hasattr(s, "t"):
                s.t.close()
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), scaled(30))
    return subs, (t_open, t_pub, t_recv)


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@suite.test("%d WebSocket subscribers each receive all of %d POSTed messages in order"
            % (N_SUBS, N_MSGS),
            timeout=240)
def _():
    need_pubsub(ws_lib=True)
    raise_nofile(N_SUBS + 500)
    d = start("fanout", ("/ps/", {"subscriber_queue": 1024}))
    ids = []
    cpu0 = cpu_seconds(d.proc.pid)
    subs, (t_open, t_pub, t_recv) = asyncio.run(fanout(d, "/ps/fan", ids))
    cpu = cpu_seconds(d.proc.pid) - cpu0
    eq(len(ids), N_MSGS, "publish answers")
    ok(all(b > a for a, b in zip(ids, ids[1:])), "ids increase: %s" % ids[:20])
    want_raw = ["m%d" % i for i in range(1, N_MSGS + 1)]
    want_v1 = [{"id": n, "data": w} for n, w in zip(ids, want_raw)]
    bad = []
    for i, s in enumerate(subs):
        have = s.received()
        if s.v1:
            have = [json.loads(m) if isinstance(m, str) and m.startswith("{") else m
                    for m in have]
        want = want_v1 if s.v1 else want_raw
        if have != want:
            k = next((j for j, (a, b) in enumerate(zip(have, want)) if a != b),
                     min(len(have), len(want)))
            bad.append("subscriber %d (%s, %s): %d messages; first difference at %d: got %s, "
                       "expected %s" % (i, "v1" if s.v1 else "raw", type(s).__name__, len(have),
                                        k, have[k] if k < len(have) else "nothing",
                                        want[k] if k < len(want) else "nothing"))
    print("# fan-out: %d subscribers opened in %.1fs; %d messages published in %.1fs, "
          "all %d deliveries in %.1fs; the daemon used %.1f CPU-s (%s, load %.1f)"
          % (N_SUBS, t_open, N_MSGS, t_pub, N_SUBS * N_MSGS, t_recv, cpu,
             "valgrind" if VALGRIND else "%.0f deliveries per CPU-s" % (N_SUBS * N_MSGS / cpu)
             if cpu > 0 else "-", os.getloadavg()[0]))
    ok(not bad, "%d of %d subscribers wrong:\n%s" % (len(bad), N_SUBS, "\n".join(bad[:5])))
    wait_subscribers(d, "/ps/fan", 0, 10)
    d.health("/ps/fan")


# ------------------------------------------------------------------ 2. slow consumers

BIG = 64 * 1024


def big(i):
    return b"%07d:" % i + b"x" * (BIG - 8)


def index_of(payload):
    ok(len(payload) >= 8 and payload[7:8] == b":", "payload %s" % _short_bytes(payload))
    return int(payload[:7])


class Reader:
    """A subscriber that reads every message in a thread and notes when
    each index arrived; stops at the index `last` (set before it comes)."""

    def __init__(self, d, path):
        self.ws = subscribe(d, path)
        self.seen = []          # (index, monotonic time)
        self.last = None
        self.thread = spawn(self._run)

    def _run(self):
        while True:
            try:
                op, payload = self.ws.message(scaled(20))
            except Failure as e:
                fail("normal subscriber, after %d messages (last %s): %s"
                     % (len(self.seen), self.seen[-1:], e))
            if op == 8:
                fail("the normal subscriber was closed (code %s)" % close_code(payload))
            i = index_of(payload)
            self.seen.append((i, time.monotonic()))
            if self.last is not None and i >= self.last:
                return

    def finish(self, last, sent):
        """Waits for index last; checks 1..last arrived in order, each within
        scaled(1) s of the start of its POST."""
        ok(self.last == last, "Reader.last must be set before its message is published")
        self.thread.join_result(scaled(30))
        eq([i for i, _ in self.seen], list(range(1, last + 1)), "normal subscriber's messages")
        late = [(i, round(t - sent[i], 3)) for i, t in self.seen if t - sent[i] > scaled(1)]
        worst = max(t - sent[i] for i, t in self.seen)
        print("# normal subscriber: %d messages, worst POST-to-delivery %.3fs" % (last, worst))
        ok(not late, "messages seen later than %.1fs after their POST: %s" % (scaled(1), late[:10]))


def drain_until_gone(ws, timeout):
    """Reads a subscriber until close or EOF; returns the close frame's
    (code, reason), or None for EOF/reset without a close frame."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        try:
            op, payload = ws.message(max(0.01, deadline - time.monotonic()))
        except Closed:
            return None
        if op == 8:
            return close_code(payload), payload[2:].decode("utf-8", "replace")


@suite.test("slow consumer, disconnect: the non-reader is closed (1008), the other keeps up",
            timeout=90)
def _():
    need_pubsub()
    d = start("slow-disc", ("/ps/", {"subscriber_queue": 16, "slow_consumer": "disconnect"}))
    path = "/ps/slow"
    slow = subscribe(d, path, rcvbuf=4096)
    normal = Reader(d, path)
    wait_subscribers(d, path, 2)
    pub = Publisher(d)
    sent, gone_at, i = {}, None, 0
    while i < 600 and (gone_at is None or i < gone_at + 30):
        i += 1
        sent[i] = time.monotonic()
        _, k = pub(path, big(i), "application/octet-stream")
        if k == 1 and gone_at is None:
            gone_at = i
        elif gone_at is None:
            eq(k, 2, "subscribers in the answer to message %d" % i)
        else:
            eq(k, 1, "subscribers after the slow one was dropped (message %d)" % i)
    ok(gone_at is not None, "slow consumer still subscribed after %d messages of %d KiB"
       % (i, BIG // 1024))
    i += 1
    normal.last = i
    sent[i] = time.monotonic()
    pub(path, b"%07d:end" % i, "application/octet-stream")
    normal.finish(i, sent)
    normal.ws.close()
    print("# slow consumer dropped at message %d of %d KiB" % (gone_at, BIG // 1024))
    close = drain_until_gone(slow, 10)
    if close is not None:
        eq(close[0], 1008, "close code seen by the slow consumer")
        ok(close[1], "a 1008 close frame gives a reason")
    slow.close()
    wait_subscribers(d, path, 0)
    pub.close()


@suite.test("slow consumer, drop-oldest: kept, then gets the newest messages; channel still works",
            timeout=90)
def _():
    need_pubsub()
    d = start("slow-drop", ("/ps/", {"subscriber_queue": 16, "slow_consumer": "drop-oldest"}))
    path = "/ps/slow"
    slow = subscribe(d, path, rcvbuf=4096)
    normal = Reader(d, path)
    wait_subscribers(d, path, 2)
    pub = Publisher(d)
    sent, total = {}, 300
    for i in range(1, total + 1):
        sent[i] = time.monotonic()
        _, k = pub(path, big(i), "application/octet-stream")
        if k != 2:
            fail("subscribers in the answer to message %d: %d, expected 2 (drop-oldest keeps "
                 "the slow one; it saw the close %s)" % (i, k, drain_until_gone(slow, 5)))
    total += 1
    normal.last = total
    sent[total] = time.monotonic()
    pub(path, b"%07d:end" % total, "application/octet-stream")
    normal.finish(total, sent)
    s = state(d, path)
    eq(s and s.get("subscribers"), 2, "subscribers in the channel state (%s)" % s)
    normal.ws.close()
    # Now the slow one reads: what the kernel held, then the newest queued.
    got = []
    while not got or got[-1] < total:
        op, payload = slow.message(scaled(10))
        ok(op != 8, "slow subscriber closed (code %s) after %s" % (close_code(payload), got[-5:]))
        got.append(index_of(payload))
    ok(all(b > a for a, b in zip(got, got[1:])), "slow subscriber's ids increase: %s" % got)
    less(len(got), total, "messages the slow subscriber received (some dropped)")
    print("# drop-oldest: the slow subscriber got %d of %d messages (last ones %s)"
          % (len(got), total, got[-3:]))
    total += 1
    pub(path, b"%07d:after" % total, "application/octet-stream")
    eq(index_of(slow.message(scaled(5))[1]), total, "message published after it read again")
    slow.close()
    pub.close()


@suite.test("slow consumer over SSE, disconnect: the non-reader is cut, the other keeps up",
            timeout=90)
def _():
    need_pubsub()
    d = start("slow-sse", ("/ps/", {"subscriber_queue": 16, "slow_consumer": "disconnect"}))
    path = "/ps/slow"
    slow = Conn(d.port, rcvbuf=4096)
    slow.req("GET", path, headers=[("Accept", "text/event-stream")])
    eq(slow.read_head().status, 200, "SSE subscribe status")
    normal = Reader(d, path)
    wait_subscribers(d, path, 2)
    pub = Publisher(d)
    sent, gone_at, i = {}, None, 0
    while i < 600 and (gone_at is None or i < gone_at + 30):
        i += 1
        sent[i] = time.monotonic()
        _, k = pub(path, big(i), "text/plain")
        if k == 1 and gone_at is None:
            gone_at = i
    ok(gone_at is not None, "slow SSE subscriber still subscribed after %d messages" % i)
    i += 1
    normal.last = i
    sent[i] = time.monotonic()
    pub(path, b"%07d:end" % i, "text/plain")
    normal.finish(i, sent)
    normal.ws.close()
    print("# slow SSE subscriber dropped at message %d of %d KiB" % (gone_at, BIG // 1024))
    slow.expect_closed(scaled(10), "the slow SSE subscriber's connection")
    slow.close()
    pub.close()


# ------------------------------------------------------------------ 3. publish access

ACCESS_ROUTES = (("/ps/", {}),
                 ("/pa/", {"publish_allow": "10.0.0.0/8"}),
                 ("/pt/", {"publish_token": "s3cret-Token.42"}),
                 ("/pc/", {"max_channels": 2}),
                 ("/pm/", {"max_subscribers": 2}))


@suite.fixture
def access_daemon():
    return start("access", *ACCESS_ROUTES)


@suite.test("publish from outside publish_allow: 403 (subscribing still works)")
def _():
    need_pubsub()
    d = access_daemon()
    with subscribe(d, "/pa/x") as ws:
        eq(post(d, "/pa/x", "hello").status, 403, "POST from 127.0.0.1 outside 10.0.0.0/8")
        eq(post(d, "/pa/x", "hello", method="PUT").status, 403, "PUT from outside")
        ws.expect_silence(0.2)
    eq(publish(d, "/ps/x", "fine")[1], 0, "the default publish_allow takes 127.0.0.1")


@suite.test("publish_token: no header 401, wrong 401, right 200")
def _():
    need_pubsub()
    d = access_daemon()
    with subscribe(d, "/pt/t") as ws:
        eq(post(d, "/pt/t", "a").status, 401, "POST without Authorization")
        for bad in ("Bearer wrong", "Bearer s3cret-Token.4", "Bearer s3cret-Token.421",
                    "Basic czNjcmV0LVRva2VuLjQy", "Bearer "):
            eq(post(d, "/pt/t", "a", headers=[("Authorization", bad)]).status, 401,
               "POST with Authorization: %s" % bad)
        n, k = publish(d, "/pt/t", "ok", headers=[("Authorization", "Bearer s3cret-Token.42")])
        eq(k, 1, "subscribers in the answer")
        eq(ws.text(), "ok", "the only message delivered")


@suite.test("publish: text/* and application/json go out as text, others binary; PUT too")
def _():
    need_pubsub()
    d = access_daemon()
    cases = [("text/plain", "plain", 1), ("text/html; charset=utf-8", "<b>é</b>", 1),
             ("application/json", '{"a":[1,2]}', 1), ("application/octet-stream", b"\x00\xff", 2),
             ("image/png", b"\x89PNG", 2), (None, b"no type", 2),
             ("application/octet-stream", b"\xc3\x28 not utf-8", 2)]
    with subscribe(d, "/ps/types") as ws:
        for i, (ctype, body, op) in enumerate(cases):
            publish(d, "/ps/types", body, ctype, method="PUT" if i == 2 else "POST")
            o, payload = ws.message()
            eq((o, payload), (op, body.encode() if isinstance(body, str) else body),
               "(opcode, payload) of a %s publish" % ctype)


@suite.test("publish: invalid UTF-8 in a text body is 400 and not delivered")
def _():
    need_pubsub()
    d = access_daemon()
    with subscribe(d, "/ps/utf") as ws:
        for bad in (b"\xc3\x28", b"ok \xff", b"\xed\xa0\x80", b"\xf0\x9f\x98"):
            eq(post(d, "/ps/utf", bad, "text/plain").status, 400, "text/plain body %r" % bad)
        eq(post(d, "/ps/utf", b"\xe2\x82", "application/json").status, 400, "truncated JSON")
        publish(d, "/ps/utf", "marker \u20ac")
        eq(ws.text(), "marker \u20ac", "first message delivered (the bad ones are not)")


@suite.test("channel names: 128 bytes of [A-Za-z0-9._~-/] fine; too long or other bytes 400")
def _():
    need_pubsub()
    d = access_daemon()
    good = ["a" * 128, "Az09._~-", "room/sub/x", ("x/" * 64)[:128]]
    for name in good:
        eq(post(d, "/ps/" + name, "x").status, 200, "POST to channel %r" % name[:40])
    for name in ["a" * 129, "a!b", "a:b", "a@b", "a,b", "a*b", "a$b", "a+b", "a%20b", "a=b",
                 "%C3%A9", "a'b", "a(b)"]:
        eq(post(d, "/ps/" + name, "x").status, 400, "POST to channel %r" % name[:40])
        with WS(d.port, "/ps/" + name) as ws:
            eq(ws.status, 400, "WebSocket subscribe to channel %r" % name[:40])
    eq(d.get("/ps/" + "b" * 129).status, 400, "GET state of a 129-byte name")


@suite.test("max_channels = 2: a third channel is 503, the first two still work")
def _():
    need_pubsub()
    d = access_daemon()
    publish(d, "/pc/one", "1")
    with subscribe(d, "/pc/two") as ws:
        eq(post(d, "/pc/three", "3").status, 503, "POST to a third channel")
        with WS(d.port, "/pc/four") as w4:
            eq(w4.status, 503, "WebSocket subscribe to a third channel")
        publish(d, "/pc/one", "again")
        publish(d, "/pc/two", "to two")
        eq(ws.text(), "to two", "message on the second channel")


@suite.test("max_subscribers = 2: a third subscriber (WebSocket or SSE) is 503")
def _():
    need_pubsub()
    d = access_daemon()
    a = subscribe(d, "/pm/a")
    b = subscribe(d, "/pm/b")
    with WS(d.port, "/pm/a") as c:
        eq(c.status, 503, "third WebSocket subscriber on the route")
    r = curl_fetch(d.url("/pm/c"), "-H", "Accept: text/event-stream", timeout=scaled(5))
    eq(r.status, 503, "third subscriber over SSE (curl)")
    eq(publish(d, "/pm/a", "x")[1], 1, "subscribers of /pm/a")
    eq(a.text(), "x", "message to a kept subscriber")
    b.close()
    c = wait_until(lambda: try_subscribe(d, "/pm/c"), 5, "a subscriber fits once one left")
    c.close()
    a.close()


# ------------------------------------------------------------------ 4. SSE with curl

SSE_ROUTES = (("/ps/", {}), ("/sk/", {"ping_interval": "1s"}))


@suite.fixture
def sse_daemon():
    return start("sse", *SSE_ROUTES)


@suite.test("SSE: curl receives id:/data: events; the response is chunked text/event-stream")
def _():
    need_pubsub()
    d = sse_daemon()
    with Conn(d.port) as c:
        c.req("GET", "/ps/sse-raw", headers=[("Accept", "text/event-stream")])
        r = c.read_head()
        eq(r.status, 200, "SSE status")
        match(r"^text/event-stream", r.h("content-type") or "", "SSE Content-Type")
        eq(r.tokens("transfer-encoding"), ["chunked"], "SSE Transfer-Encoding")
    with SSE(d.url("/ps/sse")) as s:
        wait_subscribers(d, "/ps/sse", 1)
        n1, k = publish(d, "/ps/sse", "first")
        eq(k, 1, "subscribers in the answer")
        n2, _ = publish(d, "/ps/sse", '{"json":true}', "application/json")
        for n, data in ((n1, "first"), (n2, '{"json":true}')):
            ev = s.event()
            eq(ev.get("id"), str(n), "event id")
            eq(sse_data(ev), data, "event data")
            eq(ev.get("event"), None, "event type of a message")


@suite.test("SSE: Last-Event-ID replays what came after it, then live messages")
def _():
    need_pubsub()
    d = sse_daemon()
    ids = [publish(d, "/ps/resume", "r%d" % i)[0] for i in range(1, 6)]
    with SSE(d.url("/ps/resume"), headers=["Last-Event-ID: %d" % ids[1]]) as s:
        for i in (2, 3, 4):
            ev = s.event()
            eq((ev.get("id"), sse_data(ev)), (str(ids[i]), "r%d" % (i + 1)), "replayed event")
        n, _ = publish(d, "/ps/resume", "live")
        ev = s.event()
        eq((ev.get("id"), sse_data(ev)), (str(n), "live"), "live event after the replay")
    with SSE(d.url("/ps/resume"), headers=["Last-Event-ID: %d" % n]) as s:
        wait_subscribers(d, "/ps/resume", 1)
        m, _ = publish(d, "/ps/resume", "next")
        ev = s.event()
        eq((ev.get("id"), sse_data(ev)), (str(m), "next"), "up to date: only the live event")


@suite.test("SSE: a keepalive comment every ping_interval = 1s")
def _():
    need_pubsub()
    d = sse_daemon()
    with SSE(d.url("/sk/quiet")) as s:
        t0 = time.monotonic()
        seen = []
        while len(seen) < 2:
            line = s.line(scaled(3))
            if line.startswith(":"):
                seen.append(time.monotonic() - t0)
            elif line.partition(":")[0] in ("id", "data", "event"):
                fail("unexpected SSE line on a quiet channel: %r" % line)
        less(seen[1], scaled(4), "seconds to two keepalive comments")


@suite.test("SSE: a multi-line payload is one event with several data: lines")
def _():
    need_pubsub()
    d = sse_daemon()
    with SSE(d.url("/ps/lines")) as s:
        wait_subscribers(d, "/ps/lines", 1)
        n, _ = publish(d, "/ps/lines", "line one\nline two\n\nline four")
        ev = s.event()
        eq(ev.get("id"), str(n), "event id")
        eq(ev["data"], ["line one", "line two", "", "line four"], "data: lines")
        m, _ = publish(d, "/ps/lines", "after")
        eq(sse_data(s.event()), "after", "the next event")


# ------------------------------------------------------------------ 5. ?since= and gaps

GAP_ROUTES = (("/ps/", {}), ("/pg/", {"history": 3}))


@suite.fixture
def gap_daemon():
    return start("gap", *GAP_ROUTES)


def fill_gap_channel(d, path):
    """Ten messages, the last binary; the route keeps three."""
    ids = [publish(d, path, "g%d" % i)[0] for i in range(1, 10)]
    ids.append(publish(d, path, b"\x00\xffbin", "application/octet-stream")[0])
    return ids


@suite.test("WebSocket ?since=ID replays the history after ID, then live messages")
def _():
    need_pubsub()
    d = gap_daemon()
    ids = [publish(d, "/ps/since", "s%d" % i)[0] for i in range(1, 6)]
    with subscribe(d, "/ps/since?since=%d" % ids[1]) as ws:
        for i in (3, 4, 5):
            eq(ws.text(), "s%d" % i, "replayed message")
        publish(d, "/ps/since", "live")
        eq(ws.text(), "live", "live message after the replay")
    with subscribe(d, "/ps/since?since=%d" % ids[1], protocols=[V1]) as ws:
        eq(ws.protocol, V1, "Sec-WebSocket-Protocol")
        for i in (3, 4, 5):
            eq(ws.json(), {"id": ids[i - 1], "data": "s%d" % i}, "replayed v1 frame")
        eq(ws.json().get("data"), "live", "the live message, now in the history")
        ws.expect_silence(0.2)


@suite.test("eddy.pubsub.v1: a gap object before the replay; binary as b64")
def _():
    need_pubsub()
    d = gap_daemon()
    ids = fill_gap_channel(d, "/pg/v1")
    with subscribe(d, "/pg/v1?since=%d" % ids[1], protocols=["other", V1]) as ws:
        eq(ws.protocol, V1, "Sec-WebSocket-Protocol")
        eq(ws.json(), {"gap": {"from": ids[2], "to": ids[6]}}, "gap frame")
        eq(ws.json(), {"id": ids[7], "data": "g8"}, "first replayed frame")
        eq(ws.json(), {"id": ids[8], "data": "g9"}, "second replayed frame")
        eq(ws.json(), {"id": ids[9], "b64": base64.b64encode(b"\x00\xffbin").decode()},
           "binary replayed frame")
        n, _ = publish(d, "/pg/v1", "live")
        eq(ws.json(), {"id": n, "data": "live"}, "live frame")
        n, _ = publish(d, "/pg/v1", b"\x01" * 200, "application/octet-stream")
        eq(ws.json(), {"id": n, "b64": base64.b64encode(b"\x01" * 200).decode()}, "live binary")
    # The history now holds ids[9] and the two live ones.
    with subscribe(d, "/pg/v1?since=%d" % ids[8], protocols=[V1]) as ws:
        eq(ws.json().get("id"), ids[9], "first frame: no gap when nothing was missed")


@suite.test("eddy.pubsub.v1: payloads with quotes, backslashes, controls and UTF-8 are valid JSON")
def _():
    need_pubsub()
    d = gap_daemon()
    texts = ['he said "hi" \\o/', "tab\tnl\ncr\r nul\x00 \x01\x1f\x7f", "\u00e9\u20ac\U0001f600",
             "</script>\u2028\u2029", "", "x" * 70000]
    with subscribe(d, "/ps/esc", protocols=[V1]) as ws:
        for t in texts:
            n, _ = publish(d, "/ps/esc", t.encode("utf-8"), "application/json")
            eq(ws.json(), {"id": n, "data": t}, "v1 frame of %r" % t[:40])


@suite.test("SSE: a gap is event: gap with data {from, to} before the replay")
def _():
    need_pubsub()
    d = gap_daemon()
    ids = [publish(d, "/pg/sse", "e%d" % i)[0] for i in range(1, 11)]
    for how in ("query", "header"):
        if how == "query":
            s = SSE(d.url("/pg/sse?since=%d" % ids[1]))
        else:
            s = SSE(d.url("/pg/sse"), headers=["Last-Event-ID: %d" % ids[1]])
        with s:
            ev = s.event()
            eq(ev.get("event"), "gap", "first event's type (%s)" % how)
            eq(parse_json(sse_data(ev), "gap data"), {"from": ids[2], "to": ids[6]},
               "gap data (%s)" % how)
            for i in (7, 8, 9):
                ev = s.event()
                eq((ev.get("id"), ev.get("event"), sse_data(ev)), (str(ids[i]), None,
                                                                   "e%d" % (i + 1)),
                   "replayed event (%s)" % how)


@suite.test("raw WebSocket mode: ?since= past the history replays without a gap notice")
def _():
    need_pubsub()
    d = gap_daemon()
    ids = fill_gap_channel(d, "/pg/raw")
    with subscribe(d, "/pg/raw?since=%d" % ids[1]) as ws:
        eq(ws.protocol, None, "Sec-WebSocket-Protocol")
        eq(ws.message(), (1, b"g8"), "first message: the oldest kept, no gap notice")
        eq(ws.message(), (1, b"g9"), "second message")
        eq(ws.message(), (2, b"\x00\xffbin"), "binary message")
        ws.expect_silence(0.2)


# ------------------------------------------------------------------ 6. client_publish

CP_ROUTES = (("/ps/", {}), ("/cp/", {"client_publish": "on"}))


@suite.fixture
def cp_daemon():
    return start("client-publish", *CP_ROUTES)


@suite.test("client_publish = on: a subscriber's message reaches the others")
def _():
    need_pubsub()
    d = cp_daemon()
    with subscribe(d, "/cp/room") as a, subscribe(d, "/cp/room") as b, \
            subscribe(d, "/cp/room", protocols=[V1]) as c:
        a.send(1, "hello from a")
        eq(b.message(), (1, b"hello from a"), "b got a's text message")
        m = c.json()
        eq(m.get("data"), "hello from a", "c (v1) got a's message")
        a.send(2, b"\x00bin")
        eq(b.message(), (2, b"\x00bin"), "b got a's binary message")
        eq(c.json().get("b64"), base64.b64encode(b"\x00bin").decode(), "c got it as b64")
        n, k = publish(d, "/cp/room", "posted")
        eq(k, 3, "subscribers")
        eq(state(d, "/cp/room").get("last_id"), n, "last_id counts client messages too")
        ok(n > m["id"], "the POSTed id %d follows the client message's %d" % (n, m["id"]))


@suite.test("client_publish = off: a subscriber's message reaches nobody")
def _():
    need_pubsub()
    d = cp_daemon()
    with subscribe(d, "/ps/room") as a, subscribe(d, "/ps/room") as b:
        a.send(1, "should not go out")
        a.round_trip()      # the server has read it (or closed a: fine too)
        publish(d, "/ps/room", "marker")
        eq(b.message(), (1, b"marker"), "b's first message is the POSTed marker")
        b.expect_silence(0.2)


# ------------------------------------------------------------------ 7. state and freeing

STATE_ROUTES = (("/ps/", {}), ("/pf/", {"history": 0, "max_channels": 1}))


@suite.test("GET on a channel: JSON state with the last id and subscribers")
def _():
    need_pubsub()
    d = start("state", *STATE_ROUTES)
    with subscribe(d, "/ps/st") as a, subscribe(d, "/ps/st", protocols=[V1]) as b:
        ids = [publish(d, "/ps/st", "x%d" % i)[0] for i in range(3)]
        r = d.get("/ps/st")
        eq(r.status, 200, "GET state")
        match(r"^application/json", r.h("content-type") or "", "state Content-Type")
        s = json.loads(r.body)
        eq((s.get("channel"), s.get("last_id"), s.get("subscribers")), ("st", ids[-1], 2),
           "(channel, last_id, subscribers) in %s" % s)
        eq(a.text(), "x0", "a still subscribed")
        eq(b.json().get("id"), ids[0], "b still subscribed")
    wait_subscribers(d, "/ps/st", 0)
    s = state(d, "/ps/st")
    eq(s and s.get("last_id"), ids[-1], "last_id kept with the history (%s)" % s)


@suite.test("an empty channel (history = 0, last subscriber gone) is freed")
def _():
    need_pubsub()
    d = start("free", *STATE_ROUTES)
    a = subscribe(d, "/pf/one")
    eq(subscribers(d, "/pf/one"), 1, "subscribers of /pf/one")
    with WS(d.port, "/pf/two") as w:
        eq(w.status, 503, "a second channel with max_channels = 1")
    a.close()
    wait_until(lambda: not subscribers(d, "/pf/one"), 5, "/pf/one empty")
    with wait_until(lambda: try_subscribe(d, "/pf/two"), 5,
                    "a new channel fits once the empty one is freed") as b:
        r = d.get("/pf/one")
        isin(r.status, (200, 404), "GET state of the freed channel")
        if r.status == 200:
            eq(json.loads(r.body).get("subscribers"), 0, "subscribers of the freed channel")
        n, k = publish(d, "/pf/two", "to two")
        eq(k, 1, "subscribers of /pf/two")
        eq(b.text(), "to two", "message on the new channel")


suite.run()
