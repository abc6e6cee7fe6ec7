/* asyncio's producer/consumer tutorial: a producer fills a bounded queue
 * with random pauses, three workers process the items with task_done, join
 * returns once all are processed exactly once, and the workers stop on
 * shutdown (or, the older way, on sentinel items). */
#include "runner/helpers.h"
#include "runner/runner.h"

enum { NITEMS = 10, NWORKERS = 3 };

static eddy_queue_t q;
static int count[NITEMS + 1];
static int stop_item; /* its address is the sentinel */
static uint32_t rng = 777;

/* 1 to 20 ms. */
static uint64_t pause_ms(void)
{
    rng = rng * 1103515245u + 12345u;
    return 1 + (rng >> 16) % 20;
}

static int producer(void *arg)
{
    for (int i = 1; i <= NITEMS; i++) {
        ASSERT_OK(eddy_sleep(pause_ms()));
        ASSERT_OK(eddy_queue_put(&q, TEST_P(i)));
        ASSERT_LE(eddy_queue_size(&q), 5);
    }
    return 0;
}

static int worker(void *arg)
{
    int processed = 0;
    for (;;) {
        void *item;
        int rc = eddy_queue_get(&q, &item);
        if (rc == EDDY_ESHUTDOWN)
            return processed;
        ASSERT_OK(rc);
        if (item == &stop_item) {
            ASSERT_OK(eddy_queue_task_done(&q));
            return processed;
        }
        ASSERT_OK(eddy_sleep(pause_ms()));
        count[TEST_I(item)]++;
        processed++;
        ASSERT_OK(eddy_queue_task_done(&q));
    }
}

static int example_main(void *arg)
{
    bool sentinels = arg != NULL;
    eddy_task_t *prod, *w[NWORKERS];
    int total = 0;

    ASSERT_OK(eddy_queue_init(&q, 5));
    for (int i = 0; i < NWORKERS; i++)
        ASSERT_OK(eddy_spawn(&w[i], worker, NULL, NULL));
    ASSERT_OK(eddy_spawn(&prod, producer, NULL, NULL));
    ASSERT_OK(eddy_join(prod, NULL));
    eddy_detach(prod);
    ASSERT_OK(eddy_queue_join(&q));
    for (int i = 1; i <= NITEMS; i++)
        ASSERT_EQ(count[i], 1);

    if (sentinels) {
        for (int i = 0; i < NWORKERS; i++)
            ASSERT_OK(eddy_queue_put(&q, &stop_item));
    } else {
        eddy_queue_shutdown(&q, false);
    }
    for (int i = 0; i < NWORKERS; i++) {
        int n = eddy_join(w[i], NULL);
        ASSERT_GE(n, 0);
        total += n;
        eddy_detach(w[i]);
    }
    ASSERT_EQ(total, NITEMS);
    ASSERT_OK(eddy_queue_join(&q)); /* sentinels were marked done too */
    ASSERT_TRUE(eddy_queue_empty(&q));
    eddy_queue_destroy(&q);
    return 0;
}

TEST_IMPL(queue_example_producer_consumer)
{
    ASSERT_OK(eddy_run(example_main, NULL));
    return 0;
}

TEST_IMPL(queue_example_sentinels)
{
    ASSERT_OK(eddy_run(example_main, TEST_P(1)));
    return 0;
}
