/* Go's pipeline pattern with channels: a producer, three squaring workers
 * fanned out on one channel, and a summing consumer.  Closing a channel is
 * the end-of-stream signal, so there are no sentinels, no task_done/join
 * bookkeeping and no shutdown call, as test-queue-example.c needs. */
#include "runner/helpers.h"
#include "runner/runner.h"

enum { NITEMS = 100, NWORKERS = 3 };

static eddy_chan_t nums, squares;

static int producer(void *arg)
{
    for (int i = 1; i <= NITEMS; i++)
        ASSERT_OK(eddy_chan_send(&nums, &i));
    eddy_chan_close(&nums);
    return 0;
}

static int squarer(void *arg)
{
    int n, done = 0;
    while (eddy_chan_recv(&nums, &n) == 0) {
        ASSERT_OK(eddy_chan_send(&squares, &(int){n * n}));
        done++;
    }
    return done;
}

static int consumer(void *arg)
{
    int sq, sum = 0;
    while (eddy_chan_recv(&squares, &sq) == 0)
        sum += sq;
    return sum;
}

static int pipeline_main(void *arg)
{
    eddy_task_t *w[NWORKERS], *sum;
    int total = 0;

    ASSERT_OK(eddy_chan_init(&nums, 0, sizeof(int)));
    ASSERT_OK(eddy_chan_init(&squares, 4, sizeof(int)));
    sum = test_spawn(consumer, NULL);
    for (int i = 0; i < NWORKERS; i++)
        w[i] = test_spawn(squarer, NULL);
    ASSERT_OK(test_reap(test_spawn(producer, NULL)));
    for (int i = 0; i < NWORKERS; i++)
        total += test_reap(w[i]);
    eddy_chan_close(&squares);
    ASSERT_EQ(total, NITEMS);
    ASSERT_EQ(test_reap(sum), NITEMS * (NITEMS + 1) * (2 * NITEMS + 1) / 6);
    eddy_chan_destroy(&nums);
    eddy_chan_destroy(&squares);
    return 0;
}

TEST_IMPL(chan_example_pipeline)
{
    ASSERT_OK(eddy_run(pipeline_main, NULL));
    return 0;
}

/* A select loop: a worker serves two input channels until both are
 * closed, with a ticker-like timeout when idle, switching a closed case
 * off with a NULL channel as Go code does. */
static eddy_chan_t in1, in2;

static int two_inputs(void *arg)
{
    int v, sum = 0, open = 2, idle = 0;
    eddy_chan_op_t ops[] = {{&in1, EDDY_RECV, &v, 0}, {&in2, EDDY_RECV, &v, 0}};

    while (open > 0) {
        int i = eddy_select(ops, 2, 5);
        if (i == UV_ETIMEDOUT) {
            idle++;
            continue;
        }
        ASSERT_GE(i, 0);
        if (ops[i].status == EDDY_ECLOSED) {
            ops[i].chan = NULL;
            open--;
            continue;
        }
        sum += v;
    }
    return idle > 0 ? sum : -1;
}

static int select_loop_main(void *arg)
{
    eddy_task_t *t;

    ASSERT_OK(eddy_chan_init(&in1, 0, sizeof(int)));
    ASSERT_OK(eddy_chan_init(&in2, 2, sizeof(int)));
    t = test_spawn(two_inputs, NULL);
    for (int i = 1; i <= 10; i++)
        ASSERT_OK(eddy_chan_send(i % 2 ? &in1 : &in2, &i));
    eddy_chan_close(&in1);
    ASSERT_OK(eddy_sleep(20)); /* at least one idle timeout */
    eddy_chan_close(&in2);
    ASSERT_EQ(test_reap(t), 55);
    eddy_chan_destroy(&in1);
    eddy_chan_destroy(&in2);
    return 0;
}

TEST_IMPL(chan_example_select_loop)
{
    ASSERT_OK(eddy_run(select_loop_main, NULL));
    return 0;
}
