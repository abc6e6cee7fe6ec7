#!/bin/sh
# Installs what bench-daemon.sh compares eddy with, from Debian packages:
# wrk, nginx (the light flavour where the release still has it), h2o and
# lighttpd, plus gcc for the bare-epoll ceiling.  Run as root (or through
# sudo).  Services the packages would start (nginx on port 80...) are kept
# from starting while they install: bench-daemon.sh runs each peer itself
# with its own config from tests/bench/peers/.
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

for f in wrk nginx h2o lighttpd gcc taskset curl; do
    command -v "$f" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$f" >/dev/null ||
        { echo "install-peers: $f is still missing" >&2; exit 1; }
done
echo "install-peers: wrk, $nginx, h2o and lighttpd are installed"
