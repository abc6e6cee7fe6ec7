/* Forgotten handles: with EDDY_DEBUG set, eddy_run's end names each task
 * handle never given back with eddy_detach, with its spawn's file:line. */
#include "config.h"

#include <sys/wait.h>
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

static int forgotten_line, group_line, sleep_line;
static eddy_task_t *lost, *child, *sleeper;

static int quick(void *arg)
{
    return 0;
}

static int forgetful_main(void *arg)
{
    eddy_task_t *kept;
    eddy_spawn_opts_t opts = {.name = "forgotten"};
    eddy_group_t g;

    ASSERT_OK(eddy_spawn(&kept, quick, NULL, NULL));
    forgotten_line = __LINE__ + 1;
    ASSERT_OK(eddy_spawn(&lost, quick, NULL, &opts));
    eddy_group_init(&g, 0);
    opts.name = "group-child";
    group_line = __LINE__ + 1;
    ASSERT_OK(eddy_group_spawn(&g, &child, quick, NULL, &opts));
    ASSERT_OK(eddy_group_wait(&g));
    sleep_line = __LINE__ + 1;
    ASSERT_OK(eddy_spawn_sleep(&sleeper, 5000));
    ASSERT_OK(eddy_join(kept, NULL));
    eddy_detach(kept); /* given back: not reported */
    /* The lines are known in this child only: tell the parent. */
    fprintf(stderr, "lines %d %d %d\n", forgotten_line, group_line, sleep_line);
    return 0;
}

/* Runs forgetful_main in a child with stderr captured in err. */
static void run_child(const char *debug, char *err, size_t size)
{
    int fds[2], ws = 0;
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
        if (debug != NULL)
            setenv("EDDY_DEBUG", debug, 1);
        else
            unsetenv("EDDY_DEBUG");
        int rc = eddy_run(forgetful_main, NULL);
        /* Handles may be given back after the run (valgrind's leak check
         * then passes), and are not reported twice. */
        eddy_detach(lost);
        eddy_detach(child);
        eddy_detach(sleeper);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    while (len + 1 < size && (n = read(fds[0], err + len, size - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(fds[0]);
    ASSERT_EQ(waitpid(pid, &ws, 0), pid);
    printf("# child stderr (EDDY_DEBUG=%s):\n%s", debug ? debug : "unset", err);
    ASSERT_TRUE(WIFEXITED(ws));
    ASSERT_EQ(WEXITSTATUS(ws), 0);
}

TEST_IMPL(forms_forgotten_handles_reported)
{
    char err[4096], want[512];

    run_child("1", err, sizeof(err));
    ASSERT_NOT_NULL(strstr(err, "lines "));
    ASSERT_EQ(
        sscanf(strstr(err, "lines "), "lines %d %d %d", &forgotten_line, &group_line, &sleep_line),
        3);
    ASSERT_NOT_NULL(strstr(err, "3 task handle(s) never detached"));
    snprintf(want, sizeof(want), "task \"forgotten\" spawned at %s:%d, finished (status 0)",
             __FILE__, forgotten_line);
    ASSERT_NOT_NULL(strstr(err, want));
    snprintf(want, sizeof(want), "task \"group-child\" spawned at %s:%d", __FILE__, group_line);
    ASSERT_NOT_NULL(strstr(err, want));
    /* The sleeper was cancelled by eddy_run's end, like any task left. */
    snprintf(want, sizeof(want), "task \"(unnamed)\" spawned at %s:%d, finished with ECANCELED",
             __FILE__, sleep_line);
    ASSERT_NOT_NULL(strstr(err, want));
    /* The handle given back is not named (its line precedes the others). */
    snprintf(want, sizeof(want), "%s:%d", __FILE__, forgotten_line - 1);
    ASSERT_NULL(strstr(err, want));
    return 0;
}

TEST_IMPL(forms_forgotten_handles_quiet_without_debug)
{
    char err[4096];

#ifndef NDEBUG_RUNTIME
    return TEST_SKIP; /* a debug build always reports */
#endif
    run_child(NULL, err, sizeof(err));
    ASSERT_NULL(strstr(err, "never detached"));
    run_child("0", err, sizeof(err));
    ASSERT_NULL(strstr(err, "never detached"));
    return 0;
}
