/* Logging.  The error log is written directly (it is rare).  Access-log
 * records go from the connection tasks into a bounded queue that one
 * writer task drains in batches with the runtime's file I/O: serving never
 * waits on the disk, and when the queue is full records are dropped and
 * counted. */
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

/** Queues an access-log record in combined format. */
void log_access(const http_request_t *req, int status, uint64_t bytes);

/** Formats an access-log record for a response being staged (req is only
 *  valid now); NULL if the access log is off or the record is dropped. */
void *log_access_begin(const http_request_t *req, int status, uint64_t planned);
/** Completes and queues a record with the body bytes that actually left. */
void log_access_end(void *rec, uint64_t sent);

/** A refused request (status >= 400) with its reason: one error-log line
 *  at info, rate-limited per reason. */
void log_refused(const char *peer, int status, const char *reason);

/** Records dropped because the queue was full (since start). */
uint64_t log_dropped(void);

#endif
