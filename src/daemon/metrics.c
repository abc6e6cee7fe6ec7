/* Loop lag is measured the way Node's monitorEventLoopDelay does: a task
 * sleeps LAG_PERIOD_MS and notes how much later than asked it runs again;
 * everything that holds the loop (a stalled task, a long batch) shows in
 * that delay.  Exported: the latest delay and the largest of the last
 * LAG_WINDOW_MS, so that a scrape every 15 s still sees a spike. */
#include "config.h"

#include <stdlib.h>

#include "daemon/log.h"
#include "daemon/metrics.h"
#include "http/stats.h"
#include "routes/metrics.h"

#define LAG_PERIOD_MS 100
#define LAG_WINDOW_MS 30000

static struct {
    http_server_t *srv;
    unsigned max_connections;
    uint64_t stall_warn_ms;
    eddy_task_t *lag_task;
    uint64_t lag_ns;        /* the latest delay */
    uint64_t lag_max_ns[2]; /* the largest in this window and the last */
    uint64_t window_start;  /* uv_hrtime of this window's start */
    uint64_t test_stall_ms; /* EDDY_TEST_STALL: a scrape blocks the loop */
} mx;

void metrics_routes(config_t *cfg)
{
    for (size_t i = 0; i < cfg->nroutes; i++)
        cfg->routes[i]->stats = http_stats_route(cfg->routes[i]->match);
}

/* ---------------------------------------------------------- loop lag */

static void lag_sample(uint64_t ns)
{
    uint64_t now = uv_hrtime();
    if (now - mx.window_start >= (uint64_t)LAG_WINDOW_MS * 1000000) {
        mx.lag_max_ns[1] = mx.lag_max_ns[0];
        mx.lag_max_ns[0] = 0;
        mx.window_start = now;
    }
    mx.lag_ns = ns;
    if (ns > mx.lag_max_ns[0])
        mx.lag_max_ns[0] = ns;
}

static int lag_task(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t t0 = uv_hrtime();
        if (eddy_sleep(LAG_PERIOD_MS) != 0)
            return 0;
        uint64_t slept = uv_hrtime() - t0, asked = (uint64_t)LAG_PERIOD_MS * 1000000;
        lag_sample(slept > asked ? slept - asked : 0);
    }
}

/* ------------------------------------------------------------ stalls */

static void on_stall(eddy_task_t *t, uint64_t ms, void *arg)
{
    char req[300];
    const char *name = eddy_task_name(t);
    (void)arg;
    if (mx.srv != NULL && http_server_task_request(mx.srv, t, req, sizeof(req)))
        log_msg(LOG_WARN,
                "stall: task \"%s\" (%s) ran %llu ms without yielding (stall_warn %llu ms)",
                *name ? name : "(unnamed)", req, (unsigned long long)ms,
                (unsigned long long)mx.stall_warn_ms);
    else
        log_msg(LOG_WARN, "stall: task \"%s\" ran %llu ms without yielding (stall_warn %llu ms)",
                *name ? name : "(unnamed)", (unsigned long long)ms,
                (unsigned long long)mx.stall_warn_ms);
}

/* ------------------------------------------------------------ the hook */

/* Test builds and test runs only: EDDY_TEST_STALL=MS makes each scrape
 * spin MS ms before it renders, a task that blocks the loop on demand for
 * the stall detector's test.  Unset (production), it costs nothing. */
static void test_stall(void)
{
    uint64_t t0 = uv_hrtime();
    while (uv_hrtime() - t0 < mx.test_stall_ms * 1000000)
        ;
}

static void render(metrics_text_t *m)
{
    if (mx.test_stall_ms)
        test_stall();
    metrics_gauge(m, "eddy_http_connections_open", "Client connections open.",
                  mx.srv ? (double)mx.srv->nconns : 0);
    metrics_gauge(m, "eddy_http_connections_max", "max_connections of the configuration.",
                  (double)mx.max_connections);
    metrics_counter(m, "eddy_access_log_dropped_total",
                    "Access-log records dropped (the disk did not keep up, or failed).",
                    (double)log_dropped());
    metrics_gauge(m, "eddy_loop_lag_seconds",
                  "How late the loop ran a task due now (the latest of a sample every 100 ms).",
                  mx.lag_ns / 1e9);
    uint64_t max = mx.lag_max_ns[0] > mx.lag_max_ns[1] ? mx.lag_max_ns[0] : mx.lag_max_ns[1];
    metrics_gauge(m, "eddy_loop_lag_max_seconds", "The largest loop lag of the last 30 to 60 s.",
                  max / 1e9);
}

/* ------------------------------------------------------------ start, stop */

void metrics_configure(const config_t *cfg)
{
    mx.max_connections = cfg->max_connections;
    mx.stall_warn_ms = cfg->stall_warn_ms;
    eddy_stall_watch(cfg->stall_warn_ms, cfg->stall_warn_ms ? on_stall : NULL, NULL);
}

int metrics_start(http_server_t *srv, const config_t *cfg)
{
    const char *e = getenv("EDDY_TEST_STALL");
    mx.srv = srv;
    mx.test_stall_ms = e != NULL ? strtoull(e, NULL, 10) : 0;
    mx.window_start = uv_hrtime();
    metrics_daemon_hook = render;
    metrics_configure(cfg);
    return eddy_spawn(&mx.lag_task, lag_task, NULL, &(eddy_spawn_opts_t){.name = "loop-lag"});
}

void metrics_stop(void)
{
    if (mx.lag_task != NULL) {
        eddy_cancel(mx.lag_task);
        eddy_join(mx.lag_task, NULL);
        eddy_detach(mx.lag_task);
        mx.lag_task = NULL;
    }
    eddy_stall_watch(0, NULL, NULL);
    metrics_daemon_hook = NULL;
    mx.srv = NULL;
}
