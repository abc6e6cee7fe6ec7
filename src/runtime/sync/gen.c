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
 * The end of the body closes both channels: a consumer waiting for an
 * item, or asking for one, learns of it as EDDY_ECLOSED and reaps the
 * task.  eddy_gen_close closes them from the other side: the body, parked
 * in a yield, gets EDDY_ECLOSED from it. */
#include "runtime/internal.h"

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

int eddy_gen_next(eddy_gen_t *g, void *item)
{
    int rc;

    if (g->task == NULL)
        return g->status;
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
    if (rc == EDDY_ECLOSED) {
        reap(g);
        return g->status;
    }
    if (rc == 0)
        g->asked = false;
    return rc;
}

int eddy_gen_yield(eddy_gen_t *g, const void *item)
{
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
