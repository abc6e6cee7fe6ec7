/* The access log's record format: nginx's "combined", escaped so that a
 * client cannot forge a line or a field. */
#ifndef EDDY_DAEMON_LOGFMT_H
#define EDDY_DAEMON_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

#define LOG_RECORD_MAX 2048 /* longest record; long fields are cut */

/** Formats req's record into out (LOG_RECORD_MAX bytes), newline included,
 *  without the status and the byte count, whose place goes in *split (they
 *  are known only once the response has left): '$remote_addr -
 *  $remote_user [$time_local] "$request" ' then ' "$http_referer"
 *  "$http_user_agent"'.  Returns the length. */
size_t log_format_combined(char *out, const http_request_t *req, uint32_t *split);

#define LOG_STATUS_BYTES_MAX 32
/** Formats what goes at split: '$status $body_bytes_sent' ("-" for 0
 *  bytes, as in Apache's combined format).  Returns the length. */
size_t log_format_status_bytes(char *out, int status, uint64_t sent);

#endif
