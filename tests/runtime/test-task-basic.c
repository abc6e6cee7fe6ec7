/* Tasks: run, spawn, join, results, yield, sleep, names, teardown. */
#include "runner/helpers.h"
#include "runner/runner.h"

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static int main_returns(void *arg)
{
    (void)arg;
    return 42;
}

TEST_IMPL(run_returns_main_status)
{
    ASSERT_EQ(eddy_run(main_returns, NULL), 42);
    /* Outside a task, waiting calls refuse. */
    ASSERT_ERR(eddy_sleep(1), EDDY_ENOTASK);
    ASSERT_ERR(eddy_yield(), EDDY_ENOTASK);
    ASSERT_NULL(eddy_current());
    ASSERT_NULL(eddy_loop());
    return 0;
}

static int set_result(void *arg)
{
    eddy_set_result(arg);
    return 7;
}

static int spawn_join_main(void *arg)
{
    eddy_task_t *t;
    void *res = NULL;
    static int cookie;
    eddy_spawn_opts_t opts = {.name = "child-with-a-name"};

    ASSERT_OK(eddy_spawn(&t, set_result, &cookie, &opts));
    ASSERT_STR_EQ(eddy_task_name(t), "child-with-a-name");
    ASSERT_FALSE(eddy_done(t));
    ASSERT_ERR(eddy_status(t), UV_EBUSY);
    ASSERT_EQ(eddy_join(t, &res), 7);
    ASSERT_PTR_EQ(res, &cookie);
    ASSERT_TRUE(eddy_done(t));
    ASSERT_FALSE(eddy_cancelled(t));
    ASSERT_EQ(eddy_status(t), 7);
    /* Joining again returns the same at once. */
    ASSERT_EQ(eddy_join(t, NULL), 7);
    eddy_detach(t);
    ASSERT_STR_EQ(eddy_task_name(eddy_current()), "main");
    return 0;
}

TEST_IMPL(spawn_join_result)
{
    ASSERT_OK(eddy_run(spawn_join_main, NULL));
    return 0;
}

static int order[8];
static int norder;

static int record(void *arg)
{
    order[norder++] = (int)(intptr_t)arg;
    eddy_yield();
    order[norder++] = (int)(intptr_t)arg + 10;
    return 0;
}

static int order_main(void *arg)
{
    eddy_task_t *a, *b;
    ASSERT_OK(eddy_spawn(&a, record, (void *)1, NULL));
    ASSERT_OK(eddy_spawn(&b, record, (void *)2, NULL));
    /* Spawned tasks start on the next loop turn, not before. */
    ASSERT_EQ(norder, 0);
    ASSERT_OK(eddy_join(a, NULL));
    ASSERT_OK(eddy_join(b, NULL));
    eddy_detach(a);
    eddy_detach(b);
    return 0;
}

TEST_IMPL(spawn_order_and_yield)
{
    ASSERT_OK(eddy_run(order_main, NULL));
    ASSERT_EQ(norder, 4);
    ASSERT_EQ(order[0], 1);
    ASSERT_EQ(order[1], 2);
    ASSERT_EQ(order[2], 11);
    ASSERT_EQ(order[3], 12);
    return 0;
}

static int sleep_main(void *arg)
{
    uint64_t t0 = test_ms();
    ASSERT_OK(eddy_sleep(100));
    ASSERT_BETWEEN(test_ms() - t0, 95, 300 * test_scale());
    return 0;
}

TEST_IMPL(sleep_duration)
{
    ASSERT_OK(eddy_run(sleep_main, NULL));
    return 0;
}

static int detached_ran;

static int detached(void *arg)
{
    eddy_sleep(10);
    detached_ran++;
    return 0;
}

static int detached_main(void *arg)
{
    ASSERT_OK(eddy_spawn(NULL, detached, NULL, NULL));
    ASSERT_OK(eddy_sleep(50));
    ASSERT_EQ(detached_ran, 1);
    return 0;
}

TEST_IMPL(spawn_detached)
{
    ASSERT_OK(eddy_run(detached_main, NULL));
    return 0;
}

static int deep(int n)
{
    volatile char pad[256];
    pad[0] = (char)n;
    if (n == 0) {
        eddy_yield(); /* wait at depth */
        return pad[0];
    }
    return deep(n - 1) + pad[0];
}

static int deep_task(void *arg)
{
    return deep(100);
}

static int deep_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, deep_task, NULL, NULL));
    ASSERT_EQ(eddy_join(t, NULL), 5050);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(wait_at_call_depth)
{
    ASSERT_OK(eddy_run(deep_main, NULL));
    return 0;
}

static int many_main(void *arg)
{
    /* Each spawned task holds its stack from eddy_spawn on: under valgrind
     * (EDDY_TEST_WRAPPER) 100k at once exceed its table of mappings. */
    const int N = test_under_wrapper() ? 10000 : 100000;
    eddy_task_t **ts = malloc(N * sizeof(*ts));
    long sum = 0;
    for (int i = 0; i < N; i++)
        ASSERT_OK(eddy_spawn(&ts[i], return_arg, (void *)(intptr_t)(i % 7), NULL));
    for (int i = 0; i < N; i++) {
        sum += eddy_join(ts[i], NULL);
        eddy_detach(ts[i]);
    }
    free(ts);
    long expect = 0;
    for (int i = 0; i < N; i++)
        expect += i % 7;
    ASSERT_EQ(sum, expect);
    return 0;
}

TEST_IMPL(spawn_join_100k)
{
    ASSERT_OK(eddy_run(many_main, NULL));
    return 0;
}

static uv_timer_t leftover;

static int leave_handle_open(void *arg)
{
    uv_timer_init(eddy_loop(), &leftover);
    uv_timer_start(&leftover, (uv_timer_cb)abort, 100000, 0);
    /* A detached task still sleeping when main returns is cancelled. */
    ASSERT_OK(eddy_spawn(NULL, detached, NULL, NULL));
    return 3;
}

TEST_IMPL(run_teardown_closes_handles)
{
    ASSERT_EQ(eddy_run(leave_handle_open, NULL), 3);
    ASSERT_TRUE(uv_is_closing((uv_handle_t *)&leftover));
    ASSERT_EQ(detached_ran, 0);
    /* A second run on the same thread works. */
    ASSERT_EQ(eddy_run(main_returns, NULL), 42);
    return 0;
}

static int wait_forever(void *arg)
{
    eddy_wait_t w;
    eddy_wait_init(&w, NULL); /* uninterruptible, and nothing will wake it */
    return eddy_wait_park(&w, EDDY_FOREVER);
}

static int sleeper_forever(void *arg)
{
    return eddy_sleep(EDDY_FOREVER);
}

TEST_IMPL(run_deadlock_detected)
{
    /* Interruptible: the deadlock cancels main to unwind it, and is still
     * reported as one. */
    ASSERT_ERR(eddy_run(sleeper_forever, NULL), EDDY_EDEADLOCK);
    /* Not even cancellable: reported as a deadlock. */
    ASSERT_ERR(eddy_run(wait_forever, NULL), EDDY_EDEADLOCK);
    return 0;
}

TEST_IMPL(strerror_codes)
{
    ASSERT_STR_EQ(eddy_strerror(EDDY_ESHUTDOWN), "queue is shut down");
    ASSERT_STR_EQ(eddy_err_name(EDDY_ESHUTDOWN), "EDDY_ESHUTDOWN");
    ASSERT_STR_EQ(eddy_err_name(UV_ECANCELED), "ECANCELED");
    ASSERT_STR_EQ(eddy_strerror(0), "success");
    ASSERT_NOT_NULL(eddy_strerror(-123456));
    return 0;
}

static eddy_wait_t *pending_wait;

static void wake_from_timer(uv_timer_t *h)
{
    ASSERT_TRUE(eddy_wait_wake(pending_wait, 99));
    ASSERT_FALSE(eddy_wait_wake(pending_wait, 98)); /* once only */
    uv_close((uv_handle_t *)h, NULL);
}

static int libuv_wait_main(void *arg)
{
    static uv_timer_t timer; /* closed after this task returns */
    eddy_wait_t w;
    eddy_wait_init(&w, NULL);
    pending_wait = &w;
    uv_timer_init(eddy_loop(), &timer);
    uv_timer_start(&timer, wake_from_timer, 10, 0);
    ASSERT_EQ(eddy_wait_park(&w, EDDY_FOREVER), 99);
    /* A parked wait with a timeout and a hook: the timeout interrupts. */
    eddy_wait_init(&w, (void (*)(eddy_wait_t *))NULL);
    return 0;
}

TEST_IMPL(wait_on_libuv_callback)
{
    ASSERT_OK(eddy_run(libuv_wait_main, NULL));
    return 0;
}
