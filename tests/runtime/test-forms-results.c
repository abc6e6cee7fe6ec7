/* asyncio.wait's done and pending sets (eddy_wait_sets), typed integer
 * results (eddy_spawn_int, eddy_join_int) and eddy_run returning main's
 * result (eddy_run_result, eddy_run_int). */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_event_t never, fail_now;

static int quick(void *arg)
{
    return eddy_yield();
}

static int failer(void *arg)
{
    ASSERT_OK(eddy_event_wait(&fail_now));
    return UV_EIO;
}

/* done, pending = await asyncio.wait(tasks, return_when=...); which task
 * ends when is set by events, not by timing. */
static int wait_sets_main(void *arg)
{
    eddy_task_t *ts[4], *done[4], *pending[4];

    eddy_event_init(&never);
    eddy_event_init(&fail_now);
    ASSERT_OK(eddy_spawn_event_wait(&ts[0], &never));
    ts[1] = test_spawn(quick, NULL);
    ts[2] = test_spawn(failer, NULL);
    ASSERT_OK(eddy_spawn_event_wait(&ts[3], &never));

    ASSERT_EQ(eddy_wait_sets(ts, 4, EDDY_FIRST_COMPLETED, EDDY_FOREVER, done, pending), 1);
    ASSERT_PTR_EQ(done[0], ts[1]);
    ASSERT_PTR_EQ(pending[0], ts[0]);
    ASSERT_PTR_EQ(pending[1], ts[2]);
    ASSERT_PTR_EQ(pending[2], ts[3]);

    eddy_event_set(&fail_now);
    ASSERT_EQ(eddy_wait_sets(ts, 4, EDDY_FIRST_EXCEPTION, EDDY_FOREVER, done, pending), 2);
    ASSERT_PTR_EQ(done[0], ts[1]);
    ASSERT_PTR_EQ(done[1], ts[2]);
    ASSERT_ERR(eddy_status(done[1]), UV_EIO);
    ASSERT_PTR_EQ(pending[0], ts[0]);
    ASSERT_PTR_EQ(pending[1], ts[3]);

    /* The wait's own timeout is no error: the sets say what is left. */
    ASSERT_EQ(eddy_wait_sets(ts, 4, EDDY_ALL_COMPLETED, 10, NULL, pending), 2);
    ASSERT_PTR_EQ(pending[0], ts[0]);
    ASSERT_PTR_EQ(pending[1], ts[3]);

    /* An interrupted wait fills the sets too. */
    eddy_cancel(ts[0]);
    eddy_cancel(eddy_current());
    ASSERT_ERR(eddy_wait_sets(ts, 4, EDDY_ALL_COMPLETED, EDDY_FOREVER, done, pending),
               UV_ECANCELED);
    eddy_cancel(ts[3]);
    ASSERT_EQ(eddy_wait_sets(ts, 4, EDDY_ALL_COMPLETED, EDDY_FOREVER, done, NULL), 4);
    for (int i = 0; i < 4; i++) {
        ASSERT_PTR_EQ(done[i], ts[i]);
        eddy_detach(ts[i]);
    }
    return 0;
}

TEST_IMPL(forms_wait_sets)
{
    ASSERT_OK(eddy_run(wait_sets_main, NULL));
    return 0;
}

/* ------------------------------------------------------------ typed results */

static int square(int64_t x, int64_t *result)
{
    int rc = eddy_sleep(1);
    if (rc < 0)
        return rc;
    *result = x * x;
    return 0;
}

/* A negative value is a value, not an error. */
static int negate(int64_t x, int64_t *result)
{
    *result = -x;
    return 0;
}

static int forever(int64_t ms, int64_t *result)
{
    *result = 1; /* stored even when the body fails */
    return eddy_sleep((uint64_t)ms);
}

static int set_int(void *arg)
{
    eddy_set_result_int(-5000000000LL);
    return 0;
}

static int typed_main(void *arg)
{
    eddy_task_t *a, *b, *c, *d;
    int64_t v = 1;

    ASSERT_OK(eddy_spawn_int(&a, square, 12, NULL));
    ASSERT_OK(eddy_spawn_int(&b, negate, 40, NULL));
    ASSERT_OK(eddy_spawn(&c, set_int, NULL, NULL));
    ASSERT_OK(eddy_spawn_int(&d, forever, 60000, NULL));
    ASSERT_OK(eddy_join_int(a, &v));
    ASSERT_EQ(v, 144);
    ASSERT_OK(eddy_join_int(b, &v));
    ASSERT_EQ(v, -40);
    ASSERT_EQ(eddy_result_int(b), -40);
    ASSERT_OK(eddy_join_int(c, &v));
    ASSERT_EQ(v, -5000000000LL);
    /* Cancelled: its status says so, beside what it stored. */
    eddy_cancel(d);
    ASSERT_ERR(eddy_join_int(d, &v), UV_ECANCELED);
    ASSERT_EQ(v, 1);
    /* Integer tasks gather like any other. */
    eddy_task_t *ts[2] = {a, b};
    ASSERT_OK(eddy_gather(ts, 2, NULL, NULL, 0));
    eddy_detach(a);
    eddy_detach(b);
    eddy_detach(c);
    eddy_detach(d);
    eddy_set_result(&v);
    return 0;
}

TEST_IMPL(forms_typed_results)
{
    void *res = NULL;
    ASSERT_OK(eddy_run_result(typed_main, NULL, &res));
    ASSERT_NOT_NULL(res); /* main's eddy_set_result */
    return 0;
}

static int int_main(int64_t arg, int64_t *result)
{
    eddy_task_t *t;
    int64_t v;

    ASSERT_OK(eddy_spawn_int(&t, square, arg, NULL));
    ASSERT_OK(eddy_join_int(t, &v));
    eddy_detach(t);
    *result = v + 1;
    return 0;
}

static int failing_int_main(int64_t arg, int64_t *result)
{
    *result = arg;
    return UV_EINVAL;
}

TEST_IMPL(forms_run_int)
{
    int64_t v = 0;
    ASSERT_OK(eddy_run_int(int_main, 9, &v));
    ASSERT_EQ(v, 82);
    /* eddy_run's contract: main's status, and the result beside it. */
    ASSERT_ERR(eddy_run_int(failing_int_main, 3, &v), UV_EINVAL);
    ASSERT_EQ(v, 3);
    ASSERT_OK(eddy_run_int(int_main, 2, NULL));
    return 0;
}
