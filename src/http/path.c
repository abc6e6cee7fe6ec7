/* Path normalisation is the first line of defence for static files: after
 * it, the path starts with '/', has no "." or ".." segment, no empty
 * segment and no NUL, whatever escapes the client used (%2e%2e, %2f).  The
 * file layer still opens with RESOLVE_BENEATH, so a mistake here cannot
 * escape the root either. */
#include "http/path.h"

#include <stdbool.h>
#include <string.h>

#define EDDY_LIKELY(x) __builtin_expect(!!(x), 1)

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Pass 1: percent-decoding up to the query or fragment. */
static long decode(const char *path, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && path[i] != '?' && path[i] != '#'; i++) {
        int c = (unsigned char)path[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval((unsigned char)path[i + 1]), lo = hexval((unsigned char)path[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

/* Most paths have nothing to decode or resolve: no '%', no "//", no
 * dot segment.  Those are copied as they are. */
static long plain(const char *path, size_t len, char *out, size_t cap)
{
    /* Bytes that need a second look: 1 ends the path, 2 may start work. */
    static const unsigned char special[256] = {
        ['?'] = 1, ['#'] = 1, ['%'] = 2, ['\0'] = 2, ['/'] = 2, ['.'] = 2,
    };
    size_t i = 1;
    if (len == 0 || path[0] != '/')
        return -1;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (EDDY_LIKELY(special[c] == 0))
            continue;
        if (special[c] == 1)
            break;
        if (c == '%' || c == '\0' || path[i - 1] == '/')
            return -2; /* an escape, a NUL, "//", "/." */
    }
    if (i + 1 > cap)
        return -1;
    memcpy(out, path, i);
    out[i] = '\0';
    return (long)i;
}

long http_path_normalize(const char *path, size_t len, char *out, size_t cap)
{
    long n = plain(path, len, out, cap);
    if (n != -2)
        return n;
    n = decode(path, len, out, cap);
    size_t o = 0, i = 0;
    bool dir = false;

    if (n <= 0 || out[0] != '/')
        return -1;
    /* Pass 2, in place (the output never outruns the input): segments
     * are copied one by one, "." dropped, ".." removes the previous one. */
    while (i < (size_t)n) {
        while (i < (size_t)n && out[i] == '/')
            i++;
        size_t s = i;
        while (i < (size_t)n && out[i] != '/')
            i++;
        size_t seg = i - s;
        dir = i == (size_t)n && seg == 0; /* ends in '/' */
        if (seg == 0)
            continue;
        if (seg == 1 && out[s] == '.') {
            dir = i == (size_t)n;
            continue;
        }
        if (seg == 2 && out[s] == '.' && out[s + 1] == '.') {
            if (o == 0)
                return -1; /* above the root */
            while (o > 0 && out[o - 1] != '/')
                o--;
            o--; /* the '/' before the removed segment */
            dir = i == (size_t)n;
            continue;
        }
        out[o++] = '/';
        memmove(out + o, out + s, seg);
        o += seg;
    }
    if (o == 0 || dir)
        out[o++] = '/';
    out[o] = '\0';
    return (long)o;
}

/* RFC 3986 §3.3 pchar: unreserved, sub-delims, ':' and '@'.  Nothing
 * else may go into a header as it is: CR LF would end the header, and a
 * space, quote or non-ASCII byte makes the URI invalid. */
static bool is_pchar(unsigned char c)
{
    static const char other[] = "-._~!$&'()*+,;=:@";
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr(other, c) != NULL;
}

long http_uri_encode(const char *in, size_t len, char *out, size_t cap, int query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool keep = is_pchar(c) || c == '/' || (query && (c == '?' || c == '%'));
        if (o + (keep ? 1 : 3) >= cap)
            return -1;
        if (keep) {
            out[o++] = (char)c;
            continue;
        }
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    if (cap == 0)
        return -1;
    out[o] = '\0';
    return (long)o;
}
