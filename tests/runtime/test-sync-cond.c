/* Conditions: ownership checks, notify order, the predicate loop, and the
 * lock being held again after an interrupted wait. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_lock_t lock;
static eddy_cond_t cond;
static int order[8];
static int norder;

static int not_owner_main(void *arg)
{
    eddy_lock_init(&lock);
    eddy_cond_init(&cond, &lock);
    ASSERT_ERR(eddy_cond_wait(&cond), EDDY_ENOTOWNER);
    ASSERT_ERR(eddy_cond_notify(&cond, 1), EDDY_ENOTOWNER);
    ASSERT_ERR(eddy_cond_notify_all(&cond), EDDY_ENOTOWNER);
    ASSERT_ERR(eddy_cond_wait_for(&cond, NULL, NULL), EDDY_ENOTOWNER);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_notify(&cond, 1)); /* no waiter: nothing happens */
    ASSERT_OK(eddy_cond_notify_all(&cond));
    ASSERT_OK(eddy_lock_release(&lock));
    return 0;
}

TEST_IMPL(sync_cond_not_owner)
{
    ASSERT_OK(eddy_run(not_owner_main, NULL));
    return 0;
}

static int wait_record(void *arg)
{
    ASSERT_OK(eddy_lock_acquire(&lock));
    int rc = eddy_cond_wait(&cond);
    /* Whatever happened, the lock is ours again. */
    ASSERT_PTR_EQ(lock.owner, eddy_current());
    if (rc == 0)
        order[norder++] = TEST_I(arg);
    ASSERT_OK(eddy_lock_release(&lock));
    return rc;
}

static int notify_main(void *arg)
{
    eddy_task_t *t[4];
    eddy_lock_init(&lock);
    eddy_cond_init(&cond, &lock);
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(wait_record, TEST_P(i));
    test_settle(3);
    ASSERT_EQ(cond.waiters.len, 4);
    ASSERT_FALSE(eddy_lock_locked(&lock)); /* every waiter released it */

    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_notify(&cond, 1));
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_OK(test_reap(t[0]));
    ASSERT_EQ(norder, 1);
    ASSERT_EQ(cond.waiters.len, 3);

    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_notify(&cond, 2));
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_OK(test_reap(t[1]));
    ASSERT_OK(test_reap(t[2]));
    ASSERT_EQ(cond.waiters.len, 1);

    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_notify_all(&cond));
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_OK(test_reap(t[3]));
    ASSERT_EQ(norder, 4);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(order[i], i);
    return 0;
}

TEST_IMPL(sync_cond_notify_fifo)
{
    ASSERT_OK(eddy_run(notify_main, NULL));
    return 0;
}

static int stock;
static int pred_calls;

static bool stock_at_least_3(void *arg)
{
    pred_calls++;
    /* The predicate always runs with the lock held. */
    ASSERT_PTR_EQ(lock.owner, eddy_current());
    return stock >= *(int *)arg;
}

static int consumer(void *arg)
{
    static int want = 3;
    ASSERT_OK(eddy_lock_acquire(&lock));
    int rc = eddy_cond_wait_for(&cond, stock_at_least_3, &want);
    ASSERT_GE(stock, 3);
    stock -= 3;
    ASSERT_OK(eddy_lock_release(&lock));
    return rc;
}

static int wait_for_main(void *arg)
{
    eddy_task_t *c;
    eddy_lock_init(&lock);
    eddy_cond_init(&cond, &lock);
    c = test_spawn(consumer, NULL);
    for (int i = 0; i < 5; i++) {
        ASSERT_OK(eddy_sleep(1));
        ASSERT_OK(eddy_lock_acquire(&lock));
        stock++;
        ASSERT_OK(eddy_cond_notify_all(&cond));
        ASSERT_OK(eddy_lock_release(&lock));
    }
    ASSERT_OK(test_reap(c));
    ASSERT_EQ(stock, 2);
    /* Checked once at the start, then once per notification until true. */
    ASSERT_EQ(pred_calls, 4);
    return 0;
}

TEST_IMPL(sync_cond_wait_for_predicate)
{
    ASSERT_OK(eddy_run(wait_for_main, NULL));
    return 0;
}

static int cancel_main(void *arg)
{
    eddy_task_t *a, *b;
    eddy_lock_init(&lock);
    eddy_cond_init(&cond, &lock);
    a = test_spawn(wait_record, (void *)1);
    b = test_spawn(wait_record, (void *)2);
    test_settle(3);
    ASSERT_OK(eddy_lock_acquire(&lock));
    eddy_cancel(a);
    /* a cannot return before it has the lock back, which we hold. */
    ASSERT_OK(eddy_sleep(20));
    ASSERT_FALSE(eddy_done(a));
    ASSERT_EQ(cond.waiters.len, 1);
    ASSERT_EQ(lock.waiters.len, 1);
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_ERR(test_reap(a), UV_ECANCELED);
    /* The other waiter is still there and gets the next notification. */
    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_notify(&cond, 1));
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_OK(test_reap(b));
    ASSERT_EQ(norder, 1);
    ASSERT_EQ(order[0], 2);
    return 0;
}

TEST_IMPL(sync_cond_cancel_reacquires_lock)
{
    ASSERT_OK(eddy_run(cancel_main, NULL));
    return 0;
}

static int wait_with_timeout(void *arg)
{
    eddy_timeout_t scope;
    ASSERT_OK(eddy_lock_acquire(&lock));
    eddy_timeout_enter(&scope, 20);
    int rc = eddy_cond_wait(&cond);
    ASSERT_ERR(eddy_timeout_leave(&scope), UV_ETIMEDOUT);
    ASSERT_PTR_EQ(lock.owner, eddy_current());
    ASSERT_OK(eddy_lock_release(&lock));
    return rc;
}

static int timeout_main(void *arg)
{
    eddy_lock_init(&lock);
    eddy_cond_init(&cond, &lock);
    uint64_t t0 = test_ms();
    ASSERT_ERR(test_reap(test_spawn(wait_with_timeout, NULL)), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_ms() - t0, 15, 500 * test_scale());
    ASSERT_EQ(cond.waiters.len, 0);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    return 0;
}

TEST_IMPL(sync_cond_timeout)
{
    ASSERT_OK(eddy_run(timeout_main, NULL));
    return 0;
}

static int wait_then_yield(void *arg)
{
    int *yield_rc = arg;
    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_wait(&cond)); /* notified before the cancel came */
    ASSERT_OK(eddy_lock_release(&lock));
    *yield_rc = eddy_yield();
    return 0;
}

static int notified_then_cancelled_main(void *arg)
{
    int yield_rc = 1;
    eddy_task_t *a;
    eddy_lock_init(&lock);
    eddy_cond_init(&cond, &lock);
    a = test_spawn(wait_then_yield, &yield_rc);
    test_settle(3);
    ASSERT_OK(eddy_lock_acquire(&lock));
    ASSERT_OK(eddy_cond_notify(&cond, 1));
    eddy_cancel(a);
    ASSERT_OK(eddy_lock_release(&lock));
    ASSERT_OK(test_reap(a));
    /* The notification was not lost; the cancellation came next. */
    ASSERT_ERR(yield_rc, UV_ECANCELED);
    return 0;
}

TEST_IMPL(sync_cond_notified_then_cancelled)
{
    ASSERT_OK(eddy_run(notified_then_cancelled_main, NULL));
    return 0;
}
