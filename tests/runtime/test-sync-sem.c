/* Semaphores: counting, bounded release, FIFO handoff, no permit leaked or
 * lost under cancellation, and asyncio's "at most N at once" example. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_sem_t sem;
static int order[8];
static int norder;

TEST_IMPL(sync_sem_counting)
{
    /* None of this waits: it works outside a task too. */
    eddy_sem_init(&sem, 2);
    ASSERT_EQ(eddy_sem_value(&sem), 2);
    ASSERT_OK(eddy_sem_try_acquire(&sem));
    ASSERT_OK(eddy_sem_acquire(&sem));
    ASSERT_EQ(eddy_sem_value(&sem), 0);
    ASSERT_ERR(eddy_sem_try_acquire(&sem), UV_EAGAIN);
    ASSERT_ERR(eddy_sem_acquire(&sem), EDDY_ENOTASK); /* would wait */
    for (int i = 0; i < 3; i++)
        ASSERT_OK(eddy_sem_release(&sem));
    /* An unbounded semaphore may go above its initial value. */
    ASSERT_EQ(eddy_sem_value(&sem), 3);
    return 0;
}

TEST_IMPL(sync_sem_bounded_over_release)
{
    eddy_sem_init_bounded(&sem, 2);
    ASSERT_ERR(eddy_sem_release(&sem), EDDY_EOVERRELEASE);
    ASSERT_EQ(eddy_sem_value(&sem), 2);
    ASSERT_OK(eddy_sem_try_acquire(&sem));
    ASSERT_OK(eddy_sem_release(&sem));
    ASSERT_ERR(eddy_sem_release(&sem), EDDY_EOVERRELEASE);
    ASSERT_EQ(eddy_sem_value(&sem), 2);
    eddy_sem_init_bounded(&sem, 0);
    ASSERT_ERR(eddy_sem_release(&sem), EDDY_EOVERRELEASE);
    ASSERT_EQ(eddy_sem_value(&sem), 0);
    return 0;
}

static int acquire_record(void *arg)
{
    int rc = eddy_sem_acquire(&sem);
    if (rc == 0)
        order[norder++] = TEST_I(arg);
    return rc;
}

static int fifo_main(void *arg)
{
    eddy_task_t *t[4];
    eddy_sem_init(&sem, 0);
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(acquire_record, TEST_P(i));
    test_settle(3);
    ASSERT_EQ(sem.waiters.len, 4);
    ASSERT_OK(eddy_sem_release(&sem));
    /* The permit went to the first waiter, not back to the count. */
    ASSERT_EQ(eddy_sem_value(&sem), 0);
    ASSERT_ERR(eddy_sem_try_acquire(&sem), UV_EAGAIN);
    ASSERT_OK(eddy_sem_release(&sem));
    ASSERT_OK(eddy_sem_release(&sem));
    ASSERT_OK(eddy_sem_release(&sem));
    for (int i = 0; i < 4; i++)
        ASSERT_OK(test_reap(t[i]));
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(order[i], i);
    ASSERT_EQ(eddy_sem_value(&sem), 0);
    return 0;
}

TEST_IMPL(sync_sem_fifo_handoff)
{
    ASSERT_OK(eddy_run(fifo_main, NULL));
    return 0;
}

static int acquire_with_timeout(void *arg)
{
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, 20);
    int rc = eddy_sem_acquire(&sem);
    eddy_timeout_leave(&scope);
    return rc;
}

static int cancel_main(void *arg)
{
    eddy_task_t *a, *b, *c;
    eddy_sem_init_bounded(&sem, 1);
    ASSERT_OK(eddy_sem_acquire(&sem));
    a = test_spawn(acquire_record, (void *)1);
    b = test_spawn(acquire_with_timeout, NULL);
    c = test_spawn(acquire_record, (void *)3);
    test_settle(3);
    eddy_cancel(a);
    ASSERT_ERR(test_reap(a), UV_ECANCELED);
    ASSERT_ERR(test_reap(b), UV_ETIMEDOUT);
    ASSERT_EQ(sem.waiters.len, 1);
    /* The interrupted waiters took nothing: the permit reaches c. */
    ASSERT_OK(eddy_sem_release(&sem));
    ASSERT_OK(test_reap(c));
    ASSERT_EQ(norder, 1);
    ASSERT_EQ(order[0], 3);
    ASSERT_EQ(eddy_sem_value(&sem), 0);
    ASSERT_OK(eddy_sem_release(&sem)); /* c's permit, given back */
    ASSERT_EQ(eddy_sem_value(&sem), 1);
    ASSERT_ERR(eddy_sem_release(&sem), EDDY_EOVERRELEASE);
    return 0;
}

TEST_IMPL(sync_sem_cancel_waiter_no_leak)
{
    ASSERT_OK(eddy_run(cancel_main, NULL));
    return 0;
}

static int acquire_then_yield(void *arg)
{
    int *yield_rc = arg;
    ASSERT_OK(eddy_sem_acquire(&sem)); /* handed a permit before the cancel */
    *yield_rc = eddy_yield();
    return eddy_sem_release(&sem);
}

static int cancel_after_handoff_main(void *arg)
{
    int yield_rc = 1;
    eddy_task_t *a;
    eddy_sem_init_bounded(&sem, 1);
    ASSERT_OK(eddy_sem_acquire(&sem));
    a = test_spawn(acquire_then_yield, &yield_rc);
    test_settle(3);
    ASSERT_OK(eddy_sem_release(&sem));
    eddy_cancel(a);
    ASSERT_OK(test_reap(a));
    ASSERT_ERR(yield_rc, UV_ECANCELED);
    /* Neither leaked nor lost: exactly the one permit is free again. */
    ASSERT_EQ(eddy_sem_value(&sem), 1);
    return 0;
}

TEST_IMPL(sync_sem_cancel_after_handoff)
{
    ASSERT_OK(eddy_run(cancel_after_handoff_main, NULL));
    return 0;
}

/* asyncio tutorial: 20 tasks behind Semaphore(5) never have more than 5
 * inside at once. */
static int inside, max_inside, finished;

static int limited(void *arg)
{
    ASSERT_OK(eddy_sem_acquire(&sem));
    inside++;
    if (inside > max_inside)
        max_inside = inside;
    ASSERT_OK(eddy_sleep(1 + (uint64_t)(intptr_t)arg % 5));
    inside--;
    finished++;
    return eddy_sem_release(&sem);
}

static int limit_main(void *arg)
{
    eddy_task_t *t[20];
    eddy_sem_init(&sem, 5);
    for (int i = 0; i < 20; i++)
        t[i] = test_spawn(limited, TEST_P(i));
    for (int i = 0; i < 20; i++)
        ASSERT_OK(test_reap(t[i]));
    ASSERT_EQ(finished, 20);
    ASSERT_EQ(max_inside, 5);
    ASSERT_EQ(inside, 0);
    ASSERT_EQ(eddy_sem_value(&sem), 5);
    return 0;
}

TEST_IMPL(sync_sem_limit_example)
{
    ASSERT_OK(eddy_run(limit_main, NULL));
    return 0;
}
