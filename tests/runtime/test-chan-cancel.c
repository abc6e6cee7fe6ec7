/* Channels under cancellation and timeout scopes: an interrupted send or
 * receive neither loses nor duplicates an item, and one completed just
 * before its cancellation keeps its result. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_chan_t ch;
static int got[16];
static int ngot;

static int sender(void *arg)
{
    int v = TEST_I(arg);
    return eddy_chan_send(&ch, &v);
}

static int receiver(void *arg)
{
    int v = -1;
    int rc = eddy_chan_recv(&ch, &v);
    if (rc == 0)
        got[ngot++] = v;
    return rc;
}

static int recv_with_timeout(void *arg)
{
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, 20);
    int rc = receiver(arg);
    eddy_timeout_leave(&scope);
    return rc;
}

/* Of three blocked receivers one is cancelled and one times out: the
 * item goes to the one still waiting, exactly once. */
static int cancel_recv_main(void *arg)
{
    eddy_task_t *a, *b, *c;

    ASSERT_OK(eddy_chan_init(&ch, 0, sizeof(int)));
    a = test_spawn(receiver, NULL);
    b = test_spawn(recv_with_timeout, NULL);
    c = test_spawn(receiver, NULL);
    test_settle(3);
    eddy_cancel(a);
    ASSERT_ERR(test_reap(a), UV_ECANCELED);
    ASSERT_ERR(test_reap(b), UV_ETIMEDOUT);
    ASSERT_EQ(ch.receivers.len, 1);
    ASSERT_OK(eddy_chan_send(&ch, &(int){5}));
    ASSERT_OK(test_reap(c));
    ASSERT_EQ(ngot, 1);
    ASSERT_EQ(got[0], 5);
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(chan_cancel_recv)
{
    ASSERT_OK(eddy_run(cancel_recv_main, NULL));
    return 0;
}

/* A cancelled sender's item is never delivered; the next one's is. */
static int cancel_send_main(void *arg)
{
    eddy_task_t *a, *b;
    int v;

    ASSERT_OK(eddy_chan_init(&ch, 1, sizeof(int)));
    ASSERT_OK(eddy_chan_send(&ch, &(int){1}));
    a = test_spawn(sender, TEST_P(2));
    b = test_spawn(sender, TEST_P(3));
    test_settle(2);
    ASSERT_EQ(ch.senders.len, 2);
    eddy_cancel(a);
    ASSERT_ERR(test_reap(a), UV_ECANCELED);
    ASSERT_EQ(ch.senders.len, 1);
    ASSERT_OK(eddy_chan_recv(&ch, &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(eddy_chan_recv(&ch, &v));
    ASSERT_EQ(v, 3);
    ASSERT_OK(test_reap(b));
    ASSERT_ERR(eddy_chan_try_recv(&ch, &v), UV_EAGAIN);
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(chan_cancel_send)
{
    ASSERT_OK(eddy_run(cancel_send_main, NULL));
    return 0;
}

/* Handed an item, then cancelled before it runs: the receive returns the
 * item, and the sender's send succeeded, so nothing is lost; the
 * cancellation arrives at the next wait.  Same for a sender whose item
 * was taken. */
static int late_cancel_main(void *arg)
{
    eddy_task_t *r, *s;
    int v;

    ASSERT_OK(eddy_chan_init(&ch, 0, sizeof(int)));
    r = test_spawn(receiver, NULL);
    test_settle(2);
    ASSERT_OK(eddy_chan_try_send(&ch, &(int){7}));
    eddy_cancel(r);
    ASSERT_OK(test_reap(r));
    ASSERT_EQ(ngot, 1);
    ASSERT_EQ(got[0], 7);

    s = test_spawn(sender, TEST_P(8));
    test_settle(2);
    ASSERT_OK(eddy_chan_try_recv(&ch, &v));
    eddy_cancel(s);
    ASSERT_OK(test_reap(s));
    ASSERT_EQ(v, 8);
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(chan_cancel_after_handoff)
{
    ASSERT_OK(eddy_run(late_cancel_main, NULL));
    return 0;
}

/* Stress: producers send by select over three channels of capacity 0, 1
 * and 3, with short timeouts, consumers receive by select or recv, and
 * main cancels random tasks all along.  Every item counted as sent by a
 * producer (its call returned 0) is received exactly once. */
enum { NPROD = 6, NCONS = 4, PER_PROD = 300 };

static eddy_chan_t sc[3];
static uint64_t sent_sum, recv_sum, sent_n, recv_n;
static int prods_done;
static uint32_t seed = 12345;

static uint32_t rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 16;
}

static int stress_producer(void *arg)
{
    for (int i = 0; i < PER_PROD; i++) {
        int v = TEST_I(arg) * 1000 + i + 1;
        eddy_chan_op_t ops[3];
        for (int k = 0; k < 3; k++)
            ops[k] = (eddy_chan_op_t){.chan = &sc[k], .dir = EDDY_SEND, .item = &v};
        int rc = rnd() % 4 ? eddy_select(ops, 3, rnd() % 3) : eddy_chan_send(&sc[rnd() % 3], &v);
        if (rc >= 0 && (rc == 0 || ops[rc].status == 0)) {
            sent_sum += (uint64_t)v;
            sent_n++;
        } else {
            ASSERT_TRUE(rc == UV_ECANCELED || rc == UV_ETIMEDOUT);
        }
    }
    prods_done++;
    return 0;
}

static int stress_consumer(void *arg)
{
    int v, open = 3;
    eddy_chan_op_t ops[3];

    for (int k = 0; k < 3; k++)
        ops[k] = (eddy_chan_op_t){.chan = &sc[k], .dir = EDDY_RECV, .item = &v};
    while (open > 0) {
        int rc = eddy_select(ops, 3, EDDY_FOREVER);
        if (rc == UV_ECANCELED)
            continue;
        ASSERT_GE(rc, 0);
        if (ops[rc].status == EDDY_ECLOSED) {
            ops[rc].chan = NULL;
            open--;
            continue;
        }
        recv_sum += (uint64_t)v;
        recv_n++;
        if (rnd() % 8 == 0)
            eddy_yield(); /* may return a pending cancel: fine */
    }
    return 0;
}

static int stress_main(void *arg)
{
    eddy_task_t *t[NPROD + NCONS];
    static const size_t caps[3] = {0, 1, 3};

    for (int k = 0; k < 3; k++)
        ASSERT_OK(eddy_chan_init(&sc[k], caps[k], sizeof(int)));
    for (int i = 0; i < NCONS; i++)
        t[NPROD + i] = test_spawn(stress_consumer, NULL);
    for (int i = 0; i < NPROD; i++)
        t[i] = test_spawn(stress_producer, TEST_P(i + 1));
    while (prods_done < NPROD) {
        ASSERT_OK(eddy_yield());
        eddy_cancel(t[rnd() % (NPROD + NCONS)]);
    }
    for (int k = 0; k < 3; k++)
        eddy_chan_close(&sc[k]);
    for (int i = 0; i < NPROD + NCONS; i++)
        ASSERT_OK(test_reap(t[i]));
    ASSERT_GT(sent_n, PER_PROD);         /* a good share got through */
    ASSERT_LT(sent_n, NPROD * PER_PROD); /* and some were interrupted */
    ASSERT_EQ(recv_n, sent_n);
    ASSERT_EQ(recv_sum, sent_sum);
    for (int k = 0; k < 3; k++)
        eddy_chan_destroy(&sc[k]);
    return 0;
}

TEST_IMPL(chan_cancel_stress)
{
    ASSERT_OK(eddy_run(stress_main, NULL));
    return 0;
}
