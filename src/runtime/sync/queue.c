/* Queues (asyncio.Queue, LifoQueue, PriorityQueue) of void * items.
 *
 * Storage is one array: a ring for FIFO queues, a stack for LIFO ones and
 * a binary heap of (item, insertion number) entries for priority ones.
 * Bounded queues allocate it whole at init; unbounded ones start small and
 * double.
 *
 * Items pass between tasks without touching the allocator: a put that
 * finds a getter waiting writes the item into that getter's waiter (on the
 * getter's stack) and wakes it, and a get that frees a slot in a full
 * queue moves the first waiting putter's item in and wakes the putter.  A
 * waiter woken that way has completed its call — the item was delivered or
 * accepted — even if it is cancelled before it runs; an interrupted waiter
 * is unlinked before anything is handed to it.  Hence two invariants: while
 * getters wait the queue is empty, and while putters wait it is full. */
#include "runtime/internal.h"

#include <stdlib.h>
#include <string.h>

enum { QUEUE_FIFO, QUEUE_LIFO, QUEUE_PRIORITY };

/* First capacity of an unbounded queue. */
#define UNBOUNDED_INITIAL_CAP 16

/* A priority queue's heap slot: ties are broken by insertion order. */
typedef struct entry {
    void *item;
    uint64_t seq;
} entry_t;

static size_t entry_size(const eddy_queue_t *q)
{
    return q->kind == QUEUE_PRIORITY ? sizeof(entry_t) : sizeof(void *);
}

static int queue_init(eddy_queue_t *q, size_t maxsize, uint8_t kind,
                      int (*cmp)(const void *, const void *))
{
    size_t cap = maxsize ? maxsize : UNBOUNDED_INITIAL_CAP;

    memset(q, 0, sizeof(*q));
    q->kind = kind;
    q->cmp = cmp;
    q->maxsize = maxsize;
    if (cap > SIZE_MAX / entry_size(q))
        return UV_ENOMEM;
    q->buf = malloc(cap * entry_size(q));
    if (q->buf == NULL)
        return UV_ENOMEM;
    q->cap = cap;
    eddy__waitq_init(&q->getters);
    eddy__waitq_init(&q->putters);
    eddy__waitq_init(&q->joiners);
    return 0;
}

int eddy_queue_init(eddy_queue_t *q, size_t maxsize)
{
    return queue_init(q, maxsize, QUEUE_FIFO, NULL);
}

int eddy_queue_init_lifo(eddy_queue_t *q, size_t maxsize)
{
    return queue_init(q, maxsize, QUEUE_LIFO, NULL);
}

int eddy_queue_init_priority(eddy_queue_t *q, size_t maxsize,
                             int (*cmp)(const void *a, const void *b))
{
    if (cmp == NULL)
        return UV_EINVAL;
    return queue_init(q, maxsize, QUEUE_PRIORITY, cmp);
}

void eddy_queue_destroy(eddy_queue_t *q)
{
    /* A woken waiter does not touch q again: it only reads its own
     * waiter, so q may be freed right after this. */
    eddy__waitq_wake_all(&q->getters, EDDY_ECLOSED);
    eddy__waitq_wake_all(&q->putters, EDDY_ECLOSED);
    eddy__waitq_wake_all(&q->joiners, EDDY_ECLOSED);
    free(q->buf);
    q->buf = NULL;
    q->cap = q->len = q->head = 0;
}

/* ---------------------------------------------------------------- storage */

/* Doubles an unbounded queue's array (only called when it is full). */
static int grow(eddy_queue_t *q)
{
    size_t es = entry_size(q);
    char *buf;

    if (q->cap > SIZE_MAX / 2 / es)
        return UV_ENOMEM;
    buf = realloc(q->buf, 2 * q->cap * es);
    if (buf == NULL)
        return UV_ENOMEM;
    /* A full ring that wraps keeps its oldest items at [head, cap) and the
     * rest at [0, head): move the latter after the former. */
    if (q->kind == QUEUE_FIFO && q->head > 0)
        memcpy(buf + q->cap * es, buf, q->head * es);
    q->buf = buf;
    q->cap *= 2;
    return 0;
}

static bool heap_less(const eddy_queue_t *q, const entry_t *a, const entry_t *b)
{
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static void heap_push(eddy_queue_t *q, void *item)
{
    entry_t *h = q->buf;
    entry_t e = {item, q->seq++};
    size_t i = q->len++;

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(q, &e, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static void *heap_pop(eddy_queue_t *q)
{
    entry_t *h = q->buf;
    void *top = h[0].item;
    entry_t last = h[--q->len];
    size_t i = 0, n = q->len;

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && heap_less(q, &h[child + 1], &h[child]))
            child++;
        if (!heap_less(q, &h[child], &last))
            break;
        h[i] = h[child];
        i = child;
    }
    if (n > 0)
        h[i] = last;
    return top;
}

/* Stores item; the caller made sure a bounded queue has room. */
static int push(eddy_queue_t *q, void *item)
{
    void **ring = q->buf;
    size_t i;

    if (q->len == q->cap) {
        int rc = grow(q);
        if (rc != 0)
            return rc;
        ring = q->buf;
    }
    switch (q->kind) {
    case QUEUE_FIFO:
        i = q->head + q->len;
        ring[i < q->cap ? i : i - q->cap] = item;
        q->len++;
        break;
    case QUEUE_LIFO:
        ring[q->len++] = item;
        break;
    default:
        heap_push(q, item);
        break;
    }
    return 0;
}

/* Removes the next item; the queue is not empty. */
static void *take(eddy_queue_t *q)
{
    void **ring = q->buf;
    void *item;

    switch (q->kind) {
    case QUEUE_FIFO:
        item = ring[q->head];
        if (++q->head == q->cap)
            q->head = 0;
        q->len--;
        return item;
    case QUEUE_LIFO:
        return ring[--q->len];
    default:
        return heap_pop(q);
    }
}

/* --------------------------------------------------------------- put, get */

int eddy_queue_put_nowait(eddy_queue_t *q, void *item)
{
    eddy__waiter_t *getter;
    int rc;

    if (q->shutdown)
        return EDDY_ESHUTDOWN;
    getter = eddy__waitq_pop(&q->getters);
    if (getter != NULL) {
        getter->item = item;
        q->unfinished++;
        eddy_wait_wake(&getter->w, 0);
        return 0;
    }
    /* Waiting putters came first, even if a slot is free this instant. */
    if (q->putters.len > 0 || eddy_queue_full(q))
        return UV_EAGAIN;
    rc = push(q, item);
    if (rc != 0)
        return rc;
    q->unfinished++;
    return 0;
}

int eddy_queue_put(eddy_queue_t *q, void *item)
{
    eddy__waiter_t wt;
    int rc = eddy_queue_put_nowait(q, item);

    if (rc != UV_EAGAIN)
        return rc;
    /* Woken with 0 only once a get moved the item into the queue. */
    wt.item = item;
    return eddy__waitq_park(&q->putters, &wt, EDDY_FOREVER);
}

int eddy_queue_get_nowait(eddy_queue_t *q, void **item)
{
    eddy__waiter_t *putter;

    if (q->len == 0)
        return q->shutdown ? EDDY_ESHUTDOWN : UV_EAGAIN;
    *item = take(q);
    putter = eddy__waitq_pop(&q->putters);
    if (putter != NULL) {
        /* Cannot fail: a putter only waits on a bounded queue, whose array
         * never grows, and a slot was just freed. */
        push(q, putter->item);
        q->unfinished++;
        eddy_wait_wake(&putter->w, 0);
    }
    return 0;
}

int eddy_queue_get(eddy_queue_t *q, void **item)
{
    eddy__waiter_t wt;
    int rc = eddy_queue_get_nowait(q, item);

    if (rc != UV_EAGAIN)
        return rc;
    rc = eddy__waitq_park(&q->getters, &wt, EDDY_FOREVER);
    if (rc == 0)
        *item = wt.item; /* handed over by a put */
    return rc;
}

/* ----------------------------------------------------------- state, join */

size_t eddy_queue_size(const eddy_queue_t *q)
{
    return q->len;
}

bool eddy_queue_empty(const eddy_queue_t *q)
{
    return q->len == 0;
}

bool eddy_queue_full(const eddy_queue_t *q)
{
    return q->maxsize > 0 && q->len >= q->maxsize;
}

int eddy_queue_task_done(eddy_queue_t *q)
{
    if (q->unfinished == 0)
        return UV_EINVAL;
    if (--q->unfinished == 0)
        eddy__waitq_wake_all(&q->joiners, 0);
    return 0;
}

int eddy_queue_join(eddy_queue_t *q)
{
    eddy__waiter_t wt;

    if (q->unfinished == 0)
        return 0;
    return eddy__waitq_park(&q->joiners, &wt, EDDY_FOREVER);
}

void eddy_queue_shutdown(eddy_queue_t *q, bool immediate)
{
    q->shutdown = true;
    if (immediate && q->len > 0) {
        /* The dropped items count as processed, as in Python 3.13. */
        q->unfinished -= eddy__min(q->unfinished, q->len);
        q->len = q->head = 0;
        if (q->unfinished == 0)
            eddy__waitq_wake_all(&q->joiners, 0);
    }
    /* Getters only wait on an empty queue, which now stays empty. */
    eddy__waitq_wake_all(&q->getters, EDDY_ESHUTDOWN);
    eddy__waitq_wake_all(&q->putters, EDDY_ESHUTDOWN);
}
