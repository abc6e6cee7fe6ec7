/* Deadlocks: when every task waits on something nothing can signal,
 * eddy_run returns EDDY_EDEADLOCK even though the cancellation that
 * unwinds the tasks lets main return (UV_ECANCELED), and with EDDY_DEBUG
 * set the debug log names each stuck task and what it waits on. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/runner.h"

static eddy_event_t never;

static int wait_never(void *arg)
{
    return eddy_event_wait(&never);
}

/* main joins a worker that waits on an event nobody sets. */
static int join_main(void *arg)
{
    eddy_task_t *t;
    eddy_spawn_opts_t opts = {.name = "stuck-worker"};
    eddy_event_init(&never);
    ASSERT_OK(eddy_spawn(&t, wait_never, NULL, &opts));
    int rc = eddy_join(t, NULL);
    eddy_detach(t);
    return rc; /* UV_ECANCELED, once the deadlock cancels main */
}

static int sleeper(void *arg)
{
    return eddy_sleep(EDDY_FOREVER);
}

TEST_IMPL(deadlock_reported_after_cancellation)
{
    ASSERT_ERR(eddy_run(join_main, NULL), EDDY_EDEADLOCK);
    ASSERT_ERR(eddy_run(sleeper, NULL), EDDY_EDEADLOCK);
    return 0;
}

/* A run that ends normally is not a deadlock, nor is a cancellation. */
static int cancels_itself(void *arg)
{
    eddy_task_t *t;
    ASSERT_OK(eddy_spawn(&t, sleeper, NULL, NULL));
    ASSERT_OK(eddy_sleep(1));
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    eddy_detach(t);
    return UV_ECANCELED;
}

TEST_IMPL(deadlock_not_reported_for_cancellation)
{
    ASSERT_ERR(eddy_run(cancels_itself, NULL), UV_ECANCELED);
    return 0;
}

TEST_IMPL(deadlock_debug_log_names_tasks)
{
    char err[4096];
    int fds[2];
    size_t len = 0;
    ssize_t n;

    ASSERT_OK(pipe(fds));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        setenv("EDDY_DEBUG", "1", 1);
        _exit(eddy_run(join_main, NULL) == EDDY_EDEADLOCK ? 0 : 1);
    }
    close(fds[1]);
    while (len + 1 < sizeof(err) && (n = read(fds[0], err + len, sizeof(err) - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(fds[0]);
    int ws = 0;
    ASSERT_EQ(waitpid(pid, &ws, 0), pid);
    printf("# child stderr:\n%s", err);
    ASSERT_TRUE(WIFEXITED(ws));
    ASSERT_EQ(WEXITSTATUS(ws), 0);
    ASSERT_NOT_NULL(strstr(err, "deadlock"));
    ASSERT_NOT_NULL(strstr(err, "task \"main\" waits for the end of task \"stuck-worker\""));
    ASSERT_NOT_NULL(strstr(err, "task \"stuck-worker\" waits on a wait queue"));
    return 0;
}
