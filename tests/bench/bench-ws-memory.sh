#!/bin/bash
# Memory per idle WebSocket subscriber: eddy (a pub/sub route,
# peers/eddy-pubsub.ini) and, for reference, uWS's uws-pubsub, each started
# afresh for each count, pinned to CPU 0.  wsfan (wsfan.c here, built with cc,
# pinned to CPU 1) opens N subscribers on one channel, waits 2 s and reports
# the server's RSS growth divided by N (RSS of the process and its children,
# from /proc).
#
#   tests/bench/bench-ws-memory.sh [path/to/eddy] [N...]     (default N: 10000 50000)
#
# Each server and wsfan need a descriptor per subscriber: the script raises
# the limit to the hard limit (ulimit -Hn) and skips a count that does not
# fit, with a note (raise the hard limit as root first, e.g. `ulimit -Hn
# 200000` in a root shell or `prlimit --nofile=200000 --pid $$`).  Past
# ~28,000 connections wsfan spreads its subscribers over several source
# addresses (127.0.0.1, .2, ...), each with its own ephemeral port range.
# uws-pubsub comes from UWS_BUILD=DIR (see README.md); unset, it is skipped.
# BENCH_DIR: default /tmp/eddy-bench-ws-memory.
set -u
eddy=${1:-./eddy}
shift
counts=${*:-10000 50000}
here=$(cd "$(dirname "$0")" && pwd)
D=${BENCH_DIR:-/tmp/eddy-bench-ws-memory}
uws=${UWS_BUILD:-}
declare -A port=([eddy]=18220 [uws]=18222)
declare -A sub_path=([eddy]=/ps/idle [uws]=/idle)
spid=

[ -x "$eddy" ] || { echo "no eddy binary at $eddy"; exit 2; }
command -v taskset >/dev/null || { echo "taskset not found (util-linux)"; exit 2; }
ulimit -n "$(ulimit -Hn)"
mkdir -p "$D"
cc -O2 -o "$D/wsfan" "$here/wsfan.c" 2>"$D/wsfan-cc.out" ||
    { echo "cannot build wsfan.c (see $D/wsfan-cc.out)"; exit 2; }
sed -e "s|@PORT@|${port[eddy]}|g" "$here/peers/eddy-pubsub.ini" > "$D/eddy-pubsub.ini"

. "$here/servers.sh" # up
stop() { [ -z "$spid" ] || { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }; spid=; }
trap stop EXIT

# start NAME COMMAND...: runs a server on CPU 0 and waits until it listens.
start() {
    local name=$1
    shift
    taskset -c 0 "$@" > "$D/$name.out" 2>&1 &
    spid=$!
    for _ in $(seq 100); do
        up "${port[$name]}" && { sleep 0.5; return 0; }
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
    done
    echo "note: $name did not start (see $D/$name.out)"
    stop
    return 1
}

servers=(eddy)
if [ -z "$uws" ]; then
    echo "note: UWS_BUILD not set; uws-pubsub skipped"
elif [ -x "$uws/uws-pubsub" ]; then
    servers+=(uws)
else
    echo "note: no uws-pubsub in $uws; skipped"
fi

rows=()
for n in $counts; do
    limit=$(ulimit -n)
    if [ "$limit" != unlimited ] && [ "$limit" -lt $((n + 100)) ]; then
        echo "note: $n subscribers need $((n + 100)) descriptors; the hard limit is $limit: skipped"
        rows+=("$(printf '| %-6s | %6s | skipped: descriptor limit %s |' all "$n" "$limit")")
        continue
    fi
    for s in "${servers[@]}"; do
        if up "${port[$s]}"; then
            echo "port ${port[$s]} ($s) is already in use"
            exit 2
        fi
        if [ "$s" = eddy ]; then
            start eddy "$eddy" -c "$D/eddy-pubsub.ini" || exit 1
        else
            start uws "$uws/uws-pubsub" "${port[uws]}" || continue
        fi
        out=$(taskset -c 1 "$D/wsfan" -i -n "$n" -p "$spid" "${port[$s]}" "${sub_path[$s]}" 2>&1)
        stop
        echo "$out" | sed "s/^/$s: /"
        line=$(grep '^idle subscribers=' <<< "$out")
        if [ -z "$line" ]; then
            rows+=("$(printf '| %-6s | %6s | failed: %s |' "$s" "$n" "$(tail -1 <<< "$out")")")
            continue
        fi
        get() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<< "$line"; }
        rows+=("$(printf '| %-6s | %6s | %10s | %10s | %9s |' "$s" "$(get subscribers)" \
            "$(get rss_before_kib)" "$(get rss_after_kib)" "$(get per_subscriber_b)")")
    done
done

echo
echo "RSS of the server (KiB) before and after opening the subscribers; growth per subscriber"
echo "| server |   subs | RSS before |  RSS after | bytes/sub |"
echo "|--------|--------|------------|------------|-----------|"
printf '%s\n' "${rows[@]}"
