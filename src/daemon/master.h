/* The process model for [server] workers > 1: a master that holds the
 * listeners (bound itself or passed by systemd), runs no HTTP, and keeps N
 * worker processes serving them.  Each worker is the single-process server
 * of server.c, started by fork and exec of the same binary, which finds
 * the listeners as if systemd had passed them (LISTEN_FDS) and reports to
 * the master over the notify protocol (READY=1, STATUS=), as the master
 * reports to systemd.  Only the master talks to systemd. */
#ifndef EDDY_DAEMON_MASTER_H
#define EDDY_DAEMON_MASTER_H

#include <stdbool.h>

#include "daemon/server.h"

/** True in a process the master started as a worker (it then serves alone,
 *  whatever [server] workers says); opts->config_file then names the copy
 *  of the file the master checked.  Clears the markers from the
 *  environment; call once, before sd_init and loading the configuration. */
bool master_is_worker(server_options_t *opts);

/** The worker processes cfg asks for: workers, or for auto the CPUs this
 *  process may run on (sched_getaffinity). */
unsigned master_workers(const config_t *cfg);

/** Runs the master (takes cfg's reference) until SIGTERM/SIGINT and the
 *  workers' drain.  argv: main's, for the workers.  Returns the exit code:
 *  0 after a clean shutdown, 2 if it could not start. */
int master_run(const server_options_t *opts, config_t *cfg, char **argv);

#endif
