#!/bin/sh
# eddy.pc must be enough to build what eddy.h documents: README's example
# (`cc demo.c $(pkg-config --cflags --libs eddy)`), and code that calls
# libuv itself, as eddy.h's own "waiting on libuv callbacks" example does
# (so libuv belongs in Requires, not Requires.private).  Uses the
# uninstalled eddy.pc of the build tree, with -I/-L to the uninstalled
# header and library.  Skips (TAP) without pkg-config.
src=${EDDY_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${EDDY_BUILDDIR:-$(pwd)}
cc=${CC:-cc}
if ! command -v pkg-config >/dev/null 2>&1; then
    echo "1..0 # SKIP needs pkg-config"
    exit 0
fi
if [ ! -f "$build/eddy.pc" ] || [ ! -f "$build/.libs/libeddy.so" ]; then
    echo "1..0 # SKIP libeddy not built in $build"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=$(PKG_CONFIG_PATH="$build" pkg-config --cflags --libs eddy) || {
    echo "1..0 # SKIP pkg-config cannot resolve eddy (is libuv's .pc installed?)"
    exit 0
}
# A sanitizer build's library needs its runtime in the program too.
san=
needed=$(readelf -d "$build/.libs/libeddy.so" 2>/dev/null)
case $needed in *libasan*) san="$san -fsanitize=address" ;; esac
case $needed in *libubsan*) san="$san -fsanitize=undefined" ;; esac
flags="$san $flags"
fail=0
echo "1..2"

# 1: README's example, cut from the first ```c block.
sed -n '/^```c$/,/^```$/p' "$src/README.md" | sed '1d;$d' | sed '/^```/,$d' > "$tmp/demo.c"
if $cc -o "$tmp/demo" "$tmp/demo.c" -I"$src/src" -L"$build/.libs" $flags 2>"$tmp/err" &&
    out=$(LD_LIBRARY_PATH="$build/.libs" "$tmp/demo" 2>&1) &&
    printf '%s\n' "$out" | grep -q "worker 1 done"; then
    echo "ok 1 - README's example builds with pkg-config --cflags --libs eddy and runs"
else
    echo "not ok 1 - README's example builds with pkg-config --cflags --libs eddy and runs"
    sed 's/^/# /' "$tmp/err"
    printf '%s\n' "$out" | sed 's/^/# output: /'
    fail=1
fi

# 2: eddy.h's libuv-callback example: the program calls libuv directly.
cat > "$tmp/uvwait.c" <<'EOF'
#include <eddy.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

struct op {
    uv_fs_t req;
    eddy_wait_t w;
};

static void on_done(uv_fs_t *req)
{
    struct op *op = req->data;
    eddy_wait_wake(&op->w, (int)req->result);
}

static int main_task(void *arg)
{
    struct op op;
    int fd = open("/dev/null", O_WRONLY);
    (void)arg;
    eddy_wait_init(&op.w, NULL);
    op.req.data = &op;
    uv_fs_fsync(eddy_loop(), &op.req, fd, on_done);
    int rc = eddy_wait_park(&op.w, EDDY_FOREVER);
    uv_fs_req_cleanup(&op.req);
    close(fd);
    printf("fsync done (libuv %s)\n", uv_version_string());
    return rc < 0 && rc != UV_EINVAL ? 1 : 0;
}

int main(void)
{
    return eddy_run(main_task, NULL);
}
EOF
if $cc -o "$tmp/uvwait" "$tmp/uvwait.c" -I"$src/src" -L"$build/.libs" $flags 2>"$tmp/err" &&
    out=$(LD_LIBRARY_PATH="$build/.libs" "$tmp/uvwait" 2>&1) &&
    printf '%s\n' "$out" | grep -q "fsync done"; then
    echo "ok 2 - eddy.h's libuv example links with pkg-config --libs eddy alone"
else
    echo "not ok 2 - eddy.h's libuv example links with pkg-config --libs eddy alone"
    sed 's/^/# /' "$tmp/err"
    printf '%s\n' "$out" | sed 's/^/# output: /'
    fail=1
fi
exit $fail
