/* Routes: what answers a request.  A route type is a handler behind one
 * small interface; adding one means a file in this folder and a line in
 * the table in table.c.  The config parser knows route types only through
 * this interface, and the HTTP layer knows only http_handler_fn. */
#ifndef EDDY_ROUTE_H
#define EDDY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

typedef struct route route_t;

typedef struct route_type {
    const char *name;
    size_t state_size; /* bytes of private state allocated after the route */
    bool any_method;   /* else GET and HEAD only */
    /** Headers the type writes itself (NULL-terminated; NULL: none): a
     *  configured copy would appear twice, so `header =` refuses them. */
    const char *const *own_headers;
    /** Sets the defaults of a new route's state (NULL: zeroes will do). */
    void (*init)(route_t *r);
    /** Takes one key of the type's section: 0, 1 if the key is not the
     *  type's, -1 with *err set for a bad value. */
    int (*set)(route_t *r, const char *key, const char *value, const char **err);
    /** The section is complete: NULL, or what is wrong with it (in *buf). */
    const char *(*check)(route_t *r, char *buf, size_t len);
    /** The configuration it belongs to now serves (at start, after a
     *  reload that succeeded; never for a file that failed): what it shares
     *  beyond itself (a pub/sub hub's limits) takes its settings here, so
     *  that a failed reload changes nothing.  NULL: nothing to do. */
    void (*commit)(route_t *r);
    /** Stages the response (http_response_*): 0 or an error status. */
    int (*handle)(route_t *r, http_conn_t *c, const http_request_t *req);
    void (*free)(route_t *r);
} route_type_t;

struct route {
    const route_type_t *type;
    char *match; /* "/static/" */
    size_t match_len;
    bool exact;
    int line;      /* its section's line in the config */
    char *headers; /* extra response headers, "Name: value\r\n"... */
    size_t headers_len;
    unsigned omit; /* HTTP_OMIT_*: defaults the extra headers replace */
    void *state;   /* type->state_size bytes */
    /* Its counters (http/stats.h), set up by the daemon so that they
     * outlive reloads; NULL: counted with requests no route took. */
    struct http_route_stats *stats;
};

/** The route type called name, or NULL. */
const route_type_t *route_type_find(const char *name);
/** Space-separated names of every route type (for messages). */
const char *route_type_names(void);

/** A new route of type for match; NULL without memory. */
route_t *route_new(const route_type_t *type, const char *match, bool exact, int line);
/** Appends "Name: value" to the route's extra headers: NULL, or why it
 *  cannot be (malformed; a framing or hop-by-hop header the server alone
 *  may send; a second Server, Date or Content-Type). */
const char *route_add_header(route_t *r, const char *line);
void route_free(route_t *r);

/** The route for path: an exact match, else the longest prefix; NULL. */
route_t *route_find(route_t *const *routes, size_t n, const char *path, size_t len);

/** Dispatches a request to its route: 404, 405 with Allow, or the
 *  route's answer. */
int route_handle(route_t *const *routes, size_t n, http_conn_t *c, const http_request_t *req);

/** The route's extra headers, for its handler to add after the status. */
static inline void route_headers(const route_t *r, http_conn_t *c)
{
    if (r->headers_len)
        http_response_raw(c, r->headers, r->headers_len);
    if (r->omit)
        http_response_omit(c, r->omit);
}

/** Parses a status code in [lo, hi]; -1 if it is not one. */
int route_parse_status(const char *v, int lo, int hi);
/** A size with an optional k, m or g suffix (1024-based); -1 if malformed. */
int64_t route_parse_size(const char *v);
/** A duration in ms: a number with ms, s, m or h (bare: seconds); -1. */
int64_t route_parse_duration(const char *v);
/** Parses "on"/"off" (yes/no, true/false, 1/0); -1 if neither. */
int route_parse_bool(const char *v);

extern const route_type_t route_static, route_return, route_redirect, route_echo, route_pubsub;

/** Prometheus text of the server's numbers (routes/metrics.h). */
extern const route_type_t route_metrics;

/** Sets the body of a return route (the embedded welcome page). */
int route_return_set_body(route_t *r, const char *body, const char *content_type);

#endif
