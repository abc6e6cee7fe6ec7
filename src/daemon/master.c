#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* sched_getaffinity, CPU_COUNT, struct ucred */
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/master.h"
#include "daemon/relay.h"
#include "daemon/sd.h"
#include "daemon/spawn.h"

/* Listeners handed to a worker, at most. */
#define LISTEN_FDS_MAX 256
/* Restart back-off: doubling from the first to the last, and back to the
 * first once a worker has lived RESET_MS (it was not crash-looping). */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define BACKOFF_RESET_MS 10000
/* How long a new generation may take to say READY=1. */
#define START_MS 30000
/* Beyond timeouts.shutdown, what workers get to exit before SIGKILL. */
#define KILL_GRACE_MS 2000
#define POLL_MS 10
/* Workers ping the master (WATCHDOG=1) every half of this; one silent for
 * all of it has a stuck loop and is killed, then restarted.  The
 * environment variable EDDY_WORKER_WATCHDOG_MS overrides it (tests). */
#define WORKER_WATCHDOG_MS 20000
#define LISTEN_MAX 16

typedef struct mlistener {
    struct mlistener *next;
    char *addr; /* the listen entry it serves (a passed one's own address if none) */
    eddy_stream_t *stream;
    bool passed; /* from systemd: served for the master's life */
} mlistener_t;

typedef struct worker {
    struct worker *next;
    pid_t pid;           /* 0 while waiting to be restarted */
    unsigned gen, slot;  /* generation (one per reload) and number in it */
    uint64_t started_ms; /* eddy_now() at fork */
    uint64_t backoff_ms; /* the next restart's delay */
    uint64_t ping_ms;    /* its last WATCHDOG=1 (or start) */
    bool ready;          /* it said READY=1 */
    bool stopping;       /* it said STOPPING=1: it accepts no more */
    size_t nconns;       /* from its last STATUS= */
} worker_t;

static struct master {
    const server_options_t *opts;
    char **argv;
    char exe[4096]; /* this binary, for the workers */
    config_t *cfg;
    int conf_fd; /* cfg's file as checked (snapshot), or -1 */
    mlistener_t *listeners;
    worker_t *workers;
    unsigned gen, n;    /* the serving generation and its size */
    unsigned last_gen;  /* the newest generation started */
    unsigned launching; /* a generation being started, else 0 */
    bool launch_failed; /* one of it died before READY=1 */
    bool stopping;
    int notify_fd;
    bool polling;
    uv_poll_t poll;
    char notify_name[64]; /* "@" and the kernel-chosen abstract name */
    uint64_t watchdog_ms; /* the workers' (WORKER_WATCHDOG_MS) */
    size_t nconns;        /* the workers' sum, for systemd's STATUS= */
    uint64_t nrequests;
} m;

bool master_is_worker(server_options_t *opts)
{
    static char path[64];
    const char *fd = getenv(SPAWN_CONFIG_FD_ENV);
    const char *relay = getenv(SPAWN_RELAY_FD_ENV);
    bool worker = getenv(SPAWN_WORKER_ENV) != NULL;

    opts->relay_fd = worker && relay != NULL && *relay != '\0' ? atoi(relay) : -1;

    if (worker && fd != NULL && *fd != '\0' && opts->config_file != NULL) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", atoi(fd));
        opts->config_file = path;
    }
    unsetenv(SPAWN_WORKER_ENV);
    unsetenv(SPAWN_CONFIG_FD_ENV);
    unsetenv(SPAWN_RELAY_FD_ENV);
    return worker;
}

unsigned master_workers(const config_t *cfg)
{
    cpu_set_t set;
    long n;

    if (cfg->workers != 0)
        return cfg->workers;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ------------------------------------------------------------- listeners */

static mlistener_t *listener_find(const char *addr)
{
    for (mlistener_t *l = m.listeners; l != NULL; l = l->next) {
        if (strcmp(l->addr, addr) == 0)
            return l;
    }
    return NULL;
}

static int listener_add(mlistener_t **list, eddy_stream_t *s, const char *addr, bool passed)
{
    mlistener_t *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->addr = strdup(addr)) == NULL) {
        free(l);
        eddy_close(s);
        return UV_ENOMEM;
    }
    l->stream = s;
    l->passed = passed;
    l->next = *list;
    *list = l;
    return 0;
}

static void listeners_close(mlistener_t **list)
{
    while (*list != NULL) {
        mlistener_t *l = *list;
        *list = l->next;
        eddy_close(l->stream);
        free(l->addr);
        free(l);
    }
}

static bool cfg_names(const config_t *cfg, const char *addr)
{
    for (size_t i = 0; i < cfg->nlisten; i++) {
        if (strcmp(cfg->listen[i].addr, addr) == 0)
            return true;
    }
    return false;
}

/* Socket activation: the master takes systemd's sockets, as a single
 * process would, and hands them on to every worker. */
static int adopt_passed(void)
{
    for (int i = 0; i < sd_listen_fds(); i++) {
        int fd = SD_LISTEN_FDS_START + i;
        eddy_stream_t *s;
        char addr[128];
        int rc = eddy_listen_fd(&s, fd);
        if (rc != 0) {
            log_msg(LOG_ERROR, "socket %d passed by systemd (%s): %s", fd, sd_listen_name(i),
                    eddy_strerror(rc));
            return rc;
        }
        const listen_addr_t *la = sd_listen_match(fd, m.cfg);
        sd_socket_address(fd, addr, sizeof(addr));
        if ((rc = listener_add(&m.listeners, s, la ? la->addr : addr, true)) != 0)
            return rc;
        log_msg(LOG_INFO, "listen %s: using the socket systemd passed (%s)", la ? la->addr : addr,
                sd_listen_name(i));
    }
    return 0;
}

/* Binds every address of cfg that no listener serves yet onto *fresh: 0
 * or an error (logged; the caller closes *fresh). */
static int bind_new(const config_t *cfg, mlistener_t **fresh)
{
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const listen_addr_t *la = &cfg->listen[i];
        eddy_stream_t *s[LISTEN_MAX];
        if (listener_find(la->addr) != NULL)
            continue;
        int n = eddy_listen_all(s, LISTEN_MAX, la->addr, cfg->backlog);
        if (n < 0) {
            log_msg(LOG_ERROR, "cannot listen on %s: %s", la->addr, eddy_strerror(n));
            return n;
        }
        if (la->mode != 0 && strncmp(la->addr, "unix:", 5) == 0 && chmod(la->addr + 5, la->mode))
            log_msg(LOG_WARN, "cannot set mode %o on %s: %s", la->mode, la->addr, strerror(errno));
        for (int j = 0; j < n; j++) {
            if (listener_add(fresh, s[j], la->addr, false) != 0) {
                while (++j < n)
                    eddy_close(s[j]);
                return UV_ENOMEM;
            }
        }
        log_msg(LOG_INFO, "listening on %s (master, for the workers)", la->addr);
    }
    return 0;
}

static void listeners_splice(mlistener_t **fresh)
{
    while (*fresh != NULL) {
        mlistener_t *l = *fresh;
        *fresh = l->next;
        l->next = m.listeners;
        m.listeners = l;
    }
}

/* Once no worker of an older generation is left, the listeners the
 * configuration dropped close: nobody accepts on them any more. */
static void close_dropped(void)
{
    for (worker_t *w = m.workers; w != NULL; w = w->next) {
        if (w->gen != m.gen)
            return;
    }
    for (mlistener_t **pp = &m.listeners; *pp != NULL;) {
        mlistener_t *l = *pp;
        if (l->passed || cfg_names(m.cfg, l->addr)) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        log_msg(LOG_INFO, "stopped listening on %s", l->addr);
        eddy_close(l->stream);
        free(l->addr);
        free(l);
    }
}

/* ---------------------------------------------------------------- workers */

/* Forks and execs one worker of w's generation with the listeners cfg
 * names (and systemd's): 0 or an error. */
static int worker_start(worker_t *w)
{
    int fds[LISTEN_FDS_MAX], relay[2];
    spawn_args_t a = {.exe = m.exe,
                      .argv = m.argv,
                      .fds = fds,
                      .conf_fd = m.conf_fd,
                      .notify = m.notify_name,
                      .watchdog_ms = m.watchdog_ms};
    pid_t pid;
    int rc;

    if ((rc = relay_pair(relay)) != 0) {
        log_msg(LOG_ERROR, "cannot start worker %u: its relay: %s", w->slot, eddy_strerror(rc));
        return rc;
    }
    a.relay_fd = relay[1];

    for (mlistener_t *l = m.listeners; l != NULL && a.nfds < LISTEN_FDS_MAX; l = l->next) {
        if (l->passed || cfg_names(m.cfg, l->addr))
            fds[a.nfds++] = eddy_stream_fd(l->stream);
    }
    rc = spawn_worker(&a, &pid);
    close(relay[1]);
    if (rc != 0) {
        close(relay[0]);
        log_msg(LOG_ERROR, "cannot start worker %u: %s", w->slot, eddy_strerror(rc));
        return rc;
    }
    /* Pub/sub and metrics through the master: the worker reads the
     * history first, so it is queued before the worker could publish. */
    if ((rc = relay_master_add(relay[0], pid, w->slot, w->gen)) != 0) {
        log_msg(LOG_ERROR, "cannot serve the relay of worker %u: %s", w->slot, eddy_strerror(rc));
        kill(pid, SIGKILL);
    }
    w->pid = pid;
    w->ready = w->stopping = false;
    w->nconns = 0;
    w->started_ms = w->ping_ms = eddy_now();
    log_msg(LOG_INFO, "started worker %u (pid %d, generation %u)", w->slot, (int)pid, w->gen);
    return 0;
}

static worker_t *worker_new(unsigned gen, unsigned slot)
{
    worker_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->gen = gen;
    w->slot = slot;
    w->backoff_ms = BACKOFF_FIRST_MS;
    w->next = m.workers;
    m.workers = w;
    return w;
}

static void worker_remove(worker_t *w)
{
    for (worker_t **pp = &m.workers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            free(w);
            return;
        }
    }
}

static void signal_gen(unsigned gen, bool all_but, int signum)
{
    for (worker_t *w = m.workers; w != NULL; w = w->next) {
        if (w->pid > 0 && (w->gen == gen) != all_but)
            kill(w->pid, signum);
    }
}

static size_t count_alive(void)
{
    size_t n = 0;
    for (worker_t *w = m.workers; w != NULL; w = w->next)
        n += w->pid > 0;
    return n;
}

/* Sleeps the back-off, then starts the worker again, unless a reload or
 * the shutdown has made it unwanted meanwhile. */
static int restart_task(void *arg)
{
    worker_t *w = arg;
    uint64_t delay = w->backoff_ms;

    w->backoff_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    if (eddy_sleep(delay) != 0 || m.stopping || w->gen != m.gen || worker_start(w) != 0) {
        worker_remove(w);
        close_dropped();
    }
    return 0;
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

static void on_exit_of(worker_t *w, int status)
{
    uint64_t lived = eddy_now() - w->started_ms;
    char how[128];

    describe_exit(status, how, sizeof(how));
    w->pid = 0;
    if (m.stopping || w->gen != m.gen || (w->gen == m.launching && !w->ready)) {
        if (w->gen == m.launching && !w->ready && !m.stopping) {
            log_msg(LOG_ERROR, "worker %u of the new generation %s before it was ready", w->slot,
                    how);
            m.launch_failed = true;
        } else {
            log_msg(LOG_INFO, "worker %u (generation %u) %s", w->slot, w->gen, how);
        }
        worker_remove(w);
        close_dropped();
        return;
    }
    if (lived >= BACKOFF_RESET_MS)
        w->backoff_ms = BACKOFF_FIRST_MS;
    log_msg(LOG_ERROR, "worker %u %s after %llu ms; restarting it in %llu ms", w->slot, how,
            (unsigned long long)lived, (unsigned long long)w->backoff_ms);
    if (eddy_spawn(NULL, restart_task, w, &(eddy_spawn_opts_t){.name = "restart"}) != 0)
        worker_remove(w);
}

static void reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (worker_t *w = m.workers; w != NULL; w = w->next) {
            if (w->pid == pid) {
                on_exit_of(w, status);
                break;
            }
        }
    }
}

static int reaper_task(void *arg)
{
    eddy_signal_t *sig = arg;
    while (eddy_signal_wait(sig) > 0)
        reap();
    return 0;
}

/* ----------------------------------------------- what workers tell us */

/* The master's own systemd watchdog pings come from its loop (sd.c); this
 * task on the same loop checks that each worker's loop still runs: a
 * worker that stopped pinging is killed, and restarted by the reaper. */
static int health_task(void *arg)
{
    (void)arg;
    while (eddy_sleep(m.watchdog_ms / 4 + 1) == 0) {
        uint64_t now = eddy_now();
        for (worker_t *w = m.workers; w != NULL; w = w->next) {
            if (w->pid <= 0 || !w->ready || now - w->ping_ms <= m.watchdog_ms)
                continue;
            log_msg(LOG_ERROR, "worker %u (pid %d) sent no watchdog ping for %llu ms: killing it",
                    w->slot, (int)w->pid, (unsigned long long)(now - w->ping_ms));
            kill(w->pid, SIGKILL);
            w->ping_ms = now; /* once: the reaper takes it from here */
        }
    }
    return 0;
}

static worker_t *worker_by_pid(pid_t pid)
{
    for (worker_t *w = m.workers; w != NULL; w = w->next) {
        if (w->pid == pid)
            return w;
    }
    return NULL;
}

/* A worker's STATUS= line: its open connections, and its request rate
 * over its last report, which sd.c sends every 3 s; the master's own
 * STATUS= shows the sums (the rate as the requests of those 3 s). */
static void on_status(worker_t *w, const char *line)
{
    size_t n;
    double rate = 0;

    if (sscanf(line, "STATUS=%*[^:]: %zu connections, %lf requests/s", &n, &rate) < 1)
        return;
    w->nconns = n;
    m.nrequests += (uint64_t)(rate * 3 + 0.5);
    m.nconns = 0;
    for (worker_t *v = m.workers; v != NULL; v = v->next)
        m.nconns += v->nconns;
}

static void on_notice(worker_t *w, char *msg)
{
    for (char *line = strtok(msg, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strcmp(line, "READY=1") == 0)
            w->ready = true;
        else if (strcmp(line, "STOPPING=1") == 0)
            w->stopping = true;
        else if (strcmp(line, "WATCHDOG=1") == 0)
            w->ping_ms = eddy_now();
        else if (strncmp(line, "STATUS=", 7) == 0)
            on_status(w, line);
    }
}

/* The notify socket's datagrams, with the sender's pid from the kernel
 * (SO_PASSCRED), so that a worker cannot speak for another. */
static void on_notify_readable(uv_poll_t *p, int status, int events)
{
    char buf[1024], cbuf[CMSG_SPACE(sizeof(struct ucred))];
    (void)p, (void)status, (void)events;

    for (;;) {
        struct iovec iov = {buf, sizeof(buf) - 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t len = recvmsg(m.notify_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (len < 0)
            return;
        buf[len] = '\0';
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                worker_t *w = worker_by_pid(cred.pid);
                if (w != NULL)
                    on_notice(w, buf);
            }
        }
    }
}

/* The workers' NOTIFY_SOCKET: an abstract datagram socket with a name the
 * kernel picks (autobind: unique, nothing to clean up).  Anyone in the
 * network namespace may write to it; only our workers' pids are heard. */
static int notify_open(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len = sizeof(sun);
    int on = 1, rc;

    m.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m.notify_fd < 0 || setsockopt(m.notify_fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0 ||
        bind(m.notify_fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) != 0 ||
        getsockname(m.notify_fd, (struct sockaddr *)&sun, &len) != 0) {
        rc = uv_translate_sys_error(errno);
        log_msg(LOG_ERROR, "cannot open the workers' notify socket: %s", eddy_strerror(rc));
        return rc;
    }
    len -= (socklen_t)offsetof(struct sockaddr_un, sun_path);
    if (len < 2 || len >= sizeof(m.notify_name)) {
        log_msg(LOG_ERROR, "cannot open the workers' notify socket: unexpected name");
        return UV_EINVAL;
    }
    m.notify_name[0] = '@';
    memcpy(m.notify_name + 1, sun.sun_path + 1, len - 1);
    m.notify_name[len] = '\0';
    rc = uv_poll_init(eddy_loop(), &m.poll, m.notify_fd);
    m.polling = rc == 0;
    if (rc == 0)
        rc = uv_poll_start(&m.poll, UV_READABLE, on_notify_readable);
    if (rc != 0) {
        log_msg(LOG_ERROR, "cannot poll the workers' notify socket: %s", eddy_strerror(rc));
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ generations */

/* Starts generation gen of n workers and waits until each said READY=1:
 * true, or false (what is left of it killed) if one died first, could
 * not start or took longer than START_MS. */
static bool launch(unsigned gen, unsigned n)
{
    uint64_t deadline = eddy_now() + START_MS;
    bool ok = true;

    m.launching = gen;
    m.launch_failed = false;
    for (unsigned i = 1; i <= n && ok; i++) {
        worker_t *w = worker_new(gen, i);
        ok = w != NULL && worker_start(w) == 0;
        if (w != NULL && !ok)
            worker_remove(w);
    }
    while (ok && !m.launch_failed && !m.stopping) {
        unsigned ready = 0;
        for (worker_t *w = m.workers; w != NULL; w = w->next)
            ready += w->gen == gen && w->ready;
        if (ready == n)
            break;
        if (eddy_now() > deadline) {
            log_msg(LOG_ERROR, "workers of generation %u not ready after %d ms", gen, START_MS);
            ok = false;
        } else if (eddy_sleep(POLL_MS) != 0) {
            ok = false;
        }
    }
    ok = ok && !m.launch_failed && !m.stopping;
    if (!ok)
        signal_gen(gen, false, SIGKILL);
    else
        log_msg(LOG_INFO, "generation %u: %u workers ready", gen, n);
    m.launching = 0;
    return ok;
}

/* Until every worker of an older generation has stopped accepting (said
 * STOPPING=1, or is gone): from then on only the new configuration
 * answers new connections, which is what READY=1 after a reload means. */
static void wait_old_stopping(void)
{
    uint64_t deadline = eddy_now() + START_MS;

    while (eddy_now() < deadline) {
        bool accepting = false;
        for (worker_t *w = m.workers; w != NULL; w = w->next)
            accepting |= w->gen != m.gen && w->pid > 0 && !w->stopping;
        if (!accepting || eddy_sleep(POLL_MS) != 0)
            return;
    }
}

/* SIGHUP: the new configuration is checked, its new listeners bound and a
 * new generation started before the old one is told to drain, so that
 * some worker accepts at every moment.  A failure changes nothing. */
static bool reload(void)
{
    mlistener_t *fresh = NULL;
    const char *src = m.opts->config_file ? m.opts->config_file : "the embedded default";
    config_t *cfg;

    log_msg(LOG_INFO, "SIGHUP: reloading %s (master: a new generation of workers)", src);
    cfg = server_reload_config(m.opts, src,
                               "the workers keep serving the previous configuration");
    if (cfg == NULL)
        return false;
    if (bind_new(cfg, &fresh) != 0 || log_configure(cfg) != 0) {
        log_configure(m.cfg);
        goto failed;
    }
    listeners_splice(&fresh);
    config_t *old = m.cfg;
    m.cfg = cfg;
    int old_fd = m.conf_fd;
    m.conf_fd = spawn_snapshot(m.opts->config_file);
    if (!launch(++m.last_gen, master_workers(cfg))) {
        /* Back to the old configuration; the listeners only the new one
         * named close once the failed generation is reaped. */
        m.cfg = old;
        if (m.conf_fd >= 0)
            close(m.conf_fd);
        m.conf_fd = old_fd;
        log_configure(old);
        close_dropped();
        goto failed_after;
    }
    m.gen = m.last_gen;
    m.n = master_workers(cfg);
    config_commit(cfg);
    relay_master_generation(m.gen);
    /* SIGQUIT: the old workers finish their requests and keep their
     * WebSocket and event-stream sessions until they end (or
     * timeouts.shutdown): a reload cuts no subscriber off. */
    signal_gen(m.gen, true, SIGQUIT);
    wait_old_stopping();
    config_unref(old);
    if (old_fd >= 0)
        close(old_fd);
    log_msg(LOG_INFO,
            "configuration reloaded from %s: %u workers of generation %u serving (%zu "
            "routes); the previous generation drains",
            src, m.n, m.gen, cfg->nroutes);
    close_dropped();
    return true;

failed:
    listeners_close(&fresh);
failed_after:
    config_unref(cfg);
    log_msg(LOG_ERROR, "reload failed; the workers keep serving the previous configuration");
    return false;
}

/* SIGTERM/SIGINT (SIGQUIT: sessions kept, see server.c): every worker
 * drains (its own timeouts.shutdown), and whatever is left after that and
 * a grace is killed. */
static void shutdown_workers(int signum)
{
    uint64_t deadline = eddy_now() + m.cfg->shutdown_ms + KILL_GRACE_MS;

    m.stopping = true;
    log_msg(LOG_INFO, "shutting down: %zu workers drain", count_alive());
    signal_gen(0, true, signum == SIGQUIT ? SIGQUIT : SIGTERM);
    while (count_alive() > 0 && eddy_now() < deadline && eddy_sleep(POLL_MS) == 0)
        reap(); /* the reaper does too: this does not depend on SIGCHLD */
    if (count_alive() > 0) {
        log_msg(LOG_WARN, "shutdown timeout: killing %zu workers", count_alive());
        signal_gen(0, true, SIGKILL);
        while (count_alive() > 0 && eddy_sleep(POLL_MS) == 0)
            reap();
    }
}

/* Until a signal to stop: which one. */
static int serve(eddy_signal_t *sig)
{
    for (;;) {
        int signum = eddy_signal_wait(sig);
        if (signum == SIGHUP) {
            sd_reloading();
            sd_reloaded(reload());
        } else if (signum == SIGUSR1) {
            log_msg(LOG_INFO, "SIGUSR1: reopening log files (and the workers')");
            log_reopen();
            signal_gen(0, true, SIGUSR1);
        } else {
            if (signum > 0)
                log_msg(LOG_INFO, "%s received",
                        signum == SIGINT ? "SIGINT" : signum == SIGQUIT ? "SIGQUIT" : "SIGTERM");
            return signum;
        }
    }
}

static void stop_task(eddy_task_t *t)
{
    if (t != NULL) {
        eddy_cancel(t);
        eddy_join(t, NULL);
        eddy_detach(t);
    }
}

static int master_task(void *arg)
{
    static const int signums[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    static const int chld[] = {SIGCHLD};
    eddy_signal_t *sig = NULL, *sigchld = NULL;
    eddy_task_t *reaper = NULL, *health = NULL;
    mlistener_t *fresh = NULL;
    int rc = 2;

    (void)arg;
    if (eddy_signal_open(&sig, signums, 5) != 0 || eddy_signal_open(&sigchld, chld, 1) != 0 ||
        log_start() != 0)
        goto out;
    if (notify_open() != 0 || adopt_passed() != 0 || bind_new(m.cfg, &fresh) != 0) {
        listeners_close(&fresh);
        goto out_log;
    }
    listeners_splice(&fresh);
    m.conf_fd = spawn_snapshot(m.opts->config_file);
    if (eddy_spawn(&reaper, reaper_task, sigchld, &(eddy_spawn_opts_t){.name = "reaper"}) != 0)
        goto out_log;
    if (eddy_spawn(&health, health_task, NULL, &(eddy_spawn_opts_t){.name = "health"}) != 0)
        goto out_log;
    m.n = master_workers(m.cfg);
    log_msg(LOG_INFO, "master (pid %d): starting %u workers", (int)getpid(), m.n);
    m.gen = m.last_gen = 1;
    relay_master_generation(m.gen);
    int signum = SIGTERM;
    if (launch(m.gen, m.n)) {
        sd_ready(&m.nconns, &m.nrequests);
        signum = serve(sig);
        rc = 0;
        sd_stopping();
    } else {
        log_msg(LOG_ERROR, "the workers could not start");
    }
    shutdown_workers(signum);
    relay_master_stop();
    sd_stop();
    if (rc == 0)
        log_msg(LOG_INFO, "exiting");
out_log:
    log_stop();
out:
    stop_task(health);
    stop_task(reaper);
    if (m.polling)
        uv_close((uv_handle_t *)&m.poll, NULL);
    if (m.notify_fd >= 0)
        close(m.notify_fd);
    if (m.conf_fd >= 0)
        close(m.conf_fd);
    listeners_close(&m.listeners);
    eddy_signal_close(sigchld);
    eddy_signal_close(sig);
    return rc;
}

int master_run(const server_options_t *opts, config_t *cfg, char **argv)
{
    memset(&m, 0, sizeof(m));
    m.opts = opts;
    m.cfg = cfg;
    config_commit(cfg);
    m.argv = argv;
    m.notify_fd = m.conf_fd = -1;
    spawn_find_exe(m.exe, sizeof(m.exe));
    const char *wd = getenv("EDDY_WORKER_WATCHDOG_MS");
    m.watchdog_ms = wd != NULL && atoll(wd) > 0 ? (uint64_t)atoll(wd) : WORKER_WATCHDOG_MS;
    if (log_configure(cfg) != 0) {
        config_unref(cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = eddy_run(master_task, NULL);
    while (m.workers != NULL)
        worker_remove(m.workers);
    config_unref(m.cfg);
    if (rc < 0) {
        log_msg(LOG_ERROR, "runtime: %s", eddy_strerror(rc));
        return 2;
    }
    return rc;
}
