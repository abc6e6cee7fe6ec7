/* Number formatting for the hot paths (response heads, log lines), where
 * printf's parsing and locale handling would cost more than the work. */
#ifndef EDDY_HTTP_FMT_H
#define EDDY_HTTP_FMT_H

#include <stddef.h>
#include <stdint.h>

/** Writes v in decimal at out (at most 20 bytes, no NUL); returns the
 *  number of bytes. */
static inline size_t http_fmt_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

#endif
