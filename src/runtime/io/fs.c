/* Files: libuv's fs requests, run on its thread pool and awaited by the
 * calling task, so a slow disk (or a FIFO, or NFS) never blocks the loop.
 *
 * Every call starts one request and parks until its callback.  The
 * uv_fs_t lives on the task's stack, which is safe because the wait never
 * ends before the callback has run: an interruption (cancellation or a
 * timeout scope) tries uv_cancel, and then the task waits, uninterruptibly,
 * for the callback — it comes soon with UV_ECANCELED if uv_cancel took the
 * request off the queue, or when the (bounded) operation finishes.  What a
 * request that finished anyway did is then undone or reported: an opened
 * fd is closed, a write reports its count. */
#include "runtime/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* read_file's first buffer when fstat reports no size (procfs, pipes). */
#define READ_FILE_MIN_CAP 4096

typedef struct fs_op {
    uv_fs_t req;
    eddy_wait_t w;
    bool done; /* the callback has run */
} fs_op_t;

static void on_fs_done(uv_fs_t *req)
{
    fs_op_t *op = req->data;
    op->done = true;
    eddy_wait_wake(&op->w, 0); /* no-op if the wait was interrupted */
}

/* The request keeps running on its thread; only a queued one can be taken
 * back, and then its callback reports UV_ECANCELED. */
static void on_fs_interrupt(eddy_wait_t *w)
{
    fs_op_t *op = w->data;
    uv_cancel((uv_req_t *)&op->req);
}

static void op_init(fs_op_t *op, bool interruptible)
{
    op->done = false;
    op->req.data = op;
    eddy_wait_init(&op->w, interruptible ? on_fs_interrupt : NULL);
    op->w.data = op;
}

/* Waits for the callback of a request that start_rc says was started.
 * Returns 0 once it has completed normally, or the interruption
 * (UV_ECANCELED, UV_ETIMEDOUT) — also only after the callback ran, so the
 * request's memory is free to go either way.  req.result holds the
 * outcome. */
static int op_await(fs_op_t *op, int start_rc)
{
    int rc;
    if (start_rc < 0) {
        uv_fs_req_cleanup(&op->req);
        return start_rc;
    }
    rc = eddy_wait_park(&op->w, EDDY_FOREVER);
    while (!op->done) {
        eddy_wait_init(&op->w, NULL);
        eddy_wait_park(&op->w, EDDY_FOREVER);
    }
    return rc;
}

static void on_orphan_closed(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

/* Closes an fd that an interrupted open produced, without waiting. */
static void close_orphan(uv_file fd)
{
    uv_fs_t *req = malloc(sizeof(*req));
    if (req != NULL && uv_fs_close(eddy_loop(), req, fd, on_orphan_closed) == 0)
        return;
    free(req);
    close(fd);
}

int eddy_fs_open(const char *path, int flags, int mode)
{
    EDDY__CURRENT_OR_RETURN(t);
    fs_op_t op;
    int rc;

    (void)t;
    op_init(&op, true);
    rc = op_await(&op, uv_fs_open(eddy_loop(), &op.req, path, flags, mode, on_fs_done));
    if (rc < 0 && op.done && op.req.result >= 0)
        close_orphan((uv_file)op.req.result);
    if (rc == 0)
        rc = (int)op.req.result;
    uv_fs_req_cleanup(&op.req);
    return rc;
}

ssize_t eddy_fs_read(int fd, void *buf, size_t len, int64_t offset)
{
    EDDY__CURRENT_OR_RETURN(t);
    uv_buf_t b = uv_buf_init(buf, 0);
    fs_op_t op;
    ssize_t rc;

    (void)t;
    b.len = len; /* uv_buf_init takes an unsigned int */
    op_init(&op, true);
    rc = op_await(&op, uv_fs_read(eddy_loop(), &op.req, fd, &b, 1, offset, on_fs_done));
    if (rc == 0)
        rc = op.req.result;
    uv_fs_req_cleanup(&op.req);
    return rc;
}

ssize_t eddy_fs_write(int fd, const void *buf, size_t len, int64_t offset)
{
    EDDY__CURRENT_OR_RETURN(t);
    uv_buf_t b = uv_buf_init((char *)buf, 0);
    fs_op_t op;
    ssize_t rc;

    b.len = len;
    op_init(&op, true);
    rc = op_await(&op, uv_fs_write(eddy_loop(), &op.req, fd, &b, 1, offset, on_fs_done));
    if (rc < 0 && op.done && op.req.result > 0) {
        /* The bytes are in the file: say so, and keep the cancellation for
         * the next wait (an expired timeout scope stays expired anyway). */
        if (rc == UV_ECANCELED)
            eddy_cancel(t);
        rc = 0;
    }
    if (rc == 0)
        rc = op.req.result;
    uv_fs_req_cleanup(&op.req);
    return rc;
}

/* The outcome of a (f)stat request, copied out; the request is cleaned up. */
static int stat_result(fs_op_t *op, int rc, uv_stat_t *st)
{
    if (rc == 0)
        rc = (int)op->req.result;
    if (rc == 0)
        *st = op->req.statbuf;
    uv_fs_req_cleanup(&op->req);
    return rc;
}

int eddy_fs_stat(const char *path, uv_stat_t *st)
{
    EDDY__CURRENT_OR_RETURN(t);
    fs_op_t op;
    int rc;

    (void)t;
    op_init(&op, true);
    rc = op_await(&op, uv_fs_stat(eddy_loop(), &op.req, path, on_fs_done));
    return stat_result(&op, rc, st);
}

int eddy_fs_fstat(int fd, uv_stat_t *st)
{
    EDDY__CURRENT_OR_RETURN(t);
    fs_op_t op;
    int rc;

    (void)t;
    op_init(&op, true);
    rc = op_await(&op, uv_fs_fstat(eddy_loop(), &op.req, fd, on_fs_done));
    return stat_result(&op, rc, st);
}

/* Not interruptible: a close taken back by uv_cancel would leave the caller
 * unsure whether fd is still open, and closing it again could close an fd
 * that another task has opened meanwhile. */
int eddy_fs_close(int fd)
{
    EDDY__CURRENT_OR_RETURN(t);
    fs_op_t op;
    int rc;

    (void)t;
    op_init(&op, false);
    rc = op_await(&op, uv_fs_close(eddy_loop(), &op.req, fd, on_fs_done));
    if (rc == 0)
        rc = (int)op.req.result;
    uv_fs_req_cleanup(&op.req);
    return rc;
}

/* Reads fd from its start until EOF into a buffer that grows as needed;
 * more than limit bytes is UV_EFBIG.  The buffer is one byte larger than
 * the data read so far can fill, so EOF shows up as a short read. */
static int read_all(int fd, size_t size_hint, size_t limit, char **data, size_t *len)
{
    size_t cap = size_hint > 0 ? size_hint + 1 : eddy__min(READ_FILE_MIN_CAP, limit + 1);
    size_t used = 0;
    char *buf = malloc(cap + 1);

    if (buf == NULL)
        return UV_ENOMEM;
    for (;;) {
        ssize_t n = eddy_fs_read(fd, buf + used, cap - used, (int64_t)used);
        if (n < 0) {
            free(buf);
            return (int)n;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > limit) {
            free(buf);
            return UV_EFBIG;
        }
        if (used == cap) {
            size_t ncap = cap > (limit + 1) / 2 ? limit + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (nbuf == NULL) {
                free(buf);
                return UV_ENOMEM;
            }
            buf = nbuf;
            cap = ncap;
        }
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}

int eddy_fs_read_file(const char *path, char **data, size_t *len, size_t limit)
{
    uv_stat_t st;
    int fd, rc;

    *data = NULL;
    *len = 0;
    if (limit > SIZE_MAX / 2)
        limit = SIZE_MAX / 2; /* read_all counts to limit + 1, and no more fits */
    fd = eddy_fs_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    rc = eddy_fs_fstat(fd, &st);
    if (rc == 0 && st.st_size > limit)
        rc = UV_EFBIG;
    if (rc == 0)
        rc = read_all(fd, (size_t)st.st_size, limit, data, len);
    eddy_fs_close(fd);
    return rc;
}
