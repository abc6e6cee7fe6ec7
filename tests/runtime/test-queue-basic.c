/* Queues: FIFO, LIFO and priority order, growth, the nowait calls, blocking
 * put and get with direct handoff, task_done and join. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_queue_t q;

/* Gets without waiting and returns the item as an int. */
static int pop(void)
{
    void *item = TEST_P(-1);
    ASSERT_OK(eddy_queue_get_nowait(&q, &item));
    return TEST_I(item);
}

TEST_IMPL(queue_fifo_nowait)
{
    void *item;
    ASSERT_OK(eddy_queue_init(&q, 3));
    ASSERT_TRUE(eddy_queue_empty(&q));
    ASSERT_FALSE(eddy_queue_full(&q));
    ASSERT_ERR(eddy_queue_get_nowait(&q, &item), UV_EAGAIN);
    /* Wrap around the ring a few times. */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 3; i++)
            ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(round * 10 + i)));
        ASSERT_TRUE(eddy_queue_full(&q));
        ASSERT_EQ(eddy_queue_size(&q), 3);
        ASSERT_ERR(eddy_queue_put_nowait(&q, TEST_P(99)), UV_EAGAIN);
        ASSERT_EQ(pop(), round * 10);
        ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(round * 10 + 3)));
        for (int i = 1; i < 4; i++)
            ASSERT_EQ(pop(), round * 10 + i);
    }
    ASSERT_TRUE(eddy_queue_empty(&q));
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_unbounded_grows)
{
    ASSERT_OK(eddy_queue_init(&q, 0));
    /* Offset the ring first so that growing must unwrap it. */
    for (int i = 0; i < 10; i++)
        ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(i)));
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(pop(), i);
    for (int i = 0; i < 5000; i++)
        ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(i)));
    ASSERT_FALSE(eddy_queue_full(&q));
    ASSERT_EQ(eddy_queue_size(&q), 5000);
    for (int i = 0; i < 5000; i++)
        ASSERT_EQ(pop(), i);
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_lifo_order)
{
    ASSERT_OK(eddy_queue_init_lifo(&q, 0));
    for (int i = 0; i < 40; i++)
        ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(i)));
    for (int i = 39; i >= 0; i--)
        ASSERT_EQ(pop(), i);
    eddy_queue_destroy(&q);
    ASSERT_OK(eddy_queue_init_lifo(&q, 2));
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(1)));
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(2)));
    ASSERT_ERR(eddy_queue_put_nowait(&q, TEST_P(3)), UV_EAGAIN);
    ASSERT_EQ(pop(), 2);
    eddy_queue_destroy(&q);
    return 0;
}

/* Items are ints; the priority is the tens, the units tell equal ones
 * apart. */
static int by_tens(const void *a, const void *b)
{
    return TEST_I(a) / 10 - TEST_I(b) / 10;
}

TEST_IMPL(queue_priority_order)
{
    static const int in[] = {50, 11, 30, 12, 51, 0, 13, 31, 1, 52, 14};
    static const int out[] = {0, 1, 11, 12, 13, 14, 30, 31, 50, 51, 52};
    const int n = (int)(sizeof(in) / sizeof(in[0]));

    ASSERT_ERR(eddy_queue_init_priority(&q, 0, NULL), UV_EINVAL);
    /* Unbounded, from 16 slots: 3 rounds make it grow. */
    ASSERT_OK(eddy_queue_init_priority(&q, 0, by_tens));
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < n; i++)
            ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(in[i])));
    /* Smallest first; equal priorities in insertion order, across rounds
     * too: what a stable sort of the puts gives. */
    int all[3 * 11], nall = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < n; i++) {
            int j = nall++;
            for (; j > 0 && all[j - 1] / 10 > in[i] / 10; j--)
                all[j] = all[j - 1];
            all[j] = in[i];
        }
    }
    for (int k = 0; k < nall; k++)
        ASSERT_EQ(pop(), all[k]);
    ASSERT_TRUE(eddy_queue_empty(&q));
    for (int i = 0; i < n; i++)
        ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(in[i])));
    for (int i = 0; i < n; i++)
        ASSERT_EQ(pop(), out[i]);
    eddy_queue_destroy(&q);

    ASSERT_OK(eddy_queue_init_priority(&q, 3, by_tens));
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(20)));
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(10)));
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(21)));
    ASSERT_ERR(eddy_queue_put_nowait(&q, TEST_P(0)), UV_EAGAIN);
    ASSERT_EQ(pop(), 10);
    ASSERT_EQ(pop(), 20);
    ASSERT_EQ(pop(), 21);
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_task_done_too_often)
{
    void *item;
    ASSERT_OK(eddy_queue_init(&q, 0));
    ASSERT_ERR(eddy_queue_task_done(&q), UV_EINVAL);
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(1)));
    ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(2)));
    ASSERT_OK(eddy_queue_get_nowait(&q, &item));
    ASSERT_OK(eddy_queue_task_done(&q));
    ASSERT_OK(eddy_queue_get_nowait(&q, &item));
    ASSERT_OK(eddy_queue_task_done(&q));
    ASSERT_ERR(eddy_queue_task_done(&q), UV_EINVAL);
    ASSERT_EQ(q.unfinished, 0);
    eddy_queue_destroy(&q);
    return 0;
}

static int order[16];
static int norder;

static int getter(void *arg)
{
    void *item = TEST_P(-1);
    int rc = eddy_queue_get(&q, &item);
    if (rc == 0)
        order[norder++] = TEST_I(item);
    return rc;
}

static int handoff_main(void *arg)
{
    eddy_task_t *g[3];
    ASSERT_OK(eddy_queue_init(&q, 1));
    for (int i = 0; i < 3; i++)
        g[i] = test_spawn(getter, NULL);
    test_settle(3);
    ASSERT_EQ(q.getters.len, 3);
    /* Each put goes straight to the oldest getter: never into the queue,
     * so a bounded queue of one takes three puts without waiting. */
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(eddy_queue_put_nowait(&q, TEST_P(10 + i)));
        ASSERT_EQ(eddy_queue_size(&q), 0);
    }
    ASSERT_OK(eddy_queue_put(&q, TEST_P(13)));
    ASSERT_EQ(eddy_queue_size(&q), 1);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(test_reap(g[i]));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(order[i], 10 + i);
    ASSERT_EQ(pop(), 13);
    ASSERT_EQ(q.unfinished, 4);
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_get_waits_fifo_handoff)
{
    ASSERT_OK(eddy_run(handoff_main, NULL));
    return 0;
}

static int putter(void *arg)
{
    return eddy_queue_put(&q, arg);
}

static int put_waits_main(void *arg)
{
    eddy_task_t *p[3];
    ASSERT_OK(eddy_queue_init(&q, 2));
    ASSERT_OK(eddy_queue_put(&q, TEST_P(0)));
    ASSERT_OK(eddy_queue_put(&q, TEST_P(1)));
    for (int i = 0; i < 3; i++)
        p[i] = test_spawn(putter, TEST_P(2 + i));
    test_settle(3);
    ASSERT_EQ(q.putters.len, 3);
    ASSERT_EQ(q.unfinished, 2); /* waiting items are not in yet */
    /* Each get moves the oldest putter's item into the freed slot. */
    ASSERT_EQ(pop(), 0);
    ASSERT_TRUE(eddy_queue_full(&q));
    ASSERT_EQ(q.putters.len, 2);
    /* A put made now queues behind the waiting putters. */
    ASSERT_ERR(eddy_queue_put_nowait(&q, TEST_P(99)), UV_EAGAIN);
    for (int i = 1; i < 5; i++) {
        void *item;
        ASSERT_OK(eddy_queue_get(&q, &item));
        ASSERT_EQ(TEST_I(item), i);
    }
    for (int i = 0; i < 3; i++)
        ASSERT_OK(test_reap(p[i]));
    ASSERT_TRUE(eddy_queue_empty(&q));
    ASSERT_EQ(q.unfinished, 5);
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_put_waits_when_full)
{
    ASSERT_OK(eddy_run(put_waits_main, NULL));
    return 0;
}

static int joined;

static int joiner(void *arg)
{
    int rc = eddy_queue_join(&q);
    joined++;
    return rc;
}

static int join_main(void *arg)
{
    eddy_task_t *j[2];
    void *item;
    ASSERT_OK(eddy_queue_init(&q, 0));
    ASSERT_OK(eddy_queue_join(&q)); /* nothing put: at once */
    ASSERT_OK(eddy_queue_put(&q, TEST_P(1)));
    ASSERT_OK(eddy_queue_put(&q, TEST_P(2)));
    j[0] = test_spawn(joiner, NULL);
    j[1] = test_spawn(joiner, NULL);
    test_settle(3);
    ASSERT_OK(eddy_queue_get(&q, &item));
    ASSERT_OK(eddy_queue_get(&q, &item));
    ASSERT_OK(eddy_queue_task_done(&q));
    test_settle(3);
    ASSERT_EQ(joined, 0); /* one item still unfinished */
    ASSERT_OK(eddy_queue_task_done(&q));
    ASSERT_OK(test_reap(j[0]));
    ASSERT_OK(test_reap(j[1]));
    ASSERT_EQ(joined, 2);
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_join_waits_for_task_done)
{
    ASSERT_OK(eddy_run(join_main, NULL));
    return 0;
}

static int destroy_main(void *arg)
{
    eddy_task_t *g;
    ASSERT_OK(eddy_queue_init(&q, 1));
    g = test_spawn(getter, NULL);
    test_settle(3);
    eddy_queue_destroy(&q);
    ASSERT_ERR(test_reap(g), EDDY_ECLOSED);
    return 0;
}

TEST_IMPL(queue_destroy_wakes_waiters)
{
    ASSERT_OK(eddy_run(destroy_main, NULL));
    return 0;
}
