#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "daemon/log.h"
#include "daemon/memory.h"
#include "daemon/metrics.h"
#include "daemon/relay.h"
#include "daemon/sd.h"
#include "daemon/server.h"
#include "http/stats.h"

/* Connection tasks have small stacks: their deepest path (parse, static
 * file, sendfile) stays under 16 KiB, so 64 KiB is generous and keeps
 * 10,000 connections under 2 GiB of address space (RSS: touched pages). */
#define CONN_STACK (64 * 1024)

/* Addresses one listen name may resolve to (localhost: 127.0.0.1, ::1). */
#define LISTEN_MAX 16
/* Descriptors besides the connections': logs, listeners, the loop's own,
 * files being sent. */
#define FD_RESERVE 16

/* One listening socket: a name that resolves to several addresses has one
 * listener per address, all with the same addr. */
typedef struct listener {
    struct listener *next;
    char *addr;     /* as configured: what a reload compares */
    char bound[80]; /* the address bound, for the log */
    unsigned mode;  /* unix: the mode last set on the socket file */
    eddy_stream_t *stream;
    eddy_task_t *acceptor; /* NULL until accepting */
    bool passed;           /* from systemd: kept open for the process's life */
} listener_t;

static struct server {
    http_server_t http; /* first: the HTTP layer's callbacks */
    const server_options_t *opts;
    config_t *cfg; /* what new requests use */
    listener_t *listeners;
    eddy_sem_t slots; /* max_connections */
    unsigned slots_total;
    eddy_group_t conns;
    uint64_t nrequests; /* responses begun, for systemd's STATUS= */
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

static void *on_log_begin(http_server_t *h, const http_request_t *req)
{
    (void)h;
    srv.nrequests++;
    return log_access_begin(req);
}

static void on_log_end(http_server_t *h, void *rec, int status, uint64_t sent)
{
    (void)h;
    log_access_end(rec, status, sent);
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

/* Out of descriptors: one line a second at most, with the count. */
static void log_out_of_fds(const listener_t *l, int rc)
{
    struct rlimit rl;
    unsigned long long lim = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        lim = (unsigned long long)rl.rlim_cur;
    log_ratelimited(LOG_ERROR, "accept: out of descriptors",
                    "accept on %s: %s (RLIMIT_NOFILE %llu, %zu connections open): new "
                    "connections wait in the backlog until descriptors free up",
                    l->bound, eddy_strerror(rc), lim, srv.http.nconns);
}

/* One per listener: a slot first, then a client.  At max_connections the
 * acceptor waits here and the kernel's backlog holds new clients. */
static int acceptor_task(void *arg)
{
    listener_t *l = arg;
    eddy_spawn_opts_t opts = {.name = "conn", .stack_size = CONN_STACK};

    for (;;) {
        eddy_stream_t *client;
        if (srv.slots.value == 0)
            http_stats.conns_at_limit++;
        int rc = eddy_sem_acquire(&srv.slots);
        if (rc != 0)
            return rc;
        rc = eddy_accept(l->stream, &client);
        if (rc != 0) {
            eddy_sem_release(&srv.slots);
            if (rc == UV_ECANCELED || rc == EDDY_ECLOSED)
                return 0;
            bool nofd = rc == UV_EMFILE || rc == UV_ENFILE;
            if (nofd)
                log_out_of_fds(l, rc);
            else
                log_ratelimited(LOG_WARN, "accept", "accept on %s: %s", l->bound,
                                eddy_strerror(rc));
            /* Out of descriptors: the client waits in the backlog while
             * connections close (as nginx: no busy retrying meanwhile). */
            if (eddy_sleep(nofd ? 100 : 10) != 0)
                return 0;
            continue;
        }
        http_stats.conns_accepted++;
        rc = eddy_group_spawn(&srv.conns, NULL, conn_task, client, &opts);
        if (rc != 0) {
            log_msg(LOG_ERROR, "cannot start a connection task: %s", eddy_strerror(rc));
            eddy_close(client);
            eddy_sem_release(&srv.slots);
        }
    }
}

/* ------------------------------------------------------------- listeners */

static listener_t *find_listener(listener_t *list, const char *addr)
{
    for (listener_t *l = list; l != NULL; l = l->next) {
        if (strcmp(l->addr, addr) == 0)
            return l;
    }
    return NULL;
}

/* The address a TCP listener actually bound ("127.0.0.1:43817", "[::1]:80":
 * what port 0 picked, what a name resolved to); a Unix one's is its path. */
static void bound_address(eddy_stream_t *s, const char *addr, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    int port = eddy_stream_port(s);

    snprintf(buf, len, "%s", addr);
    if (port < 0 || getsockname(eddy_stream_fd(s), (struct sockaddr *)&ss, &sslen) != 0 ||
        uv_ip_name((struct sockaddr *)&ss, ip, sizeof(ip)) != 0)
        return;
    snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

static void listener_free(listener_t *l)
{
    if (l->acceptor != NULL) {
        eddy_cancel(l->acceptor);
        eddy_join(l->acceptor, NULL);
        eddy_detach(l->acceptor);
        log_msg(LOG_INFO, "stopped listening on %s", l->bound);
    }
    eddy_close(l->stream);
    free(l->addr);
    free(l);
}

static void listeners_free(listener_t **list)
{
    while (*list != NULL) {
        listener_t *l = *list;
        *list = l->next;
        listener_free(l);
    }
}

static int set_mode(listener_t *l, unsigned mode)
{
    if (mode == 0 || strncmp(l->addr, "unix:", 5) != 0)
        return 0;
    if (chmod(l->addr + 5, mode) != 0)
        return uv_translate_sys_error(errno);
    l->mode = mode;
    return 0;
}

/* Binds la (one listener per address a name resolves to) onto *list,
 * without accepting yet: 0 or an error, with nothing of la left open. */
static int listener_bind(listener_t **list, const listen_addr_t *la, int backlog)
{
    eddy_stream_t *s[LISTEN_MAX];
    int n = eddy_listen_all(s, LISTEN_MAX, la->addr, backlog);
    int rc = 0;

    for (int i = 0; i < n; i++) {
        listener_t *l = calloc(1, sizeof(*l));
        if (l == NULL || (l->addr = strdup(la->addr)) == NULL) {
            free(l);
            eddy_close(s[i]);
            rc = UV_ENOMEM;
            continue;
        }
        l->stream = s[i];
        bound_address(s[i], la->addr, l->bound, sizeof(l->bound));
        l->next = *list;
        *list = l;
        if (rc == 0)
            rc = set_mode(l, la->mode);
    }
    if (rc != 0) {
        /* The ones just pushed all carry la's address. */
        while (*list != NULL && strcmp((*list)->addr, la->addr) == 0) {
            listener_t *l = *list;
            *list = l->next;
            listener_free(l);
        }
    }
    return n < 0 ? n : rc;
}

/* Binds every address of cfg that no current listener has, onto *fresh:
 * 0, or an error described in why (the caller frees *fresh). */
static int bind_new(const config_t *cfg, int backlog, listener_t **fresh, char *why, size_t len)
{
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const listen_addr_t *la = &cfg->listen[i];
        if (find_listener(srv.listeners, la->addr) != NULL)
            continue;
        int rc = listener_bind(fresh, la, backlog);
        if (rc != 0) {
            snprintf(why, len, "cannot listen on %s: %s", la->addr, eddy_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------ systemd's sockets */

/* Names a passed listener after the listen entry of cfg that its address
 * matches (so that bind_new skips that entry), else after the address. */
static const listen_addr_t *passed_label(listener_t *l, const config_t *cfg)
{
    const listen_addr_t *la = sd_listen_match(eddy_stream_fd(l->stream), cfg);
    char *addr = strdup(la ? la->addr : l->bound);

    if (addr != NULL) {
        free(l->addr);
        l->addr = addr;
    }
    return la;
}

static void passed_relabel(const config_t *cfg)
{
    for (listener_t *l = srv.listeners; l != NULL; l = l->next) {
        if (l->passed)
            passed_label(l, cfg);
    }
}

/* Socket activation: adopts every socket systemd passed onto *list.  One
 * that no listen entry names is served anyway, with a warning: the socket
 * unit is the operator's word on what to listen on, and refusing it would
 * leave its clients queued for ever. */
static int passed_adopt(listener_t **list, char *why, size_t len)
{
    for (int i = 0; i < sd_listen_fds(); i++) {
        int fd = SD_LISTEN_FDS_START + i;
        listener_t *l = calloc(1, sizeof(*l));
        int rc = l != NULL ? eddy_listen_fd(&l->stream, fd) : UV_ENOMEM;
        if (rc != 0) {
            snprintf(why, len, "socket %d passed by systemd (%s): %s", fd, sd_listen_name(i),
                     rc == UV_EINVAL ? "not a listening stream socket" : eddy_strerror(rc));
            free(l);
            return rc;
        }
        l->passed = true;
        sd_socket_address(fd, l->bound, sizeof(l->bound));
        const listen_addr_t *la = passed_label(l, srv.cfg);
        l->next = *list;
        *list = l;
        if (l->addr == NULL) {
            snprintf(why, len, "socket %d passed by systemd: out of memory", fd);
            return UV_ENOMEM;
        }
        if (la == NULL)
            log_msg(LOG_WARN, "systemd passed %s (%s), which no listen entry names: serving it too",
                    l->bound, sd_listen_name(i));
        else
            log_msg(LOG_INFO, "listen %s: using the socket systemd passed (%s)", l->addr,
                    sd_listen_name(i));
    }
    return 0;
}

/* Starts an acceptor on each of fresh: 0 or an error described in why. */
static int start_acceptors(listener_t *fresh, char *why, size_t len)
{
    for (listener_t *l = fresh; l != NULL; l = l->next) {
        int rc =
            eddy_spawn(&l->acceptor, acceptor_task, l, &(eddy_spawn_opts_t){.name = "acceptor"});
        if (rc != 0) {
            l->acceptor = NULL;
            snprintf(why, len, "cannot start an acceptor for %s: %s", l->addr, eddy_strerror(rc));
            return rc;
        }
    }
    for (listener_t *l = fresh; l != NULL; l = l->next) {
        if (strcmp(l->addr, l->bound) == 0)
            log_msg(LOG_INFO, "listening on %s", l->addr);
        else
            log_msg(LOG_INFO, "listening on %s (%s)", l->addr, l->bound);
    }
    return 0;
}

/* listen(2)'s queue: the configured backlog, which the kernel silently caps
 * at net.core.somaxconn; say so rather than pretend. */
static int effective_backlog(const config_t *cfg)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int max = 0;

    if (f != NULL) {
        if (fscanf(f, "%d", &max) != 1)
            max = 0;
        fclose(f);
    }
    if (max > 0 && cfg->backlog > max) {
        log_msg(LOG_WARN,
                "backlog %d exceeds net.core.somaxconn (%d): using %d (raise the sysctl to "
                "allow more)",
                cfg->backlog, max, max);
        return max;
    }
    return cfg->backlog;
}

/* Each connection takes a descriptor: warn when max_connections cannot be
 * reached under RLIMIT_NOFILE (main has already raised it to the hard
 * limit), so that running out does not come as a surprise under load. */
static void check_fd_limit(const config_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t need = (rlim_t)cfg->max_connections + FD_RESERVE + cfg->nlisten;
    if (need > rl.rlim_cur)
        log_msg(LOG_WARN,
                "max_connections %u exceeds what the descriptor limit allows (RLIMIT_NOFILE "
                "%llu: about %lld connections); raise it (ulimit -n, LimitNOFILE=) or lower "
                "max_connections",
                cfg->max_connections, (unsigned long long)rl.rlim_cur,
                (long long)rl.rlim_cur - FD_RESERVE - (long long)cfg->nlisten);
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

/* What a reload reads: the file, or the embedded default plus -r/-l. */
static void describe_source(char *buf, size_t len)
{
    const server_options_t *o = srv.opts;
    int n = snprintf(buf, len, "%s", o->config_file ? o->config_file : "the embedded default");
    if (o->root != NULL && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, " with -r %s (static files at /, opened again)",
                      o->root);
    if (o->nlisten > 0 && n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "%s -l %s%s", o->root ? " and" : " with", o->listen[0],
                 o->nlisten > 1 ? " ..." : "");
}

/* The listeners cfg no longer names close; those it keeps take its mode
 * and backlog (listen(2) again only updates the queue length). */
static void update_listeners(const config_t *cfg, int backlog)
{
    for (listener_t *l = srv.listeners, *next; l != NULL; l = next) {
        const listen_addr_t *la = NULL;
        next = l->next;
        if (l->passed)
            continue; /* systemd's: served whatever the configuration says */
        for (size_t i = 0; i < cfg->nlisten && la == NULL; i++)
            la = strcmp(cfg->listen[i].addr, l->addr) == 0 ? &cfg->listen[i] : NULL;
        if (la == NULL) {
            listener_t **pp = &srv.listeners;
            while (*pp != l)
                pp = &(*pp)->next;
            *pp = l->next;
            listener_free(l);
            continue;
        }
        if (la->mode != l->mode && set_mode(l, la->mode) != 0)
            log_msg(LOG_WARN, "cannot set mode %o on %s: %s", la->mode, l->addr, strerror(errno));
        if (listen(eddy_stream_fd(l->stream), backlog) != 0)
            log_msg(LOG_WARN, "cannot set the backlog of %s: %s", l->addr, strerror(errno));
    }
}

/* A reload applies whole or not at all: the new listeners are bound and
 * the logs opened before anything of the running configuration changes,
 * and a failure undoes what was done so far. */
static bool reload(void)
{
    listener_t *fresh = NULL;
    char src[1024], why[512];
    config_t *cfg;

    describe_source(src, sizeof(src));
    log_msg(LOG_INFO, "SIGHUP: reloading %s", src);
    cfg = server_reload_config(srv.opts, src, "still serving the previous configuration");
    if (cfg == NULL)
        return false;
    int backlog = effective_backlog(cfg);
    passed_relabel(cfg);
    if (bind_new(cfg, backlog, &fresh, why, sizeof(why)) != 0)
        goto failed;
    if (log_configure(cfg) != 0) {
        snprintf(why, sizeof(why), "cannot open the logs (see above)");
        log_configure(srv.cfg); /* undo whatever part it switched */
        goto failed;
    }
    if (start_acceptors(fresh, why, sizeof(why)) != 0) {
        log_configure(srv.cfg);
        goto failed;
    }

    /* Committed.  Requests in flight keep their reference to the old
     * config; the new acceptors only run once the swap is done. */
    config_t *old = srv.cfg;
    srv.cfg = cfg;
    config_commit(cfg);
    resize_slots(cfg->max_connections);
    check_fd_limit(cfg);
    update_listeners(cfg, backlog);
    for (listener_t **pp = &fresh; *pp != NULL;) {
        listener_t *l = *pp;
        *pp = l->next;
        l->next = srv.listeners;
        srv.listeners = l;
    }
    config_unref(old);
    metrics_configure(cfg);
    log_msg(LOG_INFO, "configuration reloaded from %s (%zu routes)", src, cfg->nroutes);
    return true;

failed:
    listeners_free(&fresh);
    config_unref(cfg);
    log_msg(LOG_ERROR, "reload failed: %s; still serving the previous configuration", why);
    return false;
}

/* ----------------------------------------------------------- the main task */

/* keep_sessions (SIGQUIT: a reload's old worker retiring): WebSocket and
 * event-stream sessions run on until they end or timeouts.shutdown. */
static void shutdown_server(bool keep_sessions)
{
    log_msg(LOG_INFO, "shutting down: %zu connections open%s", srv.http.nconns,
            keep_sessions ? " (sessions may run on for timeouts.shutdown)" : "");
    listeners_free(&srv.listeners);
    /* A client accepted a moment ago that has not sent its request yet is
     * given a second for it by the drain (http/conn.c). */
    http_server_drain(&srv.http, keep_sessions);

    /* In-flight requests finish within timeouts.shutdown; then the group
     * cancels what is left and waits for it to unwind. */
    eddy_timeout_t scope;
    eddy_timeout_enter(&scope, srv.cfg->shutdown_ms);
    eddy_group_wait(&srv.conns);
    if (eddy_timeout_leave(&scope) != 0) {
        if (keep_sessions)
            log_msg(LOG_INFO, "timeouts.shutdown: the sessions left were closed (1001)");
        else
            log_msg(LOG_WARN, "shutdown timeout: remaining connections were cancelled");
    }
}

/* Start-up: every listener or none (exit code 2). */
static int start_listening(void)
{
    listener_t *fresh = NULL;
    char why[512];

    check_fd_limit(srv.cfg);
    /* systemd's sockets first: the entries they match are not bound. */
    if (passed_adopt(&srv.listeners, why, sizeof(why)) != 0 ||
        (!srv.opts->worker &&
         bind_new(srv.cfg, effective_backlog(srv.cfg), &fresh, why, sizeof(why)) != 0) ||
        start_acceptors(srv.listeners, why, sizeof(why)) != 0 ||
        start_acceptors(fresh, why, sizeof(why)) != 0) {
        log_msg(LOG_ERROR, "%s", why);
        listeners_free(&fresh);
        listeners_free(&srv.listeners);
        return 2;
    }
    while (fresh != NULL) {
        listener_t *l = fresh;
        fresh = l->next;
        l->next = srv.listeners;
        srv.listeners = l;
    }
    return 0;
}

static int main_task(void *arg)
{
    static const int signums[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    eddy_signal_t *sig;
    bool keep_sessions = false;
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
    /* A worker reads the pub/sub history from the master before it
     * accepts anybody. */
    if (srv.opts->relay_fd >= 0 && relay_worker_start(srv.opts->relay_fd) != 0)
        srv.exit_code = 2;
    if (srv.exit_code == 0)
        srv.exit_code = start_listening();
    memory_trim_start(&srv.http.nconns); /* helper "static": memory.c */
    if (srv.exit_code == 0 && metrics_start(&srv.http, srv.cfg) != 0)
        log_msg(LOG_WARN, "cannot start the loop-lag task: eddy_loop_lag_seconds stays 0");
    if (srv.exit_code == 0)
        sd_ready(&srv.http.nconns, &srv.nrequests);
    while (srv.exit_code == 0) {
        int signum = eddy_signal_wait(sig);
        if (signum == SIGHUP) {
            sd_reloading();
            sd_reloaded(reload());
        } else if (signum == SIGUSR1) {
            log_msg(LOG_INFO, "SIGUSR1: reopening log files");
            log_reopen();
        } else {
            if (signum > 0)
                log_msg(LOG_INFO, "%s received",
                        signum == SIGINT ? "SIGINT" : signum == SIGQUIT ? "SIGQUIT" : "SIGTERM");
            keep_sessions = signum == SIGQUIT;
            break;
        }
    }
    sd_stopping();
    shutdown_server(keep_sessions);
    relay_worker_stop();
    metrics_stop();
    sd_stop();
    eddy_signal_close(sig);
    log_msg(LOG_INFO, "exiting");
    log_stop();
    return srv.exit_code;
}

config_t *server_reload_config(const server_options_t *opts, const char *src, const char *still)
{
    config_errors_t errs = {0};
    config_t *cfg = server_load_config(opts, &errs);
    if (cfg == NULL) {
        for (size_t i = 0; i < errs.n; i++)
            log_msg(LOG_ERROR, "%s", errs.msg[i]);
        log_msg(LOG_ERROR, "reload failed: %zu error%s in %s; %s", errs.n, errs.n == 1 ? "" : "s",
                src, still);
        config_errors_free(&errs);
    }
    return cfg;
}

config_t *server_load_config(const server_options_t *opts, config_errors_t *errs)
{
    config_t *cfg = opts->config_file ? config_load(opts->config_file, errs) : config_default(errs);
    if (cfg != NULL && config_override(cfg, opts->listen, opts->nlisten, opts->root, errs) != 0) {
        config_unref(cfg);
        return NULL;
    }
    if (cfg != NULL)
        metrics_routes(cfg);
    return cfg;
}

int server_run(const server_options_t *opts, config_t *cfg)
{
    memset(&srv, 0, sizeof(srv));
    srv.opts = opts;
    srv.cfg = cfg;
    config_commit(cfg);
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
    http_stats_free();
    if (rc < 0) {
        log_msg(LOG_ERROR, "runtime: %s", eddy_strerror(rc));
        return 2;
    }
    return rc;
}
