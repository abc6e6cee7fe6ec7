/* Wall-clock strings formatted once per second: the Date header
 * (RFC 9110 IMF-fixdate) and the access log's time. */
#ifndef EDDY_HTTP_DATE_H
#define EDDY_HTTP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define HTTP_LOGTIME_LEN 26 /* "06/Nov/1994:08:49:37 +0000" */

/** The current time as an IMF-fixdate (not NUL-terminated: HTTP_DATE_LEN). */
const char *http_date_now(void);
/** The current time in common-log format (HTTP_LOGTIME_LEN), in the local
 *  time zone or UTC as http_logtime_local chose. */
const char *http_logtime_now(void);
/** Chooses the local time zone (TZ, the default, as nginx's $time_local)
 *  or UTC for http_logtime_now. */
void http_logtime_local(bool local);
/** The second the Date strings were last refreshed for (refreshes). */
time_t http_date_second(void);
/** Formats t as an IMF-fixdate into out (HTTP_DATE_LEN + 1 bytes). */
void http_date_format(time_t t, char *out);
/** Parses an IMF-fixdate (and the obsolete RFC 850 / asctime forms);
 *  returns -1 if the text is not a date. */
time_t http_date_parse(const char *s, size_t len);

#endif
