#!/bin/bash
# WebSocket echo: eddy beside uWS (uws-echo), Node.js with node-ws and Python
# websockets on uvloop, in the same run.  Every server is pinned to CPU 0 with
# one thread/worker, the load generator to CPU 1; 100 connections, one message
# in flight on each (send, wait for the whole echo, send again), binary
# messages of 32 B and 16 KiB.  The figure that counts is messages per server
# CPU-second (the server's user + system time over the window, from /proc):
# the load generator often saturates its core before a fast server does.
#
#   tests/bench/bench-ws.sh [seconds per run] [path/to/eddy]
#
# The load generator is uWS's uws-load when UWS_BUILD names a directory
# holding the uWS peers (uws-echo, uws-load...; see README.md for where to get
# them), else this directory's wsfan.c in its echo mode (built here with cc),
# which does what uws-load does; BENCH_LOAD=wsfan picks wsfan anyway.  uws-load
# reports every 4 s: the window is SECONDS rounded to a multiple of 4, after
# a first 4-s figure that is dropped (ramp-up).  Without UWS_BUILD the uWS
# server is skipped with a note; a peer that is not installed likewise
# (tests/bench/install-peers.sh installs them).
#
# Environment: BENCH_DIR (default /tmp/eddy-bench-ws: configs, logs),
# BENCH_CONNS (100), BENCH_SIZES ("32 16384"), BENCH_ROUNDS (1: each
# measurement once; the order of the servers rotates from one to the next).
set -u
secs=${1:-8}
eddy=${2:-./eddy}
here=$(cd "$(dirname "$0")" && pwd)
D=${BENCH_DIR:-/tmp/eddy-bench-ws}
conns=${BENCH_CONNS:-100}
sizes=${BENCH_SIZES:-32 16384}
rounds=${BENCH_ROUNDS:-1}
uws=${UWS_BUILD:-}
declare -A port=([eddy]=18200 [uws]=18201 [node]=18202 [python]=18203)
declare -A pid=()

[ -x "$eddy" ] || { echo "no eddy binary at $eddy"; exit 2; }
command -v taskset >/dev/null || { echo "taskset not found (util-linux)"; exit 2; }
mkdir -p "$D"

load=${BENCH_LOAD:-}
if [ -z "$load" ]; then
    if [ -n "$uws" ] && [ -x "$uws/uws-load" ]; then load=uws; else load=wsfan; fi
fi
if [ "$load" = uws ] && ! [ -x "$uws/uws-load" ]; then
    echo "BENCH_LOAD=uws needs UWS_BUILD=DIR with uws-load in it"
    exit 2
fi
if [ "$load" = wsfan ]; then
    cc -O2 -o "$D/wsfan" "$here/wsfan.c" 2>"$D/wsfan-cc.out" ||
        { echo "cannot build wsfan.c (see $D/wsfan-cc.out)"; exit 2; }
fi

SERVER_CPU=0
. "$here/servers.sh"
trap stop_all EXIT
ports_free

sed -e "s|@PORT@|${port[eddy]}|g" "$here/peers/eddy-ws.ini" > "$D/eddy-ws.ini"
start eddy "$eddy" -c "$D/eddy-ws.ini"
[ -n "${pid[eddy]:-}" ] || exit 1
if [ -z "$uws" ]; then
    echo "note: UWS_BUILD not set; uWS (uws-echo) skipped"
elif [ -x "$uws/uws-echo" ]; then
    start uws "$uws/uws-echo" "${port[uws]}"
else
    echo "note: no uws-echo in $uws; skipped"
fi
if command -v node >/dev/null &&
    node -e "try{require('ws')}catch(e){require('/usr/share/nodejs/ws')}" 2>/dev/null; then
    start node node "$here/peers/ws-echo.js" "${port[node]}"
else
    echo "note: node or node-ws not installed; skipped"
fi
if /usr/bin/python3 -c "import uvloop, websockets" 2>/dev/null; then
    start python /usr/bin/python3 "$here/peers/ws-echo.py" "${port[python]}"
else
    echo "note: python3-websockets or python3-uvloop not installed; skipped"
fi

intervals=$(((secs + 2) / 4))
[ "$intervals" -ge 1 ] || intervals=1

# measure NAME SIZE: one run against a server; prints its key=value line.
measure() {
    local name=$1 size=$2
    if [ "$load" = uws ]; then
        "$here/wsmeasure.py" "$uws/uws-load" "${pid[$name]}" "${port[$name]}" "$conns" "$size" \
            "$intervals"
    else
        taskset -c 1 "$D/wsfan" -e "$secs" -n "$conns" -s "$size" -p "${pid[$name]}" \
            "${port[$name]}" / | grep -v '^connected='
    fi
}

# field KEY LINE: the value of KEY=... in LINE, or - .
field() { local v; v=$(sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$2"); echo "${v:--}"; }

window=$([ "$load" = uws ] && echo "$((intervals * 4))" || echo "$secs")
echo "## WebSocket echo, $conns connections, one message in flight each; load: $load," \
    "${window}-s windows, $rounds round(s)"
declare -A rows=()
servers=(eddy uws node python)
turn=0
for ((r = 0; r < rounds; r++)); do
    for size in $sizes; do
        n=${#servers[@]}
        for ((i = 0; i < n; i++)); do
            s=${servers[$(((i + turn) % n))]}
            [ -n "${pid[$s]:-}" ] || continue
            out=$(measure "$s" "$size" 2>&1 | tail -1)
            echo "$s ${size}B: $out"
            if [[ $out != msgs_per_s=* ]]; then
                rows[$size $s $r]=$(printf '| %-7s | %6s | %s |' "$s" "$size" "failed: ${out//|/}")
                continue
            fi
            rows[$size $s $r]=$(printf '| %-7s | %6s | %8s | %13s | %8s | %9s | %9s |' "$s" "$size" \
                "$(field msgs_per_s "$out")" "$(field msgs_per_server_cpu_s "$out")" \
                "$(field server_cpu_pct "$out")" "$(field loadgen_cpu_pct "$out")" \
                "$(field cpu_wait_pct "$out")")
        done
        turn=$((turn + 1))
    done
done

echo
echo "| server  |  msg B |   msgs/s | per srv CPU-s | srv CPU% | load CPU% | CPU wait% |"
echo "|---------|--------|----------|---------------|----------|-----------|-----------|"
for size in $sizes; do
    for s in "${servers[@]}"; do
        for ((r = 0; r < rounds; r++)); do
            [ -z "${rows[$size $s $r]:-}" ] || echo "${rows[$size $s $r]}"
        done
    done
done
