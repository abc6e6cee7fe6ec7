/* The HTTP layer's counters: per-route blocks, and counting a response
 * when it is committed (its status is final then: a request refused after
 * its head, 413 on a chunked body say, has replaced the handler's). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/conn.h"
#include "http/stats.h"

const uint32_t http_stats_bucket_us[HTTP_STATS_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

http_stats_t http_stats;

http_route_stats_t *http_stats_route(const char *label)
{
    for (http_route_stats_t *st = http_stats.routes; st != NULL; st = st->next) {
        if (strcmp(st->label, label) == 0)
            return st;
    }
    http_route_stats_t *st = calloc(1, sizeof(*st));
    if (st == NULL || (st->label = strdup(label)) == NULL) {
        free(st);
        return NULL;
    }
    st->next = http_stats.routes;
    http_stats.routes = st;
    return st;
}

void http_stats_free(void)
{
    while (http_stats.routes != NULL) {
        http_route_stats_t *st = http_stats.routes;
        http_stats.routes = st->next;
        free(st->label);
        free(st);
    }
}

void http_response_stats(http_conn_t *c, http_route_stats_t *st)
{
    c->stats = st;
}

void http__stats_count(http_conn_t *c)
{
    http_route_stats_t *st = c->stats ? c->stats : &http_stats.unrouted;
    uint64_t us = c->req_start ? (uv_hrtime() - c->req_start) / 1000 : 0;
    unsigned cls = (unsigned)c->resp_status / 100;
    size_t b = 0;

    st->requests[cls < 6 ? cls : 0]++;
    while (b < HTTP_STATS_BUCKETS && us > http_stats_bucket_us[b])
        b++;
    st->duration[b]++;
    st->duration_us += us;
    c->stats = NULL;
    c->req_start = 0;
}

int http_server_task_request(const http_server_t *srv, const eddy_task_t *t, char *buf, size_t len)
{
    for (const http_conn_t *c = srv->conns; c != NULL; c = c->next) {
        if (c->task != t)
            continue;
        /* The path stays until the next request's head replaces it (a
         * takeover frees it). */
        if (c->head_done && c->path != NULL)
            snprintf(buf, len, "%s %s", llhttp_method_name((llhttp_method_t)c->parser.method),
                     c->path);
        else
            snprintf(buf, len, "-");
        return 1;
    }
    return 0;
}
