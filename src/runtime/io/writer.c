/* The writer with flow control (asyncio.StreamWriter).
 *
 * A write first tries the socket directly; what does not fit is copied into
 * the writer's buffer.  At most one uv_write is in flight: bytes written
 * meanwhile collect in the buffer and go out as one write when it
 * completes, so many small writes cost few system calls.  The request
 * owns the bytes it writes and points back at the writer until the writer
 * is released, which detaches it. */
#include "runtime/io/stream.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_HIGH (64u * 1024u)
#define DEFAULT_LOW (16u * 1024u)

struct eddy__wop {
    uv_write_t req;
    eddy_writer_t *writer; /* NULL once the writer was released */
    char *data;
    size_t len;
};

int eddy_writer_init(eddy_writer_t *w, eddy_stream_t *s, size_t high, size_t low)
{
    if (high == 0 && low == 0) {
        high = DEFAULT_HIGH;
        low = DEFAULT_LOW;
    }
    w->stream = s;
    w->high = high;
    w->low = eddy__min(low, high);
    w->pending = 0;
    w->buf = NULL;
    w->len = w->cap = 0;
    w->inflight = NULL;
    w->waiter = NULL;
    w->error = 0;
    return 0;
}

size_t eddy_writer_pending(const eddy_writer_t *w)
{
    return w->pending;
}

static void fail(eddy_writer_t *w, int error)
{
    if (w->error == 0)
        w->error = error;
    /* What is still buffered will never be written. */
    w->pending -= w->len;
    w->len = 0;
}

/* Wakes the task in drain or close once pending is down to low (close
 * sets low to 0), or the stream failed. */
static void maybe_wake(eddy_writer_t *w)
{
    if (w->waiter != NULL && (w->error != 0 || w->pending <= w->low)) {
        eddy_wait_t *wt = w->waiter;
        w->waiter = NULL;
        eddy_wait_wake(wt, w->error);
    }
}

static void on_written(uv_write_t *req, int status);

/* Hands the buffer to libuv as one write. */
static void submit(eddy_writer_t *w)
{
    struct eddy__wop *op = malloc(sizeof(*op));
    uv_buf_t b;
    int rc;

    if (op == NULL) {
        fail(w, UV_ENOMEM);
        return;
    }
    op->req.data = op;
    op->writer = w;
    op->data = w->buf;
    op->len = w->len;
    b.base = op->data;
    b.len = op->len;
    rc = uv_write(&op->req, eddy_stream_handle(w->stream), &b, 1, on_written);
    if (rc != 0) {
        free(op);
        fail(w, rc);
        return;
    }
    w->buf = NULL;
    w->len = w->cap = 0;
    w->inflight = op;
}

static void on_written(uv_write_t *req, int status)
{
    struct eddy__wop *op = req->data;
    eddy_writer_t *w = op->writer;
    eddy_stream_t *s = req->handle->data;

    if (w != NULL) {
        w->inflight = NULL;
        w->pending -= op->len;
        if (status < 0)
            fail(w, status == UV_ECANCELED && s->closing ? EDDY_ECLOSED : status);
        else if (w->len > 0)
            submit(w);
        maybe_wake(w);
    }
    free(op->data);
    free(op);
}

/* Appends to the buffer: 0 or UV_ENOMEM. */
static int append(eddy_writer_t *w, const char *data, size_t len)
{
    if (w->cap - w->len < len) {
        size_t cap = w->cap ? w->cap : 4096;
        char *buf;
        while (cap - w->len < len)
            cap *= 2;
        buf = realloc(w->buf, cap);
        if (buf == NULL)
            return UV_ENOMEM;
        w->buf = buf;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    w->pending += len;
    return 0;
}

int eddy_writer_write(eddy_writer_t *w, const void *data, size_t len)
{
    const char *p = data;
    int rc;

    if (w->error != 0)
        return w->error;
    if (len == 0)
        return 0;
    if (w->inflight == NULL && w->len == 0) {
        /* Nothing queued: the socket may take it all at once.  uv_try_write
         * refuses while other writes are queued on the stream. */
        uv_buf_t b = {.base = (char *)p, .len = len};
        int n = uv_try_write(eddy_stream_handle(w->stream), &b, 1);
        if (n >= 0 && (size_t)n == len)
            return 0;
        if (n < 0 && n != UV_EAGAIN) {
            fail(w, n);
            return n;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
        rc = append(w, p, len);
        if (rc == 0)
            submit(w);
        return rc != 0 ? rc : w->error;
    }
    return append(w, p, len);
}

static void wait_interrupted(eddy_wait_t *wt)
{
    eddy_writer_t *w = wt->data;
    w->waiter = NULL;
}

/* Waits until maybe_wake fires: 0, the stream's error or the interruption. */
static int wait_low(eddy_writer_t *w)
{
    eddy_wait_t wt;
    int rc;

    if (w->waiter != NULL)
        return UV_EBUSY;
    eddy_wait_init(&wt, wait_interrupted);
    wt.data = w;
    w->waiter = &wt;
    rc = eddy_wait_park(&wt, EDDY_FOREVER);
    return rc != 0 ? rc : w->error;
}

int eddy_writer_drain(eddy_writer_t *w)
{
    EDDY__CURRENT_OR_RETURN(t);

    (void)t;
    if (w->error != 0)
        return w->error;
    if (w->pending <= w->high)
        return 0;
    return wait_low(w);
}

int eddy_writer_close(eddy_writer_t *w)
{
    int rc = w->error;

    if (rc == 0 && w->pending > 0) {
        if (eddy_current() == NULL)
            return EDDY_ENOTASK;
        w->low = 0;
        rc = wait_low(w);
    }
    /* Release: what is still pending goes out in the background. */
    if (w->inflight != NULL) {
        w->inflight->writer = NULL;
        w->inflight = NULL;
    }
    if (w->error == 0 && w->len > 0) {
        submit(w);
        if (w->inflight != NULL)
            w->inflight->writer = NULL;
        w->inflight = NULL;
    }
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
    w->pending = 0;
    w->waiter = NULL;
    return rc;
}
