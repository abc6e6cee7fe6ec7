/* Task stacks, of three kinds:
 *
 *  - guarded: a mapping of its own with a PROT_NONE guard page below the
 *    usable area, so an overflow faults at once instead of corrupting a
 *    neighbour.  The guard splits the mapping in two, so each guarded stack
 *    costs two of the process's vm.max_map_count mappings; they are given
 *    out only while a budget derived from that limit allows (see
 *    guard_budget), which leaves room for everything else that maps.
 *  - slab: unguarded stacks carved from a shared mapping of several MiB
 *    (one mapping for many stacks, and neighbouring slabs merge), used for
 *    EDDY_SPAWN_NOGUARD and for guarded requests past the budget.
 *  - heap: malloc'd, the last resort when mmap itself fails.
 *
 * Stacks are pooled for reuse, since a fresh guarded stack costs ~9 us
 * (mmap, mprotect, first touch) and a pooled one a few ns.  Pools are per
 * thread, one bucket per (size, guarded or not); a full bucket releases
 * what is returned to it. */
#include "runtime/internal.h"

#include <errno.h>
#include <fcntl.h>
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
/* Bytes per slab: 64 default stacks share one mapping. */
#define SLAB_BYTES (4u * 1024u * 1024u)
/* Kinds, in eddy__stack_t.flags beside EDDY_SPAWN_NOGUARD. */
#define KIND_SLAB 0x100u
#define KIND_HEAP 0x200u

/* A pooled stack keeps its bookkeeping in its own top bytes. */
typedef struct free_stack {
    struct free_stack *next;
    eddy__stack_t s;
} free_stack_t;

/* A mapping carved into n stacks of one size; unmapped when the last
 * stack carved from it comes back and no more will be carved. */
typedef struct slab {
    char *mem;
    size_t len;
    unsigned live; /* stacks out of the slab (running or pooled) */
    bool retired;  /* fully carved, or its bucket is gone */
} slab_t;

typedef struct bucket {
    size_t size;
    unsigned flags; /* EDDY_SPAWN_NOGUARD or 0 */
    size_t len;
    free_stack_t *head;
    slab_t *slab;  /* the slab stacks are carved from next */
    size_t carved; /* stacks carved from it so far */
} bucket_t;

static __thread bucket_t pool[POOL_BUCKETS];

uint64_t eddy__stack_unguarded_fallbacks;
/* Guarded stacks mapped now, by every thread (they share the map count). */
static size_t nguarded;

static size_t page_size(void)
{
    static size_t ps;
    if (ps == 0)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* vm.max_map_count, or Linux's default when it cannot be read. */
static size_t max_map_count(void)
{
    char buf[32];
    size_t n = 0;
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
        n = n * 10 + (size_t)(buf[i] - '0');
    return n > 0 ? n : 65530;
}

size_t eddy__stack_guard_budget(void)
{
    static size_t budget = SIZE_MAX;
    if (budget == SIZE_MAX) {
        /* An eighth of the mappings plus 1024 stay for libraries, malloc
         * arenas, file mappings and the slabs: 28k guarded stacks with the
         * default limit of 65530. */
        size_t max = max_map_count(), reserve = max / 8 + 1024;
        budget = max > reserve ? (max - reserve) / 2 : 0;
    }
    return budget;
}

static void vg_register(eddy__stack_t *s)
{
#ifdef EDDY_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->base, s->base + s->size);
#else
    s->vg_id = 0;
#endif
}

static int map_guarded(eddy__stack_t *s, size_t size)
{
    size_t guard = page_size();
    if (__atomic_add_fetch(&nguarded, 1, __ATOMIC_RELAXED) > eddy__stack_guard_budget())
        goto fail;
    char *p = mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        goto fail;
    /* mprotect splits the mapping in two: ENOMEM here means the process
     * reached vm.max_map_count by other means than our stacks. */
    if (mprotect(p, guard, PROT_NONE) != 0) {
        munmap(p, size + guard);
        goto fail;
    }
    s->base = p + guard;
    s->size = size;
    s->flags = 0;
    s->slab = NULL;
    return 0;
fail:
    __atomic_sub_fetch(&nguarded, 1, __ATOMIC_RELAXED);
    return UV_ENOMEM;
}

static int carve_from_slab(eddy__stack_t *s, bucket_t *b, size_t size)
{
    slab_t *sl = b->slab;
    if (sl == NULL) {
        size_t n = size >= SLAB_BYTES ? 1 : SLAB_BYTES / size;
        sl = malloc(sizeof(*sl));
        if (sl == NULL)
            return UV_ENOMEM;
        sl->len = n * size;
        sl->mem = mmap(NULL, sl->len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (sl->mem == MAP_FAILED) {
            free(sl);
            return UV_ENOMEM;
        }
        sl->live = 0;
        sl->retired = false;
        b->slab = sl;
        b->carved = 0;
    }
    /* Carved from the top down, as the kernel places new mappings, so
     * that a partly used slab touches one end only. */
    s->base = sl->mem + sl->len - (b->carved + 1) * size;
    s->size = size;
    s->flags = EDDY_SPAWN_NOGUARD | KIND_SLAB;
    s->slab = sl;
    sl->live++;
    if (++b->carved * size == sl->len) {
        sl->retired = true;
        b->slab = NULL;
    }
    return 0;
}

/* A slab's memory goes back as a whole when its last stack does: giving
 * back each stack's pages (madvise) costs a TLB shootdown per stack, which
 * made releasing 70k stacks take seconds. */
static void slab_release(eddy__stack_t *s)
{
    slab_t *sl = s->slab;
    if (--sl->live == 0 && sl->retired) {
        munmap(sl->mem, sl->len);
        free(sl);
    }
}

static int heap_alloc(eddy__stack_t *s, size_t size)
{
    void *p;
    if (posix_memalign(&p, page_size(), size) != 0)
        return UV_ENOMEM;
    s->base = p;
    s->size = size;
    s->flags = EDDY_SPAWN_NOGUARD | KIND_HEAP;
    s->slab = NULL;
    return 0;
}

static void release(eddy__stack_t *s)
{
#ifdef EDDY_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
#ifdef EDDY_ASAN
    ASAN_UNPOISON_MEMORY_REGION(s->base, s->size);
#endif
    if (s->flags & KIND_SLAB) {
        slab_release(s);
    } else if (s->flags & KIND_HEAP) {
        free(s->base);
    } else {
        munmap(s->base - page_size(), s->size + page_size());
        __atomic_sub_fetch(&nguarded, 1, __ATOMIC_RELAXED);
    }
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

static bool pool_pop(eddy__stack_t *s, size_t size, unsigned flags)
{
    bucket_t *b = bucket_for(size, flags, false);
    if (b == NULL || b->head == NULL)
        return false;
    free_stack_t *f = b->head;
    b->head = f->next;
    b->len--;
    *s = f->s;
#ifdef EDDY_ASAN
    /* The last task to run here left redzones of frames it never
     * returned from. */
    ASAN_UNPOISON_MEMORY_REGION(s->base, s->size);
#endif
    return true;
}

/* A new unguarded stack: from a slab, or from the heap when no mapping
 * can be had. */
static int get_unguarded(eddy__stack_t *s, size_t size)
{
    bucket_t *b = bucket_for(size, EDDY_SPAWN_NOGUARD, true);
    if (b != NULL && carve_from_slab(s, b, size) == 0)
        return 0;
    return heap_alloc(s, size);
}

int eddy__stack_get(eddy__stack_t *s, size_t size, unsigned flags)
{
    size_t ps = page_size();
    int rc;

    if (size < EDDY_STACK_MIN)
        size = EDDY_STACK_MIN;
    size = (size + ps - 1) & ~(ps - 1);
    flags &= EDDY_SPAWN_NOGUARD;

    if (pool_pop(s, size, flags))
        return 0;
    if (flags == 0) {
        if (map_guarded(s, size) == 0)
            goto done;
        /* Past the guard budget, or out of mappings: the task still gets
         * a stack, an unguarded one. */
        eddy__stack_unguarded_fallbacks++;
        if (pool_pop(s, size, EDDY_SPAWN_NOGUARD))
            return 0;
    }
    rc = get_unguarded(s, size);
    if (rc != 0)
        return rc;
done:
    vg_register(s);
    return 0;
}

void eddy__stack_put(eddy__stack_t *s)
{
    bucket_t *b = bucket_for(s->size, s->flags & EDDY_SPAWN_NOGUARD, true);
    if (b == NULL || b->len >= POOL_MAX_PER_BUCKET) {
        release(s);
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

size_t eddy_stack_pool_trim(size_t keep)
{
    size_t released = 0;
    for (int i = 0; i < POOL_BUCKETS; i++) {
        bucket_t *b = &pool[i];
        while (b->len > keep && b->head != NULL) {
            free_stack_t *f = b->head;
            eddy__stack_t s = f->s;
            b->head = f->next;
            b->len--;
            release(&s);
            released++;
        }
    }
    return released;
}

size_t eddy__stack_pooled(void)
{
    size_t n = 0;
    for (int i = 0; i < POOL_BUCKETS; i++)
        n += pool[i].len;
    return n;
}

void eddy__stack_pool_drain(void)
{
    for (int i = 0; i < POOL_BUCKETS; i++) {
        bucket_t *b = &pool[i];
        while (b->head != NULL) {
            free_stack_t *f = b->head;
            eddy__stack_t s = f->s;
            b->head = f->next;
            release(&s);
        }
        /* Freed now if nothing was carved from it, else by the release
         * of its last stack. */
        if (b->slab != NULL) {
            slab_t *sl = b->slab;
            sl->retired = true;
            if (sl->live == 0) {
                munmap(sl->mem, sl->len);
                free(sl);
            }
        }
        *b = (bucket_t){0};
    }
}

bool eddy__stack_is_guard(const eddy__stack_t *s, const void *addr)
{
    uintptr_t a = (uintptr_t)addr, base = (uintptr_t)s->base;
    return s->base != NULL && !(s->flags & EDDY_SPAWN_NOGUARD) && a < base &&
           a >= base - page_size();
}

size_t eddy_stack_shrink(void)
{
    eddy_task_t *t = eddy__rt ? eddy__rt->current : NULL;
    if (t == NULL || t->stack.base == NULL)
        return 0;
    /* Stacks grow down: [base, sp - margin) is unused now. */
    size_t ps = page_size();
    uintptr_t lo = ((uintptr_t)t->stack.base + ps - 1) & ~(uintptr_t)(ps - 1);
    /* The frame, not a local: under ASan locals may live on a fake stack. */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (sp < lo + 4 * ps || sp >= (uintptr_t)t->stack.base + t->stack.size)
        return 0;
    uintptr_t hi = (sp - 2 * ps) & ~(uintptr_t)(ps - 1);
    if (hi <= lo || madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0)
        return 0;
    return hi - lo;
}
