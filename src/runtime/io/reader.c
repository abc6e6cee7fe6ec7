/* The buffered reader (asyncio.StreamReader): readuntil, readline,
 * readexactly and read over any stream.
 *
 * Buffered bytes are buf[start, end).  Nothing is consumed by a call that
 * fails, so a cancelled or timed-out read loses no data.  Large reads go
 * straight into the caller's memory instead of through the buffer. */
#include "runtime/internal.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT (64u * 1024u)
#define INITIAL_CAP (8u * 1024u)

/* Reads of at least this many bytes bypass the buffer when it is empty. */
#define DIRECT_MIN INITIAL_CAP

int eddy_reader_init(eddy_reader_t *r, eddy_stream_t *s, size_t limit)
{
    r->stream = s;
    r->buf = NULL;
    r->start = r->end = r->cap = 0;
    r->limit = limit ? limit : DEFAULT_LIMIT;
    return 0;
}

void eddy_reader_free(eddy_reader_t *r)
{
    free(r->buf);
    r->buf = NULL;
    r->start = r->end = r->cap = 0;
}

size_t eddy_reader_buffered(const eddy_reader_t *r)
{
    return r->end - r->start;
}

/* Moves the buffered bytes to the front and makes room for at least
 * `more` bytes after them: 0 or UV_ENOMEM. */
static int reserve(eddy_reader_t *r, size_t more)
{
    size_t have = r->end - r->start;
    if (r->start > 0 && r->cap - r->end < more) {
        memmove(r->buf, r->buf + r->start, have);
        r->start = 0;
        r->end = have;
    }
    if (r->cap - r->end < more) {
        size_t cap = r->cap ? r->cap : INITIAL_CAP;
        char *buf;
        while (cap - have < more)
            cap *= 2;
        buf = realloc(r->buf, cap);
        if (buf == NULL)
            return UV_ENOMEM;
        r->buf = buf;
        r->cap = cap;
    }
    return 0;
}

/* Reads what arrives into the buffer, growing it (doubling) while it is
 * full and smaller than max_cap.  >0 bytes, UV_EOF or an error. */
static ssize_t fill(eddy_reader_t *r, size_t max_cap)
{
    size_t have = r->end - r->start;
    size_t more = 1;
    ssize_t n;
    int rc;

    if (have == 0)
        r->start = r->end = 0;
    if (r->cap == 0)
        more = INITIAL_CAP;
    else if (have == r->cap && r->cap < max_cap)
        more = r->cap; /* full: double */
    else if (r->cap - r->end < r->cap / 4 && have < r->cap)
        more = r->cap - have; /* little room left at the end: compact */
    rc = reserve(r, more);
    if (rc != 0)
        return rc;
    n = eddy_read(r->stream, r->buf + r->end, r->cap - r->end);
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

ssize_t eddy_reader_readuntil(eddy_reader_t *r, const void *sep, size_t seplen, const char **data)
{
    size_t scanned = 0; /* bytes from start known not to begin sep */
    ssize_t n;

    if (seplen == 0)
        return UV_EINVAL;
    for (;;) {
        size_t have = r->end - r->start;
        if (have >= seplen) {
            const char *p = memmem(r->buf + r->start + scanned, have - scanned, sep, seplen);
            if (p != NULL) {
                size_t len = (size_t)(p - (r->buf + r->start)) + seplen;
                if (len > r->limit)
                    return EDDY_ELIMIT;
                *data = r->buf + r->start;
                r->start += len;
                return (ssize_t)len;
            }
            scanned = have - seplen + 1;
        }
        if (have >= r->limit)
            return EDDY_ELIMIT; /* a separator found later would end past it */
        n = fill(r, eddy__min(r->limit, (size_t)SSIZE_MAX));
        if (n == UV_EOF)
            return have > 0 ? EDDY_EINCOMPLETE : UV_EOF;
        if (n < 0)
            return n;
    }
}

ssize_t eddy_reader_readline(eddy_reader_t *r, const char **line)
{
    ssize_t n = eddy_reader_readuntil(r, "\n", 1, line);
    if (n == EDDY_EINCOMPLETE) {
        /* The stream ended without a newline: the last line is what is left. */
        n = (ssize_t)(r->end - r->start);
        *line = r->buf + r->start;
        r->start = r->end;
        return n;
    }
    return n == UV_EOF ? 0 : n;
}

/* Puts n bytes that were taken from the reader back in front (the buffer
 * is empty when this is called). */
static void unread(eddy_reader_t *r, const char *bytes, size_t n)
{
    if (n == 0 || reserve(r, n) != 0)
        return;
    memcpy(r->buf, bytes, n);
    r->start = 0;
    r->end = n;
}

int eddy_reader_readexactly(eddy_reader_t *r, void *dst, size_t n)
{
    char *d = dst;
    size_t got = 0;

    while (got < n) {
        size_t have = r->end - r->start;
        ssize_t rc;
        if (have > 0) {
            size_t k = eddy__min(have, n - got);
            memcpy(d + got, r->buf + r->start, k);
            r->start += k;
            got += k;
            continue;
        }
        if (n - got >= DIRECT_MIN) {
            rc = eddy_read(r->stream, d + got, n - got);
            if (rc > 0)
                got += (size_t)rc;
        } else {
            rc = fill(r, r->cap);
        }
        if (rc < 0) {
            unread(r, d, got);
            return rc == UV_EOF ? EDDY_EINCOMPLETE : (int)rc;
        }
    }
    return 0;
}

ssize_t eddy_reader_read(eddy_reader_t *r, void *dst, size_t max)
{
    size_t have = r->end - r->start;
    ssize_t n;

    if (max == 0)
        return UV_EINVAL;
    if (have == 0) {
        if (max >= DIRECT_MIN) {
            n = eddy_read(r->stream, dst, max);
            return n == UV_EOF ? 0 : n;
        }
        n = fill(r, r->cap);
        if (n < 0)
            return n == UV_EOF ? 0 : n;
        have = r->end - r->start;
    }
    n = (ssize_t)eddy__min(have, max);
    memcpy(dst, r->buf + r->start, (size_t)n);
    r->start += (size_t)n;
    return n;
}
