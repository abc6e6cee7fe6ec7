"""eddytest: the harness of the black-box tests of the eddy daemon.

Each tests/daemon/test_*.py file builds a Suite, registers tests with
@suite.test(name) and calls suite.run(), which prints TAP and exits 0 only if
every test passed.  Tests talk to a real daemon over real sockets: raw sockets
(Conn), http.client (http_conn) and curl (curl_fetch).  Everything here is
bounded in time: every socket operation has a timeout, every test an alarm.

Environment:
  EDDY_BUILDDIR  the build directory; the daemon is $EDDY_BUILDDIR/eddy
  EDDY_SRCDIR    the source directory (conf/eddy.ini lives there)
  EDDY_BIN       overrides the daemon's path
  EDDY_VALGRIND  "1" runs every daemon under valgrind and requires exit code 0
  EDDY_TEST_TIMEOUT_SCALE  multiplies time bounds (default 1, 4 under valgrind)
  EDDY_KEEP_TMP  "1" keeps the temporary directory for inspection

Run one file by hand, optionally only the tests whose name contains a word:
  EDDY_BUILDDIR=/tmp/b /usr/bin/python3 tests/daemon/test_static.py range
"""

import ctypes
import email.utils
import http.client
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

VALGRIND = os.environ.get("EDDY_VALGRIND") == "1"
VALGRIND_CMD = ["valgrind", "-q", "--error-exitcode=66", "--leak-check=full"]
SCALE = float(os.environ.get("EDDY_TEST_TIMEOUT_SCALE") or (4 if VALGRIND else 1))
if SCALE <= 0:
    SCALE = 1.0

# Default timeout of one socket operation, of waiting for start-up, and of
# the polite part of a stop (SIGTERM before SIGKILL).
IO_TIMEOUT = 5 * SCALE
START_TIMEOUT = 10 * SCALE
STOP_TIMEOUT = 5 * SCALE

HOST = "127.0.0.1"


def scaled(seconds):
    """An upper time bound, stretched under valgrind or on a slow machine."""
    return seconds * SCALE


# ------------------------------------------------------------------ failures

class Failure(AssertionError):
    """A failed check; its message is printed as TAP diagnostics."""


class Skip(Exception):
    """Raised by a test that cannot run here (printed as ok # SKIP)."""


def fail(msg):
    raise Failure(msg)


def ok(cond, what):
    if not cond:
        raise Failure(what)


def eq(actual, expected, what="value"):
    if actual != expected:
        raise Failure("%s: expected %s, got %s" % (what, _short(expected), _short(actual)))


def ne(actual, unexpected, what="value"):
    if actual == unexpected:
        raise Failure("%s: expected anything but %s" % (what, _short(unexpected)))


def isin(actual, allowed, what="value"):
    if actual not in allowed:
        raise Failure("%s: expected one of %s, got %s" % (what, _short(allowed), _short(actual)))


def contains(haystack, needle, what="text"):
    if haystack is None or needle not in haystack:
        raise Failure("%s: %s not found in %s" % (what, _short(needle), _short(haystack, 600)))


def lacks(haystack, needle, what="text"):
    if haystack is not None and needle in haystack:
        raise Failure("%s: %s must not appear in %s"
                      % (what, _short(needle), _short(haystack, 600)))


def match(pattern, text, what="text", flags=0):
    m = re.search(pattern, text or "", flags)
    if not m:
        raise Failure("%s: %r does not match %s" % (what, pattern, _short(text, 600)))
    return m


def less(actual, bound, what="value"):
    if not actual < bound:
        raise Failure("%s: expected < %s, got %s" % (what, _short(bound), _short(actual)))


def between(actual, lo, hi, what="value"):
    if not lo <= actual <= hi:
        raise Failure("%s: expected in [%s, %s], got %s" % (what, lo, hi, _short(actual)))


def _short(v, limit=300):
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


# ------------------------------------------------------------------ the daemon binary

def eddy_binary():
    """The daemon's path, or None when it has not been built."""
    env = os.environ.get("EDDY_BIN")
    if env:
        return env if os.access(env, os.X_OK) else None
    build = os.environ.get("EDDY_BUILDDIR", ".")
    for rel in ("eddy", os.path.join("src", "eddy")):
        path = os.path.join(build, rel)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    return None


def srcdir():
    env = os.environ.get("EDDY_SRCDIR")
    if env:
        return env
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def eddy_cmd(args):
    cmd = [eddy_binary()] + [str(a) for a in args]
    return (VALGRIND_CMD + cmd) if VALGRIND else cmd


def _die_with_parent():
    """Runs in the child before exec: a daemon must never outlive its test."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_eddy(args, timeout=None):
    """Runs eddy to completion (-t, -V, -h...): returns (rc, stdout, stderr)."""
    try:
        p = subprocess.run(eddy_cmd(args), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout or scaled(10), preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        fail("eddy %s did not exit within %ss" % (" ".join(map(str, args)), timeout or scaled(10)))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# ------------------------------------------------------------------ ports

def free_ports(n=1):
    """n distinct TCP ports that were free a moment ago (bound together to 0)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def can_connect(addr, timeout=0.5):
    """True if something accepts connections at addr (port, (host, port) or 'unix:/p')."""
    try:
        s = _connect(addr, timeout)
    except OSError:
        return False
    s.close()
    return True


def parse_addr(text):
    """'8080' -> 8080, '[::1]:80' -> ('::1', 80), 'h:80' -> ('h', 80), 'unix:/p' stays."""
    if text.startswith("unix:"):
        return text
    if text.isdigit():
        return int(text)
    m = re.match(r"^\[(.*)\]:(\d+)$", text) or re.match(r"^(.*):(\d+)$", text)
    if not m:
        raise ValueError("bad address %r" % text)
    return (m.group(1) or HOST, int(m.group(2)))


def _connect(addr, timeout, rcvbuf=None):
    """A connected socket to a port, (host, port) or 'unix:/path'."""
    if isinstance(addr, str) and addr.startswith("unix:"):
        s, target = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), addr[5:]
    else:
        if isinstance(addr, int):
            addr = (HOST, addr)
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        s, target = socket.socket(family, socket.SOCK_STREAM), addr
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(target)
    except OSError:
        s.close()
        raise
    return s


# ------------------------------------------------------------------ the daemon

def fill(text, subs):
    """Replaces {key} by subs[key] for the given keys only (other braces stay)."""
    for k, v in subs.items():
        text = text.replace("{%s}" % k, str(v))
    return text


class Daemon:
    """One eddy process with its config file and captured stdout/stderr.

    conf is a config template (None: run without -c); {port}, {port2}...
    {portN}, {tmp} and any key of subs are replaced in it and in args.
    probe is the address to wait for ('{port}' by default, 'unix:/p' works).
    preexec runs in the child before exec (e.g. resource.setrlimit).
    """

    def __init__(self, suite, conf=None, args=(), name=None, ports=1, subs=None,
                 expect_exit=0, probe=None, preexec=None):
        self.suite = suite
        self.name = name or "eddy%d" % (len(suite.daemons) + 1)
        self.template = conf
        self.args = list(args)
        self.nports = ports
        self.subs = {"tmp": suite.tmp}
        self.subs.update(subs or {})
        self.expect_exit = expect_exit
        self.probe = probe
        self.preexec = preexec
        self.conf_path = os.path.join(suite.tmp, self.name + ".ini")
        self.stderr_path = os.path.join(suite.tmp, self.name + ".stderr")
        self.stdout_path = os.path.join(suite.tmp, self.name + ".stdout")
        self.proc = None
        self.rc = None
        self.killed = False
        self.stop_seconds = None
        suite.daemons.append(self)

    # -- configuration

    @property
    def port(self):
        return self.subs["port"]

    def url(self, path="/"):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def write_conf(self, template=None):
        """Writes the (new) config template, filled, to conf_path."""
        if template is not None:
            self.template = template
        with open(self.conf_path, "w") as f:
            f.write(fill(self.template, self.subs))
        return self.conf_path

    # -- lifecycle

    def start(self):
        """Starts the daemon and waits until it accepts connections.

        A start-up failure with exit code 2 (probably a port taken since
        free_ports looked) is retried with fresh ports."""
        last = ""
        for attempt in range(5):
            ports = free_ports(self.nports)
            self.subs["port"] = ports[0]
            for i, p in enumerate(ports):
                self.subs["port%d" % (i + 1)] = p
            args = []
            if self.template is not None:
                self.write_conf()
                args += ["-c", self.conf_path]
            args += [fill(a, self.subs) for a in self.args]
            self.cmd = eddy_cmd(args)
            self.rc = None
            self.killed = False
            with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
                self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, preexec_fn=self._preexec)
            state = self._wait_ready()
            if state == "ready":
                return self
            last = self.stderr()
            if state == "exited" and self.rc == 2 and attempt < 4:
                continue
            if state == "timeout":
                self.stop()
            fail("daemon %s did not start (%s, exit code %s): %s\nstderr:\n%s"
                 % (self.name, state, self.rc, " ".join(self.cmd), tail(last, 30)))
        fail("daemon %s: no free port after 5 attempts\n%s" % (self.name, tail(last)))

    def _preexec(self):
        _die_with_parent()
        if self.preexec is not None:
            self.preexec()

    def _wait_ready(self):
        probe = parse_addr(fill(self.probe, self.subs)) if self.probe else self.port
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.rc = self.proc.returncode
                return "exited"
            if can_connect(probe, 0.5):
                return "ready"
            time.sleep(0.02)
        return "timeout"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if not self.running():
            fail("daemon %s is not running (exit code %s)\nstderr:\n%s"
                 % (self.name, self.proc and self.proc.returncode, tail(self.stderr())))
        self.proc.send_signal(sig)

    def reload(self, template):
        """Writes a new config and sends SIGHUP."""
        self.write_conf(template)
        self.send_signal(signal.SIGHUP)

    def wait_exit(self, timeout):
        """The exit code, or None if still running after timeout seconds."""
        try:
            self.rc = self.proc.wait(timeout)
            return self.rc
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Sends sig, waits (then SIGKILL) and returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            t0 = time.monotonic()
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            if self.wait_exit(timeout or STOP_TIMEOUT) is None:
                self.killed = True
                self.proc.kill()
                self.proc.wait()
            self.stop_seconds = time.monotonic() - t0
        self.rc = self.proc.returncode
        return self.rc

    # -- output

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def output(self):
        return self.stdout() + self.stderr()

    def wait_output(self, pattern, timeout=3, flags=0):
        """Waits until stdout+stderr matches pattern; returns the match."""
        deadline = time.monotonic() + scaled(timeout)
        while True:
            m = re.search(pattern, self.output(), flags)
            if m:
                return m
            if time.monotonic() > deadline:
                fail("daemon %s: %r not in its output within %ss:\n%s"
                     % (self.name, pattern, scaled(timeout), tail(self.output())))
            time.sleep(0.05)

    # -- clients bound to this daemon

    def conn(self, **kw):
        return Conn(self.port, **kw)

    def get(self, target, **kw):
        return request(self.port, "GET", target, **kw)

    def request(self, method, target, **kw):
        return request(self.port, method, target, **kw)

    def http(self):
        return http_conn(self.port)

    def health(self, path="/health"):
        """Checks the daemon still answers (a new connection, 200)."""
        r = self.get(path)
        eq(r.status, 200, "GET %s status" % path)
        return r


def tail(text, n=15):
    lines = (text or "").splitlines()
    return "\n".join(lines[-n:])


# ------------------------------------------------------------------ raw HTTP client

class Closed(Failure):
    """The server closed the connection where a response was expected."""


class Response:
    def __init__(self, version, status, reason, headers, body, head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name, value)] in order
        self.body = body
        self.head = head            # the raw head bytes
        self.chunked = False

    def h(self, name):
        """The first value of header name (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def hs(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def tokens(self, name):
        """The lower-cased comma-separated tokens of every name header."""
        out = []
        for v in self.hs(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<%s %d %s %r body=%d bytes>" % (self.version, self.status, self.reason,
                                                 self.headers, len(self.body))


def build_request(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1",
                  host="localhost", content_length=None):
    """Request bytes. headers: [(name, value)] or a dict; host=None omits Host.

    content_length: True adds Content-Length of body, None adds it only when
    a body is given and no Transfer-Encoding/Content-Length was passed."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers)
    names = {k.lower() for k, _ in headers}
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if content_length or (content_length is None and body and
                          not names & {"content-length", "transfer-encoding"}):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body, sizes=(7, 100, 4096)):
    """body in chunked encoding, with chunks of the given sizes (cycled)."""
    if isinstance(body, str):
        body = body.encode()
    out, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        piece = body[i:i + n]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        i += n
        k += 1
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class Conn:
    """A raw client connection with a buffer: send bytes, parse responses.

    Every operation has a timeout (IO_TIMEOUT by default).  addr is a port,
    (host, port) or 'unix:/path'."""

    def __init__(self, addr, timeout=None, rcvbuf=None):
        self.timeout = timeout or IO_TIMEOUT
        self.sock = _connect(addr, self.timeout, rcvbuf)
        if self.sock.family != socket.AF_UNIX:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def req(self, method="GET", target="/", **kw):
        """Sends one request (see build_request)."""
        self.send(build_request(method, target, **kw))

    def _fill(self, deadline):
        """Reads more bytes into buf; False at EOF (or reset)."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("timed out waiting for data (have %s)" % _short(bytes(self.buf)))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Failure("timed out after %.1fs waiting for data (have %s)"
                          % (self.timeout, _short(bytes(self.buf))))
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if not self._fill(deadline):
                raise Closed("connection closed in a chunked body (have %s)"
                             % _short(bytes(self.buf)))

    def _take(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise Closed("connection closed after %d of %d body bytes"
                             % (len(self.buf), n))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self, timeout=None):
        """Reads one response head; returns a Response without body."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill(deadline):
                raise Closed("connection closed before a response head (have %s)"
                             % _short(bytes(self.buf)))
        head = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"HTTP/(\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise Failure("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            if b":" not in line or line[:1] in (b" ", b"\t"):
                raise Failure("bad response header line %r in %r" % (line, head))
            k, v = line.split(b":", 1)
            if not re.match(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", k):
                raise Failure("bad response header name %r" % k)
            headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        return Response("HTTP/" + m.group(1).decode(), int(m.group(2)),
                        (m.group(3) or b"").decode("latin-1"), headers, b"", head)

    def read_response(self, method="GET", skip_1xx=True, timeout=None):
        """Reads one complete response (skipping 1xx unless skip_1xx is False).

        The body is delimited as RFC 9112 says: none for HEAD, 1xx, 204 and
        304; chunked; Content-Length; or until the connection closes."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            r = self.read_head(max(0.01, deadline - time.monotonic()))
            if not (skip_1xx and 100 <= r.status < 200):
                break
        if method == "HEAD" or 100 <= r.status < 200 or r.status in (204, 304):
            return r
        te = r.tokens("transfer-encoding")
        cl = r.hs("content-length")
        if te:
            eq(te[-1], "chunked", "response Transfer-Encoding")
            r.chunked = True
            parts = []
            while True:
                line = self._take_line(deadline)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._take_line(deadline):
                        pass
                    break
                parts.append(self._take(size, deadline))
                eq(self._take(2, deadline), b"\r\n", "chunk terminator")
            r.body = b"".join(parts)
        elif cl:
            eq(len(set(cl)), 1, "distinct Content-Length values")
            r.body = self._take(int(cl[0]), deadline)
        else:
            while self._fill(deadline):
                pass
            r.body = bytes(self.buf)
            self.buf.clear()
        return r

    def read_responses(self, n, methods=None):
        return [self.read_response((methods or {}).get(i, "GET")) for i in range(n)]

    def wait_closed(self, timeout=None):
        """Waits for EOF (or reset).  Returns (closed, extra bytes received)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        start = len(self.buf)
        while not self.eof:
            if time.monotonic() >= deadline:
                return False, bytes(self.buf[start:])
            try:
                self._fill(deadline)
            except Failure:
                return False, bytes(self.buf[start:])
        return True, bytes(self.buf[start:])

    def expect_closed(self, timeout=None, what="connection"):
        closed, extra = self.wait_closed(timeout)
        if not closed:
            fail("%s still open after %.1fs (received %s)"
                 % (what, timeout or self.timeout, _short(extra)))
        return extra

    def expect_open(self, seconds=0.3, what="connection"):
        """Checks the server neither closes nor sends anything for seconds."""
        r, _, _ = select.select([self.sock], [], [], seconds)
        if r:
            try:
                self.sock.setblocking(False)
                data = self.sock.recv(65536, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                data = None
            except ConnectionResetError:
                data = b""
            finally:
                self.sock.setblocking(True)
            if data == b"":
                fail("%s was closed by the server" % what)
            if data:
                fail("%s: unexpected bytes %s" % (what, _short(data)))

    def readable(self, timeout):
        if self.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)


def request(addr, method="GET", target="/", timeout=None, body=b"", headers=(), **kw):
    """One request on a new connection; returns the Response."""
    with Conn(addr, timeout=timeout) as c:
        c.send(build_request(method, target, headers=headers, body=body, **kw))
        return c.read_response(method)


def exchange(addr, data, timeout=None):
    """Sends raw bytes on a new connection; returns (first response or None,
    closed-after-it, rest).  For malformed input where the server must answer
    then close."""
    with Conn(addr, timeout=timeout) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = c.read_response()
        except Closed:
            return None, True, bytes(c.buf)
        closed, extra = c.wait_closed(timeout or scaled(3))
        return r, closed, extra


def http_conn(port, timeout=None):
    return http.client.HTTPConnection(HOST, port, timeout=timeout or IO_TIMEOUT)


# ------------------------------------------------------------------ curl

class CurlResult:
    def __init__(self, rc, status, headers, body, stderr, blocks):
        self.rc = rc
        self.status = status
        self.headers = headers
        self.body = body
        self.stderr = stderr
        self.blocks = blocks    # every response head curl saw (100, redirects...)

    h = Response.h
    hs = Response.hs
    tokens = Response.tokens


def curl(*args, timeout=None):
    """Runs curl; returns the CompletedProcess (stdout/stderr as bytes)."""
    if shutil.which("curl") is None:
        raise Skip("curl is not installed")
    t = timeout or scaled(10)
    cmd = ["curl", "-sS", "--max-time", str(t)] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=t + 5)
    except subprocess.TimeoutExpired:
        fail("curl did not finish: %s" % " ".join(cmd))


def curl_fetch(url, *args, timeout=None):
    """curl url: status, headers and body of the last response."""
    fd, hdr = tempfile.mkstemp(prefix="curl-h-")
    os.close(fd)
    try:
        p = curl("-D", hdr, "-o", "-", *args, url, timeout=timeout)
        with open(hdr, "rb") as f:
            raw = f.read().decode("latin-1")
    finally:
        os.unlink(hdr)
    blocks = [b for b in re.split(r"\r?\n\r?\n", raw) if b.strip()]
    status, headers = None, []
    if blocks:
        lines = blocks[-1].splitlines()
        m = re.match(r"HTTP/\S+ (\d{3})", lines[0])
        status = int(m.group(1)) if m else None
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
    return CurlResult(p.returncode, status, headers, p.stdout,
                      p.stderr.decode("utf-8", "replace"), blocks)


# ------------------------------------------------------------------ helpers

def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


IMF_FIXDATE = (r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
               r"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def write_file(path, data, mtime=None):
    """Writes data (str or bytes), creating directories; optionally sets mtime."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def wait_until(fn, timeout, what, interval=0.05):
    """Polls fn() until it returns a true value (returned) or fails."""
    deadline = time.monotonic() + scaled(timeout)
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except (Failure, OSError) as e:
            last = e
        if time.monotonic() > deadline:
            fail("%s: not true within %.1fs (last: %s)" % (what, scaled(timeout), _short(last)))
        time.sleep(interval)


class Thread(threading.Thread):
    """A daemon thread that keeps fn's result or exception for join_result()."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self.fn, self.fargs = fn, args
        self.result = self.error = None

    def run(self):
        try:
            self.result = self.fn(*self.fargs)
        except BaseException as e:
            self.error = e
            self.error_tb = traceback.format_exc()

    def join_result(self, timeout):
        self.join(timeout)
        if self.is_alive():
            fail("thread %s did not finish within %.1fs" % (self.fn.__name__, timeout))
        if self.error is not None:
            if isinstance(self.error, Failure):
                raise self.error
            fail("thread %s failed:\n%s" % (self.fn.__name__, self.error_tb))
        return self.result


def spawn(fn, *args):
    t = Thread(fn, *args)
    t.start()
    return t


# ------------------------------------------------------------------ the suite (TAP)

class _Alarm(BaseException):
    pass


class Suite:
    """Registers tests and runs them, printing TAP (plan at the end)."""

    def __init__(self):
        self.tests = []
        self.daemons = []
        self.n = 0
        self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="eddy-bb-")
        os.chmod(self.tmp, 0o755)

    def test(self, name, timeout=30):
        def deco(fn):
            self.tests.append((name, fn, timeout))
            return fn
        return deco

    def fixture(self, fn):
        """A lazily evaluated, cached value (e.g. a started daemon); a failure
        is cached too so that it is reported by each test that needs it."""
        cache = {}

        def get():
            if "value" not in cache and "error" not in cache:
                try:
                    cache["value"] = fn()
                except BaseException as e:
                    cache["error"] = e
                    cache["tb"] = traceback.format_exc()
            if "error" in cache:
                if isinstance(cache["error"], Failure):
                    raise cache["error"]
                fail("fixture %s failed:\n%s" % (fn.__name__, cache["tb"]))
            return cache["value"]
        return get

    def daemon(self, conf=None, **kw):
        """A registered, not yet started Daemon."""
        return Daemon(self, conf, **kw)

    def start(self, conf=None, **kw):
        """A registered, started Daemon."""
        return Daemon(self, conf, **kw).start()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    # -- running

    def _out(self, line=""):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def _diag(self, text):
        for line in str(text).splitlines() or [""]:
            self._out("# " + line)

    def _report(self, name, passed, diag=None, directive=""):
        self.n += 1
        self._out("%s %d - %s%s" % ("ok" if passed else "not ok", self.n, name, directive))
        if not passed:
            self.failed += 1
        if diag:
            self._diag(diag)

    def _run_one(self, name, fn, timeout):
        def on_alarm(signum, frame):
            raise _Alarm()
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, scaled(timeout))
        t0 = time.monotonic()
        passed, diag, directive = False, None, ""
        try:
            fn()
            passed = True
        except Skip as e:
            passed, directive = True, " # SKIP %s" % e
        except Failure as e:
            diag = "%s\n  at %s" % (e, _where(e))
        except _Alarm:
            diag = "test timed out after %.0fs\n%s" % (scaled(timeout),
                                                       traceback.format_exc(limit=-4))
        except Exception:
            diag = traceback.format_exc()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        if not passed:
            diag += "\n(%.2fs)%s" % (time.monotonic() - t0, self._daemon_tails())
        self._report(name, passed, diag, directive)

    def _daemon_tails(self):
        out = ""
        for d in self.daemons:
            if d.proc is not None:
                state = "running" if d.running() else "exit code %s" % d.proc.returncode
                out += "\n--- %s (%s) stderr tail:\n%s" % (d.name, state, tail(d.stderr(), 8))
        return out

    def _final_check(self):
        started = [d for d in self.daemons if d.proc is not None]
        if not started:
            return
        bad = []
        for d in started:
            rc = d.stop()
            if d.killed:
                bad.append("%s: did not exit within %.0fs of SIGTERM (killed)"
                           % (d.name, STOP_TIMEOUT))
            elif rc != d.expect_exit:
                bad.append("%s: exit code %s, expected %s%s\nstderr tail:\n%s"
                           % (d.name, rc, d.expect_exit,
                              " (66 = valgrind errors)" if VALGRIND and rc == 66 else "",
                              tail(d.stderr(), 40)))
        self._report("every daemon exited with its expected code (%d daemons%s)"
                     % (len(started), ", under valgrind" if VALGRIND else ""),
                     not bad, "\n".join(bad))

    def run(self):
        if eddy_binary() is None:
            self._out("1..0 # SKIP eddy daemon not built (looked in $EDDY_BUILDDIR=%s)"
                      % os.environ.get("EDDY_BUILDDIR", "."))
            self._cleanup()
            sys.exit(0)
        if VALGRIND and shutil.which("valgrind") is None:
            self._out("1..0 # SKIP EDDY_VALGRIND=1 but valgrind is not installed")
            self._cleanup()
            sys.exit(0)
        filters = [a for a in sys.argv[1:] if not a.startswith("-")]
        try:
            for name, fn, timeout in self.tests:
                if filters and not any(f in name for f in filters):
                    continue
                self._run_one(name, fn, timeout)
            self._final_check()
        finally:
            for d in self.daemons:
                if d.running():
                    d.proc.kill()
                    d.proc.wait()
            self._out("1..%d" % self.n)
            self._cleanup()
        sys.exit(1 if self.failed else 0)

    def _cleanup(self):
        if os.environ.get("EDDY_KEEP_TMP") == "1":
            sys.stderr.write("kept %s\n" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)


def _where(exc):
    """file:line of the test code that raised exc (outside this module)."""
    tb = traceback.extract_tb(exc.__traceback__)
    here = os.path.abspath(__file__)
    for fr in reversed(tb):
        if os.path.abspath(fr.filename) != here:
            return "%s:%d" % (os.path.basename(fr.filename), fr.lineno)
    return "?"


__all__ = [n for n in dir() if not n.startswith("_")]
