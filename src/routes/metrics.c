/* type = metrics: the server's numbers in Prometheus text format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).  Names
 * start with eddy_ and end with their unit (_seconds, _bytes, _total for
 * counters).  GET and HEAD only; the route has no keys of its own. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http/stats.h"
#include "routes/metrics.h"
#include "routes/route.h"
#include "websocket/stats.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

void (*metrics_daemon_hook)(metrics_text_t *m);

/* ------------------------------------------------------------ the text */

static void put(metrics_text_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(metrics_text_t *m, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = m->cap - m->len;
        va_start(ap, fmt);
        int n = m->failed ? 0 : vsnprintf(m->buf + m->len, room, fmt, ap);
        va_end(ap);
        if (m->failed || n < 0) {
            m->failed = true;
            return;
        }
        if ((size_t)n < room) {
            m->len += (size_t)n;
            return;
        }
        size_t cap = m->cap ? m->cap * 2 : 8192;
        while (cap - m->len <= (size_t)n)
            cap *= 2;
        char *b = realloc(m->buf, cap);
        if (b == NULL) {
            m->failed = true;
            return;
        }
        m->buf = b;
        m->cap = cap;
    }
}

void metrics_family(metrics_text_t *m, const char *name, const char *type, const char *help)
{
    put(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(metrics_text_t *m, const char *name, const char *labels, double v)
{
    const char *base = m->labels ? m->labels : "";
    labels = labels ? labels : "";
    bool both = *base && *labels;
    /* Integers (counters, byte counts) print exactly below 10^15. */
    if (*base || *labels)
        put(m, "%s{%s%s%s} %.15g\n", name, base, both ? "," : "", labels, v);
    else
        put(m, "%s %.15g\n", name, v);
}

void metrics_counter(metrics_text_t *m, const char *name, const char *help, double v)
{
    metrics_family(m, name, "counter", help);
    metrics_sample(m, name, NULL, v);
}

void metrics_gauge(metrics_text_t *m, const char *name, const char *help, double v)
{
    metrics_family(m, name, "gauge", help);
    metrics_sample(m, name, NULL, v);
}

const char *metrics_escape(const char *v, char *buf, size_t len)
{
    size_t o = 0;
    for (; *v && o + 3 < len; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            buf[o++] = '\\';
            buf[o++] = *v == '\n' ? 'n' : *v;
        } else {
            buf[o++] = *v;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* ------------------------------------------------------------- families */

/* The route label of a block: its match, or "-" for requests no route
 * took. */
static const char *route_label(const http_route_stats_t *st, char *buf, size_t len)
{
    return st == &http_stats.unrouted ? "-" : metrics_escape(st->label, buf, len);
}

/* Every block, unrouted first; NULL after the last. */
static const http_route_stats_t *next_block(const http_route_stats_t *st)
{
    if (st == NULL)
        return &http_stats.unrouted;
    return st == &http_stats.unrouted ? http_stats.routes : st->next;
}

static void render_requests(metrics_text_t *m)
{
    char esc[256], labels[320];
    metrics_family(m, "eddy_http_requests_total", "counter",
                   "HTTP responses committed, by route (its match; - for none) and status class.");
    for (const http_route_stats_t *st = next_block(NULL); st != NULL; st = next_block(st)) {
        const char *route = route_label(st, esc, sizeof(esc));
        for (int cls = 1; cls <= 5; cls++) {
            snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%dxx\"", route, cls);
            metrics_sample(m, "eddy_http_requests_total", labels, (double)st->requests[cls]);
        }
    }
}

static void render_durations(metrics_text_t *m)
{
    char esc[256], labels[320];
    metrics_family(m, "eddy_http_request_duration_seconds", "histogram",
                   "Time from a request's first byte until its response was staged whole "
                   "(the sending after that is not included), by route.");
    for (const http_route_stats_t *st = next_block(NULL); st != NULL; st = next_block(st)) {
        const char *route = route_label(st, esc, sizeof(esc));
        uint64_t cum = 0;
        for (int b = 0; b <= HTTP_STATS_BUCKETS; b++) {
            cum += st->duration[b];
            if (b < HTTP_STATS_BUCKETS)
                snprintf(labels, sizeof(labels), "route=\"%s\",le=\"%g\"", route,
                         http_stats_bucket_us[b] / 1e6);
            else
                snprintf(labels, sizeof(labels), "route=\"%s\",le=\"+Inf\"", route);
            metrics_sample(m, "eddy_http_request_duration_seconds_bucket", labels, (double)cum);
        }
        snprintf(labels, sizeof(labels), "route=\"%s\"", route);
        metrics_sample(m, "eddy_http_request_duration_seconds_sum", labels, st->duration_us / 1e6);
        metrics_sample(m, "eddy_http_request_duration_seconds_count", labels, (double)cum);
    }
}

static void render_http(metrics_text_t *m)
{
    metrics_counter(m, "eddy_http_connections_accepted_total", "Client connections accepted.",
                    (double)http_stats.conns_accepted);
    metrics_counter(m, "eddy_http_connections_limit_reached_total",
                    "Times max_connections were open and accepting paused (new clients wait in "
                    "the listen backlog; none is refused).",
                    (double)http_stats.conns_at_limit);
    render_requests(m);
    render_durations(m);
    metrics_counter(m, "eddy_http_received_bytes_total", "Request bytes read.",
                    (double)http_stats.bytes_in);
    metrics_counter(m, "eddy_http_sent_bytes_total", "Response bytes the sockets took.",
                    (double)http_stats.bytes_out);
}

static void render_websocket(metrics_text_t *m)
{
    metrics_gauge(m, "eddy_websocket_sessions_open", "WebSocket sessions open.",
                  (double)ws_stats.sessions_open);
    metrics_counter(m, "eddy_websocket_sessions_total", "WebSocket sessions begun.",
                    (double)ws_stats.sessions_total);
    metrics_counter(m, "eddy_websocket_messages_received_total",
                    "WebSocket messages received from clients.", (double)ws_stats.messages_in);
    metrics_counter(m, "eddy_websocket_messages_sent_total", "WebSocket messages sent to clients.",
                    (double)ws_stats.messages_out);
    metrics_gauge(m, "eddy_pubsub_channels", "Pub/sub channels.", (double)pubsub_stats.channels);
    metrics_gauge(m, "eddy_pubsub_subscribers", "Pub/sub subscriptions.",
                  (double)pubsub_stats.subscribers);
    metrics_counter(m, "eddy_pubsub_published_total", "Pub/sub messages published.",
                    (double)pubsub_stats.published);
    metrics_counter(m, "eddy_pubsub_deliveries_total",
                    "Pub/sub messages handed to subscribers (one per subscriber).",
                    (double)pubsub_stats.deliveries);
    metrics_counter(m, "eddy_pubsub_queue_drops_total",
                    "Pub/sub messages dropped from a full subscriber queue.",
                    (double)pubsub_stats.queue_drops);
    metrics_counter(m, "eddy_pubsub_slow_consumer_disconnects_total",
                    "Pub/sub subscribers disconnected for not keeping up.",
                    (double)pubsub_stats.slow_disconnects);
}

/* Resident memory from /proc/self/statm (pages); -1 if unreadable. */
static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    int n = f ? fscanf(f, "%lu %lu", &size, &resident) : 0;
    if (f != NULL)
        fclose(f);
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

static void render_process(metrics_text_t *m)
{
    eddy_stats_t st;
    struct rusage ru;

    eddy_stats(&st);
    metrics_gauge(m, "eddy_runtime_tasks", "Tasks alive (one per connection, plus a few).",
                  (double)st.tasks_alive);
    metrics_gauge(m, "eddy_runtime_stacks_pooled", "Finished tasks' stacks kept for reuse.",
                  (double)st.stacks_pooled);
    metrics_counter(m, "eddy_loop_stalls_total",
                    "Task runs longer than stall_warn without yielding (each one logged).",
                    (double)st.stalls);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        metrics_counter(m, "eddy_process_cpu_seconds_total", "User and system CPU time.", cpu);
    }
    double rss = rss_bytes();
    if (rss >= 0)
        metrics_gauge(m, "eddy_process_resident_memory_bytes", "Resident memory.", rss);
}

/* ------------------------------------------------------------ the route */

static int metrics_set(route_t *r, const char *key, const char *value, const char **err)
{
    (void)r, (void)key, (void)value, (void)err;
    return 1;
}

static const char *metrics_check(route_t *r, char *buf, size_t len)
{
    (void)r, (void)buf, (void)len;
    return NULL;
}

void metrics_render(metrics_text_t *m)
{
    render_http(m);
    render_websocket(m);
    render_process(m);
    if (metrics_daemon_hook != NULL)
        metrics_daemon_hook(m);
}

/* One family's lines in one text: the HELP and TYPE lines, then its
 * samples up to the next family. */
typedef struct block {
    const char *name, *head, *samples;
    size_t name_len, head_len, samples_len;
    size_t text;
} block_t;

static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl + 1 : end;
}

/* Splits a text into its family blocks (appended to *bl). */
static int split_blocks(const char *t, size_t len, size_t text, block_t **bl, size_t *n,
                        size_t *cap)
{
    const char *p = t, *end = t + len;
    while (p < end) {
        if (end - p < 7 || memcmp(p, "# HELP ", 7) != 0) {
            p = line_end(p, end); /* a stray line: not ours, skipped */
            continue;
        }
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 64;
            block_t *g = realloc(*bl, c * sizeof(*g));
            if (g == NULL)
                return -1;
            *bl = g;
            *cap = c;
        }
        block_t *b = &(*bl)[(*n)++];
        b->text = text;
        b->name = p + 7;
        b->name_len = strcspn(b->name, " \n");
        b->head = p;
        p = line_end(p, end);
        if (end - p >= 7 && memcmp(p, "# TYPE ", 7) == 0)
            p = line_end(p, end);
        b->head_len = (size_t)(p - b->head);
        b->samples = p;
        while (p < end && !(end - p >= 7 && memcmp(p, "# HELP ", 7) == 0))
            p = line_end(p, end);
        b->samples_len = (size_t)(p - b->samples);
    }
    return 0;
}

void metrics_merge(const char *const *texts, const size_t *lens, size_t n, metrics_text_t *out)
{
    block_t *bl = NULL;
    size_t nb = 0, cap = 0;
    bool *done;

    for (size_t i = 0; i < n; i++) {
        if (split_blocks(texts[i], lens[i], i, &bl, &nb, &cap) != 0) {
            out->failed = true;
            free(bl);
            return;
        }
    }
    if ((done = calloc(nb + 1, sizeof(*done))) == NULL) {
        out->failed = true;
        free(bl);
        return;
    }
    for (size_t i = 0; i < nb; i++) {
        if (done[i])
            continue;
        put(out, "%.*s", (int)bl[i].head_len, bl[i].head);
        for (size_t j = i; j < nb; j++) {
            if (!done[j] && bl[j].name_len == bl[i].name_len &&
                memcmp(bl[j].name, bl[i].name, bl[i].name_len) == 0) {
                put(out, "%.*s", (int)bl[j].samples_len, bl[j].samples);
                done[j] = true;
            }
        }
    }
    free(done);
    free(bl);
}

int (*metrics_gather_hook)(metrics_text_t *m);

static int metrics_handle(route_t *r, http_conn_t *c, const http_request_t *req)
{
    metrics_text_t m = {.labels = ""};

    (void)req;
    if (metrics_gather_hook != NULL) {
        if (metrics_gather_hook(&m) != 0) {
            free(m.buf);
            return 503;
        }
    } else {
        metrics_render(&m);
    }
    if (m.failed) {
        free(m.buf);
        return 500;
    }
    http_response_start(c, 200);
    http_response_header_str(c, "Cache-Control", "no-store");
    route_headers(r, c);
    http_response_body(c, CONTENT_TYPE, m.buf, m.len, m.buf, free);
    return 0;
}

static const char *const metrics_own_headers[] = {"Content-Type", "Cache-Control", NULL};

const route_type_t route_metrics = {
    .name = "metrics",
    .own_headers = metrics_own_headers,
    .set = metrics_set,
    .check = metrics_check,
    .handle = metrics_handle,
};
