/* Timeout scopes (asyncio.timeout): expiry, nesting, rescheduling from
 * inside and from another task, and their interplay with shielded
 * sections, cancellation and waits that cannot be interrupted. */
#include "runner/helpers.h"
#include "runner/runner.h"

static int slow_child(void *arg)
{
    return eddy_sleep(200);
}

static int expires_main(void *arg)
{
    eddy_timeout_t s;
    eddy_task_t *t;
    uint64_t t0 = test_ms();

    eddy_timeout_enter(&s, 50);
    ASSERT_FALSE(eddy_timeout_expired(&s));
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 45, 400 * test_scale());
    ASSERT_TRUE(eddy_timeout_expired(&s));

    /* Every later wait inside the scope fails at once, of any kind. */
    t0 = test_ms();
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_yield(), UV_ETIMEDOUT);
    ASSERT_OK(eddy_spawn(&t, slow_child, NULL, NULL));
    ASSERT_ERR(eddy_join(t, NULL), UV_ETIMEDOUT);
    ASSERT_LT(test_since(t0), 100 * test_scale());
    ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);

    /* Outside it, waits work again; the joined task ran on. */
    ASSERT_OK(eddy_sleep(1));
    ASSERT_FALSE(eddy_done(t));
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    return 0;
}

TEST_IMPL(timeout_expires_every_wait)
{
    ASSERT_OK(eddy_run(expires_main, NULL));
    return 0;
}

static int leave_main(void *arg)
{
    eddy_timeout_t s;

    eddy_timeout_enter(&s, 1000);
    ASSERT_OK(eddy_sleep(10));
    ASSERT_FALSE(eddy_timeout_expired(&s));
    ASSERT_OK(eddy_timeout_leave(&s));

    /* No deadline at all. */
    eddy_timeout_enter(&s, EDDY_FOREVER);
    ASSERT_OK(eddy_sleep(10));
    ASSERT_OK(eddy_timeout_leave(&s));

    /* The deadline passed without a wait noticing: leave still says so. */
    eddy_timeout_enter(&s, 0);
    ASSERT_TRUE(eddy_timeout_expired(&s));
    ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);

    /* A scope does not outlive its leave: waits after it are untouched. */
    eddy_timeout_enter(&s, 20);
    ASSERT_OK(eddy_timeout_leave(&s));
    ASSERT_OK(eddy_sleep(40));
    return 0;
}

TEST_IMPL(timeout_leave_status)
{
    ASSERT_OK(eddy_run(leave_main, NULL));
    return 0;
}

static int outer_first_main(void *arg)
{
    eddy_timeout_t outer, inner;
    uint64_t t0 = test_ms();

    eddy_timeout_enter(&outer, 40);
    eddy_timeout_enter(&inner, 1000);
    ASSERT_ERR(eddy_sleep(2000), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 35, 400 * test_scale());
    ASSERT_FALSE(eddy_timeout_expired(&inner));
    ASSERT_TRUE(eddy_timeout_expired(&outer));
    ASSERT_OK(eddy_timeout_leave(&inner));
    /* Still inside the expired outer scope. */
    ASSERT_ERR(eddy_sleep(1), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&outer), UV_ETIMEDOUT);
    return 0;
}

TEST_IMPL(timeout_nested_outer_fires_first)
{
    ASSERT_OK(eddy_run(outer_first_main, NULL));
    return 0;
}

static int inner_first_main(void *arg)
{
    eddy_timeout_t outer, inner;
    uint64_t t0 = test_ms();

    eddy_timeout_enter(&outer, 1000);
    eddy_timeout_enter(&inner, 40);
    ASSERT_ERR(eddy_sleep(2000), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 35, 400 * test_scale());
    ASSERT_TRUE(eddy_timeout_expired(&inner));
    ASSERT_FALSE(eddy_timeout_expired(&outer));
    ASSERT_ERR(eddy_timeout_leave(&inner), UV_ETIMEDOUT);
    /* The outer scope has time left. */
    ASSERT_OK(eddy_sleep(10));
    ASSERT_OK(eddy_timeout_leave(&outer));
    return 0;
}

TEST_IMPL(timeout_nested_inner_fires_first)
{
    ASSERT_OK(eddy_run(inner_first_main, NULL));
    return 0;
}

static int self_reschedule_main(void *arg)
{
    eddy_timeout_t s;
    uint64_t t0 = test_ms();

    /* Later: the sleep outlasts the first deadline. */
    eddy_timeout_enter(&s, 50);
    ASSERT_OK(eddy_sleep(10));
    eddy_timeout_reschedule(&s, 300);
    ASSERT_OK(eddy_sleep(100));
    ASSERT_OK(eddy_timeout_leave(&s));

    /* Earlier. */
    t0 = test_ms();
    eddy_timeout_enter(&s, 5000);
    eddy_timeout_reschedule(&s, 30);
    ASSERT_ERR(eddy_sleep(5000), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 25, 400 * test_scale());

    /* An expired scope given a future deadline stops expiring waits. */
    eddy_timeout_reschedule(&s, 1000);
    ASSERT_FALSE(eddy_timeout_expired(&s));
    ASSERT_OK(eddy_sleep(10));
    /* And no deadline at all. */
    eddy_timeout_reschedule(&s, EDDY_FOREVER);
    ASSERT_OK(eddy_sleep(10));
    ASSERT_OK(eddy_timeout_leave(&s));
    return 0;
}

TEST_IMPL(timeout_reschedule_inside)
{
    ASSERT_OK(eddy_run(self_reschedule_main, NULL));
    return 0;
}

/* Another task moves the deadline of a scope whose owner is waiting. */
static eddy_timeout_t shared_scope;
static uint64_t move_to;

static int mover(void *arg)
{
    ASSERT_OK(eddy_sleep(20));
    eddy_timeout_reschedule(&shared_scope, move_to);
    return 0;
}

static int owner_sleeps(uint64_t first, uint64_t moved, int *rc)
{
    eddy_task_t *m;
    uint64_t t0 = test_ms();
    move_to = moved;
    eddy_timeout_enter(&shared_scope, first);
    ASSERT_OK(eddy_spawn(&m, mover, NULL, NULL));
    *rc = eddy_sleep(2000);
    uint64_t ms = test_since(t0);
    eddy_timeout_leave(&shared_scope);
    ASSERT_OK(eddy_join(m, NULL));
    eddy_detach(m);
    return (int)ms;
}

static int other_task_main(void *arg)
{
    int rc;
    /* Extended from 60 to 20 + 200 ms. */
    int ms = owner_sleeps(60, 200, &rc);
    ASSERT_ERR(rc, UV_ETIMEDOUT);
    ASSERT_BETWEEN(ms, 210, 800 * test_scale());
    /* Brought forward from 1500 to 20 + 30 ms. */
    ms = owner_sleeps(1500, 30, &rc);
    ASSERT_ERR(rc, UV_ETIMEDOUT);
    ASSERT_BETWEEN(ms, 45, 600 * test_scale());
    /* Brought to the past: the owner is interrupted at once. */
    ms = owner_sleeps(1500, 0, &rc);
    ASSERT_ERR(rc, UV_ETIMEDOUT);
    ASSERT_BETWEEN(ms, 15, 500 * test_scale());
    /* Removed: the owner's sleep runs its course. */
    ms = owner_sleeps(60, EDDY_FOREVER, &rc);
    ASSERT_OK(rc);
    return 0;
}

TEST_IMPL(timeout_reschedule_from_other_task)
{
    ASSERT_OK(eddy_run(other_task_main, NULL));
    return 0;
}

static int shield_main(void *arg)
{
    eddy_timeout_t outer, inner;
    uint64_t t0 = test_ms();

    /* The section suspends the scope around it... */
    eddy_timeout_enter(&outer, 30);
    eddy_shield_enter();
    ASSERT_OK(eddy_sleep(80));
    ASSERT_GE(test_since(t0), 75);

    /* ...but a scope entered inside it works as usual. */
    t0 = test_ms();
    eddy_timeout_enter(&inner, 30);
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 25, 400 * test_scale());
    ASSERT_ERR(eddy_timeout_leave(&inner), UV_ETIMEDOUT);
    ASSERT_OK(eddy_yield());
    eddy_shield_leave();

    /* After the section, the outer expiry is delivered. */
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&outer), UV_ETIMEDOUT);
    return 0;
}

TEST_IMPL(timeout_shield)
{
    ASSERT_OK(eddy_run(shield_main, NULL));
    return 0;
}

/* A scope with time left inside a shield, while the scope outside the
 * shield expires: only the inner one applies. */
static int shield_inner_ok_main(void *arg)
{
    eddy_timeout_t outer, inner;
    eddy_timeout_enter(&outer, 20);
    eddy_shield_enter();
    eddy_timeout_enter(&inner, 500);
    ASSERT_OK(eddy_sleep(60));
    ASSERT_OK(eddy_timeout_leave(&inner));
    eddy_shield_leave();
    ASSERT_ERR(eddy_yield(), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&outer), UV_ETIMEDOUT);
    return 0;
}

TEST_IMPL(timeout_inside_shield_ignores_outer)
{
    ASSERT_OK(eddy_run(shield_inner_ok_main, NULL));
    return 0;
}

/* A wait without an interrupt hook runs past the deadline; the next wait
 * reports the expiry. */
static eddy_wait_t *hookless;

static void wake_hookless(uv_timer_t *h)
{
    eddy_wait_wake(hookless, 7);
    uv_close((uv_handle_t *)h, NULL);
}

static int uninterruptible_main(void *arg)
{
    eddy_timeout_t s;
    static uv_timer_t timer; /* outlives the task until closed */
    eddy_wait_t w;
    uint64_t t0 = test_ms();

    eddy_wait_init(&w, NULL);
    hookless = &w;
    uv_timer_init(eddy_loop(), &timer);
    uv_update_time(eddy_loop()); /* libuv counts from the cached time */
    uv_timer_start(&timer, wake_hookless, 60, 0);
    eddy_timeout_enter(&s, 20);
    ASSERT_EQ(eddy_wait_park(&w, EDDY_FOREVER), 7);
    ASSERT_GE(test_since(t0), 55);
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);
    return 0;
}

TEST_IMPL(timeout_uninterruptible_wait)
{
    ASSERT_OK(eddy_run(uninterruptible_main, NULL));
    return 0;
}

/* A wait's own timeout and a scope's: each reports itself. */
static void nothing(eddy_wait_t *w)
{
    (void)w;
}

static int park_deadlines_main(void *arg)
{
    eddy_timeout_t s;
    eddy_wait_t w;
    uint64_t t0 = test_ms();

    /* The wait's own 20 ms, inside a 1 s scope: the scope is unharmed. */
    eddy_timeout_enter(&s, 1000);
    eddy_wait_init(&w, nothing);
    ASSERT_ERR(eddy_wait_park(&w, 20), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 15, 400 * test_scale());
    ASSERT_FALSE(eddy_timeout_expired(&s));
    ASSERT_OK(eddy_sleep(1));
    ASSERT_OK(eddy_timeout_leave(&s));

    /* The scope's 20 ms under a wait of 1 s. */
    t0 = test_ms();
    eddy_timeout_enter(&s, 20);
    eddy_wait_init(&w, nothing);
    ASSERT_ERR(eddy_wait_park(&w, 1000), UV_ETIMEDOUT);
    ASSERT_BETWEEN(test_since(t0), 15, 400 * test_scale());
    ASSERT_TRUE(eddy_timeout_expired(&s));
    ASSERT_ERR(eddy_timeout_leave(&s), UV_ETIMEDOUT);
    return 0;
}

TEST_IMPL(timeout_and_wait_deadline)
{
    ASSERT_OK(eddy_run(park_deadlines_main, NULL));
    return 0;
}

/* Cancellation inside a scope is a cancellation, not a timeout, and does
 * not expire the scope. */
static int cancelled_in_scope(void *arg)
{
    eddy_timeout_t s;
    eddy_timeout_enter(&s, 1000);
    int rc = eddy_sleep(2000);
    ASSERT_ERR(rc, UV_ECANCELED);
    ASSERT_FALSE(eddy_timeout_expired(&s));
    ASSERT_OK(eddy_sleep(1));
    ASSERT_OK(eddy_timeout_leave(&s));
    return rc;
}

static int cancel_scope_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, cancelled_in_scope, NULL, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    eddy_detach(t);
    return 0;
}

TEST_IMPL(timeout_cancel_inside_scope)
{
    ASSERT_OK(eddy_run(cancel_scope_main, NULL));
    return 0;
}

/* Deadlines count from the moment of the call, not from the start of the
 * loop turn: a task that computed for a while before waiting still waits
 * the whole time (asyncio's clock is read at each call too). */
static void busy(uint64_t ms)
{
    uint64_t t0 = test_ms();
    while (test_ms() - t0 < ms)
        ;
}

static int fresh_clock_main(void *arg)
{
    eddy_timeout_t s;
    eddy_wait_t w;
    uint64_t t0;

    ASSERT_OK(eddy_yield()); /* a new loop turn: the cached time is now */
    busy(60);
    t0 = test_ms();
    ASSERT_OK(eddy_sleep(100));
    ASSERT_GE(test_since(t0), 95);

    busy(60);
    t0 = test_ms();
    eddy_timeout_enter(&s, 100);
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_GE(test_since(t0), 95);
    eddy_timeout_reschedule(&s, EDDY_FOREVER);
    busy(60);
    t0 = test_ms();
    eddy_timeout_reschedule(&s, 100);
    ASSERT_ERR(eddy_sleep(1000), UV_ETIMEDOUT);
    ASSERT_GE(test_since(t0), 95);
    eddy_timeout_leave(&s);

    busy(60);
    t0 = test_ms();
    eddy_wait_init(&w, nothing);
    ASSERT_ERR(eddy_wait_park(&w, 100), UV_ETIMEDOUT);
    ASSERT_GE(test_since(t0), 95);
    /* eddy_now is that clock. */
    uint64_t now = eddy_now();
    busy(30);
    ASSERT_GE(eddy_now() - now, 29);
    return 0;
}

TEST_IMPL(timeout_deadline_counts_from_call)
{
    ASSERT_OK(eddy_run(fresh_clock_main, NULL));
    return 0;
}
