#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* asprintf, memfd_create */
#endif
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/sd.h"
#include "daemon/spawn.h"

extern char **environ;

/* A copy of the configuration file as it is now, for the workers: they
 * read what the master checked (the file may change meanwhile), also when
 * one is restarted long after.  If it changed between the check and the
 * copy, a broken copy only fails the new workers' start: the reload
 * fails and the old workers serve on.  -1 for the embedded default. */
int spawn_snapshot(const char *file)
{
    char buf[4096]; /* tasks have small stacks */
    ssize_t n;
    int in, out;

    if (file == NULL || (in = open(file, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    out = memfd_create("eddy.ini", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
        if (write(out, buf, (size_t)n) != n) {
            close(out);
            out = -1;
        }
    }
    close(in);
    /* Sealed: no worker can change what the others will read. */
    if (out >= 0 &&
        fcntl(out, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
        close(out);
        out = -1;
    }
    if (out < 0)
        log_msg(LOG_WARN, "cannot copy %s for the workers (%s): they read the file itself", file,
                strerror(errno));
    return out;
}

/* What a worker's environment holds: the master's, less systemd's
 * variables (sd_init removed them already) and our marker, plus the
 * worker's own.  listen_pid is filled in by the child. */
typedef struct spawn_env {
    char **envp;
    char *own[7];
    char listen_pid[40];
    pid_t master;
} spawn_env_t;

static void spawn_env_free(spawn_env_t *e)
{
    for (int i = 0; i < 7; i++)
        free(e->own[i]);
    free(e->envp);
}

static int spawn_env_init(spawn_env_t *e, const spawn_args_t *a)
{
    size_t n = 0, k = 0;
    char names[64];

    memset(e, 0, sizeof(*e));
    e->master = getpid();
    while (environ[n] != NULL)
        n++;
    if ((e->envp = calloc(n + 10, sizeof(char *))) == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], SPAWN_WORKER_ENV "=", sizeof(SPAWN_WORKER_ENV)) != 0)
            e->envp[k++] = environ[i];
    }
    snprintf(names, sizeof(names), "%d", (int)getpid());
    if (asprintf(&e->own[0], SPAWN_WORKER_ENV "=%s", names) < 0)
        e->own[0] = NULL;
    if (asprintf(&e->own[1], "NOTIFY_SOCKET=%s", a->notify) < 0)
        e->own[1] = NULL;
    if (asprintf(&e->own[2], "LISTEN_FDS=%d", a->nfds) < 0)
        e->own[2] = NULL;
    /* Names for the workers' log lines ("the socket systemd passed (master)"). */
    if ((e->own[3] = malloc(sizeof("LISTEN_FDNAMES=") + 7 * (size_t)a->nfds)) != NULL) {
        strcpy(e->own[3], "LISTEN_FDNAMES=");
        for (int i = 0; i < a->nfds; i++)
            strcat(e->own[3], i == 0 ? "master" : ":master");
    }
    if (asprintf(&e->own[4], "WATCHDOG_USEC=%llu", (unsigned long long)a->watchdog_ms * 1000) < 0)
        e->own[4] = NULL;
    if (a->conf_fd < 0)
        e->own[5] = strdup(SPAWN_CONFIG_FD_ENV "=");
    else if (asprintf(&e->own[5], SPAWN_CONFIG_FD_ENV "=%d", SD_LISTEN_FDS_START + a->nfds) < 0)
        e->own[5] = NULL;
    if (a->relay_fd < 0)
        e->own[6] = strdup(SPAWN_RELAY_FD_ENV "=");
    else if (asprintf(&e->own[6], SPAWN_RELAY_FD_ENV "=%d", SD_LISTEN_FDS_START + a->nfds + 1) < 0)
        e->own[6] = NULL;
    for (int i = 0; i < 7; i++) {
        if (e->own[i] == NULL) {
            spawn_env_free(e);
            return UV_ENOMEM;
        }
        e->envp[k++] = e->own[i];
    }
    e->envp[k++] = e->listen_pid;
    e->envp[k] = NULL;
    return 0;
}

/* In the child, between fork and exec: async-signal-safe calls only (the
 * master has threads: libuv's pool). */
static void child_exec(const spawn_args_t *a, const int *fds, int *tmp, spawn_env_t *e)
{
    sigset_t none;
    char digits[24];
    int len = 0;
    int nfds = a->nfds;
    pid_t pid = getpid();

    /* Out of the way of the targets 3..3+nfds+1 first, then into place
     * (dup2 clears close-on-exec; the copies close at exec). */
    for (int i = 0; i <= nfds + 1; i++) {
        tmp[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD_CLOEXEC, SD_LISTEN_FDS_START + nfds + 2);
        if (fds[i] >= 0 && tmp[i] < 0)
            _exit(127);
    }
    for (int i = 0; i < nfds; i++) {
        if (dup2(tmp[i], SD_LISTEN_FDS_START + i) < 0)
            _exit(127);
    }
    /* Then the configuration's copy, after them (fds[nfds]). */
    if (tmp[nfds] >= 0 && dup2(tmp[nfds], SD_LISTEN_FDS_START + nfds) < 0)
        _exit(127);
    /* And the relay's end (fds[nfds + 1]). */
    if (tmp[nfds + 1] >= 0 && dup2(tmp[nfds + 1], SD_LISTEN_FDS_START + nfds + 1) < 0)
        _exit(127);
    do
        digits[len++] = (char)('0' + pid % 10);
    while ((pid /= 10) > 0);
    memcpy(e->listen_pid, "LISTEN_PID=", 11);
    for (int i = 0; i < len; i++)
        e->listen_pid[11 + i] = digits[len - 1 - i];
    e->listen_pid[11 + len] = '\0';
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A master killed outright takes its workers along (drained). */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != e->master)
        _exit(127);
    execve(a->exe, a->argv, e->envp);
    _exit(127);
}

/* The workers run this binary: by its path, as /proc/self/exe names it
 * (under valgrind, that is eddy's, not valgrind's own), or through
 * /proc/self/exe itself if that path is gone (replaced by an upgrade). */
void spawn_find_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);

    buf[n > 0 ? n : 0] = '\0';
    if (n <= 0 || access(buf, X_OK) != 0)
        snprintf(buf, len, "/proc/self/exe");
}

int spawn_worker(const spawn_args_t *a, pid_t *pid)
{
    int *fds = malloc(sizeof(int) * 2 * ((size_t)a->nfds + 2)), *tmp, rc = 0;
    spawn_env_t env;

    /* Everything the child needs is made here: after fork it may only
     * make async-signal-safe calls. */
    if (fds == NULL)
        return UV_ENOMEM;
    tmp = fds + a->nfds + 2;
    memcpy(fds, a->fds, sizeof(int) * (size_t)a->nfds);
    fds[a->nfds] = a->conf_fd;
    fds[a->nfds + 1] = a->relay_fd;
    if (spawn_env_init(&env, a) != 0) {
        free(fds);
        return UV_ENOMEM;
    }
    *pid = fork();
    if (*pid == 0)
        child_exec(a, fds, tmp, &env);
    if (*pid < 0)
        rc = uv_translate_sys_error(errno);
    spawn_env_free(&env);
    free(fds);
    return rc;
}
