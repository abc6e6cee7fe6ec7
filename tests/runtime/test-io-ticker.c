/* Periodic timers: ticks on schedule, missed ticks coalesced, interruption,
 * close, and an idle ticker not keeping the loop alive. */
#include "runner/runner.h"

static int five_ticks_main(void *arg)
{
    eddy_ticker_t *tk;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_ticker_open(&tk, 50));
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(eddy_ticker_wait(tk), 1);
    /* The loop clock may lag the real one a little at open. */
    ASSERT_BETWEEN(test_ms() - t0, 240, 250 + 100 * test_scale());
    eddy_ticker_close(tk);
    return 0;
}

TEST_IMPL(ticker_five_ticks)
{
    ASSERT_OK(eddy_run(five_ticks_main, NULL));
    return 0;
}

static int coalesce_main(void *arg)
{
    /* Slow machines (valgrind) get longer periods. */
    uint64_t p = (uint64_t)(50 * test_scale());
    uint64_t t0 = test_ms(), t1;
    eddy_ticker_t *tk;

    ASSERT_OK(eddy_ticker_open(&tk, p));
    ASSERT_EQ(eddy_ticker_wait(tk), 1); /* at 1 p */
    ASSERT_OK(eddy_sleep(p * 34 / 10)); /* to 4.4 p: ticks 2, 3 and 4 fall */
    t1 = test_ms();
    ASSERT_EQ(eddy_ticker_wait(tk), 3); /* at once, coalesced */
    ASSERT_LE(test_ms() - t1, p / 3);
    /* The schedule keeps its phase: the next tick is the fifth, at 5 p. */
    ASSERT_EQ(eddy_ticker_wait(tk), 1);
    ASSERT_BETWEEN(test_ms() - t0, 5 * p - 10, 5 * p + 2 * p);
    eddy_ticker_close(tk);
    return 0;
}

TEST_IMPL(ticker_coalesces_missed_ticks)
{
    ASSERT_OK(eddy_run(coalesce_main, NULL));
    return 0;
}

static int wait_once(void *arg)
{
    return eddy_ticker_wait(arg);
}

static int cancel_main(void *arg)
{
    eddy_ticker_t *tk;
    eddy_task_t *t;
    eddy_timeout_t scope;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_ticker_open(&tk, 1000));
    ASSERT_OK(eddy_spawn(&t, wait_once, tk, NULL));
    ASSERT_OK(eddy_sleep(20));
    ASSERT_ERR(eddy_ticker_wait(tk), UV_EBUSY); /* one waiter at a time */
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    eddy_detach(t);
    ASSERT_LE(test_ms() - t0, 200 * test_scale());

    /* A timeout scope interrupts the wait just as well. */
    eddy_timeout_enter(&scope, 30);
    ASSERT_ERR(eddy_ticker_wait(tk), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&scope), UV_ETIMEDOUT);
    ASSERT_LE(test_ms() - t0, 300 * test_scale());

    /* The interrupted waits left the ticker usable: the first tick comes. */
    ASSERT_EQ(eddy_ticker_wait(tk), 1);
    ASSERT_BETWEEN(test_ms() - t0, 990, 1000 + 200 * test_scale());
    eddy_ticker_close(tk);
    return 0;
}

TEST_IMPL(ticker_cancel_while_waiting)
{
    ASSERT_OK(eddy_run(cancel_main, NULL));
    return 0;
}

static int close_main(void *arg)
{
    eddy_ticker_t *tk;
    eddy_task_t *t;

    ASSERT_OK(eddy_ticker_open(&tk, 1000));
    ASSERT_OK(eddy_spawn(&t, wait_once, tk, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_ticker_close(tk);
    ASSERT_ERR(eddy_join(t, NULL), EDDY_ECLOSED);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(ticker_close_wakes_waiter)
{
    ASSERT_OK(eddy_run(close_main, NULL));
    return 0;
}

static int idle_main(void *arg)
{
    eddy_ticker_t *tk;
    int rc;

    ASSERT_OK(eddy_ticker_open(&tk, 10));
    /* Nobody waits on the ticker, so nothing can end this sleep: the
     * runtime must see the deadlock and cancel it. */
    rc = eddy_sleep(EDDY_FOREVER);
    eddy_ticker_close(tk);
    ASSERT_ERR(rc, UV_ECANCELED);
    return 0;
}

TEST_IMPL(ticker_idle_does_not_keep_loop_alive)
{
    /* Broken by cancelling main, and still reported as a deadlock. */
    ASSERT_ERR(eddy_run(idle_main, NULL), EDDY_EDEADLOCK);
    ASSERT_ERR(eddy_ticker_open(&(eddy_ticker_t *){NULL}, 10), EDDY_ENOTASK);
    return 0;
}

static int invalid_main(void *arg)
{
    eddy_ticker_t *tk;
    ASSERT_ERR(eddy_ticker_open(&tk, 0), UV_EINVAL);
    ASSERT_NULL(tk);
    return 0;
}

TEST_IMPL(ticker_open_invalid)
{
    ASSERT_OK(eddy_run(invalid_main, NULL));
    return 0;
}
