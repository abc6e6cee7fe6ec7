/* Helpers shared by the C tests (see helpers.h). */
#include "runner/helpers.h"

#include "runner/runner.h"

uint64_t test_since(uint64_t t0)
{
    return test_ms() - t0;
}

eddy_task_t *test_spawn(eddy_task_fn fn, void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, fn, arg, NULL));
    return t;
}

int test_reap(eddy_task_t *t)
{
    int rc = eddy_join(t, NULL);
    eddy_detach(t);
    return rc;
}

void test_settle(int n)
{
    for (int i = 0; i < n; i++)
        ASSERT_OK(eddy_yield());
}

/* What the accepting task of test_tcp_pair needs and gives back. */
typedef struct accept_arg {
    eddy_stream_t *server, *client;
} accept_arg_t;

static int accept_one(void *arg)
{
    accept_arg_t *aa = arg;
    return eddy_accept(aa->server, &aa->client);
}

void test_tcp_pair(eddy_stream_t **a, eddy_stream_t **b)
{
    accept_arg_t aa = {NULL, NULL};
    eddy_task_t *t;
    char port[16];

    /* The accept runs in a task of its own while this one connects. */
    ASSERT_OK(eddy_listen(&aa.server, "127.0.0.1:0", 0));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(aa.server));
    t = test_spawn(accept_one, &aa);
    ASSERT_OK(eddy_connect(a, "127.0.0.1", port));
    ASSERT_OK(test_reap(t));
    *b = aa.client;
    eddy_close(aa.server);
}
