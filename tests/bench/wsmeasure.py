#!/usr/bin/python3
"""One echo measurement of a running WebSocket server with uWS's load generator
(uws-load), pinned to CPU 1 (bench-ws.sh pins the servers to CPU 0).

usage: wsmeasure.py UWS_LOAD PID PORT [connections=100] [size=32] [intervals=2]

uws-load keeps one message in flight per connection and prints its rate every
4 s; the first figure also covers the connection ramp-up and is dropped, the
next INTERVALS are averaged.  The server's and uws-load's user+system time
(from /proc, the server's child processes included) are read when the first
and the last of those figures are printed.  Prints one line: msgs/s, server
CPU %, messages per server CPU-second (the fair figure: uws-load often
saturates its core before a fast server does), uws-load's CPU % (near 100:
the load generator is the bottleneck), the CPU used by everything else and
the share of the window in which some task waited for a CPU (from
/proc/pressure/cpu: other jobs competing for the two CPUs; repeat such runs)."""
import os
import re
import subprocess
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    """User + system seconds of one process (all its threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TCK


def tree(pid):
    """pid and its child processes, recursively."""
    found = [pid]
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                for child in f.read().split():
                    found += tree(int(child))
    except FileNotFoundError:
        pass
    return found


def machine():
    """(busy CPU-seconds of the machine, seconds some task waited for a CPU)."""
    with open("/proc/stat") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    try:
        with open("/proc/pressure/cpu") as f:
            wait = int(f.readline().rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        wait = 0.0
    return (user + nice + system + irq + softirq + steal) / TCK, wait


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    load, pid, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conns = sys.argv[4] if len(sys.argv) > 4 else "100"
    size = sys.argv[5] if len(sys.argv) > 5 else "32"
    intervals = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    cmd = ["taskset", "-c", "1", "stdbuf", "-oL", load, conns, "127.0.0.1", port, "0", "0", size]
    gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rate = re.compile(r"^Msg/sec: ([\d.]+)")
    samples = []  # (time, msgs/s, server cpu, uws-load cpu, machine())
    error = None
    deadline = time.time() + 60 + 4 * intervals
    for line in gen.stdout:
        m = rate.match(line)
        if m:
            samples.append((time.time(), float(m.group(1)), sum(cpu(p) for p in tree(pid)),
                            cpu(gen.pid), machine()))
            if len(samples) > intervals:
                break
        elif line.startswith(("Closed!", "ERROR", "Client was disconnected")):
            error = line.strip()
            break
        if time.time() > deadline:
            error = "timed out"
            break
    gen.terminate()
    gen.wait()
    if error or len(samples) <= intervals:
        print("uws-load failed: %s" % (error or "exited early"))
        return 1
    first, last = samples[0], samples[-1]
    wall = last[0] - first[0]
    srv = last[2] - first[2]
    lg = last[3] - first[3]
    msgs = sum(s[1] for s in samples[1:]) / intervals
    others = (last[4][0] - first[4][0]) - srv - lg
    wait = last[4][1] - first[4][1]
    print("msgs_per_s=%.0f server_cpu_pct=%.0f msgs_per_server_cpu_s=%.0f loadgen_cpu_pct=%.0f "
          "others_cpu_pct=%.0f cpu_wait_pct=%.0f window_s=%.1f" % (
              msgs, 100 * srv / wall, msgs * wall / srv if srv > 0 else 0, 100 * lg / wall,
              100 * others / wall, 100 * wait / wall, wall))
    return 0


if __name__ == "__main__":
    sys.exit(main())
