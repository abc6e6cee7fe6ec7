/* After a spike of 10,000 connections their buffers and task structures
 * are freed, but glibc keeps the free memory in its heap (only the top of
 * the main arena is trimmed by itself), so RSS stayed at the spike's
 * level.  Once the connections are gone, malloc_trim(0) gives back every
 * free page, also in the middle of the heap.  Trimming while the count
 * stays high would only make the next requests fault the pages in again,
 * so it waits for a large drop, and runs at most every TRIM_GAP_MS.  The
 * runtime's pool of finished tasks' stacks is trimmed with it: each pooled
 * stack keeps the pages its task touched (~8 KiB of a connection's). */
#include "config.h"

#include <stdint.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "daemon/memory.h"
#include "eddy.h"

#define TRIM_TICK_MS 1000
#define TRIM_GAP_MS 5000
/* A drop worth a trim: at least this many connections, and half the peak. */
#define TRIM_MIN_DROP 64
/* Pooled stacks kept warm beyond the open connections' own. */
#define TRIM_KEEP_STACKS 64

static struct trimmer {
    uv_timer_t timer;
    const size_t *nconns;
    size_t peak;      /* the most connections since the last trim */
    uint64_t last_ms; /* when it last trimmed */
} trimmer;

static void on_tick(uv_timer_t *t)
{
    struct trimmer *tr = t->data;
    size_t n = *tr->nconns;
    uint64_t now = uv_now(t->loop);

    if (n > tr->peak)
        tr->peak = n;
    if (tr->peak - n < TRIM_MIN_DROP || n > tr->peak / 2 || now - tr->last_ms < TRIM_GAP_MS)
        return;
    /* The finished connections' stacks, pooled with their touched pages. */
    eddy_stack_pool_trim(n + TRIM_KEEP_STACKS);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    tr->peak = n;
    tr->last_ms = now;
}

void memory_trim_start(const size_t *nconns)
{
    trimmer = (struct trimmer){.nconns = nconns};
    if (uv_timer_init(eddy_loop(), &trimmer.timer) != 0)
        return; /* memory stays with malloc, as before */
    trimmer.timer.data = &trimmer;
    uv_unref((uv_handle_t *)&trimmer.timer);
    uv_timer_start(&trimmer.timer, on_tick, TRIM_TICK_MS, TRIM_TICK_MS);
}
