/* Barriers: arrival indices, generations, abort, reset, and the barrier
 * breaking when a waiter is cancelled or times out. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_barrier_t bar;

static int arrive(void *arg)
{
    return eddy_barrier_wait(&bar);
}

/* Two generations in a row; returns the sum of both indices. */
static int arrive_twice(void *arg)
{
    int a = eddy_barrier_wait(&bar);
    int b = eddy_barrier_wait(&bar);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    return a * 10 + b;
}

static int indices_main(void *arg)
{
    eddy_task_t *t[3];
    int seen = 0;
    ASSERT_ERR(eddy_barrier_init(&bar, 0), UV_EINVAL);
    ASSERT_OK(eddy_barrier_init(&bar, 3));
    t[0] = test_spawn(arrive, NULL);
    t[1] = test_spawn(arrive, NULL);
    test_settle(3);
    ASSERT_EQ(eddy_barrier_n_waiting(&bar), 2);
    ASSERT_FALSE(eddy_done(t[0]));
    /* The last to arrive does not wait and gets parties - 1. */
    ASSERT_EQ(eddy_barrier_wait(&bar), 2);
    ASSERT_EQ(eddy_barrier_n_waiting(&bar), 0);
    ASSERT_EQ(test_reap(t[0]), 0);
    ASSERT_EQ(test_reap(t[1]), 1);

    /* Reusable: the next generations work the same way. */
    for (int i = 0; i < 3; i++)
        t[i] = test_spawn(arrive_twice, NULL);
    for (int i = 0; i < 3; i++) {
        int r = test_reap(t[i]);
        seen |= 1 << (r / 10) | 1 << (3 + r % 10);
    }
    ASSERT_EQ(seen, 0x3f); /* indices 0..2 given once per generation */
    ASSERT_FALSE(eddy_barrier_broken(&bar));
    return 0;
}

TEST_IMPL(sync_barrier_indices_and_generations)
{
    ASSERT_OK(eddy_run(indices_main, NULL));
    return 0;
}

static int abort_main(void *arg)
{
    eddy_task_t *a, *b;
    ASSERT_OK(eddy_barrier_init(&bar, 3));
    a = test_spawn(arrive, NULL);
    b = test_spawn(arrive, NULL);
    test_settle(3);
    eddy_barrier_abort(&bar);
    ASSERT_TRUE(eddy_barrier_broken(&bar));
    ASSERT_ERR(test_reap(a), EDDY_EBROKEN);
    ASSERT_ERR(test_reap(b), EDDY_EBROKEN);
    ASSERT_ERR(eddy_barrier_wait(&bar), EDDY_EBROKEN);
    ASSERT_EQ(eddy_barrier_n_waiting(&bar), 0);

    eddy_barrier_reset(&bar);
    ASSERT_FALSE(eddy_barrier_broken(&bar));
    a = test_spawn(arrive, NULL);
    b = test_spawn(arrive, NULL);
    test_settle(3);
    ASSERT_EQ(eddy_barrier_wait(&bar), 2);
    ASSERT_EQ(test_reap(a), 0);
    ASSERT_EQ(test_reap(b), 1);
    return 0;
}

TEST_IMPL(sync_barrier_abort)
{
    ASSERT_OK(eddy_run(abort_main, NULL));
    return 0;
}

static int reset_main(void *arg)
{
    eddy_task_t *a, *b, *c;
    ASSERT_OK(eddy_barrier_init(&bar, 2));
    a = test_spawn(arrive, NULL);
    test_settle(3);
    /* Reset breaks the current generation's waiters only. */
    eddy_barrier_reset(&bar);
    ASSERT_FALSE(eddy_barrier_broken(&bar));
    ASSERT_EQ(eddy_barrier_n_waiting(&bar), 0);
    b = test_spawn(arrive, NULL);
    c = test_spawn(arrive, NULL);
    ASSERT_ERR(test_reap(a), EDDY_EBROKEN);
    ASSERT_EQ(test_reap(b), 0);
    ASSERT_EQ(test_reap(c), 1);
    return 0;
}

TEST_IMPL(sync_barrier_reset)
{
    ASSERT_OK(eddy_run(reset_main, NULL));
    return 0;
}

static int arrive_with_timeout(void *arg)
{
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, 20);
    int rc = eddy_barrier_wait(&bar);
    eddy_timeout_leave(&scope);
    return rc;
}

static int interrupt_main(void *arg)
{
    eddy_task_t *a, *b, *c;
    ASSERT_OK(eddy_barrier_init(&bar, 3));

    /* A cancelled waiter breaks the barrier for the others. */
    a = test_spawn(arrive, NULL);
    b = test_spawn(arrive, NULL);
    test_settle(3);
    eddy_cancel(b);
    ASSERT_TRUE(eddy_barrier_broken(&bar));
    ASSERT_EQ(eddy_barrier_n_waiting(&bar), 0);
    ASSERT_ERR(test_reap(b), UV_ECANCELED);
    ASSERT_ERR(test_reap(a), EDDY_EBROKEN);
    /* A later arrival cannot complete a generation with the departed. */
    ASSERT_ERR(eddy_barrier_wait(&bar), EDDY_EBROKEN);

    /* So does one whose timeout scope expires. */
    eddy_barrier_reset(&bar);
    a = test_spawn(arrive, NULL);
    b = test_spawn(arrive_with_timeout, NULL);
    ASSERT_ERR(test_reap(b), UV_ETIMEDOUT);
    ASSERT_ERR(test_reap(a), EDDY_EBROKEN);
    ASSERT_TRUE(eddy_barrier_broken(&bar));

    /* Released, then cancelled before it ran: it keeps its index. */
    eddy_barrier_reset(&bar);
    a = test_spawn(arrive, NULL);
    b = test_spawn(arrive, NULL);
    test_settle(3);
    ASSERT_EQ(eddy_barrier_wait(&bar), 2);
    eddy_cancel(a);
    ASSERT_EQ(test_reap(a), 0);
    ASSERT_EQ(test_reap(b), 1);
    ASSERT_FALSE(eddy_barrier_broken(&bar));
    c = test_spawn(arrive, NULL);
    test_settle(3);
    ASSERT_EQ(eddy_barrier_n_waiting(&bar), 1);
    eddy_barrier_abort(&bar);
    ASSERT_ERR(test_reap(c), EDDY_EBROKEN);
    return 0;
}

TEST_IMPL(sync_barrier_interrupted_waiter_breaks_it)
{
    ASSERT_OK(eddy_run(interrupt_main, NULL));
    return 0;
}
