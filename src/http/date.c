/* The Date header changes once a second; formatting it per request would
 * cost an strftime each time, so the strings are cached by second. */
#include "http/date.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static __thread time_t cached_sec = -1;
static __thread char date_buf[HTTP_DATE_LEN + 1];
static __thread char logtime_buf[HTTP_LOGTIME_LEN + 1];
static bool logtime_local = true;

static char *two(char *p, int v)
{
    *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

static char *four(char *p, int v)
{
    p = two(p, v / 100);
    return two(p, v % 100);
}

static char *hms(char *p, const struct tm *tm)
{
    p = two(p, tm->tm_hour);
    *p++ = ':';
    p = two(p, tm->tm_min);
    *p++ = ':';
    return two(p, tm->tm_sec);
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
static void imf(char *p, const struct tm *tm)
{
    memcpy(p, days[tm->tm_wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = two(p, tm->tm_mday);
    *p++ = ' ';
    memcpy(p, months[tm->tm_mon], 3);
    p += 3;
    *p++ = ' ';
    p = four(p, tm->tm_year + 1900);
    *p++ = ' ';
    p = hms(p, tm);
    memcpy(p, " GMT", 5);
}

/* Common log format: "06/Nov/1994:08:49:37 +0000", gmtoff seconds east of
 * UTC. */
static void logtime(char *p, const struct tm *tm, long gmtoff)
{
    long off = gmtoff < 0 ? -gmtoff : gmtoff;
    p = two(p, tm->tm_mday);
    *p++ = '/';
    memcpy(p, months[tm->tm_mon], 3);
    p += 3;
    *p++ = '/';
    p = four(p, tm->tm_year + 1900);
    *p++ = ':';
    p = hms(p, tm);
    *p++ = ' ';
    *p++ = gmtoff < 0 ? '-' : '+';
    p = two(p, (int)(off / 3600));
    p = two(p, (int)(off / 60 % 60));
    *p = '\0';
}

void http_logtime_local(bool local)
{
    if (local == logtime_local)
        return;
    logtime_local = local;
    /* Reformat at the next call, on this (the serving) thread. */
    cached_sec = -1;
}

void http_date_format(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    imf(out, &tm);
}

static void refresh(void)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == cached_sec)
        return;
    cached_sec = ts.tv_sec;
    gmtime_r(&ts.tv_sec, &tm);
    imf(date_buf, &tm);
    if (logtime_local)
        localtime_r(&ts.tv_sec, &tm);
    logtime(logtime_buf, &tm, logtime_local ? tm.tm_gmtoff : 0);
}

time_t http_date_second(void)
{
    refresh();
    return cached_sec;
}

const char *http_date_now(void)
{
    refresh();
    return date_buf;
}

const char *http_logtime_now(void)
{
    refresh();
    return logtime_buf;
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++) {
        if (strncasecmp(m, months[i], 3) == 0)
            return i;
    }
    return -1;
}

time_t http_date_parse(const char *s, size_t len)
{
    char buf[64], mon[4] = {0}, wday[16];
    struct tm tm;
    int n = 0;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    memset(&tm, 0, sizeof(tm));
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &tm.tm_mday, mon, &tm.tm_year,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 7 && n == (int)len) {
        tm.tm_year -= 1900;
    } else if (sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wday, &tm.tm_mday, mon,
                      &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 7 &&
               n == (int)len) {
        /* RFC 850: two-digit years; 1970-2069 */
        if (tm.tm_year < 70)
            tm.tm_year += 100;
    } else if (sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", wday, mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec, &tm.tm_year, &n) == 7 && n == (int)len) {
        tm.tm_year -= 1900; /* asctime */
    } else {
        return -1;
    }
    tm.tm_mon = month_index(mon);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    return timegm(&tm);
}
