/* Task groups (asyncio.TaskGroup): success, a failing child cancelling
 * its siblings and the body, closed and cancelled groups, the owner
 * cancelled while waiting, supervisors, nesting. */
#include "runner/helpers.h"
#include "runner/runner.h"

/* A child's script: sleep ms, then return status; what its sleep
 * returned is recorded, and whether its (waiting) cleanup ran. */
typedef struct job {
    uint64_t ms;
    int status;
    int sleep_rc;
    bool cleaned_up;
} job_t;

static int run_job(void *arg)
{
    job_t *j = arg;
    j->sleep_rc = eddy_sleep(j->ms);
    if (j->sleep_rc != 0) {
        ASSERT_OK(eddy_sleep(5));
        j->cleaned_up = true;
        return j->sleep_rc;
    }
    return j->status;
}

static void spawn_jobs(eddy_group_t *g, job_t *js, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        js[i].sleep_rc = 1;
        ASSERT_OK(eddy_group_spawn(g, NULL, run_job, &js[i], NULL));
    }
}

static int all_succeed_main(void *arg)
{
    eddy_group_t g;
    job_t js[3] = {{.ms = 30, .status = 1}, {.ms = 10}, {.ms = 20, .status = 5}};
    uint64_t t0 = test_ms();

    eddy_group_init(&g, 0);
    spawn_jobs(&g, js, 3);
    ASSERT_EQ(eddy_group_size(&g), 3);
    ASSERT_OK(eddy_group_wait(&g));
    ASSERT_GE(test_since(t0), 25);
    ASSERT_EQ(eddy_group_size(&g), 0);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(js[i].sleep_rc);

    /* An empty group. */
    eddy_group_init(&g, 0);
    ASSERT_OK(eddy_group_wait(&g));
    return 0;
}

TEST_IMPL(group_all_succeed)
{
    ASSERT_OK(eddy_run(all_succeed_main, NULL));
    return 0;
}

static int failure_main(void *arg)
{
    eddy_group_t g;
    job_t js[4] = {
        {.ms = 5000}, {.ms = 20, .status = UV_EIO}, {.ms = 5000}, {.ms = 40, .status = UV_EPIPE}};
    uint64_t t0 = test_ms();

    eddy_group_init(&g, 0);
    spawn_jobs(&g, js, 4);
    /* The body is cancelled in its current wait. */
    ASSERT_ERR(eddy_sleep(5000), UV_ECANCELED);
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    /* Spawning into a group that cancelled itself is refused. */
    ASSERT_ERR(eddy_group_spawn(&g, NULL, run_job, &js[0], NULL), UV_EINVAL);
    ASSERT_ERR(eddy_group_wait(&g), UV_EIO);
    ASSERT_EQ(eddy_group_size(&g), 0);
    for (int i = 0; i < 4; i += 2) {
        ASSERT_ERR(js[i].sleep_rc, UV_ECANCELED);
        ASSERT_TRUE(js[i].cleaned_up);
    }
    ASSERT_ERR(js[3].sleep_rc, UV_ECANCELED);
    /* The cancellation the group sent is spent: the body goes on. */
    ASSERT_FALSE(eddy_cancelling(eddy_current()));
    ASSERT_OK(eddy_sleep(1));
    return 0;
}

TEST_IMPL(group_failure_cancels_siblings_and_body)
{
    ASSERT_OK(eddy_run(failure_main, NULL));
    return 0;
}

/* The failure comes while the body is busy (not waiting): the
 * cancellation stays pending, and eddy_group_wait absorbs it. */
static int busy_body_main(void *arg)
{
    eddy_group_t g;
    job_t js[2] = {{.ms = 0, .status = UV_EIO}, {.ms = 5000}};

    eddy_group_init(&g, 0);
    spawn_jobs(&g, js, 2);
    eddy_task_t *self = eddy_current();
    /* A wait that cannot be interrupted keeps the body from seeing it. */
    eddy_shield_enter();
    ASSERT_OK(eddy_sleep(20));
    eddy_shield_leave();
    ASSERT_TRUE(eddy_cancelling(self));
    ASSERT_ERR(eddy_group_wait(&g), UV_EIO);
    ASSERT_FALSE(eddy_cancelling(self));
    ASSERT_OK(eddy_sleep(1));
    ASSERT_ERR(js[1].sleep_rc, UV_ECANCELED);
    return 0;
}

TEST_IMPL(group_failure_while_body_busy)
{
    ASSERT_OK(eddy_run(busy_body_main, NULL));
    return 0;
}

static int fail_during_wait_main(void *arg)
{
    eddy_group_t g;
    job_t js[3] = {{.ms = 5000}, {.ms = 20, .status = UV_EIO}, {.ms = 5000}};
    uint64_t t0 = test_ms();

    eddy_group_init(&g, 0);
    spawn_jobs(&g, js, 3);
    ASSERT_ERR(eddy_group_wait(&g), UV_EIO);
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    ASSERT_ERR(js[0].sleep_rc, UV_ECANCELED);
    ASSERT_ERR(js[2].sleep_rc, UV_ECANCELED);
    ASSERT_TRUE(js[2].cleaned_up);
    /* The body was waiting in the group: it is not cancelled. */
    ASSERT_OK(eddy_sleep(1));
    return 0;
}

TEST_IMPL(group_failure_during_wait)
{
    ASSERT_OK(eddy_run(fail_during_wait_main, NULL));
    return 0;
}

static int closed_main(void *arg)
{
    eddy_group_t g;
    job_t js[3] = {{.ms = 5000}, {.ms = 5000}, {.ms = 5}};
    eddy_task_t *t;

    eddy_group_init(&g, 0);
    /* A handle to a child: joinable, detached by the caller. */
    ASSERT_OK(eddy_group_spawn(&g, &t, run_job, &js[2], NULL));
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_OK(eddy_group_wait(&g));
    ASSERT_ERR(eddy_group_spawn(&g, NULL, run_job, &js[0], NULL), UV_EINVAL);

    /* Cancelled for shutdown: cancellations are not failures. */
    eddy_group_init(&g, 0);
    spawn_jobs(&g, js, 2);
    ASSERT_OK(eddy_sleep(5));
    eddy_group_cancel(&g);
    ASSERT_ERR(eddy_group_spawn(&g, NULL, run_job, &js[2], NULL), UV_EINVAL);
    ASSERT_OK(eddy_group_wait(&g));
    ASSERT_ERR(js[0].sleep_rc, UV_ECANCELED);
    ASSERT_ERR(js[1].sleep_rc, UV_ECANCELED);
    ASSERT_OK(eddy_sleep(1));
    return 0;
}

TEST_IMPL(group_closed_or_cancelled_refuses_spawn)
{
    ASSERT_OK(eddy_run(closed_main, NULL));
    return 0;
}

/* The owner is cancelled while in eddy_group_wait (or a scope expires
 * there): the children are cancelled and waited for. */
static job_t owned[3];
static int owner_rc = 1;
static size_t size_after;

static int owner(void *arg)
{
    eddy_group_t g;
    eddy_timeout_t s;
    for (int i = 0; i < 3; i++)
        owned[i] = (job_t){.ms = 5000};
    eddy_group_init(&g, 0);
    spawn_jobs(&g, owned, 3);
    if (arg != NULL)
        eddy_timeout_enter(&s, 20);
    owner_rc = eddy_group_wait(&g);
    if (arg != NULL)
        eddy_timeout_leave(&s);
    size_after = eddy_group_size(&g);
    return owner_rc;
}

static int owner_cancelled_main(void *arg)
{
    eddy_task_t *o;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn(&o, owner, NULL, NULL));
    ASSERT_OK(eddy_sleep(20));
    eddy_cancel(o);
    ASSERT_ERR(eddy_join(o, NULL), UV_ECANCELED);
    ASSERT_ERR(owner_rc, UV_ECANCELED);
    ASSERT_EQ(size_after, 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_ERR(owned[i].sleep_rc, UV_ECANCELED);
        ASSERT_TRUE(owned[i].cleaned_up);
    }
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    eddy_detach(o);

    ASSERT_OK(eddy_spawn(&o, owner, (void *)1, NULL));
    ASSERT_ERR(eddy_join(o, NULL), UV_ETIMEDOUT);
    ASSERT_EQ(size_after, 0);
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(owned[i].cleaned_up);
    eddy_detach(o);
    return 0;
}

TEST_IMPL(group_owner_cancelled_in_wait)
{
    ASSERT_OK(eddy_run(owner_cancelled_main, NULL));
    return 0;
}

static int supervise_main(void *arg)
{
    eddy_group_t g;
    job_t js[4] = {{.ms = 120, .status = 1},
                   {.ms = 10, .status = UV_EIO},
                   {.ms = 150},
                   {.ms = 30, .status = UV_EPIPE}};

    eddy_group_init(&g, EDDY_GROUP_SUPERVISE);
    spawn_jobs(&g, js, 4);
    /* Failures cancel neither the body... */
    ASSERT_OK(eddy_sleep(70));
    ASSERT_EQ(eddy_group_size(&g), 2);
    /* ...nor the siblings; the first error is reported. */
    ASSERT_ERR(eddy_group_wait(&g), UV_EIO);
    ASSERT_OK(js[0].sleep_rc);
    ASSERT_OK(js[2].sleep_rc);
    ASSERT_OK(eddy_sleep(1));
    return 0;
}

TEST_IMPL(group_supervise)
{
    ASSERT_OK(eddy_run(supervise_main, NULL));
    return 0;
}

/* Nested groups: a failure deep inside cancels its own group, whose owner
 * then fails in the outer group, which cancels the rest. */
static job_t deep[2], shallow;
static int middle_wait_rc = 1, middle_sleep_rc = 1;

static int middle(void *arg)
{
    eddy_group_t g;
    eddy_group_init(&g, 0);
    deep[0] = (job_t){.ms = 20, .status = UV_EIO};
    deep[1] = (job_t){.ms = 5000};
    spawn_jobs(&g, deep, 2);
    middle_sleep_rc = eddy_sleep(5000);
    middle_wait_rc = eddy_group_wait(&g);
    return middle_wait_rc;
}

static int nested_main(void *arg)
{
    eddy_group_t g;
    uint64_t t0 = test_ms();

    eddy_group_init(&g, 0);
    shallow = (job_t){.ms = 5000};
    spawn_jobs(&g, &shallow, 1);
    ASSERT_OK(eddy_group_spawn(&g, NULL, middle, NULL, NULL));
    ASSERT_ERR(eddy_sleep(5000), UV_ECANCELED);
    ASSERT_ERR(eddy_group_wait(&g), UV_EIO);
    ASSERT_LT(test_since(t0), 1000 * test_scale());
    ASSERT_ERR(middle_sleep_rc, UV_ECANCELED);
    ASSERT_ERR(middle_wait_rc, UV_EIO);
    ASSERT_ERR(deep[1].sleep_rc, UV_ECANCELED);
    ASSERT_TRUE(deep[1].cleaned_up);
    ASSERT_ERR(shallow.sleep_rc, UV_ECANCELED);
    ASSERT_TRUE(shallow.cleaned_up);
    return 0;
}

TEST_IMPL(group_nested_failure)
{
    ASSERT_OK(eddy_run(nested_main, NULL));
    return 0;
}

/* Cancelling the outer group reaches the inner group's children through
 * their owner, and nobody reports an error. */
static int middle_waits(void *arg)
{
    eddy_group_t g;
    eddy_group_init(&g, 0);
    deep[0] = (job_t){.ms = 5000};
    deep[1] = (job_t){.ms = 5000};
    spawn_jobs(&g, deep, 2);
    middle_wait_rc = eddy_group_wait(&g);
    return middle_wait_rc;
}

static int nested_cancel_main(void *arg)
{
    eddy_group_t g;
    eddy_group_init(&g, 0);
    ASSERT_OK(eddy_group_spawn(&g, NULL, middle_waits, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_group_cancel(&g);
    ASSERT_OK(eddy_group_wait(&g));
    ASSERT_ERR(middle_wait_rc, UV_ECANCELED);
    for (int i = 0; i < 2; i++) {
        ASSERT_ERR(deep[i].sleep_rc, UV_ECANCELED);
        ASSERT_TRUE(deep[i].cleaned_up);
    }
    return 0;
}

TEST_IMPL(group_nested_cancel)
{
    ASSERT_OK(eddy_run(nested_cancel_main, NULL));
    return 0;
}

/* A crawler: each worker adds two workers of the next level to the group
 * while the owner already waits in eddy_group_wait; every one runs, and
 * the wait returns after the last. */
enum { CRAWL_LEVELS = 5 };
static eddy_group_t crawl_group;
static int crawled, crawl_spawn_errors;
static bool crawl_waiting;

static int crawl(void *arg)
{
    uintptr_t level = (uintptr_t)arg;
    int rc = eddy_sleep(1 + level % 3);
    if (rc != 0)
        return rc;
    if (level + 1 < CRAWL_LEVELS) {
        ASSERT_TRUE(crawl_waiting);
        for (int i = 0; i < 2; i++) {
            if (eddy_group_spawn(&crawl_group, NULL, crawl, (void *)(level + 1), NULL) != 0)
                crawl_spawn_errors++;
        }
    }
    crawled++;
    return 0;
}

static int crawler_main(void *arg)
{
    eddy_group_init(&crawl_group, 0);
    ASSERT_OK(eddy_group_spawn(&crawl_group, NULL, crawl, (void *)0, NULL));
    crawl_waiting = true;
    ASSERT_OK(eddy_group_wait(&crawl_group));
    crawl_waiting = false;
    ASSERT_EQ(crawl_spawn_errors, 0);
    ASSERT_EQ(crawled, (1 << CRAWL_LEVELS) - 1);
    ASSERT_EQ(eddy_group_size(&crawl_group), 0);
    /* Finished: the group takes no more. */
    ASSERT_ERR(eddy_group_spawn(&crawl_group, NULL, crawl, (void *)0, NULL), UV_EINVAL);
    return 0;
}

TEST_IMPL(group_spawn_while_owner_waits)
{
    ASSERT_OK(eddy_run(crawler_main, NULL));
    return 0;
}
