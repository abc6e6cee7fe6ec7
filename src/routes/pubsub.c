/* type = pubsub: publish/subscribe channels under a prefix (/ps/chat is
 * channel "chat"), in the family of nchan.
 *
 *   WebSocket upgrade          subscribe (raw payloads, or JSON frames with
 *                              the subprotocol eddy.pubsub.v1)
 *   GET, Accept: text/event-stream   subscribe with Server-Sent Events
 *   POST or PUT                publish the body
 *   GET                        the channel's state as JSON
 *
 * Channels live in a hub named after the route's match, kept across
 * reloads: a session keeps its route (and limits) until it ends, while
 * publishers under the new configuration reach it through the same hub.
 * Each subscriber has a bounded queue (subscriber_queue); when a publish
 * finds it full, slow_consumer decides: disconnect (close 1008) or
 * drop-oldest. */
#include "config.h"

#include <arpa/inet.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pubsub/pubsub.h"
#include "routes/wsroute.h"
#include "websocket/stats.h"

#define PROTOCOL_V1 "eddy.pubsub.v1"

/* Where a message's encodings sit in ps_msg_t.forms. */
enum form { FORM_RAW, FORM_RAW_Z, FORM_JSON, FORM_JSON_Z, FORM_SSE };

typedef struct cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
} cidr_t;

typedef struct pubsub {
    wsroute_t ws;
    ps_limits_t lim;
    size_t queue; /* subscriber_queue */
    bool drop_oldest;
    bool client_publish;
    cidr_t *allow;
    size_t nallow;
    char *token;
    ps_hub_t *hub;
} pubsub_t;

/* ------------------------------------------------------------ config */

static const char *parse_cidr(const char *s, size_t n, cidr_t *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return "publish_allow: expected addresses or CIDR blocks (127.0.0.0/8, ::1)";
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || slash[1] == '\0')
            return "publish_allow: bad prefix length";
    }
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (bits > 32)
            return "publish_allow: an IPv4 prefix is at most /32";
        out->bits = bits < 0 ? 32 : (unsigned)bits;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (bits > 128)
            return "publish_allow: an IPv6 prefix is at most /128";
        out->bits = bits < 0 ? 128 : (unsigned)bits;
    } else {
        return "publish_allow: not an IP address (names are not resolved)";
    }
    return NULL;
}

static const char *parse_allow(pubsub_t *st, const char *v)
{
    cidr_t *list = NULL;
    size_t n = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p == start)
            break;
        cidr_t *grown = realloc(list, (n + 1) * sizeof(*list));
        if (grown == NULL) {
            free(list);
            return "out of memory";
        }
        list = grown;
        const char *why = parse_cidr(start, (size_t)(p - start), &list[n]);
        if (why != NULL) {
            free(list);
            return why;
        }
        n++;
    }
    free(st->allow);
    st->allow = list;
    st->nallow = n;
    return NULL;
}

static int set_count(size_t *dst, const char *v, size_t lo, size_t hi, const char *msg,
                     const char **err)
{
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < (long long)lo || (unsigned long long)n > hi) {
        *err = msg;
        return -1;
    }
    *dst = (size_t)n;
    return 0;
}

static int ps_set(route_t *r, const char *key, const char *value, const char **err)
{
    pubsub_t *st = r->state;
    int rc = wsroute_set(&st->ws, key, value, err);
    if (rc != 1)
        return rc;
    if (strcmp(key, "history") == 0)
        return set_count(&st->lim.history, value, 0, 1000000,
                         "history must be a count from 0 to 1000000", err);
    if (strcmp(key, "history_timeout") == 0) {
        int64_t ms = route_parse_duration(value);
        if (ms < 0) {
            *err = "history_timeout must be a duration (0: messages never expire)";
            return -1;
        }
        st->lim.history_ms = (uint64_t)ms;
        return 0;
    }
    if (strcmp(key, "subscriber_queue") == 0)
        return set_count(&st->queue, value, 1, 1000000,
                         "subscriber_queue must be a count from 1 to 1000000", err);
    if (strcmp(key, "max_channels") == 0)
        return set_count(&st->lim.max_channels, value, 1, 100000000,
                         "max_channels must be a count from 1", err);
    if (strcmp(key, "max_subscribers") == 0)
        return set_count(&st->lim.max_subscribers, value, 1, 100000000,
                         "max_subscribers must be a count from 1", err);
    if (strcmp(key, "slow_consumer") == 0) {
        if (strcmp(value, "disconnect") == 0 || strcmp(value, "drop-oldest") == 0) {
            st->drop_oldest = value[0] == 'd' && value[1] == 'r';
            return 0;
        }
        *err = "slow_consumer must be disconnect or drop-oldest";
        return -1;
    }
    if (strcmp(key, "client_publish") == 0) {
        int b = route_parse_bool(value);
        if (b < 0) {
            *err = "client_publish must be on or off";
            return -1;
        }
        st->client_publish = b;
        return 0;
    }
    if (strcmp(key, "publish_allow") == 0) {
        *err = parse_allow(st, value);
        return *err ? -1 : 0;
    }
    if (strcmp(key, "publish_token") == 0) {
        for (const char *p = value; *p; p++) {
            if ((unsigned char)*p <= ' ' || (unsigned char)*p > '~') {
                *err = "publish_token must be printable ASCII without spaces";
                return -1;
            }
        }
        free(st->token);
        st->token = value[0] ? strdup(value) : NULL;
        return 0;
    }
    return 1;
}

static void ps_init(route_t *r)
{
    pubsub_t *st = r->state;
    wsroute_init(&st->ws);
    st->lim = PS_LIMITS_DEFAULT;
    st->queue = 256;
    parse_allow(st, "127.0.0.0/8, ::1");
}

static const char *ps_check(route_t *r, char *buf, size_t len)
{
    pubsub_t *st = r->state;
    /* The hub outlives this configuration: a reload's route with the same
     * match finds the channels and their subscribers. */
    st->hub = ps_hub_acquire(r->match);
    if (st->hub == NULL) {
        snprintf(buf, len, "out of memory");
        return buf;
    }
    return NULL;
}

/* The hub's limits for messages from the relay (daemon/relay.h) are the
 * serving configuration's, not those of a file being checked. */
static void ps_commit(route_t *r)
{
    pubsub_t *st = r->state;
    ps_hub_set_limits(st->hub, &st->lim);
}

static void ps_free(route_t *r)
{
    pubsub_t *st = r->state;
    wsroute_free(&st->ws);
    free(st->allow);
    free(st->token);
    ps_hub_release(st->hub);
}

/* ------------------------------------------------------------ encodings */

/* The message's encoding as a frame or chunk, made once per message. */
static ws_blob_t *form(ps_msg_t *m, enum form f)
{
    if (m->forms[f] != NULL)
        return m->forms[f];
    ws_buf_t b = {0};
    ws_blob_t *out = NULL;
    switch (f) {
    case FORM_RAW:
        out = ws_blob_frame(m->binary ? WS_OP_BINARY : WS_OP_TEXT, 0, m->data, m->len);
        break;
    case FORM_JSON:
        if (ps_encode_json(m, &b) == 0)
            out = ws_blob_frame(WS_OP_TEXT, 0, b.data, b.len);
        break;
    case FORM_RAW_Z:
    case FORM_JSON_Z: {
        /* One compression for every subscriber: no context takeover. */
        ws_blob_t *plain = form(m, f == FORM_RAW_Z ? FORM_RAW : FORM_JSON);
        if (plain == NULL)
            return NULL;
        uint8_t h[10];
        size_t hl = ws_frame_header_write(h, true, 0, 0, plain->len);
        size_t plen = plain->len - hl;
        if (plen >= 64 && ws_deflate_message(ws_deflate_shared(15), plain->data + hl, plen, &b) == 0 &&
            b.len < plen) {
            int op = plain->data[0] & 0x0F;
            out = ws_blob_frame(op, WS_RSV1, b.data, b.len);
        } else {
            out = ws_blob_ref(plain);
        }
        break;
    }
    case FORM_SSE:
        if (ps_encode_sse(m, &b) == 0) {
            char h[24];
            int hl = snprintf(h, sizeof(h), "%zx\r\n", b.len);
            out = ws_blob_new((size_t)hl + b.len + 2);
            if (out != NULL) {
                memcpy(out->data, h, (size_t)hl);
                memcpy(out->data + hl, b.data, b.len);
                memcpy(out->data + hl + b.len, "\r\n", 2);
            }
        }
        break;
    }
    free(b.data);
    if (out != NULL)
        out->droppable = 1; /* a whole published message */
    m->forms[f] = out;
    return out;
}

/* ------------------------------------------------------------ subscribers */

typedef struct sub {
    ps_sub_t ps; /* first: deliver gets it */
    route_t *r;
    pubsub_t *st;
    ps_hub_t *hub;
    bool json, sse, chunked, gone;
    bool has_since;
    uint64_t since;
    size_t len;
    char name[PS_NAME_MAX + 1];
    ws_session_t ws;   /* WebSocket subscribers */
    ws_outq_t out;     /* event-stream subscribers */
    eddy_task_t *task; /* the connection's */
} sub_t;

/* A full queue: the policy decides.  true: the message may be queued. */
static bool make_room(sub_t *s, ws_outq_t *q)
{
    if (ws_outq_waiting(q) < s->st->queue)
        return true;
    if (s->st->drop_oldest && ws_outq_drop_oldest(q)) {
        pubsub_stats.queue_drops++;
        return true;
    }
    s->gone = true;
    pubsub_stats.slow_disconnects++;
    if (s->sse)
        eddy_cancel(s->task);
    else
        ws_session_kick(&s->ws, WS_CLOSE_POLICY, "slow consumer: queue full");
    return false;
}

static enum form ws_form(const sub_t *s, const ps_msg_t *m)
{
    bool z = s->ws.cfg.deflate && s->ws.cfg.dp.server_max_window_bits == 15 && m->len >= 64;
    if (s->json)
        return z ? FORM_JSON_Z : FORM_JSON;
    return z ? FORM_RAW_Z : FORM_RAW;
}

static int deliver_ws(ps_sub_t *p, ps_msg_t *m)
{
    sub_t *s = (sub_t *)p;
    if (s->gone || s->ws.close_sent || !make_room(s, &s->ws.out))
        return 1;
    ws_blob_t *b = form(m, ws_form(s, m));
    if (b == NULL || ws_session_send_frame(&s->ws, b) < 0) {
        s->gone = true;
        ws_session_kick(&s->ws, WS_CLOSE_INTERNAL, NULL);
        return 1;
    }
    return 0;
}

static int deliver_sse(ps_sub_t *p, ps_msg_t *m)
{
    sub_t *s = (sub_t *)p;
    if (s->gone || !make_room(s, &s->out))
        return 1;
    ws_blob_t *b = form(m, FORM_SSE);
    if (b == NULL || ws_outq_post(&s->out, b) < 0) {
        s->gone = true;
        eddy_cancel(s->task);
        return 1;
    }
    return 0;
}

/* Bytes as an event-stream chunk (or raw, for an HTTP/1.0 client). */
static int sse_send(sub_t *s, const void *p, size_t n)
{
    char h[24];
    int hl = s->chunked ? snprintf(h, sizeof(h), "%zx\r\n", n) : 0;
    ws_blob_t *b = ws_blob_new((size_t)hl + n + (s->chunked ? 2 : 0));
    if (b == NULL)
        return UV_ENOMEM;
    memcpy(b->data, h, (size_t)hl);
    memcpy(b->data + hl, p, n);
    if (s->chunked)
        memcpy(b->data + hl + n, "\r\n", 2);
    int rc = ws_outq_post(&s->out, b);
    ws_blob_unref(b);
    return rc;
}

/* Subscribes, then queues the gap notice and the replay: all before the
 * first live message, with no wait in between. */
static int subscribe(sub_t *s, ws_outq_t *q)
{
    ps_replay_t rp;
    int rc = ps_subscribe(s->hub, &s->st->lim, s->name, s->len, &s->ps, s->has_since, s->since,
                          &rp);
    if (rc < 0)
        return rc;
    if (rp.gap_from <= rp.gap_to && (s->json || s->sse)) {
        ws_buf_t b = {0};
        if (s->sse) {
            if (ps_encode_gap_sse(rp.gap_from, rp.gap_to, &b) == 0)
                sse_send(s, b.data, b.len);
        } else if (ps_encode_gap_json(rp.gap_from, rp.gap_to, &b) == 0) {
            ws_blob_t *f = ws_blob_frame(WS_OP_TEXT, 0, b.data, b.len);
            if (f != NULL)
                ws_session_send_frame(&s->ws, f);
            ws_blob_unref(f);
        }
        free(b.data);
    }
    for (size_t i = 0; i < rp.n; i++) {
        ws_blob_t *b = form(rp.msgs[i], s->sse ? FORM_SSE : ws_form(s, rp.msgs[i]));
        if (b == NULL)
            return UV_ENOMEM;
        if (s->sse)
            ws_outq_post(q, b);
        else
            ws_session_send_frame(&s->ws, b);
    }
    return 0;
}

static int ws_opened(ws_session_t *ws)
{
    sub_t *s = ws->user;
    int rc = subscribe(s, &ws->out);
    if (rc == UV_EAGAIN)
        return -1013; /* try again later: a limit was reached meanwhile */
    return rc < 0 ? -WS_CLOSE_INTERNAL : 0;
}

static int ws_received(ws_session_t *ws, int opcode, const uint8_t *data, size_t len)
{
    sub_t *s = ws->user;
    uint64_t id;
    size_t n;
    if (!s->st->client_publish)
        return 0; /* a subscriber's own messages are ignored */
    /* With worker processes the message is sent to be numbered, not
     * waited for: this session's reader goes on. */
    int rc = ps_post(s->hub, &s->st->lim, s->name, s->len, opcode == WS_OP_BINARY, data, len,
                     false, &id, &n);
    return rc == UV_EAGAIN ? -1013 : rc < 0 ? -WS_CLOSE_INTERNAL : 0;
}

static void ws_run(void *arg, eddy_stream_t *stream, const char *extra, size_t n)
{
    sub_t *s = arg;
    if (stream != NULL) {
        s->task = eddy_current();
        ws_session_run(&s->ws, stream, extra, n);
        ps_unsubscribe(s->hub, &s->ps);
    }
    free(s);
}

static void sse_run(void *arg, eddy_stream_t *stream, const char *extra, size_t n)
{
    sub_t *s = arg;
    char buf[512];
    (void)extra, (void)n;
    if (stream == NULL) {
        free(s);
        return;
    }
    s->task = eddy_current();
    ws_outq_init(&s->out, stream);
    eddy_stream_set_send_timeout(stream, s->ws.cfg.send_ms);
    if (subscribe(s, &s->out) == 0) {
        /* Reads only to learn that the client left; a comment line keeps
         * proxies and the client's idle timers from closing the stream. */
        for (;;) {
            eddy_timeout_t scope;
            eddy_timeout_enter(&scope, s->ws.cfg.ping_ms ? s->ws.cfg.ping_ms : EDDY_FOREVER);
            ssize_t r = eddy_read(stream, buf, sizeof(buf));
            eddy_timeout_leave(&scope);
            if (r == UV_ETIMEDOUT && s->out.error == 0) {
                sse_send(s, ":\n\n", 3);
                continue;
            }
            if (r <= 0)
                break;
        }
        ps_unsubscribe(s->hub, &s->ps); /* nothing may follow the last chunk */
        /* Shutdown or a kick: end the stream cleanly, the client
         * reconnects (with Last-Event-ID). */
        if (s->out.error == 0 && s->chunked) {
            eddy_timeout_t scope;
            eddy_shield_enter();
            eddy_timeout_enter(&scope, s->ws.cfg.close_ms);
            ws_blob_t *end = ws_blob_new(5);
            if (end != NULL) {
                memcpy(end->data, "0\r\n\r\n", 5);
                ws_outq_post(&s->out, end);
                ws_blob_unref(end);
            }
            ws_outq_flush(&s->out);
            eddy_timeout_leave(&scope);
            eddy_shield_leave();
        }
    }
    ps_unsubscribe(s->hub, &s->ps); /* idempotent: also after a failed subscribe */
    ws_outq_close(&s->out);
    free(s);
}

/* ------------------------------------------------------------ requests */

static const char *query_param(const http_request_t *req, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    const char *q = req->query, *end = q + req->query_len;
    while (q != NULL && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *e = amp ? amp : end;
        if ((size_t)(e - q) > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
            *len = (size_t)(e - q) - nl - 1;
            return q + nl + 1;
        }
        q = amp ? amp + 1 : end;
    }
    return NULL;
}

static bool parse_id(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return true;
}

static bool wants_event_stream(const http_request_t *req)
{
    const http_header_t *h = http_request_header(req, "Accept");
    if (h == NULL)
        return false;
    for (size_t i = 0; i + 17 <= h->value_len; i++) {
        if (strncasecmp(h->value + i, "text/event-stream", 17) == 0)
            return true;
    }
    return false;
}

/* A JSON answer. */
static int answer_json(const route_t *r, http_conn_t *c, int status, const char *body, size_t n)
{
    http_response_start(c, status);
    http_response_header_str(c, "Cache-Control", "no-store");
    route_headers(r, c);
    http_response_body(c, "application/json", body, n, NULL, NULL);
    return 0;
}

static int answer_state(const route_t *r, pubsub_t *st, http_conn_t *c, const char *name,
                        size_t len)
{
    uint64_t last = 0;
    size_t subs = 0, hist = 0;
    int rc = ps_state(st->hub, &st->lim, name, len, &last, &subs, &hist);
    if (rc < 0 && rc != UV_ENOENT)
        return 503; /* the master did not answer */
    bool exists = rc == 0;
    char body[PS_NAME_MAX + 160];
    int n = snprintf(body, sizeof(body),
                     "{\"channel\":\"%.*s\",\"last_id\":%llu,\"subscribers\":%zu,"
                     "\"history\":%zu}\n",
                     (int)len, name, (unsigned long long)last, subs, hist);
    return answer_json(r, c, exists ? 200 : 404, body, (size_t)n);
}

/* Whether the peer's address is inside publish_allow.  Unix-socket peers
 * are local processes: allowed. */
static bool peer_allowed(const pubsub_t *st, const char *peer)
{
    uint8_t a[16];
    int family;
    if (strncmp(peer, "unix", 4) == 0)
        return true;
    if (inet_pton(AF_INET, peer, a) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, peer, a) == 1)
        family = AF_INET6;
    else
        return false;
    for (size_t i = 0; i < st->nallow; i++) {
        const cidr_t *c = &st->allow[i];
        const uint8_t *x = a;
        uint8_t mapped[4];
        if (c->family != family) {
            /* An IPv4 client on a dual-stack socket: ::ffff:a.b.c.d. */
            static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (c->family != AF_INET || memcmp(a, v4mapped, 12) != 0)
                continue;
            memcpy(mapped, a + 12, 4);
            x = mapped;
        }
        unsigned full = c->bits / 8, rest = c->bits % 8;
        if (memcmp(x, c->addr, full) != 0)
            continue;
        if (rest && ((x[full] ^ c->addr[full]) & (0xff << (8 - rest))))
            continue;
        return true;
    }
    return false;
}

/* The token, compared in constant time (its length is not secret). */
static bool token_ok(const pubsub_t *st, const http_request_t *req)
{
    const http_header_t *h = http_request_header(req, "Authorization");
    size_t tl = strlen(st->token);
    if (h == NULL || h->value_len != 7 + tl || strncasecmp(h->value, "Bearer ", 7) != 0)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < tl; i++)
        diff |= (unsigned char)(h->value[7 + i] ^ st->token[i]);
    return diff == 0;
}

typedef struct publish {
    route_t *r;
    pubsub_t *st;
    bool text;
    size_t len;
    char name[PS_NAME_MAX + 1];
} publish_t;

static int publish_body(void *arg, http_conn_t *c, const char *body, size_t len)
{
    publish_t *p = arg;
    int status = 0;
    if (c != NULL) {
        uint64_t id;
        size_t n;
        if (p->text && !ws_utf8_valid(body, len)) {
            status = 400;
        } else {
            int rc = ps_post(p->st->hub, &p->st->lim, p->name, p->len, !p->text, body, len,
                             true, &id, &n);
            if (rc == UV_EAGAIN) {
                status = 503;
            } else if (rc < 0) {
                /* Out of memory; or, with workers, no answer from the
                 * master (gone, or 10 s without one): try again later. */
                status = rc == UV_ENOMEM ? 500 : 503;
            } else {
                char out[80];
                int ol = snprintf(out, sizeof(out), "{\"id\":%llu,\"subscribers\":%zu}\n",
                                  (unsigned long long)id, n);
                answer_json(p->r, c, 200, out, (size_t)ol);
            }
        }
    }
    free(p);
    return status;
}

static bool is_text_type(const http_request_t *req)
{
    const http_header_t *h = http_request_header(req, "Content-Type");
    if (h == NULL)
        return false;
    if (h->value_len >= 5 && strncasecmp(h->value, "text/", 5) == 0)
        return true;
    return h->value_len >= 16 && strncasecmp(h->value, "application/json", 16) == 0 &&
           (h->value_len == 16 || h->value[16] == ';' || h->value[16] == ' ');
}

static int publish(route_t *r, pubsub_t *st, http_conn_t *c, const http_request_t *req,
                   const char *name, size_t len)
{
    if (!peer_allowed(st, req->peer))
        return 403;
    if (st->token != NULL && !token_ok(st, req)) {
        static const char body[] = "401 Unauthorized\n";
        http_response_start(c, 401);
        http_response_header_str(c, "WWW-Authenticate", "Bearer");
        route_headers(r, c);
        http_response_body(c, "text/plain; charset=utf-8", body, sizeof(body) - 1, NULL, NULL);
        return 0;
    }
    publish_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return 503;
    p->r = r;
    p->st = st;
    p->text = is_text_type(req);
    p->len = len;
    memcpy(p->name, name, len);
    if (!req->chunked && req->content_length <= 0)
        return publish_body(p, c, "", 0);
    http_response_defer(c, st->ws.max_message, publish_body, p);
    return 0;
}

static sub_t *new_sub(route_t *r, pubsub_t *st, const char *name, size_t len)
{
    sub_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->r = r;
    s->st = st;
    s->hub = st->hub;
    s->len = len;
    memcpy(s->name, name, len);
    return s;
}

static int subscribe_ws(route_t *r, pubsub_t *st, http_conn_t *c, const http_request_t *req,
                        sub_t *s)
{
    static const char *const extra[] = {PROTOCOL_V1, NULL};
    const char *protocol;
    bool refused;
    int status = wsroute_accept(r, &st->ws, c, req, extra, &s->ws.cfg, &protocol, &refused);
    if (status != 0 || refused) {
        free(s);
        return status;
    }
    s->json = protocol != NULL && strcmp(protocol, PROTOCOL_V1) == 0;
    s->ps.deliver = deliver_ws;
    s->ws.user = s;
    s->ws.on_open = ws_opened;
    s->ws.on_message = ws_received;
    http_response_takeover(c, ws_run, s);
    http_response_empty(c, -1);
    return 0;
}

static int subscribe_sse(route_t *r, http_conn_t *c, const http_request_t *req, sub_t *s)
{
    const http_header_t *last = http_request_header(req, "Last-Event-ID");
    uint64_t id;
    if (last != NULL && parse_id(last->value, last->value_len, &id)) {
        s->has_since = true;
        s->since = id;
    }
    s->sse = true;
    s->chunked = req->version_minor >= 1;
    s->ps.deliver = deliver_sse;
    s->ws.cfg.ping_ms = s->st->ws.ping_ms;
    s->ws.cfg.send_ms = http_conn_limits(c)->send_ms;
    s->ws.cfg.close_ms = 2000;
    http_response_start(c, 200);
    http_response_header_str(c, "Content-Type", "text/event-stream");
    http_response_header_str(c, "Cache-Control", "no-store");
    http_response_header_str(c, "X-Accel-Buffering", "no");
    if (s->chunked) {
        http_response_header_str(c, "Transfer-Encoding", "chunked");
        http_response_header_str(c, "Connection", "keep-alive");
    } else {
        http_response_header_str(c, "Connection", "close");
    }
    route_headers(r, c);
    http_response_omit(c, HTTP_OMIT_CONTENT_TYPE);
    if (req->head) {
        free(s);
        http_response_empty(c, -1);
        return 0;
    }
    http_response_takeover(c, sse_run, s);
    http_response_empty(c, -1);
    return 0;
}

static int ps_handle(route_t *r, http_conn_t *c, const http_request_t *req)
{
    pubsub_t *st = r->state;
    const char *name = req->path + r->match_len;
    size_t len = req->path_len - r->match_len;

    if (!ps_name_valid(name, len))
        return 400;
    if (req->method == HTTP_POST || req->method == HTTP_PUT)
        return publish(r, st, c, req, name, len);
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        static const char body[] = "405 Method Not Allowed\n";
        http_response_start(c, 405);
        http_response_header_str(c, "Allow", "GET, HEAD, POST, PUT");
        http_response_body(c, "text/plain; charset=utf-8", body, sizeof(body) - 1, NULL, NULL);
        return 0;
    }
    bool upgrade = wsroute_is_upgrade(req), sse = !upgrade && wants_event_stream(req);
    if (!upgrade && !sse)
        return answer_state(r, st, c, name, len);
    if (!ps_can_subscribe(st->hub, &st->lim, name, len))
        return 503;
    sub_t *s = new_sub(r, st, name, len);
    if (s == NULL)
        return 503;
    size_t vl;
    const char *v = query_param(req, "since", &vl);
    if (v != NULL) {
        if (!parse_id(v, vl, &s->since)) {
            free(s);
            return 400;
        }
        s->has_since = true;
    }
    return upgrade ? subscribe_ws(r, st, c, req, s) : subscribe_sse(r, c, req, s);
}

static const char *const ps_own[] = {"Upgrade", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
                                     "Sec-WebSocket-Extensions", "WWW-Authenticate", NULL};

const route_type_t route_pubsub = {
    .name = "pubsub",
    .state_size = sizeof(pubsub_t),
    .any_method = true,
    .own_headers = ps_own,
    .init = ps_init,
    .set = ps_set,
    .check = ps_check,
    .commit = ps_commit,
    .handle = ps_handle,
    .free = ps_free,
};
