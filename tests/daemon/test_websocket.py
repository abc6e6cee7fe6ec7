#!/usr/bin/python3
"""eddy black-box: the WebSocket protocol on `type = echo` routes (RFC 6455,
RFC 7692).  Two kinds of client: Debian's python3-websockets (a real,
conforming client: echo at every length class, fragments, permessage-deflate,
ping, close codes) and hand-made raw frames over a socket (each protocol
violation with its close code, UTF-8 split across fragments at every byte,
fail-fast, the handshake's refusals, server pings, a deflate bomb, SIGTERM
and SIGHUP with open sessions).

Every test skips while `eddy -t` refuses a `type = echo` route (the daemon
side not built yet)."""
import asyncio
import base64
import hashlib
import os
import struct
import sys
import zlib
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

try:
    import websockets
    import websockets.exceptions
except ImportError:  # the raw-socket tests still run
    websockets = None

suite = Suite()

MIB = 1 << 20
MAX_MESSAGE = MIB  # the max_message default
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10

MAIN = """[server]
listen = 127.0.0.1:{port}
[timeouts]
header = 2s
shutdown = 3s
[route = /health]
type = return
status = 200
body = ok
[route = /echo]
type = echo
[route = /echo-plain]
type = echo
compression = off
[route = /echo-origins]
type = echo
origins = http://good.example, https://also.example:8443
[route = /echo-proto]
type = echo
subprotocols = chat.v2, chat.v1, superchat
[route = /echo-ping]
type = echo
ping_interval = 1s
pong_timeout = %dms
""" % (1000 * SCALE)

# ------------------------------------------------------------------ skipping


@suite.fixture
def echo_supported():
    """Whether this eddy accepts a `type = echo` route (eddy -t)."""
    path = suite.path("probe-echo.ini")
    write_file(path, "[server]\nlisten = 127.0.0.1:1\n[route = /e]\ntype = echo\n")
    rc, out, err = run_eddy(["-t", "-c", path])
    return rc == 0


def need_echo():
    if not echo_supported():
        raise Skip("eddy -t refuses `type = echo` (WebSocket routes not built yet)")


def need_websockets():
    need_echo()
    if websockets is None:
        raise Skip("python3-websockets is not installed")


@suite.fixture
def main_daemon():
    return suite.start(MAIN, name="ws-main")


def daemon():
    need_echo()
    return main_daemon()


# ------------------------------------------------------------------ frames


def apply_mask(data, key):
    """XORs data with the 4-byte key repeated (RFC 6455 §5.3)."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One client frame: masked unless mask is False; length overrides the
    announced payload length (the payload is sent as given)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 0x70) | (opcode & 0x0F)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def close_payload(code, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def deflate_message(data, level=6, bits=15):
    """A message compressed as permessage-deflate sends it (RFC 7692 §7.2.1):
    a fresh raw-deflate stream, sync-flushed, without the 00 00 ff ff tail.
    bits: the window the server allows the client (zlib's least is 9)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -max(9, bits))
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    ok(out.endswith(b"\x00\x00\xff\xff"), "sync flush tail")
    return out[:-4]


def inflate(d, data, strict=False):
    """Inflates with d; strict: in 64-byte steps, so that a reference past
    the window is an error (in one call zlib takes it from the output)."""
    if not strict:
        return d.decompress(data)
    out = []
    while True:
        chunk = d.decompress(data, 64)
        out.append(chunk)
        data = d.unconsumed_tail
        if not data and len(chunk) < 64:
            return b"".join(out)


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    def close_code(self):
        """The code of a close frame (1005 when it has no payload)."""
        if len(self.payload) < 2:
            return 1005
        return struct.unpack("!H", self.payload[:2])[0]

    def __repr__(self):
        return "<frame op=%#x fin=%d rsv=%#x %s>" % (self.opcode, self.fin, self.rsv,
                                                      repr(self.payload[:60]))


class WS:
    """A raw WebSocket client: hand-made handshake and masked frames, and a
    reader of server frames that checks they are unmasked."""

    def __init__(self, port, path="/echo", headers=(), extensions=None, timeout=None):
        self.conn = Conn(port, timeout=timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self.key), ("Sec-WebSocket-Version", "13")]
        if extensions:
            hdrs.append(("Sec-WebSocket-Extensions", extensions))
        self.conn.req("GET", path, headers=hdrs + list(headers))
        r = self.conn.read_head()
        self.response = r
        if r.status != 101:
            self.conn.close()
            fail("upgrade on %s: status %d, expected 101 (%r)" % (path, r.status, r.head))
        eq(r.h("sec-websocket-accept"), accept_of(self.key), "Sec-WebSocket-Accept")
        isin("websocket", r.tokens("upgrade"), "Upgrade of the 101")
        isin("upgrade", r.tokens("connection"), "Connection of the 101")
        self._session(r)

    @classmethod
    def adopt(cls, conn, response):
        """A WS on a connection whose upgrade the test made itself."""
        ws = cls.__new__(cls)
        ws.conn = conn
        ws._session(response)
        return ws

    def _session(self, r):
        self.response = r
        ext = r.h("sec-websocket-extensions") or ""
        self.deflate = "permessage-deflate" in ext
        self.server_no_takeover = "server_no_context_takeover" in ext
        m = re.search(r"client_max_window_bits\s*=\s*\"?(\d+)", ext)
        self.client_bits = int(m.group(1)) if m else 15
        self.inflate_bits = 15  # the window the client's inflater allows
        self.inflater = zlib.decompressobj(-15)
        self.frames = []  # every control frame received, in order

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        self.conn.close()

    # -- sending

    def send(self, data):
        self.conn.send(data)

    def send_quiet(self, data):
        """Sends, ignoring a server that already closed or stopped reading."""
        try:
            self.conn.send(data)
        except OSError:
            pass

    def send_frame(self, opcode, payload=b"", **kw):
        self.send(frame(opcode, payload, **kw))

    def send_message(self, opcode, payload, compress=False):
        if isinstance(payload, str):
            payload = payload.encode()
        if compress:
            self.send_frame(opcode, deflate_message(payload, bits=self.client_bits), rsv=RSV1)
        else:
            self.send_frame(opcode, payload)

    # -- receiving

    def _need(self, n, deadline):
        while len(self.conn.buf) < n:
            if not self.conn._fill(deadline):
                raise Closed("connection closed with %d bytes of a frame (%r)"
                             % (len(self.conn.buf), bytes(self.conn.buf[:40])))

    def recv_frame(self, timeout=None):
        """The next server frame (Closed at EOF, Failure on timeout)."""
        deadline = time.monotonic() + (timeout or IO_TIMEOUT)
        self._need(2, deadline)
        b0, b1 = self.conn.buf[0], self.conn.buf[1]
        ok(not b1 & 0x80, "a server frame is masked: %r" % bytes(self.conn.buf[:16]))
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.conn.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.conn.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload = bytes(self.conn.buf[off:off + n])
        del self.conn.buf[:off + n]
        return Frame(b0 >> 7, b0 & 0x70, b0 & 0x0F, payload)

    def recv_message(self, timeout=None, answer_pings=False):
        """The next data message: (opcode, payload, compressed).  Control
        frames are kept in self.frames; a close frame fails."""
        deadline = time.monotonic() + (timeout or IO_TIMEOUT)
        parts, first = [], None
        while True:
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f.opcode >= 0x8:
                ok(f.fin, "a fragmented control frame from the server: %r" % f)
                self.frames.append(f)
                if f.opcode == OP_CLOSE:
                    fail("unexpected close %d %r while waiting for a message"
                         % (f.close_code(), f.payload[2:]))
                if f.opcode == OP_PING and answer_pings:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if first is None:
                isin(f.opcode, (OP_TEXT, OP_BINARY), "opcode of a message's first frame")
                first = f
            else:
                eq(f.opcode, OP_CONT, "opcode of a continuation frame")
                eq(f.rsv, 0, "RSV bits of a continuation frame")
            parts.append(f.payload)
            if f.fin:
                break
        if first.rsv & (RSV2 | RSV3):
            fail("server frame with RSV2/RSV3: %r" % first)
        data = b"".join(parts)
        compressed = bool(first.rsv & RSV1)
        if compressed:
            ok(self.deflate, "RSV1 set without permessage-deflate negotiated")
            if self.server_no_takeover:
                self.inflater = zlib.decompressobj(-self.inflate_bits)
            try:
                data = inflate(self.inflater, data + b"\x00\x00\xff\xff",
                               self.inflate_bits < 15)
            except zlib.error as e:
                fail("the server's compressed message does not inflate with a %d-bit "
                     "window%s: %s" % (self.inflate_bits, " and no context"
                                       if self.server_no_takeover else "", e))
        return first.opcode, data, compressed

    def echo(self, opcode, payload, compress=False, timeout=None):
        """Sends a message and checks it comes back unchanged."""
        if isinstance(payload, str):
            payload = payload.encode()
        self.send_message(opcode, payload, compress)
        op, data, _ = self.recv_message(timeout)
        eq(op, opcode, "opcode of the echo")
        ok(data == payload, "echo differs: sent %d bytes %r, got %d bytes %r"
           % (len(payload), payload[:40], len(data), data[:40]))

    def recv_control(self, opcode, timeout=None):
        """Waits for the next control frame of this opcode (data ignored)."""
        deadline = time.monotonic() + (timeout or IO_TIMEOUT)
        while True:
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f.opcode == opcode:
                return f
            if f.opcode == OP_CLOSE:
                fail("close %d %r while waiting for opcode %#x"
                     % (f.close_code(), f.payload[2:], opcode))

    def expect_close(self, code, timeout=None, what="close", reply=True):
        """Waits for the server's close frame (skipping other frames),
        checks its code, answers it and expects the TCP connection to end."""
        deadline = time.monotonic() + (timeout or scaled(3))
        while True:
            try:
                f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            except Closed as e:
                fail("%s: the connection ended without a close frame (expected %s): %s"
                     % (what, code, e))
            if f.opcode == OP_CLOSE:
                break
        ok(len(f.payload) != 1, "%s: a 1-byte close payload" % what)
        got = f.close_code()
        if isinstance(code, (tuple, list)):
            isin(got, code, "%s: close code" % what)
        else:
            eq(got, code, "%s: close code (reason %r)" % (what, f.payload[2:]))
        reason = f.payload[2:]
        try:
            reason.decode("utf-8")
        except UnicodeDecodeError:
            fail("%s: the close reason is not UTF-8: %r" % (what, reason))
        if reply:
            self.send_quiet(frame(OP_CLOSE, f.payload[:2]))
        self.conn.expect_closed(scaled(3), "%s: the TCP connection after the close" % what)
        return f


# ------------------------------------------------------------------ websockets client


def ws_url(d, path="/echo"):
    return "ws://%s:%d%s" % (HOST, d.port, path)


def run_async(coro, timeout=20):
    """Runs a coroutine on a fresh event loop, bounded in time."""
    async def bounded():
        return await asyncio.wait_for(coro, scaled(timeout))
    try:
        return asyncio.run(bounded())
    except asyncio.TimeoutError:
        fail("websockets client: not done within %.0fs" % scaled(timeout))


def connect(d, path="/echo", **kw):
    opts = dict(max_size=None, ping_interval=None, open_timeout=IO_TIMEOUT,
                close_timeout=scaled(3), compression=None)
    opts.update(kw)
    return websockets.connect(ws_url(d, path), **opts)


async def recv(ws, timeout=None):
    try:
        return await asyncio.wait_for(ws.recv(), timeout or IO_TIMEOUT)
    except asyncio.TimeoutError:
        fail("no message within %.1fs" % (timeout or IO_TIMEOUT))


SIZES = (0, 1, 125, 126, 65535, 65536, MAX_MESSAGE)


def text_of(n):
    """A str whose UTF-8 form is exactly n bytes, with 1- to 4-byte characters."""
    unit = "a\u00e9\u20ac\U0001F600"  # 1 + 2 + 3 + 4 bytes
    s = unit * (n // 10) + "z" * (n % 10)
    assert len(s.encode()) == n
    return s


async def echo_sizes(d, compression):
    async with connect(d, compression=compression) as ws:
        for n in SIZES:
            for kind, msg in (("text", text_of(n)), ("binary", os.urandom(n))):
                try:
                    await ws.send(msg)
                    got = await recv(ws, scaled(10))
                except websockets.exceptions.ConnectionClosed as e:
                    fail("%s message of %d bytes: closed by the server (%s)" % (kind, n, e))
                eq(type(got), type(msg), "type of the echo of a %s message" % kind)
                ok(got == msg, "%s echo of %d bytes differs (got %d)" % (kind, n, len(got)))
        return ws.response_headers.get("Sec-WebSocket-Extensions")


@suite.test("websockets: text and binary echo at 0, 1, 125, 126, 65535, 65536 bytes and 1 MiB")
def _():
    need_websockets()
    ext = run_async(echo_sizes(daemon(), None))
    eq(ext, None, "Sec-WebSocket-Extensions without an offer")


@suite.test("websockets: the same sizes with permessage-deflate negotiated")
def _():
    need_websockets()
    ext = run_async(echo_sizes(daemon(), "deflate"))
    contains(ext, "permessage-deflate", "Sec-WebSocket-Extensions")


async def too_big(d, payload, compression):
    async with connect(d, compression=compression) as ws:
        try:
            await ws.send(payload)
            await recv(ws, scaled(5))
            fail("a %d-byte message was echoed past max_message" % len(payload))
        except websockets.exceptions.ConnectionClosed:
            pass
        await asyncio.wait_for(ws.wait_closed(), scaled(5))
        return ws.close_code


@suite.test("websockets: a message of max_message + 1 bytes gets close 1009")
def _():
    need_websockets()
    d = daemon()
    eq(run_async(too_big(d, os.urandom(MAX_MESSAGE + 1), None)), 1009, "close code (binary)")
    eq(run_async(too_big(d, "x" * (MAX_MESSAGE + 1), None)), 1009, "close code (text)")
    d.health()


@suite.test("websockets: a compressed message inflating to max_message + 1 gets 1009")
def _():
    need_websockets()
    d = daemon()
    eq(run_async(too_big(d, bytes(MAX_MESSAGE + 1), "deflate")), 1009, "close code")
    d.health()


async def fragmented(d):
    async def pieces(items):
        for p in items:
            yield p
    async with connect(d) as ws:
        text = ["frag", "ment\u00e9", "", "d \U0001F600" * 1000, "!"]
        await ws.send(pieces(text))
        eq(await recv(ws), "".join(text), "text message sent in fragments")
        blobs = [os.urandom(n) for n in (1, 70000, 0, 125, 3)]
        await ws.send(pieces(blobs))
        eq(await recv(ws), b"".join(blobs), "binary message sent in fragments")
        await ws.send(pieces(["x"] * 300))
        eq(await recv(ws), "x" * 300, "300 one-byte fragments")


@suite.test("websockets: a fragmented message (async iterator send) echoes whole")
def _():
    need_websockets()
    run_async(fragmented(daemon()))


async def negotiated(d, path):
    async with connect(d, path, compression="deflate") as ws:
        await ws.send("hello")
        eq(await recv(ws), "hello", "echo")
        return ws.response_headers.get("Sec-WebSocket-Extensions")


@suite.test("websockets: permessage-deflate negotiated by default, not with compression = off")
def _():
    need_websockets()
    d = daemon()
    contains(run_async(negotiated(d, "/echo")), "permessage-deflate", "/echo's extensions")
    eq(run_async(negotiated(d, "/echo-plain")), None, "/echo-plain's Sec-WebSocket-Extensions")


async def pings(d):
    async with connect(d) as ws:
        for payload in (b"", b"payload", os.urandom(125), "text-ping"):
            waiter = await ws.ping(payload)
            try:
                await asyncio.wait_for(waiter, IO_TIMEOUT)
            except asyncio.TimeoutError:
                fail("no pong with the payload %r" % payload)
        await ws.send("after pings")
        eq(await recv(ws), "after pings", "echo after pings")


@suite.test("websockets: ping -> pong with the same payload (0, 7, 125 bytes)")
def _():
    need_websockets()
    run_async(pings(daemon()))


async def close_with(d, code):
    async with connect(d) as ws:
        await ws.send("before close")
        eq(await recv(ws), "before close", "echo")
        await ws.close(code, "reason %d" % code)
        return ws.close_code


@suite.test("websockets: client close with 1000, 1001, 3000, 4999 is echoed with the code")
def _():
    need_websockets()
    d = daemon()
    for code in (1000, 1001, 3000, 4999):
        eq(run_async(close_with(d, code)), code, "code of the server's close")


@suite.test("plain request on an echo route: the body comes back with its Content-Type")
def _():
    d = daemon()
    r = d.request("POST", "/echo", body=b"plain body \x00\xff",
                  headers=[("Content-Type", "application/x-eddy-test")])
    eq(r.status, 200, "status")
    eq(r.body, b"plain body \x00\xff", "body")
    eq(r.h("content-type"), "application/x-eddy-test", "Content-Type")


# ------------------------------------------------------------------ raw: compression on the wire


@suite.test("raw: permessage-deflate: a compressible reply has RSV1 and inflates to the message")
def _():
    d = daemon()
    with WS(d.port, extensions="permessage-deflate; client_max_window_bits") as ws:
        ok(ws.deflate, "permessage-deflate not in %r" % ws.response.h("sec-websocket-extensions"))
        msg = b"compress me " * 400
        for compress in (False, True, True, False):
            ws.send_message(OP_TEXT, msg, compress)
            op, data, compressed = ws.recv_message()
            eq(op, OP_TEXT, "opcode")
            ok(compressed, "a compressible reply without RSV1")
            eq(data, msg, "inflated echo")
        ws.send_message(OP_BINARY, bytes(5000), True)
        op, data, compressed = ws.recv_message()
        eq((op, data, compressed), (OP_BINARY, bytes(5000), True), "binary echo")


@suite.test("raw: an incompressible message of max_message bytes echoes compressed "
            "(the limit counts inflated bytes, not the frame's)")
def _():
    d = daemon()
    with WS(d.port, extensions="permessage-deflate") as ws:
        ok(ws.deflate, "permessage-deflate negotiated")
        msg = os.urandom(MAX_MESSAGE)
        wire = deflate_message(msg, bits=ws.client_bits)
        less(MAX_MESSAGE, len(wire), "the compressed size of random bytes")
        ws.send_frame(OP_BINARY, wire, rsv=RSV1)
        op, data, _ = ws.recv_message(scaled(10))
        eq(op, OP_BINARY, "opcode")
        ok(data == msg, "the echo differs (%d bytes)" % len(data))


def offer(d, extensions):
    """Upgrades with this Sec-WebSocket-Extensions offer; returns the WS."""
    return WS(d.port, extensions=extensions)


def ext_param(ws, name):
    """A permessage-deflate parameter of the answer: None absent, True
    without a value, else its int value."""
    ext = ws.response.h("sec-websocket-extensions") or ""
    m = re.search(r"(?:^|;)\s*%s\s*(?:=\s*\"?(\d+)\"?)?\s*(?:;|,|$)" % name, ext)
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else True


def far_repeats():
    """A message that compresses in any window (hex digits) and repeats
    itself 3000 bytes apart: a server that deflates with a larger window
    than agreed refers back that far."""
    r = os.urandom(1500).hex().encode()
    return r + r + r + b"tail"


@suite.test("deflate: server_max_window_bits=9/10/12 offered: answered with at most that, "
            "and the replies inflate within that window")
def _():
    d = daemon()
    for bits in (9, 10, 12):
        with offer(d, "permessage-deflate; server_max_window_bits=%d" % bits) as ws:
            ok(ws.deflate, "offer with server_max_window_bits=%d declined: %r"
               % (bits, ws.response.h("sec-websocket-extensions")))
            got = ext_param(ws, "server_max_window_bits")
            ok(isinstance(got, int) and 8 <= got <= bits,
               "answered server_max_window_bits=%r to an offer of %d" % (got, bits))
            ws.inflate_bits = got
            ws.inflater = zlib.decompressobj(-got)
            for _ in range(2):
                msg = far_repeats()
                ws.send_message(OP_BINARY, msg)
                op, data, compressed = ws.recv_message()
                ok(compressed, "a compressible reply without RSV1")
                eq(data == msg, True, "the echo (%d bits) equals the message" % bits)


@suite.test("deflate: server_max_window_bits=8 is declined, or accepted and kept to 256 bytes")
def _():
    d = daemon()
    with offer(d, "permessage-deflate; server_max_window_bits=8") as ws:
        if not ws.deflate:
            ws.echo(OP_TEXT, b"declined: plain echo " * 20)
            return
        eq(ext_param(ws, "server_max_window_bits"), 8, "server_max_window_bits answered")
        ws.inflate_bits = 8
        ws.inflater = zlib.decompressobj(-8)
        msg = far_repeats() + bytes(range(256)) * 8
        ws.send_message(OP_BINARY, msg)
        eq(ws.recv_message()[1] == msg, True, "the echo equals the message")


@suite.test("deflate: server_no_context_takeover asked: answered, and each reply inflates alone")
def _():
    d = daemon()
    with offer(d, "permessage-deflate; server_no_context_takeover") as ws:
        ok(ws.deflate and ws.server_no_takeover, "answer %r"
           % ws.response.h("sec-websocket-extensions"))
        msg = os.urandom(200).hex().encode()
        for _ in range(3):
            ws.send_message(OP_TEXT, msg, compress=True)
            op, data, compressed = ws.recv_message()
            ok(compressed, "reply without RSV1")
            eq(data, msg, "echo")


@suite.test("deflate: client context takeover is honoured when not refused")
def _():
    d = daemon()
    with offer(d, "permessage-deflate") as ws:
        ok(ws.deflate, "permessage-deflate negotiated")
        takeover = ext_param(ws, "client_no_context_takeover") is None
        comp = zlib.compressobj(6, zlib.DEFLATED, -max(9, ws.client_bits))
        msg = os.urandom(300).hex().encode()
        for i in range(3):
            if not takeover:
                comp = zlib.compressobj(6, zlib.DEFLATED, -max(9, ws.client_bits))
            wire = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
            ws.send_frame(OP_TEXT, wire[:-4], rsv=RSV1)
            eq(ws.recv_message()[1], msg, "echo %d (client takeover %s)" % (i, takeover))


@suite.test("deflate: an offer with an unknown or bad parameter is declined, a later valid one "
            "accepted")
def _():
    d = daemon()
    with offer(d, "permessage-deflate; foo=1, permessage-deflate; client_max_window_bits") as ws:
        ok(ws.deflate, "the second, valid offer was not accepted: %r"
           % ws.response.h("sec-websocket-extensions"))
        lacks(ws.response.h("sec-websocket-extensions"), "foo", "the answer")
        ws.echo(OP_TEXT, b"hello " * 100, compress=True)
    for bad in ("permessage-deflate; foo", "permessage-deflate; server_max_window_bits",
                "permessage-deflate; server_max_window_bits=16",
                "permessage-deflate; client_max_window_bits=7",
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                "x-webkit-deflate-frame"):
        with offer(d, bad) as ws:
            ok(not ws.deflate, "offer %r accepted: %r"
               % (bad, ws.response.h("sec-websocket-extensions")))
            ws.echo(OP_TEXT, b"plain")
            ws.send_frame(OP_TEXT, deflate_message(b"zzz"), rsv=RSV1)
            ws.expect_close(1002, what="RSV1 after the declined offer %r" % bad)


@suite.test("raw: compression = off: not negotiated, and RSV1 is then a protocol error (1002)")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain", extensions="permessage-deflate") as ws:
        eq(ws.response.h("sec-websocket-extensions"), None, "Sec-WebSocket-Extensions")
        ws.echo(OP_TEXT, b"a" * 1000)
        ws.send_frame(OP_TEXT, deflate_message(b"a" * 1000), rsv=RSV1)
        ws.expect_close(1002)


# ------------------------------------------------------------------ raw: protocol violations

VIOLATIONS = [
    ("RSV1 without permessage-deflate", [frame(OP_TEXT, b"hi", rsv=RSV1)], 1002),
    ("RSV2 set", [frame(OP_TEXT, b"hi", rsv=RSV2)], 1002),
    ("RSV3 set", [frame(OP_BINARY, b"hi", rsv=RSV3)], 1002),
    ("RSV1 on a ping", [frame(OP_PING, b"hi", rsv=RSV1)], 1002),
] + [
    ("reserved opcode %#x" % op, [frame(op, b"x")], 1002)
    for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)
] + [
    ("fragmented ping", [frame(OP_PING, b"p", fin=False), frame(OP_CONT, b"q")], 1002),
    ("fragmented close", [frame(OP_CLOSE, close_payload(1000), fin=False)], 1002),
    ("ping with 126 bytes", [frame(OP_PING, b"x" * 126)], 1002),
    ("pong with 126 bytes", [frame(OP_PONG, b"x" * 126)], 1002),
    ("close with 126 bytes", [frame(OP_CLOSE, close_payload(1000, b"r" * 124))], 1002),
    ("continuation with nothing to continue", [frame(OP_CONT, b"x", fin=False)], 1002),
    ("final continuation with nothing to continue", [frame(OP_CONT, b"x", fin=True)], 1002),
    ("continuation after a finished message",
     [frame(OP_TEXT, b"a", fin=False), frame(OP_CONT, b"b"), frame(OP_CONT, b"c")], 1002),
    ("new text frame inside a fragmented message",
     [frame(OP_TEXT, b"a", fin=False), frame(OP_TEXT, b"b")], 1002),
    ("new binary frame inside a fragmented message",
     [frame(OP_BINARY, b"a", fin=False), frame(OP_BINARY, b"b", fin=False)], 1002),
    ("unmasked text frame", [frame(OP_TEXT, b"hello", mask=False)], 1002),
    ("unmasked ping", [frame(OP_PING, b"", mask=False)], 1002),
    ("close with a 1-byte payload", [frame(OP_CLOSE, b"\x03")], 1002),
] + [
    ("close code %d" % code, [frame(OP_CLOSE, close_payload(code))], 1002)
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
] + [
    ("close reason not UTF-8", [frame(OP_CLOSE, close_payload(1000, b"bad \xff\xfe"))], 1007),
    ("close reason with a surrogate",
     [frame(OP_CLOSE, close_payload(1000, b"\xed\xa0\x80"))], 1007),
    ("close reason with a cut sequence", [frame(OP_CLOSE, close_payload(1000, b"\xe2\x82"))],
     1007),
    ("text frame with 0xff", [frame(OP_TEXT, b"abc\xffdef")], 1007),
    ("text frame with a bad continuation byte", [frame(OP_TEXT, b"\xc3\x28")], 1007),
    ("text frame with an overlong '/'", [frame(OP_TEXT, b"\xc0\xaf")], 1007),
    ("text frame with a surrogate", [frame(OP_TEXT, b"a\xed\xa0\x80b")], 1007),
    ("text frame above U+10FFFF", [frame(OP_TEXT, b"\xf4\x90\x80\x80")], 1007),
    ("text frame ending inside a sequence", [frame(OP_TEXT, b"euro \xe2\x82")], 1007),
    ("frame announcing max_message + 1 bytes",
     [frame(OP_BINARY, b"", length=MAX_MESSAGE + 1)], 1009),
    ("frame announcing 2^63 - 1 bytes", [frame(OP_BINARY, b"", length=(1 << 63) - 1)],
     (1002, 1009)),
    ("frame length with the top bit set", [frame(OP_BINARY, b"", length=1 << 63)],
     (1002, 1009)),
]


def violation_test(name, frames, code):
    @suite.test("raw: %s -> close %s" % (name, code if isinstance(code, int) else
                                         " or ".join(map(str, code))))
    def _():
        d = daemon()
        with WS(d.port, "/echo-plain") as ws:
            ws.echo(OP_TEXT, b"first a good message")
            for f in frames:
                ws.send_quiet(f)
            ws.expect_close(code, what=name)


for _v in VIOLATIONS:
    violation_test(*_v)


@suite.test("raw: RSV2 with permessage-deflate negotiated -> 1002")
def _():
    d = daemon()
    with WS(d.port, extensions="permessage-deflate") as ws:
        ok(ws.deflate, "permessage-deflate negotiated")
        ws.send_frame(OP_TEXT, b"x", rsv=RSV1 | RSV2)
        ws.expect_close(1002)


@suite.test("raw: RSV1 on a continuation frame -> 1002")
def _():
    d = daemon()
    with WS(d.port, extensions="permessage-deflate") as ws:
        ok(ws.deflate, "permessage-deflate negotiated")
        data = deflate_message(b"hello hello hello")
        ws.send_frame(OP_TEXT, data[:3], rsv=RSV1, fin=False)
        ws.send_frame(OP_CONT, data[3:], rsv=RSV1)
        ws.expect_close(1002)


@suite.test("raw: fragments totalling max_message + 1 -> 1009")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain") as ws:
        half = MAX_MESSAGE // 2
        ws.send_frame(OP_BINARY, bytes(half), fin=False)
        sender = spawn(ws.send_quiet, frame(OP_CONT, bytes(half + 1)))
        ws.expect_close(1009)
        sender.join_result(scaled(10))
        d.health()


# ------------------------------------------------------------------ raw: UTF-8 across fragments

VALID_SEQS = [
    b"\xc3\xa9",          # U+00E9
    b"\xdf\xbf",          # U+07FF
    b"\xe0\xa0\x80",      # U+0800
    b"\xe2\x82\xac",      # U+20AC
    b"\xed\x9f\xbf",      # U+D7FF, last before the surrogates
    b"\xee\x80\x80",      # U+E000, first after them
    b"\xf0\x90\x80\x80",  # U+10000
    b"\xf0\x9f\x98\x80",  # U+1F600
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF
]


@suite.test("raw: valid 2/3/4-byte sequences split across two fragments at every byte echo")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain") as ws:
        for seq in VALID_SEQS:
            msg = b"a" + seq + b"z"
            for cut in range(1, len(msg)):
                ws.send_frame(OP_TEXT, msg[:cut], fin=False)
                ws.send_frame(OP_CONT, msg[cut:])
                op, data, _ = ws.recv_message()
                eq((op, data), (OP_TEXT, msg), "echo of %r cut at %d" % (msg, cut))
            # One byte per fragment.
            ws.send_frame(OP_TEXT, msg[:1], fin=False)
            for i in range(1, len(msg)):
                ws.send_frame(OP_CONT, msg[i:i + 1], fin=i == len(msg) - 1)
            op, data, _ = ws.recv_message()
            eq((op, data), (OP_TEXT, msg), "echo of %r one byte per fragment" % msg)


# (sequence, index in it of the first byte that makes it invalid)
INVALID_SEQS = [
    (b"\xf5\x80\x80\x80", 0),  # no such lead byte
    (b"\xff", 0),
    (b"\xc0\xaf", 0),          # overlong lead
    (b"\x80", 0),              # a stray continuation
    (b"\xed\xa0\x80", 1),      # surrogate U+D800
    (b"\xed\xbf\xbf", 1),      # surrogate U+DFFF
    (b"\xe0\x80\xaf", 1),      # overlong 3-byte
    (b"\xf0\x80\x80\xaf", 1),  # overlong 4-byte
    (b"\xf4\x90\x80\x80", 1),  # above U+10FFFF
    (b"\xe2\x82\x41", 2),      # ASCII where a continuation must be
    (b"\xf0\x9f\x98\x41", 3),
]


@suite.test("raw: invalid sequences split at every byte: 1007, before the final fragment "
            "once the bad byte was sent (fail-fast)", timeout=60)
def _():
    d = daemon()
    for seq, bad in INVALID_SEQS:
        msg = b"ok" + seq + b"end"
        first_bad = 2 + bad
        for cut in range(1, len(msg)):
            what = "%r cut at %d" % (msg, cut)
            with WS(d.port, "/echo-plain") as ws:
                ws.send_frame(OP_TEXT, msg[:cut], fin=False)
                if cut > first_bad:
                    # The bad byte is in the first fragment: the close must
                    # come without the rest of the message.
                    if not ws.conn.readable(scaled(2)):
                        fail("no close within %.0fs of the bad byte of %s with the message "
                             "unfinished: not validated fail-fast" % (scaled(2), what))
                    ws.expect_close(1007, scaled(2), "fail-fast on " + what)
                    continue
                ws.send_frame(OP_CONT, msg[cut:])
                ws.expect_close(1007, what=what)


@suite.test("raw: a message ending inside a sequence split across fragments -> 1007")
def _():
    d = daemon()
    for msg in (b"ab\xe2\x82", b"ab\xf0\x9f\x98", b"ab\xc3"):
        with WS(d.port, "/echo-plain") as ws:
            ws.send_frame(OP_TEXT, msg[:3], fin=False)
            ws.send_frame(OP_CONT, msg[3:])
            ws.expect_close(1007, what="%r" % msg)


@suite.test("raw: control frames between fragments: pongs keep payloads, the message echoes whole")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain") as ws:
        ws.send_frame(OP_TEXT, b"frag-1 \xe2", fin=False)
        ws.send_frame(OP_PING, b"between-1")
        ws.send_frame(OP_CONT, b"\x82", fin=False)
        ws.send_frame(OP_PONG, b"unsolicited")  # must be ignored
        ws.send_frame(OP_PING, b"")
        ws.send_frame(OP_CONT, b"\xac frag-3", fin=False)
        ws.send_frame(OP_PING, b"between-3" * 13)
        ws.send_frame(OP_CONT, b" end")
        op, data, _ = ws.recv_message()
        eq((op, data), (OP_TEXT, "frag-1 \u20ac frag-3 end".encode()), "the message")
        deadline = time.monotonic() + IO_TIMEOUT
        while len([f for f in ws.frames if f.opcode == OP_PONG]) < 3:
            f = ws.recv_frame(max(0.01, deadline - time.monotonic()))
            ok(f.opcode == OP_PONG, "expected a pong, got %r" % f)
            ws.frames.append(f)
        pongs = [f.payload for f in ws.frames if f.opcode == OP_PONG]
        eq(pongs, [b"between-1", b"", b"between-3" * 13], "pong payloads")
        ok(all(f.opcode == OP_PONG for f in ws.frames), "other control frames: %r" % ws.frames)


@suite.test("raw: ping -> pong with the same payload (0, 1, 125 bytes, binary)")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain") as ws:
        for p in (b"", b"x", bytes(range(125)), os.urandom(64)):
            ws.send_frame(OP_PING, p)
            eq(ws.recv_control(OP_PONG).payload, p, "pong payload")


@suite.test("raw: close 1000 with a reason, and an empty close, are answered and the TCP "
            "connection ends")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain") as ws:
        ws.echo(OP_BINARY, b"\x00\x01")
        ws.send_frame(OP_CLOSE, close_payload(1000, "bye \u00e9"))
        ws.expect_close(1000, reply=False)
    with WS(d.port, "/echo-plain") as ws:
        ws.send_frame(OP_CLOSE, b"")
        f = ws.expect_close((1005, 1000), reply=False)
        ok(len(f.payload) in (0, 2) or f.close_code() == 1000, "reply to an empty close")
    for code in (1001, 1003, 1007, 1008, 1011, 3000, 3999, 4000, 4999):
        with WS(d.port, "/echo-plain") as ws:
            ws.send_frame(OP_CLOSE, close_payload(code, "r"))
            ws.expect_close(code, reply=False, what="close %d" % code)


@suite.test("raw: a close between fragments of a message is answered with its code")
def _():
    d = daemon()
    with WS(d.port, "/echo-plain") as ws:
        ws.send_frame(OP_TEXT, b"never ", fin=False)
        ws.send_frame(OP_CLOSE, close_payload(4001, "mid-message"))
        ws.expect_close(4001, reply=False)


@suite.test("raw: frames sent in the same packet as the upgrade request are not lost")
def _():
    d = daemon()
    with d.conn() as c:
        key = base64.b64encode(os.urandom(16)).decode()
        head = upgrade_head("/echo-plain", key=key)
        c.send(head + frame(OP_TEXT, b"early bird") + frame(OP_PING, b"early ping"))
        r = c.read_head()
        eq(r.status, 101, "status")
        ws = WS.adopt(c, r)
        eq(ws.recv_message()[:2], (OP_TEXT, b"early bird"), "the echo of the early frame")
        eq([f.payload for f in ws.frames] or [ws.recv_control(OP_PONG).payload],
           [b"early ping"], "the pong of the early ping")


@suite.test("raw: an upgrade after a plain request on the same keep-alive connection")
def _():
    d = daemon()
    with d.conn() as c:
        c.req("GET", "/health")
        eq(c.read_response().status, 200, "the plain request's status")
        c.send(upgrade_head("/echo-plain"))
        r = c.read_head()
        eq(r.status, 101, "the upgrade's status")
        ws = WS.adopt(c, r)
        ws.echo(OP_BINARY, b"\x01\x02 after keep-alive")


@suite.test("raw: 100 sessions at once each get their own messages back")
def _():
    d = daemon()
    sessions = []
    try:
        for i in range(100):
            sessions.append(WS(d.port, "/echo-plain"))
        for rnd in range(3):
            for i, ws in enumerate(sessions):
                ws.send_message(OP_TEXT, "session %d round %d" % (i, rnd))
            for i, ws in enumerate(sessions):
                eq(ws.recv_message()[1], b"session %d round %d" % (i, rnd), "echo")
    finally:
        for ws in sessions:
            ws.close()
    d.health()


# ------------------------------------------------------------------ handshake


def upgrade_head(path="/echo", key=None, version="13", extra=(), drop=(), method="GET",
                 http="HTTP/1.1", host="localhost"):
    hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key or base64.b64encode(os.urandom(16)).decode()),
            ("Sec-WebSocket-Version", version)]
    hdrs = [(k, v) for k, v in hdrs if k not in drop] + list(extra)
    return build_request(method, path, headers=hdrs, version=http, host=host)


def handshake_status(d, data):
    with d.conn() as c:
        c.send(data)
        r = c.read_head()
        if r.status == 101:
            c.close()
        return r


BAD_HANDSHAKES = [
    ("no Sec-WebSocket-Key", dict(drop=("Sec-WebSocket-Key",)), 400),
    ("a 15-byte key", dict(key=base64.b64encode(b"k" * 15).decode()), 400),
    ("a 17-byte key", dict(key=base64.b64encode(b"k" * 17).decode()), 400),
    ("a key that is not base64", dict(key="!!!!!!!!!!!!!!!!!!!!!!=="), 400),
    ("no Sec-WebSocket-Version", dict(drop=("Sec-WebSocket-Version",)), (400, 426)),
    ("POST", dict(method="POST"), 400),
    ("no Connection: upgrade", dict(drop=("Connection",)), 400),
    ("Connection: keep-alive only", dict(drop=("Connection",),
                                         extra=[("Connection", "keep-alive")]), 400),
    ("HTTP/1.0", dict(http="HTTP/1.0"), 400),
    ("no Host", dict(host=None), 400),
]


def handshake_test(name, kw, status):
    @suite.test("handshake: %s -> %s" % (name, status))
    def _():
        d = daemon()
        r = handshake_status(d, upgrade_head(**kw))
        if isinstance(status, tuple):
            isin(r.status, status, "status")
        else:
            eq(r.status, status, "status")


for _h in BAD_HANDSHAKES:
    handshake_test(*_h)


@suite.test("handshake: version 12 -> 426 with Sec-WebSocket-Version: 13")
def _():
    d = daemon()
    r = handshake_status(d, upgrade_head(version="12"))
    eq(r.status, 426, "status")
    isin("13", r.tokens("sec-websocket-version"), "Sec-WebSocket-Version")
    d.health()


@suite.test("handshake: Connection and Upgrade tokens are case-insensitive and may be in lists")
def _():
    d = daemon()
    data = upgrade_head(drop=("Upgrade", "Connection"),
                        extra=[("upgrade", "WebSocket"), ("connection", "keep-alive, UPGRADE")])
    eq(handshake_status(d, data).status, 101, "status")


@suite.test("handshake: origins list: listed Origins upgrade, others get 403")
def _():
    d = daemon()
    for origin in ("http://good.example", "https://also.example:8443"):
        with WS(d.port, "/echo-origins", headers=[("Origin", origin)]) as ws:
            ws.echo(OP_TEXT, b"hi")
    for origin in ("http://evil.example", "http://good.example.evil", "https://good.example",
                   "null"):
        r = handshake_status(d, upgrade_head("/echo-origins", extra=[("Origin", origin)]))
        eq(r.status, 403, "status for Origin %s" % origin)
    with WS(d.port, "/echo", headers=[("Origin", "http://evil.example")]) as ws:
        ws.echo(OP_TEXT, b"origins = * accepts any")


@suite.test("handshake: subprotocol chosen in the server's order; none without overlap")
def _():
    d = daemon()
    cases = [
        ([("Sec-WebSocket-Protocol", "chat.v1, chat.v2")], "chat.v2"),
        ([("Sec-WebSocket-Protocol", "superchat, chat.v1")], "chat.v1"),
        ([("Sec-WebSocket-Protocol", "other, superchat")], "superchat"),
        ([("Sec-WebSocket-Protocol", "x"), ("Sec-WebSocket-Protocol", "chat.v1")], "chat.v1"),
        ([("Sec-WebSocket-Protocol", "x, y")], None),
        ([], None),
    ]
    for hdrs, want in cases:
        with WS(d.port, "/echo-proto", headers=hdrs) as ws:
            eq(ws.response.h("sec-websocket-protocol"), want, "protocol for %r" % hdrs)
            ws.echo(OP_TEXT, b"p")
    with WS(d.port, "/echo", headers=[("Sec-WebSocket-Protocol", "chat.v1")]) as ws:
        eq(ws.response.h("sec-websocket-protocol"), None, "protocol on a route without a list")


@suite.test("handshake: websockets client gets the server's preferred subprotocol")
def _():
    need_websockets()
    d = daemon()

    async def go():
        async with connect(d, "/echo-proto", subprotocols=["superchat", "chat.v1"]) as ws:
            await ws.send("x")
            eq(await recv(ws), "x", "echo")
            return ws.subprotocol
    eq(run_async(go()), "chat.v1", "selected subprotocol")


@suite.test("handshake: a slow upgrade request gets 408 after timeouts.header")
def _():
    d = daemon()
    with d.conn(timeout=scaled(6)) as c:
        data = upgrade_head()
        c.send(data[:30])
        t0 = time.monotonic()
        r = c.read_head(scaled(6))
        eq(r.status, 408, "status")
        between(time.monotonic() - t0, 1.0, scaled(4), "seconds to the 408")


@suite.test("handshake: an upgrade request over limits.header_size gets 431")
def _():
    d = daemon()
    r = handshake_status(d, upgrade_head(extra=[("X-Pad", "p" * 20000)]))
    eq(r.status, 431, "status")


# ------------------------------------------------------------------ server pings


@suite.test("pings: a client that answers stays open 4 s (ping_interval = pong_timeout = 1s)")
def _():
    d = daemon()
    with WS(d.port, "/echo-ping") as ws:
        t_end = time.monotonic() + 4.0
        pings = []
        while time.monotonic() < t_end:
            if not ws.conn.readable(max(0.0, t_end - time.monotonic())):
                continue
            f = ws.recv_frame(scaled(2))
            ok(f.opcode == OP_PING, "expected only pings, got %r" % f)
            pings.append(f.payload)
            ws.send_frame(OP_PONG, f.payload)
        ok(len(pings) >= 2, "only %d pings in 4 s" % len(pings))
        ws.echo(OP_TEXT, b"still here", timeout=scaled(3))


@suite.test("pings: a client that never answers is closed within pong_timeout of a ping")
def _():
    d = daemon()
    with WS(d.port, "/echo-ping") as ws:
        t0 = time.monotonic()
        first_ping = None
        deadline = t0 + scaled(5)
        while True:
            if not ws.conn.readable(max(0.0, deadline - time.monotonic())):
                fail("still open %.1fs after the upgrade (pings seen: %s)"
                     % (time.monotonic() - t0, first_ping is not None))
            try:
                f = ws.recv_frame(scaled(2))
            except Closed:
                end = time.monotonic()
                break
            if f.opcode == OP_PING and first_ping is None:
                first_ping = time.monotonic()
            if f.opcode == OP_CLOSE:
                end = time.monotonic()
                # Not answered: the TCP close follows the close handshake's timeout.
                ws.conn.expect_closed(scaled(5), "the TCP connection after the close")
                break
        ok(first_ping is not None, "closed (%.1fs) without a ping first" % (end - t0))
        less(end - t0, scaled(3.5), "seconds from the upgrade to the close")
        ok(end - first_ping >= 0.5, "closed %.2fs after the first ping" % (end - first_ping))


# ------------------------------------------------------------------ deflate bomb


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    fail("no %s in /proc/%d/status" % (field, pid))


def sanitized(pid):
    """Whether the process runs with AddressSanitizer's runtime."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


@suite.test("deflate bomb: 100 MiB of zeros in one small frame -> 1009, RSS barely moves")
def _():
    need_echo()
    d = suite.start(MAIN, name="ws-bomb")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(MIB)
    parts = [c.compress(zero) for _ in range(100)]
    bomb = b"".join(parts) + c.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb[:-4]
    less(len(bomb), 200 * 1024, "compressed bomb size")
    with WS(d.port, extensions="permessage-deflate") as ws:
        ok(ws.deflate, "permessage-deflate negotiated")
        ws.echo(OP_BINARY, bytes(1000), compress=True)  # zlib streams exist
        pid = d.proc.pid
        rss0, hwm0 = vm_kib(pid, "VmRSS"), vm_kib(pid, "VmHWM")
        ws.send_frame(OP_BINARY, bomb, rsv=RSV1)
        ws.expect_close(1009, scaled(5), "the bomb")
    with WS(d.port, extensions="permessage-deflate") as ws:
        ws.send_frame(OP_TEXT, bomb[:len(bomb) // 2], rsv=RSV1, fin=False)
        ws.send_frame(OP_CONT, bomb[len(bomb) // 2:])
        ws.expect_close(1009, scaled(5), "the bomb in two fragments")
    d.health()
    rss1, hwm1 = vm_kib(pid, "VmRSS"), vm_kib(pid, "VmHWM")
    sys.stdout.write("# VmRSS %d -> %d KiB, VmHWM %d -> %d KiB\n" % (rss0, rss1, hwm0, hwm1))
    # Plain builds grow by about 1 MiB (the message buffer), ASan and
    # valgrind builds by about 7 (quarantine, shadow); inflating the bomb
    # would take 100.
    bound = 32 * 1024 if VALGRIND or sanitized(pid) else 8 * 1024
    less(hwm1 - hwm0, bound, "KiB of peak RSS growth (VmHWM %d -> %d)" % (hwm0, hwm1))
    less(rss1 - rss0, bound, "KiB of RSS growth (VmRSS %d -> %d)" % (rss0, rss1))


# ------------------------------------------------------------------ signals


@suite.test("SIGTERM: every open session gets close 1001, then eddy exits 0")
def _():
    need_echo()
    d = suite.start(MAIN, name="ws-term")
    idle = WS(d.port, "/echo")
    busy = WS(d.port, "/echo-plain")
    busy.echo(OP_TEXT, b"one")
    mid = WS(d.port, "/echo-plain")
    mid.send_frame(OP_TEXT, b"half a mess", fin=False)
    pinged = WS(d.port, "/echo-ping")
    sessions = [("idle", idle), ("busy", busy), ("mid-message", mid), ("ping route", pinged)]
    d.send_signal(signal.SIGTERM)
    for name, ws in sessions:
        ws.expect_close(1001, scaled(3), "session %s" % name)
        ws.close()
    eq(d.wait_exit(scaled(5)), 0, "exit code after SIGTERM")


QUIT = """[server]
listen = 127.0.0.1:{port}
[timeouts]
shutdown = 2s
[route = /echo]
type = echo
"""


@suite.test("SIGQUIT: sessions run on (echo) while eddy stops accepting; one that ends lets "
            "eddy go, the last gets 1001 at timeouts.shutdown, exit 0")
def _():
    need_echo()
    d = suite.start(QUIT, name="ws-quit")
    ends = WS(d.port, "/echo")
    stays = WS(d.port, "/echo")
    t0 = time.monotonic()
    d.send_signal(signal.SIGQUIT)
    d.wait_output(r"SIGQUIT received", 3)
    wait_until(lambda: not can_connect(d.port), scaled(3), "the listener closed")
    ends.echo(OP_TEXT, b"still served after SIGQUIT")
    stays.echo(OP_BINARY, os.urandom(1000))
    ends.send_frame(OP_CLOSE, close_payload(1000))
    ends.expect_close(1000, reply=False)
    ends.close()
    stays.echo(OP_TEXT, b"and the other one too")
    ok(d.proc.poll() is None, "eddy still runs while a session is open")
    stays.expect_close(1001, scaled(5), "the session left at timeouts.shutdown")
    ok(time.monotonic() - t0 >= 1.5, "closed at the deadline, not before (%.1fs)"
       % (time.monotonic() - t0))
    stays.close()
    eq(d.wait_exit(scaled(5)), 0, "exit code after SIGQUIT")


V1 = """[server]
listen = 127.0.0.1:{port}
[route = /ver]
type = return
status = 200
body = v1
[route = /echo]
type = echo
max_message = 64k
[route = /gone]
type = echo
"""
V2 = """[server]
listen = 127.0.0.1:{port}
[route = /ver]
type = return
status = 200
body = v2
[route = /echo]
type = echo
max_message = 1k
"""


@suite.test("SIGHUP: open sessions keep echoing under the route they started on; "
            "new sessions get the new config")
def _():
    need_echo()
    d = suite.start(V1, name="ws-hup")
    old = WS(d.port, "/echo")
    gone = WS(d.port, "/gone")
    msg = os.urandom(4096)
    old.echo(OP_BINARY, msg)
    d.reload(V2)
    wait_until(lambda: d.get("/ver").body == b"v2", 3, "the reload")
    old.echo(OP_BINARY, msg)  # still max_message = 64k
    old.echo(OP_TEXT, b"after the reload")
    gone.echo(OP_TEXT, b"its route was removed")
    with WS(d.port, "/echo") as new:
        new.echo(OP_BINARY, msg[:1000])
        new.send_frame(OP_BINARY, msg)
        new.expect_close(1009, what="4 KiB over the new max_message = 1k")
    eq(handshake_status(d, upgrade_head("/gone")).status, 404, "upgrade on the removed route")
    old.echo(OP_BINARY, msg)
    for ws in (old, gone):
        ws.send_frame(OP_CLOSE, close_payload(1000))
        ws.expect_close(1000, reply=False)
        ws.close()


suite.run()
