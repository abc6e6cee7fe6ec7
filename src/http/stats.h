/* Counters of the HTTP layer, read by the metrics route.  They are plain
 * globals bumped with a few increments on the paths they count: one
 * process serves from one thread, so no lock, no atomic and no allocation
 * is needed (each worker process will have its own and the master will
 * gather them).  The layers above only read them; the daemon bumps the
 * connection counters from its acceptor. */
#ifndef EDDY_HTTP_STATS_H
#define EDDY_HTTP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* Request-duration histogram: upper bounds in microseconds (the
 * Prometheus defaults, 5 ms to 10 s, with four finer buckets below them:
 * most answers from memory take well under a millisecond). */
#define HTTP_STATS_BUCKETS 16
extern const uint32_t http_stats_bucket_us[HTTP_STATS_BUCKETS];

/** One route's counters (route_t.stats), kept across reloads for as long
 *  as the process runs so that its counters never go back. */
typedef struct http_route_stats {
    struct http_route_stats *next; /* http_stats.routes */
    char *label;                   /* the route's match ("/static/") */
    uint64_t requests[6];          /* by status class: [1] 1xx ... [5] 5xx */
    /* Requests per bucket, not cumulative; [HTTP_STATS_BUCKETS]: above
     * the last bound (the renderer sums them into Prometheus buckets). */
    uint64_t duration[HTTP_STATS_BUCKETS + 1];
    uint64_t duration_us; /* sum */
} http_route_stats_t;

typedef struct http_stats {
    uint64_t conns_accepted;
    /* Times the acceptor found max_connections open and stopped accepting
     * (clients then wait in the kernel's backlog, none is refused). */
    uint64_t conns_at_limit;
    uint64_t bytes_in;  /* request bytes read (heads and bodies) */
    uint64_t bytes_out; /* response bytes the sockets took */
    /* Responses given before any route was chosen: 400, 404, 408... */
    http_route_stats_t unrouted;
    http_route_stats_t *routes; /* newest first */
} http_stats_t;

extern http_stats_t http_stats;

/** The counters of the route labelled label, created on first use; NULL
 *  without memory (its requests are then counted as unrouted). */
http_route_stats_t *http_stats_route(const char *label);
/** Frees every route's counters (at exit). */
void http_stats_free(void);

/** Counts the response being staged on c in st (the route's counters)
 *  instead of the unrouted ones: called when a route takes the request. */
void http_response_stats(http_conn_t *c, http_route_stats_t *st);

/** What connection task t is serving, for a stall report: "GET /path"
 *  of its current (or last) request into buf; 0 if t serves no
 *  connection of srv. */
int http_server_task_request(const http_server_t *srv, const eddy_task_t *t, char *buf, size_t len);

#endif
