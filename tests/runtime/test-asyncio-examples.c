/* The examples of Python's asyncio documentation (coroutines and tasks),
 * written with eddy, with the timings the documentation promises. */
#include "runner/helpers.h"
#include "runner/runner.h"

/* async def say_after(delay, what): await asyncio.sleep(delay); print(what)
 * Here "printing" appends to a log, so the order can be checked. */
static int said[8];
static size_t nsaid;

typedef struct say {
    uint64_t delay_ms;
    int what;
} say_t;

static int say_after(void *arg)
{
    say_t *s = arg;
    int rc = eddy_sleep(s->delay_ms);
    if (rc != 0)
        return rc;
    said[nsaid++] = s->what;
    eddy_set_result(s);
    return 0;
}

/* await asyncio.gather(sleep(1), sleep(1), sleep(1)): about 1 s. */
static int gather_main(void *arg)
{
    say_t says[3] = {{1000, 1}, {1000, 2}, {1000, 3}};
    eddy_task_t *ts[3];
    uint64_t t0 = test_ms();

    for (int i = 0; i < 3; i++)
        ASSERT_OK(eddy_spawn(&ts[i], say_after, &says[i], NULL));
    ASSERT_OK(eddy_gather(ts, 3, NULL, NULL, 0));
    ASSERT_BETWEEN(test_since(t0), 950, 1500 * test_scale());
    ASSERT_EQ(nsaid, 3);
    for (int i = 0; i < 3; i++)
        eddy_detach(ts[i]);
    return 0;
}

TEST_IMPL(asyncio_gather_runs_concurrently)
{
    ASSERT_OK(eddy_run(gather_main, NULL));
    return 0;
}

/* await say_after(1, ...) three times in a row: about 3 s. */
static int sequential_main(void *arg)
{
    say_t says[3] = {{1000, 1}, {1000, 2}, {1000, 3}};
    uint64_t t0 = test_ms();

    for (int i = 0; i < 3; i++) {
        eddy_task_t *t;
        ASSERT_OK(eddy_spawn(&t, say_after, &says[i], NULL));
        ASSERT_OK(eddy_join(t, NULL));
        eddy_detach(t);
    }
    ASSERT_BETWEEN(test_since(t0), 2950, 3600 * test_scale());
    ASSERT_EQ(nsaid, 3);
    return 0;
}

TEST_IMPL(asyncio_awaits_in_sequence)
{
    ASSERT_OK(eddy_run(sequential_main, NULL));
    return 0;
}

/* task1 = create_task(say_after(2, 'world')); task2 = create_task(
 * say_after(1, 'hello')); await task1; await task2: "hello" after 1 s,
 * "world" after 2 s, about 2 s in all. */
static int create_task_main(void *arg)
{
    say_t world = {2000, 2}, hello = {1000, 1};
    eddy_task_t *t1, *t2;
    void *res = NULL;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn(&t1, say_after, &world, NULL));
    ASSERT_OK(eddy_spawn(&t2, say_after, &hello, NULL));
    ASSERT_OK(eddy_join(t1, &res));
    ASSERT_PTR_EQ(res, &world);
    ASSERT_OK(eddy_join(t2, &res));
    ASSERT_PTR_EQ(res, &hello);
    ASSERT_BETWEEN(test_since(t0), 1950, 2500 * test_scale());
    ASSERT_EQ(nsaid, 2);
    ASSERT_EQ(said[0], 1);
    ASSERT_EQ(said[1], 2);
    eddy_detach(t1);
    eddy_detach(t2);
    return 0;
}

TEST_IMPL(asyncio_create_task_order)
{
    ASSERT_OK(eddy_run(create_task_main, NULL));
    return 0;
}

/* for coro in as_completed([sleep(1.5), sleep(0.5), sleep(2), sleep(1)]):
 * they come back shortest first. */
static int as_completed_main(void *arg)
{
    say_t says[4] = {{1500, 15}, {500, 5}, {2000, 20}, {1000, 10}};
    static const int expect[4] = {5, 10, 15, 20};
    eddy_task_t *ts[4], *t;
    eddy_as_completed_t it;
    uint64_t t0 = test_ms();

    for (int i = 0; i < 4; i++)
        ASSERT_OK(eddy_spawn(&ts[i], say_after, &says[i], NULL));
    ASSERT_OK(eddy_as_completed_init(&it, ts, 4, EDDY_FOREVER));
    for (int i = 0; i < 4; i++) {
        void *res = NULL;
        ASSERT_OK(eddy_as_completed_next(&it, &t));
        ASSERT_OK(eddy_join(t, &res));
        ASSERT_EQ(((say_t *)res)->what, expect[i]);
        /* Each arrives at its own time, not all at the end. */
        ASSERT_BETWEEN(test_since(t0), (uint64_t)expect[i] * 100 - 50,
                       (uint64_t)expect[i] * 100 + 400 * test_scale());
    }
    ASSERT_ERR(eddy_as_completed_next(&it, &t), UV_EOF);
    eddy_as_completed_close(&it);
    for (int i = 0; i < 4; i++)
        eddy_detach(ts[i]);
    return 0;
}

TEST_IMPL(asyncio_as_completed_order)
{
    ASSERT_OK(eddy_run(as_completed_main, NULL));
    return 0;
}

/* await asyncio.wait_for(eternity(), timeout=2): TimeoutError after 2 s;
 * eternity (a 10 s sleep) is cancelled. */
static int eternity_rc = 1;

static int eternity(void *arg)
{
    eternity_rc = eddy_sleep(10000);
    return eternity_rc;
}

static int wait_for_main(void *arg)
{
    eddy_task_t *t;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn(&t, eternity, NULL, NULL));
    ASSERT_ERR(eddy_wait_for(t, 2000, NULL), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 1950, 2500 * test_scale());
    ASSERT_TRUE(eddy_cancelled(t));
    ASSERT_ERR(eternity_rc, UV_ECANCELED);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(asyncio_wait_for_gives_up)
{
    ASSERT_OK(eddy_run(wait_for_main, NULL));
    return 0;
}

/* async with asyncio.timeout(2): await long_running_task() — the same
 * with a timeout scope. */
static int timeout_scope_main(void *arg)
{
    eddy_timeout_t s;
    uint64_t t0 = test_ms();

    eddy_timeout_enter(&s, 2000);
    ASSERT_ERR(eddy_sleep(10000), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 1950, 2500 * test_scale());
    return 0;
}

TEST_IMPL(asyncio_timeout_scope)
{
    ASSERT_OK(eddy_run(timeout_scope_main, NULL));
    return 0;
}
