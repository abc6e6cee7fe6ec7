/* The relay's master side (see relay.h): it numbers what workers publish
 * and sends it to all, tells a new worker the history, keeps their
 * subscriber counts and gathers their metrics. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/relay-records.h"
#include "daemon/relay.h"

/* Records, and bytes, queued to one worker beyond the history it was sent
 * at its start, before it is deemed stuck and killed.  The environment's
 * EDDY_RELAY_QUEUE_MAX and EDDY_RELAY_QUEUE_BYTES override them (tests). */
#define RELAY_QUEUE_MAX 200000
#define RELAY_QUEUE_BYTES (64u << 20)
/* How long the master waits for the workers' metrics texts. */
#define GATHER_MS 3000

/* Subscriber counts a worker reported, by hub and channel: what its
 * death takes away from the master's channels. */
typedef struct count {
    struct count *next;
    long n;
    uint16_t hub_len, name_len;
    char key[]; /* hub then name */
} count_t;

#define COUNT_BUCKETS 256

typedef struct peer {
    struct peer *next;
    uint32_t id;
    pid_t pid;
    unsigned slot, gen;
    eddy_stream_t *stream;
    ws_outq_t out;
    eddy_task_t *task;
    bool killed;
    size_t sync_records; /* the history it was sent at its start */
    uint64_t sync_bytes;
    count_t *counts[COUNT_BUCKETS];
} peer_t;

/* A scrape being gathered for a worker. */
typedef struct gather {
    struct gather *next;
    uint32_t id, req;
    peer_t *asker;
    size_t want, got, nalloc;
    uint32_t *from; /* the peers asked (0 once answered or gone) */
    char **texts;
    size_t *lens;
    eddy_event_t done;
} gather_t;

static struct {
    peer_t *peers;
    size_t queue_max;   /* RELAY_QUEUE_MAX */
    uint64_t bytes_max; /* RELAY_QUEUE_BYTES */
    uint32_t next_id;
    unsigned gen;
    gather_t *gathers;
    uint32_t next_gather;
} ms;

int relay_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return uv_translate_sys_error(errno);
    return 0;
}

void relay_master_generation(unsigned gen)
{
    ms.gen = gen;
}

static uint64_t key_hash(const char *hub, size_t hl, const char *name, size_t nl)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < hl; i++)
        h = (h ^ (uint8_t)hub[i]) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (size_t i = 0; i < nl; i++)
        h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
    return h;
}

/* Adds delta to the peer's count for hub/name: the count before. */
static long count_add(peer_t *p, const char *hub, size_t hl, const char *name, size_t nl,
                      long delta)
{
    count_t **pp = &p->counts[key_hash(hub, hl, name, nl) % COUNT_BUCKETS];
    for (; *pp != NULL; pp = &(*pp)->next) {
        count_t *c = *pp;
        if (c->hub_len == hl && c->name_len == nl && memcmp(c->key, hub, hl) == 0 &&
            memcmp(c->key + hl, name, nl) == 0)
            break;
    }
    count_t *c = *pp;
    if (c == NULL) {
        if (delta <= 0 || (c = malloc(sizeof(*c) + hl + nl)) == NULL)
            return 0;
        c->next = NULL;
        c->n = 0;
        c->hub_len = (uint16_t)hl;
        c->name_len = (uint16_t)nl;
        memcpy(c->key, hub, hl);
        memcpy(c->key + hl, name, nl);
        *pp = c;
    }
    long before = c->n;
    c->n += delta;
    if (c->n <= 0) {
        *pp = c->next;
        free(c);
    }
    return before;
}

/* A gone worker's subscribers leave the master's channels. */
static void counts_drop(peer_t *p)
{
    for (size_t i = 0; i < COUNT_BUCKETS; i++) {
        while (p->counts[i] != NULL) {
            count_t *c = p->counts[i];
            ps_hub_t *h = relay_find_hub(c->key, c->hub_len);
            p->counts[i] = c->next;
            if (h != NULL)
                ps_remote(h, c->key + c->hub_len, c->name_len, -c->n);
            free(c);
        }
    }
}

/* Queues a record to a worker; one that stopped reading is killed (the
 * reaper restarts it, and the new one gets the history). */
static void send_to(peer_t *p, ws_blob_t *b)
{
    if (p->killed)
        return;
    if (ws_outq_count(&p->out) >= ms.queue_max + p->sync_records ||
        p->out.bytes + b->len > ms.bytes_max + p->sync_bytes) {
        log_msg(LOG_ERROR,
                "worker %u (pid %d) does not read its relay (%zu records, %llu bytes queued): "
                "killing it",
                p->slot, (int)p->pid, ws_outq_count(&p->out), (unsigned long long)p->out.bytes);
        kill(p->pid, SIGKILL);
        p->killed = true;
        return;
    }
    ws_outq_post(&p->out, b);
}

static void reply(peer_t *p, const rec_t *h, const void *data, size_t n)
{
    ws_blob_t *b = relay_record(h, "", 0, "", 0, data, n);
    if (b != NULL) {
        send_to(p, b);
        ws_blob_unref(b);
    }
}

static void on_publish(peer_t *p, const parsed_t *r)
{
    ps_hub_t *h = relay_hub_of(r);
    uint64_t id;
    size_t subs;
    int rc = h == NULL ? UV_ENOENT
                       : ps_publish(h, ps_hub_limits(h), r->name, r->h.name_len,
                                    r->h.flags & F_BINARY, r->data, r->data_len, &id, &subs);
    if (rc < 0) {
        if (r->h.req != 0)
            reply(p, &(rec_t){.type = R_NACK, .req = r->h.req, .a = (uint64_t)(int64_t)rc}, NULL,
                  0);
        return;
    }
    /* One record for every worker: the origin finds its request in it. */
    rec_t m = {.type = R_MSG,
               .flags = r->h.flags & F_BINARY,
               .req = r->h.req,
               .origin = p->id,
               .a = id,
               .b = subs,
               .c = eddy_now()};
    ws_blob_t *b =
        relay_record(&m, r->hub, r->h.hub_len, r->name, r->h.name_len, r->data, r->data_len);
    if (b == NULL)
        return;
    for (peer_t *q = ms.peers; q != NULL; q = q->next)
        send_to(q, b);
    ws_blob_unref(b);
}

static void on_subs(peer_t *p, const parsed_t *r)
{
    ps_hub_t *h = relay_hub_of(r);
    long delta = (long)(int64_t)r->h.a;
    long before = count_add(p, r->hub, r->h.hub_len, r->name, r->h.name_len, delta);
    /* Never below what this worker had: a count it never reported. */
    if (before + delta < 0)
        delta = -before;
    if (h != NULL && delta != 0)
        ps_remote(h, r->name, r->h.name_len, delta);
}

static void on_info(peer_t *p, const parsed_t *r)
{
    ps_hub_t *h = relay_hub_of(r);
    uint64_t last = 0;
    size_t subs = 0, hist = 0;
    bool exists = h != NULL &&
                  ps_channel_info(h, ps_hub_limits(h), r->name, r->h.name_len, &last, &subs, &hist);
    reply(p,
          &(rec_t){.type = R_INFO,
                   .req = r->h.req,
                   .flags = exists ? F_EXISTS : 0,
                   .a = last,
                   .b = subs,
                   .c = hist},
          NULL, 0);
}

/* ------------------------------------------------------------ gathering */

static void gather_part(gather_t *g, uint32_t from, const void *text, size_t n)
{
    for (size_t i = 0; i < g->want; i++) {
        if (g->from[i] != from || from == 0)
            continue;
        g->from[i] = 0;
        if (n > 0 && (g->texts[i] = malloc(n)) != NULL) {
            memcpy(g->texts[i], text, n);
            g->lens[i] = n;
        }
        if (++g->got == g->want)
            eddy_event_set(&g->done);
        return;
    }
}

static gather_t *gather_find(uint32_t id)
{
    for (gather_t *g = ms.gathers; g != NULL; g = g->next) {
        if (g->id == id)
            return g;
    }
    return NULL;
}

/* Asks every live worker for its text, waits for them (at most
 * GATHER_MS: a stuck worker's numbers are left out) and sends the texts to
 * the worker that asked.  A task: the master's loop goes on meanwhile. */
static int gather_task(void *arg)
{
    gather_t *g = arg;
    size_t total = 0;

    /* In the order of their labels: generation, then slot. */
    peer_t **order = malloc(sizeof(*order) * (g->nalloc + 1));
    size_t k = 0;
    for (peer_t *q = ms.peers; order != NULL && q != NULL && k < g->nalloc; q = q->next) {
        if (q->killed)
            continue;
        size_t i = k++;
        while (i > 0 && (order[i - 1]->gen > q->gen ||
                         (order[i - 1]->gen == q->gen && order[i - 1]->slot > q->slot))) {
            order[i] = order[i - 1];
            i--;
        }
        order[i] = q;
    }
    for (size_t i = 0; i < k; i++) {
        peer_t *q = order[i];
        char label[64];
        if (q->gen == ms.gen)
            snprintf(label, sizeof(label), "worker=\"%u\"", q->slot);
        else
            snprintf(label, sizeof(label), "worker=\"g%u-%u\"", q->gen, q->slot);
        g->from[g->want++] = q->id;
        reply(q, &(rec_t){.type = R_GATHER, .req = g->id}, label, strlen(label));
    }
    free(order);
    if (g->want > 0) {
        eddy_timeout_t scope;
        eddy_timeout_enter(&scope, GATHER_MS);
        eddy_event_wait(&g->done);
        eddy_timeout_leave(&scope);
    }
    for (size_t i = 0; i < g->want; i++)
        total += g->texts[i] ? 4 + g->lens[i] : 0;
    ws_blob_t *b = ws_blob_new(sizeof(rec_t) + total);
    if (b != NULL) {
        rec_t h = {.type = R_GATHERED, .req = g->req, .len = (uint32_t)total};
        uint8_t *o = b->data + sizeof(rec_t);
        memcpy(b->data, &h, sizeof(h));
        for (size_t i = 0; i < g->want; i++) {
            if (g->texts[i] == NULL)
                continue;
            uint32_t n = (uint32_t)g->lens[i];
            memcpy(o, &n, 4);
            memcpy(o + 4, g->texts[i], n);
            o += 4 + n;
        }
        if (g->asker != NULL)
            send_to(g->asker, b);
        ws_blob_unref(b);
    }
    for (gather_t **pp = &ms.gathers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    for (size_t i = 0; i < g->want; i++)
        free(g->texts[i]);
    free(g->texts);
    free(g->lens);
    free(g->from);
    free(g);
    return 0;
}

static void on_gather_req(peer_t *p, const parsed_t *r)
{
    size_t n = 0;
    for (peer_t *q = ms.peers; q != NULL; q = q->next)
        n++;
    gather_t *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->from = calloc(n + 1, sizeof(*g->from))) == NULL ||
        (g->texts = calloc(n + 1, sizeof(*g->texts))) == NULL ||
        (g->lens = calloc(n + 1, sizeof(*g->lens))) == NULL)
        goto failed;
    g->id = relay_next_id(&ms.next_gather);
    g->req = r->h.req;
    g->nalloc = n;
    g->asker = p;
    eddy_event_init(&g->done);
    g->next = ms.gathers;
    ms.gathers = g;
    if (eddy_spawn(NULL, gather_task, g, &(eddy_spawn_opts_t){.name = "relay-gather"}) == 0)
        return;
    ms.gathers = g->next;
failed:
    if (g != NULL) {
        free(g->from);
        free(g->texts);
        free(g->lens);
    }
    free(g);
    reply(p, &(rec_t){.type = R_NACK, .req = r->h.req, .a = (uint64_t)(int64_t)UV_ENOMEM}, NULL, 0);
}

/* ------------------------------------------------------------ a worker's relay */

/* A history message for a new worker: its record is made once and kept
 * with the message, so that N workers starting share one copy. */
static void history_one(void *arg, ps_hub_t *h, const char *name, size_t len, ps_msg_t *m)
{
    peer_t *p = arg;
    ws_blob_t *b = m->forms[PS_FORM_RELAY];
    if (b == NULL) {
        const char *hub = ps_hub_name(h);
        rec_t r = {
            .type = R_HISTORY, .flags = m->binary ? F_BINARY : 0, .a = m->id, .c = m->time_ms};
        b = m->forms[PS_FORM_RELAY] =
            relay_record(&r, hub, strlen(hub), name, len, m->data, m->len);
        if (b == NULL)
            return;
    }
    if (ws_outq_post(&p->out, b) == 0) {
        p->sync_records++;
        p->sync_bytes += b->len;
    }
}

/* A channel's last id for a new worker (freed ones too): its replica
 * measures a ?since subscriber's gap against it. */
static void last_one(void *arg, ps_hub_t *h, const char *name, size_t len, uint64_t id)
{
    peer_t *p = arg;
    const char *hub = ps_hub_name(h);
    ws_blob_t *b =
        relay_record(&(rec_t){.type = R_LAST, .a = id}, hub, strlen(hub), name, len, NULL, 0);
    if (b != NULL && ws_outq_post(&p->out, b) == 0) {
        p->sync_records++;
        p->sync_bytes += b->len;
    }
    ws_blob_unref(b);
}

static void peer_free(peer_t *p)
{
    for (peer_t **pp = &ms.peers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    /* Scrapes waiting on it go on without it; one it asked for is
     * answered to nobody. */
    for (gather_t *g = ms.gathers; g != NULL; g = g->next) {
        gather_part(g, p->id, NULL, 0);
        if (g->asker == p)
            g->asker = NULL;
    }
    counts_drop(p);
    ws_outq_close(&p->out);
    eddy_close(p->stream);
    free(p);
}

static int peer_task(void *arg)
{
    peer_t *p = arg;
    reader_t rd;
    parsed_t r;
    int rc;

    if (relay_reader_init(&rd, p->stream) != 0)
        goto out;
    for (unsigned n = 1; (rc = relay_next(&rd, &r)) == 0; n++) {
        if (n % RECORDS_PER_TURN == 0 && (rc = eddy_yield()) != 0)
            break;
        switch (r.h.type) {
        case R_PUBLISH:
            on_publish(p, &r);
            break;
        case R_SUBS:
            on_subs(p, &r);
            break;
        case R_INFO_REQ:
            on_info(p, &r);
            break;
        case R_GATHER_REQ:
            on_gather_req(p, &r);
            break;
        case R_GATHER_PART: {
            gather_t *g = gather_find(r.h.req);
            if (g != NULL)
                gather_part(g, p->id, r.data, r.data_len);
            break;
        }
        default:
            break;
        }
    }
    if (rc != UV_EOF && rc != UV_ECANCELED && rc != EDDY_ECLOSED)
        log_msg(LOG_WARN, "relay of worker %u (pid %d): %s", p->slot, (int)p->pid,
                eddy_strerror(rc));
out:
    free(rd.buf);
    /* The task's handle is dropped with it: nobody joins a peer's task
     * but relay_master_stop, which took it out of the list first. */
    if (p->task != NULL) {
        eddy_detach(p->task);
        p->task = NULL;
    }
    peer_free(p);
    return 0;
}

int relay_master_add(int fd, pid_t pid, unsigned slot, unsigned gen)
{
    peer_t *p = calloc(1, sizeof(*p));
    int rc;

    if (p == NULL) {
        close(fd);
        return UV_ENOMEM;
    }
    if ((rc = eddy_stream_open_fd(&p->stream, fd)) != 0) {
        close(fd);
        free(p);
        return rc;
    }
    if (ms.queue_max == 0) {
        const char *e = getenv("EDDY_RELAY_QUEUE_MAX");
        ms.queue_max = e != NULL && atol(e) > 0 ? (size_t)atol(e) : RELAY_QUEUE_MAX;
        e = getenv("EDDY_RELAY_QUEUE_BYTES");
        ms.bytes_max = e != NULL && atoll(e) > 0 ? (uint64_t)atoll(e) : RELAY_QUEUE_BYTES;
    }
    p->id = relay_next_id(&ms.next_id);
    p->pid = pid;
    p->slot = slot;
    p->gen = gen;
    ws_outq_init(&p->out, p->stream);
    /* Its first records: who it is, the history, the end of it; whatever
     * is published from now on follows in the same queue. */
    relay_post(&p->out, relay_record(&(rec_t){.type = R_HELLO, .a = p->id}, "", 0, "", 0, NULL, 0));
    ps_each_history(history_one, p);
    ps_each_last(last_one, p);
    relay_post(&p->out, relay_record(&(rec_t){.type = R_SYNCED}, "", 0, "", 0, NULL, 0));
    if (p->out.error != 0) {
        rc = p->out.error;
        ws_outq_close(&p->out);
        eddy_close(p->stream);
        free(p);
        return rc;
    }
    p->next = ms.peers;
    ms.peers = p;
    rc = eddy_spawn(&p->task, peer_task, p, &(eddy_spawn_opts_t){.name = "relay"});
    if (rc != 0) {
        p->task = NULL;
        peer_free(p);
    }
    return rc;
}

void relay_master_stop(void)
{
    while (ms.peers != NULL) {
        peer_t *p = ms.peers;
        eddy_task_t *t = p->task;
        /* The task frees p; its handle stays ours to join. */
        p->task = NULL;
        if (t == NULL) {
            peer_free(p);
            continue;
        }
        eddy_cancel(t);
        eddy_join(t, NULL);
        eddy_detach(t);
    }
}
