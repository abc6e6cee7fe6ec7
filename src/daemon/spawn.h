/* Starting a worker process (master.c): fork, then exec of this binary
 * with the listeners at descriptors 3, 4... as systemd passes them
 * (LISTEN_FDS, LISTEN_PID), the configuration's copy and the worker's end
 * of its relay (daemon/relay.h) after them, and the master's notify
 * socket as NOTIFY_SOCKET, so that the worker is today's
 * single-process server and needs nothing else to know about masters. */
#ifndef EDDY_DAEMON_SPAWN_H
#define EDDY_DAEMON_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Marks a worker's environment (the value: the master's pid). */
#define SPAWN_WORKER_ENV "EDDY_WORKER"
/** In a worker: the descriptor of the configuration's copy (or empty). */
#define SPAWN_CONFIG_FD_ENV "EDDY_CONFIG_FD"
/** In a worker: its end of the relay to the master (daemon/relay.h). */
#define SPAWN_RELAY_FD_ENV "EDDY_RELAY_FD"

typedef struct spawn_args {
    const char *exe; /* spawn_find_exe's */
    char **argv;     /* main's: the worker gets the same options */
    const int *fds;  /* listening sockets: 3, 4... in the worker */
    int nfds;
    int conf_fd;          /* spawn_snapshot's, after them; -1: none */
    int relay_fd;         /* the worker's end of its relay, after that */
    const char *notify;   /* NOTIFY_SOCKET for the worker ("@name") */
    uint64_t watchdog_ms; /* WATCHDOG_USEC for the worker */
} spawn_args_t;

/** Forks and execs a worker: 0 with *pid, or a negative error. */
int spawn_worker(const spawn_args_t *a, pid_t *pid);
/** A copy of file as it is now (a sealed memfd the workers read), or
 *  -1 (logged) for NULL or on failure: workers then read file itself. */
int spawn_snapshot(const char *file);
/** The path workers are started from. */
void spawn_find_exe(char *buf, size_t len);

#endif
