/* Microbenchmarks of the sync primitives, queues and channels; each prints
 * `name<TAB>ns_per_op<TAB>ops` (tests/bench/bench_sync_asyncio.py measures
 * the same in asyncio).
 *
 *   bench-sync [scale]     scale multiplies the iteration counts (default 1)
 */
#include <stdlib.h>

#include "bench/bench.h"
#include "eddy.h"

static uint64_t scale = 1;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0) {                                                                            \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, eddy_strerror(rc_));        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------ queue */

typedef struct handoff {
    eddy_queue_t q;
    uint64_t n;
} handoff_t;

static int producer(void *arg)
{
    handoff_t *h = arg;
    for (uint64_t i = 0; i < h->n; i++)
        CHECK(eddy_queue_put(&h->q, (void *)(uintptr_t)(i + 1)));
    return 0;
}

static int consumer(void *arg)
{
    handoff_t *h = arg;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < h->n; i++) {
        void *item;
        CHECK(eddy_queue_get(&h->q, &item));
        sum += (uintptr_t)item;
    }
    return sum == h->n * (h->n + 1) / 2 ? 0 : -1;
}

/* A producer task and a consumer task pass n items through a queue of
 * maxsize: with 1, every item is a handoff between the two tasks. */
static void queue_handoff(const char *name, size_t maxsize, uint64_t n)
{
    handoff_t h = {.n = n};
    eddy_task_t *p, *c;
    uint64_t t0;

    CHECK(eddy_queue_init(&h.q, maxsize));
    t0 = bench_ns();
    CHECK(eddy_spawn(&c, consumer, &h, NULL));
    CHECK(eddy_spawn(&p, producer, &h, NULL));
    CHECK(eddy_join(p, NULL));
    CHECK(eddy_join(c, NULL));
    bench_report(name, bench_ns() - t0, n);
    eddy_detach(p);
    eddy_detach(c);
    eddy_queue_destroy(&h.q);
}

/* Request and reply through two queues: every item is a round trip, two
 * task switches, with no batching at all. */
typedef struct echo {
    eddy_queue_t req, rep;
    uint64_t n;
} echo_t;

static int echoer(void *arg)
{
    echo_t *e = arg;
    for (uint64_t i = 0; i < e->n; i++) {
        void *item;
        CHECK(eddy_queue_get(&e->req, &item));
        CHECK(eddy_queue_put(&e->rep, item));
    }
    return 0;
}

static void queue_pingpong(uint64_t n)
{
    echo_t e = {.n = n};
    eddy_task_t *t;
    uint64_t t0;

    CHECK(eddy_queue_init(&e.req, 1));
    CHECK(eddy_queue_init(&e.rep, 1));
    CHECK(eddy_spawn(&t, echoer, &e, NULL));
    t0 = bench_ns();
    for (uint64_t i = 0; i < n; i++) {
        void *item;
        CHECK(eddy_queue_put(&e.req, (void *)(uintptr_t)(i + 1)));
        CHECK(eddy_queue_get(&e.rep, &item));
    }
    bench_report("queue_pingpong", bench_ns() - t0, n);
    CHECK(eddy_join(t, NULL));
    eddy_detach(t);
    eddy_queue_destroy(&e.req);
    eddy_queue_destroy(&e.rep);
}

/* --------------------------------------------------------------- channels */

typedef struct chan_bench {
    eddy_chan_t ch[4];
    uint64_t n;
} chan_bench_t;

/* Sends 1..n, round-robin over the first nchans channels. */
static int chan_producer_n(chan_bench_t *cb, size_t nchans)
{
    for (uint64_t i = 0; i < cb->n; i++) {
        uint64_t v = i + 1;
        CHECK(eddy_chan_send(&cb->ch[i % nchans], &v));
    }
    return 0;
}

static int chan_producer(void *arg)
{
    return chan_producer_n(arg, 1);
}

static int chan_producer4(void *arg)
{
    return chan_producer_n(arg, 4);
}

static int chan_consumer(void *arg)
{
    chan_bench_t *cb = arg;
    uint64_t sum = 0, v;
    for (uint64_t i = 0; i < cb->n; i++) {
        CHECK(eddy_chan_recv(&cb->ch[0], &v));
        sum += v;
    }
    return sum == cb->n * (cb->n + 1) / 2 ? 0 : -1;
}

/* Receives every item through a select over the four channels. */
static int select_consumer(void *arg)
{
    chan_bench_t *cb = arg;
    uint64_t sum = 0, v[4];
    eddy_chan_op_t ops[4];

    for (int i = 0; i < 4; i++)
        ops[i] = (eddy_chan_op_t){.chan = &cb->ch[i], .dir = EDDY_RECV, .item = &v[i]};
    for (uint64_t i = 0; i < cb->n; i++) {
        int k = eddy_select(ops, 4, EDDY_FOREVER);
        if (k < 0)
            CHECK(k);
        sum += v[k];
    }
    return sum == cb->n * (cb->n + 1) / 2 ? 0 : -1;
}

/* A producer task and a consumer task pass n items through channels of
 * capacity cap (0: rendezvous, every item a handoff between the two). */
static void chan_run(const char *name, size_t cap, uint64_t n, eddy_task_fn prod, eddy_task_fn cons)
{
    chan_bench_t cb = {.n = n};
    eddy_task_t *p, *c;
    uint64_t t0;

    for (int i = 0; i < 4; i++)
        CHECK(eddy_chan_init(&cb.ch[i], cap, sizeof(uint64_t)));
    t0 = bench_ns();
    CHECK(eddy_spawn(&c, cons, &cb, NULL));
    CHECK(eddy_spawn(&p, prod, &cb, NULL));
    CHECK(eddy_join(p, NULL));
    CHECK(eddy_join(c, NULL));
    bench_report(name, bench_ns() - t0, n);
    eddy_detach(p);
    eddy_detach(c);
    for (int i = 0; i < 4; i++)
        eddy_chan_destroy(&cb.ch[i]);
}

/* ------------------------------------------------------------- generators */

static int counter_gen(eddy_gen_t *g, void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 1; i <= n; i++) {
        int rc = eddy_gen_yield(g, &i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* `async for v in counter(n)`: one eddy_gen_next per item, each a
 * request to the generator task and an item back (two task switches);
 * with EDDY_GEN_AHEAD an item per handoff, as a rendezvous channel. */
static void gen_next(const char *name, unsigned flags, uint64_t n)
{
    eddy_spawn_opts_t opts = {.flags = flags};
    eddy_gen_t g;
    uint64_t v, sum = 0, t0 = bench_ns();
    int rc;

    CHECK(eddy_gen_start(&g, sizeof(uint64_t), counter_gen, &n, &opts));
    while ((rc = eddy_gen_next(&g, &v)) == 0)
        sum += v;
    bench_report(name, bench_ns() - t0, n);
    if (rc != UV_EOF || sum != n * (n + 1) / 2)
        CHECK(rc == UV_EOF ? -1 : rc);
}

/* ------------------------------------------------------------------- lock */

static eddy_lock_t lock;

static void lock_uncontended(uint64_t n)
{
    uint64_t t0 = bench_ns();
    for (uint64_t i = 0; i < n; i++) {
        CHECK(eddy_lock_acquire(&lock));
        CHECK(eddy_lock_release(&lock));
    }
    bench_report("lock_uncontended", bench_ns() - t0, n);
}

/* Holds the lock across a yield, so the other task always finds it taken
 * and the lock passes from one task to the other every time. */
static int lock_worker(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(eddy_lock_acquire(&lock));
        CHECK(eddy_yield());
        CHECK(eddy_lock_release(&lock));
    }
    return 0;
}

static void lock_contended(uint64_t n)
{
    uint64_t per_task = n / 2;
    eddy_task_t *a, *b;
    uint64_t t0 = bench_ns();
    CHECK(eddy_spawn(&a, lock_worker, &per_task, NULL));
    CHECK(eddy_spawn(&b, lock_worker, &per_task, NULL));
    CHECK(eddy_join(a, NULL));
    CHECK(eddy_join(b, NULL));
    bench_report("lock_contended", bench_ns() - t0, 2 * per_task);
    eddy_detach(a);
    eddy_detach(b);
}

/* ------------------------------------------------------------- semaphore */

static void sem_uncontended(uint64_t n)
{
    eddy_sem_t sem;
    uint64_t t0;
    eddy_sem_init(&sem, 1);
    t0 = bench_ns();
    for (uint64_t i = 0; i < n; i++) {
        CHECK(eddy_sem_acquire(&sem));
        CHECK(eddy_sem_release(&sem));
    }
    bench_report("sem_uncontended", bench_ns() - t0, n);
}

/* ------------------------------------------------------------------ event */

typedef struct pingpong {
    eddy_event_t ping, pong;
    uint64_t n;
} pingpong_t;

static int ponger(void *arg)
{
    pingpong_t *pp = arg;
    for (uint64_t i = 0; i < pp->n; i++) {
        CHECK(eddy_event_wait(&pp->ping));
        eddy_event_clear(&pp->ping);
        eddy_event_set(&pp->pong);
    }
    return 0;
}

/* One round trip: set ping, wait for pong (two task switches). */
static void event_pingpong(uint64_t n)
{
    pingpong_t pp = {.n = n};
    eddy_task_t *t;
    uint64_t t0;

    eddy_event_init(&pp.ping);
    eddy_event_init(&pp.pong);
    CHECK(eddy_spawn(&t, ponger, &pp, NULL));
    t0 = bench_ns();
    for (uint64_t i = 0; i < n; i++) {
        eddy_event_set(&pp.ping);
        CHECK(eddy_event_wait(&pp.pong));
        eddy_event_clear(&pp.pong);
    }
    bench_report("event_pingpong", bench_ns() - t0, n);
    CHECK(eddy_join(t, NULL));
    eddy_detach(t);
}

static int bench_main(void *arg)
{
    eddy_lock_init(&lock);
    queue_handoff("queue_handoff_max1", 1, 1000000 * scale);
    queue_handoff("queue_handoff_max64", 64, 4000000 * scale);
    queue_pingpong(1000000 * scale);
    lock_uncontended(20000000 * scale);
    lock_contended(1000000 * scale);
    sem_uncontended(20000000 * scale);
    event_pingpong(1000000 * scale);
    chan_run("chan_handoff", 0, 1000000 * scale, chan_producer, chan_consumer);
    chan_run("chan_handoff_cap64", 64, 4000000 * scale, chan_producer, chan_consumer);
    chan_run("select4_handoff", 0, 1000000 * scale, chan_producer4, select_consumer);
    chan_run("select4_cap64", 64, 4000000 * scale, chan_producer4, select_consumer);
    gen_next("gen_next", 0, 1000000 * scale);
    gen_next("gen_next_ahead", EDDY_GEN_AHEAD, 1000000 * scale);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        scale = strtoull(argv[1], NULL, 10);
    if (scale == 0)
        scale = 1;
    return eddy_run(bench_main, NULL) == 0 ? 0 : 1;
}
