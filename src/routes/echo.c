/* type = echo: a WebSocket upgrade echoes every message with its opcode;
 * a plain request gets its own body back with its Content-Type.  For
 * tests, demos and benchmarks. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "routes/wsroute.h"

typedef struct echo {
    wsroute_t ws;
} echo_t;

/* One session: allocated by the handler, run by the takeover. */
typedef struct echo_session {
    ws_session_t ws;
} echo_session_t;

static int echo_set(route_t *r, const char *key, const char *value, const char **err)
{
    echo_t *st = r->state;
    return wsroute_set(&st->ws, key, value, err);
}

static int echo_message(ws_session_t *ws, int opcode, const uint8_t *data, size_t len)
{
    return ws_session_send(ws, opcode, data, len);
}

static void echo_run(void *arg, eddy_stream_t *s, const char *extra, size_t n)
{
    echo_session_t *es = arg;
    if (s != NULL)
        ws_session_run(&es->ws, s, extra, n);
    free(es);
}

/* A plain request's answer, staged when its body is complete. */
typedef struct echo_body {
    const route_t *r;
    char type[128];
} echo_body_t;

static int echo_body(void *arg, http_conn_t *c, const char *body, size_t len)
{
    echo_body_t *eb = arg;
    if (c != NULL) {
        http_response_start(c, 200);
        route_headers(eb->r, c);
        http_response_body(c, eb->type[0] ? eb->type : "application/octet-stream", body, len,
                           NULL, NULL);
    }
    free(eb);
    return 0;
}

static int echo_handle(route_t *r, http_conn_t *c, const http_request_t *req)
{
    echo_t *st = r->state;
    if (!wsroute_is_upgrade(req)) {
        echo_body_t *eb = calloc(1, sizeof(*eb));
        if (eb == NULL)
            return 503;
        eb->r = r;
        const http_header_t *h = http_request_header(req, "Content-Type");
        if (h != NULL && h->value_len < sizeof(eb->type)) {
            memcpy(eb->type, h->value, h->value_len);
            eb->type[h->value_len] = '\0';
        }
        if (!req->chunked && req->content_length <= 0)
            return echo_body(eb, c, "", 0);
        http_response_defer(c, (size_t)-1, echo_body, eb);
        return 0;
    }
    echo_session_t *es = calloc(1, sizeof(*es));
    if (es == NULL)
        return 503;
    const char *protocol;
    bool refused;
    int status = wsroute_accept(r, &st->ws, c, req, NULL, &es->ws.cfg, &protocol, &refused);
    if (status != 0 || refused) {
        free(es);
        return status;
    }
    es->ws.on_message = echo_message;
    http_response_takeover(c, echo_run, es);
    http_response_empty(c, -1);
    return 0;
}

static const char *echo_check(route_t *r, char *buf, size_t len)
{
    (void)r, (void)buf, (void)len;
    return NULL;
}

static void echo_free(route_t *r)
{
    echo_t *st = r->state;
    wsroute_free(&st->ws);
}

static void echo_init(route_t *r)
{
    echo_t *st = r->state;
    wsroute_init(&st->ws);
}

static const char *const echo_own[] = {"Upgrade", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
                                       "Sec-WebSocket-Extensions", NULL};

const route_type_t route_echo = {
    .name = "echo",
    .state_size = sizeof(echo_t),
    .any_method = true,
    .own_headers = echo_own,
    .init = echo_init,
    .set = echo_set,
    .check = echo_check,
    .handle = echo_handle,
    .free = echo_free,
};
