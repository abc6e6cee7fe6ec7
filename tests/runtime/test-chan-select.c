/* eddy_select: exactly one operation completes, waiters leave every
 * channel, timeouts and cancellation, closed channels, fairness. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_chan_t a, b, c, d;
static int va, vb, vc;
static eddy_chan_op_t ops[4];

static void setup_ops(void)
{
    ops[0] = (eddy_chan_op_t){.chan = &a, .dir = EDDY_RECV, .item = &va, .status = 1};
    ops[1] = (eddy_chan_op_t){.chan = &b, .dir = EDDY_RECV, .item = &vb, .status = 1};
    ops[2] = (eddy_chan_op_t){.chan = &c, .dir = EDDY_SEND, .item = &vc, .status = 1};
}

static void init3(size_t cap)
{
    ASSERT_OK(eddy_chan_init(&a, cap, sizeof(int)));
    ASSERT_OK(eddy_chan_init(&b, cap, sizeof(int)));
    ASSERT_OK(eddy_chan_init(&c, cap, sizeof(int)));
    va = vb = -1;
    vc = 42;
    setup_ops();
}

static void destroy3(void)
{
    eddy_chan_destroy(&a);
    eddy_chan_destroy(&b);
    eddy_chan_destroy(&c);
}

static void assert_no_waiters(void)
{
    ASSERT_EQ(a.receivers.len + a.senders.len, 0);
    ASSERT_EQ(b.receivers.len + b.senders.len, 0);
    ASSERT_EQ(c.receivers.len + c.senders.len, 0);
}

static int selector(void *arg)
{
    return eddy_select(ops, 3, arg ? (uint64_t)TEST_I(arg) : EDDY_FOREVER);
}

/* Nothing ready: 0 polls, a timeout expires, and no waiter is left. */
static int timeout_main(void *arg)
{
    uint64_t t0 = eddy_now();

    init3(0);
    ASSERT_ERR(eddy_select(ops, 3, 0), UV_ETIMEDOUT);
    assert_no_waiters();
    ASSERT_ERR(eddy_select(ops, 3, 30), UV_ETIMEDOUT);
    ASSERT_GE(eddy_now() - t0, 30);
    assert_no_waiters();

    /* A timeout scope bounds it too. */
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, 10);
    ASSERT_ERR(eddy_select(ops, 3, EDDY_FOREVER), UV_ETIMEDOUT);
    eddy_timeout_leave(&scope);
    assert_no_waiters();
    ASSERT_EQ(va, -1);
    ASSERT_EQ(vb, -1);
    destroy3();
    return 0;
}

TEST_IMPL(chan_select_timeout)
{
    ASSERT_OK(eddy_run(timeout_main, NULL));
    return 0;
}

/* A blocked select is completed by a send on one channel: it returns
 * that index, the item arrived, and the other waiters are gone, so a
 * second send right after finds nobody (exactly one op fired). */
static int wake_main(void *arg)
{
    eddy_task_t *t;

    init3(0);
    t = test_spawn(selector, NULL);
    test_settle(2);
    ASSERT_EQ(a.receivers.len, 1);
    ASSERT_EQ(b.receivers.len, 1);
    ASSERT_EQ(c.senders.len, 1);
    ASSERT_OK(eddy_chan_try_send(&b, &(int){7}));
    ASSERT_ERR(eddy_chan_try_send(&a, &(int){8}), UV_EAGAIN);
    assert_no_waiters();
    ASSERT_EQ(test_reap(t), 1);
    ASSERT_EQ(vb, 7);
    ASSERT_EQ(va, -1);
    ASSERT_OK(ops[1].status);

    /* Its send case is completed by a receiver. */
    int v = 0;
    t = test_spawn(selector, NULL);
    test_settle(2);
    ASSERT_OK(eddy_chan_try_recv(&c, &v));
    ASSERT_EQ(v, 42);
    ASSERT_EQ(test_reap(t), 2);
    assert_no_waiters();

    /* A ready op is taken without waiting. */
    destroy3();
    init3(1);
    ASSERT_OK(eddy_chan_send(&a, &(int){3}));
    ASSERT_EQ(eddy_select(ops, 2, EDDY_FOREVER), 0);
    ASSERT_EQ(va, 3);
    destroy3();
    return 0;
}

TEST_IMPL(chan_select_wakes_one)
{
    ASSERT_OK(eddy_run(wake_main, NULL));
    return 0;
}

/* Cancelling a blocked select unlinks it from every channel, and no item
 * is taken; cancelled right after an op fired, it still reports it. */
static int cancel_main(void *arg)
{
    eddy_task_t *t;

    init3(0);
    t = test_spawn(selector, NULL);
    test_settle(2);
    eddy_cancel(t);
    ASSERT_ERR(test_reap(t), UV_ECANCELED);
    assert_no_waiters();
    ASSERT_ERR(eddy_chan_try_send(&a, &(int){1}), UV_EAGAIN);

    t = test_spawn(selector, NULL);
    test_settle(2);
    ASSERT_OK(eddy_chan_try_send(&a, &(int){9}));
    eddy_cancel(t);
    ASSERT_EQ(test_reap(t), 0);
    ASSERT_EQ(va, 9);
    assert_no_waiters();
    destroy3();
    return 0;
}

TEST_IMPL(chan_select_cancel)
{
    ASSERT_OK(eddy_run(cancel_main, NULL));
    return 0;
}

/* A closed channel is ready: its case returns with EDDY_ECLOSED, whether
 * it was closed before the select or while it waited; a closed buffered
 * channel first yields its items. */
static int closed_main(void *arg)
{
    eddy_task_t *t;

    init3(0);
    eddy_chan_close(&b);
    ASSERT_EQ(eddy_select(ops, 2, EDDY_FOREVER), 1);
    ASSERT_ERR(ops[1].status, EDDY_ECLOSED);
    destroy3();

    init3(0);
    t = test_spawn(selector, NULL);
    test_settle(2);
    eddy_chan_close(&c);
    ASSERT_EQ(test_reap(t), 2);
    ASSERT_ERR(ops[2].status, EDDY_ECLOSED);
    assert_no_waiters();
    destroy3();

    init3(2);
    ASSERT_OK(eddy_chan_send(&a, &(int){5}));
    eddy_chan_close(&a);
    ASSERT_EQ(eddy_select(ops, 1, 0), 0);
    ASSERT_OK(ops[0].status);
    ASSERT_EQ(va, 5);
    ASSERT_EQ(eddy_select(ops, 1, 0), 0);
    ASSERT_ERR(ops[0].status, EDDY_ECLOSED);
    destroy3();
    return 0;
}

TEST_IMPL(chan_select_closed)
{
    ASSERT_OK(eddy_run(closed_main, NULL));
    return 0;
}

/* With four channels always ready, each case is picked about equally
 * often (a fixed-start select would pick the first every time). */
static int fair_main(void *arg)
{
    eddy_chan_t *chans[4] = {&a, &b, &c, &d};
    eddy_chan_op_t fops[4];
    int hits[4] = {0}, v;
    enum { ROUNDS = 4000 };

    for (int i = 0; i < 4; i++) {
        ASSERT_OK(eddy_chan_init(chans[i], 1, sizeof(int)));
        fops[i] = (eddy_chan_op_t){.chan = chans[i], .dir = EDDY_RECV, .item = &v};
        ASSERT_OK(eddy_chan_send(chans[i], &i));
    }
    for (int r = 0; r < ROUNDS; r++) {
        int i = eddy_select(fops, 4, 0);
        ASSERT_BETWEEN(i, 0, 3);
        ASSERT_EQ(v, i);
        hits[i]++;
        ASSERT_OK(eddy_chan_try_send(chans[i], &i)); /* ready again */
    }
    for (int i = 0; i < 4; i++) {
        ASSERT_BETWEEN(hits[i], ROUNDS / 4 - ROUNDS / 10, ROUNDS / 4 + ROUNDS / 10);
        eddy_chan_destroy(chans[i]);
    }
    return 0;
}

TEST_IMPL(chan_select_fair)
{
    ASSERT_OK(eddy_run(fair_main, NULL));
    return 0;
}

/* More cases than the select keeps on its stack, NULL channels ignored,
 * a bad direction refused. */
static eddy_chan_t many[40];
static eddy_chan_op_t mops[40];
static int mv;

static int many_selector(void *arg)
{
    return eddy_select(mops, 40, EDDY_FOREVER);
}

static int many_main(void *arg)
{
    eddy_task_t *t;

    for (int i = 0; i < 40; i++) {
        ASSERT_OK(eddy_chan_init(&many[i], 0, sizeof(int)));
        mops[i] = (eddy_chan_op_t){.chan = i % 5 ? &many[i] : NULL, .dir = EDDY_RECV, .item = &mv};
    }
    t = test_spawn(many_selector, NULL);
    test_settle(2);
    ASSERT_EQ(many[0].receivers.len, 0); /* a NULL case */
    ASSERT_EQ(many[38].receivers.len, 1);
    ASSERT_OK(eddy_chan_try_send(&many[38], &(int){38}));
    ASSERT_EQ(test_reap(t), 38);
    ASSERT_EQ(mv, 38);
    for (int i = 0; i < 40; i++)
        ASSERT_EQ(many[i].receivers.len, 0);

    mops[3].dir = 0;
    ASSERT_ERR(eddy_select(mops, 40, 0), UV_EINVAL);
    for (int i = 0; i < 40; i++)
        eddy_chan_destroy(&many[i]);
    return 0;
}

TEST_IMPL(chan_select_many)
{
    ASSERT_OK(eddy_run(many_main, NULL));
    return 0;
}
