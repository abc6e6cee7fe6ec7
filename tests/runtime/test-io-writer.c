/* The writer: queued writes in order, drain with a peer that stops reading
 * (blocking, a timeout scope, resuming), errors, close in the background. */
#include "runner/helpers.h"
#include "runner/runner.h"

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 11);
}

/* Reads to EOF checking the pattern; counts bytes. */
typedef struct sink {
    eddy_stream_t *s;
    size_t got;
} sink_t;

static int sink_all(void *arg)
{
    sink_t *sk = arg;
    static char buf[64 * 1024];
    ssize_t n;
    while ((n = eddy_read(sk->s, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++, sk->got++)
            if ((unsigned char)buf[i] != pattern_byte(sk->got))
                TEST__FAIL("byte %zu differs", sk->got);
    }
    ASSERT_ERR(n, UV_EOF);
    return 0;
}

static size_t written; /* bytes of the pattern handed to the writer */

static int write_pattern(eddy_writer_t *w, size_t len)
{
    unsigned char buf[4096];
    while (len > 0) {
        size_t k = len < sizeof(buf) ? len : sizeof(buf);
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern_byte(written + i);
        int rc = eddy_writer_write(w, buf, k);
        if (rc != 0)
            return rc;
        written += k;
        len -= k;
    }
    return 0;
}

/* Thousands of small writes never wait, arrive in order, and go out in few
 * system calls. */
static int small_writes_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_writer_t w;
    sink_t sk = {.got = 0};
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    sk.s = b;
    ASSERT_OK(eddy_spawn(&t, sink_all, &sk, NULL));
    ASSERT_OK(eddy_writer_init(&w, a, 0, 0));
    for (int i = 0; i < 20000; i++)
        ASSERT_OK(write_pattern(&w, 1 + (size_t)i % 37));
    ASSERT_LE(eddy_writer_pending(&w), written);
    ASSERT_OK(eddy_writer_write(&w, "", 0));
    ASSERT_OK(eddy_writer_close(&w));
    ASSERT_EQ(eddy_writer_pending(&w), 0);
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_EQ(sk.got, written);
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_writer_small_writes)
{
    ASSERT_OK(eddy_run(small_writes_main, NULL));
    return 0;
}

/* A peer that stops reading: drain blocks; a timeout scope ends the wait
 * with UV_ETIMEDOUT; once the peer reads again, drain returns 0 with no
 * more than the low-water mark pending. */
static int drain_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_writer_t w;
    eddy_timeout_t scope;
    sink_t sk = {.got = 0};
    eddy_task_t *t;
    uint64_t t0;
    int rc = 0;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_writer_init(&w, a, 64 * 1024, 16 * 1024));
    /* Below the high-water mark drain does not wait. */
    ASSERT_OK(write_pattern(&w, 1000));
    ASSERT_OK(eddy_writer_drain(&w));

    /* Fill the socket buffers until drain has to wait. */
    t0 = test_ms();
    eddy_timeout_enter(&scope, 100);
    while (rc == 0) {
        ASSERT_OK(write_pattern(&w, 64 * 1024));
        rc = eddy_writer_drain(&w);
    }
    eddy_timeout_leave(&scope);
    ASSERT_ERR(rc, UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_ms() - t0, 95, 2000 * test_scale());
    ASSERT_GT(eddy_writer_pending(&w), 64 * 1024);

    /* The peer resumes. */
    sk.s = b;
    ASSERT_OK(eddy_spawn(&t, sink_all, &sk, NULL));
    ASSERT_OK(eddy_writer_drain(&w));
    ASSERT_LE(eddy_writer_pending(&w), 16 * 1024);
    ASSERT_OK(write_pattern(&w, 300 * 1024));
    ASSERT_OK(eddy_writer_drain(&w));
    ASSERT_OK(eddy_writer_close(&w));
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_EQ(sk.got, written);
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_writer_drain_flow_control)
{
    ASSERT_OK(eddy_run(drain_main, NULL));
    return 0;
}

/* Closing the writer while the peer does not read, cancelled: the pending
 * bytes still reach the peer, in order, before what is written next. */
typedef struct close_arg {
    eddy_writer_t *w;
    int rc;
} close_arg_t;

static int close_writer(void *arg)
{
    close_arg_t *ca = arg;
    ca->rc = eddy_writer_close(ca->w);
    return 0;
}

static int close_cancelled_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_writer_t w;
    close_arg_t ca = {.w = &w, .rc = 1};
    sink_t sk = {.got = 0};
    eddy_task_t *t, *tr;
    unsigned char tail[1000];

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_writer_init(&w, a, 0, 0));
    ASSERT_OK(write_pattern(&w, 8u << 20));
    ASSERT_OK(eddy_spawn(&t, close_writer, &ca, NULL));
    ASSERT_OK(eddy_sleep(10));
    ASSERT_FALSE(eddy_done(t));
    eddy_cancel(t);
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_ERR(ca.rc, UV_ECANCELED);

    sk.s = b;
    ASSERT_OK(eddy_spawn(&tr, sink_all, &sk, NULL));
    for (size_t i = 0; i < sizeof(tail); i++)
        tail[i] = pattern_byte(written + i);
    written += sizeof(tail);
    ASSERT_OK(eddy_write_all(a, tail, sizeof(tail)));
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(tr, NULL));
    eddy_detach(tr);
    ASSERT_EQ(sk.got, written);
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_writer_close_cancelled_delivers)
{
    ASSERT_OK(eddy_run(close_cancelled_main, NULL));
    return 0;
}

/* The peer goes away: the stream's error comes back from write (and stays),
 * and from close. */
static int error_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_writer_t w;
    char buf[1024] = {0};
    int rc = 0;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_writer_init(&w, a, 0, 0));
    eddy_close(b);
    ASSERT_OK(eddy_sleep(10));
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = eddy_writer_write(&w, buf, sizeof(buf));
        if (rc == 0)
            rc = eddy_writer_drain(&w);
        if (rc == 0)
            rc = eddy_yield();
    }
    ASSERT_TRUE(rc == UV_EPIPE || rc == UV_ECONNRESET);
    ASSERT_ERR(eddy_writer_write(&w, buf, 1), rc);
    ASSERT_ERR(eddy_writer_drain(&w), rc);
    ASSERT_ERR(eddy_writer_close(&w), rc);
    eddy_close(a);
    return 0;
}

TEST_IMPL(io_writer_peer_gone)
{
    ASSERT_OK(eddy_run(error_main, NULL));
    return 0;
}

/* Closing the stream under a writer with a write in flight: EDDY_ECLOSED. */
static int stream_closed_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_writer_t w;
    close_arg_t ca = {.w = &w, .rc = 1};
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_writer_init(&w, a, 0, 0));
    ASSERT_OK(write_pattern(&w, 8u << 20));
    ASSERT_OK(eddy_spawn(&t, close_writer, &ca, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_close(a);
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_ERR(ca.rc, EDDY_ECLOSED);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_writer_stream_closed)
{
    ASSERT_OK(eddy_run(stream_closed_main, NULL));
    return 0;
}
