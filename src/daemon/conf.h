/* The daemon's configuration: an ini file read with inih into a config
 * object.  Every error is collected as "FILE:LINE: message".  A running
 * server holds a reference to its config; SIGHUP builds a new one and swaps
 * it in only if it is valid. */
#ifndef EDDY_DAEMON_CONFIG_H
#define EDDY_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "routes/route.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

typedef struct listen_addr {
    char *addr;    /* without options: what a reload compares */
    unsigned mode; /* unix: the socket file's mode (mode=0660); 0: as the umask leaves it */
    int line;
} listen_addr_t;

typedef struct config {
    http_site_t site; /* limits, Server header, handler: what connections use */
    unsigned refs;
    char *file; /* NULL for the embedded default */
    listen_addr_t *listen;
    size_t nlisten;
    int backlog; /* listen(2) queue: [server] backlog, 511 */
    unsigned max_connections;
    unsigned workers; /* [server] workers: processes serving (0: auto, one per CPU) */
    int workers_line;
    char *server_header;
    uint64_t shutdown_ms;
    uint64_t stall_warn_ms; /* [server] stall_warn: log task runs this long (0: off) */
    char *access_log; /* "stderr", "off" or a path */
    char *error_log;
    enum log_level log_level;
    size_t log_buffer;   /* [log] buffer: access-log bytes queued at most */
    bool log_time_local; /* [log] time: $time_local in local time (else UTC) */
    route_t **routes;
    size_t nroutes;
} config_t;

/** Collected error messages. */
typedef struct config_errors {
    char **msg;
    size_t n;
} config_errors_t;

/** Reads and checks file: a config with one reference, or NULL with every
 *  problem in errs. */
config_t *config_load(const char *file, config_errors_t *errs);
/** The embedded default: listen 127.0.0.1:8080, a welcome page at / and
 *  /health answering "ok". */
config_t *config_default(config_errors_t *errs);
/** Command-line overrides: -l replaces the listen addresses, -r serves a
 *  directory at /.  Returns 0, or -1 with errs filled. */
int config_override(config_t *cfg, char *const *listen, size_t nlisten, const char *root,
                    config_errors_t *errs);

/** cfg now serves: each route's commit hook (route.h). */
void config_commit(config_t *cfg);
void config_ref(config_t *cfg);
void config_unref(config_t *cfg);

void config_errors_free(config_errors_t *errs);

/** Parses "16k", "1m", "2g", "512": bytes; -1 if malformed. */
int64_t config_parse_size(const char *v);
/** Parses "500ms", "10s", "2m", "1h", "30" (seconds): ms; -1 if malformed. */
int64_t config_parse_duration(const char *v);
/** Checks a listen address ("8080", ":8080", "127.0.0.1:8080",
 *  "[::1]:8080", "localhost:8080", "unix:/path"); NULL or what is wrong. */
const char *config_check_listen(const char *addr);

#endif
