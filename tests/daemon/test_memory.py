#!/usr/bin/python3
"""eddy black-box: memory taken by a spike of connections is given back to
the system once they are gone (RSS falls back towards the baseline)."""
import os
import resource
import socket
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eddytest import *  # noqa: E402,F401,F403

suite = Suite()
WWW = suite.path("www")
write_file(os.path.join(WWW, "a.txt"), b"x" * 2000)
SPIKE = 2000

CONF = """
[server]
listen = 127.0.0.1:{port}
max_connections = 4000
[route /]
type = static
root = {www}
"""


def raise_nofile():
    """Room for SPIKE connections in this process and in the daemon."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = SPIKE + 500
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            raise Skip("ulimit -n: hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for %d" % pid)


def spike(port):
    """SPIKE connections open at once, each with a request answered."""
    socks = []
    try:
        for _ in range(SPIKE):
            s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
            s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            got = b""
            while b"\r\n\r\n" not in got or len(got) < 2000:
                chunk = s.recv(65536)
                ok(chunk, "connection closed early")
                got += chunk
    finally:
        for s in socks:
            s.close()


@suite.test("RSS after a spike of %d connections falls back near the baseline" % SPIKE, timeout=60)
def _():
    raise_nofile()
    d = suite.start(CONF, subs={"www": WWW})
    pid = d.proc.pid
    if not os.path.exists("/proc/%d/status" % pid):
        raise Skip("no /proc")
    if os.environ.get("EDDY_VALGRIND"):
        raise Skip("RSS under valgrind means nothing")
    with open("/proc/%d/maps" % pid) as f:
        if "libasan" in f.read():
            raise Skip("ASan's allocator keeps freed memory in quarantine")
    eq(d.request("GET", "/a.txt").status, 200, "warm-up request")
    base = rss_kib(pid)
    peaks = []
    for _ in range(2):
        spike(d.port)
        peaks.append(rss_kib(pid))
        # Idle: every connection has gone; the memory should follow.
        wait_until(lambda: rss_kib(pid) - base < (peaks[-1] - base) / 2, 8,
                   "RSS back near the baseline (base %d KiB, peak %d KiB)" % (base, peaks[-1]))
    after = rss_kib(pid)
    sys.stdout.write("# RSS KiB: base %d, peaks %s, after %d\n" % (base, peaks, after))
    less(after - base, max(peaks[0] - base, 1) / 2 + 1, "RSS growth left after two spikes (KiB)")


suite.run()
