/* Examples of the asyncio documentation that needed a wrapper task or an
 * enter/leave pair in eddy, rewritten with the short forms of
 * eddy/forms.h (each says what it replaced). */
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

/* def blocking_io(): time.sleep(0.3)
 * async def main():
 *     await asyncio.gather(asyncio.to_thread(blocking_io), asyncio.sleep(0.3))
 * Both run side by side: about 0.3 s, not 0.6.  Before: a task written
 * around eddy_to_thread and another around eddy_sleep. */
static void *blocking_io(void *arg)
{
    usleep(300 * 1000);
    return NULL;
}

static int to_thread_main(void *arg)
{
    eddy_task_t *ts[2];
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn_thread(&ts[0], blocking_io, NULL, NULL));
    ASSERT_OK(eddy_spawn_sleep(&ts[1], 300));
    ASSERT_OK(eddy_gather(ts, 2, NULL, NULL, 0));
    ASSERT_BETWEEN(test_since(t0), 295, 550 * test_scale());
    eddy_detach(ts[0]);
    eddy_detach(ts[1]);
    return 0;
}

TEST_IMPL(forms_example_to_thread_gather)
{
    ASSERT_OK(eddy_run(to_thread_main, NULL));
    return 0;
}

/* async with asyncio.timeout(0.2): await long_running_task()
 * Before: eddy_timeout_t, enter, leave, and a leave on every return. */
static int timeout_main(void *arg)
{
    int rc = 0;
    uint64_t t0 = test_ms();

    EDDY_WITH_TIMEOUT_RC(200, rc)
        eddy_sleep(10000);
    ASSERT_ERR(rc, UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 195, 700 * test_scale());
    return 0;
}

TEST_IMPL(forms_example_timeout_block)
{
    ASSERT_OK(eddy_run(timeout_main, NULL));
    return 0;
}

/* async def ticker(delay, to):
 *     for i in range(to): yield i; await asyncio.sleep(delay)
 * async for i in ticker(0.01, 5): ...
 * Before: a producer task, a queue, a sentinel (or shutdown) and the
 * consumer's loop around eddy_queue_get. */
static int ticker(eddy_gen_t *g, void *arg)
{
    int rc = 0;
    for (int i = 0; i < 5 && rc == 0; i++) {
        rc = eddy_gen_yield(g, &i);
        if (rc == 0)
            rc = eddy_sleep(10);
    }
    return rc == EDDY_ECLOSED ? 0 : rc;
}

static int ticker_main(void *arg)
{
    eddy_gen_t g;
    int i, sum = 0;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), ticker, NULL, NULL));
    while (eddy_gen_next(&g, &i) == 0)
        sum += i;
    ASSERT_EQ(sum, 10);
    ASSERT_GE(test_since(t0), 45);
    return 0;
}

TEST_IMPL(forms_example_async_generator)
{
    ASSERT_OK(eddy_run(ticker_main, NULL));
    return 0;
}

/* lock = asyncio.Lock()
 * async def worker(): async with lock: v = shared; await sleep(0); shared = v + 1
 * await asyncio.gather(*(worker() for _ in range(10))); assert shared == 10
 * Before: acquire, a release on each way out, and a join loop for the
 * int results (now eddy_spawn_int / eddy_join_int). */
static eddy_lock_t lock;
static int shared;

static int worker(int64_t id, int64_t *result)
{
    EDDY_WITH_LOCK(&lock) {
        int v = shared;
        if (eddy_yield() < 0)
            return UV_ECANCELED;
        shared = v + 1;
        *result = id;
    }
    return 0;
}

static int lock_main(void *arg)
{
    eddy_task_t *ts[10];
    int64_t sum = 0, v;

    eddy_lock_init(&lock);
    for (int i = 0; i < 10; i++)
        ASSERT_OK(eddy_spawn_int(&ts[i], worker, i, NULL));
    ASSERT_OK(eddy_gather(ts, 10, NULL, NULL, 0));
    for (int i = 0; i < 10; i++) {
        ASSERT_OK(eddy_join_int(ts[i], &v));
        sum += v;
        eddy_detach(ts[i]);
    }
    ASSERT_EQ(shared, 10);
    ASSERT_EQ(sum, 45);
    return 0;
}

TEST_IMPL(forms_example_lock_block)
{
    ASSERT_OK(eddy_run(lock_main, NULL));
    return 0;
}
