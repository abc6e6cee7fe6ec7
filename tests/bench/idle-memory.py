#!/usr/bin/python3
"""Memory per idle keep-alive connection of a running server.
usage: idle-memory.py PID PORT [connections]
Each connection makes one request and then stays open, idle; the script
reports the server's RSS growth divided by the connections."""
import resource, socket, sys, time

pid, port = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
before = rss_kib()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
    if len(socks) % 500 == 0:  # read the answers in batches
        for t in socks[-500:]:
            t.recv(4096)
for t in socks[len(socks) // 500 * 500:]:
    t.recv(4096)
time.sleep(1)
after = rss_kib()
print(f"connections={n} rss_before={before}KiB rss_after={after}KiB "
      f"per_connection={(after - before) * 1024 / n:.0f}B")
for s in socks:
    s.close()
