/* The WebSocket keys and handshake that echo and pubsub routes share. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "routes/wsroute.h"

/* The closing handshake's bound (a peer that never answers our close). */
#define CLOSE_MS 2000

void wsroute_init(wsroute_t *w)
{
    memset(w, 0, sizeof(*w));
    w->max_message = 1024 * 1024;
    w->ping_ms = 30000;
    w->pong_ms = 10000;
    w->compression = true;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void wsroute_free(wsroute_t *w)
{
    free_list(w->origins, w->norigins);
    free_list(w->protocols, w->nprotocols);
    w->origins = w->protocols = NULL;
    w->norigins = w->nprotocols = 0;
}

/* A comma-separated list into *list (replacing it); items must be tokens
 * (no spaces inside).  NULL, or what is wrong. */
static const char *parse_list(const char *v, char ***list, size_t *n)
{
    char **out = NULL;
    size_t count = 0;
    const char *p = v;

    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (p == start)
            break;
        for (const char *q = start; q < p; q++) {
            if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e) {
                free_list(out, count);
                return "list items must be printable ASCII without spaces";
            }
        }
        char **grown = realloc(out, (count + 1) * sizeof(*out));
        char *item = strndup(start, (size_t)(p - start));
        if (grown == NULL || item == NULL) {
            free(item);
            free_list(grown ? grown : out, count);
            return "out of memory";
        }
        out = grown;
        out[count++] = item;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != ',') {
            free_list(out, count);
            return "list items are separated by commas";
        }
    }
    free_list(*list, *n);
    *list = out;
    *n = count;
    return NULL;
}

static int set_duration(uint64_t *dst, const char *v, bool zero_ok, const char **err)
{
    int64_t ms = route_parse_duration(v);
    if (ms < 0 || (!zero_ok && ms == 0)) {
        *err = zero_ok ? "expected a duration (e.g. 30s, 500ms; 0: off)"
                       : "expected a duration above 0 (e.g. 10s, 500ms)";
        return -1;
    }
    *dst = (uint64_t)ms;
    return 0;
}

int wsroute_set(wsroute_t *w, const char *key, const char *value, const char **err)
{
    if (strcmp(key, "max_message") == 0) {
        int64_t n = route_parse_size(value);
        if (n < 1 || n > (int64_t)1024 * 1024 * 1024) {
            *err = "max_message must be a size from 1 to 1g";
            return -1;
        }
        w->max_message = (size_t)n;
    } else if (strcmp(key, "ping_interval") == 0) {
        return set_duration(&w->ping_ms, value, true, err);
    } else if (strcmp(key, "pong_timeout") == 0) {
        return set_duration(&w->pong_ms, value, false, err);
    } else if (strcmp(key, "origins") == 0) {
        if (strcmp(value, "*") == 0) {
            free_list(w->origins, w->norigins);
            w->origins = NULL;
            w->norigins = 0;
            return 0;
        }
        *err = parse_list(value, &w->origins, &w->norigins);
        if (*err == NULL && w->norigins == 0)
            *err = "origins must be * or a list of origins (https://example.com)";
        return *err ? -1 : 0;
    } else if (strcmp(key, "subprotocols") == 0) {
        *err = parse_list(value, &w->protocols, &w->nprotocols);
        return *err ? -1 : 0;
    } else if (strcmp(key, "compression") == 0) {
        int b = route_parse_bool(value);
        if (b < 0) {
            *err = "compression must be on or off";
            return -1;
        }
        w->compression = b;
    } else {
        return 1;
    }
    return 0;
}

bool wsroute_is_upgrade(const http_request_t *req)
{
    return req->hdr[HTTP_H_UPGRADE] != NULL;
}

int wsroute_accept(const route_t *r, const wsroute_t *w, http_conn_t *c,
                   const http_request_t *req, const char *const *extra, ws_config_t *cfg,
                   const char **protocol, bool *refused)
{
    const char *protos[32];
    size_t np = 0;
    ws_handshake_t hs;

    *refused = false;
    *protocol = NULL;
    for (size_t i = 0; i < w->nprotocols && np < 31; i++)
        protos[np++] = w->protocols[i];
    for (size_t i = 0; extra != NULL && extra[i] != NULL && np < 31; i++)
        protos[np++] = extra[i];
    ws_accept_policy_t pol = {.origins = (const char *const *)w->origins,
                              .norigins = w->norigins,
                              .protocols = protos,
                              .nprotocols = np};
    int status = ws_handshake_check(req, &pol, &hs);
    if (status == 426) {
        static const char body[] = "426 Upgrade Required: WebSocket version 13 only\n";
        http_response_start(c, 426);
        http_response_header_str(c, "Sec-WebSocket-Version", "13");
        route_headers(r, c);
        http_response_body(c, "text/plain; charset=utf-8", body, sizeof(body) - 1, NULL, NULL);
        *refused = true;
        return 0;
    }
    if (status != 0)
        return status;

    char ext[WS_DEFLATE_RESP_MAX];
    bool deflate = false;
    memset(cfg, 0, sizeof(*cfg));
    if (w->compression) {
        const char *vals[16];
        size_t lens[16];
        size_t nv = ws_header_values(req, "Sec-WebSocket-Extensions", vals, lens, 16);
        /* The server compresses without context (one shared compressor,
         * a message framed once for every subscriber) and asks the same of
         * the client (no inflate window kept per idle connection). */
        ws_deflate_params_t pref = {.server_no_context_takeover = true,
                                    .client_no_context_takeover = true,
                                    .server_max_window_bits = 15,
                                    .client_max_window_bits = 15};
        deflate = nv > 0 && ws_deflate_negotiate(vals, lens, nv < 16 ? nv : 16, &pref, &cfg->dp,
                                                 ext, sizeof(ext)) == 1;
    }
    const http_limits_t *lim = http_conn_limits(c);
    cfg->deflate = deflate;
    cfg->max_message = w->max_message;
    cfg->ping_ms = w->ping_ms;
    cfg->pong_ms = w->pong_ms;
    cfg->send_ms = lim->send_ms;
    cfg->close_ms = CLOSE_MS;

    http_response_start(c, 101);
    http_response_header_str(c, "Upgrade", "websocket");
    http_response_header_str(c, "Connection", "Upgrade");
    http_response_header_str(c, "Sec-WebSocket-Accept", hs.accept);
    if (hs.protocol >= 0) {
        *protocol = protos[hs.protocol];
        http_response_header_str(c, "Sec-WebSocket-Protocol", *protocol);
    }
    if (deflate)
        http_response_header_str(c, "Sec-WebSocket-Extensions", ext);
    route_headers(r, c);
    return 0;
}
