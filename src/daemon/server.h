/* The running daemon: listeners with one acceptor task each, connection
 * tasks in a supervising task group, and a signal task that reloads
 * (SIGHUP), reopens logs (SIGUSR1) and shuts down gracefully
 * (SIGTERM/SIGINT). */
#ifndef EDDY_DAEMON_SERVER_H
#define EDDY_DAEMON_SERVER_H

#include "daemon/conf.h"

typedef struct server_options {
    const char *config_file; /* NULL: embedded default */
    char *const *listen;     /* -l overrides */
    size_t nlisten;
    const char *root;        /* -r */
    bool worker;             /* started by a master: its listeners are all passed */
    int relay_fd;            /* a worker's end of its relay to the master, or -1 */
} server_options_t;

/** Loads the configuration the options describe: NULL with errs filled. */
config_t *server_load_config(const server_options_t *opts, config_errors_t *errs);
/** server_load_config for a reload: NULL after logging each error and
 *  "reload failed: N errors in SRC; STILL". */
config_t *server_reload_config(const server_options_t *opts, const char *src, const char *still);

/** Serves cfg (takes its reference) until told to stop.  Returns the
 *  process exit code: 0 after a clean shutdown, 2 if it could not start. */
int server_run(const server_options_t *opts, config_t *cfg);

#endif
