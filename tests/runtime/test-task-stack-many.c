/* Many tasks at once: 100,000 live tasks of the default kind all run
 * (past the guard budget they get unguarded stacks from slabs), and a task
 * that cannot get a stack fails at eddy_spawn, not later in the task. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"
#include "runtime/internal.h"

static eddy_event_t go;
static size_t started, finished;

static int wait_for_go(void *arg)
{
    started++;
    int rc = eddy_event_wait(&go);
    finished++;
    return rc;
}

/* Resident memory in MiB, from /proc/self/statm. */
static long rss_mib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE) / (1024 * 1024);
}

/* Lets every started task finish: they were all ready in one batch. */
static void release_all(size_t n)
{
    eddy_event_set(&go);
    for (int i = 0; finished < n && i < 1000; i++)
        ASSERT_OK(eddy_yield());
    ASSERT_EQ(finished, n);
}

static int many_main(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    eddy_spawn_opts_t *opts = NULL;
    uint64_t fallbacks = eddy__stack_unguarded_fallbacks, t0 = test_ms();

    eddy_event_init(&go);
    started = finished = 0;
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(eddy_spawn(NULL, wait_for_go, NULL, opts));
    /* The tasks spawned are ready before main: one yield runs them all. */
    ASSERT_OK(eddy_yield());
    ASSERT_EQ(started, n);
    printf("# %zu live tasks: %llu ms to start, RSS %ld MiB, %llu unguarded (budget %zu)\n", n,
           (unsigned long long)(test_ms() - t0), rss_mib(),
           (unsigned long long)(eddy__stack_unguarded_fallbacks - fallbacks),
           eddy__stack_guard_budget());
    if (n > eddy__stack_guard_budget())
        ASSERT_GT(eddy__stack_unguarded_fallbacks, fallbacks);
    release_all(n);
    printf("# all finished after %llu ms, RSS %ld MiB\n", (unsigned long long)(test_ms() - t0),
           rss_mib());
    return 0;
}

TEST_IMPL(task_stack_100k_default)
{
    size_t n = test_under_checker() ? 10000 : 100000;
    ASSERT_OK(eddy_run(many_main, (void *)(uintptr_t)n));
    /* A second run reuses nothing stale from the first. */
    ASSERT_OK(eddy_run(many_main, (void *)(uintptr_t)1000));
    return 0;
}

/* Unguarded small stacks, the cheapest kind, mixed with default ones. */
static int mixed_main(void *arg)
{
    eddy_spawn_opts_t small = {.stack_size = EDDY_STACK_MIN, .flags = EDDY_SPAWN_NOGUARD};
    size_t n = (size_t)(uintptr_t)arg;

    eddy_event_init(&go);
    started = finished = 0;
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(eddy_spawn(NULL, wait_for_go, NULL, (i & 1) ? &small : NULL));
    ASSERT_OK(eddy_yield());
    ASSERT_EQ(started, n);
    release_all(n);
    return 0;
}

TEST_IMPL(task_stack_many_mixed_sizes)
{
    ASSERT_OK(eddy_run(mixed_main, (void *)(uintptr_t)(test_under_checker() ? 5000 : 20000)));
    return 0;
}

/* ------------------------------------------------- failure at spawn */

static int spawn_until_enomem(void *arg)
{
    struct rlimit old, lim;
    long pages = 0;
    size_t n = 0;
    int rc = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fscanf(f, "%ld", &pages), 1);
    fclose(f);
    eddy_event_init(&go);
    started = finished = 0;
    /* Room for a few hundred stacks more, then nothing. */
    ASSERT_OK(getrlimit(RLIMIT_AS, &old));
    lim = old;
    lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + 32 * 1024 * 1024;
    ASSERT_OK(setrlimit(RLIMIT_AS, &lim));
    while (n < 1000000 && (rc = eddy_spawn(NULL, wait_for_go, NULL, NULL)) == 0)
        n++;
    ASSERT_OK(setrlimit(RLIMIT_AS, &old));
    printf("# %zu spawned before %s\n", n, eddy_err_name(rc));
    ASSERT_ERR(rc, UV_ENOMEM);
    /* Refused for want of stacks (32 MiB hold ~512 of 64 KiB), long before
     * the task structs alone would exhaust the limit. */
    ASSERT_GT(n, 10);
    ASSERT_LT(n, 4096);
    /* Every task whose spawn succeeded runs; the refused one does not. */
    ASSERT_OK(eddy_yield());
    ASSERT_EQ(started, n);
    release_all(n);
    return 0;
}

TEST_IMPL(task_spawn_fails_without_stack)
{
    if (test_under_checker())
        return TEST_SKIP; /* ASan and valgrind reserve address space of their own */
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
        _exit(eddy_run(spawn_until_enomem, NULL) == 0 ? 0 : 1);
    int ws = 0;
    ASSERT_EQ(waitpid(pid, &ws, 0), pid);
    ASSERT_TRUE(WIFEXITED(ws));
    ASSERT_EQ(WEXITSTATUS(ws), 0);
    return 0;
}
