#!/bin/sh
# Runs the task-core microbenchmarks and prints eddy beside asyncio:
#
#   tests/bench/run-core.sh BUILDDIR [UCONTEXT_BUILDDIR]
#
# BUILDDIR is a build with the assembly context switch, UCONTEXT_BUILDDIR
# one configured with --with-context=ucontext (default: BUILDDIR-ucontext
# if it exists; the column shows "-" without it).  This script builds
# nothing: run `make tests/bench/bench-core` (or `make bench`) in each
# build directory first.  EDDY_BENCH_SCALE multiplies the iteration
# counts of both sides.  The ratio is asyncio's time over eddy's (asm).
set -eu

usage() {
    echo "usage: $0 BUILDDIR [UCONTEXT_BUILDDIR]" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
asm_dir=$1
uctx_dir=${2:-$1-ucontext}
scale=${EDDY_BENCH_SCALE:-1}
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3

asm_bin=$asm_dir/tests/bench/bench-core
uctx_bin=$uctx_dir/tests/bench/bench-core
if [ ! -x "$asm_bin" ]; then
    echo "$asm_bin not found: run 'make tests/bench/bench-core' in $asm_dir" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "running $asm_bin" >&2
"$asm_bin" "$scale" >"$tmp/asm"
if [ -x "$uctx_bin" ]; then
    echo "running $uctx_bin" >&2
    "$uctx_bin" "$scale" >"$tmp/uctx"
else
    echo "no ucontext build at $uctx_dir (configure one with --with-context=ucontext)" >&2
    : >"$tmp/uctx"
fi
echo "running $here/bench_core_asyncio.py" >&2
"$python" "$here/bench_core_asyncio.py" "$scale" >"$tmp/py"

# One row per operation of the asm run, in its order; "-" where a column
# has no figure.
awk -F '\t' '
    FILENAME == ARGV[1] && !/^#/ { order[++n] = $1; asm[$1] = $2 }
    FILENAME == ARGV[2] && !/^#/ { uctx[$1] = $2 }
    FILENAME == ARGV[3] && !/^#/ { py[$1] = $2 }
    END {
        fmt = "%-14s | %12s | %16s | %10s | %7s\n"
        printf fmt, "operation", "eddy asm ns", "eddy ucontext ns", "asyncio ns", "ratio"
        printf fmt, "--------------", "------------", "----------------", "----------", "-------"
        for (i = 1; i <= n; i++) {
            op = order[i]
            u = (op in uctx) ? uctx[op] : "-"
            p = (op in py) ? py[op] : "-"
            r = (op in py && asm[op] > 0) ? sprintf("%.0fx", py[op] / asm[op]) : "-"
            printf fmt, op, asm[op], u, p, r
        }
    }' "$tmp/asm" "$tmp/uctx" "$tmp/py"
