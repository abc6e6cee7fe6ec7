/* type = static: files under root, with index files, ETag/Last-Modified,
 * conditional requests in the order of RFC 9110 §13.2.2, single byte
 * ranges (RFC 9110 §14), precompressed FILE.gz and sendfile for bodies
 * that are not cached in memory. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llhttp.h>

#include "http/date.h"
#include "http/mime.h"
#include "http/path.h"
#include "routes/filecache.h"
#include "routes/route.h"

typedef struct stat_route {
    char *root;
    char *index;
    char *cache_control;
    bool precompressed, follow_symlinks;
    file_cache_t cache;
    bool cache_ready;
    struct cache_sweeper *sweeper; /* started by the first request */
} stat_route_t;

/* ------------------------------------------------------------- sweeping */

#define SWEEP_MS 1000
#define SWEEP_BUDGET 256 /* fstatat calls per sweep: well under a millisecond */

/* A timer that sweeps the file cache once a second, so that a deleted
 * file's descriptor is closed and a deploy noticed even when nobody asks
 * for them.  Its own allocation: eddy_run closes every handle at exit
 * (without a callback), possibly before the route is freed. */
typedef struct cache_sweeper {
    uv_timer_t timer;
    file_cache_t *fc; /* NULL once the route is gone */
} cache_sweeper_t;

static void on_sweep(uv_timer_t *t)
{
    cache_sweeper_t *sw = t->data;
    if (sw->fc != NULL)
        file_cache_sweep(sw->fc, uv_now(t->loop), SWEEP_BUDGET);
}

static void sweeper_start(stat_route_t *st)
{
    cache_sweeper_t *sw = calloc(1, sizeof(*sw));
    if (sw == NULL || uv_timer_init(eddy_loop(), &sw->timer) != 0) {
        free(sw);
        return; /* requests still revalidate what they touch */
    }
    sw->fc = &st->cache;
    sw->timer.data = sw;
    uv_unref((uv_handle_t *)&sw->timer); /* never what keeps the loop alive */
    uv_timer_start(&sw->timer, on_sweep, SWEEP_MS, SWEEP_MS);
    st->sweeper = sw;
}

static void on_sweeper_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sweeper_stop(cache_sweeper_t *sw)
{
    sw->fc = NULL;
    if (uv_is_closing((uv_handle_t *)&sw->timer))
        free(sw); /* closed by eddy_run's teardown: the loop is gone */
    else
        uv_close((uv_handle_t *)&sw->timer, on_sweeper_closed);
}

static int st_set(route_t *r, const char *key, const char *value, const char **err)
{
    stat_route_t *st = r->state;
    char **str = NULL;
    bool *flag = NULL;

    if (strcmp(key, "root") == 0)
        str = &st->root;
    else if (strcmp(key, "index") == 0)
        str = &st->index;
    else if (strcmp(key, "cache_control") == 0)
        str = &st->cache_control;
    else if (strcmp(key, "precompressed") == 0)
        flag = &st->precompressed;
    else if (strcmp(key, "follow_symlinks") == 0)
        flag = &st->follow_symlinks;
    else
        return 1;
    if (flag != NULL) {
        int b = route_parse_bool(value);
        if (b < 0) {
            *err = "expected on or off";
            return -1;
        }
        *flag = b;
        return 0;
    }
    if (str == &st->index && (strchr(value, '/') != NULL || *value == '\0')) {
        *err = "index must be a file name";
        return -1;
    }
    free(*str);
    *str = strdup(value);
    return 0;
}

static const char *st_check(route_t *r, char *buf, size_t len)
{
    stat_route_t *st = r->state;
    struct stat sb;

    if (st->root == NULL)
        return "a static route needs root";
    if (stat(st->root, &sb) != 0) {
        snprintf(buf, len, "root %s: %s", st->root, strerror(errno));
        return buf;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(buf, len, "root %s: not a directory", st->root);
        return buf;
    }
    /* (helper "config", issue 7: -t checks what serving needs.)  Files are
     * opened beneath root, which takes search permission on it; a root the
     * daemon's user cannot enter would pass -t and then answer 403s. */
    if (faccessat(AT_FDCWD, st->root, X_OK, AT_EACCESS) != 0) {
        snprintf(buf, len, "root %s: cannot be read: %s", st->root, strerror(errno));
        return buf;
    }
    if (st->index == NULL)
        st->index = strdup("index.html");
    int rc = file_cache_init(&st->cache, st->root, st->follow_symlinks);
    if (rc != 0) {
        snprintf(buf, len, "root %s: %s", st->root, strerror(-rc));
        return buf;
    }
    st->cache_ready = true;
    return NULL;
}

static void st_free(route_t *r)
{
    stat_route_t *st = r->state;
    if (st->sweeper != NULL)
        sweeper_stop(st->sweeper);
    if (st->cache_ready)
        file_cache_destroy(&st->cache);
    free(st->root);
    free(st->index);
    free(st->cache_control);
}

/* ------------------------------------------------------------ validators */

static bool hdr_eq(const http_header_t *h, const char *s, size_t len)
{
    return h->value_len == len && memcmp(h->value, s, len) == 0;
}

/* Does an If-Match / If-None-Match list name etag?  Weak comparison
 * ignores W/ (If-None-Match); strong comparison refuses weak tags. */
static bool etag_listed(const http_header_t *h, const char *etag, size_t elen, bool weak)
{
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end)
            break;
        if (*p == '*')
            return true;
        bool is_weak = end - p > 2 && p[0] == 'W' && p[1] == '/';
        if (is_weak)
            p += 2;
        const char *q = p;
        if (q < end && *q == '"') {
            q = memchr(q + 1, '"', (size_t)(end - q - 1));
            q = q ? q + 1 : end;
        } else {
            while (q < end && *q != ',')
                q++;
        }
        if ((size_t)(q - p) == elen && memcmp(p, etag, elen) == 0 && (weak || !is_weak))
            return true;
        p = q;
    }
    return false;
}

static time_t hdr_date(const http_header_t *h)
{
    return h ? http_date_parse(h->value, h->value_len) : -1;
}

/* Does the client take gzip (Accept-Encoding: gzip or *, q > 0)? */
static bool accepts_gzip(const http_header_t *h)
{
    if (h == NULL)
        return false;
    const char *p = h->value, *end = h->value + h->value_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ',' && *p != ';' && *p != ' ')
            p++;
        size_t tl = (size_t)(p - tok);
        bool match = (tl == 4 && strncasecmp(tok, "gzip", 4) == 0) || (tl == 1 && *tok == '*');
        double q = 1.0;
        while (p < end && *p != ',') {
            if (*p == ';') {
                const char *qp = p + 1;
                while (qp < end && *qp == ' ')
                    qp++;
                if (end - qp > 2 && (qp[0] == 'q' || qp[0] == 'Q') && qp[1] == '=')
                    q = strtod(qp + 2, NULL);
            }
            p++;
        }
        if (match)
            return q > 0;
    }
    return false;
}

/* One byte range "bytes=a-b" / "a-" / "-n" of size bytes: 1 and [*from,
 * *to], 0 if the header is to be ignored (malformed, several ranges), -1
 * if unsatisfiable. */
static int parse_range(const http_header_t *h, off_t size, off_t *from, off_t *to)
{
    char buf[64];
    if (h->value_len < 7 || h->value_len >= sizeof(buf) || strncasecmp(h->value, "bytes=", 6) != 0)
        return 0;
    memcpy(buf, h->value + 6, h->value_len - 6);
    buf[h->value_len - 6] = '\0';
    if (strchr(buf, ',') != NULL)
        return 0; /* several ranges: the whole file is a valid answer */
    char *dash = strchr(buf, '-'), *end;
    if (dash == NULL)
        return 0;
    *dash = '\0';
    if (buf[0] == '\0') {
        long long n = strtoll(dash + 1, &end, 10);
        if (dash[1] == '\0' || *end != '\0' || n < 0)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    long long a = strtoll(buf, &end, 10);
    if (*end != '\0' || a < 0 || buf[0] == '-' || buf[0] == '+')
        return 0;
    long long b = size - 1;
    if (dash[1] != '\0') {
        b = strtoll(dash + 1, &end, 10);
        if (*end != '\0' || b < a || dash[1] == '-' || dash[1] == '+')
            return 0;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

/* ---------------------------------------------------------------- serving */

static void common_headers(route_t *r, http_conn_t *c, file_entry_t *e, bool gz)
{
    stat_route_t *st = r->state;
    char buf[256];
    size_t n = 0;

    /* Validators in one piece: every header appended separately costs. */
    memcpy(buf, "ETag: ", 6);
    memcpy(buf + 6, e->etag, e->etag_len);
    n = 6 + e->etag_len;
    memcpy(buf + n, "\r\nLast-Modified: ", 17);
    memcpy(buf + n + 17, e->last_modified, HTTP_DATE_LEN);
    n += 17 + HTTP_DATE_LEN;
    buf[n++] = '\r';
    buf[n++] = '\n';
    http_response_raw(c, buf, n);
    if (st->cache_control)
        http_response_header_str(c, "Cache-Control", st->cache_control);
    if (st->precompressed)
        http_response_raw(c, "Vary: Accept-Encoding\r\n", 23);
    if (gz)
        http_response_raw(c, "Content-Encoding: gzip\r\n", 24);
    route_headers(r, c);
}

static int send_entry(route_t *r, http_conn_t *c, const http_request_t *req, file_entry_t *e,
                      const char *mime, bool gz)
{
    const http_header_t *const *h = req->hdr;
    off_t from = 0, to = e->size - 1;
    int status = 200;

    /* RFC 9110 §13.2.2: If-Match, If-Unmodified-Since, If-None-Match,
     * If-Modified-Since, then If-Range with Range. */
    if (h[HTTP_H_IF_MATCH] != NULL) {
        if (!etag_listed(h[HTTP_H_IF_MATCH], e->etag, e->etag_len, false))
            return 412;
    } else if (h[HTTP_H_IF_UNMODIFIED_SINCE] != NULL) {
        time_t t = hdr_date(h[HTTP_H_IF_UNMODIFIED_SINCE]);
        if (t >= 0 && e->mtime > t)
            return 412;
    }
    bool not_modified = false;
    if (h[HTTP_H_IF_NONE_MATCH] != NULL) {
        not_modified = etag_listed(h[HTTP_H_IF_NONE_MATCH], e->etag, e->etag_len, true);
    } else if (h[HTTP_H_IF_MODIFIED_SINCE] != NULL) {
        time_t t = hdr_date(h[HTTP_H_IF_MODIFIED_SINCE]);
        not_modified = t >= 0 && e->mtime <= t;
    }
    if (not_modified) {
        http_response_start(c, 304);
        common_headers(r, c, e, gz);
        http_response_empty(c, -1);
        return 0;
    }
    if (h[HTTP_H_RANGE] != NULL && req->method == HTTP_GET) {
        const http_header_t *ir = h[HTTP_H_IF_RANGE];
        bool use = ir == NULL ||
                   (ir->value_len > 0 && ir->value[0] == '"' ? hdr_eq(ir, e->etag, e->etag_len)
                                                             : hdr_date(ir) == e->mtime);
        int rc = use ? parse_range(h[HTTP_H_RANGE], e->size, &from, &to) : 0;
        if (rc < 0) {
            char cr[64];
            snprintf(cr, sizeof(cr), "bytes */%lld", (long long)e->size);
            http_response_start(c, 416);
            http_response_header_str(c, "Content-Range", cr);
            common_headers(r, c, e, gz);
            http_response_body(c, "text/plain; charset=utf-8", "416 Range Not Satisfiable\n", 26,
                               NULL, NULL);
            return 0;
        }
        if (rc > 0)
            status = 206;
    }
    http_response_start(c, status);
    http_response_raw(c, "Accept-Ranges: bytes\r\n", 22);
    if (status == 206) {
        char cr[96];
        snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)from, (long long)to,
                 (long long)e->size);
        http_response_header_str(c, "Content-Range", cr);
    }
    common_headers(r, c, e, gz);
    size_t len = e->size == 0 ? 0 : (size_t)(to - from + 1);
    e->refs++; /* held by the response until written */
    if (e->data != NULL || len == 0)
        http_response_body(c, mime, e->data ? e->data + from : "", len, e, file_entry_release);
    else
        http_response_file(c, mime, e->fd, from, len, e, file_entry_release);
    return 0;
}

static int errno_status(int rc)
{
    switch (rc) {
    case -ENOENT:
    case -ENOTDIR:
    case -ENAMETOOLONG:
        return 404;
    case -EXDEV: /* RESOLVE_BENEATH refused: the path leaves the root */
    case -ELOOP:
    case -EACCES:
    case -EPERM:
        return 403;
    default:
        return 500;
    }
}

/* The Location of a directory named without its slash.  The path is the
 * decoded one, so it is encoded again: a directory called "x\r\nSet-Cookie:
 * y=1" must not become a header.  The query is kept, escaped as well. */
static int redirect_to_dir(route_t *r, http_conn_t *c, const http_request_t *req)
{
    /* Rare, and up to three times the target: on the heap, not the stack. */
    size_t cap = 3 * (req->path_len + req->query_len) + 4;
    char *loc = malloc(cap);
    if (loc == NULL)
        return 500;
    long n = http_uri_encode(req->path, req->path_len, loc, cap - 2, 0);
    loc[n++] = '/';
    if (req->query != NULL) {
        loc[n++] = '?';
        n += http_uri_encode(req->query, req->query_len, loc + n, cap - (size_t)n, 1);
    }
    http_response_start(c, 301);
    http_response_header(c, "Location", 8, loc, (size_t)n);
    free(loc);
    route_headers(r, c);
    http_response_body(c, "text/plain; charset=utf-8", "moved\n", 6, NULL, NULL);
    return 0;
}

static int st_handle(route_t *r, http_conn_t *c, const http_request_t *req)
{
    stat_route_t *st = r->state;
    char rel[4096];
    size_t plen = req->path_len, skip = r->exact ? 0 : r->match_len;
    file_entry_t *e = NULL;

    /* A prefix route's prefix is stripped (like nginx's alias):
     * [route /static/] maps /static/a.css to ROOT/a.css. */
    if (skip > plen)
        skip = plen;
    while (skip < plen && req->path[skip] == '/')
        skip++;
    const char *p = req->path + skip;
    size_t n = plen - skip;
    bool dir = n == 0 || p[n - 1] == '/';
    size_t ilen = dir ? strlen(st->index) : 0;
    if (n + ilen + 4 >= sizeof(rel))
        return 414;
    memcpy(rel, p, n);
    if (dir)
        memcpy(rel + n, st->index, ilen);
    n += ilen;
    rel[n] = '\0';

    if (st->sweeper == NULL)
        sweeper_start(st);
    int rc = file_cache_get(&st->cache, rel, eddy_now(), &e);
    if (rc != 0)
        return dir && rc == -ENOENT ? 403 : errno_status(rc);
    if (e->is_dir) {
        /* A directory named without its slash: send the client there. */
        file_entry_release(e);
        return redirect_to_dir(r, c, req);
    }
    const char *mime = e->mime;
    if (st->precompressed && accepts_gzip(req->hdr[HTTP_H_ACCEPT_ENCODING])) {
        file_entry_t *gz = NULL;
        memcpy(rel + n, ".gz", 4);
        if (file_cache_get(&st->cache, rel, eddy_now(), &gz) == 0) {
            if (!gz->is_dir) {
                file_entry_release(e);
                rc = send_entry(r, c, req, gz, mime, true);
                file_entry_release(gz);
                return rc;
            }
            file_entry_release(gz);
        }
    }
    rc = send_entry(r, c, req, e, mime, false);
    file_entry_release(e);
    return rc;
}

/* Validators, ranges, encodings, the directory redirect's Location, the
 * 405's Allow. */
static const char *const static_headers[] = {
    "ETag", "Last-Modified", "Accept-Ranges", "Content-Range", "Content-Encoding",
    "Vary", "Location",      "Allow",         NULL,
};

const route_type_t route_static = {
    .name = "static",
    .state_size = sizeof(stat_route_t),
    .any_method = false,
    .own_headers = static_headers,
    .set = st_set,
    .check = st_check,
    .handle = st_handle,
    .free = st_free,
};
