#!/bin/sh
# Installs what bench-daemon.sh compares eddy with, from Debian packages:
# wrk, nginx (the light flavour where the release still has it), h2o and
# lighttpd, plus gcc for the bare-epoll ceiling; and the WebSocket peers of
# bench-ws.sh and bench-pubsub.sh: Node.js with node-ws, Python websockets
# on uvloop, and nchan (an nginx module; the uWS peers are built from
# source: see README.md).  Run as root (or through sudo).  Services the
# packages would start (nginx on port 80...) are kept from starting while
# they install: the bench scripts run each peer themselves with their own
# configs from tests/bench/peers/.
#
#   sudo tests/bench/install-peers.sh
set -eu

if [ "$(id -u)" != 0 ]; then
    exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive

# policy-rc.d answering 101 ("action forbidden") stops invoke-rc.d from
# starting the daemons during the install; an existing one is left alone.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    made_policy=1
fi
cleanup() { [ -z "$made_policy" ] || rm -f "$policy"; }
trap cleanup EXIT

apt-get update -qq
nginx=nginx-light
apt-cache show nginx-light >/dev/null 2>&1 || nginx=nginx
apt-get install -y -qq --no-install-recommends wrk "$nginx" h2o lighttpd gcc libc6-dev \
    python3 util-linux curl
apt-get install -y -qq --no-install-recommends nodejs node-ws python3-websockets python3-uvloop \
    libnginx-mod-nchan

for f in wrk nginx h2o lighttpd gcc taskset curl node; do
    command -v "$f" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$f" >/dev/null ||
        { echo "install-peers: $f is still missing" >&2; exit 1; }
done
/usr/bin/python3 -c "import uvloop, websockets" ||
    { echo "install-peers: python3-websockets or python3-uvloop is still missing" >&2; exit 1; }
echo "install-peers: wrk, $nginx, h2o, lighttpd, node-ws, python3-websockets, python3-uvloop" \
    "and libnginx-mod-nchan are installed"
