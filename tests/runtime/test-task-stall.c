/* The stall detector (eddy_stall_watch) and eddy_stats: a task that runs
 * long without waiting is reported once, with its name, and a detector
 * turned off reports nothing. */
#include "runner/runner.h"

typedef struct stall_log {
    int calls, hog_calls;
    uint64_t hog_ms;
    char last[32];
} stall_log_t;

static void on_stall(eddy_task_t *t, uint64_t ms, void *arg)
{
    stall_log_t *log = arg;
    log->calls++;
    snprintf(log->last, sizeof(log->last), "%s", eddy_task_name(t));
    if (strcmp(eddy_task_name(t), "hog") == 0) {
        log->hog_calls++;
        log->hog_ms = ms;
    }
}

/* Blocks the loop: spins without waiting for arg milliseconds. */
static int hog(void *arg)
{
    uint64_t t0 = test_ms();
    while (test_ms() - t0 < (uint64_t)(uintptr_t)arg)
        ;
    return 0;
}

static int polite(void *arg)
{
    for (int i = 0; i < 10; i++)
        eddy_yield();
    return 0;
}

/* Spawns a hog of ms beside a task that yields, and waits for both. */
static void run_hog(uint64_t ms)
{
    eddy_task_t *t[2];
    ASSERT_OK(eddy_spawn(&t[0], hog, (void *)(uintptr_t)ms, &(eddy_spawn_opts_t){.name = "hog"}));
    ASSERT_OK(eddy_spawn(&t[1], polite, NULL, &(eddy_spawn_opts_t){.name = "polite"}));
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(eddy_join(t[i], NULL));
        eddy_detach(t[i]);
    }
}

static int reported_main(void *arg)
{
    stall_log_t *log = arg;
    ASSERT_OK(eddy_stall_watch(50, on_stall, log));
    run_hog(200);
    ASSERT_EQ(log->hog_calls, 1);
    /* The coarse clock ticks every few ms. */
    ASSERT_BETWEEN(log->hog_ms, 190, 200 + 1000 * test_scale());
    eddy_stats_t st;
    eddy_stats(&st);
    ASSERT_EQ(st.stalls, (uint64_t)log->calls);
    ASSERT_OK(eddy_stall_watch(0, NULL, NULL));
    return 0;
}

TEST_IMPL(stall_reports_long_run)
{
    stall_log_t log = {0};
    ASSERT_OK(eddy_run(reported_main, &log));
    ASSERT_EQ(log.hog_calls, 1);
    return 0;
}

static int off_main(void *arg)
{
    stall_log_t *log = arg;
    ASSERT_OK(eddy_stall_watch(50, on_stall, log));
    ASSERT_OK(eddy_stall_watch(0, on_stall, log)); /* 0: off */
    run_hog(150);
    eddy_stats_t st;
    eddy_stats(&st);
    ASSERT_EQ(st.stalls, 0);
    return 0;
}

TEST_IMPL(stall_off_reports_nothing)
{
    stall_log_t log = {0};
    ASSERT_OK(eddy_run(off_main, &log));
    ASSERT_EQ(log.calls, 0);
    ASSERT_ERR(eddy_stall_watch(50, on_stall, &log), EDDY_ENOTASK);
    return 0;
}

static int idle(void *arg)
{
    return eddy_sleep(EDDY_FOREVER);
}

static int stats_main(void *arg)
{
    eddy_stats_t st;
    eddy_task_t *t[3];

    eddy_stats(&st);
    ASSERT_EQ(st.tasks_alive, 1); /* main */
    size_t pooled = st.stacks_pooled;
    for (int i = 0; i < 3; i++)
        ASSERT_OK(eddy_spawn(&t[i], idle, NULL, NULL));
    eddy_stats(&st);
    ASSERT_EQ(st.tasks_alive, 4);
    for (int i = 0; i < 3; i++) {
        eddy_cancel(t[i]);
        eddy_join(t[i], NULL);
        eddy_detach(t[i]);
    }
    eddy_stats(&st);
    ASSERT_EQ(st.tasks_alive, 1);
    /* Their stacks went back to the pool. */
    ASSERT_EQ(st.stacks_pooled, pooled + 3);
    return 0;
}

TEST_IMPL(stats_tasks_and_stacks)
{
    eddy_stats_t st;
    eddy_stats(&st);
    ASSERT_EQ(st.tasks_alive, 0);
    ASSERT_OK(eddy_run(stats_main, NULL));
    return 0;
}
