/* Channels (Go's chan, Trio's memory channels) and select over them.
 *
 * A channel is a ring of capacity items of item_size bytes and two wait
 * queues.  Every waiter's item field points at the waiting caller's own
 * item: the bytes to send, or where a received item goes.  Whoever finds a
 * waiter completes its operation on its behalf — copies the item, moves a
 * waiting sender's item into the slot a receive freed — and only then wakes
 * it, so a woken waiter has nothing left to do and nothing is allocated.
 * Invariants, as for queues: receivers wait only while the ring is empty,
 * senders only while it is full (always, unbuffered), and nobody waits on
 * a closed channel.
 *
 * A select links one waiter per operation, all on the selecting task's
 * stack, each with w.data pointing at the select; the task itself parks on
 * the select's own wait.  Completing any of them unlinks the others before
 * the task is woken with that operation's index, so exactly one fires. */
#include "runtime/internal.h"

#include <stdlib.h>
#include <string.h>

/* Waiters a select keeps on its stack; more are allocated. */
#define SELECT_STACK_OPS 16

typedef struct chan_select {
    eddy_wait_t w;
    eddy_chan_op_t *ops;
    eddy__waiter_t *wts; /* one per op, parallel to ops */
    size_t n;
} chan_select_t;

/* Word-sized items, the common case, are copied inline rather than by a
 * call to memcpy, which was a tenth of a handoff's time. */
static inline void copy_item(const eddy_chan_t *ch, void *dst, const void *src)
{
    switch (ch->item_size) {
    case 0:
        break;
    case sizeof(uint64_t):
        memcpy(dst, src, sizeof(uint64_t));
        break;
    case sizeof(uint32_t):
        memcpy(dst, src, sizeof(uint32_t));
        break;
    default:
        memcpy(dst, src, ch->item_size);
        break;
    }
}

/* --------------------------------------------------------------- the ring */

static void ring_push(eddy_chan_t *ch, const void *item)
{
    size_t i = ch->head + ch->len;
    if (i >= ch->capacity)
        i -= ch->capacity;
    copy_item(ch, ch->buf + i * ch->item_size, item);
    ch->len++;
}

static void ring_take(eddy_chan_t *ch, void *item)
{
    copy_item(ch, item, ch->buf + ch->head * ch->item_size);
    if (++ch->head == ch->capacity)
        ch->head = 0;
    ch->len--;
}

/* ---------------------------------------------------------------- waiters */

static void link_waiter(eddy__waitq_t *q, eddy__waiter_t *wt, void *item, void *data)
{
    wt->w.task = NULL;
    wt->w.data = data;
    wt->item = item;
    eddy__waitq_append(q, wt);
}

static void select_unlink_all(chan_select_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        eddy__waitq_remove(&s->wts[i]);
}

/* Wakes the owner of a waiter just popped, its operation done (0) or
 * refused (EDDY_ECLOSED).  A select learns which of its operations fired
 * and lets go of the others. */
static void complete(eddy__waiter_t *wt, int status)
{
    chan_select_t *s = wt->w.data;
    size_t i;

    if (s == NULL) {
        eddy_wait_wake(&wt->w, status);
        return;
    }
    i = (size_t)(wt - s->wts);
    s->ops[i].status = status;
    select_unlink_all(s);
    eddy_wait_wake(&s->w, (int)i);
}

/* eddy_current() without the call through the library's PLT. */
static inline bool in_task(void)
{
    return eddy__rt != NULL && eddy__rt->current != NULL;
}

static void waiter_interrupted(eddy_wait_t *w)
{
    eddy__waitq_remove(eddy__container_of(w, eddy__waiter_t, w));
}

/* Parks the running task on q until its item is handed over. */
static int park(eddy__waitq_t *q, void *item, const char *what)
{
    eddy__waiter_t wt;

    if (!in_task())
        return EDDY_ENOTASK;
    eddy_wait_init(&wt.w, waiter_interrupted);
    link_waiter(q, &wt, item, NULL);
    wt.w.what = what;
    return eddy_wait_park(&wt.w, EDDY_FOREVER);
}

/* ------------------------------------------------------------ send, recv */

int eddy_chan_init(eddy_chan_t *ch, size_t capacity, size_t item_size)
{
    memset(ch, 0, sizeof(*ch));
    if (capacity > 0) {
        if (item_size > 0 && capacity > SIZE_MAX / item_size)
            return UV_ENOMEM;
        /* At least a byte, so that ring arithmetic never starts at NULL. */
        ch->buf = malloc(item_size > 0 ? capacity * item_size : 1);
        if (ch->buf == NULL)
            return UV_ENOMEM;
    }
    ch->capacity = capacity;
    ch->item_size = item_size;
    eddy__waitq_init(&ch->senders);
    eddy__waitq_init(&ch->receivers);
    return 0;
}

void eddy_chan_destroy(eddy_chan_t *ch)
{
    eddy_chan_close(ch);
    free(ch->buf);
    ch->buf = NULL;
    ch->len = ch->head = 0;
}

void eddy_chan_close(eddy_chan_t *ch)
{
    eddy__waiter_t *wt;

    ch->closed = true;
    /* Receivers wait only on an empty ring, which now stays empty. */
    while ((wt = eddy__waitq_pop(&ch->receivers)) != NULL)
        complete(wt, EDDY_ECLOSED);
    while ((wt = eddy__waitq_pop(&ch->senders)) != NULL)
        complete(wt, EDDY_ECLOSED);
}

int eddy_chan_try_send(eddy_chan_t *ch, const void *item)
{
    eddy__waiter_t *wt;

    if (ch->closed)
        return EDDY_ECLOSED;
    wt = eddy__waitq_pop(&ch->receivers);
    if (wt != NULL) {
        copy_item(ch, wt->item, item);
        complete(wt, 0);
        return 0;
    }
    /* Senders wait only on a full ring: room means none is waiting. */
    if (ch->len < ch->capacity) {
        ring_push(ch, item);
        return 0;
    }
    return UV_EAGAIN;
}

int eddy_chan_send(eddy_chan_t *ch, const void *item)
{
    int rc = eddy_chan_try_send(ch, item);
    if (rc != UV_EAGAIN)
        return rc;
    return park(&ch->senders, (void *)item, "a channel send");
}

int eddy_chan_try_recv(eddy_chan_t *ch, void *item)
{
    eddy__waiter_t *wt = eddy__waitq_pop(&ch->senders);

    if (ch->len > 0) {
        ring_take(ch, item);
        /* The first waiting sender's item takes the freed slot. */
        if (wt != NULL) {
            ring_push(ch, wt->item);
            complete(wt, 0);
        }
        return 0;
    }
    if (wt != NULL) { /* unbuffered: straight from the sender */
        copy_item(ch, item, wt->item);
        complete(wt, 0);
        return 0;
    }
    return ch->closed ? EDDY_ECLOSED : UV_EAGAIN;
}

int eddy_chan_recv(eddy_chan_t *ch, void *item)
{
    int rc = eddy_chan_try_recv(ch, item);
    if (rc != UV_EAGAIN)
        return rc;
    return park(&ch->receivers, item, "a channel receive");
}

size_t eddy_chan_len(const eddy_chan_t *ch)
{
    return ch->len;
}

/* ----------------------------------------------------------------- select */

/* A per-thread xorshift: the random start that makes select fair. */
static uint32_t next_random(void)
{
    static __thread uint32_t x = 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

/* True if op would complete without waiting (a cheap look, so that a
 * select scanning idle channels calls nothing). */
static inline bool op_ready(const eddy_chan_op_t *op)
{
    const eddy_chan_t *ch = op->chan;

    if (ch == NULL)
        return false;
    if (ch->closed)
        return true;
    if (op->dir == EDDY_SEND)
        return ch->receivers.head != NULL || ch->len < ch->capacity;
    return ch->len > 0 || ch->senders.head != NULL;
}

/* Performs the first ready op from a random start: its index, or -1. */
static int select_ready(eddy_chan_op_t *ops, size_t n)
{
    /* A multiply maps the random word onto [0, n) without a division,
     * which was a sixth of a select's time. */
    size_t start = (size_t)(((uint64_t)next_random() * n) >> 32);

    for (size_t k = 0; k < n; k++) {
        size_t i = start + k < n ? start + k : start + k - n;
        eddy_chan_op_t *op = &ops[i];

        if (!op_ready(op))
            continue;
        if (op->dir == EDDY_SEND)
            op->status = eddy_chan_try_send(op->chan, op->item);
        else
            op->status = eddy_chan_try_recv(op->chan, op->item);
        return (int)i;
    }
    return -1;
}

static void select_interrupted(eddy_wait_t *w)
{
    select_unlink_all(eddy__container_of(w, chan_select_t, w));
}

/* Links a waiter per op on its channel and parks until one completes. */
static int select_park(chan_select_t *s, uint64_t timeout_ms)
{
    for (size_t i = 0; i < s->n; i++) {
        eddy_chan_op_t *op = &s->ops[i];
        eddy__waiter_t *wt = &s->wts[i];

        wt->q = NULL; /* unlinking it is then a no-op */
        if (op->chan == NULL)
            continue;
        link_waiter(op->dir == EDDY_SEND ? &op->chan->senders : &op->chan->receivers, wt, op->item,
                    s);
    }
    eddy_wait_init(&s->w, select_interrupted);
    s->w.what = "a channel select";
    return eddy_wait_park(&s->w, timeout_ms);
}

int eddy_select(eddy_chan_op_t *ops, size_t n, uint64_t timeout_ms)
{
    eddy__waiter_t stack_wts[SELECT_STACK_OPS];
    chan_select_t s = {.ops = ops, .n = n, .wts = stack_wts};
    int rc;

    for (size_t i = 0; i < n; i++)
        if (ops[i].dir != EDDY_SEND && ops[i].dir != EDDY_RECV)
            return UV_EINVAL;
    if (n > INT32_MAX)
        return UV_EINVAL;
    rc = select_ready(ops, n);
    if (rc >= 0)
        return rc;
    if (timeout_ms == 0)
        return UV_ETIMEDOUT;
    if (!in_task())
        return EDDY_ENOTASK;
    if (n > SELECT_STACK_OPS) {
        s.wts = malloc(n * sizeof(*s.wts));
        if (s.wts == NULL)
            return UV_ENOMEM;
    }
    rc = select_park(&s, timeout_ms);
    if (s.wts != stack_wts)
        free(s.wts);
    return rc;
}
