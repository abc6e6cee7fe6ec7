#!/usr/bin/python3
"""One wrk run against a server that is already running, with the server's
CPU time over the run (user + system, of the process and its children, from
/proc): prints requests/s, server CPU-seconds and requests per server
CPU-second, the fair figure when wrk and the server share a small machine.

usage: measure.py PID URL SECONDS CONNECTIONS [PIPELINE_DEPTH]
wrk runs pinned to CPU 1 (the servers of bench-daemon.sh run on CPU 0) with
one thread; BENCH_WRK_CPU=LIST pins it to other CPUs (empty: not pinned),
BENCH_WRK_THREADS=N gives it N threads.  p99= is wrk's 99th-percentile
latency."""
import os
import re
import subprocess
import sys


def descendants(pid):
    """pid and its child processes, recursively (nginx's worker, say)."""
    found = [pid]
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                for child in f.read().split():
                    found += descendants(int(child))
    except FileNotFoundError:
        pass
    return found


def cpu_seconds(pids):
    """User + system time of the processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    pid, url, secs, conns = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    depth = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    # Large files take seconds each: wrk's 2 s default would count them as
    # timeouts.
    cpus = os.environ.get("BENCH_WRK_CPU", "1")
    cmd = ["taskset", "-c", cpus] if cpus else []
    cmd += ["wrk", "-t" + os.environ.get("BENCH_WRK_THREADS", "1"), "-c" + conns,
            "-d" + secs + "s", "--latency", "--timeout", os.environ.get("BENCH_WRK_TIMEOUT", "30s"),
            url]
    if depth > 1:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline.lua")
        cmd += ["-s", script, "--", str(depth)]
    pids = descendants(pid)
    before = cpu_seconds(pids)
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    used = cpu_seconds(pids) - before
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if total is None or rps is None:
        print("wrk failed: %s" % out.strip().replace("\n", " | "))
        return 1
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    print("rps=%.0f server_cpu_s=%.2f req_per_cpu_s=%.0f p99=%s%s%s" % (
        float(rps.group(1)), used, int(total.group(1)) / used if used > 0 else 0,
        p99.group(1) if p99 else "-", " non2xx=" + bad.group(1) if bad else "",
        " errors: " + errors.group(1) if errors else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
