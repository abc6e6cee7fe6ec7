/* Channels: rendezvous handoff in FIFO order, buffered capacity, close
 * (buffered items drained, then EDDY_ECLOSED; waiters woken). */
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
        got[ngot++] = v * 100 + TEST_I(arg);
    return rc;
}

/* Three senders block on a rendezvous channel; receives take their items
 * in the order they came, and each send returns only once received. */
static int rendezvous_main(void *arg)
{
    eddy_task_t *s[3];
    int v;

    ASSERT_OK(eddy_chan_init(&ch, 0, sizeof(int)));
    ASSERT_ERR(eddy_chan_try_send(&ch, &(int){9}), UV_EAGAIN);
    for (int i = 0; i < 3; i++)
        s[i] = test_spawn(sender, TEST_P(i + 1));
    test_settle(3);
    ASSERT_EQ(ch.senders.len, 3);
    ASSERT_EQ(eddy_chan_len(&ch), 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(eddy_chan_recv(&ch, &v));
        ASSERT_EQ(v, i + 1);
    }
    for (int i = 0; i < 3; i++)
        ASSERT_OK(test_reap(s[i]));
    ASSERT_ERR(eddy_chan_try_recv(&ch, &v), UV_EAGAIN);

    /* Receivers wait in order too, and a send goes to the first. */
    eddy_task_t *r[3];
    for (int i = 0; i < 3; i++)
        r[i] = test_spawn(receiver, TEST_P(i));
    test_settle(3);
    ASSERT_EQ(ch.receivers.len, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(eddy_chan_try_send(&ch, &(int){i + 4}));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(test_reap(r[i]));
    ASSERT_EQ(ngot, 3);
    ASSERT_EQ(got[0], 400);
    ASSERT_EQ(got[1], 501);
    ASSERT_EQ(got[2], 602);
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(chan_rendezvous_order)
{
    ASSERT_OK(eddy_run(rendezvous_main, NULL));
    return 0;
}

/* A channel of capacity 3 takes three sends without a receiver, blocks
 * the fourth, and a receive moves the blocked item into the ring. */
static int buffered_main(void *arg)
{
    eddy_task_t *s;
    int v;

    ASSERT_OK(eddy_chan_init(&ch, 3, sizeof(int)));
    for (int i = 1; i <= 3; i++)
        ASSERT_OK(eddy_chan_send(&ch, &i));
    ASSERT_EQ(eddy_chan_len(&ch), 3);
    ASSERT_ERR(eddy_chan_try_send(&ch, &(int){99}), UV_EAGAIN);
    s = test_spawn(sender, TEST_P(4));
    test_settle(2);
    ASSERT_EQ(ch.senders.len, 1);
    ASSERT_OK(eddy_chan_recv(&ch, &v));
    ASSERT_EQ(v, 1);
    ASSERT_EQ(eddy_chan_len(&ch), 3); /* the waiting sender's item moved in */
    ASSERT_EQ(ch.senders.len, 0);
    ASSERT_OK(test_reap(s));
    for (int i = 2; i <= 4; i++) {
        ASSERT_OK(eddy_chan_try_recv(&ch, &v));
        ASSERT_EQ(v, i);
    }
    ASSERT_ERR(eddy_chan_try_recv(&ch, &v), UV_EAGAIN);

    /* The ring wraps around many times without losing order. */
    for (int i = 0; i < 100; i++) {
        ASSERT_OK(eddy_chan_try_send(&ch, &i));
        if (i % 3 == 2)
            for (int j = i - 2; j <= i; j++) {
                ASSERT_OK(eddy_chan_try_recv(&ch, &v));
                ASSERT_EQ(v, j);
            }
    }
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(chan_buffered_capacity)
{
    ASSERT_OK(eddy_run(buffered_main, NULL));
    return 0;
}

/* Close: buffered items are still received, then EDDY_ECLOSED; sends
 * fail; a blocked sender and blocked receivers are woken with it. */
static int close_main(void *arg)
{
    eddy_task_t *s, *r[2];
    int v;

    ASSERT_OK(eddy_chan_init(&ch, 2, sizeof(int)));
    ASSERT_OK(eddy_chan_send(&ch, &(int){1}));
    ASSERT_OK(eddy_chan_send(&ch, &(int){2}));
    s = test_spawn(sender, TEST_P(3));
    test_settle(2);
    eddy_chan_close(&ch);
    ASSERT_ERR(test_reap(s), EDDY_ECLOSED);
    ASSERT_ERR(eddy_chan_send(&ch, &(int){4}), EDDY_ECLOSED);
    ASSERT_ERR(eddy_chan_try_send(&ch, &(int){4}), EDDY_ECLOSED);
    ASSERT_OK(eddy_chan_recv(&ch, &v));
    ASSERT_EQ(v, 1);
    ASSERT_OK(eddy_chan_try_recv(&ch, &v));
    ASSERT_EQ(v, 2);
    ASSERT_ERR(eddy_chan_recv(&ch, &v), EDDY_ECLOSED);
    ASSERT_ERR(eddy_chan_try_recv(&ch, &v), EDDY_ECLOSED);
    eddy_chan_close(&ch); /* idempotent */
    eddy_chan_destroy(&ch);

    ASSERT_OK(eddy_chan_init(&ch, 0, sizeof(int)));
    r[0] = test_spawn(receiver, TEST_P(0));
    r[1] = test_spawn(receiver, TEST_P(1));
    test_settle(2);
    ASSERT_EQ(ch.receivers.len, 2);
    eddy_chan_close(&ch);
    ASSERT_ERR(test_reap(r[0]), EDDY_ECLOSED);
    ASSERT_ERR(test_reap(r[1]), EDDY_ECLOSED);
    ASSERT_EQ(ngot, 0);
    eddy_chan_destroy(&ch);
    return 0;
}

TEST_IMPL(chan_close_drains)
{
    ASSERT_OK(eddy_run(close_main, NULL));
    return 0;
}

/* Items of zero size are signals; large items are copied whole. */
typedef struct big {
    char bytes[200];
} big_t;

static int sizes_main(void *arg)
{
    eddy_chan_t sig, bigc;
    big_t in, out;

    ASSERT_OK(eddy_chan_init(&sig, 2, 0));
    ASSERT_OK(eddy_chan_try_send(&sig, NULL));
    ASSERT_OK(eddy_chan_try_recv(&sig, NULL));
    ASSERT_ERR(eddy_chan_try_recv(&sig, NULL), UV_EAGAIN);
    eddy_chan_destroy(&sig);

    ASSERT_OK(eddy_chan_init(&bigc, 1, sizeof(big_t)));
    for (int i = 0; i < 200; i++)
        in.bytes[i] = (char)i;
    ASSERT_OK(eddy_chan_send(&bigc, &in));
    memset(&in, 0, sizeof(in));
    ASSERT_OK(eddy_chan_recv(&bigc, &out));
    for (int i = 0; i < 200; i++)
        ASSERT_EQ(out.bytes[i], (char)i);
    eddy_chan_destroy(&bigc);
    return 0;
}

TEST_IMPL(chan_item_sizes)
{
    ASSERT_OK(eddy_run(sizes_main, NULL));
    return 0;
}

/* Outside a task, only the try_ forms work. */
TEST_IMPL(chan_outside_task)
{
    eddy_chan_t c;
    int v = 1;
    ASSERT_OK(eddy_chan_init(&c, 1, sizeof(int)));
    ASSERT_OK(eddy_chan_try_send(&c, &v));
    ASSERT_ERR(eddy_chan_send(&c, &v), EDDY_ENOTASK);
    ASSERT_OK(eddy_chan_try_recv(&c, &v));
    ASSERT_ERR(eddy_chan_recv(&c, &v), EDDY_ENOTASK);
    eddy_chan_destroy(&c);
    return 0;
}
