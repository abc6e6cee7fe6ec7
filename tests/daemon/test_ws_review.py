#!/usr/bin/python3
"""eddy black-box: regression tests from the review of the WebSocket /
pub-sub core (issue 8).  Each test pins one bug the review found:

- slow_consumer = drop-oldest must drop only published messages, never a
  control frame the session queued behind them (a pong, the closing
  handshake's close frame): ws_outq_drop_oldest takes the oldest waiting
  item whatever it is.
- the access-log line of a deferred POST (pubsub publish, echo) whose client
  leaves mid-body shows no status of its own: 0 on a new connection, the
  previous response's status on a kept-alive one.
- the same stale status (c->resp_status is never reset per request) keeps
  a deferred POST with Expect: 100-continue from getting its 100 Continue
  when the connection's previous answer was >= 300.

A subscriber that does not read (small receive buffer) holds a large
message in the writer's write; what the session queues behind it is then
the oldest waiting item when the next publishes find the queue full.
Every test skips while `eddy -t` refuses `type = pubsub`."""
import base64
import hashlib
import os
import struct
import sys
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Larger than what the kernel buffers for a client with a 4 KiB receive
# buffer (about 2.8 MiB measured on loopback): the writer stays blocked in
# its write of it.  The close test keeps it smaller: the client must read it
# within the session's closing deadline (2 s).  Too small a message only
# lets a test pass by mistake, never fail.
HUGE = 6 * 1024 * 1024
LARGE = 3 * 1024 * 1024

SERVER = """[server]
listen = 127.0.0.1:{port}
[limits]
body_size = 8m
[timeouts]
shutdown = 2s
[route /ps/]
type = pubsub
max_message = 8m
slow_consumer = drop-oldest
subscriber_queue = {queue}
"""


def start_conf(name, text):
    """The daemon for text; Skip while eddy -t refuses it (no pubsub yet)."""
    path = suite.path(name + "-probe.ini")
    write_file(path, fill(text, {"port": free_port()}))
    rc, out, err = run_eddy(["-t", "-c", path])
    if rc != 0:
        raise Skip("eddy -t refuses type = pubsub: %s" % tail(out + err, 3))
    return suite.start(text, name=name)


def start(name, queue):
    return start_conf(name, SERVER.replace("{queue}", str(queue)))


def publish(d, path, body):
    r = d.request("POST", path, body=body,
                  headers=[("Content-Type", "application/octet-stream")],
                  content_length=True)
    eq(r.status, 200, "POST %s status (body %s)" % (path, r.body[:200]))


def subscribers(d, path):
    r = d.get(path)
    if r.status == 404:
        return 0
    import json
    return json.loads(r.body).get("subscribers")


class WS:
    """A minimal blocking WebSocket client on a raw Conn."""

    def __init__(self, port, path, rcvbuf=None):
        self.c = Conn(port, rcvbuf=rcvbuf)
        key = base64.b64encode(os.urandom(16)).decode()
        self.c.req("GET", path, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                         ("Sec-WebSocket-Key", key),
                                         ("Sec-WebSocket-Version", "13")])
        r = self.c.read_head()
        eq(r.status, 101, "WebSocket subscribe to %s" % path)
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        eq(r.h("sec-websocket-accept"), accept, "Sec-WebSocket-Accept")

    def close(self):
        self.c.close()

    def send(self, opcode, payload):
        n = len(payload)
        mask = os.urandom(4)
        head = bytes([0x80 | opcode, 0x80 | n])  # control frames only: n < 126
        self.c.send(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _need(self, n, deadline):
        while len(self.c.buf) < n:
            if not self.c._fill(deadline):
                raise Closed("closed by the server (%d bytes pending)" % len(self.c.buf))

    def frame(self, timeout):
        """(opcode, payload) of the next frame; Closed at EOF/reset."""
        deadline = time.monotonic() + timeout
        buf = self.c.buf
        self._need(2, deadline)
        n, off = buf[1] & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack(">H", bytes(buf[2:4]))[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack(">Q", bytes(buf[2:10]))[0], 10
        self._need(off + n, deadline)
        op, payload = buf[0] & 0x0F, bytes(buf[off:off + n])
        del buf[:off + n]
        return op, payload


def frames_until(ws, stop, timeout):
    """The frames read until stop(op, payload) is true, EOF or timeout."""
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            op, payload = ws.frame(max(0.05, deadline - time.monotonic()))
        except (Closed, OSError):
            break
        got.append((op, payload))
        if stop(op, payload):
            break
    return got


def describe(frames):
    return [(op, len(p) if len(p) > 32 else p) for op, p in frames]


@suite.test("drop-oldest never drops the pong queued behind a slow subscriber's messages")
def _():
    d = start("pong", 2)
    path = "/ps/pong"
    ws = WS(d.port, path, rcvbuf=4096)
    wait_until(lambda: subscribers(d, path) == 1, scaled(5), "subscribed")
    publish(d, path, b"A" * HUGE)  # the writer blocks in its write of this
    time.sleep(scaled(0.3))
    tag = b"ping-" + os.urandom(6).hex().encode()
    ws.send(9, tag)  # the pong waits behind the message in flight
    time.sleep(scaled(0.3))
    publish(d, path, b"B")
    publish(d, path, b"C")  # the queue is full: drop-oldest drops one
    got = frames_until(ws, lambda op, p: p == b"C", scaled(20))
    ok(any(op == 10 and p == tag for op, p in got),
       "the pong answering the client's ping arrived (frames: %s)" % describe(got))
    ws.close()


@suite.test("drop-oldest never drops the close frame answering the client's close")
def _():
    d = start("close", 1)
    path = "/ps/close"
    ws = WS(d.port, path, rcvbuf=4096)
    wait_until(lambda: subscribers(d, path) == 1, scaled(5), "subscribed")
    publish(d, path, b"A" * LARGE)
    time.sleep(scaled(0.3))
    ws.send(8, struct.pack(">H", 1000))  # the answer waits behind the message
    time.sleep(scaled(0.3))
    publish(d, path, b"B")  # the queue (1) is full: drop-oldest drops one
    got = frames_until(ws, lambda op, p: op == 8, scaled(20))
    ok(got and got[-1][0] == 8,
       "the close frame answering the client's close arrived (frames: %s)" % describe(got))
    ws.close()


LOG_CONF = """[server]
listen = 127.0.0.1:{port}
[route /ps/]
type = pubsub
[route /e/]
type = echo
"""


@suite.test("a deferred POST cut mid-body is not logged with a stale status")
def _():
    d = start_conf("deflog", LOG_CONF)
    for path in ("/ps/cut", "/e/cut"):
        c = Conn(d.port)
        # A first request on the connection gets its answer (200)...
        c.send("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               "Content-Length: 3\r\n\r\nabc" % path)
        eq(c.read_response("POST").status, 200, "first POST %s" % path)
        # ...the second leaves after 10 of its 100 body bytes.
        c.send("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789" % path)
        time.sleep(scaled(0.2))
        c.close()
        mark = '"POST %s HTTP/1.1"' % path
        wait_until(lambda: len([ln for ln in d.stderr().splitlines() if mark in ln]) >= 2,
                   scaled(5), "two access-log lines for %s" % path)
        line = [ln for ln in d.stderr().splitlines() if mark in ln][1]
        status = line.split(mark, 1)[1].split()[0]
        ok(status not in ("0", "200"),
           "the cut request's log line has a status of its own, not 0 nor the previous "
           "answer's 200: %r" % line)


@suite.test("a deferred POST gets its 100 Continue after a 404 on the same connection")
def _():
    d = start_conf("continue", LOG_CONF)
    c = Conn(d.port)
    c.send("GET /ps/no-such-channel HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(c.read_response().status, 404, "state of a channel that does not exist")
    c.send("POST /ps/cont HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
           "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    got = c.readable(scaled(2))
    ok(got, "100 Continue (or any answer) before the body is sent")
    r = c.read_response("POST", skip_1xx=False)
    eq(r.status, 100, "interim answer to Expect: 100-continue")
    c.send("hello")
    eq(c.read_response("POST").status, 200, "the publish's answer")
    c.close()


suite.run()
