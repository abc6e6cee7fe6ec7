#!/bin/bash
# Pub/sub fan-out: eddy beside nchan (nginx + libnginx-mod-nchan) and uWS's
# uws-pubsub in the same run, each pinned to CPU 0 with one worker/thread.
# wsfan (wsfan.c here, built with cc, pinned to CPU 1) holds 10,000
# WebSocket subscribers on one channel, then
#   - publishes 50 messages of 20 B by HTTP POST, one at a time, each timed
#     from the POST to its arrival at the last subscriber (p50/p99/max), and
#   - publishes for SECONDS with 8 messages in flight (a message is in flight
#     until every subscriber has it) over 4 keep-alive connections:
#     deliveries/s and deliveries per server CPU-second (the server's user +
#     system time, its child processes included, from /proc).
#
#   tests/bench/bench-pubsub.sh [seconds] [path/to/eddy]
#
# Paths: eddy /ps/bench (subscribe and POST; peers/eddy-pubsub.ini), nchan
# /sub/bench and /pub/bench (peers/nchan.conf), uws-pubsub /bench and
# /publish/bench.  uws-pubsub comes from UWS_BUILD=DIR (see README.md); unset,
# it is skipped with a note, as is nchan when nginx or the module is missing
# (tests/bench/install-peers.sh installs it).  The descriptor limit is raised
# to the hard limit: the servers and wsfan each need one per subscriber.
#
# Environment: BENCH_DIR (default /tmp/eddy-bench-pubsub), BENCH_SUBS
# (10000), BENCH_PUBLISHES (50), BENCH_SIZE (20), BENCH_WINDOW (8),
# BENCH_ROUNDS (1; the order of the servers rotates from one round to the next).
set -u
secs=${1:-5}
eddy=${2:-./eddy}
here=$(cd "$(dirname "$0")" && pwd)
D=${BENCH_DIR:-/tmp/eddy-bench-pubsub}
subs=${BENCH_SUBS:-10000}
publishes=${BENCH_PUBLISHES:-50}
size=${BENCH_SIZE:-20}
window=${BENCH_WINDOW:-8}
rounds=${BENCH_ROUNDS:-1}
uws=${UWS_BUILD:-}
declare -A port=([eddy]=18210 [nchan]=18211 [uws]=18212)
declare -A sub_path=([eddy]=/ps/bench [nchan]=/sub/bench [uws]=/bench)
declare -A pub_path=([eddy]=/ps/bench [nchan]=/pub/bench [uws]=/publish/bench)
declare -A pid=()

[ -x "$eddy" ] || { echo "no eddy binary at $eddy"; exit 2; }
command -v taskset >/dev/null || { echo "taskset not found (util-linux)"; exit 2; }
PATH=$PATH:/usr/sbin
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((subs + 100)) ]; then
    echo "$subs subscribers need $((subs + 100)) descriptors; the hard limit is $(ulimit -Hn)"
    exit 2
fi
mkdir -p "$D/nchan-tmp"
cc -O2 -o "$D/wsfan" "$here/wsfan.c" 2>"$D/wsfan-cc.out" ||
    { echo "cannot build wsfan.c (see $D/wsfan-cc.out)"; exit 2; }

SERVER_CPU=0
. "$here/servers.sh"
trap stop_all EXIT
ports_free

sed -e "s|@PORT@|${port[eddy]}|g" "$here/peers/eddy-pubsub.ini" > "$D/eddy-pubsub.ini"
start eddy "$eddy" -c "$D/eddy-pubsub.ini"
[ -n "${pid[eddy]:-}" ] || exit 1
module=$(ls /usr/lib/nginx/modules/ngx_nchan_module.so /usr/lib*/nginx/modules/ngx_nchan_module.so \
    2>/dev/null | head -1)
if command -v nginx >/dev/null && [ -n "$module" ]; then
    sed -e "s|@DIR@|$D|g" -e "s|@PORT@|${port[nchan]}|g" -e "s|@NCHAN_MODULE@|$module|g" \
        "$here/peers/nchan.conf" > "$D/nchan.conf"
    start nchan nginx -p "$D" -e "$D/nchan-error.log" -c "$D/nchan.conf"
else
    echo "note: nginx or libnginx-mod-nchan not installed; nchan skipped"
fi
if [ -z "$uws" ]; then
    echo "note: UWS_BUILD not set; uws-pubsub skipped"
elif [ -x "$uws/uws-pubsub" ]; then
    start uws "$uws/uws-pubsub" "${port[uws]}"
else
    echo "note: no uws-pubsub in $uws; skipped"
fi

# field KEY LINE: the value of KEY=... in LINE, or - .
field() { local v; v=$(sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$2"); echo "${v:--}"; }

echo "## pub/sub fan-out to $subs WebSocket subscribers, $size-byte messages: $publishes" \
    "timed publishes, then ${secs} s with $window in flight"
declare -A rows=()
servers=(eddy nchan uws)
for ((r = 0; r < rounds; r++)); do
    n=${#servers[@]}
    for ((i = 0; i < n; i++)); do
        s=${servers[$(((i + r) % n))]}
        [ -n "${pid[$s]:-}" ] || continue
        out=$(taskset -c 1 "$D/wsfan" -n "$subs" -c "$publishes" -s "$size" -t "$secs" \
            -w "$window" -p "${pid[$s]}" "${port[$s]}" "${sub_path[$s]}" "${pub_path[$s]}" 2>&1)
        echo "$out" | sed "s/^/$s: /"
        lat=$(grep '^latency subscribers=' <<< "$out")
        thr=$(grep '^throughput subscribers=' <<< "$out")
        if [ -z "$lat" ]; then
            rows[$s $r]=$(printf '| %-6s | failed: %s |' "$s" "$(tail -1 <<< "$out")")
            continue
        fi
        rows[$s $r]=$(printf '| %-6s | %7s | %7s | %7s | %10s | %10s | %12s | %8s | %9s |' "$s" \
            "$(field p50_ms "$lat")" "$(field p99_ms "$lat")" "$(field max_ms "$lat")" \
            "$(field deliveries_per_server_cpu_s "$lat")" "$(field deliveries_per_s "$thr")" \
            "$(field deliveries_per_server_cpu_s "$thr")" "$(field server_cpu_pct "$thr")" \
            "$(field cpu_wait_pct "$thr")")
    done
done

echo
echo "Latency: POST to the last of $subs subscribers, ms; one at a time (its deliveries per" \
    "server CPU-s in 'seq/CPU-s'), then $window in flight for $secs s"
echo "| server |     p50 |     p99 |     max |  seq/CPU-s |    deliv/s |  deliv/CPU-s | srv CPU% | CPU wait% |"
echo "|--------|---------|---------|---------|------------|------------|--------------|----------|-----------|"
for s in "${servers[@]}"; do
    for ((r = 0; r < rounds; r++)); do
        [ -z "${rows[$s $r]:-}" ] || echo "${rows[$s $r]}"
    done
done
