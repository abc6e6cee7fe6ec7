/* Logging.  The error log is written directly (it is rare).  Access-log
 * records go from the connection tasks into a queue bounded in bytes
 * ([log] buffer) that one writer task takes whole each turn and writes
 * with one writev on the thread pool: serving never waits on the disk, and
 * records are dropped (counted, and logged at most once a second) only
 * when the disk stalls until the queue is full, or fails. */
#ifndef EDDY_DAEMON_LOG_H
#define EDDY_DAEMON_LOG_H

#include <stdint.h>

#include "daemon/conf.h"
#include "http/http.h"

/** Points the logs at cfg's destinations and level (start-up, reload);
 *  0 or -1 with the reason logged. */
int log_configure(const config_t *cfg);
/** Starts the access-log writer task (inside the runtime). */
int log_start(void);
/** Flushes what is queued and stops the writer. */
void log_stop(void);
/** Reopens the log files (SIGUSR1, after logrotate moved them). */
void log_reopen(void);

/** An error-log line "TIME [level] message". */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Formats an access-log record for a response being staged (req is only
 *  valid now); NULL if the access log is off or the record is dropped. */
void *log_access_begin(const http_request_t *req);
/** Completes and queues a record with the status sent and the body bytes
 *  that actually left. */
void log_access_end(void *rec, int status, uint64_t sent);

/** A refused request (status >= 400) with its reason: one error-log line
 *  at info, rate-limited per reason. */
void log_refused(const char *peer, int status, const char *reason);

/** An error-log line rate-limited by key (any string, copied; its first
 *  63 bytes are compared): at most one line per key per second.  The lines
 *  suppressed meanwhile are counted, and when the second ends the latest of
 *  them is written with the count of the others ("... (and 512 more like
 *  it in the last 1s)").  For events an attacker or a fault can repeat at
 *  will: refused requests, EMFILE, a full disk. */
void log_ratelimited(enum log_level level, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Records dropped since start: the queue was full or the write failed. */
uint64_t log_dropped(void);

#endif
