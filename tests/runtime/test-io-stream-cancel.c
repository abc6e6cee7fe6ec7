/* Streams: cancellation and timeouts of read, accept, connect and write;
 * eddy_close waking a parked reader; large writes to slow readers. */
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

typedef struct read_arg {
    eddy_stream_t *s;
    char buf[64];
    ssize_t n;
} read_arg_t;

static int read_some(void *arg)
{
    read_arg_t *ra = arg;
    ra->n = eddy_read(ra->s, ra->buf, sizeof(ra->buf));
    return ra->n < 0 ? (int)ra->n : 0;
}

static int cancel_read_main(void *arg)
{
    read_arg_t ra = {.n = 1};
    eddy_stream_t *a, *b;
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    ra.s = b;
    ASSERT_OK(eddy_spawn(&t, read_some, &ra, NULL));
    ASSERT_OK(eddy_sleep(10)); /* the reader parks */
    ASSERT_FALSE(eddy_done(t));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_ERR(ra.n, UV_ECANCELED);
    eddy_detach(t);

    /* The stream is still usable, and the bytes sent after the cancellation
     * reach the next reader. */
    ASSERT_OK(eddy_write_all(a, "after", 5));
    ASSERT_OK(eddy_sleep(10)); /* arrives while nobody reads */
    ASSERT_OK(eddy_write_all(a, "-more", 5));
    ASSERT_OK(eddy_sleep(10));
    ra.n = eddy_read(b, ra.buf, 3);
    ASSERT_EQ(ra.n, 3);
    ASSERT_EQ(memcmp(ra.buf, "aft", 3), 0);
    ra.n = eddy_read(b, ra.buf, sizeof(ra.buf));
    ASSERT_GE(ra.n, 2);
    ASSERT_EQ(memcmp(ra.buf, "er", 2), 0);
    if (ra.n == 2)
        ra.n = 2 + eddy_read(b, ra.buf + 2, sizeof(ra.buf) - 2);
    ASSERT_EQ(ra.n, 7);
    ASSERT_EQ(memcmp(ra.buf, "er-more", 7), 0);
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_stream_cancel_read)
{
    ASSERT_OK(eddy_run(cancel_read_main, NULL));
    return 0;
}

static int read_timeout_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_timeout_t scope;
    char buf[16];
    uint64_t t0;

    test_tcp_pair(&a, &b);
    t0 = test_ms();
    eddy_timeout_enter(&scope, 50);
    ASSERT_ERR(eddy_read(b, buf, sizeof(buf)), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&scope), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_ms() - t0, 45, 300 * test_scale());
    /* Data in time passes through a scope. */
    ASSERT_OK(eddy_write_all(a, "x", 1));
    eddy_timeout_enter(&scope, 1000);
    ASSERT_EQ(eddy_read(b, buf, sizeof(buf)), 1);
    ASSERT_OK(eddy_timeout_leave(&scope));
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_stream_read_timeout)
{
    ASSERT_OK(eddy_run(read_timeout_main, NULL));
    return 0;
}

/* Another task closes the stream a task is reading: the reader wakes with
 * EDDY_ECLOSED; a second reader at once gets UV_EBUSY. */
static int close_wakes_main(void *arg)
{
    read_arg_t ra = {.n = 1};
    eddy_stream_t *a, *b;
    eddy_task_t *t;
    char buf[4];

    test_tcp_pair(&a, &b);
    ra.s = b;
    ASSERT_OK(eddy_spawn(&t, read_some, &ra, NULL));
    ASSERT_ERR(eddy_read(b, buf, 0), UV_EINVAL);
    ASSERT_OK(eddy_yield());
    ASSERT_ERR(eddy_read(b, buf, sizeof(buf)), UV_EBUSY);
    eddy_close(b);
    ASSERT_ERR(eddy_join(t, NULL), EDDY_ECLOSED);
    ASSERT_ERR(ra.n, EDDY_ECLOSED);
    eddy_detach(t);
    /* The peer sees the end of the stream. */
    ASSERT_ERR(eddy_read(a, buf, sizeof(buf)), UV_EOF);
    eddy_close(a);
    eddy_close(NULL);
    return 0;
}

TEST_IMPL(io_stream_close_wakes_reader)
{
    ASSERT_OK(eddy_run(close_wakes_main, NULL));
    return 0;
}

typedef struct accept_arg {
    eddy_stream_t *server, *client;
} accept_arg_t;

static int accept_into(void *arg)
{
    accept_arg_t *aa = arg;
    return eddy_accept(aa->server, &aa->client);
}

static int cancel_accept_main(void *arg)
{
    accept_arg_t aa = {NULL, NULL};
    eddy_task_t *t1, *t2;
    eddy_stream_t *c;
    char port[16];

    ASSERT_OK(eddy_listen(&aa.server, "127.0.0.1:0", 0));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(aa.server));
    ASSERT_OK(eddy_spawn(&t1, accept_into, &aa, NULL));
    ASSERT_OK(eddy_sleep(5));
    eddy_cancel(t1);
    ASSERT_ERR(eddy_join(t1, NULL), UV_ECANCELED);
    eddy_detach(t1);
    ASSERT_NULL(aa.client);

    /* A timeout scope bounds the wait for a connection. */
    {
        eddy_timeout_t scope;
        eddy_stream_t *none = NULL;
        eddy_timeout_enter(&scope, 20);
        ASSERT_ERR(eddy_accept(aa.server, &none), UV_ETIMEDOUT);
        eddy_timeout_leave(&scope);
        ASSERT_NULL(none);
    }

    /* The server still accepts. */
    ASSERT_OK(eddy_spawn(&t1, accept_into, &aa, NULL));
    ASSERT_OK(eddy_connect(&c, "127.0.0.1", port));
    ASSERT_OK(eddy_join(t1, NULL));
    eddy_detach(t1);
    ASSERT_NOT_NULL(aa.client);
    eddy_close(aa.client);
    eddy_close(c);

    /* Closing the server wakes every acceptor with EDDY_ECLOSED. */
    aa.client = NULL;
    ASSERT_OK(eddy_spawn(&t1, accept_into, &aa, NULL));
    ASSERT_OK(eddy_spawn(&t2, accept_into, &aa, NULL));
    ASSERT_OK(eddy_sleep(5));
    eddy_close(aa.server);
    ASSERT_ERR(eddy_join(t1, NULL), EDDY_ECLOSED);
    ASSERT_ERR(eddy_join(t2, NULL), EDDY_ECLOSED);
    eddy_detach(t1);
    eddy_detach(t2);
    return 0;
}

TEST_IMPL(io_stream_cancel_accept)
{
    ASSERT_OK(eddy_run(cancel_accept_main, NULL));
    return 0;
}

typedef struct connect_arg {
    const char *host;
    char port[16];
    eddy_stream_t *s;
} connect_arg_t;

static int connect_task(void *arg)
{
    connect_arg_t *ca = arg;
    return eddy_connect(&ca->s, ca->host, ca->port);
}

/* Cancelled while connecting (TCP, Unix, and while resolving a name): no
 * stream, nothing leaks, and the next connect works. */
static int cancel_connect_main(void *arg)
{
    static const char *hosts[] = {"127.0.0.1", "localhost", "127.0.0.1"};
    connect_arg_t ca = {.s = NULL};
    eddy_stream_t *server;
    eddy_task_t *t;

    ASSERT_OK(eddy_listen(&server, "127.0.0.1:0", 0));
    snprintf(ca.port, sizeof(ca.port), "%d", eddy_stream_port(server));
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        ca.host = hosts[i];
        ASSERT_OK(eddy_spawn(&t, connect_task, &ca, NULL));
        if (i < 2)
            ASSERT_OK(eddy_yield()); /* cancel it while parked */
        eddy_cancel(t);              /* i == 2: before it starts */
        ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
        eddy_detach(t);
        ASSERT_NULL(ca.s);
    }
    /* A connection the kernel completed meanwhile is accepted and ends. */
    ca.host = "127.0.0.1";
    ASSERT_OK(connect_task(&ca));
    eddy_close(ca.s);
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_stream_cancel_connect)
{
    ASSERT_OK(eddy_run(cancel_connect_main, NULL));
    return 0;
}

/* ------------------------------------------------------------ big writes */

#define BIG (16u * 1024u * 1024u)

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static unsigned char *big_buffer(void)
{
    unsigned char *p = malloc(BIG);
    ASSERT_NOT_NULL(p);
    for (size_t i = 0; i < BIG; i++)
        p[i] = pattern_byte(i);
    return p;
}

typedef struct slow_reader {
    eddy_stream_t *s;
    size_t got;
    size_t pause_every; /* sleep 1 ms after this many reads */
    char trailer[8];
} slow_reader_t;

/* Reads BIG bytes checking the pattern, slowly, then what follows to EOF. */
static int read_big(void *arg)
{
    slow_reader_t *sr = arg;
    static char buf[64 * 1024];
    size_t reads = 0, tlen = 0;
    ssize_t n;

    while ((n = eddy_read(sr->s, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (sr->got < BIG) {
                if ((unsigned char)buf[i] != pattern_byte(sr->got))
                    TEST__FAIL("byte %zu differs", sr->got);
                sr->got++;
            } else if (tlen < sizeof(sr->trailer) - 1) {
                sr->trailer[tlen++] = buf[i];
            }
        }
        if (sr->pause_every && ++reads % sr->pause_every == 0)
            ASSERT_OK(eddy_sleep(1));
    }
    ASSERT_ERR(n, UV_EOF);
    return 0;
}

static int big_write_main(void *arg)
{
    slow_reader_t sr = {.pause_every = 8};
    unsigned char *big = big_buffer();
    eddy_stream_t *a, *b;
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    sr.s = b;
    ASSERT_OK(eddy_spawn(&t, read_big, &sr, NULL));
    ASSERT_OK(eddy_write_all(a, big, BIG));
    ASSERT_OK(eddy_write_all(a, "END", 3));
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_EQ(sr.got, BIG);
    ASSERT_STR_EQ(sr.trailer, "END");
    free(big);
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_stream_write_large_slow_reader)
{
    ASSERT_OK(eddy_run(big_write_main, NULL));
    return 0;
}

typedef struct writer_arg {
    eddy_stream_t *s;
    unsigned char *buf;
    int rc;
} writer_arg_t;

static int write_big(void *arg)
{
    writer_arg_t *wa = arg;
    wa->rc = eddy_write_all(wa->s, wa->buf, BIG);
    /* Once eddy_write returned the buffer is the caller's again. */
    memset(wa->buf, 0xee, BIG);
    free(wa->buf);
    wa->buf = NULL;
    return 0;
}

/* A write cancelled while the peer is not reading still delivers every
 * byte in order, followed by what is written after it. */
static int cancelled_write_main(void *arg)
{
    writer_arg_t wa;
    slow_reader_t sr = {.pause_every = 0};
    eddy_stream_t *a, *b;
    eddy_task_t *tw, *tr;

    test_tcp_pair(&a, &b);
    wa.s = a;
    wa.buf = big_buffer();
    wa.rc = 1;
    ASSERT_OK(eddy_spawn(&tw, write_big, &wa, NULL));
    ASSERT_OK(eddy_sleep(20)); /* the socket buffers fill; the write parks */
    ASSERT_FALSE(eddy_done(tw));
    eddy_cancel(tw);
    ASSERT_OK(eddy_join(tw, NULL));
    eddy_detach(tw);
    ASSERT_ERR(wa.rc, UV_ECANCELED);
    ASSERT_NULL(wa.buf);

    sr.s = b;
    ASSERT_OK(eddy_spawn(&tr, read_big, &sr, NULL));
    ASSERT_OK(eddy_write_all(a, "END", 3)); /* goes out behind the rest */
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(tr, NULL));
    eddy_detach(tr);
    ASSERT_EQ(sr.got, BIG);
    ASSERT_STR_EQ(sr.trailer, "END");
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_stream_write_cancelled_delivers_all)
{
    ASSERT_OK(eddy_run(cancelled_write_main, NULL));
    return 0;
}

/* The stream closes under a pending write and shutdown: EDDY_ECLOSED. */
static int close_pending_write_main(void *arg)
{
    writer_arg_t wa;
    eddy_stream_t *a, *b;
    eddy_task_t *tw;

    test_tcp_pair(&a, &b);
    wa.s = a;
    wa.buf = big_buffer();
    ASSERT_OK(eddy_spawn(&tw, write_big, &wa, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_close(a);
    ASSERT_OK(eddy_join(tw, NULL));
    eddy_detach(tw);
    ASSERT_ERR(wa.rc, EDDY_ECLOSED);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_stream_close_fails_pending_write)
{
    ASSERT_OK(eddy_run(close_pending_write_main, NULL));
    return 0;
}
