/* The systemd protocols, spoken directly: they are a few lines of text in
 * a datagram and a few environment variables, not worth a dependency on
 * libsystemd.  See sd_notify(3), sd_listen_fds(3) and sd_watchdog_enabled(3)
 * for what systemd expects. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/sd.h"

/* STATUS= with connections and request rate this often: cheap (one
 * datagram), and what `systemctl status` shows between two looks. */
#define STATUS_INTERVAL_MS 3000
/* Names systemd gives passed sockets are unit-name sized. */
#define FDNAME_MAX 256
/* Passed sockets eddy takes at most (systemd caps a unit near this too). */
#define LISTEN_FDS_MAX 64

static struct {
    struct sockaddr_un addr; /* NOTIFY_SOCKET */
    socklen_t addrlen;       /* 0: not under systemd */
    int fd;                  /* the datagram socket, opened on first use */
    uint64_t watchdog_ms;    /* half WATCHDOG_USEC; 0: no watchdog */
    eddy_task_t *watchdog, *status;
    const size_t *nconns;
    const uint64_t *nrequests;
    int nlisten;
    char *names[LISTEN_FDS_MAX];
} sd = {.fd = -1};

/* --------------------------------------------------------------- notify */

/* NOTIFY_SOCKET is a path, or an abstract name written with a leading '@'
 * (sent with a leading NUL and no terminator). */
static void notify_init(void)
{
    const char *e = getenv("NOTIFY_SOCKET");
    size_t len = e ? strlen(e) : 0;

    if (len < 2 || len >= sizeof(sd.addr.sun_path) || (e[0] != '/' && e[0] != '@')) {
        if (len > 0)
            log_msg(LOG_WARN, "NOTIFY_SOCKET=%s: not a Unix socket path: ignored", e);
        return;
    }
    sd.addr.sun_family = AF_UNIX;
    memcpy(sd.addr.sun_path, e, len);
    if (e[0] == '@')
        sd.addr.sun_path[0] = '\0';
    sd.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'));
}

/* WATCHDOG_PID, when set, names the process the watchdog is for. */
static void watchdog_init(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;

    if (usec == NULL)
        return;
    if (pid != NULL && strtol(pid, &end, 10) != (long)getpid())
        return;
    unsigned long long us = strtoull(usec, &end, 10);
    if (*end != '\0' || us == 0) {
        log_msg(LOG_WARN, "WATCHDOG_USEC=%s: not a number of microseconds: ignored", usec);
        return;
    }
    sd.watchdog_ms = us / 2000 > 0 ? us / 2000 : 1;
}

int sd_notify(const char *state)
{
    if (sd.addrlen == 0)
        return 0;
    if (sd.fd < 0 && (sd.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    /* Never block the loop on a busy manager: a lost STATUS or ping is
     * better than a stalled server (a lost ping only matters when many
     * are). */
    if (sendto(sd.fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
               (const struct sockaddr *)&sd.addr, sd.addrlen) < 0)
        return -errno;
    return 0;
}

/* head ("STATUS=serving: ", or more lines before it), then the open
 * connections and the request rate since the last report. */
static void format_status(char *buf, size_t len, const char *head)
{
    static uint64_t last_requests, last_ms;
    uint64_t now = eddy_now(), requests = sd.nrequests ? *sd.nrequests : 0;
    double rate = 0;

    if (last_ms != 0 && now > last_ms)
        rate = (double)(requests - last_requests) * 1000.0 / (double)(now - last_ms);
    last_requests = requests;
    last_ms = now;
    snprintf(buf, len, "%s%zu connections, %.1f requests/s", head, sd.nconns ? *sd.nconns : 0,
             rate);
}

/* A task on the serving loop: if the loop is stuck, the pings stop and
 * systemd restarts the service, which is the point of a watchdog. */
static int watchdog_task(void *arg)
{
    eddy_ticker_t *t;

    (void)arg;
    if (eddy_ticker_open(&t, sd.watchdog_ms) != 0)
        return 0;
    do
        sd_notify("WATCHDOG=1");
    while (eddy_ticker_wait(t) > 0);
    eddy_ticker_close(t);
    return 0;
}

static int status_task(void *arg)
{
    char buf[256];

    (void)arg;
    while (eddy_sleep(STATUS_INTERVAL_MS) == 0) {
        format_status(buf, sizeof(buf), "STATUS=serving: ");
        sd_notify(buf);
    }
    return 0;
}

static void stop_task(eddy_task_t **t)
{
    if (*t == NULL)
        return;
    eddy_cancel(*t);
    eddy_join(*t, NULL);
    eddy_detach(*t);
    *t = NULL;
}

void sd_ready(const size_t *nconns, const uint64_t *nrequests)
{
    char buf[300];
    int rc;

    sd.nconns = nconns;
    sd.nrequests = nrequests;
    if (sd.addrlen == 0)
        return;
    format_status(buf, sizeof(buf), "READY=1\nSTATUS=serving: ");
    if ((rc = sd_notify(buf)) != 0)
        log_msg(LOG_WARN, "cannot tell systemd that eddy is ready (NOTIFY_SOCKET): %s",
                strerror(-rc));
    if (sd.watchdog_ms > 0 && sd.watchdog == NULL &&
        eddy_spawn(&sd.watchdog, watchdog_task, NULL, &(eddy_spawn_opts_t){.name = "watchdog"}))
        sd.watchdog = NULL;
    if (sd.status == NULL &&
        eddy_spawn(&sd.status, status_task, NULL, &(eddy_spawn_opts_t){.name = "sd-status"}))
        sd.status = NULL;
}

void sd_reloading(void)
{
    char buf[128];
    struct timespec ts;

    /* MONOTONIC_USEC tells systemd which reload this is (systemd 253 and
     * later need it for Type=notify-reload; older ones ignore it). */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, sizeof(buf), "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    sd_notify(buf);
}

void sd_reloaded(bool ok)
{
    char buf[300];

    format_status(buf, sizeof(buf),
                  ok ? "READY=1\nSTATUS=serving: "
                     : "READY=1\nSTATUS=reload failed, serving the previous configuration: ");
    sd_notify(buf);
}

void sd_stopping(void)
{
    sd_notify("STOPPING=1\nSTATUS=shutting down: draining connections");
}

void sd_stop(void)
{
    stop_task(&sd.watchdog);
    stop_task(&sd.status);
    for (int i = 0; i < sd.nlisten; i++) {
        free(sd.names[i]);
        sd.names[i] = NULL;
    }
    sd.nlisten = 0;
}

/* ---------------------------------------------------- socket activation */

/* LISTEN_FDNAMES: one name per descriptor, ':' between them; ignored
 * unless the count matches. */
static void listen_names(const char *names)
{
    const char *p = names;
    int n = 0;

    for (int i = 0; p != NULL && i < sd.nlisten; i++, n++) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        sd.names[i] = strndup(p, len < FDNAME_MAX ? len : FDNAME_MAX);
        p = colon ? colon + 1 : NULL;
    }
    if (n == sd.nlisten && p == NULL)
        return;
    log_msg(LOG_WARN, "LISTEN_FDNAMES=%s does not name the %d passed sockets: ignored", names,
            sd.nlisten);
    for (int i = 0; i < sd.nlisten; i++) {
        free(sd.names[i]);
        sd.names[i] = NULL;
    }
}

static void listen_init(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    char *end;

    if (pid == NULL || fds == NULL)
        return;
    /* For another process (a parent that forgot to unset them): not ours. */
    if (strtol(pid, &end, 10) != (long)getpid() || *end != '\0')
        return;
    long n = strtol(fds, &end, 10);
    if (*end != '\0' || n <= 0 || n > LISTEN_FDS_MAX) {
        log_msg(LOG_WARN, "LISTEN_FDS=%s: not a count of passed sockets (1 to %d): ignored", fds,
                LISTEN_FDS_MAX);
        return;
    }
    sd.nlisten = (int)n;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0)
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    if (names != NULL)
        listen_names(names);
}

void sd_init(void)
{
    notify_init();
    watchdog_init();
    listen_init();
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
}

int sd_listen_fds(void)
{
    return sd.nlisten;
}

const char *sd_listen_name(int i)
{
    return i >= 0 && i < sd.nlisten && sd.names[i] != NULL ? sd.names[i] : "unknown";
}

/* ------------------------------------------------- matching the config */

/* Is ss's IP the address of family at ip (a struct in_addr or in6_addr)?
 * Bytes are compared through memcpy'd copies: the sockaddr types alias one
 * another, which the compiler's type-based alias analysis does not see. */
static bool same_ip(const struct sockaddr_storage *ss, int family, const void *ip)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (ss->ss_family != family)
        return false;
    if (family == AF_INET) {
        memcpy(&sin, ss, sizeof(sin));
        return memcmp(&sin.sin_addr, ip, sizeof(sin.sin_addr)) == 0;
    }
    memcpy(&sin6, ss, sizeof(sin6));
    return family == AF_INET6 && memcmp(&sin6.sin6_addr, ip, sizeof(sin6.sin6_addr)) == 0;
}

static bool is_any(const struct sockaddr_storage *ss)
{
    static const struct in6_addr zero; /* also INADDR_ANY in its first bytes */
    return same_ip(ss, AF_INET, &zero) || same_ip(ss, AF_INET6, &zero);
}

/* The port of an IPv4 or IPv6 address (at the same place in both). */
static int port_of(const struct sockaddr_storage *ss)
{
    struct sockaddr_in sin;
    memcpy(&sin, ss, sizeof(sin));
    return ntohs(sin.sin_port);
}

/* The IP of an addrinfo result, for same_ip. */
static bool same_ai(const struct sockaddr_storage *ss, const struct addrinfo *ai)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(sin)) {
        memcpy(&sin, ai->ai_addr, sizeof(sin));
        return same_ip(ss, AF_INET, &sin.sin_addr);
    }
    if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(sin6)) {
        memcpy(&sin6, ai->ai_addr, sizeof(sin6));
        return same_ip(ss, AF_INET6, &sin6.sin6_addr);
    }
    return false;
}

typedef struct resolve_job {
    const char *host;
    struct addrinfo *res;
} resolve_job_t;

/* On the thread pool: a host name may need DNS. */
static void *resolve_host(void *arg)
{
    resolve_job_t *j = arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    if (getaddrinfo(j->host, NULL, &hints, &j->res) != 0)
        j->res = NULL;
    return NULL;
}

/* Does host (numeric, a name, or "" for any address) name ss's IP? */
static bool host_matches(const char *host, const struct sockaddr_storage *ss)
{
    struct in6_addr ip; /* room for either */
    resolve_job_t job = {.host = host};
    bool found = false;

    if (*host == '\0')
        return is_any(ss);
    if (inet_pton(AF_INET, host, &ip) == 1)
        return same_ip(ss, AF_INET, &ip);
    if (inet_pton(AF_INET6, host, &ip) == 1)
        return same_ip(ss, AF_INET6, &ip);
    /* Interrupted after it started, the job still completes: res is kept. */
    if (eddy_to_thread(resolve_host, &job, NULL, NULL) != 0 && job.res == NULL)
        return false;
    for (struct addrinfo *ai = job.res; ai != NULL && !found; ai = ai->ai_next)
        found = same_ai(ss, ai);
    if (job.res != NULL)
        freeaddrinfo(job.res);
    return found;
}

/* addr is valid (config_check_listen passed it): "unix:/p", "8080",
 * ":8080", "[v6]:8080" or "host:8080". */
static bool addr_matches(const char *addr, const struct sockaddr_storage *ss, socklen_t sslen)
{
    char host[512];
    const char *colon;
    int port;

    if (strncmp(addr, "unix:", 5) == 0) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)ss;
        size_t n = sslen - offsetof(struct sockaddr_un, sun_path);
        size_t len = strnlen(sun->sun_path, n);
        return ss->ss_family == AF_UNIX && len > 0 && len == strlen(addr + 5) &&
               memcmp(sun->sun_path, addr + 5, len) == 0;
    }
    if (ss->ss_family != AF_INET && ss->ss_family != AF_INET6)
        return false;
    colon = strrchr(addr, ':');
    port = atoi(colon ? colon + 1 : addr);
    if (port != port_of(ss))
        return false;
    size_t hlen = colon ? (size_t)(colon - addr) : 0;
    if (hlen >= 2 && addr[0] == '[') { /* [v6] */
        addr++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host))
        return false;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    return host_matches(host, ss);
}

void sd_socket_address(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];

    snprintf(buf, len, "fd %d", fd);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        return;
    if (ss.ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
        size_t n = sslen - offsetof(struct sockaddr_un, sun_path);
        if (n > 0 && sun->sun_path[0] == '\0') /* abstract */
            snprintf(buf, len, "unix:@%.*s", (int)(n - 1), sun->sun_path + 1);
        else if (n > 0)
            snprintf(buf, len, "unix:%.*s", (int)strnlen(sun->sun_path, n), sun->sun_path);
    } else if (uv_ip_name((struct sockaddr *)&ss, ip, sizeof(ip)) == 0) {
        snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port_of(&ss));
    }
}

const listen_addr_t *sd_listen_match(int fd, const config_t *cfg)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        return NULL;
    for (size_t i = 0; i < cfg->nlisten; i++) {
        if (addr_matches(cfg->listen[i].addr, &ss, sslen))
            return &cfg->listen[i];
    }
    return NULL;
}

/* ------------------------------------------------------------- journal */

bool sd_journal_stream(int fd)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
