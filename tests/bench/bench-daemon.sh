#!/bin/bash
# Measures the eddy daemon beside its peers (nginx, h2o, lighttpd and a bare
# epoll loop) in the same run, using only the files in this directory:
# every server pinned to CPU 0 with one worker, wrk pinned to CPU 1, 100
# keep-alive connections; the figure that counts is requests per server
# CPU-second (measure.py), then wrk's latency percentiles for eddy.
#
#   tests/bench/bench-daemon.sh [seconds per run] [path/to/eddy]
#
# Peers: tests/bench/install-peers.sh (Debian packages); one that is not
# installed is skipped with a note.  Their configs are tests/bench/peers/*,
# filled in with BENCH_DIR (default /tmp/eddy-bench-daemon: the files
# served, the logs) and the ports below.  `1` as the duration is a smoke
# test of the script, not a measurement.
#
# BENCH_LARGE=1 measures large files instead (eddy beside nginx): 1 MiB and
# 50 MB files to 10 and 100 connections, requests/s and per CPU-second
# (use 10 s runs or more: a 50 MB response takes seconds).
set -u
secs=${1:-5}
eddy=${2:-./eddy}
here=$(cd "$(dirname "$0")" && pwd)
D=${BENCH_DIR:-/tmp/eddy-bench-daemon}
conns=${BENCH_CONNS:-100}
declare -A port=([eddy]=18099 [nginx]=18081 [h2o]=18082 [lighttpd]=18083 [ceiling]=18090)
declare -A pid=()

command -v wrk >/dev/null || { echo "wrk not found: run tests/bench/install-peers.sh"; exit 2; }
[ -x "$eddy" ] || { echo "no eddy binary at $eddy"; exit 2; }
PATH=$PATH:/usr/sbin

mkdir -p "$D/www" "$D/nginx-tmp"
printf 'Hello, World!' > "$D/www/hello.txt"
head -c 4096 /dev/zero | tr '\0' 'a' > "$D/www/4k.txt"
[ -f "$D/www/1m.bin" ] || head -c 1048576 /dev/urandom > "$D/www/1m.bin"
if [ "${BENCH_LARGE:-0}" = 1 ] && [ ! -f "$D/www/50m.bin" ]; then
    head -c 50000000 /dev/urandom > "$D/www/50m.bin"
fi
cat > "$D/eddy.ini" <<INI
[server]
listen = 127.0.0.1:${port[eddy]}
[log]
access = off
level = warn
[route = /plaintext]
type = return
body = Hello, World!
content_type = text/plain
[route /]
type = static
root = $D/www
INI

SERVER_CPU=0
READY_PATH=/hello.txt
. "$here/servers.sh"

fill() { sed -e "s|@DIR@|$D|g" -e "s|@PORT@|${port[$1]}|g" "$here/peers/$2" > "$D/$2"; }

trap stop_all EXIT

start eddy "$eddy" -c "$D/eddy.ini"
[ -n "${pid[eddy]:-}" ] || exit 1
if command -v nginx >/dev/null; then
    fill nginx nginx.conf
    start nginx nginx -p "$D" -e "$D/nginx-error.log" -c "$D/nginx.conf"
else
    echo "note: nginx not installed; skipped"
fi
if command -v h2o >/dev/null; then
    fill h2o h2o.conf
    start h2o h2o -c "$D/h2o.conf"
else
    echo "note: h2o not installed; skipped"
fi
if command -v lighttpd >/dev/null; then
    fill lighttpd lighttpd.conf
    start lighttpd lighttpd -D -f "$D/lighttpd.conf"
else
    echo "note: lighttpd not installed; skipped"
fi
if cc -O2 -o "$D/ceiling" "$here/ceiling.c" 2>"$D/ceiling-cc.out"; then
    start ceiling "$D/ceiling" "${port[ceiling]}"
else
    echo "note: cannot build ceiling.c (see $D/ceiling-cc.out); skipped"
fi

# scenario TITLE PATH DEPTH SERVER...: one measure.py run per server that
# is up, the order rotated from one scenario to the next so that no server
# is always measured last.
turn=0
scenario() {
    local title=$1 path=$2 depth=$3
    shift 3
    local servers=("$@") n=$# i
    echo "# $title"
    for ((i = 0; i < n; i++)); do
        local s=${servers[$(((i + turn) % n))]}
        [ -n "${pid[$s]:-}" ] || continue
        printf "%-10s " "$s"
        "$here/measure.py" "${pid[$s]}" "http://127.0.0.1:${port[$s]}$path" "$secs" "$conns" "$depth"
    done
    turn=$((turn + 1))
}

if [ "${BENCH_LARGE:-0}" = 1 ]; then
    for c in 10 100; do
        conns=$c
        echo "## large files: requests per server CPU-second ($secs s runs, $conns connections)"
        scenario "static file, 1 MiB" /1m.bin 1 eddy nginx
        scenario "static file, 50 MB" /50m.bin 1 eddy nginx
    done
    exit 0
fi

echo "## requests per server CPU-second ($secs s runs, $conns connections)"
scenario "keep-alive, 13-byte fixed response" /plaintext 1 eddy nginx ceiling
scenario "pipelined x16, 13-byte fixed response" /plaintext 16 eddy nginx ceiling
scenario "static file, 13 B" /hello.txt 1 eddy nginx h2o lighttpd
scenario "static file, 4 KiB" /4k.txt 1 eddy nginx h2o lighttpd
scenario "static file, 1 MiB" /1m.bin 1 eddy nginx h2o lighttpd

echo "## eddy latency (wrk --latency, $conns connections, $secs s)"
lat() {
    printf "%-22s " "$1"
    taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --latency "$2" ${3:+-s "$here/pipeline.lua" -- $3} |
        awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2}
             END {printf "p50=%s p99=%s rps=%s\n", p50, p99, rps}'
}
url=http://127.0.0.1:${port[eddy]}
lat "keep-alive 13 B" "$url/plaintext"
lat "pipelined x16 13 B" "$url/plaintext" 16
lat "static 13 B" "$url/hello.txt"
lat "static 4 KiB" "$url/4k.txt"
lat "static 1 MiB" "$url/1m.bin"
