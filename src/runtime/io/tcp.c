/* Listening, accepting and connecting: TCP over IPv4 and IPv6, and
 * Unix-domain sockets, with addresses given as text. */
#include "runtime/io/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_BACKLOG 511
#define UNIX_PREFIX "unix:"

/* ------------------------------------------------------------- resolving */

typedef struct resolve_op {
    uv_getaddrinfo_t req;
    eddy_wait_t *wait; /* NULL once the task stopped waiting */
    struct addrinfo **out;
} resolve_op_t;

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve_op_t *op = req->data;
    if (op->wait != NULL) {
        *op->out = res;
        eddy_wait_wake(op->wait, status);
    } else {
        uv_freeaddrinfo(res);
    }
    free(op);
}

static void resolve_interrupted(eddy_wait_t *w)
{
    resolve_op_t *op = w->data;
    op->wait = NULL;
    uv_cancel((uv_req_t *)&op->req); /* if it has not started; on_resolved frees op */
}

/* getaddrinfo on the thread pool; *res is freed with uv_freeaddrinfo. */
static int resolve(const char *host, const char *port, int flags, struct addrinfo **res)
{
    struct addrinfo hints;
    resolve_op_t *op;
    eddy_wait_t w;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = flags;
    op = malloc(sizeof(*op));
    if (op == NULL)
        return UV_ENOMEM;
    *res = NULL;
    op->req.data = op;
    op->wait = &w;
    op->out = res;
    eddy_wait_init(&w, resolve_interrupted);
    w.data = op;
    rc = uv_getaddrinfo(eddy_loop(), &op->req, on_resolved, host, port, &hints);
    if (rc != 0) {
        free(op);
        return rc;
    }
    rc = eddy_wait_park(&w, EDDY_FOREVER);
    if (rc != 0 && *res != NULL) {
        uv_freeaddrinfo(*res);
        *res = NULL;
    }
    return rc;
}

/* A numeric IPv4 or IPv6 address and port, without a resolver. */
static bool parse_numeric(const char *host, int port, struct sockaddr_storage *ss)
{
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 ||
           uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0;
}

/* A decimal port 0..65535, or -1. */
static int parse_port(const char *s)
{
    char *end;
    unsigned long v;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    return (errno != 0 || *end != '\0' || v > 65535) ? -1 : (int)v;
}

/* -------------------------------------------------------------- listening */

/* Listeners accept with accept4 themselves instead of through uv_listen: at
 * EMFILE libuv accepts and closes the pending connections on its own (its
 * reserve-descriptor trick) and tells nobody, while here UV_EMFILE reaches
 * eddy_accept's caller, which can say so, and the connections wait in the
 * backlog until descriptors free up (as in nginx).  Readiness comes from a
 * uv_poll on a dup of the socket (s->wpoll and s->wfd, which a listener
 * does not otherwise use), started when a task waits in eddy_accept and
 * stopped when it fires with nobody waiting: it is level-triggered, so
 * nobody waiting must soon mean nobody polling (at max_connections the
 * acceptor waits elsewhere).  In between it stays on, so that a busy
 * acceptor costs no epoll_ctl per connection. */

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    eddy_stream_t *s = p->data;
    (void)events;
    if (status < 0)
        s->listen_error = status;
    if (!eddy__waitq_wake_one(&s->acceptors, 0))
        uv_poll_stop(p);
}

/* uv_poll_start re-registers an active poll (epoll_ctl twice): only when
 * stopped. */
static int listen_poll(eddy_stream_t *s)
{
    if (uv_is_active((uv_handle_t *)s->wpoll))
        return 0;
    return uv_poll_start(s->wpoll, UV_READABLE, on_listen_readable);
}

static int start_listening(eddy_stream_t *s, int backlog, eddy_stream_t **server)
{
    uv_os_fd_t fd;
    int rc = uv_fileno(&s->u.handle, &fd);

    if (rc == 0 && listen(fd, backlog > 0 ? backlog : DEFAULT_BACKLOG) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0 && (s->wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0 && (s->wpoll = malloc(sizeof(*s->wpoll))) == NULL)
        rc = UV_ENOMEM;
    if (rc == 0 && (rc = uv_poll_init_socket(eddy_loop(), s->wpoll, s->wfd)) != 0) {
        free(s->wpoll);
        s->wpoll = NULL;
    }
    if (rc != 0) {
        eddy__stream_discard(s); /* closes wfd too */
        return rc;
    }
    s->wpoll->data = s;
    *server = s;
    return 0;
}

/* A bound TCP socket (SO_REUSEADDR; IPV6_V6ONLY as flags say).  Made here
 * rather than by uv_tcp_bind, which defers EADDRINUSE to uv_listen. */
static int bind_tcp(const struct sockaddr *sa, unsigned flags, int *out)
{
    int on = 1, v6only = (flags & UV_TCP_IPV6ONLY) != 0, rc;
    socklen_t len =
        sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return uv_translate_sys_error(errno);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        (sa->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) ||
        bind(fd, sa, len) != 0) {
        rc = uv_translate_sys_error(errno);
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

static int listen_tcp(eddy_stream_t **server, const struct sockaddr *sa, int backlog,
                      unsigned flags)
{
    eddy_stream_t *s;
    int fd = -1, rc = bind_tcp(sa, flags, &fd);
    if (rc != 0)
        return rc;
    rc = eddy__stream_new(&s, EDDY__STREAM_TCP);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    rc = uv_tcp_open(&s->u.tcp, fd);
    if (rc != 0) {
        close(fd);
        eddy__stream_discard(s);
        return rc;
    }
    return start_listening(s, backlog, server);
}

/* A socket file left behind by a process that is gone refuses connections;
 * remove it so that bind succeeds.  A live one makes bind fail. */
static int unlink_stale(const char *path)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd, rc, err;

    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sun.sun_path))
        return 0; /* bind reports whatever is wrong */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    err = errno;
    close(fd);
    if (rc == 0 || err == EAGAIN)
        return UV_EADDRINUSE; /* someone accepts on it (or its backlog is full) */
    if (err == ECONNREFUSED && unlink(path) != 0)
        return uv_translate_sys_error(errno);
    return 0;
}

static int listen_unix(eddy_stream_t **server, const char *path, int backlog)
{
    eddy_stream_t *s;
    int rc = unlink_stale(path);
    if (rc != 0)
        return rc;
    rc = eddy__stream_new(&s, EDDY__STREAM_PIPE);
    if (rc != 0)
        return rc;
    rc = uv_pipe_bind(&s->u.pipe, path);
    if (rc != 0) {
        eddy__stream_discard(s);
        return rc;
    }
    return start_listening(s, backlog, server);
}

/* Splits "host:port", "[v6]:port", ":port" or "port" into host (possibly
 * empty) and port, in buf. */
static int split_addr(const char *addr, char *buf, size_t len, char **host, char **port)
{
    char *colon;
    if (strlen(addr) >= len)
        return UV_EINVAL;
    strcpy(buf, addr);
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close == NULL || close[1] != ':')
            return UV_EINVAL;
        *close = '\0';
        *host = buf + 1;
        *port = close + 2;
        return 0;
    }
    colon = strrchr(buf, ':');
    if (colon == NULL) {
        *host = buf + strlen(buf);
        *port = buf;
        return 0;
    }
    *colon = '\0';
    if (strchr(buf, ':') != NULL)
        return UV_EINVAL; /* a bare IPv6 address needs brackets */
    *host = buf;
    *port = colon + 1;
    return 0;
}

static int listen_any(eddy_stream_t **server, int port, int backlog)
{
    struct sockaddr_storage ss;
    int rc;

    uv_ip6_addr("::", port, (struct sockaddr_in6 *)&ss);
    rc = listen_tcp(server, (struct sockaddr *)&ss, backlog, 0);
    if (rc != UV_EAFNOSUPPORT && rc != UV_EADDRNOTAVAIL)
        return rc;
    uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss); /* no IPv6 here */
    return listen_tcp(server, (struct sockaddr *)&ss, backlog, 0);
}

int eddy_listen(eddy_stream_t **server, const char *addr, int backlog)
{
    struct sockaddr_storage ss;
    struct addrinfo *res;
    char buf[512], *host, *port_s;
    int port, rc;

    if (eddy_loop() == NULL)
        return EDDY_ENOTASK;
    if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
        return listen_unix(server, addr + strlen(UNIX_PREFIX), backlog);
    rc = split_addr(addr, buf, sizeof(buf), &host, &port_s);
    if (rc != 0)
        return rc;
    if ((port = parse_port(port_s)) < 0)
        return UV_EINVAL;
    if (*host == '\0')
        return listen_any(server, port, backlog);
    if (parse_numeric(host, port, &ss))
        return listen_tcp(server, (struct sockaddr *)&ss, backlog, 0);
    rc = resolve(host, port_s, AI_PASSIVE, &res);
    if (rc != 0)
        return rc;
    rc = UV_EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL && rc != 0; ai = ai->ai_next)
        rc = listen_tcp(server, ai->ai_addr, backlog, 0);
    uv_freeaddrinfo(res);
    return rc;
}

static bool same_address(const struct addrinfo *a, const struct addrinfo *b)
{
    return a->ai_addrlen == b->ai_addrlen && memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) == 0;
}

/* One listener per distinct address of res, in servers[*n]: 0, or the
 * first error other than an address this host lacks (the caller closes). */
static int listen_each(eddy_stream_t **servers, size_t max, size_t *n, struct addrinfo *res,
                       int backlog)
{
    int rc = UV_EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL && *n < max; ai = ai->ai_next) {
        bool seen = false;
        for (struct addrinfo *bi = res; bi != ai && !seen; bi = bi->ai_next)
            seen = same_address(ai, bi);
        if (seen || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
            continue;
        /* V6ONLY: "::" among the addresses must not take the IPv4 ones. */
        rc = listen_tcp(&servers[*n], ai->ai_addr, backlog,
                        ai->ai_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
        if (rc == 0)
            (*n)++;
        else if (rc != UV_EADDRNOTAVAIL && rc != UV_EAFNOSUPPORT)
            return rc;
    }
    return *n > 0 ? 0 : rc;
}

int eddy_listen_all(eddy_stream_t **servers, size_t max, const char *addr, int backlog)
{
    struct sockaddr_storage ss;
    struct addrinfo *res;
    char buf[512], *host, *port_s;
    size_t n = 0;
    int rc;

    if (eddy_loop() == NULL)
        return EDDY_ENOTASK;
    if (max == 0)
        return UV_EINVAL;
    if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0 ||
        split_addr(addr, buf, sizeof(buf), &host, &port_s) != 0 || *host == '\0' ||
        parse_port(port_s) < 0 || parse_numeric(host, 0, &ss)) {
        rc = eddy_listen(&servers[0], addr, backlog); /* one address (or an error) */
        return rc != 0 ? rc : 1;
    }
    rc = resolve(host, port_s, AI_PASSIVE, &res);
    if (rc != 0)
        return rc;
    rc = listen_each(servers, max, &n, res, backlog);
    uv_freeaddrinfo(res);
    if (rc != 0) {
        while (n > 0)
            eddy_close(servers[--n]);
        return rc;
    }
    return (int)n;
}

/* Wraps a stream socket made elsewhere (systemd's listener, an inherited
 * socketpair end): 0 with *out, or UV_EINVAL if fd is not a stream socket
 * that is (listening) or is not (!listening) accepting. */
static int adopt_fd(int fd, bool listening, eddy_stream_t **out)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int accepting = 0, type = 0;
    socklen_t optlen = sizeof(int);
    eddy_stream_t *s;
    int rc;

    if (eddy_loop() == NULL)
        return EDDY_ENOTASK;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        return uv_translate_sys_error(errno);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &optlen) != 0)
        return uv_translate_sys_error(errno);
    optlen = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &optlen) != 0)
        return uv_translate_sys_error(errno);
    if (type != SOCK_STREAM || !accepting != !listening)
        return UV_EINVAL;
    if (ss.ss_family == AF_UNIX) {
        rc = eddy__stream_new(&s, EDDY__STREAM_PIPE);
        if (rc == 0 && (rc = uv_pipe_open(&s->u.pipe, fd)) != 0)
            eddy__stream_discard(s);
    } else {
        rc = eddy__stream_new(&s, EDDY__STREAM_TCP);
        if (rc == 0 && (rc = uv_tcp_open(&s->u.tcp, fd)) != 0)
            eddy__stream_discard(s);
    }
    if (rc == 0)
        *out = s;
    return rc;
}

int eddy_listen_fd(eddy_stream_t **server, int fd)
{
    eddy_stream_t *s;
    int rc = adopt_fd(fd, true, &s);
    if (rc != 0)
        return rc;
    /* uv_listen calls listen() again, which only updates the backlog. */
    return start_listening(s, SOMAXCONN, server);
}

int eddy_stream_open_fd(eddy_stream_t **s, int fd)
{
    return adopt_fd(fd, false, s);
}

/* -------------------------------------------------------------- accepting */

/* One accept4: 0 with *client, UV_EAGAIN when none is pending, or the
 * error (UV_EMFILE, UV_ENFILE: the connection stays in the backlog). */
static int take_connection(eddy_stream_t *server, eddy_stream_t **client)
{
    eddy_stream_t *c;
    uv_os_fd_t lfd;
    int fd, rc = uv_fileno(&server->u.handle, &lfd);

    if (rc != 0)
        return rc;
    do
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0)
        return uv_translate_sys_error(errno);
    rc = eddy__stream_new(&c, server->kind);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    rc = c->kind == EDDY__STREAM_TCP ? uv_tcp_open(&c->u.tcp, fd) : uv_pipe_open(&c->u.pipe, fd);
    if (rc != 0) {
        close(fd);
        eddy__stream_discard(c);
        return rc;
    }
    if (c->kind == EDDY__STREAM_TCP)
        uv_tcp_nodelay(&c->u.tcp, 1);
    *client = c;
    return 0;
}

int eddy_accept(eddy_stream_t *server, eddy_stream_t **client)
{
    EDDY__CURRENT_OR_RETURN(t);
    eddy__waiter_t wt;
    int rc;

    (void)t;
    if (server->wpoll == NULL)
        return UV_EINVAL; /* not a listener */
    for (;;) {
        if (server->closing)
            return EDDY_ECLOSED;
        if (server->listen_error != 0) {
            rc = server->listen_error;
            server->listen_error = 0;
            return rc;
        }
        rc = take_connection(server, client);
        if (rc != UV_EAGAIN) {
            /* Other acceptors still wait: more connections may be pending. */
            if (server->acceptors.len > 0)
                listen_poll(server);
            return rc;
        }
        rc = listen_poll(server);
        if (rc != 0)
            return rc;
        rc = eddy__waitq_park(&server->acceptors, &wt, EDDY_FOREVER);
        if (rc != 0)
            return rc; /* the server may be gone after EDDY_ECLOSED */
    }
}

/* ------------------------------------------------------------- connecting */

typedef struct connect_op {
    uv_connect_t req;
    eddy_wait_t *wait; /* NULL once the task stopped waiting */
} connect_op_t;

static void on_connect(uv_connect_t *req, int status)
{
    connect_op_t *op = req->data;
    if (op->wait != NULL)
        eddy_wait_wake(op->wait, status);
    free(op);
}

static void connect_interrupted(eddy_wait_t *w)
{
    connect_op_t *op = w->data;
    op->wait = NULL; /* closing the stream cancels the request */
}

/* Connects a new stream of the given kind to sa (TCP) or path (Unix). */
static int connect_one(eddy_stream_t **out, const struct sockaddr *sa, const char *path)
{
    eddy_stream_t *s;
    connect_op_t *op;
    eddy_wait_t w;
    int rc = eddy__stream_new(&s, path ? EDDY__STREAM_PIPE : EDDY__STREAM_TCP);
    if (rc != 0)
        return rc;
    op = malloc(sizeof(*op));
    if (op == NULL) {
        eddy__stream_discard(s);
        return UV_ENOMEM;
    }
    op->req.data = op;
    op->wait = &w;
    eddy_wait_init(&w, connect_interrupted);
    w.data = op;
    if (path != NULL) {
        uv_pipe_connect(&op->req, &s->u.pipe, path, on_connect);
    } else if ((rc = uv_tcp_connect(&op->req, &s->u.tcp, sa, on_connect)) != 0) {
        free(op);
        eddy__stream_discard(s);
        return rc;
    }
    rc = eddy_wait_park(&w, EDDY_FOREVER);
    if (rc != 0) {
        eddy__stream_discard(s); /* fires on_connect with UV_ECANCELED if pending */
        return rc;
    }
    if (s->kind == EDDY__STREAM_TCP)
        uv_tcp_nodelay(&s->u.tcp, 1);
    *out = s;
    return 0;
}

int eddy_connect(eddy_stream_t **s, const char *host, const char *port)
{
    struct sockaddr_storage ss;
    struct addrinfo *res;
    int p, rc;

    if (eddy_current() == NULL)
        return EDDY_ENOTASK;
    if (strncmp(host, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0 && port == NULL)
        return connect_one(s, NULL, host + strlen(UNIX_PREFIX));
    if ((p = parse_port(port)) < 0)
        return UV_EINVAL;
    if (parse_numeric(host, p, &ss))
        return connect_one(s, (struct sockaddr *)&ss, NULL);
    rc = resolve(host, port, 0, &res);
    if (rc != 0)
        return rc;
    rc = UV_EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        rc = connect_one(s, ai->ai_addr, NULL);
        /* Stop at success and at an interruption (a cancellation is
         * delivered once); a kernel's connect timeout tries the next. */
        if (rc == 0 || rc == UV_ECANCELED ||
            (rc == UV_ETIMEDOUT && eddy__scope_check(eddy_current(), eddy_now())))
            break;
    }
    uv_freeaddrinfo(res);
    return rc;
}

/* ---------------------------------------------------------------- options */

int eddy_tcp_nodelay(eddy_stream_t *s, bool on)
{
    if (s->kind != EDDY__STREAM_TCP)
        return UV_EINVAL;
    return uv_tcp_nodelay(&s->u.tcp, on);
}

int eddy_tcp_keepalive(eddy_stream_t *s, bool on, unsigned delay_s)
{
    if (s->kind != EDDY__STREAM_TCP)
        return UV_EINVAL;
    return uv_tcp_keepalive(&s->u.tcp, on, on && delay_s == 0 ? 1 : delay_s);
}

/* "unix:UID" from the peer's credentials, or "unix" without them. */
static int unix_peer(const eddy_stream_t *s, char *buf, size_t len)
{
    struct ucred cred;
    socklen_t credlen = sizeof(cred);
    uv_os_fd_t fd;
    int n;

    if (uv_fileno(&s->u.handle, &fd) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0 && cred.pid != 0)
        n = snprintf(buf, len, "unix:%u", (unsigned)cred.uid);
    else
        n = snprintf(buf, len, "unix");
    return n < 0 || (size_t)n >= len ? UV_ENOBUFS : 0;
}

int eddy_stream_peer(const eddy_stream_t *s, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    int rc;

    if (s->kind == EDDY__STREAM_PIPE)
        return unix_peer(s, buf, len);
    rc = uv_tcp_getpeername(&s->u.tcp, (struct sockaddr *)&ss, &sslen);
    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET6) {
        /* An IPv4 peer of a dual-stack listener: show it as IPv4. */
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            return uv_inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, len);
    }
    return uv_ip_name((struct sockaddr *)&ss, buf, len);
}

int eddy_stream_port(const eddy_stream_t *s)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    int rc;

    if (s->kind != EDDY__STREAM_TCP)
        return UV_EINVAL;
    rc = uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&ss, &sslen);
    if (rc != 0)
        return rc;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}
