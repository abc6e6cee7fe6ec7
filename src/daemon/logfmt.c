#include "config.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "daemon/logfmt.h"
#include "http/date.h"
#include "http/fmt.h"

/* Appends s, escaping quotes, backslashes and control bytes (\xHH) so a
 * client cannot forge log lines; also spaces if space is set (for the
 * unquoted fields). */
static size_t put_escaped(char *out, size_t cap, const char *s, size_t len, bool space)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f || (space && ch == ' ')) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        } else {
            out[o++] = (char)ch;
        }
    }
    return o;
}

static size_t put(char *out, size_t cap, const char *s, size_t len)
{
    if (len > cap)
        len = cap;
    memcpy(out, s, len);
    return len;
}

/* cap minus a reserve for the fields after, or 0. */
static size_t room(size_t cap, size_t used, size_t reserve)
{
    return used + reserve < cap ? cap - used - reserve : 0;
}

static size_t put_header(char *out, size_t cap, const http_header_t *h)
{
    if (h == NULL || h->value_len == 0)
        return put(out, cap, "\"-\"", 3);
    size_t o = put(out, cap, "\"", 1);
    o += put_escaped(out + o, room(cap, o, 1), h->value, h->value_len, false);
    return o + put(out + o, cap - o, "\"", 1);
}

static const http_header_t *find_header(const http_request_t *req, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header_t *h = &req->headers[i];
        if (h->name_len == len && strncasecmp(h->name, name, len) == 0)
            return h;
    }
    return NULL;
}

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes base64 (padding optional) into out; the length, or -1 if s is
 * not base64 or does not fit. */
static ssize_t b64_decode(const char *s, size_t len, char *out, size_t cap)
{
    uint32_t acc = 0;
    size_t o = 0, bits = 0;

    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    return (ssize_t)o;
}

/* $remote_user: the user of "Authorization: Basic base64(user:password)",
 * escaped; "-" if there is none or the header is not valid Basic. */
static size_t put_user(char *out, size_t cap, const http_request_t *req)
{
    const http_header_t *h = find_header(req, "authorization");
    char cred[384];
    ssize_t n = -1;

    if (h != NULL && h->value_len > 6 && strncasecmp(h->value, "basic ", 6) == 0) {
        size_t i = 6;
        while (i < h->value_len && h->value[i] == ' ')
            i++;
        size_t end = h->value_len;
        while (end > i && (h->value[end - 1] == ' ' || h->value[end - 1] == '\t'))
            end--;
        n = b64_decode(h->value + i, end - i, cred, sizeof(cred));
    }
    const char *colon = n > 0 ? memchr(cred, ':', (size_t)n) : NULL;
    if (colon == NULL || colon == cred)
        return put(out, cap, "-", 1);
    return put_escaped(out, cap, cred, (size_t)(colon - cred), true);
}

size_t log_format_combined(char *o, const http_request_t *req, uint32_t *split)
{
    size_t cap = LOG_RECORD_MAX - 1, n = 0;
    const char *peer = req->peer ? req->peer : "-";

    n += put_escaped(o + n, 200, peer, strlen(peer), true);
    n += put(o + n, cap - n, " - ", 3);
    n += put_user(o + n, 200, req);
    n += put(o + n, cap - n, " [", 2);
    n += put(o + n, cap - n, http_logtime_now(), HTTP_LOGTIME_LEN);
    n += put(o + n, cap - n, "] \"", 3);
    if (req->method_name != NULL && req->method_len > 0) {
        n += put_escaped(o + n, room(cap, n, 700), req->method_name, req->method_len, false);
        n += put(o + n, cap - n, " ", 1);
        if (req->target != NULL)
            n += put_escaped(o + n, room(cap, n, 600), req->target, req->target_len, false);
        n += put(o + n, cap - n, req->version_minor ? " HTTP/1.1\" " : " HTTP/1.0\" ", 11);
    } else {
        /* Refused before the request line was whole. */
        n += put(o + n, cap - n, "-\" ", 3);
    }
    *split = (uint32_t)n;
    n += put(o + n, cap - n, " ", 1);
    n += put_header(o + n, room(cap, n, 300), req->hdr[HTTP_H_REFERER]);
    n += put(o + n, cap - n, " ", 1);
    n += put_header(o + n, room(cap, n, 1), req->hdr[HTTP_H_USER_AGENT]);
    o[n++] = '\n';
    return n;
}

size_t log_format_status_bytes(char *out, int status, uint64_t sent)
{
    size_t n = http_fmt_u64(out, (uint64_t)status);
    out[n++] = ' ';
    if (sent == 0)
        out[n++] = '-';
    else
        n += http_fmt_u64(out + n, sent);
    return n;
}
