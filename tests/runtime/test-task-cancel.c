/* Cancellation: while sleeping, while joined, before the first run, after
 * the end, delivered once, during cleanup, inside shielded sections, of
 * oneself; and eddy_run's teardown, which cancels what is left. */
#include "runner/runner.h"

/* What a cancelled child saw: the interrupted wait, then its cleanup. */
static int first_rc = 1, cleanup_rc = 1, ran;
static uint64_t cleanup_ms;

/* Sleeps long; once interrupted, runs a cleanup that itself waits 20 ms. */
static int sleeper_with_cleanup(void *arg)
{
    ran++;
    first_rc = eddy_sleep(10000);
    uint64_t t0 = test_ms();
    cleanup_rc = eddy_sleep(20);
    cleanup_ms = test_ms() - t0;
    return first_rc;
}

static int cancel_sleeping_main(void *arg)
{
    eddy_task_t *t;
    uint64_t t0 = test_ms();

    ASSERT_OK(eddy_spawn(&t, sleeper_with_cleanup, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    ASSERT_FALSE(eddy_done(t));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_LT(test_ms() - t0, 1000 * test_scale());
    ASSERT_ERR(first_rc, UV_ECANCELED);
    ASSERT_TRUE(eddy_done(t));
    ASSERT_TRUE(eddy_cancelled(t));
    ASSERT_FALSE(eddy_cancelling(t));
    ASSERT_ERR(eddy_status(t), UV_ECANCELED);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_while_sleeping)
{
    ASSERT_OK(eddy_run(cancel_sleeping_main, NULL));
    return 0;
}

/* The cleanup's own wait works: the cancellation was delivered once. */
TEST_IMPL(cancel_delivered_once)
{
    ASSERT_OK(eddy_run(cancel_sleeping_main, NULL));
    ASSERT_OK(cleanup_rc);
    ASSERT_GE(cleanup_ms, 15);
    return 0;
}

static int twice_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, sleeper_with_cleanup, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    /* Two requests before the task ran again are one cancellation
     * (asyncio: t.cancel(); t.cancel() raises CancelledError once). */
    eddy_cancel(t);
    eddy_cancel(t);
    ASSERT_TRUE(eddy_cancelling(t));
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_twice_before_delivery_is_once)
{
    ASSERT_OK(eddy_run(twice_main, NULL));
    ASSERT_ERR(first_rc, UV_ECANCELED);
    ASSERT_OK(cleanup_rc);
    ASSERT_GE(cleanup_ms, 15);
    return 0;
}

/* A task that is cancelled again while its cleanup waits: the second
 * cancellation interrupts the cleanup. */
static int long_cleanup(void *arg)
{
    first_rc = eddy_sleep(10000);
    uint64_t t0 = test_ms();
    cleanup_rc = eddy_sleep(10000);
    cleanup_ms = test_ms() - t0;
    return first_rc;
}

static int cancel_cleanup_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, long_cleanup, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(t);
    ASSERT_OK(eddy_sleep(20));
    ASSERT_ERR(first_rc, UV_ECANCELED);
    ASSERT_FALSE(eddy_done(t)); /* in its cleanup now */
    ASSERT_FALSE(eddy_cancelling(t));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_ERR(cleanup_rc, UV_ECANCELED);
    ASSERT_LT(cleanup_ms, 1000 * test_scale());
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_interrupts_cleanup)
{
    ASSERT_OK(eddy_run(cancel_cleanup_main, NULL));
    return 0;
}

/* A joiner of a cancelled task is not cancelled itself: its join returns
 * the task's status, and its next wait works. */
static eddy_task_t *joined;
static int joiner_join_rc = 1, joiner_sleep_rc = 1;

static int joiner(void *arg)
{
    joiner_join_rc = eddy_join(joined, NULL);
    joiner_sleep_rc = eddy_sleep(5);
    return 5;
}

static int cancel_joined_main(void *arg)
{
    eddy_task_t *j;
    ASSERT_OK(eddy_spawn(&joined, sleeper_with_cleanup, NULL, NULL));
    ASSERT_OK(eddy_spawn(&j, joiner, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(joined);
    ASSERT_EQ(eddy_join(j, NULL), 5);
    ASSERT_ERR(joiner_join_rc, UV_ECANCELED);
    ASSERT_OK(joiner_sleep_rc);
    ASSERT_FALSE(eddy_cancelled(j));
    ASSERT_TRUE(eddy_cancelled(joined));
    /* The joiner returned only once the cleanup had finished. */
    ASSERT_OK(cleanup_rc);
    eddy_detach(j);
    eddy_detach(joined);
    return 0;
}

TEST_IMPL(cancel_joined_task)
{
    ASSERT_OK(eddy_run(cancel_joined_main, NULL));
    return 0;
}

static int before_run_main(void *arg)
{
    eddy_task_t *t, *j;
    ASSERT_OK(eddy_spawn(&t, sleeper_with_cleanup, NULL, NULL));
    joined = t;
    ASSERT_OK(eddy_spawn(&j, joiner, NULL, NULL));
    eddy_cancel(t);
    ASSERT_TRUE(eddy_cancelling(t));
    ASSERT_FALSE(eddy_done(t));
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_TRUE(eddy_cancelled(t));
    ASSERT_FALSE(eddy_cancelling(t));
    /* A task waiting on it learns the same. */
    ASSERT_EQ(eddy_join(j, NULL), 5);
    ASSERT_ERR(joiner_join_rc, UV_ECANCELED);
    eddy_detach(t);
    eddy_detach(j);
    return 0;
}

TEST_IMPL(cancel_before_first_run)
{
    ASSERT_OK(eddy_run(before_run_main, NULL));
    ASSERT_EQ(ran, 0);
    return 0;
}

static int returns_three(void *arg)
{
    return 3;
}

static int finished_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, returns_three, NULL, NULL));
    ASSERT_EQ(eddy_join(t, NULL), 3);
    eddy_cancel(t);
    ASSERT_FALSE(eddy_cancelling(t));
    ASSERT_FALSE(eddy_cancelled(t));
    ASSERT_EQ(eddy_status(t), 3);
    ASSERT_EQ(eddy_join(t, NULL), 3);
    /* Nothing stayed pending anywhere: our own waits work. */
    ASSERT_OK(eddy_sleep(1));
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_finished_is_noop)
{
    ASSERT_OK(eddy_run(finished_main, NULL));
    return 0;
}

/* eddy_cancelling: true from the request until the task's wait returns
 * UV_ECANCELED to it. */
static int cancelling_seen_by_self = -1;

static int observe_cancelling(void *arg)
{
    first_rc = eddy_sleep(10000);
    cancelling_seen_by_self = eddy_cancelling(eddy_current());
    return first_rc;
}

static int cancelling_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, observe_cancelling, NULL, NULL));
    ASSERT_OK(eddy_sleep(5));
    ASSERT_FALSE(eddy_cancelling(t));
    eddy_cancel(t);
    ASSERT_TRUE(eddy_cancelling(t));
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_EQ(cancelling_seen_by_self, 0);
    ASSERT_FALSE(eddy_cancelling(t));
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_cancelling_flag)
{
    ASSERT_OK(eddy_run(cancelling_main, NULL));
    return 0;
}

/* Shielded sections hold a cancellation back until the first wait after
 * the outermost leave. */
static int shield_sleep_rc = 1, shield_inner_rc = 1, after_leave_rc = 1, second_rc = 1;
static bool cancelling_in_shield;
static uint64_t shield_sleep_ms;

static int shielded(void *arg)
{
    eddy_shield_enter();
    uint64_t t0 = test_ms();
    shield_sleep_rc = eddy_sleep(60);
    shield_sleep_ms = test_ms() - t0;
    cancelling_in_shield = eddy_cancelling(eddy_current());
    /* Nested: leaving the inner section does not deliver it yet. */
    eddy_shield_enter();
    eddy_shield_leave();
    shield_inner_rc = eddy_yield();
    eddy_shield_leave();
    after_leave_rc = eddy_sleep(10000);
    second_rc = eddy_sleep(1);
    return after_leave_rc;
}

static int shield_main(void *arg)
{
    eddy_task_t *t;
    uint64_t t0 = test_ms();
    ASSERT_OK(eddy_spawn(&t, shielded, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(t);
    ASSERT_TRUE(eddy_cancelling(t));
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_OK(shield_sleep_rc);
    ASSERT_GE(shield_sleep_ms, 55);
    ASSERT_TRUE(cancelling_in_shield);
    ASSERT_OK(shield_inner_rc);
    ASSERT_ERR(after_leave_rc, UV_ECANCELED);
    ASSERT_OK(second_rc);
    ASSERT_LT(test_ms() - t0, 1000 * test_scale());
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_in_shielded_section)
{
    ASSERT_OK(eddy_run(shield_main, NULL));
    return 0;
}

static int self_main(void *arg)
{
    eddy_task_t *self = eddy_current();
    eddy_cancel(self);
    ASSERT_TRUE(eddy_cancelling(self));
    uint64_t t0 = test_ms();
    ASSERT_ERR(eddy_sleep(10000), UV_ECANCELED);
    ASSERT_LT(test_ms() - t0, 1000 * test_scale());
    ASSERT_FALSE(eddy_cancelling(self));
    ASSERT_OK(eddy_sleep(1));
    /* eddy_yield is a wait too. */
    eddy_cancel(self);
    ASSERT_ERR(eddy_yield(), UV_ECANCELED);
    ASSERT_OK(eddy_yield());
    return 4;
}

TEST_IMPL(cancel_self)
{
    ASSERT_EQ(eddy_run(self_main, NULL), 4);
    return 0;
}

/* A wait without an interrupt hook is not interrupted; the cancellation
 * waits for the next interruptible wait. */
static eddy_wait_t *hookless;

static void wake_hookless(uv_timer_t *h)
{
    eddy_wait_wake(hookless, 7);
    uv_close((uv_handle_t *)h, NULL);
}

static int uninterruptible(void *arg)
{
    static uv_timer_t timer; /* outlives the task until closed */
    eddy_wait_t w;
    eddy_wait_init(&w, NULL);
    hookless = &w;
    uv_timer_init(eddy_loop(), &timer);
    uv_update_time(eddy_loop()); /* libuv counts from the cached time */
    uv_timer_start(&timer, wake_hookless, 60, 0);
    first_rc = eddy_wait_park(&w, EDDY_FOREVER);
    cancelling_in_shield = eddy_cancelling(eddy_current());
    cleanup_rc = eddy_sleep(10000);
    return cleanup_rc;
}

static int uninterruptible_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, uninterruptible, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    ASSERT_EQ(first_rc, 7);
    ASSERT_TRUE(cancelling_in_shield);
    ASSERT_ERR(cleanup_rc, UV_ECANCELED);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(cancel_uninterruptible_wait_stays_pending)
{
    ASSERT_OK(eddy_run(uninterruptible_main, NULL));
    return 0;
}

/* ------------------------------------------------------------- teardown */

/* eddy_run's teardown cancels every task still alive — sleeping, joining,
 * in a group — and lets each run its cleanup, waits included. */
static int cleanups_done, cleanup_failures;

static int sleep_then_clean(void *arg)
{
    int rc = eddy_sleep(100000);
    if (eddy_sleep(2) != 0)
        cleanup_failures++;
    cleanups_done++;
    return rc;
}

/* Owns the handle it is given: joins, cleans up, gives it back. */
static int join_then_clean(void *arg)
{
    eddy_task_t *t = arg;
    int rc = eddy_join(t, NULL);
    eddy_detach(t);
    if (eddy_sleep(2) != 0)
        cleanup_failures++;
    cleanups_done++;
    return rc;
}

static int group_owner(void *arg)
{
    eddy_group_t g;
    eddy_group_init(&g, 0);
    for (int i = 0; i < 3; i++)
        ASSERT_OK(eddy_group_spawn(&g, NULL, sleep_then_clean, NULL, NULL));
    int rc = eddy_group_wait(&g);
    if (eddy_sleep(2) != 0)
        cleanup_failures++;
    cleanups_done++;
    return rc;
}

static eddy_task_t *kept;

static int teardown_main(void *arg)
{
    eddy_task_t *sleeper;
    ASSERT_OK(eddy_spawn(NULL, sleep_then_clean, NULL, NULL));
    ASSERT_OK(eddy_spawn(&sleeper, sleep_then_clean, NULL, NULL));
    ASSERT_OK(eddy_spawn(NULL, join_then_clean, sleeper, NULL));
    ASSERT_OK(eddy_spawn(NULL, group_owner, NULL, NULL));
    /* A handle kept past the run: it stays valid until detached. */
    ASSERT_OK(eddy_spawn(&kept, sleep_then_clean, NULL, NULL));
    /* Three loop turns: the tasks start, the group owner's children
     * start, and everyone is asleep. */
    for (int i = 0; i < 3; i++)
        ASSERT_OK(eddy_yield());
    return 9;
}

/* Gives back a handle of the previous run, then makes the runtime reuse
 * task structs (and their timers) on this run's loop. */
static int detach_old_main(void *arg)
{
    eddy_detach(kept);
    kept = NULL;
    for (int i = 0; i < 4; i++) {
        eddy_task_t *t;
        ASSERT_OK(eddy_spawn(&t, sleeper_with_cleanup, NULL, NULL));
        ASSERT_OK(eddy_sleep(5));
        eddy_cancel(t);
        ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
        eddy_detach(t);
    }
    return 0;
}

TEST_IMPL(cancel_teardown_runs_cleanup)
{
    ASSERT_EQ(eddy_run(teardown_main, NULL), 9);
    /* 3 sleepers, 1 joiner, 1 group owner and its 3 children. */
    ASSERT_EQ(cleanups_done, 8);
    ASSERT_EQ(cleanup_failures, 0);
    eddy_detach(kept);
    return 0;
}

/* A handle outlives eddy_run: it still tells the task's fate, and giving
 * it back later (during another run, or after) is safe. */
TEST_IMPL(cancel_teardown_handle_outlives_run)
{
    ASSERT_EQ(eddy_run(teardown_main, NULL), 9);
    ASSERT_TRUE(eddy_done(kept));
    ASSERT_TRUE(eddy_cancelled(kept));
    /* Given back during the next run... */
    ASSERT_OK(eddy_run(detach_old_main, NULL));
    /* ...or after the run. */
    ASSERT_EQ(eddy_run(teardown_main, NULL), 9);
    ASSERT_EQ(cleanups_done, 16);
    ASSERT_EQ(cleanup_failures, 0);
    ASSERT_TRUE(eddy_cancelled(kept));
    eddy_detach(kept);
    return 0;
}
