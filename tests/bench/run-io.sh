#!/bin/sh
# Runs the I/O benchmarks: to_thread round trip, and the TCP echo server in
# eddy, asyncio and asyncio+uvloop, each pinned to CPU 0 (taskset -c 0) and
# driven by the same eddy client pinned to CPU 1 (100 connections, 64-byte
# lines, ping-pong).  The figure that counts is round trips per CPU-second
# of the server process (utime + stime from /proc/PID/stat).
#
#   tests/bench/run-io.sh [BUILDDIR [SECONDS [ROUNDS]]]    (after `make bench`)
#
# The machine is shared, so each echo server runs ROUNDS times (default 2),
# interleaved, and the best run of each is shown.
set -eu

BUILD=${1:-.}
SECS=${2:-3}
ROUNDS=${3:-2}
SRC=$(cd "$(dirname "$0")" && pwd)
BENCH=$BUILD/tests/bench/bench-io
PY=/usr/bin/python3
TMP=$(mktemp -d)
SERVER_PID=
trap 'test -z "$SERVER_PID" || kill $SERVER_PID 2>/dev/null; rm -rf "$TMP"' EXIT

test -x "$BENCH" || { echo "no $BENCH: run make bench first" >&2; exit 1; }
have_uvloop=yes
$PY -c 'import uvloop' 2>/dev/null || have_uvloop=no

# echo NAME COMMAND...: starts the server on CPU 0, waits for its port,
# runs the client on CPU 1; prints a row of the table.
echo_run() {
    name=$1
    shift
    # The background job creates the file; the last run's was removed, so
    # the loop below never reads a stale port.
    taskset -c 0 "$@" >"$TMP/port.new" 2>"$TMP/err" &
    SERVER_PID=$!
    i=0
    while ! grep -q '^port [0-9]*$' "$TMP/port.new" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "$name: server did not start" >&2
            cat "$TMP/err" >&2
            exit 1
        fi
        sleep 0.05
    done
    port=$(sed -n 's/^port //p' "$TMP/port.new")
    rm -f "$TMP/port.new"
    taskset -c 1 "$BENCH" client "$port" "$SERVER_PID" "$SECS" >"$TMP/out"
    kill $SERVER_PID
    wait $SERVER_PID 2>/dev/null || true
    SERVER_PID=
    awk -v name="$name" '
        $1 == "echo_msgs_per_s" { rate = $2 }
        $1 == "echo_server_cpu" { cpu = $2 }
        $1 == "echo_server_user_cpu" { user = $2 }
        $1 == "echo_msgs_per_server_cpu_s" { eff = $2 }
        END { printf "%-16s %10d %8.2f %8.2f %14d\n", name, rate, cpu, user, eff }' "$TMP/out"
}

thread_ns() {
    awk '$1 == "to_thread" { print $2 }'
}

echo "to_thread round trip (ns/op, best of 3)"
printf "  %-14s %s\n" eddy "$("$BENCH" thread | thread_ns)"
printf "  %-14s %s\n" asyncio "$($PY "$SRC/bench_io_asyncio.py" thread | thread_ns)"
if [ $have_uvloop = yes ]; then
    printf "  %-14s %s\n" uvloop "$($PY "$SRC/bench_io_asyncio.py" thread --uvloop | thread_ns)"
fi
echo

echo "TCP echo, 100 connections, 64-byte lines, ${SECS} s per run, server on CPU 0, client on CPU 1,"
echo "best of $ROUNDS runs (interleaved) by messages per server CPU-second"
: >"$TMP/rows"
r=0
while [ $r -lt "$ROUNDS" ]; do
    r=$((r + 1))
    echo_run eddy "$BENCH" server >>"$TMP/rows"
    echo_run "bare-epoll" "$BENCH" floor-server >>"$TMP/rows"
    echo_run asyncio $PY "$SRC/bench_io_asyncio.py" server >>"$TMP/rows"
    if [ $have_uvloop = yes ]; then
        echo_run uvloop $PY "$SRC/bench_io_asyncio.py" server --uvloop >>"$TMP/rows"
    fi
done
[ $have_uvloop = yes ] || echo "uvloop: not installed (apt-get install python3-uvloop)"
printf "%-16s %10s %8s %8s %14s\n" server "msgs/s" "srv-cpu" "srv-user" "msgs/srv-cpu-s" |
    tee "$TMP/table"
for name in eddy bare-epoll asyncio uvloop; do
    sort -k5,5nr "$TMP/rows" | awk -v n=$name '$1 == n { print; exit }'
done | tee -a "$TMP/table"
echo "(srv-cpu, srv-user: CPU-seconds per second of the server process, all and user mode;"
echo " bare-epoll is a server without eddy doing one read and one write per message: the"
echo " kernel's floor, which no server can go below)"
awk '
    $1 == "eddy" { e = $5 }
    $1 == "bare-epoll" { f = $5 }
    $1 == "asyncio" { a = $5 }
    $1 == "uvloop" { u = $5 }
    END {
        if (a) printf "eddy / asyncio:     %.1fx per server CPU-second\n", e / a
        if (u) printf "eddy / uvloop:      %.1fx per server CPU-second\n", e / u
        if (f) printf "eddy / bare epoll:  %.2fx per server CPU-second\n", e / f
        if (u) printf "bare epoll / uvloop: %.1fx (the most any server can reach here)\n", f / u
    }' "$TMP/table"
