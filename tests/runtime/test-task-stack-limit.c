/* When vm.max_map_count is reached, a guarded stack cannot get its guard
 * page: the task must still run (unguarded) instead of failing. */
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/runner.h"
#include "runtime/internal.h"

static int ran;

static int small_task(void *arg)
{
    ran++;
    return eddy_yield();
}

static int main_fill_maps(void *arg)
{
    /* Use up the mappings: single pages with alternating protections never
     * merge, so each is a mapping of its own. */
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    void *last = NULL;
    for (;; n++) {
        void *p = mmap(NULL, ps, (n & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        last = p;
    }
    ASSERT_GT(n, 1000);
    /* One mapping free: room for a stack, not for its guard page. */
    munmap(last, ps);
    eddy_task_t *t;
    uint64_t before = eddy__stack_unguarded_fallbacks;
    ASSERT_OK(eddy_spawn(&t, small_task, NULL, NULL));
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_EQ(ran, 1);
    ASSERT_EQ(eddy__stack_unguarded_fallbacks, before + 1);
    return 0;
}

TEST_IMPL(task_stack_map_limit_falls_back_unguarded)
{
    if (getenv("EDDY_TEST_WRAPPER") != NULL)
        return TEST_SKIP; /* valgrind has its own mapping limits */
#ifdef EDDY_ASAN
    return TEST_SKIP; /* ASan's shadow mappings make the count meaningless */
#endif
    pid_t pid = fork();
    if (pid == 0) {
        /* Leave room for the runtime's own first mappings (loop, pools). */
        int rc = eddy_run(main_fill_maps, NULL);
        _exit(rc == 0 ? 0 : 1);
    }
    int st;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st));
    ASSERT_EQ(WEXITSTATUS(st), 0);
    return 0;
}
