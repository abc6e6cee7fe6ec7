/* Async generators (eddy_gen_*): lazy bodies yielding one item per
 * eddy_gen_next, close and cancel from either side, errors, and the line
 * loops over a stream (eddy_gen_lines, EDDY_FOR_LINES). */
#include "runner/helpers.h"
#include "runner/runner.h"

static int started, yielded, cleaned;

/* async def count(n): for i in range(1, n + 1): yield i */
static int count(eddy_gen_t *g, void *arg)
{
    int rc = 0;
    started++;
    for (int i = 1; i <= TEST_I(arg); i++) {
        yielded++;
        rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            break;
    }
    if (rc == EDDY_ECLOSED)
        cleaned = eddy_sleep(1) == 0 ? 1 : -1; /* cleanup may still wait */
    return rc == EDDY_ECLOSED ? 0 : rc;
}

static int gen_basic_main(void *arg)
{
    eddy_gen_t g;
    int v, sum = 0, rc;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), count, TEST_P(5), NULL));
    test_settle(3);
    ASSERT_EQ(started, 0); /* lazy: nothing runs before the first next */
    while ((rc = eddy_gen_next(&g, &v)) == 0) {
        ASSERT_EQ(yielded, v); /* one item at a time, none ahead */
        sum += v;
    }
    ASSERT_ERR(rc, UV_EOF);
    ASSERT_EQ(sum, 15);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EOF);
    ASSERT_OK(eddy_gen_close(&g)); /* optional once ended */
    return 0;
}

TEST_IMPL(forms_gen_basic)
{
    ASSERT_OK(eddy_run(gen_basic_main, NULL));
    return 0;
}

/* The consumer stops early: the body's yield gets EDDY_ECLOSED and its
 * cleanup runs (and may wait) before close returns. */
static int gen_close_main(void *arg)
{
    eddy_gen_t g, never;
    int v;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), count, TEST_P(100), NULL));
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_EQ(v, 2);
    ASSERT_OK(eddy_gen_close(&g));
    ASSERT_EQ(cleaned, 1);
    ASSERT_EQ(yielded, 2);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EOF);

    /* Closed before its first item: the body never runs. */
    ASSERT_OK(eddy_gen_start(&never, sizeof(int), count, TEST_P(100), NULL));
    ASSERT_OK(eddy_gen_close(&never));
    ASSERT_EQ(started, 1);
    return 0;
}

TEST_IMPL(forms_gen_close_early)
{
    ASSERT_OK(eddy_run(gen_close_main, NULL));
    return 0;
}

/* A body that is slow to produce: an interrupted next loses nothing, and
 * a close while the body waits elsewhere cancels that wait. */
static int slow_rc;

static int slow(eddy_gen_t *g, void *arg)
{
    for (int i = 1;; i++) {
        int rc = eddy_sleep((uint64_t)TEST_I(arg));
        if (rc != 0) {
            slow_rc = rc;
            return rc;
        }
        rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            return rc;
    }
}

static int gen_slow_main(void *arg)
{
    eddy_gen_t g;
    eddy_timeout_t s;
    int v = 0;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), slow, TEST_P(40), NULL));
    eddy_timeout_enter(&s, 5);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ETIMEDOUT);
    eddy_timeout_leave(&s);
    ASSERT_OK(eddy_gen_next(&g, &v)); /* the item asked for before */
    ASSERT_EQ(v, 1);
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_EQ(v, 2);

    /* Interrupted again, then closed while the body sleeps. */
    eddy_timeout_enter(&s, 5);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ETIMEDOUT);
    eddy_timeout_leave(&s);
    ASSERT_OK(eddy_gen_close(&g));
    ASSERT_ERR(slow_rc, UV_ECANCELED);
    return 0;
}

TEST_IMPL(forms_gen_slow_body)
{
    ASSERT_OK(eddy_run(gen_slow_main, NULL));
    return 0;
}

/* A failing body: the consumer gets its error, then again on every call. */
static int two_then_fail(eddy_gen_t *g, void *arg)
{
    for (int i = 1; i <= 2; i++)
        ASSERT_OK(eddy_gen_yield(g, &i));
    return UV_EIO;
}

static eddy_gen_t cancelled_gen;

/* The body cancels itself through its generator (the other side). */
static int self_cancel(eddy_gen_t *g, void *arg)
{
    int one = 1;
    ASSERT_OK(eddy_gen_yield(g, &one));
    eddy_gen_cancel(g);
    return eddy_gen_yield(g, &one);
}

static int gen_errors_main(void *arg)
{
    eddy_gen_t g;
    int v;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), two_then_fail, NULL, NULL));
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EIO);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EIO);
    ASSERT_ERR(eddy_gen_close(&g), UV_EIO);

    /* Cancelled by the consumer while parked in its yield. */
    ASSERT_OK(eddy_gen_start(&g, sizeof(int), count, TEST_P(10), NULL));
    ASSERT_OK(eddy_gen_next(&g, &v));
    eddy_gen_cancel(&g);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ECANCELED);

    /* Cancelled from the body's side. */
    ASSERT_OK(eddy_gen_start(&cancelled_gen, sizeof(int), self_cancel, NULL, NULL));
    ASSERT_OK(eddy_gen_next(&cancelled_gen, &v));
    ASSERT_ERR(eddy_gen_next(&cancelled_gen, &v), UV_ECANCELED);
    return 0;
}

TEST_IMPL(forms_gen_errors_and_cancel)
{
    ASSERT_OK(eddy_run(gen_errors_main, NULL));
    return 0;
}

/* ------------------------------------------------------------------ lines */

static const char text[] = "one\ntwo two\n\nlast";

static int writer(void *arg)
{
    eddy_stream_t *s = arg;
    ASSERT_OK(eddy_write_all(s, text, 5));
    ASSERT_OK(eddy_sleep(5)); /* the rest in a second segment */
    ASSERT_OK(eddy_write_all(s, text + 5, sizeof(text) - 6));
    eddy_close(s);
    return 0;
}

static int lines_main(void *arg)
{
    static const char *want[] = {"one\n", "two two\n", "\n", "last"};
    eddy_stream_t *a, *b;
    eddy_reader_t r;
    eddy_gen_t g;
    eddy_line_t line;
    int n = 0, rc = 1;

    /* async for line in reader (a generator). */
    test_tcp_pair(&a, &b);
    eddy_detach(test_spawn(writer, a));
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    ASSERT_OK(eddy_gen_lines(&g, &r));
    while ((rc = eddy_gen_next(&g, &line)) == 0) {
        ASSERT_EQ(line.len, strlen(want[n]));
        ASSERT_OK(memcmp(line.data, want[n], line.len));
        n++;
    }
    ASSERT_ERR(rc, UV_EOF);
    ASSERT_EQ(n, 4);
    eddy_reader_free(&r);
    eddy_close(b);

    /* The same with EDDY_FOR_LINES, breaking out after two lines. */
    test_tcp_pair(&a, &b);
    eddy_detach(test_spawn(writer, a));
    ASSERT_OK(eddy_reader_init(&r, b, 0));
    n = 0;
    EDDY_FOR_LINES(&r, l, rc) {
        ASSERT_EQ(l.len, strlen(want[n]));
        ASSERT_OK(memcmp(l.data, want[n], l.len));
        if (++n == 2)
            break;
    }
    ASSERT_EQ(rc, UV_EOF); /* untouched by the break */
    EDDY_FOR_LINES(&r, l, rc)
        n++;
    ASSERT_OK(rc);
    ASSERT_EQ(n, 4);
    eddy_reader_free(&r);
    eddy_close(b);
    return 0;
}

TEST_IMPL(forms_gen_lines)
{
    ASSERT_OK(eddy_run(lines_main, NULL));
    return 0;
}

/* EDDY_GEN_AHEAD: the body runs from its spawn, one item ahead of the
 * consumer, and a close reaches it in the yield that offers an item. */
static int gen_ahead_main(void *arg)
{
    eddy_spawn_opts_t opts = {.name = "ahead", .flags = EDDY_GEN_AHEAD};
    eddy_gen_t g;
    int v, sum = 0, rc;

    started = yielded = cleaned = 0;
    ASSERT_OK(eddy_gen_start(&g, sizeof(int), count, TEST_P(4), &opts));
    test_settle(3);
    ASSERT_EQ(started, 1); /* ran up to its first yield */
    ASSERT_EQ(yielded, 1);
    while ((rc = eddy_gen_next(&g, &v)) == 0)
        sum += v;
    ASSERT_ERR(rc, UV_EOF);
    ASSERT_EQ(sum, 10);

    yielded = 0;
    ASSERT_OK(eddy_gen_start(&g, sizeof(int), count, TEST_P(100), &opts));
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_EQ(v, 1);
    test_settle(3);
    ASSERT_EQ(yielded, 2); /* the next item is offered already */
    ASSERT_OK(eddy_gen_close(&g));
    ASSERT_EQ(cleaned, 1); /* its cleanup ran, and could wait */
    return 0;
}

TEST_IMPL(forms_gen_ahead)
{
    ASSERT_OK(eddy_run(gen_ahead_main, NULL));
    return 0;
}
