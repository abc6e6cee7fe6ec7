/* The buffered reader: readline, readuntil, readexactly and read, with
 * fragmented input, limit overruns, incomplete reads and cancellation. */
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "runner/helpers.h"
#include "runner/runner.h"

/* Sends a script of writes, each after a short pause so that it arrives as
 * its own read, then half-closes. */
typedef struct script {
    eddy_stream_t *s;
    const char *const *parts;
    bool shutdown;
} script_t;

static int play(void *arg)
{
    script_t *sc = arg;
    for (const char *const *p = sc->parts; *p != NULL; p++) {
        ASSERT_OK(eddy_write_all(sc->s, *p, strlen(*p)));
        ASSERT_OK(eddy_sleep(2));
    }
    if (sc->shutdown)
        ASSERT_OK(eddy_shutdown(sc->s));
    return 0;
}

static eddy_task_t *start_script(script_t *sc, eddy_stream_t *s, const char *const *parts)
{
    eddy_task_t *t;
    sc->s = s;
    sc->parts = parts;
    sc->shutdown = true;
    ASSERT_OK(eddy_spawn(&t, play, sc, NULL));
    return t;
}

static void finish(eddy_task_t *t, eddy_stream_t *a, eddy_stream_t *b)
{
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    eddy_close(a);
    eddy_close(b);
}

#define ASSERT_LINE(r, expect)                                                                     \
    do {                                                                                           \
        const char *l_;                                                                            \
        ssize_t n_ = eddy_reader_readline(r, &l_);                                                 \
        ASSERT_EQ(n_, strlen(expect));                                                             \
        ASSERT_EQ(memcmp(l_, expect, (size_t)n_), 0);                                              \
    } while (0)

static int readline_main(void *arg)
{
    static const char *const parts[] = {"fir", "st\nsec", "ond\n", "\nthird\nfour", "th", NULL};
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    script_t sc;
    const char *l;
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    t = start_script(&sc, a, parts);
    ASSERT_LINE(&r, "first\n");
    ASSERT_LINE(&r, "second\n");
    ASSERT_LINE(&r, "\n");
    ASSERT_LINE(&r, "third\n");
    ASSERT_LINE(&r, "fourth"); /* the last line has no newline */
    ASSERT_EQ(eddy_reader_readline(&r, &l), 0);
    ASSERT_EQ(eddy_reader_readline(&r, &l), 0);
    eddy_reader_free(&r);
    finish(t, a, b);
    return 0;
}

TEST_IMPL(io_reader_readline)
{
    ASSERT_OK(eddy_run(readline_main, NULL));
    return 0;
}

static int readuntil_main(void *arg)
{
    static const char *const parts[] = {"GET / HTTP/1.1\r", "\nHost: x\r\n\r", "\nbody-tail", NULL};
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    script_t sc;
    const char *d;
    char buf[32];
    eddy_task_t *t;
    ssize_t n;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    t = start_script(&sc, a, parts);
    ASSERT_ERR(eddy_reader_readuntil(&r, "", 0, &d), UV_EINVAL);
    n = eddy_reader_readuntil(&r, "\r\n\r\n", 4, &d);
    ASSERT_EQ(n, 27);
    ASSERT_EQ(memcmp(d, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 0);
    /* The stream ends before another separator: the rest stays readable. */
    ASSERT_ERR(eddy_reader_readuntil(&r, "\r\n\r\n", 4, &d), EDDY_EINCOMPLETE);
    ASSERT_EQ(eddy_reader_buffered(&r), 9);
    n = eddy_reader_read(&r, buf, sizeof(buf));
    ASSERT_EQ(n, 9);
    ASSERT_EQ(memcmp(buf, "body-tail", 9), 0);
    ASSERT_ERR(eddy_reader_readuntil(&r, "\n", 1, &d), UV_EOF);
    ASSERT_EQ(eddy_reader_read(&r, buf, sizeof(buf)), 0);
    eddy_reader_free(&r);
    finish(t, a, b);
    return 0;
}

TEST_IMPL(io_reader_readuntil)
{
    ASSERT_OK(eddy_run(readuntil_main, NULL));
    return 0;
}

static int limit_main(void *arg)
{
    static const char *const parts[] = {"0123456789", "abcdef|", "ghij", "klmnopqrstuvwxyz", NULL};
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    script_t sc;
    const char *d;
    char buf[32];
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 16));
    t = start_script(&sc, a, parts);
    /* The separator ends at byte 17: one past the limit. */
    ASSERT_ERR(eddy_reader_readuntil(&r, "|", 1, &d), EDDY_ELIMIT);
    ASSERT_EQ(eddy_reader_buffered(&r), 17); /* nothing consumed */
    ASSERT_OK(eddy_reader_readexactly(&r, buf, 1));
    ASSERT_EQ(eddy_reader_readuntil(&r, "|", 1, &d), 16); /* now it fits */
    ASSERT_EQ(memcmp(d, "123456789abcdef|", 16), 0);
    /* No separator within 16 bytes at all. */
    ASSERT_ERR(eddy_reader_readuntil(&r, "|", 1, &d), EDDY_ELIMIT);
    ASSERT_GE(eddy_reader_buffered(&r), 16);
    ASSERT_ERR(eddy_reader_readline(&r, &d), EDDY_ELIMIT);
    ASSERT_OK(eddy_reader_readexactly(&r, buf, 20));
    ASSERT_EQ(memcmp(buf, "ghijklmnopqrstuvwxyz", 20), 0);
    eddy_reader_free(&r);
    finish(t, a, b);
    return 0;
}

TEST_IMPL(io_reader_limit_overrun)
{
    ASSERT_OK(eddy_run(limit_main, NULL));
    return 0;
}

static int readexactly_main(void *arg)
{
    static const char *const parts[] = {"ab", "cdefg", "hij", "0123456789", NULL};
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    script_t sc;
    char buf[32];
    eddy_task_t *t;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    t = start_script(&sc, a, parts);
    ASSERT_OK(eddy_reader_readexactly(&r, buf, 4));
    ASSERT_EQ(memcmp(buf, "abcd", 4), 0);
    ASSERT_OK(eddy_reader_readexactly(&r, buf, 6));
    ASSERT_EQ(memcmp(buf, "efghij", 6), 0);
    ASSERT_OK(eddy_reader_readexactly(&r, buf, 0));
    /* 10 bytes are left when the stream ends: 12 is incomplete, and the 10
     * stay readable. */
    ASSERT_ERR(eddy_reader_readexactly(&r, buf, 12), EDDY_EINCOMPLETE);
    ASSERT_EQ(eddy_reader_buffered(&r), 10);
    ASSERT_EQ(eddy_reader_read(&r, buf, 4), 4);
    ASSERT_EQ(memcmp(buf, "0123", 4), 0);
    ASSERT_EQ(eddy_reader_read(&r, buf, sizeof(buf)), 6);
    ASSERT_EQ(memcmp(buf, "456789", 6), 0);
    ASSERT_ERR(eddy_reader_readexactly(&r, buf, 1), EDDY_EINCOMPLETE);
    ASSERT_EQ(eddy_reader_read(&r, buf, sizeof(buf)), 0);
    eddy_reader_free(&r);
    finish(t, a, b);
    return 0;
}

TEST_IMPL(io_reader_readexactly)
{
    ASSERT_OK(eddy_run(readexactly_main, NULL));
    return 0;
}

/* ------------------------------------------------------ large and cancel */

#define BIG (1u << 20)

typedef struct exact_arg {
    eddy_reader_t *r;
    char *dst;
    size_t n;
} exact_arg_t;

static int read_exact_task(void *arg)
{
    exact_arg_t *ea = arg;
    return eddy_reader_readexactly(ea->r, ea->dst, ea->n);
}

/* Waits until every byte written to a has been read from b: nothing in
 * a's send queue nor in b's receive queue (bounded by the test scale). */
static void wait_drained(eddy_stream_t *a, eddy_stream_t *b)
{
    int out = 1, in = 1;
    for (int i = 0; i < 2000 * test_scale(); i++) {
        ASSERT_OK(ioctl(eddy_stream_fd(a), SIOCOUTQ, &out));
        ASSERT_OK(ioctl(eddy_stream_fd(b), FIONREAD, &in));
        if (out == 0 && in == 0)
            break;
        ASSERT_OK(eddy_sleep(1));
    }
    ASSERT_EQ(out, 0);
    ASSERT_EQ(in, 0);
}

/* A readexactly cancelled half-way (its bytes going straight into the
 * caller's memory) loses nothing: the next one gets every byte. */
static int cancel_exact_main(void *arg)
{
    char *src = malloc(BIG), *dst = malloc(BIG);
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    exact_arg_t ea;
    eddy_task_t *t;

    for (size_t i = 0; i < BIG; i++)
        src[i] = (char)(i * 7 + i / 251);
    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    /* 90 bytes wait in the reader's buffer. */
    ASSERT_OK(eddy_write_all(a, src, 100));
    ASSERT_OK(eddy_reader_readexactly(&r, dst, 10));
    ASSERT_EQ(eddy_reader_buffered(&r), 90);

    ea = (exact_arg_t){.r = &r, .dst = dst + 10, .n = BIG - 10};
    ASSERT_OK(eddy_spawn(&t, read_exact_task, &ea, NULL));
    ASSERT_OK(eddy_write_all(a, src + 100, BIG / 2 - 100));
    wait_drained(a, b); /* the first half has arrived */
    ASSERT_FALSE(eddy_done(t));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    eddy_detach(t);
    ASSERT_EQ(eddy_reader_buffered(&r), BIG / 2 - 10);

    memset(dst + 10, 0, BIG - 10);
    ASSERT_OK(eddy_write_all(a, src + BIG / 2, BIG / 2));
    ASSERT_OK(eddy_reader_readexactly(&r, dst + 10, BIG - 10));
    ASSERT_EQ(memcmp(dst, src, BIG), 0);
    eddy_reader_free(&r);
    eddy_close(a);
    eddy_close(b);
    free(src);
    free(dst);
    return 0;
}

TEST_IMPL(io_reader_readexactly_cancelled)
{
    ASSERT_OK(eddy_run(cancel_exact_main, NULL));
    return 0;
}

static int timeout_line_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    eddy_timeout_t scope;
    const char *l;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    ASSERT_OK(eddy_write_all(a, "partial", 7));
    eddy_timeout_enter(&scope, 30);
    ASSERT_ERR(eddy_reader_readline(&r, &l), UV_ETIMEDOUT);
    eddy_timeout_leave(&scope);
    ASSERT_EQ(eddy_reader_buffered(&r), 7);
    ASSERT_OK(eddy_write_all(a, " line\n", 6));
    ASSERT_LINE(&r, "partial line\n");
    eddy_reader_free(&r);
    eddy_close(a);
    eddy_close(b);
    return 0;
}

TEST_IMPL(io_reader_readline_timeout)
{
    ASSERT_OK(eddy_run(timeout_line_main, NULL));
    return 0;
}

/* Many lines in big writes: lines cross buffer boundaries and the buffer
 * moves and grows. */
static const char digits[] = "01234567890123456789012345678901234567890123456789"
                             "01234567890123456789012345678901234567890123456789";

static int many_lines_writer(void *arg)
{
    eddy_stream_t *s = arg;
    char *chunk = malloc(100000);
    size_t len = 0;
    for (int i = 0; i < 20000; i++) {
        len += (size_t)sprintf(chunk + len, "line %d %.*s\n", i, i % 97, digits);
        if (len > 90000) {
            ASSERT_OK(eddy_write_all(s, chunk, len));
            len = 0;
        }
    }
    ASSERT_OK(eddy_write_all(s, chunk, len));
    ASSERT_OK(eddy_shutdown(s));
    free(chunk);
    return 0;
}

static int many_lines_main(void *arg)
{
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    eddy_task_t *t;
    char expect[160];
    const char *l;
    ssize_t n;
    int i = 0;

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_reader_init(&r, b, 200));
    ASSERT_OK(eddy_spawn(&t, many_lines_writer, a, NULL));
    while ((n = eddy_reader_readline(&r, &l)) > 0) {
        int len = sprintf(expect, "line %d %.*s\n", i, i % 97, digits);
        ASSERT_EQ(n, len);
        ASSERT_EQ(memcmp(l, expect, (size_t)len), 0);
        i++;
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(i, 20000);
    eddy_reader_free(&r);
    finish(t, a, b);
    return 0;
}

TEST_IMPL(io_reader_many_lines)
{
    ASSERT_OK(eddy_run(many_lines_main, NULL));
    return 0;
}
