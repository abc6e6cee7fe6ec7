#!/bin/bash
# Worker processes: eddy with `[server] workers = 2` beside `workers = 1`
# and nginx with 2 worker processes (and 1, for reference), in the same run,
# then SIGHUP reloads under load.  Uses only the files in this directory.
#
#   tests/bench/bench-workers.sh [seconds per run] [path/to/eddy]
#
# Part 1, throughput: `wrk -t2 -c100` (BENCH_WRK_THREADS, BENCH_CONNS) for
# SECONDS on a 13-byte `return` route (/plaintext) and a small static file
# (BENCH_STATIC, default /4k.txt), each server in turn, BENCH_ROUNDS rounds
# (default 2) interleaved with the order rotating (a shared machine's rounds
# differ by up to 30 %: print them all, compare only within a run).  Nothing
# is pinned: on a 2-core machine wrk shares the cores with the server's
# workers, so 2 workers never have 2 cores to themselves.  Columns:
# requests/s, the server's CPU-seconds over the run (user + system of every
# process of the server: master and workers, measure.py), requests per
# server CPU-second, wrk's p99 latency.  Access logs are off everywhere.
#
# Part 2, reloads under load: eddy (workers = 2) and nginx (2 workers) each
# under `wrk -t2 -c100 -s non2xx.lua` while the master gets BENCH_RELOADS
# (default 10) SIGHUPs, one after another: the next is sent once the
# previous one is done (eddy logs "configuration reloaded"; nginx's master
# has logged "start worker process" for each new worker), BENCH_RELOAD_GAP
# seconds (default 0.5) later.  Then wrk is stopped and its socket errors
# (connect, read, write, timeout) and non-2xx responses are counted: the
# target is 0 failed.  Exits 1 if eddy failed a request or a reload.
#
# Peers: tests/bench/install-peers.sh (wrk, nginx from Debian); nginx runs
# tests/bench/peers/nginx.conf with worker_processes and the error log's
# level rewritten.  BENCH_DIR (default /tmp/eddy-bench-workers) holds the
# files served, the configs and the logs; ports 18311-18314 must be free.
# `2` as the duration is a smoke test of the script, not a measurement.
# BENCH_PARTS="1 2" (default) runs both parts; "1" or "2" only one.
set -u
secs=${1:-10}
eddy=${2:-./eddy}
here=$(cd "$(dirname "$0")" && pwd)
D=${BENCH_DIR:-/tmp/eddy-bench-workers}
conns=${BENCH_CONNS:-100}
threads=${BENCH_WRK_THREADS:-2}
rounds=${BENCH_ROUNDS:-2}
reloads=${BENCH_RELOADS:-10}
gap=${BENCH_RELOAD_GAP:-0.5}
static=${BENCH_STATIC:-/4k.txt}
parts=${BENCH_PARTS:-1 2}
servers=(eddy1 eddy2 nginx2 nginx1)
declare -A port=([eddy1]=18311 [eddy2]=18312 [nginx2]=18313 [nginx1]=18314)
declare -A nworkers=([eddy1]=1 [eddy2]=2 [nginx2]=2 [nginx1]=1)
declare -A label=([eddy1]="eddy workers=1" [eddy2]="eddy workers=2"
                  [nginx2]="nginx worker_processes 2" [nginx1]="nginx worker_processes 1")
declare -A pid=()

command -v wrk >/dev/null || { echo "wrk not found: run tests/bench/install-peers.sh"; exit 2; }
command -v curl >/dev/null || { echo "curl not found: run tests/bench/install-peers.sh"; exit 2; }
[ -x "$eddy" ] || { echo "no eddy binary at $eddy"; exit 2; }
PATH=$PATH:/usr/sbin

mkdir -p "$D/www" "$D/nginx-tmp"
rm -f "$D"/*.out "$D"/*-error.log "$D"/*.wrk
printf 'Hello, World!' > "$D/www/hello.txt"
head -c 4096 /dev/zero | tr '\0' 'a' > "$D/www/4k.txt"
for s in eddy1 eddy2; do
    cat > "$D/$s.ini" <<INI
[server]
listen = 127.0.0.1:${port[$s]}
workers = ${nworkers[$s]}
[log]
access = off
level = info
[route = /plaintext]
type = return
body = Hello, World!
content_type = text/plain
[route /]
type = static
root = $D/www
INI
done
# nginx: the peer config of bench-daemon.sh with N workers, its own pid file
# and error log, at level notice (for the reload's "start worker process").
for s in nginx1 nginx2; do
    sed -e "s|^worker_processes 1;|worker_processes ${nworkers[$s]};|" \
        -e "s|@DIR@/nginx.pid|@DIR@/$s.pid|" \
        -e "s|@DIR@/nginx-error.log warn|@DIR@/$s-error.log notice|" \
        -e "s|@DIR@|$D|g" -e "s|@PORT@|${port[$s]}|g" "$here/peers/nginx.conf" > "$D/$s.conf"
done

SERVER_CPU=
READY_PATH=/hello.txt
. "$here/servers.sh"

trap stop_all EXIT

# children PID: the pids of PID's child processes.
children() { cat /proc/"$1"/task/*/children 2>/dev/null; }

for s in eddy1 eddy2; do
    start "$s" "$eddy" -c "$D/$s.ini"
done
[ -n "${pid[eddy1]:-}" ] && [ -n "${pid[eddy2]:-}" ] || exit 1
if command -v nginx >/dev/null; then
    for s in nginx2 nginx1; do
        start "$s" nginx -p "$D" -e "$D/$s-error.log" -c "$D/$s.conf"
    done
else
    echo "note: nginx not installed; skipped"
fi
# Every worker of the eddy masters up before the clock starts.
for _ in $(seq 100); do
    [ "$(children "${pid[eddy2]}" | wc -w)" -ge 2 ] && break
    sleep 0.1
done

ncpu=$(nproc)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $ncpu CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# eddy: $("$eddy" --version 2>/dev/null | head -1), $(nginx -v 2>&1)"

# ------------------------------------------------------------ part 1
declare -a rows=()
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

wrkdesc="wrk -t$threads -c$conns -d${secs}s, not pinned (wrk shares the $ncpu cores with the server)"
scenarios=("plaintext /plaintext" "static ${static}")
[[ " $parts " == *" 1 "* ]] || scenarios=()
[ ${#scenarios[@]} = 0 ] || echo "## part 1: throughput ($wrkdesc)"
turn=0
for scenario in "${scenarios[@]}"; do
    read -r title path <<<"$scenario"
    for ((r = 1; r <= rounds; r++)); do
        n=${#servers[@]}
        for ((i = 0; i < n; i++)); do
            s=${servers[$(((i + turn) % n))]}
            [ -n "${pid[$s]:-}" ] || continue
            line=$(BENCH_WRK_CPU= BENCH_WRK_THREADS=$threads \
                "$here/measure.py" "${pid[$s]}" "http://127.0.0.1:${port[$s]}$path" "$secs" "$conns")
            printf "%-10s round %d  %-7s %s\n" "$title" "$r" "$s" "$line"
            rows+=("$title|$r|$s|$line")
        done
        turn=$((turn + 1))
    done
done

# ------------------------------------------------------------ part 2
# done_count NAME: how many reloads the server says it has finished.
done_count() {
    case $1 in
    eddy*) grep -c "configuration reloaded" "$D/$1.out" ;;
    nginx*) echo $(($(grep -c "start worker process [0-9]" "$D/$1-error.log") / nworkers[$1] - 1)) ;;
    esac
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

declare -a rrows=()
status=0
reloaded=(eddy2 nginx2)
[[ " $parts " == *" 2 "* ]] || reloaded=()
[ ${#reloaded[@]} = 0 ] ||
    echo "## part 2: $reloads SIGHUP reloads under load (wrk -t$threads -c$conns -s non2xx.lua, not pinned)"
for s in "${reloaded[@]}"; do
    [ -n "${pid[$s]:-}" ] || continue
    wrk -t"$threads" -c"$conns" -d600s --timeout 5s -s "$here/non2xx.lua" \
        "http://127.0.0.1:${port[$s]}/plaintext" > "$D/reload-$s.wrk" 2>&1 &
    wpid=$!
    sleep 1
    confirmed=0 total_ms=0 max_ms=0
    for ((i = 1; i <= reloads; i++)); do
        before=$(done_count "$s")
        t0=$(now_ms)
        kill -HUP "${pid[$s]}"
        for _ in $(seq 300); do
            [ "$(done_count "$s")" -gt "$before" ] && break
            sleep 0.05
        done
        ms=$(($(now_ms) - t0))
        if [ "$(done_count "$s")" -gt "$before" ]; then
            confirmed=$((confirmed + 1))
            total_ms=$((total_ms + ms))
            [ "$ms" -gt "$max_ms" ] && max_ms=$ms
        else
            echo "$s: reload $i not done after ${ms} ms"
        fi
        sleep "$gap"
    done
    sleep 1
    kill -INT "$wpid"
    wait "$wpid"
    # The old generations drain and exit.
    t0=$(now_ms)
    for _ in $(seq 300); do
        [ "$(children "${pid[$s]}" | wc -w)" -le "${nworkers[$s]}" ] && break
        sleep 0.05
    done
    left=$(($(children "${pid[$s]}" | wc -w) - nworkers[$s]))
    drained="yes ($(($(now_ms) - t0)) ms after wrk stopped)"
    [ "$left" -le 0 ] || drained="no: $left old processes left"
    out=$(cat "$D/reload-$s.wrk")
    total=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")
    errs=$(sed -n 's/^ *Socket errors: //p' <<<"$out")
    read -r ec er ew et < <(sed -n 's/connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\)/\1 \2 \3 \4/p' <<<"$errs")
    ec=${ec:-0} er=${er:-0} ew=${ew:-0} et=${et:-0}
    bad=$(sed -n 's/^non-2xx: //p' <<<"$out")
    failed=$((ec + er + ew + et + ${bad:-0}))
    [ -n "$total" ] && [ -n "$bad" ] || { echo "$s: wrk failed: $out"; failed=-1; }
    avg=$((confirmed > 0 ? total_ms / confirmed : 0))
    printf "%-7s reloads=%d/%d requests=%s errors: connect %s, read %s, write %s, timeout %s; non2xx=%s failed=%s reload_ms avg=%d max=%d drained=%s\n" \
        "$s" "$confirmed" "$reloads" "${total:-?}" "$ec" "$er" "$ew" "$et" "${bad:-?}" "$failed" \
        "$avg" "$max_ms" "$drained"
    rrows+=("$s|$confirmed|${total:-?}|$ec / $er / $ew / $et|${bad:-?}|$failed|$avg / $max_ms|$drained")
    if [ "$s" = eddy2 ] && { [ "$failed" != 0 ] || [ "$confirmed" != "$reloads" ]; }; then
        status=1
    fi
done

# ------------------------------------------------------------ tables
if [ ${#rows[@]} -gt 0 ]; then
    echo
    echo "### Throughput: $wrkdesc, $rounds rounds interleaved"
    echo
    echo "| request | server | round | requests/s | server CPU-s | requests per server CPU-s | p99 | failed |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
    for row in "${rows[@]}"; do
        IFS='|' read -r title r s line <<<"$row"
        if [ -z "$(field rps "$line")" ]; then
            echo "| $title | ${label[$s]} | $r | $line | | | | |"
            continue
        fi
        f=$(field non2xx "$line")
        f=${f:-0}
        for e in $(sed -n 's/.*errors: //p' <<<"$line" | grep -o '[0-9][0-9]*'); do
            f=$((f + e))
        done
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n" "$title" "${label[$s]}" "$r" \
            "$(field rps "$line")" "$(field server_cpu_s "$line")" "$(field req_per_cpu_s "$line")" \
            "$(field p99 "$line")" "$f"
    done
    echo
    echo "Server CPU-s: user + system of all the server's processes (master and workers) over the"
    echo "run; failed: wrk's socket errors + responses with status >= 400."
fi
if [ ${#rrows[@]} -gt 0 ]; then
    echo
    echo "### $reloads SIGHUP reloads under load (wrk -t$threads -c$conns, /plaintext)"
    echo
    echo "| server | reloads done | requests | socket errors (connect / read / write / timeout) | non-2xx | failed | reload ms (avg / max) | old workers exited |"
    echo "|---|---:|---:|---|---:|---:|---:|---|"
    for row in "${rrows[@]}"; do
        IFS='|' read -r s c total errs bad failed ms drained <<<"$row"
        echo "| ${label[$s]} | $c / $reloads | $total | $errs | $bad | $failed | $ms | $drained |"
    done
    echo
    echo "wrk never retries: a keep-alive connection closed by a draining worker before it answered"
    echo "the request just sent on it is a read error (a browser or an HTTP library retries it, RFC"
    echo "9112 9.3.1)."
fi
exit $status
