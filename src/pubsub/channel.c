/* Channels, their history and subscribers; hubs by name (see pubsub.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "eddy.h"
#include "pubsub/pubsub.h"
#include "websocket/stats.h"

struct ps_channel {
    ps_channel_t *hnext; /* hash chain */
    uint64_t hash;
    uint64_t last_id;
    ps_sub_t *subs;
    size_t nsubs;
    size_t remote; /* in the master: subscribers in the workers */
    ps_msg_t **hist; /* ring of hcap, hlen from hhead */
    size_t hcap, hhead, hlen;
    size_t len;
    char name[PS_NAME_MAX + 1];
};

/* A freed channel's last id, so that the channel made again goes on from
 * there: ids never repeat while it is remembered (the newest
 * max(max_channels, TOMBS_MIN) per hub).  In the master this also keeps
 * one sequence when a worker's subscription arrives just after the
 * channel was freed; in a worker's replica, the last id a ?since
 * subscriber's gap is measured against. */
typedef struct tomb {
    struct tomb *hnext;        /* hash chain */
    struct tomb *older, *newer; /* age order */
    uint64_t hash, last_id;
    size_t len;
    char name[];
} tomb_t;

#define TOMBS_MIN 1024

struct ps_hub {
    ps_hub_t *next; /* the registry */
    unsigned refs;
    char *name;
    ps_limits_t lim; /* for messages from the relay */
    ps_channel_t **buckets;
    size_t nbuckets, nchannels, nsubs;
    tomb_t **tbuckets;
    size_t ntbuckets, ntombs;
    tomb_t *oldest, *newest;
};

static ps_hub_t *hubs;
static const ps_relay_t *relay;

/* What get() does when the channel does not exist. */
enum { FIND, CREATE, CREATE_ALWAYS /* past max_channels: the master decided */ };

void ps_msg_unref(ps_msg_t *m)
{
    if (m == NULL || --m->refs > 0)
        return;
    for (int i = 0; i < PS_FORMS; i++)
        ws_blob_unref(m->forms[i]);
    free(m);
}

/* ------------------------------------------------------------ hubs */

ps_hub_t *ps_hub_acquire(const char *name)
{
    for (ps_hub_t *h = hubs; h != NULL; h = h->next) {
        if (strcmp(h->name, name) == 0) {
            h->refs++;
            return h;
        }
    }
    ps_hub_t *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->name = strdup(name)) == NULL) {
        free(h);
        return NULL;
    }
    h->refs = 1;
    h->lim = PS_LIMITS_DEFAULT;
    h->next = hubs;
    hubs = h;
    return h;
}

static void channel_free(ps_channel_t *c)
{
    for (size_t i = 0; i < c->hlen; i++)
        ps_msg_unref(c->hist[(c->hhead + i) % c->hcap]);
    free(c->hist);
    free(c);
}

void ps_hub_release(ps_hub_t *h)
{
    if (h == NULL || --h->refs > 0)
        return;
    for (ps_hub_t **p = &hubs; *p != NULL; p = &(*p)->next) {
        if (*p == h) {
            *p = h->next;
            break;
        }
    }
    for (size_t i = 0; i < h->nbuckets; i++) {
        ps_channel_t *c = h->buckets[i];
        while (c != NULL) {
            ps_channel_t *next = c->hnext;
            /* Sessions hold the hub through their route: none are left. */
            channel_free(c);
            c = next;
        }
    }
    pubsub_stats.channels -= h->nchannels;
    while (h->oldest != NULL) {
        tomb_t *t = h->oldest;
        h->oldest = t->newer;
        free(t);
    }
    free(h->tbuckets);
    free(h->buckets);
    free(h->name);
    free(h);
}

ps_hub_t *ps_hub_find(const char *name)
{
    for (ps_hub_t *h = hubs; h != NULL; h = h->next) {
        if (strcmp(h->name, name) == 0)
            return h;
    }
    return NULL;
}

const char *ps_hub_name(const ps_hub_t *h)
{
    return h->name;
}

void ps_hub_set_limits(ps_hub_t *h, const ps_limits_t *lim)
{
    h->lim = *lim;
}

const ps_limits_t *ps_hub_limits(const ps_hub_t *h)
{
    return &h->lim;
}

size_t ps_hub_channels(const ps_hub_t *h)
{
    return h->nchannels;
}

size_t ps_hub_subscribers(const ps_hub_t *h)
{
    return h->nsubs;
}

/* ------------------------------------------------------------ channels */

bool ps_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > PS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static ps_channel_t *find(ps_hub_t *h, const char *name, size_t len, uint64_t hash)
{
    if (h->nbuckets == 0)
        return NULL;
    for (ps_channel_t *c = h->buckets[hash & (h->nbuckets - 1)]; c != NULL; c = c->hnext) {
        if (c->hash == hash && c->len == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

static int grow_buckets(ps_hub_t *h)
{
    size_t n = h->nbuckets ? h->nbuckets * 2 : 64;
    ps_channel_t **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < h->nbuckets; i++) {
        ps_channel_t *c = h->buckets[i];
        while (c != NULL) {
            ps_channel_t *next = c->hnext;
            c->hnext = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(h->buckets);
    h->buckets = b;
    h->nbuckets = n;
    return 0;
}

/* ------------------------------------------------------------ tombstones */

static tomb_t **tomb_slot(ps_hub_t *h, const char *name, size_t len, uint64_t hash)
{
    tomb_t **p = &h->tbuckets[hash & (h->ntbuckets - 1)];
    while (*p != NULL &&
           !((*p)->hash == hash && (*p)->len == len && memcmp((*p)->name, name, len) == 0))
        p = &(*p)->hnext;
    return p;
}

static void tomb_unlink(ps_hub_t *h, tomb_t **slot)
{
    tomb_t *t = *slot;
    *slot = t->hnext;
    if (t->older)
        t->older->newer = t->newer;
    else
        h->oldest = t->newer;
    if (t->newer)
        t->newer->older = t->older;
    else
        h->newest = t->older;
    h->ntombs--;
    free(t);
}

/* The last id remembered for name (0: none), forgotten: the channel is
 * made again. */
static uint64_t tomb_take(ps_hub_t *h, const char *name, size_t len, uint64_t hash)
{
    if (h->ntombs == 0)
        return 0;
    tomb_t **slot = tomb_slot(h, name, len, hash);
    if (*slot == NULL)
        return 0;
    uint64_t id = (*slot)->last_id;
    tomb_unlink(h, slot);
    return id;
}

/* Remembers a freed channel's last id (at least id, if known already);
 * the oldest is forgotten past the bound.  Without memory, nothing. */
static void tomb_put(ps_hub_t *h, const char *name, size_t len, uint64_t hash, uint64_t id)
{
    if (id == 0)
        return;
    if (h->ntombs + 1 > h->ntbuckets) {
        size_t n = h->ntbuckets ? h->ntbuckets * 2 : 64;
        tomb_t **b = calloc(n, sizeof(*b));
        if (b == NULL)
            return;
        for (tomb_t *t = h->oldest; t != NULL; t = t->newer) {
            t->hnext = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
        }
        free(h->tbuckets);
        h->tbuckets = b;
        h->ntbuckets = n;
    }
    tomb_t **slot = tomb_slot(h, name, len, hash);
    if (*slot != NULL) {
        if (id < (*slot)->last_id)
            id = (*slot)->last_id;
        tomb_unlink(h, slot);
        slot = tomb_slot(h, name, len, hash);
    }
    tomb_t *t = malloc(sizeof(*t) + len);
    if (t == NULL)
        return;
    t->hash = hash;
    t->last_id = id;
    t->len = len;
    memcpy(t->name, name, len);
    t->hnext = *slot;
    *slot = t;
    t->older = h->newest;
    t->newer = NULL;
    if (h->newest)
        h->newest->newer = t;
    else
        h->oldest = t;
    h->newest = t;
    size_t max = h->lim.max_channels > TOMBS_MIN ? h->lim.max_channels : TOMBS_MIN;
    if (++h->ntombs > max) {
        tomb_t *old = h->oldest;
        tomb_unlink(h, tomb_slot(h, old->name, old->len, old->hash));
    }
}

static void unlink_channel(ps_hub_t *h, ps_channel_t *c)
{
    ps_channel_t **p = &h->buckets[c->hash & (h->nbuckets - 1)];
    while (*p != c)
        p = &(*p)->hnext;
    *p = c->hnext;
    h->nchannels--;
    pubsub_stats.channels--;
    tomb_put(h, c->name, c->len, c->hash, c->last_id);
    channel_free(c);
}

/* Drops history older than the limits allow. */
static void trim_history(ps_channel_t *c, const ps_limits_t *lim, uint64_t now)
{
    while (c->hlen > 0) {
        ps_msg_t *m = c->hist[c->hhead];
        bool old = lim->history_ms && m->time_ms + lim->history_ms <= now;
        if (c->hlen <= lim->history && !old)
            break;
        ps_msg_unref(m);
        c->hhead = (c->hhead + 1) % c->hcap;
        c->hlen--;
    }
}

/* An empty channel (no subscribers here or in a worker, no history) is
 * freed. */
static void maybe_free(ps_hub_t *h, ps_channel_t *c)
{
    if (c->nsubs == 0 && c->remote == 0 && c->hlen == 0)
        unlink_channel(h, c);
}

/* At max_channels: frees the channels whose history expired. */
static void sweep(ps_hub_t *h, const ps_limits_t *lim)
{
    uint64_t now = eddy_now();
    for (size_t i = 0; i < h->nbuckets; i++) {
        ps_channel_t *c = h->buckets[i];
        while (c != NULL) {
            ps_channel_t *next = c->hnext;
            trim_history(c, lim, now);
            maybe_free(h, c);
            c = next;
        }
    }
}

static int get(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, int mode,
               ps_channel_t **out)
{
    uint64_t hash = hash_name(name, len);
    ps_channel_t *c = find(h, name, len, hash);
    if (c != NULL || mode == FIND) {
        if (c != NULL)
            trim_history(c, lim, eddy_now());
        *out = c;
        return 0;
    }
    if (h->nchannels >= lim->max_channels)
        sweep(h, lim);
    if (h->nchannels >= lim->max_channels && mode != CREATE_ALWAYS)
        return UV_EAGAIN;
    if (h->nchannels + 1 > h->nbuckets && grow_buckets(h) < 0)
        return UV_ENOMEM;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return UV_ENOMEM;
    c->hash = hash;
    c->len = len;
    c->last_id = tomb_take(h, name, len, hash);
    memcpy(c->name, name, len);
    c->hnext = h->buckets[hash & (h->nbuckets - 1)];
    h->buckets[hash & (h->nbuckets - 1)] = c;
    h->nchannels++;
    pubsub_stats.channels++;
    *out = c;
    return 0;
}

bool ps_can_subscribe(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len)
{
    ps_channel_t *c = NULL;
    if (h->nsubs >= lim->max_subscribers)
        return false;
    get(h, lim, name, len, FIND, &c);
    if (c == NULL && h->nchannels >= lim->max_channels) {
        sweep(h, lim);
        return h->nchannels < lim->max_channels;
    }
    return true;
}

int ps_subscribe(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, ps_sub_t *s,
                 bool has_since, uint64_t since, ps_replay_t *replay)
{
    static ps_msg_t **list;
    static size_t list_cap;
    ps_channel_t *c;

    memset(replay, 0, sizeof(*replay));
    replay->gap_from = 1;
    if (h->nsubs >= lim->max_subscribers)
        return UV_EAGAIN;
    int rc = get(h, lim, name, len, CREATE, &c);
    if (rc < 0)
        return rc;
    if (has_since && since < c->last_id) {
        /* Ids since+1 .. first in history - 1 are gone. */
        uint64_t first = c->hlen ? c->hist[c->hhead]->id : c->last_id + 1;
        if (since + 1 < first) {
            replay->gap_from = since + 1;
            replay->gap_to = first - 1;
        }
        if (c->hlen > list_cap) {
            ps_msg_t **l = realloc(list, c->hlen * sizeof(*l));
            if (l == NULL) {
                maybe_free(h, c);
                return UV_ENOMEM;
            }
            list = l;
            list_cap = c->hlen;
        }
        for (size_t i = 0; i < c->hlen; i++) {
            ps_msg_t *m = c->hist[(c->hhead + i) % c->hcap];
            if (m->id > since)
                list[replay->n++] = m;
        }
        replay->msgs = list;
    }
    s->ch = c;
    s->prev = NULL;
    s->next = c->subs;
    if (c->subs)
        c->subs->prev = s;
    c->subs = s;
    c->nsubs++;
    h->nsubs++;
    pubsub_stats.subscribers++;
    if (relay != NULL)
        relay->subscribers(h, c->name, c->len, 1);
    return 0;
}

void ps_unsubscribe(ps_hub_t *h, ps_sub_t *s)
{
    ps_channel_t *c = s->ch;
    if (c == NULL)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->ch = NULL;
    s->prev = s->next = NULL;
    c->nsubs--;
    h->nsubs--;
    pubsub_stats.subscribers--;
    if (relay != NULL)
        relay->subscribers(h, c->name, c->len, -1);
    maybe_free(h, c);
}

static int remember(ps_channel_t *c, const ps_limits_t *lim, ps_msg_t *m)
{
    if (lim->history == 0)
        return 0;
    if (c->hlen == c->hcap) {
        size_t cap = c->hcap ? c->hcap * 2 : 8;
        if (cap > lim->history)
            cap = lim->history;
        if (cap <= c->hlen) {
            /* Full at the limit: the oldest leaves. */
            ps_msg_unref(c->hist[c->hhead]);
            c->hhead = (c->hhead + 1) % c->hcap;
            c->hlen--;
        } else {
            ps_msg_t **hist = malloc(cap * sizeof(*hist));
            if (hist == NULL)
                return UV_ENOMEM;
            for (size_t i = 0; i < c->hlen; i++)
                hist[i] = c->hist[(c->hhead + i) % c->hcap];
            free(c->hist);
            c->hist = hist;
            c->hcap = cap;
            c->hhead = 0;
        }
    }
    c->hist[(c->hhead + c->hlen) % c->hcap] = ps_msg_ref(m);
    c->hlen++;
    return 0;
}

static ps_msg_t *msg_new(bool binary, const void *data, size_t n)
{
    ps_msg_t *m = malloc(sizeof(*m) + n);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    m->binary = binary;
    m->time_ms = eddy_now();
    m->len = n;
    if (n)
        memcpy(m->data, data, n);
    return m;
}

/* Keeps m in c's history and hands it to c's subscribers: how many took
 * it.  c may be freed (without history, with its last subscriber gone). */
static size_t fan_out(ps_hub_t *h, const ps_limits_t *lim, ps_channel_t *c, ps_msg_t *m)
{
    size_t delivered = 0;
    const char *name = c->name;
    size_t len = c->len;
    char copy[PS_NAME_MAX];

    remember(c, lim, m);
    memcpy(copy, name, len);
    for (ps_sub_t *s = c->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (s->deliver(s, m) != 0) {
            ps_unsubscribe(h, s);
            /* The channel may be gone with its last subscriber. */
            if (next == NULL)
                break;
            continue;
        }
        delivered++;
    }
    pubsub_stats.deliveries += delivered;
    /* Without history and subscribers, the channel is done. */
    c = NULL;
    get(h, lim, copy, len, FIND, &c);
    if (c != NULL)
        maybe_free(h, c);
    return delivered;
}

int ps_publish(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, bool binary,
               const void *data, size_t n, uint64_t *id, size_t *delivered)
{
    ps_channel_t *c;
    int rc = get(h, lim, name, len, CREATE, &c);
    if (rc < 0)
        return rc;
    ps_msg_t *m = msg_new(binary, data, n);
    if (m == NULL) {
        maybe_free(h, c);
        return UV_ENOMEM;
    }
    m->id = ++c->last_id;
    pubsub_stats.published++;
    *id = m->id;
    size_t remote = c->remote;
    *delivered = fan_out(h, lim, c, m) + remote;
    ps_msg_unref(m);
    return 0;
}

size_t ps_apply(ps_hub_t *h, const char *name, size_t len, uint64_t id, uint64_t time_ms,
                bool binary, const void *data, size_t n, bool history_only)
{
    ps_channel_t *c;
    size_t delivered = 0;
    if (get(h, &h->lim, name, len, CREATE_ALWAYS, &c) < 0)
        return 0;
    if (id <= c->last_id) {
        /* The master's channel was freed (no history, no subscriber
         * anywhere) and started over: so does the replica's history. */
        while (c->hlen > 0) {
            ps_msg_unref(c->hist[c->hhead]);
            c->hhead = (c->hhead + 1) % c->hcap;
            c->hlen--;
        }
    }
    ps_msg_t *m = msg_new(binary, data, n);
    if (m == NULL) {
        maybe_free(h, c);
        return 0;
    }
    m->id = c->last_id = id;
    if (time_ms != 0 && time_ms < m->time_ms)
        m->time_ms = time_ms; /* its history_timeout runs from the publish */
    if (history_only) {
        remember(c, &h->lim, m);
        maybe_free(h, c);
    } else {
        delivered = fan_out(h, &h->lim, c, m);
    }
    ps_msg_unref(m);
    return delivered;
}

void ps_remote(ps_hub_t *h, const char *name, size_t len, long delta)
{
    ps_channel_t *c = NULL;
    get(h, &h->lim, name, len, delta > 0 ? CREATE_ALWAYS : FIND, &c);
    if (c == NULL)
        return;
    if (delta < 0 && (size_t)-delta > c->remote)
        c->remote = 0;
    else
        c->remote += (size_t)delta;
    maybe_free(h, c);
}

void ps_each_history(void (*fn)(void *arg, ps_hub_t *h, const char *name, size_t len,
                                ps_msg_t *m),
                     void *arg)
{
    uint64_t now = eddy_now();
    for (ps_hub_t *h = hubs; h != NULL; h = h->next) {
        for (size_t i = 0; i < h->nbuckets; i++) {
            for (ps_channel_t *c = h->buckets[i]; c != NULL; c = c->hnext) {
                trim_history(c, &h->lim, now);
                for (size_t k = 0; k < c->hlen; k++)
                    fn(arg, h, c->name, c->len, c->hist[(c->hhead + k) % c->hcap]);
            }
        }
    }
}

void ps_note_last(ps_hub_t *h, const char *name, size_t len, uint64_t id)
{
    uint64_t hash = hash_name(name, len);
    ps_channel_t *c = find(h, name, len, hash);
    if (c != NULL) {
        if (id > c->last_id)
            c->last_id = id;
    } else {
        tomb_put(h, name, len, hash, id);
    }
}

void ps_each_last(void (*fn)(void *arg, ps_hub_t *h, const char *name, size_t len, uint64_t id),
                  void *arg)
{
    for (ps_hub_t *h = hubs; h != NULL; h = h->next) {
        for (size_t i = 0; i < h->nbuckets; i++) {
            for (ps_channel_t *c = h->buckets[i]; c != NULL; c = c->hnext)
                fn(arg, h, c->name, c->len, c->last_id);
        }
        for (tomb_t *t = h->oldest; t != NULL; t = t->newer)
            fn(arg, h, t->name, t->len, t->last_id);
    }
}

void ps_relay_set(const ps_relay_t *r)
{
    relay = r;
}

int ps_post(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, bool binary,
            const void *data, size_t n, bool wait, uint64_t *id, size_t *subscribers)
{
    if (relay == NULL)
        return ps_publish(h, lim, name, len, binary, data, n, id, subscribers);
    *id = 0;
    *subscribers = 0;
    int rc = relay->publish(h, name, len, binary, data, n, wait, id, subscribers);
    if (rc == 0)
        pubsub_stats.published++;
    return rc;
}

int ps_state(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len,
             uint64_t *last_id, size_t *subscribers, size_t *history)
{
    if (relay == NULL)
        return ps_channel_info(h, lim, name, len, last_id, subscribers, history) ? 0 : UV_ENOENT;
    return relay->info(h, name, len, last_id, subscribers, history);
}

bool ps_channel_info(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len,
                     uint64_t *last_id, size_t *subscribers, size_t *history)
{
    ps_channel_t *c = NULL;
    get(h, lim, name, len, FIND, &c);
    if (c == NULL)
        return false;
    *last_id = c->last_id;
    *subscribers = c->nsubs + c->remote;
    *history = c->hlen;
    return true;
}
