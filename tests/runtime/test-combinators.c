/* Combinators: gather (fail-fast and collect), wait, as_completed,
 * wait_for and shield, against asyncio's semantics. */
#include "runner/helpers.h"
#include "runner/runner.h"

/* A child's script: sleep ms, then return status with &status as its
 * result.  What its sleep returned is recorded, and whether its cleanup
 * (after an interrupted sleep) ran. */
typedef struct job {
    uint64_t ms;
    int status;
    int sleep_rc;
    bool cleaned_up;
    int cleanup_status; /* returned after an interruption, if not 0 */
} job_t;

static int cookie[8];

static int job_with_result(void *arg)
{
    job_t *j = arg;
    j->sleep_rc = eddy_sleep(j->ms);
    if (j->sleep_rc != 0) {
        /* Cleanup that waits: the cancellation was delivered once. */
        ASSERT_OK(eddy_sleep(5));
        j->cleaned_up = true;
        return j->cleanup_status ? j->cleanup_status : j->sleep_rc;
    }
    eddy_set_result(&j->status);
    return j->status;
}

static void spawn_jobs(eddy_task_t **ts, job_t *js, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        js[i].sleep_rc = 1;
        ASSERT_OK(eddy_spawn(&ts[i], job_with_result, &js[i], NULL));
    }
}

static void detach_all(eddy_task_t **ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        eddy_detach(ts[i]);
}

/* ------------------------------------------------------------- gather */

static int gather_order_main(void *arg)
{
    eddy_task_t *ts[3];
    job_t js[3] = {{.ms = 30, .status = 1}, {.ms = 10, .status = 2}, {.ms = 20, .status = 3}};
    void *results[3];
    int statuses[3];

    spawn_jobs(ts, js, 3);
    ASSERT_OK(eddy_gather(ts, 3, results, statuses, 0));
    for (int i = 0; i < 3; i++) {
        ASSERT_PTR_EQ(results[i], &js[i].status);
        ASSERT_EQ(statuses[i], i + 1);
        ASSERT_TRUE(eddy_done(ts[i]));
    }
    detach_all(ts, 3);
    /* Nothing to gather. */
    ASSERT_OK(eddy_gather(NULL, 0, NULL, NULL, 0));
    return 0;
}

TEST_IMPL(comb_gather_results_in_order)
{
    ASSERT_OK(eddy_run(gather_order_main, NULL));
    return 0;
}

static int gather_fail_fast_main(void *arg)
{
    eddy_task_t *ts[4];
    /* The last fails too, later: in its cleanup. */
    job_t js[4] = {{.ms = 5000},
                   {.ms = 20, .status = UV_EIO},
                   {.ms = 5000},
                   {.ms = 5000, .cleanup_status = UV_EPIPE}};
    int statuses[4];
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 4);
    ASSERT_ERR(eddy_gather(ts, 4, NULL, statuses, 0), UV_EIO);
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    /* The siblings were cancelled, and had finished unwinding. */
    for (int i = 0; i < 4; i++)
        ASSERT_TRUE(eddy_done(ts[i]));
    ASSERT_ERR(js[0].sleep_rc, UV_ECANCELED);
    ASSERT_TRUE(js[0].cleaned_up);
    ASSERT_ERR(js[2].sleep_rc, UV_ECANCELED);
    ASSERT_TRUE(js[2].cleaned_up);
    ASSERT_ERR(js[3].sleep_rc, UV_ECANCELED);
    ASSERT_ERR(statuses[1], UV_EIO);
    ASSERT_ERR(statuses[0], UV_ECANCELED);
    ASSERT_ERR(statuses[3], UV_EPIPE);
    ASSERT_TRUE(eddy_cancelled(ts[2]));
    /* The gatherer is not cancelled. */
    ASSERT_OK(eddy_sleep(1));
    detach_all(ts, 4);
    return 0;
}

TEST_IMPL(comb_gather_fail_fast)
{
    ASSERT_OK(eddy_run(gather_fail_fast_main, NULL));
    return 0;
}

static int gather_collect_main(void *arg)
{
    eddy_task_t *ts[3];
    job_t js[3] = {{.ms = 60, .status = 4}, {.ms = 10, .status = UV_EIO}, {.ms = 30, .status = 6}};
    void *results[3];
    int statuses[3];
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 3);
    ASSERT_OK(eddy_gather(ts, 3, results, statuses, EDDY_GATHER_COLLECT));
    ASSERT_GE(test_since(t0), 55); /* waited for the slowest */
    ASSERT_EQ(statuses[0], 4);
    ASSERT_ERR(statuses[1], UV_EIO);
    ASSERT_EQ(statuses[2], 6);
    ASSERT_PTR_EQ(results[0], &js[0].status);
    ASSERT_PTR_EQ(results[2], &js[2].status);
    /* Nobody was cancelled. */
    ASSERT_OK(js[0].sleep_rc);
    ASSERT_OK(js[2].sleep_rc);
    detach_all(ts, 3);
    return 0;
}

TEST_IMPL(comb_gather_collect)
{
    ASSERT_OK(eddy_run(gather_collect_main, NULL));
    return 0;
}

/* The gathering task is cancelled (or its scope expires): the gathered
 * tasks are cancelled and waited for. */
static eddy_task_t *gathered[3];
static job_t gathered_jobs[3];
static bool all_done_on_return;

static int gatherer(void *arg)
{
    eddy_timeout_t s;
    int rc;
    for (int i = 0; i < 3; i++)
        gathered_jobs[i] = (job_t){.ms = 5000, .status = 0};
    spawn_jobs(gathered, gathered_jobs, 3);
    if (arg != NULL)
        eddy_timeout_enter(&s, 20);
    rc = eddy_gather(gathered, 3, NULL, NULL, arg != NULL ? EDDY_GATHER_COLLECT : 0);
    if (arg != NULL)
        ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);
    all_done_on_return = true;
    for (int i = 0; i < 3; i++)
        all_done_on_return &= eddy_done(gathered[i]) && gathered_jobs[i].cleaned_up;
    detach_all(gathered, 3);
    return rc;
}

static int gather_cancelled_main(void *arg)
{
    eddy_task_t *g;
    uint64_t t0 = test_ms();
    ASSERT_OK(eddy_spawn(&g, gatherer, NULL, NULL));
    ASSERT_OK(eddy_sleep(20));
    eddy_cancel(g);
    ASSERT_ERR(eddy_join(g, NULL), UV_ECANCELED);
    ASSERT_TRUE(all_done_on_return);
    for (int i = 0; i < 3; i++)
        ASSERT_ERR(gathered_jobs[i].sleep_rc, UV_ECANCELED);
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    eddy_detach(g);

    /* The same through a timeout scope, in collect mode. */
    all_done_on_return = false;
    ASSERT_OK(eddy_spawn(&g, gatherer, (void *)1, NULL));
    ASSERT_ERR(eddy_join(g, NULL), UV_ETIMEDOUT);
    ASSERT_TRUE(all_done_on_return);
    for (int i = 0; i < 3; i++)
        ASSERT_ERR(gathered_jobs[i].sleep_rc, UV_ECANCELED);
    eddy_detach(g);
    return 0;
}

TEST_IMPL(comb_gather_cancelled_from_outside)
{
    ASSERT_OK(eddy_run(gather_cancelled_main, NULL));
    return 0;
}

/* --------------------------------------------------------------- wait */

static void cancel_and_reap(eddy_task_t **ts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        eddy_cancel(ts[i]);
        eddy_join(ts[i], NULL);
        eddy_detach(ts[i]);
    }
}

static int wait_first_completed_main(void *arg)
{
    eddy_task_t *ts[3];
    job_t js[3] = {{.ms = 300}, {.ms = 10, .status = 1}, {.ms = 200}};
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 3);
    ASSERT_EQ(eddy_wait(ts, 3, EDDY_FIRST_COMPLETED, EDDY_FOREVER), 1);
    ASSERT_LT(test_since(t0), 150 * test_scale());
    ASSERT_TRUE(eddy_done(ts[1]));
    ASSERT_FALSE(eddy_done(ts[0]));
    ASSERT_FALSE(eddy_done(ts[2]));
    /* Never cancels: the others run to their end. */
    ASSERT_OK(eddy_join(ts[2], NULL));
    ASSERT_OK(js[2].sleep_rc);
    ASSERT_OK(eddy_join(ts[0], NULL));
    ASSERT_OK(js[0].sleep_rc);
    /* With every task done, it returns at once. */
    ASSERT_EQ(eddy_wait(ts, 3, EDDY_FIRST_COMPLETED, EDDY_FOREVER), 3);
    detach_all(ts, 3);
    return 0;
}

TEST_IMPL(comb_wait_first_completed)
{
    ASSERT_OK(eddy_run(wait_first_completed_main, NULL));
    return 0;
}

static int wait_first_exception_main(void *arg)
{
    eddy_task_t *ts[3];
    job_t js[3] = {{.ms = 10}, {.ms = 40, .status = UV_EIO}, {.ms = 400}};
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 3);
    /* A success first does not end the wait; the failure does. */
    ASSERT_EQ(eddy_wait(ts, 3, EDDY_FIRST_EXCEPTION, EDDY_FOREVER), 2);
    ASSERT_BETWEEN(test_since(t0), 35, 300 * test_scale());
    ASSERT_ERR(eddy_status(ts[1]), UV_EIO);
    ASSERT_FALSE(eddy_done(ts[2]));
    cancel_and_reap(ts, 3);

    /* Without a failure, it waits for all. */
    job_t ok[3] = {{.ms = 10}, {.ms = 20}, {.ms = 30}};
    spawn_jobs(ts, ok, 3);
    ASSERT_EQ(eddy_wait(ts, 3, EDDY_FIRST_EXCEPTION, EDDY_FOREVER), 3);
    detach_all(ts, 3);
    return 0;
}

TEST_IMPL(comb_wait_first_exception)
{
    ASSERT_OK(eddy_run(wait_first_exception_main, NULL));
    return 0;
}

static int wait_all_main(void *arg)
{
    eddy_task_t *ts[3];
    job_t js[3] = {{.ms = 30}, {.ms = 10, .status = UV_EIO}, {.ms = 20}};
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 3);
    ASSERT_EQ(eddy_wait(ts, 3, EDDY_ALL_COMPLETED, EDDY_FOREVER), 3);
    ASSERT_GE(test_since(t0), 25);
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(eddy_done(ts[i]));
    detach_all(ts, 3);
    return 0;
}

TEST_IMPL(comb_wait_all_completed)
{
    ASSERT_OK(eddy_run(wait_all_main, NULL));
    return 0;
}

static int wait_timeout_main(void *arg)
{
    eddy_task_t *ts[3];
    job_t js[3] = {{.ms = 10}, {.ms = 400}, {.ms = 400}};
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 3);
    /* timeout_ms passing is not an error: it returns how many are done. */
    ASSERT_EQ(eddy_wait(ts, 3, EDDY_ALL_COMPLETED, 40), 1);
    ASSERT_BETWEEN(test_since(t0), 35, 300 * test_scale());
    ASSERT_FALSE(eddy_done(ts[1]));
    ASSERT_EQ(eddy_wait(ts + 1, 2, EDDY_FIRST_COMPLETED, 0), 0);
    /* Nothing was cancelled. */
    ASSERT_OK(eddy_join(ts[1], NULL));
    ASSERT_OK(js[1].sleep_rc);

    ASSERT_OK(eddy_join(ts[2], NULL));
    detach_all(ts, 3);

    /* A scope's expiry is an error. */
    eddy_timeout_t s;
    job_t j = {.ms = 200};
    spawn_jobs(ts, &j, 1);
    eddy_timeout_enter(&s, 20);
    ASSERT_ERR(eddy_wait(ts, 1, EDDY_ALL_COMPLETED, 1000), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);
    ASSERT_FALSE(eddy_done(ts[0]));
    ASSERT_OK(eddy_join(ts[0], NULL));
    ASSERT_OK(j.sleep_rc);
    eddy_detach(ts[0]);
    return 0;
}

TEST_IMPL(comb_wait_timeout)
{
    ASSERT_OK(eddy_run(wait_timeout_main, NULL));
    return 0;
}

static eddy_task_t *waited[2];
static int waiter_rc = 1;

static int waiter(void *arg)
{
    waiter_rc = eddy_wait(waited, 2, EDDY_ALL_COMPLETED, EDDY_FOREVER);
    return waiter_rc;
}

static int wait_cancelled_main(void *arg)
{
    eddy_task_t *w;
    job_t js[2] = {{.ms = 200}, {.ms = 200}};
    spawn_jobs(waited, js, 2);
    ASSERT_OK(eddy_spawn(&w, waiter, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(w);
    ASSERT_ERR(eddy_join(w, NULL), UV_ECANCELED);
    /* The tasks waited for are not cancelled. */
    ASSERT_FALSE(eddy_done(waited[0]));
    ASSERT_OK(eddy_join(waited[0], NULL));
    ASSERT_OK(eddy_join(waited[1], NULL));
    detach_all(waited, 2);
    eddy_detach(w);
    return 0;
}

TEST_IMPL(comb_wait_cancelled)
{
    ASSERT_OK(eddy_run(wait_cancelled_main, NULL));
    return 0;
}

/* ------------------------------------------------------- as_completed */

static int as_completed_main(void *arg)
{
    eddy_task_t *ts[4], *t;
    job_t js[4] = {{.ms = 45}, {.ms = 5}, {.ms = 30}, {.ms = 15}};
    eddy_as_completed_t it;
    int expect[4] = {1, 3, 2, 0};

    spawn_jobs(ts, js, 4);
    ASSERT_OK(eddy_as_completed_init(&it, ts, 4, EDDY_FOREVER));
    for (int i = 0; i < 4; i++) {
        t = NULL;
        ASSERT_OK(eddy_as_completed_next(&it, &t));
        ASSERT_PTR_EQ(t, ts[expect[i]]);
        ASSERT_TRUE(eddy_done(t));
    }
    ASSERT_ERR(eddy_as_completed_next(&it, &t), UV_EOF);
    ASSERT_ERR(eddy_as_completed_next(&it, &t), UV_EOF);
    eddy_as_completed_close(&it);
    detach_all(ts, 4);

    /* Tasks already done come first, in the order given. */
    job_t js2[3] = {{.ms = 20}, {.ms = 0}, {.ms = 0}};
    spawn_jobs(ts, js2, 3);
    ASSERT_OK(eddy_join(ts[2], NULL));
    ASSERT_OK(eddy_join(ts[1], NULL));
    ASSERT_OK(eddy_as_completed_init(&it, ts, 3, EDDY_FOREVER));
    for (int i = 1; i <= 3; i++) {
        ASSERT_OK(eddy_as_completed_next(&it, &t));
        ASSERT_PTR_EQ(t, ts[i % 3]);
    }
    ASSERT_ERR(eddy_as_completed_next(&it, &t), UV_EOF);
    eddy_as_completed_close(&it);
    detach_all(ts, 3);
    return 0;
}

TEST_IMPL(comb_as_completed_order)
{
    ASSERT_OK(eddy_run(as_completed_main, NULL));
    return 0;
}

static int as_completed_timeout_main(void *arg)
{
    eddy_task_t *ts[3], *t;
    job_t js[3] = {{.ms = 400}, {.ms = 10}, {.ms = 400}};
    eddy_as_completed_t it;
    uint64_t t0 = test_ms();

    spawn_jobs(ts, js, 3);
    /* The timeout bounds the whole iteration. */
    ASSERT_OK(eddy_as_completed_init(&it, ts, 3, 60));
    ASSERT_OK(eddy_as_completed_next(&it, &t));
    ASSERT_PTR_EQ(t, ts[1]);
    ASSERT_ERR(eddy_as_completed_next(&it, &t), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 55, 300 * test_scale());
    ASSERT_ERR(eddy_as_completed_next(&it, &t), UV_ETIMEDOUT);
    /* Closed early, with watches still registered on running tasks. */
    eddy_as_completed_close(&it);
    /* Nothing was cancelled. */
    ASSERT_OK(eddy_join(ts[0], NULL));
    ASSERT_OK(js[0].sleep_rc);
    cancel_and_reap(ts, 3);
    return 0;
}

TEST_IMPL(comb_as_completed_timeout)
{
    ASSERT_OK(eddy_run(as_completed_timeout_main, NULL));
    return 0;
}

static eddy_as_completed_t shared_it;
static int next_rc = 1;

static int iterate(void *arg)
{
    eddy_task_t *t;
    next_rc = eddy_as_completed_next(&shared_it, &t);
    return next_rc;
}

static int as_completed_cancel_main(void *arg)
{
    eddy_task_t *ts[1], *it_task, *t;
    job_t js[1] = {{.ms = 50}};
    spawn_jobs(ts, js, 1);
    ASSERT_OK(eddy_as_completed_init(&shared_it, ts, 1, EDDY_FOREVER));
    ASSERT_OK(eddy_spawn(&it_task, iterate, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(it_task);
    ASSERT_ERR(eddy_join(it_task, NULL), UV_ECANCELED);
    ASSERT_ERR(next_rc, UV_ECANCELED);
    /* The iteration goes on from another task. */
    ASSERT_OK(eddy_as_completed_next(&shared_it, &t));
    ASSERT_PTR_EQ(t, ts[0]);
    eddy_as_completed_close(&shared_it);
    eddy_detach(it_task);
    detach_all(ts, 1);
    return 0;
}

TEST_IMPL(comb_as_completed_cancelled)
{
    ASSERT_OK(eddy_run(as_completed_cancel_main, NULL));
    return 0;
}

/* ----------------------------------------------------------- wait_for */

static int wait_for_success_main(void *arg)
{
    eddy_task_t *t;
    job_t j = {.ms = 10, .status = 4};
    void *res = NULL;

    spawn_jobs(&t, &j, 1);
    ASSERT_EQ(eddy_wait_for(t, 1000, &res), 4);
    ASSERT_PTR_EQ(res, &j.status);
    /* On a task already done: at once. */
    res = NULL;
    ASSERT_EQ(eddy_wait_for(t, 0, &res), 4);
    ASSERT_PTR_EQ(res, &j.status);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(comb_wait_for_success)
{
    ASSERT_OK(eddy_run(wait_for_success_main, NULL));
    return 0;
}

static int wait_for_timeout_main(void *arg)
{
    eddy_task_t *t;
    job_t j = {.ms = 5000, .status = 4};
    uint64_t t0 = test_ms();

    spawn_jobs(&t, &j, 1);
    ASSERT_ERR(eddy_wait_for(t, 50, NULL), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 50, 500 * test_scale());
    /* t was cancelled and its cleanup had finished. */
    ASSERT_TRUE(eddy_done(t));
    ASSERT_TRUE(eddy_cancelled(t));
    ASSERT_TRUE(j.cleaned_up);
    /* The waiter itself is not cancelled. */
    ASSERT_OK(eddy_sleep(1));
    eddy_detach(t);
    return 0;
}

TEST_IMPL(comb_wait_for_timeout)
{
    ASSERT_OK(eddy_run(wait_for_timeout_main, NULL));
    return 0;
}

/* A task that catches the cancellation and still succeeds: wait_for
 * returns its success (asyncio returns the result too). */
static int stubborn(void *arg)
{
    eddy_sleep(5000);
    eddy_set_result(&cookie[1]);
    return 8;
}

static int wait_for_stubborn_main(void *arg)
{
    eddy_task_t *t;
    void *res = NULL;
    ASSERT_OK(eddy_spawn(&t, stubborn, NULL, NULL));
    ASSERT_EQ(eddy_wait_for(t, 20, &res), 8);
    ASSERT_PTR_EQ(res, &cookie[1]);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(comb_wait_for_task_ignores_cancel)
{
    ASSERT_OK(eddy_run(wait_for_stubborn_main, NULL));
    return 0;
}

static eddy_task_t *inner;
static job_t inner_job;
static int outer_rc = 1;

static int outer(void *arg)
{
    inner_job = (job_t){.ms = 5000};
    spawn_jobs(&inner, &inner_job, 1);
    outer_rc = eddy_wait_for(inner, 10000, NULL);
    return outer_rc;
}

static int wait_for_outer_cancelled_main(void *arg)
{
    eddy_task_t *o;
    uint64_t t0 = test_ms();
    ASSERT_OK(eddy_spawn(&o, outer, NULL, NULL));
    ASSERT_OK(eddy_sleep(20));
    eddy_cancel(o);
    ASSERT_ERR(eddy_join(o, NULL), UV_ECANCELED);
    ASSERT_ERR(outer_rc, UV_ECANCELED);
    ASSERT_TRUE(eddy_cancelled(inner));
    ASSERT_TRUE(inner_job.cleaned_up);
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    eddy_detach(inner);
    eddy_detach(o);
    return 0;
}

TEST_IMPL(comb_wait_for_outer_cancelled)
{
    ASSERT_OK(eddy_run(wait_for_outer_cancelled_main, NULL));
    return 0;
}

/* The task ends at the very deadline: either its success comes back with
 * its result, or UV_ETIMEDOUT with the task cancelled — never a mix, a
 * leak or a hang. */
static int at_deadline(void *arg)
{
    int rc = eddy_sleep(100);
    if (rc != 0)
        return rc;
    eddy_set_result(&cookie[2]);
    return 7;
}

static int wait_for_race_main(void *arg)
{
    /* Around the deadline too, so that both outcomes occur. */
    static const uint64_t timeouts_ms[] = {100, 100, 100, 100, 98, 99, 101, 102};
    int successes = 0, timeouts = 0;
    for (size_t i = 0; i < sizeof(timeouts_ms) / sizeof(timeouts_ms[0]); i++) {
        eddy_task_t *t;
        void *res = NULL;
        ASSERT_OK(eddy_spawn(&t, at_deadline, NULL, NULL));
        int rc = eddy_wait_for(t, timeouts_ms[i], &res);
        ASSERT_TRUE(eddy_done(t));
        if (rc == 7) {
            ASSERT_PTR_EQ(res, &cookie[2]);
            ASSERT_FALSE(eddy_cancelled(t));
            successes++;
        } else {
            ASSERT_ERR(rc, UV_ETIMEDOUT);
            ASSERT_TRUE(eddy_cancelled(t));
            ASSERT_NULL(res);
            timeouts++;
        }
        /* Nothing is left pending on the waiter. */
        ASSERT_FALSE(eddy_cancelling(eddy_current()));
        ASSERT_OK(eddy_yield());
        eddy_detach(t);
    }
    printf("at the deadline: %d successes, %d timeouts\n", successes, timeouts);
    return 0;
}

TEST_IMPL(comb_wait_for_at_deadline)
{
    ASSERT_OK(eddy_run(wait_for_race_main, NULL));
    return 0;
}

/* ------------------------------------------------------------- shield */

static eddy_task_t *precious;
static int shield_rc = 1;

static int shielder(void *arg)
{
    shield_rc = eddy_shield(precious, NULL);
    return shield_rc;
}

static int shield_main(void *arg)
{
    eddy_task_t *s;
    job_t j = {.ms = 60, .status = 9};
    void *res = NULL;

    spawn_jobs(&precious, &j, 1);
    ASSERT_OK(eddy_spawn(&s, shielder, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(s);
    ASSERT_ERR(eddy_join(s, NULL), UV_ECANCELED);
    ASSERT_ERR(shield_rc, UV_ECANCELED);
    /* The shielded task runs on and finishes normally. */
    ASSERT_FALSE(eddy_done(precious));
    ASSERT_EQ(eddy_join(precious, &res), 9);
    ASSERT_OK(j.sleep_rc);
    ASSERT_PTR_EQ(res, &j.status);
    /* Not cancelled: shield returns the task's own status and result. */
    job_t j2 = {.ms = 5, .status = 3};
    eddy_detach(precious);
    spawn_jobs(&precious, &j2, 1);
    ASSERT_EQ(eddy_shield(precious, &res), 3);
    ASSERT_PTR_EQ(res, &j2.status);
    eddy_detach(precious);
    eddy_detach(s);
    return 0;
}

TEST_IMPL(comb_shield)
{
    ASSERT_OK(eddy_run(shield_main, NULL));
    return 0;
}
