#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/server.h"

/* Connection tasks have small stacks: their deepest path (parse, static
 * file, sendfile) stays under 16 KiB, so 64 KiB is generous and keeps
 * 10,000 connections under 2 GiB of address space (RSS: touched pages). */
#define CONN_STACK (64 * 1024)

typedef struct listener {
    struct listener *next;
    char *addr;
    eddy_stream_t *stream;
    eddy_task_t *acceptor;
} listener_t;

static struct server {
    http_server_t http; /* first: the HTTP layer's callbacks */
    const server_options_t *opts;
    config_t *cfg;      /* what new requests use */
    listener_t *listeners;
    eddy_sem_t slots;   /* max_connections */
    unsigned slots_total;
    eddy_group_t conns;
    int exit_code;
} srv;

/* ------------------------------------------------------- the HTTP server */

static http_site_t *site_acquire(http_server_t *h)
{
    config_ref(srv.cfg);
    return &srv.cfg->site;
}

static void site_release(http_server_t *h, http_site_t *site)
{
    config_unref((config_t *)site);
}

static void *on_log_begin(http_server_t *h, const http_request_t *req, int status,
                          uint64_t planned)
{
    (void)h;
    return log_access_begin(req, status, planned);
}

static void on_log_end(http_server_t *h, void *rec, uint64_t sent)
{
    (void)h;
    log_access_end(rec, sent);
}

static void on_refused(http_server_t *h, const char *peer, int status, const char *reason)
{
    (void)h;
    log_refused(peer, status, reason);
}

/* ---------------------------------------------------- connections, accept */

static int conn_task(void *arg)
{
    http_conn_serve(&srv.http, arg);
    eddy_sem_release(&srv.slots);
    return 0;
}

/* One per listener: a slot first, then a client.  At max_connections the
 * acceptor waits here and the kernel's backlog holds new clients. */
static int acceptor_task(void *arg)
{
    listener_t *l = arg;
    eddy_spawn_opts_t opts = {.name = "conn", .stack_size = CONN_STACK};

    for (;;) {
        eddy_stream_t *client;
        int rc = eddy_sem_acquire(&srv.slots);
        if (rc != 0)
            return rc;
        rc = eddy_accept(l->stream, &client);
        if (rc != 0) {
            eddy_sem_release(&srv.slots);
            if (rc == UV_ECANCELED || rc == EDDY_ECLOSED)
                return 0;
            log_msg(LOG_WARN, "accept on %s: %s", l->addr, eddy_strerror(rc));
            /* Out of descriptors: let connections close before retrying. */
            if (eddy_sleep(rc == UV_EMFILE || rc == UV_ENFILE ? 100 : 10) != 0)
                return 0;
            continue;
        }
        rc = eddy_group_spawn(&srv.conns, NULL, conn_task, client, &opts);
        if (rc != 0) {
            log_msg(LOG_ERROR, "cannot start a connection task: %s", eddy_strerror(rc));
            eddy_close(client);
            eddy_sem_release(&srv.slots);
        }
    }
}

static listener_t *find_listener(const char *addr)
{
    for (listener_t *l = srv.listeners; l != NULL; l = l->next) {
        if (strcmp(l->addr, addr) == 0)
            return l;
    }
    return NULL;
}

static int open_listener(const char *addr)
{
    listener_t *l = calloc(1, sizeof(*l));
    int rc;

    if (l == NULL || (l->addr = strdup(addr)) == NULL) {
        free(l);
        return UV_ENOMEM;
    }
    rc = eddy_listen(&l->stream, addr, 511);
    if (rc != 0) {
        log_msg(LOG_ERROR, "cannot listen on %s: %s", addr, eddy_strerror(rc));
        free(l->addr);
        free(l);
        return rc;
    }
    rc = eddy_spawn(&l->acceptor, acceptor_task, l, &(eddy_spawn_opts_t){.name = "acceptor"});
    if (rc != 0) {
        eddy_close(l->stream);
        free(l->addr);
        free(l);
        return rc;
    }
    l->next = srv.listeners;
    srv.listeners = l;
    log_msg(LOG_INFO, "listening on %s", addr);
    return 0;
}

static void close_listener(listener_t *l)
{
    listener_t **pp = &srv.listeners;
    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
    eddy_cancel(l->acceptor);
    eddy_join(l->acceptor, NULL);
    eddy_detach(l->acceptor);
    eddy_close(l->stream);
    log_msg(LOG_INFO, "stopped listening on %s", l->addr);
    free(l->addr);
    free(l);
}

/* ---------------------------------------------------------------- reload */

/* Takes a lowered max_connections out of circulation. */
static int hold_slots(void *arg)
{
    for (uintptr_t n = (uintptr_t)arg; n > 0; n--) {
        if (eddy_sem_acquire(&srv.slots) != 0)
            return 0;
    }
    return 0;
}

static void resize_slots(unsigned want)
{
    if (want > srv.slots_total) {
        for (unsigned i = srv.slots_total; i < want; i++)
            eddy_sem_release(&srv.slots);
    } else if (want < srv.slots_total) {
        eddy_spawn(NULL, hold_slots, (void *)(uintptr_t)(srv.slots_total - want), NULL);
    }
    srv.slots_total = want;
}

static void reload(void)
{
    config_errors_t errs = {0};
    config_t *cfg;

    log_msg(LOG_INFO, "SIGHUP: reloading %s", srv.opts->config_file ? srv.opts->config_file
                                                                    : "the embedded default");
    cfg = server_load_config(srv.opts, &errs);
    if (cfg == NULL) {
        for (size_t i = 0; i < errs.n; i++)
            log_msg(LOG_ERROR, "%s", errs.msg[i]);
        log_msg(LOG_ERROR, "reload failed: still serving the previous configuration");
        config_errors_free(&errs);
        return;
    }
    if (log_configure(cfg) != 0) {
        log_msg(LOG_ERROR, "reload failed: still serving the previous configuration");
        config_unref(cfg);
        return;
    }
    /* New listeners first, so a failure leaves the old set intact. */
    for (size_t i = 0; i < cfg->nlisten; i++) {
        if (find_listener(cfg->listen[i].addr) == NULL)
            open_listener(cfg->listen[i].addr);
    }
    for (listener_t *l = srv.listeners, *next; l != NULL; l = next) {
        bool keep = false;
        next = l->next;
        for (size_t i = 0; i < cfg->nlisten; i++)
            keep |= strcmp(cfg->listen[i].addr, l->addr) == 0;
        if (!keep)
            close_listener(l);
    }
    resize_slots(cfg->max_connections);
    /* Requests in flight keep their reference to the old config. */
    config_t *old = srv.cfg;
    srv.cfg = cfg;
    config_unref(old);
    log_msg(LOG_INFO, "configuration reloaded (%zu routes)", cfg->nroutes);
}

/* ----------------------------------------------------------- the main task */

static void shutdown_server(void)
{
    log_msg(LOG_INFO, "shutting down: %zu connections open", srv.http.nconns);
    while (srv.listeners != NULL)
        close_listener(srv.listeners);
    http_server_drain(&srv.http);

    /* In-flight requests finish within timeouts.shutdown; then the group
     * cancels what is left and waits for it to unwind. */
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, srv.cfg->shutdown_ms);
    eddy_group_wait(&srv.conns);
    if (eddy_timeout_leave(&scope) != 0)
        log_msg(LOG_WARN, "shutdown timeout: remaining connections were cancelled");
}

static int main_task(void *arg)
{
    static const int signums[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
    eddy_signal_t *sig;
    int rc;

    (void)arg;
    eddy_group_init(&srv.conns, EDDY_GROUP_SUPERVISE);
    eddy_sem_init(&srv.slots, srv.cfg->max_connections);
    srv.slots_total = srv.cfg->max_connections;
    rc = eddy_signal_open(&sig, signums, sizeof(signums) / sizeof(signums[0]));
    if (rc != 0) {
        log_msg(LOG_ERROR, "cannot catch signals: %s", eddy_strerror(rc));
        return 2;
    }
    if (log_start() != 0) {
        eddy_signal_close(sig);
        return 2;
    }
    for (size_t i = 0; i < srv.cfg->nlisten; i++) {
        if (open_listener(srv.cfg->listen[i].addr) != 0) {
            srv.exit_code = 2;
            break;
        }
    }
    while (srv.exit_code == 0) {
        int signum = eddy_signal_wait(sig);
        if (signum == SIGHUP) {
            reload();
        } else if (signum == SIGUSR1) {
            log_msg(LOG_INFO, "SIGUSR1: reopening log files");
            log_reopen();
        } else {
            if (signum > 0)
                log_msg(LOG_INFO, "%s received", signum == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    shutdown_server();
    eddy_signal_close(sig);
    log_msg(LOG_INFO, "exiting");
    log_stop();
    return srv.exit_code;
}

config_t *server_load_config(const server_options_t *opts, config_errors_t *errs)
{
    config_t *cfg = opts->config_file ? config_load(opts->config_file, errs) : config_default(errs);
    if (cfg != NULL && config_override(cfg, opts->listen, opts->nlisten, opts->root, errs) != 0) {
        config_unref(cfg);
        return NULL;
    }
    return cfg;
}

int server_run(const server_options_t *opts, config_t *cfg)
{
    memset(&srv, 0, sizeof(srv));
    srv.opts = opts;
    srv.cfg = cfg;
    srv.http.acquire = site_acquire;
    srv.http.release = site_release;
    srv.http.log_begin = on_log_begin;
    srv.http.log_end = on_log_end;
    srv.http.refused = on_refused;
    if (log_configure(cfg) != 0) {
        config_unref(cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = eddy_run(main_task, NULL);
    config_unref(srv.cfg);
    if (rc < 0) {
        log_msg(LOG_ERROR, "runtime: %s", eddy_strerror(rc));
        return 2;
    }
    return rc;
}
