/* The relay's worker side (see relay.h): the replicas of the channels
 * fed by the master, publishing and channel states through it, and the
 * metrics gathered from every worker. */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/relay-records.h"
#include "daemon/relay.h"
#include "routes/metrics.h"

/* How long a worker waits for the master's answer to a publish, a
 * channel's state or a scrape. */
#define ANSWER_MS 10000
/* How long a new worker waits for the history. */
#define SYNC_MS 30000

typedef struct pending {
    struct pending *next;
    uint32_t req;
    bool done;
    int rc;
    uint8_t flags;
    uint64_t a, b, c;
    uint8_t *data; /* R_GATHERED's, malloc'd */
    size_t data_len;
    eddy_event_t event;
} pending_t;

static struct {
    eddy_stream_t *stream;
    ws_outq_t out;
    eddy_task_t *task;
    reader_t rd;
    uint32_t id; /* ours, from R_HELLO */
    uint32_t next_req;
    pending_t *pending;
    int error; /* the relay broke: every request fails with it */
} wk;

static void complete(uint32_t req, int rc, const parsed_t *r)
{
    for (pending_t **pp = &wk.pending; *pp != NULL; pp = &(*pp)->next) {
        pending_t *p = *pp;
        if (p->req != req)
            continue;
        *pp = p->next;
        p->done = true;
        p->rc = rc;
        if (r != NULL) {
            p->flags = r->h.flags;
            p->a = r->h.a;
            p->b = r->h.b;
            p->c = r->h.c;
            if (r->data_len > 0 && (p->data = malloc(r->data_len)) != NULL) {
                memcpy(p->data, r->data, r->data_len);
                p->data_len = r->data_len;
            }
        }
        eddy_event_set(&p->event);
        return;
    }
}

/* Sends a request and waits for its answer: 0 with p filled, or an
 * error (the relay's, a timeout, a cancellation).  shield: the request
 * has an effect once sent (a publish), so its outcome is waited for
 * whatever happens to the caller meanwhile (still within ANSWER_MS): an
 * answer of 500 for a message that went out would make a client publish
 * it twice. */
static int request(pending_t *p, rec_t *h, const char *hub, size_t hl, const char *name, size_t nl,
                   const void *data, size_t n, bool shield)
{
    memset(p, 0, sizeof(*p));
    if (wk.error != 0)
        return wk.error;
    p->req = h->req = relay_next_id(&wk.next_req);
    eddy_event_init(&p->event);
    int rc = relay_post(&wk.out, relay_record(h, hub, hl, name, nl, data, n));
    if (rc < 0)
        return rc;
    p->next = wk.pending;
    wk.pending = p;
    eddy_timeout_t scope;
    if (shield)
        eddy_shield_enter();
    eddy_timeout_enter(&scope, ANSWER_MS);
    rc = eddy_event_wait(&p->event);
    eddy_timeout_leave(&scope);
    if (shield)
        eddy_shield_leave();
    if (!p->done) {
        for (pending_t **pp = &wk.pending; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
        return rc < 0 ? rc : UV_ETIMEDOUT;
    }
    return p->rc;
}

static int w_publish(ps_hub_t *h, const char *name, size_t len, bool binary, const void *data,
                     size_t n, bool wait, uint64_t *id, size_t *subscribers)
{
    const char *hub = ps_hub_name(h);
    rec_t r = {.type = R_PUBLISH, .flags = binary ? F_BINARY : 0};
    if (!wait) {
        return wk.error != 0
                   ? wk.error
                   : relay_post(&wk.out, relay_record(&r, hub, strlen(hub), name, len, data, n));
    }
    pending_t p;
    int rc = request(&p, &r, hub, strlen(hub), name, len, data, n, true);
    if (rc == 0) {
        *id = p.a;
        *subscribers = (size_t)p.b;
    }
    free(p.data);
    return rc;
}

static int w_info(ps_hub_t *h, const char *name, size_t len, uint64_t *last_id, size_t *subscribers,
                  size_t *history)
{
    const char *hub = ps_hub_name(h);
    pending_t p;
    int rc = request(&p, &(rec_t){.type = R_INFO_REQ}, hub, strlen(hub), name, len, NULL, 0, false);
    free(p.data);
    if (rc != 0)
        return rc;
    if (!(p.flags & F_EXISTS))
        return UV_ENOENT;
    *last_id = p.a;
    *subscribers = (size_t)p.b;
    *history = (size_t)p.c;
    return 0;
}

static void w_subscribers(ps_hub_t *h, const char *name, size_t len, int delta)
{
    const char *hub = ps_hub_name(h);
    if (wk.error == 0)
        relay_post(&wk.out, relay_record(&(rec_t){.type = R_SUBS, .a = (uint64_t)(int64_t)delta},
                                         hub, strlen(hub), name, len, NULL, 0));
}

static const ps_relay_t worker_relay = {
    .publish = w_publish,
    .info = w_info,
    .subscribers = w_subscribers,
};

static int w_gather(metrics_text_t *m)
{
    pending_t p;
    int rc = request(&p, &(rec_t){.type = R_GATHER_REQ}, "", 0, "", 0, NULL, 0, false);
    const char **texts = rc == 0 ? malloc(sizeof(*texts) * (p.data_len / 4 + 1)) : NULL;
    size_t *lens = texts != NULL ? malloc(sizeof(*lens) * (p.data_len / 4 + 1)) : NULL;
    if (rc == 0 && lens == NULL)
        rc = UV_ENOMEM;
    if (rc == 0) {
        size_t n = 0, off = 0;
        while (off + 4 <= p.data_len) {
            uint32_t len;
            memcpy(&len, p.data + off, 4);
            if (len > p.data_len - off - 4)
                break;
            texts[n] = (const char *)p.data + off + 4;
            lens[n++] = len;
            off += 4 + len;
        }
        /* None at all (every worker silent, this one too): no scrape
         * rather than an empty one, which would end every series. */
        if (n == 0)
            rc = UV_EAGAIN;
        else
            metrics_merge(texts, lens, n, m);
    }
    free(texts);
    free(lens);
    free(p.data);
    return rc;
}

/* A record from the master. */
static void w_record(const parsed_t *r)
{
    switch (r->h.type) {
    case R_MSG:
    case R_HISTORY: {
        ps_hub_t *h = relay_hub_of(r);
        if (h != NULL)
            ps_apply(h, r->name, r->h.name_len, r->h.a, r->h.c, r->h.flags & F_BINARY, r->data,
                     r->data_len, r->h.type == R_HISTORY);
        if (r->h.type == R_MSG && r->h.origin == wk.id && r->h.req != 0)
            complete(r->h.req, 0, r);
        break;
    }
    case R_LAST: {
        ps_hub_t *h = relay_hub_of(r);
        if (h != NULL)
            ps_note_last(h, r->name, r->h.name_len, r->h.a);
        break;
    }
    case R_NACK:
        complete(r->h.req, (int)(int64_t)r->h.a, NULL);
        break;
    case R_INFO:
    case R_GATHERED:
        complete(r->h.req, 0, r);
        break;
    case R_GATHER: {
        char labels[64];
        size_t n = r->data_len < sizeof(labels) ? r->data_len : sizeof(labels) - 1;
        memcpy(labels, r->data, n);
        labels[n] = '\0';
        metrics_text_t m = {.labels = labels};
        metrics_render(&m);
        /* Failed (no memory): an empty part, so the master need not wait. */
        relay_post(&wk.out, relay_record(&(rec_t){.type = R_GATHER_PART, .req = r->h.req}, "", 0,
                                         "", 0, m.buf, m.failed ? 0 : m.len));
        free(m.buf);
        break;
    }
    default:
        break;
    }
}

static int worker_task(void *arg)
{
    parsed_t r;
    int rc;
    (void)arg;

    for (unsigned n = 1; (rc = relay_next(&wk.rd, &r)) == 0; n++) {
        /* A burst of records, each fanned out to every subscriber here,
         * must not hold the loop: the others get a turn now and then. */
        if (n % RECORDS_PER_TURN == 0 && (rc = eddy_yield()) != 0)
            break;
        w_record(&r);
    }
    wk.error = rc == UV_EOF ? UV_ECONNRESET : rc;
    if (rc != UV_ECANCELED && rc != EDDY_ECLOSED) {
        /* Without the master pub/sub and metrics cannot work: this worker
         * drains and exits, and the master (if alive) starts another. */
        log_msg(LOG_ERROR, "relay to the master: %s; this worker stops",
                rc == UV_EOF ? "closed" : eddy_strerror(rc));
        kill(getpid(), SIGTERM);
    }
    while (wk.pending != NULL)
        complete(wk.pending->req, wk.error, NULL);
    return 0;
}

int relay_worker_start(int fd)
{
    parsed_t r;
    int rc;

    memset(&wk, 0, sizeof(wk));
    if ((rc = eddy_stream_open_fd(&wk.stream, fd)) != 0) {
        close(fd);
        log_msg(LOG_ERROR, "relay to the master (fd %d): %s", fd, eddy_strerror(rc));
        return rc;
    }
    ws_outq_init(&wk.out, wk.stream);
    if ((rc = relay_reader_init(&wk.rd, wk.stream)) != 0)
        goto failed;
    /* The history, before this worker serves anybody. */
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, SYNC_MS);
    while ((rc = relay_next(&wk.rd, &r)) == 0 && r.h.type != R_SYNCED) {
        if (r.h.type == R_HELLO)
            wk.id = (uint32_t)r.h.a;
        else
            w_record(&r);
    }
    eddy_timeout_leave(&scope);
    if (rc != 0)
        goto failed;
    if ((rc = eddy_spawn(&wk.task, worker_task, NULL, &(eddy_spawn_opts_t){.name = "relay"})) != 0)
        goto failed;
    ps_relay_set(&worker_relay);
    metrics_gather_hook = w_gather;
    return 0;

failed:
    log_msg(LOG_ERROR, "relay to the master: %s", eddy_strerror(rc));
    relay_worker_stop();
    return rc;
}

void relay_worker_stop(void)
{
    ps_relay_set(NULL);
    metrics_gather_hook = NULL;
    if (wk.task != NULL) {
        eddy_cancel(wk.task);
        eddy_join(wk.task, NULL);
        eddy_detach(wk.task);
        wk.task = NULL;
    }
    if (wk.stream != NULL) {
        ws_outq_close(&wk.out);
        eddy_close(wk.stream);
        wk.stream = NULL;
    }
    free(wk.rd.buf);
    wk.rd.buf = NULL;
}
