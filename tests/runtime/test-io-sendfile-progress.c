/* The send timeout (eddy_stream_set_send_timeout) bounds each wait for the
 * peer to take bytes, not the whole write: eddy_write and eddy_fs_sendfile
 * to a slow reader that keeps reading finish however long they take, and
 * to a reader that stops fail with UV_ETIMEDOUT about the timeout later,
 * with the bytes that left counted.  Concurrent writers take turns, and
 * TCP_CORK holds small writes back. */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define TIMEOUT_MS 300

typedef struct reader {
    eddy_stream_t *s;
    size_t want;    /* stop after this many bytes (0: never read) */
    uint64_t pause; /* ms between reads */
    size_t got;
    char first[2];   /* the first byte of each writer (turn test) */
    size_t switches; /* how often the byte value changed */
} reader_t;

static int reader_task(void *arg)
{
    static char buf[32 * KiB];
    reader_t *r = arg;
    char last = 0;

    if (r->want == 0)
        return eddy_sleep(EDDY_FOREVER); /* until cancelled */
    while (r->got < r->want) {
        ssize_t n = eddy_read(r->s, buf, sizeof(buf));
        if (n <= 0)
            return (int)n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != last)
                r->switches++;
            last = buf[i];
        }
        r->got += (size_t)n;
        if (r->pause > 0)
            ASSERT_OK(eddy_sleep(r->pause));
    }
    return 0;
}

/* A connected pair whose sending end has a small buffer, so that the
 * writer waits for the reader from the first MiB on. */
static void pair(eddy_stream_t **rd, eddy_stream_t **wr)
{
    int small = 64 * KiB;
    test_tcp_pair(rd, wr);
    ASSERT_EQ(setsockopt(eddy_stream_fd(*wr), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    ASSERT_EQ(setsockopt(eddy_stream_fd(*rd), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    eddy_stream_set_send_timeout(*wr, TIMEOUT_MS);
}

static char path[64];

static int make_file(size_t size)
{
    int fd;
    strcpy(path, "/tmp/eddy-progress-XXXXXX");
    fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, (off_t)size), 0);
    return fd;
}

/* Sends size bytes from memory (file < 0) or the file. */
static int send_some(eddy_stream_t *wr, int file, size_t size, size_t *sent)
{
    if (file >= 0)
        return eddy_fs_sendfile_sent(wr, file, 0, size, sent);
    char *data = calloc(1, size);
    uv_buf_t b = uv_buf_init(data, (unsigned)size);
    ASSERT_NOT_NULL(data);
    int rc = eddy_write_sent(wr, &b, 1, sent);
    free(data);
    return rc;
}

static int slow_reader_main(void *arg)
{
    for (int use_file = 0; use_file < 2; use_file++) {
        const size_t size = 4 * MiB;
        eddy_stream_t *rd, *wr;
        int file = use_file ? make_file(size) : -1;
        size_t sent = 0;

        pair(&rd, &wr);
        /* 32 KiB per 10 ms at most: well over 3 timeouts in all. */
        reader_t r = {.s = rd, .want = size, .pause = 10};
        eddy_task_t *t = test_spawn(reader_task, &r);
        uint64_t t0 = test_ms();
        ASSERT_OK(send_some(wr, file, size, &sent));
        ASSERT_EQ(sent, size);
        ASSERT_OK(test_reap(t));
        ASSERT_GT(test_since(t0), 3 * TIMEOUT_MS);
        ASSERT_EQ(r.got, size);
        eddy_close(rd);
        eddy_close(wr);
        if (file >= 0) {
            close(file);
            unlink(path);
        }
    }
    (void)arg;
    return 0;
}

TEST_IMPL(io_send_timeout_slow_reader_served)
{
    ASSERT_OK(eddy_run(slow_reader_main, NULL));
    return 0;
}

static int stalled_reader_main(void *arg)
{
    for (int use_file = 0; use_file < 2; use_file++) {
        const size_t size = 32 * MiB;
        eddy_stream_t *rd, *wr;
        int file = use_file ? make_file(size) : -1;
        size_t sent = 0;

        pair(&rd, &wr);
        reader_t r = {.s = rd, .want = 0};
        eddy_task_t *t = test_spawn(reader_task, &r);
        uint64_t t0 = test_ms();
        ASSERT_ERR(send_some(wr, file, size, &sent), UV_ETIMEDOUT);
        /* Not before the timeout; the upper bound only allows for a loaded
         * machine. */
        ASSERT_BETWEEN(test_since(t0), TIMEOUT_MS - 20, (uint64_t)(5000 * test_scale()));
        /* What filled the buffers left; the rest did not. */
        ASSERT_GT(sent, 0);
        ASSERT_LT(sent, size);
        eddy_cancel(t);
        ASSERT_ERR(test_reap(t), UV_ECANCELED);
        eddy_close(rd);
        eddy_close(wr);
        if (file >= 0) {
            close(file);
            unlink(path);
        }
    }
    (void)arg;
    return 0;
}

TEST_IMPL(io_send_timeout_stalled_reader_cut)
{
    ASSERT_OK(eddy_run(stalled_reader_main, NULL));
    return 0;
}

typedef struct writer {
    eddy_stream_t *s;
    char byte;
    size_t len;
} writer_t;

static int writer_task(void *arg)
{
    writer_t *w = arg;
    char *data = malloc(w->len);
    ASSERT_NOT_NULL(data);
    memset(data, w->byte, w->len);
    int rc = eddy_write_all(w->s, data, w->len);
    free(data);
    return rc;
}

/* Two writers that both wait for room: the second's bytes follow the
 * first's whole, never in the middle of them. */
static int turns_main(void *arg)
{
    eddy_stream_t *rd, *wr;
    pair(&rd, &wr);
    writer_t a = {wr, 'a', 2 * MiB}, b = {wr, 'b', 2 * MiB};
    reader_t r = {.s = rd, .want = 4 * MiB, .pause = 1};
    eddy_task_t *ta = test_spawn(writer_task, &a);
    eddy_task_t *tb = test_spawn(writer_task, &b);
    eddy_task_t *tr = test_spawn(reader_task, &r);
    ASSERT_OK(test_reap(ta));
    ASSERT_OK(test_reap(tb));
    ASSERT_OK(test_reap(tr));
    ASSERT_EQ(r.got, 4 * MiB);
    ASSERT_EQ(r.switches, 2); /* 0 -> 'a' -> 'b' */
    eddy_close(rd);
    eddy_close(wr);
    (void)arg;
    return 0;
}

TEST_IMPL(io_write_turns_keep_writes_whole)
{
    ASSERT_OK(eddy_run(turns_main, NULL));
    return 0;
}

/* TCP_CORK holds a small write back (for up to 200 ms) until it is turned
 * off, so that a head and the file after it share segments. */
static int cork_main(void *arg)
{
    eddy_stream_t *rd, *wr;
    struct pollfd p;
    char buf[16];

    test_tcp_pair(&rd, &wr);
    ASSERT_OK(eddy_tcp_cork(wr, true));
    ASSERT_OK(eddy_write_all(wr, "head", 4));
    p.fd = eddy_stream_fd(rd);
    p.events = POLLIN;
    ASSERT_EQ(poll(&p, 1, 50), 0); /* held back */
    ASSERT_OK(eddy_tcp_cork(wr, false));
    ASSERT_EQ(eddy_read(rd, buf, sizeof(buf)), 4);
    eddy_close(rd);
    eddy_close(wr);
    (void)arg;
    return 0;
}

TEST_IMPL(io_tcp_cork_holds_small_writes)
{
    ASSERT_OK(eddy_run(cork_main, NULL));
    return 0;
}

/* Waiting for room takes a descriptor (a dup of the socket for a uv_poll).
 * With none left (EMFILE), writes and sendfile go through libuv's write
 * queue instead: the bytes all arrive, none is cut. */
static int no_fd_main(void *arg)
{
    for (int use_file = 0; use_file < 2; use_file++) {
        const size_t size = 2 * MiB;
        eddy_stream_t *rd, *wr;
        test_fds_t fds;
        int file = use_file ? make_file(size) : -1;
        size_t sent = 0;

        pair(&rd, &wr);
        reader_t r = {.s = rd, .want = size};
        eddy_task_t *t = test_spawn(reader_task, &r);
        test_fds_use_up(&fds);
        ASSERT_OK(send_some(wr, file, size, &sent));
        ASSERT_EQ(sent, size);
        ASSERT_OK(test_reap(t));
        ASSERT_EQ(r.got, size);
        test_fds_give_back(&fds);
        eddy_close(rd);
        eddy_close(wr);
        if (file >= 0) {
            close(file);
            unlink(path);
        }
    }
    (void)arg;
    return 0;
}

TEST_IMPL(io_send_without_spare_descriptor)
{
    /* valgrind keeps descriptors of its own above the soft limit. */
    if (test_under_wrapper())
        return TEST_SKIP;
    ASSERT_OK(eddy_run(no_fd_main, NULL));
    return 0;
}
