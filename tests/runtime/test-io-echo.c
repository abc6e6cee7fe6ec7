/* The asyncio tutorial's TCP echo server and client, scaled up: 1,000
 * concurrent client tasks each send 100 lines and check every echoed line,
 * all in one eddy_run. */
#include <sys/resource.h>

#include "runner/runner.h"

#define NCLIENTS 1000
#define NLINES 100

static int nconnections, nclients_ok;

/* handle_echo(reader, writer): echo lines until the client is done. */
static int handle_echo(void *arg)
{
    eddy_stream_t *c = arg;
    eddy_reader_t r;
    const char *line;
    ssize_t n;

    ASSERT_OK(eddy_reader_init(&r, c, 0));
    while ((n = eddy_reader_readline(&r, &line)) > 0)
        if (eddy_write_all(c, line, (size_t)n) != 0)
            break;
    eddy_reader_free(&r);
    eddy_close(c);
    return n < 0 ? (int)n : 0;
}

/* The server: accepts until cancelled, then waits for its connections. */
static int serve(void *arg)
{
    eddy_stream_t *server = arg, *c;
    eddy_group_t g;
    int rc;

    eddy_group_init(&g, EDDY_GROUP_SUPERVISE);
    while ((rc = eddy_accept(server, &c)) == 0) {
        nconnections++;
        ASSERT_OK(eddy_group_spawn(&g, NULL, handle_echo, c, NULL));
    }
    ASSERT_ERR(rc, UV_ECANCELED);
    ASSERT_OK(eddy_group_wait(&g));
    return 0;
}

static char port[16];

static int client(void *arg)
{
    int id = (int)(intptr_t)arg;
    eddy_stream_t *s;
    eddy_reader_t r;
    char msg[64];
    const char *line;

    ASSERT_OK(eddy_connect(&s, "127.0.0.1", port));
    ASSERT_OK(eddy_reader_init(&r, s, 0));
    for (int i = 0; i < NLINES; i++) {
        int len = snprintf(msg, sizeof(msg), "client %d says hello %d\n", id, i);
        ASSERT_OK(eddy_write_all(s, msg, (size_t)len));
        ASSERT_EQ(eddy_reader_readline(&r, &line), len);
        ASSERT_EQ(memcmp(line, msg, (size_t)len), 0);
    }
    eddy_reader_free(&r);
    eddy_close(s);
    nclients_ok++;
    return 0;
}

static int echo_main(void *arg)
{
    static eddy_task_t *clients[NCLIENTS];
    eddy_stream_t *server;
    eddy_task_t *srv;

    ASSERT_OK(eddy_listen(&server, "127.0.0.1:0", NCLIENTS));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(server));
    ASSERT_OK(eddy_spawn(&srv, serve, server, NULL));
    for (intptr_t i = 0; i < NCLIENTS; i++)
        ASSERT_OK(eddy_spawn(&clients[i], client, (void *)i, NULL));
    ASSERT_OK(eddy_gather(clients, NCLIENTS, NULL, NULL, 0));
    for (int i = 0; i < NCLIENTS; i++)
        eddy_detach(clients[i]);
    eddy_cancel(srv);
    ASSERT_OK(eddy_join(srv, NULL));
    eddy_detach(srv);
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_echo_1000_clients)
{
    struct rlimit rl;
    uint64_t t0 = test_ms();

    /* Two sockets per client, plus the listener and a few. */
    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    rl.rlim_cur = rl.rlim_max;
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_cur < 2 * NCLIENTS + 100) {
        printf("RLIMIT_NOFILE hard limit %llu < %d\n", (unsigned long long)rl.rlim_max,
               2 * NCLIENTS + 100);
        return TEST_SKIP;
    }
    ASSERT_OK(eddy_run(echo_main, NULL));
    ASSERT_EQ(nconnections, NCLIENTS);
    ASSERT_EQ(nclients_ok, NCLIENTS);
    printf("%d clients x %d lines echoed in %llu ms\n", NCLIENTS, NLINES,
           (unsigned long long)(test_ms() - t0));
    return 0;
}
