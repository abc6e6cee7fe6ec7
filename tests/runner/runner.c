/* Runs the C tests, each in its own process (the runner re-executes itself
 * with --run-one NAME, optionally under $EDDY_TEST_WRAPPER such as
 * valgrind), several at a time, with a timeout, and reports TAP in list
 * order.
 *
 *   run-tests [--list] [NAME...]     all tests, or those named
 *   EDDY_TEST_JOBS=N                 parallel processes (default 4)
 *   EDDY_TEST_TIMEOUT=S              per-test timeout (default 60 s)
 *   EDDY_TEST_TIMEOUT_SCALE=F        stretches timeouts and timing bounds
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner/runner.h"

#define TEST_ENTRY(name) int test_##name(void);
#include "test-list.h"
#undef TEST_ENTRY

static const struct test {
    const char *name;
    int (*fn)(void);
} tests[] = {
#define TEST_ENTRY(name) {#name, test_##name},
#include "test-list.h"
#undef TEST_ENTRY
};
#define NTESTS (sizeof(tests) / sizeof(tests[0]))

uint64_t test_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

double test_scale(void)
{
    const char *s = getenv("EDDY_TEST_TIMEOUT_SCALE");
    double f = s ? atof(s) : 1.0;
    return f > 0 ? f : 1.0;
}

typedef struct job {
    const struct test *test;
    pid_t pid;
    int out_fd;
    uint64_t started;
    bool done, timed_out;
    int wstatus;
} job_t;

static int run_one(const char *name)
{
    for (size_t i = 0; i < NTESTS; i++) {
        if (strcmp(tests[i].name, name) == 0) {
            int rc = tests[i].fn();
            fflush(stdout);
            fflush(stderr);
            return rc;
        }
    }
    fprintf(stderr, "no test named %s\n", name);
    return 2;
}

static pid_t start(job_t *j, const char *self)
{
    char path[] = "/tmp/eddy-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(2);
    }
    unlink(path);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[64];
        int argc = 0;
        char *wrapper = getenv("EDDY_TEST_WRAPPER");
        if (wrapper && *wrapper) {
            for (char *tok = strtok(wrapper, " "); tok && argc < 56; tok = strtok(NULL, " "))
                argv[argc++] = tok;
        }
        argv[argc++] = (char *)self;
        argv[argc++] = "--run-one";
        argv[argc++] = (char *)j->test->name;
        argv[argc] = NULL;
        dup2(fd, 1);
        dup2(fd, 2);
        setpgid(0, 0);
        execvp(argv[0], argv);
        perror("execvp");
        _exit(127);
    }
    j->pid = pid;
    j->out_fd = fd;
    j->started = test_ms();
    return pid;
}

static void report(size_t num, job_t *j)
{
    bool ok = !j->timed_out && WIFEXITED(j->wstatus) &&
              (WEXITSTATUS(j->wstatus) == 0 || WEXITSTATUS(j->wstatus) == TEST_SKIP);
    bool skip = ok && WEXITSTATUS(j->wstatus) == TEST_SKIP;
    char buf[4096];
    ssize_t n;

    printf("%s %zu - %s", ok ? "ok" : "not ok", num, j->test->name);
    if (skip)
        printf(" # SKIP");
    if (j->timed_out)
        printf(" # timed out after %.0f s", (double)(test_ms() - j->started) / 1000);
    else if (WIFSIGNALED(j->wstatus))
        printf(" # killed by signal %d", WTERMSIG(j->wstatus));
    else if (!ok)
        printf(" # exit status %d", WEXITSTATUS(j->wstatus));
    printf("\n");
    /* The test's own output, as TAP comments: always for failures and
     * skips, so the reason is in the log. */
    if (!ok || skip) {
        lseek(j->out_fd, 0, SEEK_SET);
        char line[512];
        size_t len = 0;
        while ((n = read(j->out_fd, buf, sizeof(buf))) > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == '\n' || len == sizeof(line) - 1) {
                    printf("#   %.*s\n", (int)len, line);
                    len = 0;
                    if (buf[i] == '\n')
                        continue;
                }
                line[len++] = buf[i];
            }
        }
        if (len)
            printf("#   %.*s\n", (int)len, line);
    }
    close(j->out_fd);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const struct test *selected[NTESTS];
    size_t nsel = 0, passed = 0, failed = 0;
    const char *jobs_env = getenv("EDDY_TEST_JOBS");
    const char *timeout_env = getenv("EDDY_TEST_TIMEOUT");
    size_t jobs = jobs_env ? (size_t)atoi(jobs_env) : 4;
    uint64_t timeout = (uint64_t)((timeout_env ? atof(timeout_env) : 60.0) * 1000 * test_scale());

    if (argc == 3 && strcmp(argv[1], "--run-one") == 0)
        return run_one(argv[2]);
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < NTESTS; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    for (size_t i = 0; i < NTESTS; i++) {
        bool want = argc == 1;
        for (int a = 1; a < argc && !want; a++)
            want = strcmp(argv[a], tests[i].name) == 0;
        if (want)
            selected[nsel++] = &tests[i];
    }
    if (nsel == 0) {
        fprintf(stderr, "no such test\n");
        return 2;
    }
    if (jobs < 1)
        jobs = 1;

    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl < 0) {
        perror("readlink");
        return 2;
    }
    self[sl] = '\0';

    job_t *js = calloc(nsel, sizeof(job_t));
    size_t next_start = 0, next_report = 0, running = 0;
    printf("1..%zu\n", nsel);
    fflush(stdout);
    while (next_report < nsel) {
        while (running < jobs && next_start < nsel) {
            js[next_start].test = selected[next_start];
            start(&js[next_start++], self);
            running++;
        }
        for (size_t i = next_report; i < next_start; i++) {
            job_t *j = &js[i];
            if (j->done)
                continue;
            pid_t r = waitpid(j->pid, &j->wstatus, WNOHANG);
            if (r == j->pid) {
                j->done = true;
                running--;
            } else if (test_ms() - j->started > timeout) {
                j->timed_out = true;
                kill(-j->pid, SIGKILL);
                kill(j->pid, SIGKILL);
                waitpid(j->pid, &j->wstatus, 0);
                j->done = true;
                running--;
            }
        }
        while (next_report < next_start && js[next_report].done) {
            job_t *j = &js[next_report];
            report(next_report + 1, j);
            bool ok = !j->timed_out && WIFEXITED(j->wstatus) &&
                      (WEXITSTATUS(j->wstatus) == 0 || WEXITSTATUS(j->wstatus) == TEST_SKIP);
            ok ? passed++ : failed++;
            next_report++;
        }
        usleep(5000);
    }
    printf("# %zu passed, %zu failed\n", passed, failed);
    free(js);
    return failed ? 1 : 0;
}
