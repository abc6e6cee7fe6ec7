/* Microbenchmarks of the task core; each prints `name<TAB>ns_per_op<TAB>ops`
 * (tests/bench/bench_core_asyncio.py measures the same in asyncio, and
 * tests/bench/run-core.sh puts the two side by side).
 *
 *   bench-core [scale]     scale multiplies the iteration counts (default 1)
 *
 * Each figure is the best of three runs, after a warm-up that fills the
 * stack and task pools: the machine is shared and the minimum is the
 * figure least disturbed by others.
 *
 *   ctx_switch     one eddy__ctx_switch between two bare contexts
 *   task_switch    two tasks yielding to each other: one task-to-task
 *                  switch (two context switches through the scheduler,
 *                  plus its share of the loop turn per batch)
 *   yield          eddy_yield (asyncio.sleep(0)) round trip of one task
 *   spawn_join     spawn an empty task and join it (pooled stack)
 *   timeout_scope  eddy_timeout_enter + eddy_timeout_leave
 *   cancel_join    cancel a sleeping task and join it
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "bench/bench.h"
#include "runtime/internal.h"

static uint64_t scale = 1;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0) {                                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, eddy_strerror(rc_));        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define RUNS 3

/* Keeps the best (smallest) time of a benchmark's runs. */
typedef struct best {
    uint64_t ns;
} best_t;

static void best_add(best_t *b, uint64_t ns)
{
    if (b->ns == 0 || ns < b->ns)
        b->ns = ns;
}

/* ------------------------------------------------------- raw switch */

static eddy__ctx_t main_ctx, co_ctx;

static void co_entry(void *arg)
{
    for (;;)
        eddy__ctx_switch(&co_ctx, &main_ctx);
}

/* Runs outside eddy_run: two contexts and nothing else. */
static void bench_ctx_switch(uint64_t n)
{
    size_t size = 64 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    best_t b = {0};

    if (stack == MAP_FAILED)
        abort();
    eddy__ctx_make(&co_ctx, stack, size, co_entry, NULL);
    for (uint64_t i = 0; i < n / 10; i++)
        eddy__ctx_switch(&main_ctx, &co_ctx);
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = bench_ns();
        for (uint64_t i = 0; i < n; i++)
            eddy__ctx_switch(&main_ctx, &co_ctx); /* there and back: 2 switches */
        best_add(&b, bench_ns() - t0);
    }
    bench_report("ctx_switch", b.ns, 2 * n);
    /* The coroutine stays suspended for good; its stack can go. */
    munmap(stack, size);
}

/* ------------------------------------------------------- task switch */

static int yielder(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++)
        CHECK(eddy_yield());
    return 0;
}

static void bench_task_switch(uint64_t n)
{
    best_t b = {0};
    for (int r = 0; r < RUNS; r++) {
        eddy_task_t *a, *c;
        uint64_t t0 = bench_ns();
        CHECK(eddy_spawn(&a, yielder, &n, NULL));
        CHECK(eddy_spawn(&c, yielder, &n, NULL));
        CHECK(eddy_join(a, NULL));
        CHECK(eddy_join(c, NULL));
        best_add(&b, bench_ns() - t0);
        eddy_detach(a);
        eddy_detach(c);
    }
    bench_report("task_switch", b.ns, 2 * n);
}

static void bench_yield(uint64_t n)
{
    best_t b = {0};
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = bench_ns();
        for (uint64_t i = 0; i < n; i++)
            CHECK(eddy_yield());
        best_add(&b, bench_ns() - t0);
    }
    bench_report("yield", b.ns, n);
}

/* ------------------------------------------------------- spawn, join */

static int empty(void *arg)
{
    return 0;
}

static uint64_t spawn_join(uint64_t n)
{
    uint64_t t0 = bench_ns();
    for (uint64_t i = 0; i < n; i++) {
        eddy_task_t *t;
        CHECK(eddy_spawn(&t, empty, NULL, NULL));
        CHECK(eddy_join(t, NULL));
        eddy_detach(t);
    }
    return bench_ns() - t0;
}

static void bench_spawn_join(uint64_t n)
{
    best_t b = {0};
    for (int r = 0; r < RUNS; r++)
        best_add(&b, spawn_join(n));
    bench_report("spawn_join", b.ns, n);
}

/* ---------------------------------------------------------- timeouts */

static void bench_timeout_scope(uint64_t n)
{
    best_t b = {0};
    int sum = 0;
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = bench_ns();
        for (uint64_t i = 0; i < n; i++) {
            eddy_timeout_t s;
            eddy_timeout_enter(&s, 1000);
            sum += eddy_timeout_leave(&s);
        }
        best_add(&b, bench_ns() - t0);
    }
    CHECK(sum);
    bench_report("timeout_scope", b.ns, n);
}

/* ------------------------------------------------------ cancellation */

static int sleep_forever(void *arg)
{
    int rc = eddy_sleep(EDDY_FOREVER);
    return rc == UV_ECANCELED ? 0 : -1;
}

/* Batches of tasks asleep (so each has started and waits); only the
 * cancel and the join are timed. */
static void bench_cancel_join(uint64_t n)
{
    enum { BATCH = 1000 };
    eddy_task_t *ts[BATCH];
    best_t b = {0};

    for (int r = 0; r < RUNS; r++) {
        uint64_t total = 0;
        for (uint64_t done = 0; done < n; done += BATCH) {
            for (int i = 0; i < BATCH; i++)
                CHECK(eddy_spawn(&ts[i], sleep_forever, NULL, NULL));
            CHECK(eddy_yield());
            uint64_t t0 = bench_ns();
            for (int i = 0; i < BATCH; i++) {
                eddy_cancel(ts[i]);
                CHECK(eddy_join(ts[i], NULL));
            }
            total += bench_ns() - t0;
            for (int i = 0; i < BATCH; i++)
                eddy_detach(ts[i]);
        }
        best_add(&b, total);
    }
    bench_report("cancel_join", b.ns, (n + BATCH - 1) / BATCH * BATCH);
}

/* Never called: a stall of 10 s does not happen in a benchmark. */
static void on_stall(eddy_task_t *t, uint64_t ms, void *arg)
{
    (void)t, (void)ms, (void)arg;
}

static int bench_main(void *arg)
{
    /* EDDY_BENCH_STALL=MS: the figures with the stall detector on (the
     * daemon's default), whose cost is a clock read per task switch. */
    const char *stall = getenv("EDDY_BENCH_STALL");
    if (stall != NULL)
        eddy_stall_watch(strtoull(stall, NULL, 10), on_stall, NULL);
    spawn_join(scale * 10000); /* warm-up: fills the pools */
    bench_task_switch(scale * 1000000);
    bench_yield(scale * 1000000);
    bench_spawn_join(scale * 1000000);
    bench_timeout_scope(scale * 10000000);
    bench_cancel_join(scale * 200000);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scale = strtoull(argv[1], NULL, 10);
    if (scale == 0)
        scale = 1;
    printf("# eddy task core, %s context switch\n",
#ifdef EDDY_CTX_UCONTEXT
           "ucontext"
#else
           "asm"
#endif
    );
    bench_ctx_switch(scale * 10000000);
    int rc = eddy_run(bench_main, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench-core: %s\n", eddy_strerror(rc));
        return 1;
    }
    return 0;
}
