#!/bin/bash
# Measures the eddy daemon beside its peers in the same run, the way
# ../shared/BENCH.md says: server pinned to CPU 0, wrk to CPU 1, 100
# keep-alive connections, requests per server CPU-second.  Builds nothing.
#
#   tests/bench/bench-daemon.sh [seconds] [path/to/eddy]
#
# Peers (Debian): apt-get install wrk nginx-light h2o lighttpd nodejs \
#   python3-uvicorn python3-uvloop python3-httptools python3-aiohttp
# Also prints wrk's latency percentiles for eddy in each scenario.
set -u
secs=${1:-5}
eddy=${2:-./eddy}
here=$(cd "$(dirname "$0")" && pwd)
shared=${EDDY_SHARED:-$here/../../../shared}
[ -d "$shared/bench" ] || shared=/work/shared
D=${PEERS_DIR:-/tmp/eddy-peers}
port=18099
mkdir -p "$D/www"
printf 'Hello, World!' > "$D/www/hello.txt"
head -c 4096 /dev/zero | tr '\0' 'a' > "$D/www/4k.txt"
[ -f "$D/www/1m.bin" ] || head -c 1048576 /dev/urandom > "$D/www/1m.bin"

cat > "$D/eddy-bench.ini" <<INI
[server]
listen = 127.0.0.1:$port
[log]
access = off
level = warn
[route = /plaintext]
type = return
body = Hello, World!
[route /]
type = static
root = $D/www
INI

taskset -c 0 "$eddy" -c "$D/eddy-bench.ini" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
sleep 1
curl -fsS "http://127.0.0.1:$port/plaintext" >/dev/null || { echo "eddy did not start"; exit 1; }

echo "## requests per server CPU-second (peers.sh, $secs s runs)"
PEERS_DIR=$D bash "$shared/bench/peers.sh" "$secs" "$pid" "$port"

echo "## eddy latency (wrk --latency, 100 connections, $secs s)"
lat() {
    printf "%-22s " "$1"
    taskset -c 1 wrk -t1 -c100 -d"${secs}s" --latency "$2" ${3:+-s "$shared/bench/pipeline.lua" -- $3} |
        awk '/^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2} END {printf "p50=%s p99=%s rps=%s\n", p50, p99, rps}'
}
lat "keep-alive 13 B" "http://127.0.0.1:$port/plaintext"
lat "pipelined x16 13 B" "http://127.0.0.1:$port/plaintext" 16
lat "static 13 B" "http://127.0.0.1:$port/hello.txt"
lat "static 4 KiB" "http://127.0.0.1:$port/4k.txt"
lat "static 1 MiB" "http://127.0.0.1:$port/1m.bin"
