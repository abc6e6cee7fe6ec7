/* A connection's outbound queue of shared frames (see session.h): write
 * at once what the socket takes, queue the rest for a writer task that is
 * spawned when needed and ends when the queue is empty. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "websocket/session.h"

ws_blob_t *ws_blob_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    ws_blob_t *b = malloc(sizeof(*b) + len);
    if (b != NULL) {
        b->refs = 1;
        b->len = (uint32_t)len;
        b->droppable = 0;
    }
    return b;
}

void ws_blob_unref(ws_blob_t *b)
{
    if (b != NULL && --b->refs == 0)
        free(b);
}

ws_blob_t *ws_blob_frame(int opcode, uint8_t rsv, const void *payload, size_t len)
{
    uint8_t h[10];
    size_t hl = ws_frame_header_write(h, true, rsv, opcode, len);
    ws_blob_t *b = ws_blob_new(hl + len);
    if (b != NULL) {
        memcpy(b->data, h, hl);
        if (len)
            memcpy(b->data + hl, payload, len);
    }
    return b;
}

void ws_outq_init(ws_outq_t *q, eddy_stream_t *s)
{
    memset(q, 0, sizeof(*q));
    q->stream = s;
}

static ws_blob_t *item(const ws_outq_t *q, uint32_t i)
{
    return q->items[(q->head + i) % q->cap];
}

static int push(ws_outq_t *q, ws_blob_t *b)
{
    if (q->len == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 4;
        ws_blob_t **items = malloc(cap * sizeof(*items));
        if (items == NULL)
            return UV_ENOMEM;
        for (uint32_t i = 0; i < q->len; i++)
            items[i] = item(q, i);
        free(q->items);
        q->items = items;
        q->cap = cap;
        q->head = 0;
    }
    q->items[(q->head + q->len) % q->cap] = b;
    q->len++;
    q->bytes += b->len;
    return 0;
}

static void pop(ws_outq_t *q)
{
    q->bytes -= q->items[q->head]->len;
    ws_blob_unref(q->items[q->head]);
    q->head = (q->head + 1) % q->cap;
    q->len--;
    q->off = 0;
    if (q->len == 0 && q->cap > 64) {
        /* A burst's ring is not kept by an idle connection. */
        free(q->items);
        q->items = NULL;
        q->cap = q->head = 0;
    }
}

static void fail(ws_outq_t *q, int err)
{
    if (q->error == 0) {
        q->error = err;
        if (q->on_error)
            q->on_error(q->arg, err);
    }
}

#define BATCH 64

/* The iovec of up to BATCH items from the head (its unwritten part). */
static size_t gather(const ws_outq_t *q, uv_buf_t *iov)
{
    size_t n = q->len < BATCH ? q->len : BATCH;
    for (size_t i = 0; i < n; i++) {
        ws_blob_t *b = item(q, (uint32_t)i);
        size_t skip = i == 0 ? q->off : 0;
        iov[i] = uv_buf_init((char *)b->data + skip, (unsigned)(b->len - skip));
    }
    return n;
}

/* k bytes of the gathered items left: pops what went out whole. */
static void consumed(ws_outq_t *q, size_t k)
{
    while (k > 0 && q->len > 0) {
        size_t left = q->items[q->head]->len - q->off;
        if (k < left) {
            q->off += (uint32_t)k;
            return;
        }
        k -= left;
        pop(q);
    }
}

/* The writer: writes the queue's items in order, a batch per write,
 * waiting for room (each wait bounded by the stream's send timeout), and
 * ends once the queue is empty. */
static int writer_main(void *arg)
{
    ws_outq_t *q = arg;
    uv_buf_t iov[BATCH];
    ws_blob_t *held[BATCH];
    while (q->len > 0 && q->error == 0) {
        size_t n = gather(q, iov), sent = 0;
        /* The items may be dropped meanwhile (drop_oldest): hold them. */
        for (size_t i = 0; i < n; i++)
            held[i] = ws_blob_ref(item(q, (uint32_t)i));
        q->inflight = (uint32_t)n;
        int rc = eddy_write_sent(q->stream, iov, n, &sent);
        q->inflight = 0;
        for (size_t i = 0; i < n; i++)
            ws_blob_unref(held[i]);
        if (rc < 0) {
            /* Interrupted, eddy_write still sends the rest in the
             * background: the stream stays whole, but this queue is done. */
            fail(q, rc);
            break;
        }
        consumed(q, sent);
    }
    q->writing = false;
    if (q->ended != NULL)
        eddy_event_set(q->ended);
    return 0;
}

/* The queue holds something: make sure a writer drains it. */
static int start_writer(ws_outq_t *q)
{
    eddy_task_t *t;
    if (q->writing)
        return 0;
    /* The last writer has returned: its handle goes. */
    if (q->writer != NULL) {
        eddy_detach(q->writer);
        q->writer = NULL;
    }
    int rc = eddy_spawn(&t, writer_main, q, NULL);
    if (rc < 0) {
        fail(q, rc);
        return rc;
    }
    q->writer = t;
    q->writing = true;
    return 0;
}

static int send_some(ws_outq_t *q, const uv_buf_t *bufs, size_t n, ws_blob_t *b);

/* Queues b (taking a reference, or the caller's if own) after off of its
 * bytes went out, and makes sure a writer drains the queue. */
static int queue_blob(ws_outq_t *q, ws_blob_t *b, uint32_t off, bool own)
{
    int rc = push(q, own ? b : ws_blob_ref(b));
    if (rc < 0) {
        ws_blob_unref(b);
        fail(q, rc);
        return rc;
    }
    if (q->len == 1)
        q->off = off;
    return start_writer(q);
}

int ws_outq_send(ws_outq_t *q, ws_blob_t *b)
{
    uv_buf_t buf = uv_buf_init((char *)b->data, b->len);
    return send_some(q, &buf, 1, b);
}

int ws_outq_send_bufs(ws_outq_t *q, const uv_buf_t *bufs, size_t n)
{
    return send_some(q, bufs, n, NULL);
}

/* Writes what the socket takes now if nothing is queued; the rest waits:
 * as b itself (bufs is b's bytes) or as a copy of what is left. */
static int send_some(ws_outq_t *q, const uv_buf_t *bufs, size_t n, ws_blob_t *b)
{
    size_t total = 0, done = 0;
    if (q->error)
        return q->error;
    for (size_t i = 0; i < n; i++)
        total += bufs[i].len;
    if (q->len == 0) {
        ssize_t w = eddy_try_write(q->stream, bufs, n);
        if (w < 0) {
            fail(q, (int)w);
            return (int)w;
        }
        if ((size_t)w == total)
            return 0;
        done = (size_t)w;
    }
    if (b != NULL)
        return queue_blob(q, b, (uint32_t)done, false);
    /* The rest waits: copy it into a blob of its own. */
    ws_blob_t *rest = ws_blob_new(total - done);
    if (rest == NULL) {
        fail(q, UV_ENOMEM);
        return UV_ENOMEM;
    }
    size_t skip = done, o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = bufs[i].len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(rest->data + o, bufs[i].base + skip, l - skip);
        o += l - skip;
        skip = 0;
    }
    return queue_blob(q, rest, 0, true);
}

/* Posted queues wait here for the flusher, a task that runs after the
 * tasks ready now: a burst of fan-outs to one subscriber leaves in one
 * write, as uWS corks its sends per event-loop iteration. */
static ws_outq_t *dirty;
static bool flusher_running;

static void undirty(ws_outq_t *q)
{
    if (!q->dirty)
        return;
    if (q->dprev)
        q->dprev->dnext = q->dnext;
    else
        dirty = q->dnext;
    if (q->dnext)
        q->dnext->dprev = q->dprev;
    q->dprev = q->dnext = NULL;
    q->dirty = false;
}

/* Writes what the socket takes of q now; the rest goes to a writer. */
static void write_now(ws_outq_t *q)
{
    uv_buf_t iov[BATCH];
    while (q->len > 0 && q->error == 0 && !q->writing) {
        size_t n = gather(q, iov);
        ssize_t w = eddy_try_write(q->stream, iov, n);
        if (w < 0) {
            fail(q, (int)w);
            return;
        }
        consumed(q, (size_t)w);
        if (w == 0 || q->len > 0) {
            if (q->len > 0)
                start_writer(q);
            return;
        }
    }
}

static int flusher_main(void *arg)
{
    (void)arg;
    while (dirty != NULL) {
        ws_outq_t *q = dirty;
        undirty(q);
        write_now(q);
    }
    flusher_running = false;
    return 0;
}

int ws_outq_post(ws_outq_t *q, ws_blob_t *b)
{
    if (q->error)
        return q->error;
    int rc = push(q, ws_blob_ref(b));
    if (rc < 0) {
        ws_blob_unref(b);
        fail(q, rc);
        return rc;
    }
    if (q->writing || q->dirty)
        return 0;
    q->dirty = true;
    q->dprev = NULL;
    q->dnext = dirty;
    if (dirty)
        dirty->dprev = q;
    dirty = q;
    if (!flusher_running) {
        eddy_task_t *t;
        if (eddy_spawn(&t, flusher_main, NULL, NULL) < 0) {
            undirty(q);
            write_now(q);
            return q->error;
        }
        eddy_detach(t);
        flusher_running = true;
    }
    return 0;
}

bool ws_outq_drop_oldest(ws_outq_t *q)
{
    /* The head may be partly written already: then the next one goes. */
    /* A writer's batch is in flight whole: drop after it. */
    uint32_t i = q->inflight ? q->inflight : q->off > 0 ? 1 : 0;
    while (i < q->len && !item(q, i)->droppable)
        i++;
    if (i >= q->len)
        return false;
    uint32_t at = (q->head + i) % q->cap;
    q->bytes -= q->items[at]->len;
    ws_blob_unref(q->items[at]);
    for (uint32_t k = i; k + 1 < q->len; k++)
        q->items[(q->head + k) % q->cap] = q->items[(q->head + k + 1) % q->cap];
    q->len--;
    q->dropped++;
    return true;
}

int ws_outq_flush(ws_outq_t *q)
{
    while (q->len > 0 && q->error == 0) {
        if (!q->writing && start_writer(q) < 0)
            break;
        eddy_event_t ended;
        eddy_event_init(&ended);
        q->ended = &ended;
        int rc = eddy_event_wait(&ended);
        q->ended = NULL;
        if (rc < 0)
            return rc;
    }
    return q->error;
}

void ws_outq_close(ws_outq_t *q)
{
    undirty(q);
    if (q->writer != NULL) {
        /* Joined, not waited on with an event: a writer cancelled before
         * its first turn never runs its body. */
        if (q->writing)
            eddy_cancel(q->writer);
        eddy_shield_enter();
        eddy_join(q->writer, NULL);
        eddy_shield_leave();
        eddy_detach(q->writer);
        q->writer = NULL;
        q->writing = false;
    }
    while (q->len > 0) {
        ws_blob_unref(q->items[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->len--;
    }
    q->bytes = 0;
    free(q->items);
    q->items = NULL;
    q->cap = q->head = 0;
}
