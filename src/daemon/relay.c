/* The relay's records (see relay-records.h and relay.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/relay-records.h"

ws_blob_t *relay_record(const rec_t *h, const char *hub, size_t hl, const char *name, size_t nl,
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

/* Queues a record on q (built by relay_record(); NULL: out of memory). */
int relay_post(ws_outq_t *q, ws_blob_t *b)
{
    if (b == NULL)
        return UV_ENOMEM;
    int rc = ws_outq_post(q, b);
    ws_blob_unref(b);
    return rc;
}

/* The next record: 0 with *p (valid until the next call), or the read's
 * error (UV_EOF), or UV_EPROTO for a malformed record. */
int relay_next(reader_t *r, parsed_t *p)
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

int relay_reader_init(reader_t *r, eddy_stream_t *s)
{
    memset(r, 0, sizeof(*r));
    r->stream = s;
    r->cap = 64 * 1024;
    r->buf = malloc(r->cap);
    return r->buf ? 0 : UV_ENOMEM;
}

/* The hub named by len bytes at s (a record's, not terminated). */
ps_hub_t *relay_find_hub(const char *s, size_t len)
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

ps_hub_t *relay_hub_of(const parsed_t *p)
{
    return relay_find_hub(p->hub, p->h.hub_len);
}
