#!/bin/sh
# Runs the aarch64 context switch (src/runtime/core/ctx-aarch64.S) under
# qemu-user: two contexts ping-pong 1000 times, a callee-saved FP register
# survives and the stack stays 16-byte aligned.  Skips (TAP) without
# `apt-get install gcc-aarch64-linux-gnu qemu-user`.
src=${EDDY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=aarch64-linux-gnu-gcc
if ! command -v $cc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    echo "1..0 # SKIP needs gcc-aarch64-linux-gnu and qemu-user"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/config.h"
echo "1..1"
if $cc -O2 -static -I"$tmp" -I"$src/src" -o "$tmp/ctx" "$src/tests/cross/ctx-standalone.c" \
        "$src/src/runtime/core/ctx.c" "$src/src/runtime/core/ctx-aarch64.S" 2>"$tmp/err" &&
    out=$(qemu-aarch64 "$tmp/ctx") && [ "$out" = "count=1000 fsum=501.0 d8=42.0" ]; then
    echo "ok 1 - aarch64 context switch under qemu ($out)"
else
    echo "not ok 1 - aarch64 context switch under qemu"
    sed 's/^/# /' "$tmp/err"
    echo "# output: $out"
    exit 1
fi
