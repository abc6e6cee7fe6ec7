/* The relay between the master and its workers (see relay.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/relay.h"
#include "pubsub/pubsub.h"
#include "routes/metrics.h"

/* Records, and bytes, queued to one worker beyond the history it was sent
 * at its start, before it is deemed stuck and killed.  The environment's
 * EDDY_RELAY_QUEUE_MAX and EDDY_RELAY_QUEUE_BYTES override them (tests). */
#define RELAY_QUEUE_MAX 200000
#define RELAY_QUEUE_BYTES (64u << 20)
/* Records handled in a row before the loop gets a turn. */
#define RECORDS_PER_TURN 64
/* The largest record accepted (a message of max_message and names). */
#define RECORD_MAX (512u << 20)
/* How long a worker waits for the master's answer to a publish, a
 * channel's state or a scrape; and the master for the workers' texts. */
#define ANSWER_MS 10000
#define GATHER_MS 3000
/* How long a new worker waits for the history. */
#define SYNC_MS 30000

/* Record types.  Worker to master: */
enum {
    R_PUBLISH = 1, /* req, flags, hub, name, data: number it, send it to all */
    R_SUBS,        /* hub, name, a: subscribers added (int64) */
    R_INFO_REQ,    /* req, hub, name: a channel's state */
    R_GATHER_REQ,  /* req: every worker's metrics */
    R_GATHER_PART, /* req (the master's gather), data: this worker's text */
    /* Master to worker: */
    R_HELLO = 16, /* a: the worker's relay id */
    R_MSG,        /* req, origin, flags, a: id, b: subscribers, hub, name, data */
    R_HISTORY,    /* flags, a: id, hub, name, data: history only */
    R_LAST,       /* a: a channel's last id (after the history) */
    R_SYNCED,     /* the history is all there */
    R_NACK,       /* req, a: the error (negative) */
    R_INFO,       /* req, flags (F_EXISTS), a: last id, b: subscribers, c: history */
    R_GATHER,     /* req (the gather's), data: the labels for this worker's text */
    R_GATHERED,   /* req, data: the texts, each a u32 length then the bytes */
};

#define F_BINARY 1
#define F_EXISTS 2

/* Every record: this header, then hub, name and data.  Both ends are the
 * same binary on the same machine: native byte order. */
typedef struct rec {
    uint32_t len; /* bytes after the header */
    uint8_t type, flags;
    uint16_t hub_len, name_len;
    uint16_t pad;
    uint32_t req, origin;
    uint64_t a, b, c;
} rec_t;

typedef struct parsed {
    rec_t h; /* a copy: a record's bytes are not aligned */
    const char *hub, *name;
    const uint8_t *data;
    size_t data_len;
} parsed_t;

/* ------------------------------------------------------------ records */

static ws_blob_t *record(const rec_t *h, const char *hub, size_t hl, const char *name, size_t nl,
                         const void *data, size_t n)
{
    size_t total = sizeof(rec_t) + hl + nl + n;
    if (total > RECORD_MAX || hl > UINT16_MAX || nl > UINT16_MAX)
        return NULL;
    ws_blob_t *b = ws_blob_new(total);
    if (b == NULL)
        return NULL;
    rec_t r = *h;
    r.len = (uint32_t)(total - sizeof(rec_t));
    r.hub_len = (uint16_t)hl;
    r.name_len = (uint16_t)nl;
    memcpy(b->data, &r, sizeof(r));
    memcpy(b->data + sizeof(r), hub, hl);
    memcpy(b->data + sizeof(r) + hl, name, nl);
    if (n)
        memcpy(b->data + sizeof(r) + hl + nl, data, n);
    return b;
}

/* Queues a record on q (built by record(); NULL: out of memory). */
static int post(ws_outq_t *q, ws_blob_t *b)
{
    if (b == NULL)
        return UV_ENOMEM;
    int rc = ws_outq_post(q, b);
    ws_blob_unref(b);
    return rc;
}

/* A reader of records from a stream: a growable buffer. */
typedef struct reader {
    eddy_stream_t *stream;
    uint8_t *buf;
    size_t len, cap, off;
} reader_t;

/* The next record: 0 with *p (valid until the next call), or the read's
 * error (UV_EOF), or UV_EPROTO for a malformed record. */
static int next_record(reader_t *r, parsed_t *p)
{
    for (;;) {
        size_t have = r->len - r->off;
        if (have >= sizeof(rec_t)) {
            rec_t h;
            memcpy(&h, r->buf + r->off, sizeof(h));
            if (h.len > RECORD_MAX || (size_t)h.hub_len + h.name_len > h.len)
                return UV_EPROTO;
            if (have >= sizeof(rec_t) + h.len) {
                uint8_t *at = r->buf + r->off;
                p->h = h;
                p->hub = (const char *)at + sizeof(rec_t);
                p->name = p->hub + h.hub_len;
                p->data = (const uint8_t *)p->name + h.name_len;
                p->data_len = h.len - h.hub_len - h.name_len;
                r->off += sizeof(rec_t) + h.len;
                return 0;
            }
            if (sizeof(rec_t) + h.len > r->cap) {
                size_t cap = r->cap;
                while (cap < sizeof(rec_t) + h.len)
                    cap *= 2;
                uint8_t *g = malloc(cap);
                if (g == NULL)
                    return UV_ENOMEM;
                memcpy(g, r->buf + r->off, have);
                free(r->buf);
                r->buf = g;
                r->cap = cap;
                r->len = have;
                r->off = 0;
            }
        }
        /* More bytes: move what is left to the front first. */
        if (r->off > 0) {
            memmove(r->buf, r->buf + r->off, have);
            r->len = have;
            r->off = 0;
        }
        ssize_t n = eddy_read(r->stream, r->buf + r->len, r->cap - r->len);
        if (n < 0)
            return (int)n;
        r->len += (size_t)n;
    }
}

static int reader_init(reader_t *r, eddy_stream_t *s)
{
    memset(r, 0, sizeof(*r));
    r->stream = s;
    r->cap = 64 * 1024;
    r->buf = malloc(r->cap);
    return r->buf ? 0 : UV_ENOMEM;
}

/* The hub named by len bytes at s (a record's, not terminated). */
static ps_hub_t *find_hub(const char *s, size_t len)
{
    char buf[256], *name = len < sizeof(buf) ? buf : malloc(len + 1);
    if (name == NULL)
        return NULL;
    memcpy(name, s, len);
    name[len] = '\0';
    ps_hub_t *h = ps_hub_find(name);
    if (name != buf)
        free(name);
    return h;
}

static ps_hub_t *hub_of(const parsed_t *p)
{
    return find_hub(p->hub, p->h.hub_len);
}

/* ============================================================ the master */

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
            ps_hub_t *h = find_hub(c->key, c->hub_len);
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
                p->slot, (int)p->pid, ws_outq_count(&p->out),
                (unsigned long long)p->out.bytes);
        kill(p->pid, SIGKILL);
        p->killed = true;
        return;
    }
    ws_outq_post(&p->out, b);
}

static void reply(peer_t *p, const rec_t *h, const void *data, size_t n)
{
    ws_blob_t *b = record(h, "", 0, "", 0, data, n);
    if (b != NULL) {
        send_to(p, b);
        ws_blob_unref(b);
    }
}

static void on_publish(peer_t *p, const parsed_t *r)
{
    ps_hub_t *h = hub_of(r);
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
    ws_blob_t *b = record(&m, r->hub, r->h.hub_len, r->name, r->h.name_len, r->data,
                          r->data_len);
    if (b == NULL)
        return;
    for (peer_t *q = ms.peers; q != NULL; q = q->next)
        send_to(q, b);
    ws_blob_unref(b);
}

static void on_subs(peer_t *p, const parsed_t *r)
{
    ps_hub_t *h = hub_of(r);
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
    ps_hub_t *h = hub_of(r);
    uint64_t last = 0;
    size_t subs = 0, hist = 0;
    bool exists = h != NULL && ps_channel_info(h, ps_hub_limits(h), r->name, r->h.name_len,
                                               &last, &subs, &hist);
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
    g->id = ++ms.next_gather ? ms.next_gather : ++ms.next_gather;
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
    reply(p, &(rec_t){.type = R_NACK, .req = r->h.req, .a = (uint64_t)(int64_t)UV_ENOMEM}, NULL,
          0);
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
        rec_t r = {.type = R_HISTORY,
                   .flags = m->binary ? F_BINARY : 0,
                   .a = m->id,
                   .c = m->time_ms};
        b = m->forms[PS_FORM_RELAY] = record(&r, hub, strlen(hub), name, len, m->data, m->len);
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
    ws_blob_t *b = record(&(rec_t){.type = R_LAST, .a = id}, hub, strlen(hub), name, len, NULL, 0);
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

    if (reader_init(&rd, p->stream) != 0)
        goto out;
    for (unsigned n = 1; (rc = next_record(&rd, &r)) == 0; n++) {
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
    p->id = ++ms.next_id ? ms.next_id : ++ms.next_id;
    p->pid = pid;
    p->slot = slot;
    p->gen = gen;
    ws_outq_init(&p->out, p->stream);
    /* Its first records: who it is, the history, the end of it; whatever
     * is published from now on follows in the same queue. */
    post(&p->out, record(&(rec_t){.type = R_HELLO, .a = p->id}, "", 0, "", 0, NULL, 0));
    ps_each_history(history_one, p);
    ps_each_last(last_one, p);
    post(&p->out, record(&(rec_t){.type = R_SYNCED}, "", 0, "", 0, NULL, 0));
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

/* ============================================================ a worker */

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
static int request(pending_t *p, rec_t *h, const char *hub, size_t hl, const char *name,
                   size_t nl, const void *data, size_t n, bool shield)
{
    memset(p, 0, sizeof(*p));
    if (wk.error != 0)
        return wk.error;
    p->req = h->req = ++wk.next_req ? wk.next_req : ++wk.next_req;
    eddy_event_init(&p->event);
    int rc = post(&wk.out, record(h, hub, hl, name, nl, data, n));
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
        return wk.error != 0 ? wk.error
                             : post(&wk.out, record(&r, hub, strlen(hub), name, len, data, n));
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

static int w_info(ps_hub_t *h, const char *name, size_t len, uint64_t *last_id,
                  size_t *subscribers, size_t *history)
{
    const char *hub = ps_hub_name(h);
    pending_t p;
    int rc =
        request(&p, &(rec_t){.type = R_INFO_REQ}, hub, strlen(hub), name, len, NULL, 0, false);
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
        post(&wk.out, record(&(rec_t){.type = R_SUBS, .a = (uint64_t)(int64_t)delta}, hub,
                             strlen(hub), name, len, NULL, 0));
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
        ps_hub_t *h = hub_of(r);
        if (h != NULL)
            ps_apply(h, r->name, r->h.name_len, r->h.a, r->h.c, r->h.flags & F_BINARY, r->data,
                     r->data_len, r->h.type == R_HISTORY);
        if (r->h.type == R_MSG && r->h.origin == wk.id && r->h.req != 0)
            complete(r->h.req, 0, r);
        break;
    }
    case R_LAST: {
        ps_hub_t *h = hub_of(r);
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
        post(&wk.out, record(&(rec_t){.type = R_GATHER_PART, .req = r->h.req}, "", 0, "", 0,
                             m.buf, m.failed ? 0 : m.len));
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

    for (unsigned n = 1; (rc = next_record(&wk.rd, &r)) == 0; n++) {
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
    if ((rc = reader_init(&wk.rd, wk.stream)) != 0)
        goto failed;
    /* The history, before this worker serves anybody. */
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, SYNC_MS);
    while ((rc = next_record(&wk.rd, &r)) == 0 && r.h.type != R_SYNCED) {
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
