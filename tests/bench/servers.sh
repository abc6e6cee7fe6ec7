# Sourced by the bench scripts: peer servers run in the background by name.
# The caller declares the associative arrays `port` (NAME -> port) and
# `pid` (filled in here) and sets D (each server's output: $D/NAME.out);
# optionally SERVER_CPU (the taskset CPU list servers are pinned to;
# empty: not pinned) and READY_PATH (a server is up once GET READY_PATH
# answers 2xx; empty: once it accepts connections).

# up PORT: true once something accepts connections on the port.
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ready NAME: the server answers as READY_PATH says.
ready() {
    if [ -n "${READY_PATH:-}" ]; then
        curl -fsS -o /dev/null "http://127.0.0.1:${port[$1]}$READY_PATH" 2>/dev/null
    else
        up "${port[$1]}"
    fi
}

# start NAME COMMAND...: runs a server and waits until it is ready; one that
# does not come up within 10 s is noted and skipped (pid[NAME] unset).
start() {
    local name=$1
    shift
    if [ -n "${SERVER_CPU:-}" ]; then
        taskset -c "$SERVER_CPU" "$@" > "$D/$name.out" 2>&1 &
    else
        "$@" > "$D/$name.out" 2>&1 &
    fi
    pid[$name]=$!
    for _ in $(seq 100); do
        ready "$name" && return 0
        kill -0 "${pid[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "note: $name did not start (see $D/$name.out); skipped"
    kill "${pid[$name]}" 2>/dev/null
    unset "pid[$name]"
}

stop_all() { for p in "${pid[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }

# ports_free: exits 2 if a port of `port` is taken already (a server left
# over would be measured instead).
ports_free() {
    local name
    for name in "${!port[@]}"; do
        if up "${port[$name]}"; then
            echo "port ${port[$name]} ($name) is already in use"
            exit 2
        fi
    done
}
