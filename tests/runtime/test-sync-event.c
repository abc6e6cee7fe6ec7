/* Events: set wakes every waiter in order, clear, cancellation, timeouts. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_event_t ev;
static int order[8];
static int norder;

static int wait_record(void *arg)
{
    int rc = eddy_event_wait(&ev);
    if (rc == 0)
        order[norder++] = TEST_I(arg);
    return rc;
}

static int basic_main(void *arg)
{
    eddy_event_init(&ev);
    ASSERT_FALSE(eddy_event_is_set(&ev));
    eddy_event_set(&ev);
    ASSERT_TRUE(eddy_event_is_set(&ev));
    ASSERT_OK(eddy_event_wait(&ev)); /* set: returns at once */
    eddy_event_set(&ev);
    ASSERT_TRUE(eddy_event_is_set(&ev));
    eddy_event_clear(&ev);
    ASSERT_FALSE(eddy_event_is_set(&ev));
    return 0;
}

TEST_IMPL(sync_event_basic)
{
    ASSERT_OK(eddy_run(basic_main, NULL));
    return 0;
}

static int wakes_all_main(void *arg)
{
    eddy_task_t *t[4];
    eddy_event_init(&ev);
    for (int i = 0; i < 4; i++)
        t[i] = test_spawn(wait_record, TEST_P(i));
    test_settle(3);
    ASSERT_EQ(norder, 0);
    ASSERT_EQ(ev.waiters.len, 4);
    /* Set then cleared before the waiters run: they were woken anyway. */
    eddy_event_set(&ev);
    eddy_event_clear(&ev);
    for (int i = 0; i < 4; i++)
        ASSERT_OK(test_reap(t[i]));
    ASSERT_EQ(norder, 4);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(order[i], i);
    ASSERT_FALSE(eddy_event_is_set(&ev));
    return 0;
}

TEST_IMPL(sync_event_set_wakes_all_in_order)
{
    ASSERT_OK(eddy_run(wakes_all_main, NULL));
    return 0;
}

static int wait_with_timeout(void *arg)
{
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, 20);
    int rc = eddy_event_wait(&ev);
    eddy_timeout_leave(&scope);
    return rc;
}

static int interrupt_main(void *arg)
{
    eddy_task_t *a, *b, *c;
    eddy_event_init(&ev);
    a = test_spawn(wait_record, (void *)1);
    b = test_spawn(wait_with_timeout, NULL);
    c = test_spawn(wait_record, (void *)3);
    test_settle(3);
    eddy_cancel(a);
    ASSERT_ERR(test_reap(a), UV_ECANCELED);
    ASSERT_ERR(test_reap(b), UV_ETIMEDOUT);
    ASSERT_EQ(ev.waiters.len, 1); /* both unlinked themselves */
    ASSERT_FALSE(eddy_done(c));
    eddy_event_set(&ev);
    ASSERT_OK(test_reap(c));
    ASSERT_EQ(norder, 1);
    ASSERT_EQ(order[0], 3);
    return 0;
}

TEST_IMPL(sync_event_cancel_and_timeout)
{
    ASSERT_OK(eddy_run(interrupt_main, NULL));
    return 0;
}
