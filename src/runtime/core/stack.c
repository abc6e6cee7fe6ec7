/* Task stacks: mmap'd, with a PROT_NONE guard page below the usable area so
 * an overflow faults at once instead of corrupting a neighbour, and pooled
 * for reuse, since a fresh guarded stack costs ~9 us (mmap, mprotect, first
 * touch) and a pooled one a few ns.  Pools are per thread, one bucket per
 * (size, guard) pair; a full bucket unmaps what is returned to it. */
#include "runtime/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef EDDY_VALGRIND
#include <valgrind/valgrind.h>
#endif
#ifdef EDDY_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define POOL_BUCKETS 8
#define POOL_MAX_PER_BUCKET 1024

/* A pooled stack keeps its bookkeeping in its own top bytes. */
typedef struct free_stack {
    struct free_stack *next;
    eddy__stack_t s;
} free_stack_t;

typedef struct bucket {
    size_t size;
    unsigned flags;
    size_t len;
    free_stack_t *head;
} bucket_t;

static __thread bucket_t pool[POOL_BUCKETS];

uint64_t eddy__stack_unguarded_fallbacks;

static size_t page_size(void)
{
    static size_t ps;
    if (ps == 0)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

static void unmap(eddy__stack_t *s)
{
    size_t guard = (s->flags & EDDY_SPAWN_NOGUARD) ? 0 : page_size();
#ifdef EDDY_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    munmap(s->base - guard, s->size + guard);
}

static int map(eddy__stack_t *s, size_t size, unsigned flags)
{
    size_t guard = (flags & EDDY_SPAWN_NOGUARD) ? 0 : page_size();
    char *p = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return UV_ENOMEM;
    /* mprotect splits the mapping in two; ENOMEM here means
     * vm.max_map_count is reached.  Rather than refuse the task, it gets an
     * unguarded stack (counted in eddy__stack_unguarded_fallbacks). */
    if (guard && mprotect(p, guard, PROT_NONE) != 0) {
        munmap(p, size + guard);
        p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (p == MAP_FAILED)
            return UV_ENOMEM;
        eddy__stack_unguarded_fallbacks++;
        guard = 0;
        flags |= EDDY_SPAWN_NOGUARD;
    }
    s->base = p + guard;
    s->size = size;
    s->flags = flags;
#ifdef EDDY_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->base, s->base + size);
#else
    s->vg_id = 0;
#endif
    return 0;
}

static bucket_t *bucket_for(size_t size, unsigned flags, bool create)
{
    for (int i = 0; i < POOL_BUCKETS; i++) {
        if (pool[i].size == size && pool[i].flags == flags)
            return &pool[i];
    }
    if (!create)
        return NULL;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        if (pool[i].size == 0) {
            pool[i].size = size;
            pool[i].flags = flags;
            return &pool[i];
        }
    }
    return NULL;
}

int eddy__stack_get(eddy__stack_t *s, size_t size, unsigned flags)
{
    size_t ps = page_size();

    if (size < EDDY_STACK_MIN)
        size = EDDY_STACK_MIN;
    size = (size + ps - 1) & ~(ps - 1);
    flags &= EDDY_SPAWN_NOGUARD;

    bucket_t *b = bucket_for(size, flags, false);
    if (b != NULL && b->head != NULL) {
        free_stack_t *f = b->head;
        b->head = f->next;
        b->len--;
        *s = f->s;
#ifdef EDDY_ASAN
        /* The last task to run here left redzones of frames it never
         * returned from. */
        ASAN_UNPOISON_MEMORY_REGION(s->base, s->size);
#endif
        return 0;
    }
    return map(s, size, flags);
}

void eddy__stack_put(eddy__stack_t *s)
{
    bucket_t *b = bucket_for(s->size, s->flags, true);
    if (b == NULL || b->len >= POOL_MAX_PER_BUCKET) {
        unmap(s);
        return;
    }
#ifdef EDDY_ASAN
    ASAN_UNPOISON_MEMORY_REGION(s->base, s->size);
#endif
    free_stack_t *f = (free_stack_t *)(s->base + s->size - sizeof(free_stack_t));
    f->s = *s;
    f->next = b->head;
    b->head = f;
    b->len++;
}

void eddy__stack_pool_drain(void)
{
    for (int i = 0; i < POOL_BUCKETS; i++) {
        while (pool[i].head != NULL) {
            free_stack_t *f = pool[i].head;
            eddy__stack_t s = f->s;
            pool[i].head = f->next;
            unmap(&s);
        }
        pool[i].len = 0;
        pool[i].size = 0;
        pool[i].flags = 0;
    }
}
