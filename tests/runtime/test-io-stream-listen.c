/* Listeners: a host name listens on every address it resolves to
 * (eddy_listen_all), and eddy_accept out of descriptors returns UV_EMFILE
 * with the connection left in the backlog, not accepted and closed unseen. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

/* A blocking client socket connected to 127.0.0.1:port (the kernel
 * completes the handshake from the backlog, before any accept). */
static int connect_plain(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    ASSERT_OK(connect(fd, (struct sockaddr *)&sin, sizeof(sin)));
    return fd;
}

static int listen_all_main(void *arg)
{
    eddy_stream_t *s[8], *client;
    int n, fd;

    (void)arg;
    /* A numeric address is one listener. */
    ASSERT_EQ(eddy_listen_all(s, 8, "127.0.0.1:0", 0), 1);
    ASSERT_GT(eddy_stream_port(s[0]), 0);
    eddy_close(s[0]);
    /* A name: one per address (127.0.0.1 at least), each its own port 0. */
    n = eddy_listen_all(s, 8, "localhost:0", 0);
    ASSERT_GE(n, 1);
    for (int i = 0; i < n; i++)
        ASSERT_GT(eddy_stream_port(s[i]), 0);
    fd = -1;
    for (int i = 0; i < n && fd < 0; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        ASSERT_OK(getsockname(eddy_stream_fd(s[i]), (struct sockaddr *)&ss, &len));
        if (ss.ss_family != AF_INET)
            continue;
        fd = connect_plain(eddy_stream_port(s[i]));
        ASSERT_OK(eddy_accept(s[i], &client));
        eddy_close(client);
    }
    ASSERT_GE(fd, 0); /* localhost had an IPv4 address */
    close(fd);
    for (int i = 0; i < n; i++)
        eddy_close(s[i]);
    ASSERT_ERR(eddy_listen_all(s, 0, "localhost:0", 0), UV_EINVAL);
    ASSERT_LT(eddy_listen_all(s, 8, "no-such-host.invalid:0", 0), 0);
    return 0;
}

TEST_IMPL(io_stream_listen_all)
{
    ASSERT_OK(eddy_run(listen_all_main, NULL));
    return 0;
}

static int emfile_main(void *arg)
{
    eddy_stream_t *server, *client;
    test_fds_t fds;
    int cfd;
    char buf[8];

    (void)arg;
    ASSERT_OK(eddy_listen(&server, "127.0.0.1:0", 0));
    cfd = connect_plain(eddy_stream_port(server));
    test_fds_use_up(&fds);
    ASSERT_ERR(eddy_accept(server, &client), UV_EMFILE);
    ASSERT_ERR(eddy_accept(server, &client), UV_EMFILE); /* still there, still refused */
    /* A descriptor frees up: the same connection is accepted, alive. */
    close(fds.fill[--fds.n]);
    ASSERT_OK(eddy_accept(server, &client));
    ASSERT_EQ(write(cfd, "ping", 4), 4);
    ASSERT_EQ(eddy_read(client, buf, sizeof(buf)), 4);
    ASSERT_OK(eddy_write_all(client, "pong", 4));
    ASSERT_EQ(read(cfd, buf, sizeof(buf)), 4);
    test_fds_give_back(&fds);
    eddy_close(client);
    eddy_close(server);
    close(cfd);
    return 0;
}

TEST_IMPL(io_stream_accept_emfile)
{
    /* valgrind keeps descriptors of its own above the soft limit and
     * hands out the ones the test counts on. */
    if (test_under_wrapper())
        return TEST_SKIP;
    ASSERT_OK(eddy_run(emfile_main, NULL));
    return 0;
}
