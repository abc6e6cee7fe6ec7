/* Awaitables as tasks: to_thread calls, sleeps, queue gets, event waits
 * and channel receives spawned as tasks, gathered, waited on and raced
 * beside each other without a wrapper task written for each. */
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

static int answer = 42;

static void *blocking_io(void *arg)
{
    usleep(20 * 1000); /* blocks its pool thread, not the loop */
    return &answer;
}

/* await asyncio.gather(asyncio.to_thread(blocking_io), asyncio.sleep(0.02)) */
static int gather_main(void *arg)
{
    eddy_task_t *ts[2];
    void *results[2];
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn_thread(&ts[0], blocking_io, NULL, NULL));
    ASSERT_OK(eddy_spawn_sleep(&ts[1], 20));
    ASSERT_OK(eddy_gather(ts, 2, results, NULL, 0));
    ASSERT_PTR_EQ(results[0], &answer);
    ASSERT_LT(test_since(t0), 1000 * test_scale()); /* side by side */
    eddy_detach(ts[0]);
    eddy_detach(ts[1]);
    return 0;
}

TEST_IMPL(forms_awaitable_gather_thread_and_sleep)
{
    ASSERT_OK(eddy_run(gather_main, NULL));
    return 0;
}

/* A race between a queue get, an event wait, a channel receive and a
 * long sleep: asyncio.wait(..., return_when=FIRST_COMPLETED). */
static eddy_queue_t q;
static eddy_event_t ev;
static eddy_chan_t ch;

static int feeder(void *arg)
{
    int v = 7;
    ASSERT_OK(eddy_sleep(5));
    ASSERT_OK(eddy_queue_put(&q, TEST_P(99)));
    ASSERT_OK(eddy_sleep(5));
    eddy_event_set(&ev);
    ASSERT_OK(eddy_sleep(5));
    return eddy_chan_send(&ch, &v);
}

static int race_main(void *arg)
{
    eddy_task_t *ts[4], *done[4], *pending[4], *t;
    eddy_as_completed_t it;
    int v = 0;

    ASSERT_OK(eddy_queue_init(&q, 0));
    eddy_event_init(&ev);
    ASSERT_OK(eddy_chan_init(&ch, 0, sizeof(int)));
    ASSERT_OK(eddy_spawn_queue_get(&ts[0], &q));
    ASSERT_OK(eddy_spawn_event_wait(&ts[1], &ev));
    ASSERT_OK(eddy_spawn_chan_recv(&ts[2], &ch, &v));
    ASSERT_OK(eddy_spawn_sleep(&ts[3], 60000));
    eddy_detach(test_spawn(feeder, NULL));

    ASSERT_EQ(eddy_wait_sets(ts, 4, EDDY_FIRST_COMPLETED, EDDY_FOREVER, done, pending), 1);
    ASSERT_PTR_EQ(done[0], ts[0]);
    ASSERT_EQ(TEST_I(eddy_result_ptr(ts[0])), 99);

    /* The rest in the order they finish; the sleep is cancelled. */
    ASSERT_OK(eddy_as_completed_init(&it, ts + 1, 2, EDDY_FOREVER));
    ASSERT_OK(eddy_as_completed_next(&it, &t));
    ASSERT_PTR_EQ(t, ts[1]);
    ASSERT_OK(eddy_as_completed_next(&it, &t));
    ASSERT_PTR_EQ(t, ts[2]);
    ASSERT_EQ(v, 7);
    eddy_as_completed_close(&it);
    ASSERT_ERR(eddy_wait_for(ts[3], 5, NULL), UV_ETIMEDOUT);
    ASSERT_TRUE(eddy_cancelled(ts[3]));
    for (int i = 0; i < 4; i++) {
        ASSERT_TRUE(eddy_done(ts[i]));
        eddy_detach(ts[i]);
    }
    eddy_queue_destroy(&q);
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(forms_awaitable_race)
{
    ASSERT_OK(eddy_run(race_main, NULL));
    return 0;
}

/* Cancelling a to_thread task once fn runs: the task ends when fn
 * returns, and fn's result goes to discard. */
static int discarded;

static void discard(void *result)
{
    ASSERT_PTR_EQ(result, &answer);
    discarded++;
}

static volatile int slow_started; /* set on the pool thread */

static void *slow_io(void *arg)
{
    __atomic_store_n(&slow_started, 1, __ATOMIC_SEQ_CST);
    usleep(50 * 1000);
    return &answer;
}

static int thread_cancel_main(void *arg)
{
    eddy_task_t *t;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn_thread(&t, slow_io, NULL, discard));
    while (!__atomic_load_n(&slow_started, __ATOMIC_SEQ_CST))
        ASSERT_OK(eddy_sleep(1));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_GE(test_since(t0), 45); /* waited for fn */
    ASSERT_EQ(discarded, 1);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(forms_awaitable_thread_cancel)
{
    ASSERT_OK(eddy_run(thread_cancel_main, NULL));
    return 0;
}
