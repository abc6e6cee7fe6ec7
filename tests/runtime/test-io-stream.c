/* Streams: listen/accept/connect/read/write/shutdown/close over IPv4, IPv6
 * and Unix sockets, adopting a listening fd, connecting by name. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

typedef struct echo_arg {
    eddy_stream_t *server;
    char peer[64];
} echo_arg_t;

/* Accepts one connection and echoes it until EOF, then half-closes. */
static int echo_once(void *arg)
{
    echo_arg_t *ea = arg;
    eddy_stream_t *c;
    char buf[256];
    ssize_t n;

    ASSERT_OK(eddy_accept(ea->server, &c));
    ASSERT_OK(eddy_stream_peer(c, ea->peer, sizeof(ea->peer)));
    while ((n = eddy_read(c, buf, sizeof(buf))) > 0)
        ASSERT_OK(eddy_write_all(c, buf, (size_t)n));
    ASSERT_ERR(n, UV_EOF);
    ASSERT_ERR(eddy_read(c, buf, sizeof(buf)), UV_EOF); /* EOF stays */
    ASSERT_OK(eddy_shutdown(c));
    eddy_close(c);
    return 0;
}

/* Connects, sends a message in two writes, half-closes and reads the echo
 * back until EOF. */
static void echo_client(const char *host, const char *port)
{
    static const char msg[] = "hello, eddy streams";
    uv_buf_t bufs[2] = {uv_buf_init((char *)msg, 7), uv_buf_init((char *)msg + 7, sizeof(msg) - 7)};
    eddy_stream_t *s;
    char got[64];
    size_t len = 0;
    ssize_t n;

    ASSERT_OK(eddy_connect(&s, host, port));
    ASSERT_GE(eddy_stream_fd(s), 0);
    ASSERT_EQ(eddy_stream_handle(s)->type, eddy_stream_is_unix(s) ? UV_NAMED_PIPE : UV_TCP);
    ASSERT_OK(eddy_write(s, bufs, 2));
    ASSERT_OK(eddy_shutdown(s));
    while ((n = eddy_read(s, got + len, sizeof(got) - len)) > 0)
        len += (size_t)n;
    ASSERT_ERR(n, UV_EOF);
    ASSERT_EQ(len, sizeof(msg));
    ASSERT_STR_EQ(got, msg);
    eddy_close(s);
}

static void roundtrip(eddy_stream_t *server, const char *host, const char *port,
                      const char *expect_peer)
{
    echo_arg_t ea = {.server = server};
    eddy_task_t *t;

    ASSERT_OK(eddy_spawn(&t, echo_once, &ea, NULL));
    echo_client(host, port);
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    ASSERT_STR_EQ(ea.peer, expect_peer);
}

static int tcp4_main(void *arg)
{
    eddy_stream_t *server;
    char port[16], peer[64];

    ASSERT_OK(eddy_listen(&server, "127.0.0.1:0", 0));
    ASSERT_GT(eddy_stream_port(server), 0);
    ASSERT_FALSE(eddy_stream_is_unix(server));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(server));
    roundtrip(server, "127.0.0.1", port, "127.0.0.1");
    /* A listener has no peer. */
    ASSERT_ERR(eddy_stream_peer(server, peer, sizeof(peer)), UV_ENOTCONN);
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_stream_tcp4)
{
    ASSERT_OK(eddy_run(tcp4_main, NULL));
    return 0;
}

static int tcp6_main(void *arg)
{
    eddy_stream_t *server;
    char port[16];
    int rc = eddy_listen(&server, "[::1]:0", 16);

    if (rc == UV_EADDRNOTAVAIL || rc == UV_EAFNOSUPPORT)
        return TEST_SKIP;
    ASSERT_OK(rc);
    snprintf(port, sizeof(port), "%d", eddy_stream_port(server));
    roundtrip(server, "::1", port, "::1");
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_stream_tcp6)
{
    int rc = eddy_run(tcp6_main, NULL);
    if (rc == TEST_SKIP)
        return TEST_SKIP;
    ASSERT_OK(rc);
    return 0;
}

/* Listening on every interface accepts IPv4 (and IPv6 where there is). */
static int any_main(void *arg)
{
    eddy_stream_t *server;
    char port[16];

    ASSERT_OK(eddy_listen(&server, ":0", 0));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(server));
    roundtrip(server, "127.0.0.1", port, "127.0.0.1");
    eddy_close(server);
    ASSERT_OK(eddy_listen(&server, "0", 0));
    ASSERT_GT(eddy_stream_port(server), 0);
    eddy_close(server);
    ASSERT_ERR(eddy_listen(&server, "::1:80", 0), UV_EINVAL);
    ASSERT_ERR(eddy_listen(&server, "127.0.0.1:http", 0), UV_EINVAL);
    ASSERT_ERR(eddy_listen(&server, "127.0.0.1:65536", 0), UV_EINVAL);
    return 0;
}

TEST_IMPL(io_stream_listen_any)
{
    ASSERT_OK(eddy_run(any_main, NULL));
    return 0;
}

static char tmpdir[64];
static char sockpath[128];

/* A Unix peer reads "unix:UID" (SO_PEERCRED): here our own uid. */
static char unix_peer[32];

static void make_sockpath(void)
{
    snprintf(unix_peer, sizeof(unix_peer), "unix:%u", (unsigned)getuid());
    strcpy(tmpdir, "/tmp/eddy-stream-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
    snprintf(sockpath, sizeof(sockpath), "unix:%s/sock", tmpdir);
}

static void remove_sockpath(void)
{
    unlink(sockpath + 5);
    ASSERT_OK(rmdir(tmpdir));
}

/* A socket file bound by a process that is gone: connecting is refused. */
static void make_stale_socket(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    strcpy(sun.sun_path, path);
    ASSERT_OK(bind(fd, (struct sockaddr *)&sun, sizeof(sun)));
    close(fd);
}

static int unix_main(void *arg)
{
    eddy_stream_t *server, *other;
    struct stat st;
    char peer[16];

    make_stale_socket(sockpath + 5);
    ASSERT_OK(eddy_listen(&server, sockpath, 0));
    ASSERT_TRUE(eddy_stream_is_unix(server));
    ASSERT_ERR(eddy_stream_port(server), UV_EINVAL);
    roundtrip(server, sockpath, NULL, unix_peer);
    ASSERT_OK(eddy_stream_peer(server, peer, sizeof(peer)));
    /* A live socket is not taken over. */
    ASSERT_ERR(eddy_listen(&other, sockpath, 0), UV_EADDRINUSE);
    eddy_close(server);
    eddy_yield(); /* let the close complete: libuv removes the file */
    ASSERT_ERR(stat(sockpath + 5, &st), -1);
    ASSERT_OK(eddy_listen(&server, sockpath, 0));
    roundtrip(server, sockpath, NULL, unix_peer);
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_stream_unix)
{
    make_sockpath();
    ASSERT_OK(eddy_run(unix_main, NULL));
    remove_sockpath();
    return 0;
}

static int listen_fd_main(void *arg)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sin);
    eddy_stream_t *server;
    char port[16];
    int fd;

    /* A socket that is not listening is refused, and stays the caller's. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    ASSERT_ERR(eddy_listen_fd(&server, fd), UV_EINVAL);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_OK(bind(fd, (struct sockaddr *)&sin, sizeof(sin)));
    ASSERT_OK(listen(fd, 16));
    ASSERT_OK(getsockname(fd, (struct sockaddr *)&sin, &len));
    ASSERT_OK(eddy_listen_fd(&server, fd));
    ASSERT_EQ(eddy_stream_fd(server), fd);
    ASSERT_EQ(eddy_stream_port(server), ntohs(sin.sin_port));
    snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
    roundtrip(server, "127.0.0.1", port, "127.0.0.1");
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_stream_listen_fd)
{
    ASSERT_OK(eddy_run(listen_fd_main, NULL));
    return 0;
}

/* A connected socket made elsewhere (a socketpair inherited from a
 * parent, as eddy's workers get their relay): both ends carry bytes both
 * ways, EOF shows when one closes; listeners and datagram sockets are
 * refused and stay the caller's. */
static int open_fd_main(void *arg)
{
    eddy_stream_t *a, *b, *s;
    int sv[2], fd;
    char buf[16];

    (void)arg;
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    ASSERT_OK(eddy_stream_open_fd(&a, sv[0]));
    ASSERT_OK(eddy_stream_open_fd(&b, sv[1]));
    ASSERT_TRUE(eddy_stream_is_unix(a));
    ASSERT_EQ(eddy_stream_fd(a), sv[0]);
    ASSERT_OK(eddy_write_all(a, "ping", 4));
    ASSERT_EQ(eddy_read(b, buf, sizeof(buf)), 4);
    ASSERT_EQ(memcmp(buf, "ping", 4), 0);
    ASSERT_OK(eddy_write_all(b, "pong!", 5));
    ASSERT_EQ(eddy_read(a, buf, sizeof(buf)), 5);
    ASSERT_EQ(memcmp(buf, "pong!", 5), 0);
    eddy_close(a);
    ASSERT_ERR(eddy_read(b, buf, sizeof(buf)), UV_EOF);
    eddy_close(b);

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    ASSERT_ERR(eddy_stream_open_fd(&s, fd), UV_EINVAL);
    ASSERT_OK(close(fd));
    ASSERT_OK(eddy_listen(&s, "127.0.0.1:0", 4));
    ASSERT_ERR(eddy_stream_open_fd(&b, eddy_stream_fd(s)), UV_EINVAL);
    eddy_close(s);
    ASSERT_ERR(eddy_stream_open_fd(&s, -1), UV_EBADF);
    return 0;
}

TEST_IMPL(io_stream_open_fd)
{
    ASSERT_OK(eddy_run(open_fd_main, NULL));
    return 0;
}

static int listen_fd_unix_main(void *arg)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    eddy_stream_t *server;
    int fd;

    /* A unix listener made by someone else (systemd, say). */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    strcpy(sun.sun_path, sockpath + 5);
    ASSERT_OK(bind(fd, (struct sockaddr *)&sun, sizeof(sun)));
    ASSERT_OK(listen(fd, 16));
    ASSERT_OK(eddy_listen_fd(&server, fd));
    ASSERT_TRUE(eddy_stream_is_unix(server));
    roundtrip(server, sockpath, NULL, unix_peer);
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_stream_listen_fd_unix)
{
    make_sockpath();
    ASSERT_OK(eddy_run(listen_fd_unix_main, NULL));
    remove_sockpath();
    return 0;
}

/* "localhost" goes through the resolver; on hosts where it also names ::1,
 * that address is refused and the next one is tried. */
static int localhost_main(void *arg)
{
    eddy_stream_t *server, *s;
    char port[16];

    ASSERT_OK(eddy_listen(&server, "127.0.0.1:0", 0));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(server));
    roundtrip(server, "localhost", port, "127.0.0.1");
    eddy_close(server);
    ASSERT_ERR(eddy_connect(&s, "127.0.0.1", "x"), UV_EINVAL);
    ASSERT_ERR(eddy_connect(&s, "127.0.0.1", port), UV_ECONNREFUSED);
    ASSERT_LT(eddy_connect(&s, "name.invalid", port), 0);
    return 0;
}

TEST_IMPL(io_stream_connect_localhost)
{
    ASSERT_OK(eddy_run(localhost_main, NULL));
    return 0;
}

TEST_IMPL(io_stream_outside_task)
{
    eddy_stream_t *s;
    ASSERT_ERR(eddy_listen(&s, "127.0.0.1:0", 0), EDDY_ENOTASK);
    ASSERT_ERR(eddy_connect(&s, "127.0.0.1", "1"), EDDY_ENOTASK);
    return 0;
}

/* Bytes that arrive while no task reads, then the end of the stream: the
 * next reads get the bytes in order, then UV_EOF. */
static int between_reads_main(void *arg)
{
    eddy_stream_t *a, *b;
    char buf[64];

    test_tcp_pair(&a, &b);
    ASSERT_OK(eddy_write_all(a, "hello", 5));
    ASSERT_EQ(eddy_read(b, buf, sizeof(buf)), 5);
    ASSERT_OK(eddy_write_all(a, "world", 5));
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_sleep(20)); /* both arrive while nobody reads */
    ASSERT_EQ(eddy_read(b, buf, 2), 2);
    ASSERT_EQ(memcmp(buf, "wo", 2), 0);
    ASSERT_EQ(eddy_read(b, buf, sizeof(buf)), 3);
    ASSERT_EQ(memcmp(buf, "rld", 3), 0);
    ASSERT_ERR(eddy_read(b, buf, sizeof(buf)), UV_EOF);
    eddy_close(b);
    eddy_close(a);
    return 0;
}

TEST_IMPL(io_stream_bytes_between_reads)
{
    ASSERT_OK(eddy_run(between_reads_main, NULL));
    return 0;
}
