/* A task that overflows its stack dies of SIGSEGV with a diagnostic on
 * stderr naming the task, its stack size and the fix (stack_size), from
 * the handler eddy_run installs; an application's own SIGSEGV handler is
 * left alone.  Run in forked children; skipped under ASan (which reports
 * the overflow itself) and valgrind. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner/helpers.h"
#include "runner/runner.h"

/* Runs main_fn under eddy_run in a forked child with its stderr read into
 * err; returns the signal that killed it, or minus its exit status. */
static int run_capturing(eddy_task_fn main_fn, char *err, size_t cap)
{
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
        _exit(eddy_run(main_fn, NULL) == 0 ? 0 : 1);
    }
    close(fds[1]);
    while (len + 1 < cap && (n = read(fds[0], err + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(fds[0]);
    int ws = 0;
    ASSERT_EQ(waitpid(pid, &ws, 0), pid);
    printf("# child stderr: %s", len > 0 ? err : "(empty)\n");
    return WIFSIGNALED(ws) ? WTERMSIG(ws) : -WEXITSTATUS(ws);
}

static void use(volatile char *buf)
{
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static int recurse(int n);
static int (*volatile recurse_fn)(int) = recurse;

static int recurse(int n)
{
    volatile char pad[512];
    pad[0] = (char)n;
    use(pad);
    return recurse_fn(n + 1) + pad[0];
}

static int recurse_task(void *arg)
{
    return recurse_fn(0);
}

static int overflow_main(void *arg)
{
    eddy_task_t *t;
    eddy_spawn_opts_t opts = {.name = "deep-recursion", .stack_size = 32 * 1024};
    ASSERT_OK(eddy_spawn(&t, recurse_task, NULL, &opts));
    eddy_join(t, NULL);
    return 0; /* never reached: the child dies first */
}

TEST_IMPL(task_stack_overflow_diagnostic)
{
    char err[1024];
    if (test_under_checker())
        return TEST_SKIP;
    ASSERT_EQ(run_capturing(overflow_main, err, sizeof(err)), SIGSEGV);
    ASSERT_NOT_NULL(strstr(err, "\"deep-recursion\""));
    ASSERT_NOT_NULL(strstr(err, "stack of 32768 bytes"));
    ASSERT_NOT_NULL(strstr(err, "stack_size"));
    return 0;
}

/* A SIGSEGV that is no guard-page hit gets no diagnostic, and still kills. */
static int null_task(void *arg)
{
    volatile int *volatile p = NULL;
    return *p;
}

static int null_main(void *arg)
{
    eddy_task_t *t;
    eddy_spawn_opts_t opts = {.name = "null-deref"};
    ASSERT_OK(eddy_spawn(&t, null_task, NULL, &opts));
    eddy_join(t, NULL);
    return 0;
}

TEST_IMPL(task_segv_elsewhere_no_diagnostic)
{
    char err[1024];
    if (test_under_checker())
        return TEST_SKIP;
    ASSERT_EQ(run_capturing(null_main, err, sizeof(err)), SIGSEGV);
    ASSERT_NULL(strstr(err, "overflowed"));
    return 0;
}

/* The application's own handler stays in place during and after a run. */
static void app_handler(int sig)
{
    (void)sig;
}

static int check_handler_main(void *arg)
{
    struct sigaction cur;
    ASSERT_OK(sigaction(SIGSEGV, NULL, &cur));
    ASSERT_TRUE(cur.sa_handler == app_handler);
    return 0;
}

static int ours_installed_main(void *arg)
{
    struct sigaction cur;
    ASSERT_OK(sigaction(SIGSEGV, NULL, &cur));
    ASSERT_TRUE(cur.sa_flags & SA_SIGINFO);
    ASSERT_TRUE(cur.sa_flags & SA_ONSTACK);
    stack_t ss;
    ASSERT_OK(sigaltstack(NULL, &ss));
    ASSERT_FALSE(ss.ss_flags & SS_DISABLE);
    return 0;
}

TEST_IMPL(task_segv_handler_respects_application)
{
    struct sigaction sa, cur;
    stack_t ss;
    if (test_under_checker())
        return TEST_SKIP; /* the checker's own handler is in place */
    /* Installed for the run, removed after it, with the altstack. */
    ASSERT_OK(eddy_run(ours_installed_main, NULL));
    ASSERT_OK(sigaction(SIGSEGV, NULL, &cur));
    ASSERT_TRUE(cur.sa_handler == SIG_DFL);
    ASSERT_OK(sigaltstack(NULL, &ss));
    ASSERT_TRUE(ss.ss_flags & SS_DISABLE);
    /* An application's handler is never replaced. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = app_handler;
    ASSERT_OK(sigaction(SIGSEGV, &sa, NULL));
    ASSERT_OK(eddy_run(check_handler_main, NULL));
    ASSERT_OK(sigaction(SIGSEGV, NULL, &cur));
    ASSERT_TRUE(cur.sa_handler == app_handler);
    signal(SIGSEGV, SIG_DFL);
    return 0;
}
