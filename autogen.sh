#!/bin/sh
# Bootstraps the build: installs missing Debian build packages when run as
# root (otherwise prints the command), regenerates the autotools files and
# runs ./configure with the arguments given.
set -e
cd "$(dirname "$0")"

# Build dependencies, then what `make check` uses to talk to the daemon.
PKGS="build-essential autoconf automake libtool pkg-config libuv1-dev libinih-dev node-llhttp zlib1g-dev nettle-dev curl python3 python3-websockets python3-prometheus-client chromium valgrind iproute2 systemd man-db"

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "autogen.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing
  else
    echo "autogen.sh: missing packages; install them with:" >&2
    echo "  sudo apt-get install$missing" >&2
  fi
fi

autoreconf -fi
exec ./configure "$@"
