/* Helpers shared by the C tests (see helpers.h). */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>

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

bool test_under_wrapper(void)
{
    const char *w = getenv("EDDY_TEST_WRAPPER");
    return w != NULL && *w != '\0';
}

bool test_under_checker(void)
{
#ifdef EDDY_ASAN
    return true;
#else
    return test_under_wrapper();
#endif
}

void test_fds_use_up(test_fds_t *f)
{
    struct rlimit low;
    int lowest_free = dup(0);

    ASSERT_GE(lowest_free, 0);
    close(lowest_free);
    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &f->old));
    low = f->old;
    low.rlim_cur = (rlim_t)lowest_free + 8;
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &low));
    f->n = 0;
    while (f->n < 64 && (f->fill[f->n] = dup(0)) >= 0)
        f->n++;
    ASSERT_LT(f->n, 64);
}

void test_fds_give_back(test_fds_t *f)
{
    while (f->n > 0)
        close(f->fill[--f->n]);
    ASSERT_OK(setrlimit(RLIMIT_NOFILE, &f->old));
}
