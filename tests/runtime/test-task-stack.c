/* Task stacks: the guard page, per-task sizes, unguarded stacks, reuse
 * from the pool, and many stacks alive at once.  Overflows run in a forked
 * child whose death the parent checks; they are skipped under ASan (which
 * reports a stack-overflow itself) and valgrind. */
#include "config.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/runner.h"

#ifdef EDDY_VALGRIND
#include <valgrind/valgrind.h>
#endif

/* True when an overflow would be caught by a checker instead of the
 * guard page. */
static bool under_checker(void)
{
#ifdef EDDY_ASAN
    return true;
#else
    const char *w = getenv("EDDY_TEST_WRAPPER");
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND)
        return true;
#endif
    return w != NULL && *w != '\0';
#endif
}

/* Runs main in a forked child under eddy_run; returns the signal that
 * killed it, or minus its exit status. */
static int run_in_child(eddy_task_fn main_fn)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0)
        _exit(eddy_run(main_fn, NULL) == 0 ? 0 : 1);
    int ws = 0;
    ASSERT_EQ(waitpid(pid, &ws, 0), pid);
    return WIFSIGNALED(ws) ? WTERMSIG(ws) : -WEXITSTATUS(ws);
}

/* Keeps buf alive in memory so the compiler cannot drop it. */
static void use(volatile char *buf)
{
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* Called through a volatile pointer: never turned into a loop. */
static int recurse(int n);
static int (*volatile recurse_fn)(int) = recurse;

static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    use(pad);
    return recurse_fn(n + 1) + pad[0];
}

/* The guard page of the running task's default-size stack, from the
 * frame address of its function: the first frames sit in the top page. */
static uintptr_t guard_lo, guard_hi;
#define MB (1024 * 1024)

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    if (a < guard_lo || a >= guard_hi)
        _exit(3); /* faulted elsewhere: not stopped by the guard page */
    /* Die of the SIGSEGV itself when the access is retried. */
    signal(SIGSEGV, SIG_DFL);
}

static int recurse_task(void *arg)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t top = ((uintptr_t)__builtin_frame_address(0) + ps - 1) & ~(uintptr_t)(ps - 1);
    uintptr_t base = top - EDDY_STACK_DEFAULT;
    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};

    guard_lo = base - ps;
    guard_hi = base;
    /* Memory right below the stack (where the guard page is not mapped)
     * or below the guard: without the guard an overflow runs on into it
     * and faults much further down. */
    if (mmap((void *)(guard_hi - MB), MB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
        mmap((void *)(guard_lo - MB), MB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    sigaltstack(&ss, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    return recurse_fn(0);
}

static int overflow_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, recurse_task, NULL, NULL));
    eddy_join(t, NULL);
    return 0; /* never reached: the child dies first */
}

TEST_IMPL(stack_overflow_hits_guard_page)
{
    if (under_checker())
        return TEST_SKIP;
    ASSERT_EQ(run_in_child(overflow_main), SIGSEGV);
    return 0;
}

/* 512 KiB of locals, written from the top down as a growing stack would
 * be, so an overflow meets the guard page first. */
#define BIG_LOCALS (512 * 1024)

static int big_frame(void *arg)
{
    volatile char buf[BIG_LOCALS];
    for (size_t i = BIG_LOCALS; i-- > 0;)
        buf[i] = (char)i;
    use(buf);
    eddy_yield(); /* the data survives a switch */
    int sum = 0;
    for (size_t i = 0; i < BIG_LOCALS; i += 4096)
        sum += (unsigned char)buf[i + 1];
    return sum;
}

static int expected_sum(void)
{
    int sum = 0;
    for (size_t i = 0; i < BIG_LOCALS; i += 4096)
        sum += (unsigned char)(char)(i + 1);
    return sum;
}

static int big_stack_main(void *arg)
{
    eddy_task_t *t;
    eddy_spawn_opts_t opts = {.stack_size = 1024 * 1024};
    ASSERT_OK(eddy_spawn(&t, big_frame, NULL, &opts));
    ASSERT_EQ(eddy_join(t, NULL), expected_sum());
    eddy_detach(t);
    return 0;
}

static int default_stack_main(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, big_frame, NULL, NULL));
    eddy_join(t, NULL);
    return 0;
}

TEST_IMPL(stack_size_honoured)
{
    ASSERT_OK(eddy_run(big_stack_main, NULL));
    if (under_checker())
        return 0;
    ASSERT_EQ(run_in_child(default_stack_main), SIGSEGV);
    return 0;
}

/* ---------------------------------------------------------- no guard */

static size_t count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    int c;
    ASSERT_NOT_NULL(f);
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

enum { NSTACKS = 200 };
static int started;

static int use_32k_then_sleep(void *arg)
{
    volatile char buf[32 * 1024];
    for (size_t i = sizeof(buf); i-- > 0;)
        buf[i] = 1;
    use(buf);
    started++;
    return eddy_sleep(EDDY_FOREVER);
}

/* Spawns NSTACKS tasks with the given flags, lets them all start and
 * returns how many mappings that added. */
static size_t mappings_for(unsigned flags, eddy_task_t **ts)
{
    eddy_spawn_opts_t opts = {.flags = flags};
    size_t before = count_mappings();
    started = 0;
    for (int i = 0; i < NSTACKS; i++)
        ASSERT_OK(eddy_spawn(&ts[i], use_32k_then_sleep, NULL, &opts));
    ASSERT_OK(eddy_yield());
    ASSERT_EQ(started, NSTACKS);
    size_t added = count_mappings() - before;
    for (int i = 0; i < NSTACKS; i++) {
        eddy_cancel(ts[i]);
        ASSERT_ERR(eddy_join(ts[i], NULL), UV_ECANCELED);
        eddy_detach(ts[i]);
    }
    return added;
}

static int noguard_main(void *arg)
{
    static eddy_task_t *ts[NSTACKS];
    size_t guarded = mappings_for(0, ts);
    size_t unguarded = mappings_for(EDDY_SPAWN_NOGUARD, ts);
    printf("mappings added: %zu guarded, %zu unguarded\n", guarded, unguarded);
    /* Two per guarded stack (the guard splits its mapping); unguarded ones
     * merge with their neighbours. */
    ASSERT_GE(guarded, 2 * NSTACKS);
    ASSERT_LT(unguarded, NSTACKS / 4);
    return 0;
}

TEST_IMPL(stack_noguard)
{
    const char *w = getenv("EDDY_TEST_WRAPPER");
    if (w != NULL && *w != '\0')
        return TEST_SKIP; /* valgrind's own mappings blur the count */
    ASSERT_OK(eddy_run(noguard_main, NULL));
    return 0;
}

/* ------------------------------------------------------------ reuse */

enum { NSEQ = 10000, NADDR = 8 };
static uintptr_t frames[NADDR];
static size_t nframes;

static int note_frame(void *arg)
{
    uintptr_t f = (uintptr_t)__builtin_frame_address(0);
    for (size_t i = 0; i < nframes; i++) {
        if (frames[i] == f)
            return 0;
    }
    if (nframes < NADDR)
        frames[nframes] = f;
    nframes++;
    return 0;
}

static int sequential_main(void *arg)
{
    uint64_t t0 = test_ms();
    for (int i = 0; i < NSEQ; i++) {
        eddy_task_t *t;
        ASSERT_OK(eddy_spawn(&t, note_frame, NULL, NULL));
        ASSERT_OK(eddy_join(t, NULL));
        eddy_detach(t);
    }
    uint64_t ms = test_ms() - t0;
    printf("%d sequential spawn+join: %llu ms, %zu distinct stacks\n", NSEQ, (unsigned long long)ms,
           nframes);
    /* Every task ran on the same pooled stack. */
    ASSERT_EQ(nframes, 1);
    ASSERT_LT(ms, 500 * test_scale());
    return 0;
}

TEST_IMPL(stack_reused_from_pool)
{
    ASSERT_OK(eddy_run(sequential_main, NULL));
    return 0;
}

/* ------------------------------------------------------- many alive */

enum { NALIVE = 10000 };
static int alive, cancelled_seen;

static int sleep_forever(void *arg)
{
    alive++;
    int rc = eddy_sleep(EDDY_FOREVER);
    cancelled_seen += rc == UV_ECANCELED;
    alive--;
    return rc;
}

static int many_alive_main(void *arg)
{
    eddy_task_t **ts = malloc(NALIVE * sizeof(*ts));
    ASSERT_NOT_NULL(ts);
    for (int i = 0; i < NALIVE; i++)
        ASSERT_OK(eddy_spawn(&ts[i], sleep_forever, NULL, NULL));
    ASSERT_OK(eddy_sleep(1));
    ASSERT_EQ(alive, NALIVE);
    for (int i = 0; i < NALIVE; i++)
        eddy_cancel(ts[i]);
    for (int i = 0; i < NALIVE; i++) {
        ASSERT_ERR(eddy_join(ts[i], NULL), UV_ECANCELED);
        ASSERT_TRUE(eddy_cancelled(ts[i]));
        eddy_detach(ts[i]);
    }
    ASSERT_EQ(alive, 0);
    ASSERT_EQ(cancelled_seen, NALIVE);
    free(ts);
    return 0;
}

TEST_IMPL(stack_many_alive)
{
    ASSERT_OK(eddy_run(many_alive_main, NULL));
    return 0;
}

/* ------------------------------------------------------- pool trim */

enum { NTRIM = 300, KEEP = 10 };

static int trim_main(void *arg)
{
    eddy_task_t **ts = malloc(NTRIM * sizeof(*ts));
    ASSERT_NOT_NULL(ts);
    eddy_stack_pool_trim(0); /* whatever earlier tasks left */
    for (int i = 0; i < NTRIM; i++)
        ASSERT_OK(eddy_spawn(&ts[i], sleep_forever, NULL, NULL));
    ASSERT_OK(eddy_sleep(1));
    ASSERT_EQ(alive, NTRIM);
    for (int i = 0; i < NTRIM; i++)
        eddy_cancel(ts[i]);
    for (int i = 0; i < NTRIM; i++) {
        ASSERT_ERR(eddy_join(ts[i], NULL), UV_ECANCELED);
        eddy_detach(ts[i]);
    }
    /* Every finished task's stack is pooled: all but KEEP go back. */
    ASSERT_EQ(eddy_stack_pool_trim(KEEP), (size_t)(NTRIM - KEEP));
    ASSERT_EQ(eddy_stack_pool_trim(KEEP), (size_t)0);
    /* Spawning still works, from what was kept and from new stacks. */
    for (int i = 0; i < 2 * KEEP; i++)
        ASSERT_OK(eddy_spawn(&ts[i], sleep_forever, NULL, NULL));
    ASSERT_OK(eddy_sleep(1));
    ASSERT_EQ(alive, 2 * KEEP);
    for (int i = 0; i < 2 * KEEP; i++) {
        eddy_cancel(ts[i]);
        ASSERT_ERR(eddy_join(ts[i], NULL), UV_ECANCELED);
        eddy_detach(ts[i]);
    }
    free(ts);
    return 0;
}

TEST_IMPL(stack_pool_trim)
{
    ASSERT_OK(eddy_run(trim_main, NULL));
    return 0;
}
