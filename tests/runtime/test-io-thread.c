/* eddy_to_thread: results, cancellation before and after the job starts,
 * and the asyncio tutorial's to_thread example. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "runner/runner.h"

/* The pool size is fixed at its first use; pin it for these tests. */
#define POOL 4

static void pin_pool(void)
{
    ASSERT_OK(setenv("UV_THREADPOOL_SIZE", "4", 1));
}

static pthread_t loop_thread;

static void *twice(void *arg)
{
    ASSERT_FALSE(pthread_equal(pthread_self(), loop_thread)); /* not on the loop */
    return (void *)((intptr_t)arg * 2);
}

static int call_twice(void *arg)
{
    void *res = NULL;
    ASSERT_OK(eddy_to_thread(twice, arg, &res, NULL));
    ASSERT_EQ((intptr_t)res, (intptr_t)arg * 2);
    return 0;
}

static int result_main(void *arg)
{
    eddy_task_t *ts[20];

    loop_thread = pthread_self();
    ASSERT_OK(call_twice((void *)21));
    /* More callers than threads: they queue, and every one gets its own. */
    for (intptr_t i = 0; i < 20; i++)
        ASSERT_OK(eddy_spawn(&ts[i], call_twice, (void *)i, NULL));
    ASSERT_OK(eddy_gather(ts, 20, NULL, NULL, 0));
    for (int i = 0; i < 20; i++)
        eddy_detach(ts[i]);
    return 0;
}

TEST_IMPL(io_thread_result)
{
    pin_pool();
    ASSERT_ERR(eddy_to_thread(twice, NULL, NULL, NULL), EDDY_ENOTASK);
    ASSERT_OK(eddy_run(result_main, NULL));
    return 0;
}

/* ----------------------------------------------------------- cancelling */

static atomic_int ran;
static atomic_int release; /* lets the blocking jobs finish */

static void *block_until_released(void *arg)
{
    while (!atomic_load(&release))
        usleep(1000);
    atomic_fetch_add(&ran, 1);
    return arg;
}

static void *must_not_run(void *arg)
{
    TEST__FAIL("a job cancelled before it started ran");
    return NULL;
}

static int occupy(void *arg)
{
    void *res = NULL;
    ASSERT_OK(eddy_to_thread(block_until_released, arg, &res, NULL));
    ASSERT_PTR_EQ(res, arg);
    return 0;
}

static int queued(void *arg)
{
    return eddy_to_thread(must_not_run, NULL, NULL, NULL);
}

static int queued_in_scope(void *arg)
{
    eddy_timeout_t scope;
    int rc;
    eddy_timeout_enter(&scope, 20);
    rc = eddy_to_thread(must_not_run, NULL, NULL, NULL);
    eddy_timeout_leave(&scope);
    return rc;
}

static int before_start_main(void *arg)
{
    eddy_task_t *busy[POOL], *q, *qs;
    uint64_t t0;

    /* Every pool thread is taken by a job that blocks until released. */
    for (intptr_t i = 0; i < POOL; i++)
        ASSERT_OK(eddy_spawn(&busy[i], occupy, (void *)(i + 1), NULL));
    ASSERT_OK(eddy_sleep(20));
    ASSERT_OK(eddy_spawn(&q, queued, NULL, NULL));
    ASSERT_OK(eddy_spawn(&qs, queued_in_scope, NULL, NULL));
    ASSERT_OK(eddy_yield()); /* both park behind the busy jobs */
    t0 = test_ms();
    eddy_cancel(q);
    /* Cancelled while queued: it returns at once, not when a thread frees. */
    ASSERT_ERR(eddy_join(q, NULL), UV_ECANCELED);
    ASSERT_ERR(eddy_join(qs, NULL), UV_ETIMEDOUT);
    ASSERT_LT(test_ms() - t0, 200 * test_scale());
    ASSERT_EQ(atomic_load(&ran), 0);
    eddy_detach(q);
    eddy_detach(qs);

    atomic_store(&release, 1);
    ASSERT_OK(eddy_gather(busy, POOL, NULL, NULL, 0));
    ASSERT_EQ(atomic_load(&ran), POOL);
    for (int i = 0; i < POOL; i++)
        eddy_detach(busy[i]);
    return 0;
}

TEST_IMPL(io_thread_cancel_before_start)
{
    pin_pool();
    ASSERT_OK(eddy_run(before_start_main, NULL));
    return 0;
}

static atomic_int started;
static void *discarded;
static int ndiscarded;

static void *slow_job(void *arg)
{
    atomic_store(&started, 1);
    usleep(200 * 1000);
    return arg;
}

static void discard(void *result)
{
    discarded = result;
    ndiscarded++;
}

static int call_slow(void *arg)
{
    void *res = NULL;
    int rc = eddy_to_thread(slow_job, arg, &res, discard);
    ASSERT_NULL(res); /* an interrupted call hands out nothing */
    return rc;
}

static int after_start_main(void *arg)
{
    static int cookie;
    eddy_task_t *t;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn(&t, call_slow, &cookie, NULL));
    while (!atomic_load(&started))
        ASSERT_OK(eddy_sleep(1));
    eddy_cancel(t);
    /* The job cannot be stopped: the call waits for it (arg may live on
     * the caller's stack), discards its result, then reports the
     * cancellation. */
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_GE(test_ms() - t0, 190);
    ASSERT_EQ(ndiscarded, 1);
    ASSERT_PTR_EQ(discarded, &cookie);
    eddy_detach(t);

    /* The cancellation was delivered once: the next call works. */
    ASSERT_OK(call_twice((void *)5));
    return 0;
}

TEST_IMPL(io_thread_cancel_after_start)
{
    pin_pool();
    loop_thread = pthread_self();
    ASSERT_OK(eddy_run(after_start_main, NULL));
    return 0;
}

/* ------------------------------------------------- the asyncio tutorial */

/* asyncio's docs: blocking_io() sleeps 2 s in a thread while the event loop
 * goes on with asyncio.sleep(1) and asyncio.sleep(4); gathered, the whole
 * takes about 4 s, not 7. */
static uint64_t t_start, t_blocking_done;

static void *blocking_io(void *arg)
{
    sleep(2);
    return arg;
}

static int run_blocking(void *arg)
{
    void *res = NULL;
    ASSERT_OK(eddy_to_thread(blocking_io, arg, &res, NULL));
    t_blocking_done = test_ms();
    ASSERT_PTR_EQ(res, arg);
    return 0;
}

static int async_sleep(void *arg)
{
    return eddy_sleep((uint64_t)(uintptr_t)arg);
}

static int tutorial_main(void *arg)
{
    eddy_task_t *ts[3];
    int statuses[3];
    uint64_t total;

    t_start = test_ms();
    ASSERT_OK(eddy_spawn(&ts[0], run_blocking, &ts, NULL));
    ASSERT_OK(eddy_spawn(&ts[1], async_sleep, (void *)1000, NULL));
    ASSERT_OK(eddy_spawn(&ts[2], async_sleep, (void *)4000, NULL));
    ASSERT_OK(eddy_gather(ts, 3, NULL, statuses, 0));
    total = test_ms() - t_start;
    ASSERT_BETWEEN(t_blocking_done - t_start, 1950, 2500 * test_scale());
    ASSERT_BETWEEN(total, 3900, 4800 * test_scale());
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(statuses[i]);
        eddy_detach(ts[i]);
    }
    return 0;
}

TEST_IMPL(io_thread_tutorial_gather)
{
    ASSERT_OK(eddy_run(tutorial_main, NULL));
    return 0;
}
