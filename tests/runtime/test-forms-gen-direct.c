/* Generators' direct handoff (src/runtime/sync/gen.c): once running, a
 * lazy generator and its consumer switch straight to each other, without
 * the ready queue; a body that waits between yields, a consumer cancelled
 * while the body runs or waits, a body cancelled while the consumer waits
 * and a deadlock inside a body fall back to the scheduler's path. */
#include "runner/helpers.h"
#include "runner/runner.h"

/* ------------------------------------------------------------- no trips */

static int ticks;

/* A task that counts the batches it runs in: it only runs when the
 * consumer goes through the scheduler. */
static int ticker(void *arg)
{
    for (;;) {
        int rc = eddy_yield();
        if (rc != 0)
            return rc;
        ticks++;
    }
}

static int upto(eddy_gen_t *g, void *arg)
{
    for (int i = 1; i <= TEST_I(arg); i++) {
        int rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int direct_main(void *arg)
{
    eddy_gen_t g;
    eddy_task_t *t = test_spawn(ticker, NULL);
    int v, before;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), upto, TEST_P(1000), NULL));
    ASSERT_OK(eddy_gen_next(&g, &v)); /* starts the body: a trip or two */
    ASSERT_EQ(v, 1);
    before = ticks;
    for (int i = 2; i <= 1000; i++) {
        ASSERT_OK(eddy_gen_next(&g, &v));
        ASSERT_EQ(v, i);
    }
    /* 999 items, and not one turn of the scheduler: as asyncio's
     * `async for` over a generator that never awaits. */
    ASSERT_EQ(ticks, before);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EOF);
    eddy_cancel(t);
    ASSERT_ERR(test_reap(t), UV_ECANCELED);
    return 0;
}

TEST_IMPL(forms_gen_direct_no_scheduler_trips)
{
    ASSERT_OK(eddy_run(direct_main, NULL));
    return 0;
}

/* ------------------------------------------------- body that waits */

/* Sleeps before every other yield: the consumer waits parked for those,
 * and takes the others directly. */
static int napping(eddy_gen_t *g, void *arg)
{
    for (int i = 1; i <= 6; i++) {
        if (i % 2 == 0) {
            int rc = eddy_sleep((uint64_t)TEST_I(arg));
            if (rc != 0)
                return rc;
        }
        int rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int sleepy_main(void *arg)
{
    eddy_gen_t g;
    int v, rc, n = 0;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), napping, TEST_P(2), NULL));
    while ((rc = eddy_gen_next(&g, &v)) == 0)
        ASSERT_EQ(v, ++n);
    ASSERT_ERR(rc, UV_EOF);
    ASSERT_EQ(n, 6);
    return 0;
}

TEST_IMPL(forms_gen_direct_body_sleeps)
{
    ASSERT_OK(eddy_run(sleepy_main, NULL));
    return 0;
}

/* -------------------------------------------- consumer cancelled */

static eddy_task_t *consumer;

/* Cancels the consumer while it runs (the consumer is parked waiting for
 * this item), then yields. */
static int cancels_consumer(eddy_gen_t *g, void *arg)
{
    for (int i = 1; i <= 3; i++) {
        if (i == 2)
            eddy_cancel(consumer);
        int rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Yields 1, then sleeps long before 2. */
static int slow_second(eddy_gen_t *g, void *arg)
{
    for (int i = 1; i <= 2; i++) {
        if (i == 2) {
            int rc = eddy_sleep(30);
            if (rc != 0)
                return rc;
        }
        int rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int cancel_later(void *arg)
{
    int rc = eddy_sleep(5);
    if (rc == 0)
        eddy_cancel(arg);
    return rc;
}

static int consumer_cancelled_main(void *arg)
{
    eddy_gen_t g;
    int v;

    /* Cancelled by the body itself while it runs: delivered at once, the
     * item it then yields waits for the next call. */
    consumer = eddy_current();
    ASSERT_OK(eddy_gen_start(&g, sizeof(int), cancels_consumer, NULL, NULL));
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_EQ(v, 1);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ECANCELED);
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_EQ(v, 2);
    ASSERT_OK(eddy_gen_next(&g, &v));
    ASSERT_EQ(v, 3);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EOF);

    /* Cancelled by another task while the body sleeps. */
    ASSERT_OK(eddy_gen_start(&g, sizeof(int), slow_second, NULL, NULL));
    ASSERT_OK(eddy_gen_next(&g, &v));
    eddy_task_t *t = test_spawn(cancel_later, eddy_current());
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ECANCELED);
    ASSERT_OK(test_reap(t));
    ASSERT_OK(eddy_gen_next(&g, &v)); /* not lost */
    ASSERT_EQ(v, 2);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_EOF);
    return 0;
}

TEST_IMPL(forms_gen_direct_consumer_cancelled)
{
    ASSERT_OK(eddy_run(consumer_cancelled_main, NULL));
    return 0;
}

/* ------------------------------------------------ body cancelled */

static int body_rc;

static int sleeps_forever(eddy_gen_t *g, void *arg)
{
    int one = 1;
    int rc = eddy_gen_yield(g, &one);
    if (rc != 0)
        return rc;
    body_rc = eddy_sleep(EDDY_FOREVER);
    return body_rc;
}

static int cancel_gen_later(void *arg)
{
    int rc = eddy_sleep(5);
    if (rc == 0)
        eddy_gen_cancel(arg);
    return rc;
}

static int body_cancelled_main(void *arg)
{
    eddy_gen_t g;
    int v;

    ASSERT_OK(eddy_gen_start(&g, sizeof(int), sleeps_forever, NULL, NULL));
    ASSERT_OK(eddy_gen_next(&g, &v));
    eddy_task_t *t = test_spawn(cancel_gen_later, &g);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ECANCELED); /* the body's status */
    ASSERT_ERR(body_rc, UV_ECANCELED);
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ECANCELED);
    ASSERT_OK(test_reap(t));
    return 0;
}

TEST_IMPL(forms_gen_direct_body_cancelled)
{
    ASSERT_OK(eddy_run(body_cancelled_main, NULL));
    return 0;
}

/* ------------------------------------------------------ deadlock */

static eddy_event_t never;

static int waits_never(eddy_gen_t *g, void *arg)
{
    int one = 1;
    int rc = eddy_gen_yield(g, &one);
    if (rc != 0)
        return rc;
    return eddy_event_wait(&never);
}

static int deadlock_main(void *arg)
{
    eddy_gen_t g;
    eddy_spawn_opts_t opts = {.name = "stuck-gen"};
    int v;

    eddy_event_init(&never);
    ASSERT_OK(eddy_gen_start(&g, sizeof(int), waits_never, NULL, &opts));
    ASSERT_OK(eddy_gen_next(&g, &v));
    /* Both wait: the consumer for the item, the body on the event. */
    ASSERT_ERR(eddy_gen_next(&g, &v), UV_ECANCELED);
    return eddy_gen_close(&g);
}

TEST_IMPL(forms_gen_direct_deadlock)
{
    ASSERT_ERR(eddy_run(deadlock_main, NULL), EDDY_EDEADLOCK);
    return 0;
}
