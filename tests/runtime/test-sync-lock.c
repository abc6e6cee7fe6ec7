/* Locks: ownership, FIFO handoff, cancellation and timeouts, and asyncio's
 * shared-counter example. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_lock_t lock;
static int order[16];
static int norder;

static int basic_main(void *arg)
{
    eddy_lock_init(&lock);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    ASSERT_ERR(eddy_lock_release(&lock), EDDY_ENOTOWNER);
    ASSERT_OK(eddy_lock_try_acquire(&lock));
    ASSERT_TRUE(eddy_lock_locked(&lock));
    ASSERT_ERR(eddy_lock_try_acquire(&lock), UV_EBUSY);
    /* Not reentrant: a second acquire by the holder would wait forever. */
    ASSERT_ERR(eddy_lock_acquire(&lock), EDDY_EDEADLOCK);
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_FALSE(eddy_lock_locked(&lock));
    ASSERT_ERR(eddy_lock_release(&lock), EDDY_ENOTOWNER);
    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_lock_release(&lock));
    return 0;
}

TEST_IMPL(sync_lock_basic)
{
    ASSERT_OK(eddy_run(basic_main, NULL));
    /* Outside a task nobody holds anything. */
    ASSERT_ERR(eddy_lock_try_acquire(&lock), EDDY_ENOTASK);
    ASSERT_ERR(eddy_lock_release(&lock), EDDY_ENOTOWNER);
    return 0;
}

static int release_foreign(void *arg)
{
    return eddy_lock_release(&lock);
}

static int not_owner_main(void *arg)
{
    eddy_lock_init(&lock);
    ASSERT_OK(eddy_lock_acquire(&lock));
    /* Another task releasing it is an error and changes nothing. */
    ASSERT_ERR(test_reap(test_spawn(release_foreign, NULL)), EDDY_ENOTOWNER);
    ASSERT_TRUE(eddy_lock_locked(&lock));
    ASSERT_PTR_EQ(lock.owner, eddy_current());
    ASSERT_OK(eddy_lock_release(&lock));
    return 0;
}

TEST_IMPL(sync_lock_release_not_owner)
{
    ASSERT_OK(eddy_run(not_owner_main, NULL));
    return 0;
}

static int acquire_record(void *arg)
{
    int rc = eddy_lock_acquire(&lock);
    if (rc != 0)
        return rc;
    ASSERT_PTR_EQ(lock.owner, eddy_current());
    order[norder++] = TEST_I(arg);
    ASSERT_OK(eddy_yield()); /* hold it across a wait */
    return eddy_lock_release(&lock);
}

static int fifo_main(void *arg)
{
    eddy_task_t *t[5];
    eddy_lock_init(&lock);
    ASSERT_OK(eddy_lock_acquire(&lock));
    for (int i = 0; i < 5; i++)
        t[i] = test_spawn(acquire_record, TEST_P(i));
    test_settle(3);
    ASSERT_EQ(lock.waiters.len, 5);
    ASSERT_OK(eddy_lock_release(&lock));
    /* Handed to the first waiter before it runs: no barging. */
    ASSERT_TRUE(eddy_lock_locked(&lock));
    ASSERT_PTR_EQ(lock.owner, t[0]);
    ASSERT_ERR(eddy_lock_try_acquire(&lock), UV_EBUSY);
    ASSERT_ERR(eddy_lock_release(&lock), EDDY_ENOTOWNER);
    for (int i = 0; i < 5; i++)
        ASSERT_OK(test_reap(t[i]));
    ASSERT_EQ(norder, 5);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(order[i], i);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    return 0;
}

TEST_IMPL(sync_lock_fifo_handoff)
{
    ASSERT_OK(eddy_run(fifo_main, NULL));
    return 0;
}

static int cancel_waiter_main(void *arg)
{
    eddy_task_t *a, *b, *c;
    eddy_lock_init(&lock);
    ASSERT_OK(eddy_lock_acquire(&lock));
    a = test_spawn(acquire_record, (void *)1);
    b = test_spawn(acquire_record, (void *)2);
    c = test_spawn(acquire_record, (void *)3);
    test_settle(3);
    /* Cancel the first waiter: the next one must get the lock. */
    eddy_cancel(a);
    ASSERT_EQ(lock.waiters.len, 2);
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_PTR_EQ(lock.owner, b);
    ASSERT_ERR(test_reap(a), UV_ECANCELED);
    ASSERT_OK(test_reap(b));
    ASSERT_OK(test_reap(c));
    ASSERT_EQ(norder, 2);
    ASSERT_EQ(order[0], 2);
    ASSERT_EQ(order[1], 3);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    ASSERT_EQ(lock.waiters.len, 0);
    return 0;
}

TEST_IMPL(sync_lock_cancel_waiter)
{
    ASSERT_OK(eddy_run(cancel_waiter_main, NULL));
    return 0;
}

static int acquire_then_yield(void *arg)
{
    int *yield_rc = arg;
    ASSERT_OK(eddy_lock_acquire(&lock)); /* handed over before the cancel */
    ASSERT_PTR_EQ(lock.owner, eddy_current());
    *yield_rc = eddy_yield(); /* the cancellation arrives here */
    ASSERT_OK(eddy_lock_release(&lock));
    return 0;
}

static int cancel_after_handoff_main(void *arg)
{
    int yield_rc = 1;
    eddy_task_t *a;
    eddy_lock_init(&lock);
    ASSERT_OK(eddy_lock_acquire(&lock));
    a = test_spawn(acquire_then_yield, &yield_rc);
    test_settle(3);
    ASSERT_OK(eddy_lock_release(&lock));
    eddy_cancel(a); /* a owns the lock but has not run yet */
    ASSERT_TRUE(eddy_cancelling(a));
    ASSERT_OK(test_reap(a));
    ASSERT_ERR(yield_rc, UV_ECANCELED);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    return 0;
}

TEST_IMPL(sync_lock_cancel_after_handoff)
{
    ASSERT_OK(eddy_run(cancel_after_handoff_main, NULL));
    return 0;
}

static int acquire_with_timeout(void *arg)
{
    eddy_timeout_t scope;
    int rc;
    eddy_timeout_enter(&scope, 30);
    rc = eddy_lock_acquire(&lock);
    ASSERT_ERR(eddy_timeout_leave(&scope), UV_ETIMEDOUT);
    return rc;
}

static int timeout_main(void *arg)
{
    eddy_task_t *a, *b;
    uint64_t t0 = test_ms();
    eddy_lock_init(&lock);
    ASSERT_OK(eddy_lock_acquire(&lock));
    a = test_spawn(acquire_with_timeout, NULL);
    b = test_spawn(acquire_record, (void *)7);
    ASSERT_ERR(test_reap(a), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_ms() - t0, 25, 500 * test_scale());
    ASSERT_EQ(lock.waiters.len, 1);
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_OK(test_reap(b));
    ASSERT_EQ(order[0], 7);
    return 0;
}

TEST_IMPL(sync_lock_timeout)
{
    ASSERT_OK(eddy_run(timeout_main, NULL));
    return 0;
}

/* asyncio tutorial: tasks increment a counter with a wait between the read
 * and the write.  Under the lock no update is lost; without it most are. */
static int counter;

static int increment(void *arg)
{
    bool locked = arg != NULL;
    if (locked)
        ASSERT_OK(eddy_lock_acquire(&lock));
    int value = counter;
    ASSERT_OK(eddy_yield());
    counter = value + 1;
    if (locked)
        ASSERT_OK(eddy_lock_release(&lock));
    return 0;
}

static int counter_main(void *arg)
{
    eddy_task_t *t[100];
    eddy_lock_init(&lock);
    for (int i = 0; i < 100; i++)
        t[i] = test_spawn(increment, arg);
    for (int i = 0; i < 100; i++)
        ASSERT_OK(test_reap(t[i]));
    return counter;
}

TEST_IMPL(sync_lock_counter_example)
{
    counter = 0;
    ASSERT_EQ(eddy_run(counter_main, &lock), 100);
    counter = 0;
    ASSERT_LT(eddy_run(counter_main, NULL), 100);
    return 0;
}
