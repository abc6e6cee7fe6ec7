/* What the WebSocket route types (echo, pubsub) share: their config keys
 * and the opening handshake, ending in a 101 and a session config. */
#ifndef EDDY_ROUTES_WSROUTE_H
#define EDDY_ROUTES_WSROUTE_H

#include "routes/route.h"
#include "websocket/session.h"

typedef struct wsroute {
    size_t max_message;
    uint64_t ping_ms, pong_ms;
    char **origins; /* NULL: any */
    size_t norigins;
    char **protocols; /* the server's, in preference order */
    size_t nprotocols;
    bool compression;
} wsroute_t;

/** The defaults: max_message 1m, ping 30s, pong 10s, any origin, no
 *  subprotocols, compression on. */
void wsroute_init(wsroute_t *w);
/** Takes a WebSocket key (route_type_t.set's contract): 0, 1 if key is not
 *  one, -1 with *err. */
int wsroute_set(wsroute_t *w, const char *key, const char *value, const char **err);
void wsroute_free(wsroute_t *w);
/** Whether the request asks for a WebSocket (an Upgrade header). */
bool wsroute_is_upgrade(const http_request_t *req);

/** The handshake: validates req, negotiates the subprotocol (the route's
 *  list, then extra — NULL-terminated — if not NULL) and permessage-deflate,
 *  stages the 101 with the route's headers, and fills *cfg.  Returns 0 with
 *  *protocol the selected name (NULL: none), or the HTTP status to answer
 *  (staging 426's Sec-WebSocket-Version itself; then it returns 0 with
 *  *refused set). */
int wsroute_accept(const route_t *r, const wsroute_t *w, http_conn_t *c,
                   const http_request_t *req, const char *const *extra, ws_config_t *cfg,
                   const char **protocol, bool *refused);

#endif
