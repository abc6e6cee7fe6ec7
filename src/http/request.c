/* Request parsing on llhttp (strict mode) plus the checks llhttp 8 does not
 * do: a head whose lines end in a bare LF, a missing or repeated Host in
 * HTTP/1.1, transfer codings other than chunked (501), versions other than
 * 1.0 and 1.1 (505), and eddy's limits (414, 431, 413).
 *
 * Callbacks record spans as offsets into the connection's input buffer,
 * so the buffer can be compacted between reads without losing them.
 * Chunk framing is bounded too: extensions count toward body_size (413)
 * and trailers toward header_size (431), or a client could stream
 * megabytes of them past every limit.
 *
 * Every refusal carries its reason in words for the error log. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/conn.h"
#include "http/path.h"

static http_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

/* Extends a span with a piece llhttp reports; pieces of one span are
 * adjacent in the buffer. */
static void span_add(http_conn_t *c, span_t *s, const char *at, size_t len)
{
    if (s->len == 0)
        s->off = (uint32_t)(at - c->in);
    s->len += (uint32_t)len;
}

/* A callback refuses the request: llhttp stops with HPE_USER. */
static int refuse(http_conn_t *c, int status, const char *reason)
{
    c->error = status;
    c->reason = reason;
    return HPE_USER;
}

/* The head may not grow past limits.header_size. */
static int check_head_size(http_conn_t *c, const char *at, size_t len)
{
    if ((size_t)(at + len - c->in) - c->in_start > c->site->limits.header_size)
        return refuse(c, 431, "request head larger than header_size");
    return 0;
}

const http_header_t *http_request_header(const http_request_t *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name_len == nl && strncasecmp(req->headers[i].name, name, nl) == 0)
            return &req->headers[i];
    }
    return NULL;
}

void http__request_reset(http_conn_t *c)
{
    c->resp_status = 0; /* nothing staged for this request yet */
    c->method = c->url = c->version = (span_t){0, 0};
    c->nhdr = 0;
    for (int i = 0; i < HTTP_H__COUNT; i++)
        c->hdr_idx[i] = -1;
    c->host_count = 0;
    c->error = 0;
    c->reason = NULL;
    c->trailer_bytes = 0;
    c->te_unknown = c->expect_continue = c->expect_other = false;
    c->in_field = false;
    c->head_done = c->msg_done = false;
    c->body_bytes = 0;
}

static int on_message_begin(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    http__request_reset(c);
    c->in_message = true;
    c->req_start = uv_hrtime();
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    span_add(c, &c->method, at, len);
    return check_head_size(c, at, len);
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    span_add(c, &c->url, at, len);
    if (c->url.len > c->site->limits.uri_size)
        return refuse(c, 414, "request target longer than uri_size");
    return check_head_size(c, at, len);
}

static int on_version(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    span_add(c, &c->version, at, len);
    return check_head_size(c, at, len);
}

static int on_version_complete(llhttp_t *p)
{
    if (p->http_major != 1 || p->http_minor > 1)
        return refuse(conn_of(p), 505, "HTTP version other than 1.0 and 1.1");
    return 0;
}

/* Trailer fields (after the last chunk) are counted and skipped: no
 * handler sees them, and together they may not exceed header_size. */
static int count_trailer(http_conn_t *c, size_t len)
{
    c->trailer_bytes += len;
    if (c->trailer_bytes > c->site->limits.header_size)
        return refuse(c, 431, "trailer fields larger than header_size");
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    if (c->head_done)
        return count_trailer(c, len);
    /* Pieces of one field arrive until on_header_field_complete. */
    if (!c->in_field) {
        c->in_field = true;
        if (c->nhdr == c->site->limits.headers)
            return refuse(c, 431, "more header fields than limits.headers");
        if (c->nhdr == c->hdr_cap && http__grow_headers(c) != 0)
            return refuse(c, 500, "out of memory for header fields");
        c->names[c->nhdr] = c->values[c->nhdr] = (span_t){0, 0};
        c->nhdr++;
    }
    span_add(c, &c->names[c->nhdr - 1], at, len);
    return check_head_size(c, at, len);
}

static int on_header_field_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    if (c->head_done)
        return 0; /* a trailer */
    if (!c->in_field || c->names[c->nhdr - 1].len == 0)
        return refuse(c, 400, "empty header field name");
    c->in_field = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    if (c->head_done)
        return count_trailer(c, len);
    span_add(c, &c->values[c->nhdr - 1], at, len);
    return check_head_size(c, at, len);
}

static const struct known {
    const char *name;
    size_t len;
    int idx;
} known[] = {
    {"host", 4, HTTP_H_HOST},
    {"if-match", 8, HTTP_H_IF_MATCH},
    {"if-none-match", 13, HTTP_H_IF_NONE_MATCH},
    {"if-modified-since", 17, HTTP_H_IF_MODIFIED_SINCE},
    {"if-unmodified-since", 19, HTTP_H_IF_UNMODIFIED_SINCE},
    {"range", 5, HTTP_H_RANGE},
    {"if-range", 8, HTTP_H_IF_RANGE},
    {"accept-encoding", 15, HTTP_H_ACCEPT_ENCODING},
    {"referer", 7, HTTP_H_REFERER},
    {"user-agent", 10, HTTP_H_USER_AGENT},
    {"upgrade", 7, HTTP_H_UPGRADE},
    {"connection", 10, HTTP_H_CONNECTION},
};

static bool token_is(const char *s, size_t len, const char *word)
{
    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    if (c->head_done)
        return 0; /* a trailer */
    size_t i = c->nhdr - 1;
    const char *name = c->in + c->names[i].off, *value = c->in + c->values[i].off;
    size_t nlen = c->names[i].len, vlen = c->values[i].len;

    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        if (nlen == known[k].len && strncasecmp(name, known[k].name, nlen) == 0) {
            if (known[k].idx == HTTP_H_HOST)
                c->host_count++;
            if (c->hdr_idx[known[k].idx] < 0)
                c->hdr_idx[known[k].idx] = (int)i;
            return 0;
        }
    }
    if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
        /* eddy decodes chunked only (RFC 9112 §6.1: anything else 501). */
        if (!token_is(value, vlen, "chunked"))
            c->te_unknown = true;
    } else if (nlen == 6 && strncasecmp(name, "expect", 6) == 0) {
        if (token_is(value, vlen, "100-continue"))
            c->expect_continue = true;
        else
            c->expect_other = true;
    }
    return 0;
}

/* The head is handled right here, inside llhttp_execute: the task may wait
 * (a 100 Continue goes out) without losing the parser's place.  Only a
 * refusal that ends the connection stops the parser. */
static int on_headers_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    c->head_done = true;
    http__on_head(c);
    return c->abort ? HPE_PAUSED : 0;
}

/* Keeps body bytes for a deferred handler. */
static int keep_body(http_conn_t *c, const char *at, size_t len)
{
    if (c->body_len + len > c->defer_max)
        return refuse(c, 413, "request body larger than the route takes");
    if (c->body_len + len > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + len)
            cap *= 2;
        char *b = realloc(c->body, cap);
        if (b == NULL)
            return refuse(c, 500, "out of memory for a request body");
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    c->body_bytes += (int64_t)len;
    if ((uint64_t)c->body_bytes > c->site->limits.body_size)
        return refuse(c, 413, "request body larger than body_size");
    return c->defer ? keep_body(c, at, len) : 0;
}

void http_response_defer(http_conn_t *c, size_t max, http_body_fn fn, void *arg)
{
    http__defer_drop(c);
    c->defer = fn;
    c->defer_arg = arg;
    c->defer_max = max;
    c->body_len = 0;
}

void http__defer_drop(http_conn_t *c)
{
    http_body_fn fn = c->defer;
    if (fn != NULL) {
        c->defer = NULL;
        fn(c->defer_arg, NULL, NULL, 0);
        /* Its record waits for a response; if none follows (the client
         * left mid-body), it is logged as nginx does: 400. */
        if (c->resp_rec != NULL && c->resp_status == 0)
            c->resp_status = 400;
    }
    /* A large body's buffer is not kept for the next request. */
    if (c->body_cap > 65536) {
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    c->body_len = 0;
}

/* The body a deferred handler waited for is complete: it stages the
 * response now. */
static void run_deferred(http_conn_t *c)
{
    http_body_fn fn = c->defer;
    c->defer = NULL;
    int status = fn(c->defer_arg, c, c->body ? c->body : "", c->body_len);
    if (c->resp_failed)
        status = 500;
    if (status != 0) {
        if (status >= 500)
            c->close = true;
        http_response_error(c, status);
    }
    http__defer_drop(c);
}

/* Chunk extensions are skipped, but their bytes count as body. */
static int on_chunk_extension(llhttp_t *p, const char *at, size_t len)
{
    http_conn_t *c = conn_of(p);
    (void)at;
    c->body_bytes += (int64_t)len;
    if ((uint64_t)c->body_bytes > c->site->limits.body_size)
        return refuse(c, 413, "chunk extensions and body larger than body_size");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    http_conn_t *c = conn_of(p);
    if (c->defer)
        run_deferred(c);
    c->msg_done = true;
    c->in_message = false;
    return HPE_PAUSED;
}

const llhttp_settings_t http__settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_version = on_version,
    .on_version_complete = on_version_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_extension_name = on_chunk_extension,
    .on_chunk_extension_value = on_chunk_extension,
    .on_message_complete = on_message_complete,
};

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* llhttp refuses a method it does not know as soon as its prefix stops
 * matching one: a well-formed token followed by a space (or by the end of
 * what arrived) is a method eddy does not implement (501, RFC 9110 §9.1);
 * anything else is garbage (400). */
static bool unknown_method(const http_conn_t *c)
{
    size_t i = c->in_start, n = 0;
    while (i < c->in_end && is_tchar((unsigned char)c->in[i]))
        i++, n++;
    return n > 0 && (i == c->in_end || c->in[i] == ' ');
}

int http__parse_error_status(http_conn_t *c, llhttp_errno_t err)
{
    /* A callback of ours refused: llhttp reports it as HPE_USER or as the
     * HPE_CB_* code of the callback. */
    if (c->error != 0)
        return c->error;
    c->reason = llhttp_get_error_reason(&c->parser);
    if (c->reason == NULL || *c->reason == '\0')
        c->reason = llhttp_errno_name(err);
    switch (err) {
    case HPE_INVALID_METHOD:
        if (!unknown_method(c))
            return 400;
        c->reason = "method not implemented";
        return 501;
    case HPE_INVALID_VERSION:
        return 505;
    case HPE_INVALID_TRANSFER_ENCODING:
        return c->te_unknown ? 501 : 400;
    default:
        return c->te_unknown && c->head_done ? 501 : 400;
    }
}

/* ------------------------------------------------------------ the head */

static uint32_t span_end(span_t s)
{
    return s.off + s.len;
}

/* Every line of the head must end in CRLF; llhttp 8 accepts a bare LF
 * after the request line even in strict mode.  The head ends within four
 * bytes of its last span. */
static bool bare_lf(const http_conn_t *c)
{
    uint32_t last = span_end(c->version) > span_end(c->url) ? span_end(c->version) : span_end(c->url);
    for (size_t i = 0; i < c->nhdr; i++) {
        if (span_end(c->names[i]) > last)
            last = span_end(c->names[i]);
        if (span_end(c->values[i]) > last)
            last = span_end(c->values[i]);
    }
    last = last + 4 < c->in_end ? last + 4 : (uint32_t)c->in_end;
    const char *p = c->in + c->method.off, *end = c->in + last;
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++) {
        if (q == p || q[-1] != '\r')
            return true;
    }
    return false;
}

/* Splits the target into path and query: origin-form, or absolute-form
 * whose authority is dropped (RFC 9112 §3.2.2). */
static bool split_target(const char *t, size_t len, const char **path, size_t *plen)
{
    if (len > 0 && t[0] == '/') {
        *path = t;
        *plen = len;
        return true;
    }
    if (len > 7 && (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
        const char *p = memchr(t + 8, '/', len - 8);
        if (p == NULL)
            return false;
        *path = p;
        *plen = len - (size_t)(p - t);
        return true;
    }
    return false;
}

/* The checks llhttp does not make; a refusal sets c->reason. */
static int check_head(http_conn_t *c, http_request_t *req)
{
    if (bare_lf(c))
        return c->reason = "bare LF in the request head", 400;
    if (c->host_count > 1)
        return c->reason = "more than one Host header", 400;
    if (c->parser.http_minor == 1 && c->host_count == 0)
        return c->reason = "HTTP/1.1 request without Host", 400;
    if (c->te_unknown)
        return c->reason = "transfer coding other than chunked", 501;
    if (c->expect_other)
        return c->reason = "Expect other than 100-continue", 417;
    if (req->content_length >= 0 && (uint64_t)req->content_length > c->site->limits.body_size)
        return c->reason = "Content-Length larger than body_size", 413;
    const char *path;
    size_t plen;
    if (!split_target(req->target, req->target_len, &path, &plen))
        return c->reason = "request target not in origin or absolute form", 400;
    if (http__grow_path(c, plen + 2) != 0)
        return 500;
    long n = http_path_normalize(path, plen, c->path, c->path_cap);
    if (n < 0)
        return c->reason = "malformed path or one above the root", 400;
    req->path = c->path;
    req->path_len = (size_t)n;
    const char *q = memchr(path, '?', plen);
    if (q != NULL) {
        req->query = q + 1;
        req->query_len = plen - (size_t)(q + 1 - path);
    }
    return 0;
}

static void build_request(http_conn_t *c, http_request_t *req)
{
    memset(req, 0, sizeof(*req));
    req->method = c->parser.method;
    req->method_name = c->in + c->method.off;
    req->method_len = c->method.len;
    req->version_minor = c->parser.http_minor;
    req->target = c->in + c->url.off;
    req->target_len = c->url.len;
    for (size_t i = 0; i < c->nhdr; i++) {
        c->hdrs[i] = (http_header_t){c->in + c->names[i].off, c->in + c->values[i].off,
                                     c->names[i].len, c->values[i].len};
    }
    req->headers = c->hdrs;
    req->nheaders = c->nhdr;
    for (int i = 0; i < HTTP_H__COUNT; i++)
        req->hdr[i] = c->hdr_idx[i] >= 0 ? &c->hdrs[c->hdr_idx[i]] : NULL;
    req->chunked = (c->parser.flags & F_CHUNKED) != 0;
    req->content_length = (c->parser.flags & F_CONTENT_LENGTH) ? (int64_t)c->parser.content_length : -1;
    req->head = c->parser.method == HTTP_HEAD;
    req->peer = c->peer;
}

void http__on_head(http_conn_t *c)
{
    http_request_t req;
    const http_limits_t *lim = &c->site->limits;
    int status;

    build_request(c, &req);
    c->head = req.head;
    c->nrequests++;
    /* keepalive = 0 turns keep-alive off, as nginx's keepalive_timeout 0. */
    if (!llhttp_should_keep_alive(&c->parser) || c->srv->draining || lim->keepalive_ms == 0 ||
        (lim->requests_per_connection && c->nrequests >= lim->requests_per_connection))
        c->close = true;

    status = check_head(c, &req);
    bool body_follows = req.chunked || req.content_length > 0;
    if (status != 0 && c->reason != NULL && c->srv->refused != NULL)
        c->srv->refused(c->srv, c->peer, status, c->reason);
    if (status == 0) {
        status = c->site->handle(c->site, c, &req);
        if (c->resp_failed)
            status = 500;
    }
    if (status != 0) {
        http__defer_drop(c);
        http__takeover_drop(c);
        /* The body of a request refused before its handler is not read,
         * and a malformed head leaves the stream unsynchronised: close. */
        if (body_follows || status == 400 || status >= 500)
            c->close = c->abort = true;
        http_response_error(c, status);
    } else if (c->expect_continue && body_follows && c->resp_status < 300) {
        http__send_continue(c);
    }
    if (c->srv->log_begin) {
        void *rec = c->srv->log_begin(c->srv, &req);
        if (rec != NULL && c->defer != NULL && c->resp_rec == NULL)
            c->resp_rec = rec; /* goes to the response staged at the body's end */
        else if (rec != NULL)
            http__response_log(c, rec); /* ends after the write */
    }
}

/* Length of the run at p (at most max bytes) that holds no space nor
 * line end. */
static size_t word_len(const char *p, size_t max)
{
    size_t n = 0;
    while (n < max && p[n] != ' ' && p[n] != '\r' && p[n] != '\n')
        n++;
    return n;
}

/* What arrived of a request refused before its head was complete: the
 * request line's parts as far as they are known.  When llhttp refused the
 * method, the line's first two words are taken as they came (nginx too
 * logs a bad request line as it came). */
static void build_partial(http_conn_t *c, http_request_t *req)
{
    memset(req, 0, sizeof(*req));
    req->method = -1;
    req->method_name = c->in + c->method.off;
    req->method_len = c->method.len;
    req->target = c->in + c->url.off;
    req->target_len = c->url.len;
    if (c->method.len == 0 && c->in_start < c->in_end) {
        const char *p = c->in + c->in_start;
        size_t left = c->in_end - c->in_start;
        req->method_name = p;
        req->method_len = word_len(p, left);
        if (req->method_len < left && p[req->method_len] == ' ') {
            req->target = p + req->method_len + 1;
            req->target_len = word_len(req->target, left - req->method_len - 1);
        }
    }
    req->version_minor = c->version.len ? c->parser.http_minor : 1;
    req->content_length = -1;
    req->peer = c->peer;
}

void http__refused(http_conn_t *c, int status, const char *reason)
{
    http_request_t req;

    if (c->srv->refused != NULL)
        c->srv->refused(c->srv, c->peer, status, reason ? reason : "refused");
    if (c->head_done || c->srv->log_begin == NULL)
        return; /* http__on_head logged the request */
    build_partial(c, &req);
    void *rec = c->srv->log_begin(c->srv, &req);
    if (rec != NULL)
        http__response_log(c, rec);
}
