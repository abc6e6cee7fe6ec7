/* Async generators over two rendezvous channels.  The consumer's
 * eddy_gen_next sends an empty request and receives an item; the body's
 * eddy_gen_yield sends the item and receives the next request.  So the
 * body runs only between a request and its item (lazy, as Python's async
 * generators), each item costs two task switches, and an item may point
 * into the body's memory until the consumer asks again.
 *
 * With EDDY_GEN_AHEAD there are no requests: the body runs from its spawn
 * and each yield waits only for the consumer to take the item, as a Go
 * goroutine feeding an unbuffered channel; the scheduler then moves two
 * items per pair of switches, as for any channel handoff.
 *
 * A lazy generator's steady state bypasses the scheduler: when the body
 * is parked in its yield (taking the next request) and the consumer asks,
 * eddy_gen_next hands the request over, parks on the items channel and
 * switches straight to the body's task; when the consumer is parked there
 * and the body yields, eddy_gen_yield hands the item over and switches
 * straight back (a symmetric coroutine handoff, as Python's generators:
 * one switch each way, no ready queue, no loop turn).  The waiters are the
 * channels' own, so every other path (a body that waits on I/O between
 * yields, an interruption, a close) meets the state the channel
 * operations would have left, and goes through the scheduler:
 *   - the body waiting elsewhere (a sleep, a read): the consumer stays
 *     parked on the items channel until the body yields, which then
 *     switches to it directly;
 *   - the consumer's cancellation or timeout is delivered when the body
 *     yields or waits (the pair runs uninterrupted meanwhile, as in
 *     asyncio, where an async generator that never awaits never lets the
 *     loop run): if it waits, the consumer's wait is interrupted as any
 *     channel receive, and the item stays for the next call;
 *   - the body's cancellation, while the consumer waits: the body's wait
 *     returns UV_ECANCELED, and its end closes the channels.
 *
 * The end of the body closes both channels: a consumer waiting for an
 * item, or asking for one, learns of it as EDDY_ECLOSED and reaps the
 * task.  eddy_gen_close closes them from the other side: the body, parked
 * in a yield, gets EDDY_ECLOSED from it. */
#include "runtime/internal.h"

#include <string.h>

static int gen_body(void *arg)
{
    eddy_gen_t *g = arg;
    /* Nothing runs before the first request (or the close that ends a
     * generator never asked), unless it runs ahead. */
    int rc = g->ahead ? 0 : eddy_chan_recv(&g->requests, NULL);

    if (rc == 0)
        rc = g->fn(g, g->arg);
    else if (rc == EDDY_ECLOSED)
        rc = 0;
    eddy_chan_close(&g->items);
    eddy_chan_close(&g->requests);
    return rc;
}

int(eddy_gen_start)(eddy_gen_t *g, size_t item_size, eddy_gen_fn fn, void *arg,
                    const eddy_spawn_opts_t *opts)
{
    int rc;

    g->task = NULL;
    g->fn = fn;
    g->arg = arg;
    g->status = 0;
    g->asked = false;
    g->closing = false;
    g->ahead = opts != NULL && (opts->flags & EDDY_GEN_AHEAD);
    /* Rendezvous channels allocate nothing. */
    rc = eddy_chan_init(&g->items, 0, item_size);
    if (rc == 0)
        rc = eddy_chan_init(&g->requests, 0, 0);
    if (rc == 0)
        rc = (eddy_spawn)(&g->task, gen_body, g, opts);
    if (rc != 0) {
        g->task = NULL;
        g->status = rc;
    }
    return rc;
}

/* The body has ended (or is ending: it closed the channels and returns
 * without waiting again): takes its status and gives the handle back. */
static int reap(eddy_gen_t *g)
{
    eddy_task_t *t = g->task;
    int status;

    eddy__wait_done_uninterruptibly(t);
    status = t->status;
    eddy_detach(t);
    g->task = NULL;
    eddy_chan_destroy(&g->items);
    eddy_chan_destroy(&g->requests);
    if (g->closing && (status == EDDY_ECLOSED || status == UV_ECANCELED))
        status = 0; /* what the close itself caused */
    g->status = status < 0 ? status : UV_EOF;
    return status;
}

/* Unlinks an interrupted waiter, as the channels' own hook. */
static void waiter_interrupted(eddy_wait_t *w)
{
    eddy__waitq_remove(eddy__container_of(w, eddy__waiter_t, w));
}

/* The first waiter of q if it can be handed over to directly: a plain
 * channel operation (not a select's) of a started task, and the running
 * task is one that may switch to it. */
static eddy__waiter_t *direct_peer(const eddy__waitq_t *q)
{
    eddy__waiter_t *wt = q->head;
    if (wt == NULL || wt->w.data != NULL || wt->w.task == NULL || eddy__rt == NULL ||
        eddy__rt->current == NULL)
        return NULL;
    return wt;
}

/* Parks the running task on q as a channel operation would (item: the
 * bytes to send, or where to receive) and switches straight to peer. */
static int park_switch(eddy__waitq_t *q, void *item, const char *what, eddy_task_t *peer)
{
    eddy__waiter_t wt;

    eddy_wait_init(&wt.w, waiter_interrupted);
    wt.w.what = what;
    wt.item = item;
    eddy__waitq_append(q, &wt);
    return eddy__park_to(&wt.w, EDDY_FOREVER, UV_ETIMEDOUT, peer);
}

/* eddy_gen_next's direct path: the body waits in requests (wt). */
static int next_direct(eddy_gen_t *g, eddy__waiter_t *wt, void *item)
{
    eddy_task_t *body;

    eddy__waitq_remove(wt);
    body = eddy__wait_take(&wt->w, 0);
    g->asked = true;
    return park_switch(&g->items.receivers, item, "a channel receive", body);
}

int eddy_gen_next(eddy_gen_t *g, void *item)
{
    eddy__waiter_t *wt;
    int rc;

    if (g->task == NULL)
        return g->status;
    if (!g->asked && !g->ahead && g->task->state == EDDY__READY && eddy__rt != NULL &&
        eddy__rt->current != NULL) {
        /* The body is about to take the next request: it has not started,
         * or gave its last item over a parked send (the scheduler's path).
         * Let it park there first, so that this request and the ones
         * after it are handed over directly. */
        rc = eddy_yield();
        if (rc != 0)
            return rc;
    }
    if (!g->asked && !g->ahead && !g->items.closed && g->items.senders.head == NULL &&
        (wt = direct_peer(&g->requests.receivers)) != NULL) {
        rc = next_direct(g, wt, item);
        goto received;
    }
    /* A request taken by the body stands until its item is received: a
     * consumer interrupted while waiting asks nothing new next time. */
    if (!g->asked && !g->ahead) {
        rc = eddy_chan_send(&g->requests, NULL);
        if (rc == EDDY_ECLOSED) {
            reap(g);
            return g->status;
        }
        if (rc != 0)
            return rc;
        g->asked = true;
    }
    rc = eddy_chan_recv(&g->items, item);
received:
    if (rc == EDDY_ECLOSED) {
        reap(g);
        return g->status;
    }
    if (rc == 0)
        g->asked = false;
    return rc;
}

/* eddy_gen_yield's direct path: the consumer waits in items (wt). */
static int yield_direct(eddy_gen_t *g, eddy__waiter_t *wt, const void *item)
{
    eddy_task_t *consumer;

    eddy__waitq_remove(wt);
    if (g->items.item_size > 0)
        memcpy(wt->item, item, g->items.item_size);
    consumer = eddy__wait_take(&wt->w, 0);
    return park_switch(&g->requests.receivers, NULL, "a channel receive", consumer);
}

int eddy_gen_yield(eddy_gen_t *g, const void *item)
{
    eddy__waiter_t *wt;

    if (!g->ahead && !g->requests.closed && g->requests.senders.head == NULL &&
        (wt = direct_peer(&g->items.receivers)) != NULL) {
        /* A pending cancellation or timeout is delivered before the item
         * is handed over, as when the yield parks (the consumer then
         * learns of the body's end, not of an item yielded after it). */
        int rc = eddy__take_interruption(eddy__rt->current);
        if (rc != 0)
            return rc;
        return yield_direct(g, wt, item);
    }
    int rc = eddy_chan_send(&g->items, item);
    if (rc != 0 || g->ahead)
        return rc;
    return eddy_chan_recv(&g->requests, NULL);
}

int eddy_gen_close(eddy_gen_t *g)
{
    eddy_task_t *t = g->task;
    bool elsewhere;

    if (t == NULL)
        return g->status == UV_EOF ? 0 : g->status;
    /* Unless asked for an item, the body is in a yield (or about to take
     * the next request, or not started) and learns of the close from the
     * requests channel; asked, it is cancelled unless it already offers
     * the item.  Its cleanup's waits are not cut short otherwise. */
    elsewhere = (g->asked || g->ahead) && g->items.senders.head == NULL;
    g->closing = true;
    eddy_chan_close(&g->requests);
    eddy_chan_close(&g->items);
    if (elsewhere)
        eddy_cancel(t);
    /* The body may use the caller's memory: wait for it whatever comes. */
    int status = reap(g);
    g->status = UV_EOF;
    return status < 0 ? status : 0;
}

void eddy_gen_cancel(eddy_gen_t *g)
{
    if (g->task != NULL)
        eddy_cancel(g->task);
}

/* ------------------------------------------------------------------ lines */

static int lines_body(eddy_gen_t *g, void *arg)
{
    eddy_reader_t *r = arg;
    eddy_line_t line;
    ssize_t n;

    while ((n = eddy_reader_readline(r, &line.data)) > 0) {
        line.len = (size_t)n;
        int rc = eddy_gen_yield(g, &line);
        if (rc != 0)
            return rc;
    }
    return (int)n; /* 0 at end of stream, or the read's error */
}

int(eddy_gen_lines)(eddy_gen_t *g, eddy_reader_t *r)
{
    eddy_spawn_opts_t opts = {.name = "lines"};
    return (eddy_gen_start)(g, sizeof(eddy_line_t), lines_body, r, &opts);
}
