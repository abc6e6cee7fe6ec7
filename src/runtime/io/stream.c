/* Streams: reading, writing, half-closing and closing TCP and Unix-domain
 * sockets from tasks.
 *
 * Reading hands the caller's buffer to libuv's alloc callback, so bytes go
 * from the kernel straight to where the caller wants them.  Reading is
 * stopped lazily: after a read completes, uv_read_start stays active in
 * case the task reads again before the loop polls (the common case: read,
 * answer, read), which saves two epoll_ctl calls per read.  If bytes arrive
 * while no task is reading, they land in a small spill buffer and reading
 * stops until a task takes them, so a stream never buffers more than that.
 *
 * Every libuv request that outlives a wait (a write, a shutdown) is on the
 * heap and points at the waiting task's stack through a pointer that the
 * interrupt hook clears; the request's callback frees it. */
#include "runtime/io/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Size of the buffer that catches bytes arriving while no task reads. */
#define SPILL_SIZE (16u * 1024u)
static char *spill_get(void);

/* Requests this small are built on the stack when a write is split. */
#define INLINE_BUFS 16

/* A write to a socket the peer has closed raises SIGPIPE, whose default
 * action kills the process; like Python and Node, make it an EPIPE error
 * instead, unless the program chose a disposition of its own. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

int eddy__stream_new(eddy_stream_t **out, enum eddy__stream_kind kind)
{
    static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
    uv_loop_t *loop = eddy_loop();
    eddy_stream_t *s;
    int rc;

    if (loop == NULL)
        return EDDY_ENOTASK;
    pthread_once(&sigpipe_once, ignore_sigpipe);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return UV_ENOMEM;
    s->kind = (uint8_t)kind;
    s->send_timeout = EDDY_FOREVER;
    s->wfd = -1;
    eddy__waitq_init(&s->acceptors);
    eddy__waitq_init(&s->writers);
    if (kind == EDDY__STREAM_TCP)
        rc = uv_tcp_init(loop, &s->u.tcp);
    else
        rc = uv_pipe_init(loop, &s->u.pipe, 0);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->u.handle.data = s;
    *out = s;
    return 0;
}

static void on_close(uv_handle_t *h)
{
    eddy_stream_t *s = h->data;
    free(s->spill);
    free(s);
}

static void on_wpoll_close(uv_handle_t *h)
{
    free(h);
}

/* Stops waiting for room: wakes the waiter, and closes the watcher and its
 * descriptor (uv_close has removed it from epoll before close(2)). */
static void close_wpoll(eddy_stream_t *s)
{
    if (s->wwait != NULL) {
        eddy_wait_t *w = s->wwait;
        s->wwait = NULL;
        eddy_wait_wake(w, EDDY_ECLOSED);
    }
    if (s->wpoll != NULL) {
        uv_close((uv_handle_t *)s->wpoll, on_wpoll_close);
        s->wpoll = NULL;
    }
    if (s->wfd >= 0) {
        close(s->wfd);
        s->wfd = -1;
    }
}

void eddy__stream_discard(eddy_stream_t *s)
{
    s->closing = true;
    close_wpoll(s);
    uv_close(&s->u.handle, on_close);
}

void eddy_close(eddy_stream_t *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    if (s->rwait != NULL) {
        eddy_wait_t *w = s->rwait;
        s->rwait = NULL;
        eddy_wait_wake(w, EDDY_ECLOSED);
    }
    eddy__waitq_wake_all(&s->acceptors, EDDY_ECLOSED);
    eddy__waitq_wake_all(&s->writers, EDDY_ECLOSED);
    close_wpoll(s);
    /* uv_close stops reading and fails the pending writes and shutdown
     * with UV_ECANCELED (reported as EDDY_ECLOSED) before on_close runs. */
    uv_close(&s->u.handle, on_close);
}

/* ------------------------------------------------------------------ read */

static void stop_reading(eddy_stream_t *s)
{
    if (s->reading) {
        uv_read_stop(&s->u.stream);
        s->reading = false;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    eddy_stream_t *s = h->data;
    (void)suggested;

    if (s->rwait != NULL) {
        *buf = uv_buf_init(s->rbuf, (unsigned)eddy__min(s->rlen, (size_t)UINT_MAX));
        return;
    }
    /* Nobody is reading: catch the bytes in the spill buffer.  It is empty
     * here, since reading stops as soon as it holds anything. */
    if (s->spill == NULL)
        s->spill = spill_get();
    s->spill_start = s->spill_end = 0;
    *buf = uv_buf_init(s->spill, s->spill ? SPILL_SIZE : 0);
}

/* Spill buffers: bytes that arrive between two reads land in one, which
 * goes back once they are taken.  A few spare ones are kept: a stream
 * whose peer sends faster than one read (a 16 KiB WebSocket message in two
 * segments) spills on every message, and a malloc and free of 16 KiB each
 * time cost a fifth of the CPU (glibc trimmed and regrew the heap top).
 * Up to 64 (1 MiB) are kept: one loop turn may spill on many streams. */
#define SPILL_SPARES 64
static char *spill_spares[SPILL_SPARES];
static unsigned nspill_spares;

static char *spill_get(void)
{
    return nspill_spares > 0 ? spill_spares[--nspill_spares] : malloc(SPILL_SIZE);
}

static void spill_put(char *p)
{
    if (nspill_spares < SPILL_SPARES)
        spill_spares[nspill_spares++] = p;
    else
        free(p);
}

void eddy__stream_spares_free(void)
{
    while (nspill_spares > 0)
        free(spill_spares[--nspill_spares]);
}

static void free_empty_spill(eddy_stream_t *s)
{
    if (s->spill != NULL && s->spill_end == s->spill_start) {
        spill_put(s->spill);
        s->spill = NULL;
        s->spill_start = s->spill_end = 0;
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    eddy_stream_t *s = stream->data;
    eddy_wait_t *w = s->rwait;

    if (nread == 0) { /* EAGAIN */
        free_empty_spill(s);
        return;
    }
    if (w != NULL && buf->base == s->rbuf) {
        /* The bytes are in the reader's buffer; keep reading active in case
         * it comes back before the next poll. */
        s->rwait = NULL;
        if (nread < 0) {
            stop_reading(s);
            s->rerror = (int)nread;
        }
        eddy_wait_wake(w, (int)nread);
        return;
    }
    stop_reading(s);
    if (nread > 0) {
        s->spill_end = (size_t)nread;
        return;
    }
    if (nread != UV_ENOBUFS)
        s->rerror = (int)nread; /* kept for the next eddy_read */
    free_empty_spill(s);
}

static void read_interrupted(eddy_wait_t *w)
{
    eddy_stream_t *s = w->data;
    s->rwait = NULL;
    stop_reading(s);
}

/* Hands out spilled bytes; frees the spill buffer once it is drained so
 * that idle streams hold no buffer. */
static size_t take_spill(eddy_stream_t *s, void *buf, size_t len)
{
    size_t n = eddy__min(len, s->spill_end - s->spill_start);
    memcpy(buf, s->spill + s->spill_start, n);
    s->spill_start += n;
    free_empty_spill(s);
    return n;
}

ssize_t eddy_read(eddy_stream_t *s, void *buf, size_t len)
{
    EDDY__CURRENT_OR_RETURN(t);
    eddy_wait_t w;
    int rc;

    (void)t;
    if (s->closing)
        return EDDY_ECLOSED;
    if (s->rwait != NULL)
        return UV_EBUSY;
    if (len == 0)
        return UV_EINVAL;
    if (s->spill_end > s->spill_start)
        return (ssize_t)take_spill(s, buf, len);
    if (s->rerror != 0)
        return s->rerror;

    eddy_wait_init(&w, read_interrupted);
    w.data = s;
    s->rwait = &w;
    s->rbuf = buf;
    s->rlen = len;
    if (!s->reading) {
        rc = uv_read_start(&s->u.stream, on_alloc, on_read);
        if (rc != 0) {
            s->rwait = NULL;
            return rc;
        }
        s->reading = true;
    }
    /* s may be freed once this returns (another task closed it). */
    return eddy_wait_park(&w, EDDY_FOREVER);
}

/* ----------------------------------------------------------------- write */

/* A write or shutdown request finished: wake its task if it still waits.
 * Requests failed by eddy_close report EDDY_ECLOSED. */
static void wake_request_waiter(eddy_wait_t *w, const eddy_stream_t *s, int status)
{
    if (w == NULL)
        return;
    if (status == UV_ECANCELED && s->closing)
        status = EDDY_ECLOSED;
    eddy_wait_wake(w, status);
}

typedef struct write_op {
    uv_write_t req;
    eddy_wait_t *wait; /* NULL once the task stopped waiting */
    char *copy;        /* the unwritten bytes, once the task stopped waiting */
    size_t total;      /* bytes the request was given */
    size_t *sent;      /* the waiting task's count, NULL once it stopped */
} write_op_t;

static void on_write(uv_write_t *req, int status)
{
    write_op_t *op = req->data;
    eddy_stream_t *s = req->handle->data;

    if (op->sent != NULL && status == 0)
        *op->sent += op->total;
    wake_request_waiter(op->wait, s, status);
    free(op->copy);
    free(op);
}

static size_t bufs_len(const uv_buf_t *bufs, size_t nbufs)
{
    size_t total = 0;
    for (size_t i = 0; i < nbufs; i++)
        total += bufs[i].len;
    return total;
}

/* The writing task stops waiting: copy what libuv has not written yet and
 * point the request at the copy.  This relies on libuv's unix write
 * request, which advances bufs[write_index] in place as bytes go out. */
static void write_interrupted(eddy_wait_t *w)
{
    write_op_t *op = w->data;
    uv_write_t *req = &op->req;
    size_t total = 0, off = 0;

    /* Indices only: libuv frees bufs once the request is done. */
    for (unsigned i = req->write_index; i < req->nbufs; i++)
        total += req->bufs[i].len;
    op->wait = NULL;
    *op->sent += op->total - total; /* what the socket took so far */
    op->sent = NULL;
    if (total == 0)
        return;
    op->copy = malloc(total);
    if (op->copy == NULL) {
        /* The caller's bytes cannot be kept: break the connection rather
         * than send a stream with a hole in it. */
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)req->handle, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
        for (unsigned i = req->write_index; i < req->nbufs; i++)
            req->bufs[i].len = 0;
        return;
    }
    for (unsigned i = req->write_index; i < req->nbufs; i++) {
        memcpy(op->copy + off, req->bufs[i].base, req->bufs[i].len);
        req->bufs[i].base = op->copy + off;
        off += req->bufs[i].len;
    }
}

/* Queues bufs (after the first `done` bytes) behind the writes libuv
 * holds.  With a wait, waits for it (adding to *sent what went out);
 * without, copies the bytes and leaves the write to the background. */
static int queue_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t done,
                       eddy_wait_t *w, size_t *sent)
{
    uv_buf_t inline_bufs[INLINE_BUFS], *rest = inline_bufs;
    write_op_t *op;
    size_t i = 0, n;
    int rc;

    while (done >= bufs[i].len) /* skip what was written */
        done -= bufs[i++].len;
    n = nbufs - i;
    if (n > INLINE_BUFS && (rest = malloc(n * sizeof(*rest))) == NULL)
        return UV_ENOMEM;
    memcpy(rest, bufs + i, n * sizeof(*rest));
    rest[0].base += done;
    rest[0].len -= done;

    op = malloc(sizeof(*op));
    if (op == NULL) {
        rc = UV_ENOMEM;
        goto out;
    }
    op->req.data = op;
    op->copy = NULL;
    op->wait = w;
    op->total = bufs_len(rest, n);
    op->sent = sent;
    if (w != NULL) {
        eddy_wait_init(w, write_interrupted);
        w->data = op;
    }
    /* uv_write copies the array of buffers, not the bytes. */
    rc = uv_write(&op->req, &s->u.stream, rest, (unsigned)n, on_write);
    if (rc != 0) {
        free(op);
        goto out;
    }
    if (w == NULL) {
        eddy_wait_t tmp = {.data = op};
        size_t ignored = 0;
        op->sent = &ignored;
        write_interrupted(&tmp); /* copies the bytes now */
    }
out:
    if (rest != inline_bufs)
        free(rest);
    return rc;
}

/* Waits for the write that queue_write queued.  libuv does not tell of a
 * queued write's progress, so the send timeout bounds it whole. */
static int write_queued(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t done,
                        size_t *sent)
{
    eddy_wait_t w;
    int rc = queue_write(s, bufs, nbufs, done, &w, sent);
    if (rc != 0)
        return rc;
    return eddy_wait_park(&w, s->send_timeout);
}

/* Skips k written bytes of the buffers *bufs..+*n (adjusting them in
 * place): true while bytes are left. */
static bool skip_written(uv_buf_t **bufs, size_t *n, size_t k)
{
    while (*n > 0 && k >= (*bufs)[0].len) {
        k -= (*bufs)[0].len;
        (*bufs)++;
        (*n)--;
    }
    if (*n == 0)
        return false;
    (*bufs)[0].base += k;
    (*bufs)[0].len -= k;
    return true;
}

/* Writes what is left as the socket takes it, waiting for room between
 * tries, so that the send timeout bounds each wait for progress rather
 * than the whole write.  Interrupted, it queues the rest in the
 * background (eddy_write's contract). */
static int write_as_room_comes(eddy_stream_t *s, uv_buf_t *rest, size_t n, size_t *sent)
{
    for (;;) {
        int rc = eddy__stream_wait_writable(s);
        if (rc < 0 && eddy__stream_no_wpoll(s, rc))
            return write_queued(s, rest, n, 0, sent); /* libuv's queue needs no descriptor */
        if (rc < 0) {
            /* Closed, s may be gone already. */
            if (rc != EDDY_ECLOSED && !s->closing)
                queue_write(s, rest, n, 0, NULL, NULL);
            return rc;
        }
        if (uv_stream_get_write_queue_size(&s->u.stream) > 0) /* someone used uv_write */
            return write_queued(s, rest, n, 0, sent);
        rc = uv_try_write(&s->u.stream, rest, (unsigned)n);
        if (rc == UV_EAGAIN)
            continue;
        if (rc < 0)
            return rc;
        *sent += (size_t)rc;
        if (!skip_written(&rest, &n, (size_t)rc))
            return 0;
    }
}

int eddy__write_locked(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t *sent)
{
    uv_buf_t inline_bufs[INLINE_BUFS], *rest = inline_bufs;
    size_t total = bufs_len(bufs, nbufs), n = nbufs;
    int rc;

    *sent = 0;
    if (s->closing)
        return EDDY_ECLOSED;
    if (total == 0)
        return 0;
    /* uv_try_write refuses while earlier writes are queued, which keeps
     * writes in order. */
    rc = uv_try_write(&s->u.stream, bufs, (unsigned)nbufs);
    if (rc >= 0 && (size_t)rc == total) {
        *sent = total;
        return 0;
    }
    if (rc < 0 && rc != UV_EAGAIN)
        return rc;
    *sent = rc < 0 ? 0 : (size_t)rc;
    if (uv_stream_get_write_queue_size(&s->u.stream) > 0)
        return write_queued(s, bufs, nbufs, *sent, sent);
    if (nbufs > INLINE_BUFS && (rest = malloc(nbufs * sizeof(*rest))) == NULL)
        return UV_ENOMEM;
    memcpy(rest, bufs, nbufs * sizeof(*rest));
    uv_buf_t *from = rest;
    skip_written(&from, &n, *sent);
    rc = write_as_room_comes(s, from, n, sent);
    if (rest != inline_bufs)
        free(rest);
    return rc;
}

int eddy__stream_wlock(eddy_stream_t *s)
{
    eddy__waiter_t wt;

    if (s->closing)
        return EDDY_ECLOSED;
    if (!s->wbusy) {
        s->wbusy = true;
        return 0;
    }
    /* Woken with 0, the turn was handed over: wbusy stays set. */
    return eddy__waitq_park(&s->writers, &wt, EDDY_FOREVER);
}

void eddy__stream_wunlock(eddy_stream_t *s)
{
    if (!eddy__waitq_wake_one(&s->writers, 0))
        s->wbusy = false;
}

int eddy_write_sent(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t *sent)
{
    EDDY__CURRENT_OR_RETURN(t);
    size_t ignored;
    int rc;

    (void)t;
    if (sent == NULL)
        sent = &ignored;
    *sent = 0;
    rc = eddy__stream_wlock(s);
    if (rc != 0)
        return rc;
    rc = eddy__write_locked(s, bufs, nbufs, sent);
    if (rc != EDDY_ECLOSED) /* else s may be gone already */
        eddy__stream_wunlock(s);
    return rc;
}

ssize_t eddy_try_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs)
{
    if (s->closing)
        return EDDY_ECLOSED;
    if (s->wbusy || uv_stream_get_write_queue_size(&s->u.stream) > 0)
        return 0;
    int rc = uv_try_write(&s->u.stream, bufs, (unsigned)nbufs);
    return rc == UV_EAGAIN ? 0 : rc;
}

int eddy_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs)
{
    return eddy_write_sent(s, bufs, nbufs, NULL);
}

int eddy_write_all(eddy_stream_t *s, const void *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (len > UINT_MAX)
        return UV_EINVAL;
    return eddy_write(s, &b, 1);
}

void eddy_stream_set_send_timeout(eddy_stream_t *s, uint64_t ms)
{
    s->send_timeout = ms;
}

int eddy_tcp_cork(eddy_stream_t *s, bool on)
{
    int v = on;
    uv_os_fd_t fd;

    if (s->kind != EDDY__STREAM_TCP)
        return UV_EINVAL;
    if (uv_fileno(&s->u.handle, &fd) != 0)
        return UV_EBADF;
    return setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)) == 0 ? 0 : -errno;
}

/* ------------------------------------------------------ waiting for room */

/* libuv lets one watcher own a descriptor, and the stream's is libuv's.
 * A dup(2) of the socket is a separate entry in epoll (epoll registers the
 * descriptor together with its open file), so a uv_poll on the dup learns
 * of room in the socket without a write queued in libuv and without a
 * copy.  The poll stays started after it wakes its task: a task that
 * fills the socket again before the next poll finds it armed, so a long
 * send costs no epoll_ctl per wait; a wake-up nobody waits for stops it. */
static void on_writable(uv_poll_t *p, int status, int events)
{
    eddy_stream_t *s = p->data;
    eddy_wait_t *w = s->wwait;

    (void)events;
    if (w == NULL || status < 0)
        uv_poll_stop(p);
    if (w == NULL)
        return;
    /* An error is left for the write that follows to report. */
    s->wwait = NULL;
    eddy_wait_wake(w, 0);
}

static void writable_interrupted(eddy_wait_t *w)
{
    eddy_stream_t *s = w->data;
    s->wwait = NULL;
    uv_poll_stop(s->wpoll);
}

static int wpoll_open(eddy_stream_t *s)
{
    int fd = eddy_stream_fd(s), rc;

    if (fd < 0)
        return fd;
    s->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (s->wfd < 0)
        return -errno;
    s->wpoll = malloc(sizeof(*s->wpoll));
    rc = s->wpoll == NULL ? UV_ENOMEM : uv_poll_init_socket(s->u.handle.loop, s->wpoll, s->wfd);
    if (rc != 0) {
        free(s->wpoll);
        s->wpoll = NULL;
        close(s->wfd);
        s->wfd = -1;
        return rc;
    }
    s->wpoll->data = s;
    return 0;
}

bool eddy__stream_no_wpoll(const eddy_stream_t *s, int rc)
{
    return (rc == UV_EMFILE || rc == UV_ENFILE || rc == UV_ENOMEM) && rc != EDDY_ECLOSED &&
           !s->closing && s->wpoll == NULL;
}

int eddy__stream_wait_writable(eddy_stream_t *s)
{
    eddy_wait_t w;
    int rc;

    if (s->closing)
        return EDDY_ECLOSED;
    if (s->wwait != NULL)
        return UV_EBUSY;
    if (s->wpoll == NULL && (rc = wpoll_open(s)) != 0)
        return rc;
    if (!uv_is_active((uv_handle_t *)s->wpoll) &&
        (rc = uv_poll_start(s->wpoll, UV_WRITABLE, on_writable)) != 0)
        return rc;
    eddy_wait_init(&w, writable_interrupted);
    w.data = s;
    s->wwait = &w;
    return eddy_wait_park(&w, s->send_timeout);
}

/* -------------------------------------------------------------- shutdown */

typedef struct shutdown_op {
    uv_shutdown_t req;
    eddy_wait_t *wait;
} shutdown_op_t;

static void on_shutdown(uv_shutdown_t *req, int status)
{
    shutdown_op_t *op = req->data;
    eddy_stream_t *s = req->handle->data;

    wake_request_waiter(op->wait, s, status);
    free(op);
}

static void shutdown_interrupted(eddy_wait_t *w)
{
    shutdown_op_t *op = w->data;
    op->wait = NULL;
}

int eddy_shutdown(eddy_stream_t *s)
{
    EDDY__CURRENT_OR_RETURN(t);
    shutdown_op_t *op;
    eddy_wait_t w;
    int rc;

    (void)t;
    if (s->closing)
        return EDDY_ECLOSED;
    op = malloc(sizeof(*op));
    if (op == NULL)
        return UV_ENOMEM;
    op->req.data = op;
    op->wait = &w;
    eddy_wait_init(&w, shutdown_interrupted);
    w.data = op;
    rc = uv_shutdown(&op->req, &s->u.stream, on_shutdown);
    if (rc != 0) {
        free(op);
        return rc;
    }
    return eddy_wait_park(&w, EDDY_FOREVER);
}

/* --------------------------------------------------------------- queries */

int eddy_stream_fd(const eddy_stream_t *s)
{
    uv_os_fd_t fd;
    int rc = uv_fileno(&s->u.handle, &fd);
    return rc != 0 ? rc : fd;
}

uv_stream_t *eddy_stream_handle(eddy_stream_t *s)
{
    return &s->u.stream;
}

bool eddy_stream_is_unix(const eddy_stream_t *s)
{
    return s->kind == EDDY__STREAM_PIPE;
}
