/* The table of route types, and matching a path to a route. */
#include "config.h"

#include <errno.h>
#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/stats.h"
#include "routes/route.h"

static const route_type_t *const types[] = {&route_static, &route_return, &route_redirect,
                                            &route_echo, &route_pubsub, &route_metrics};

const route_type_t *route_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    }
    return NULL;
}

const char *route_type_names(void)
{
    return "static, return, redirect, echo, pubsub, metrics";
}

route_t *route_new(const route_type_t *type, const char *match, bool exact, int line)
{
    route_t *r = calloc(1, sizeof(*r) + type->state_size);
    if (r == NULL)
        return NULL;
    r->match = strdup(match);
    if (r->match == NULL) {
        free(r);
        return NULL;
    }
    r->type = type;
    r->match_len = strlen(match);
    r->exact = exact;
    r->line = line;
    r->state = r + 1;
    if (type->init)
        type->init(r);
    return r;
}

/* Headers that frame the message or concern only this connection: the
 * HTTP layer writes them, and a configured copy would make the response
 * invalid (two lengths, a chunked claim with no chunks, a dropped
 * connection). */
static const char *const hop_by_hop[] = {
    "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE",
    "Trailer",        "Proxy-Connection",
};

/* Defaults of the HTTP layer that a configured header replaces. */
static const struct {
    const char *name;
    unsigned flag;
} replaceable[] = {
    {"Server", HTTP_OMIT_SERVER},
    {"Date", HTTP_OMIT_DATE},
    {"Content-Type", HTTP_OMIT_CONTENT_TYPE},
};

/* What a header's name may not be (NULL: fine); records a replaced
 * default in r->omit. */
static const char *check_header_name(route_t *r, const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++) {
        if (strlen(hop_by_hop[i]) == len && strncasecmp(hop_by_hop[i], name, len) == 0)
            return "framing and hop-by-hop headers (Content-Length, Transfer-Encoding, "
                   "Connection, Keep-Alive, Upgrade, TE, Trailer, Proxy-Connection) are "
                   "the server's own";
    }
    for (const char *const *o = r->type->own_headers; o != NULL && *o != NULL; o++) {
        if (strlen(*o) == len && strncasecmp(*o, name, len) == 0)
            return "the route type writes this header itself";
    }
    for (size_t i = 0; i < sizeof(replaceable) / sizeof(replaceable[0]); i++) {
        if (strlen(replaceable[i].name) == len &&
            strncasecmp(replaceable[i].name, name, len) == 0) {
            if (r->omit & replaceable[i].flag)
                return "this header is already set on the route (it replaces the default once)";
            r->omit |= replaceable[i].flag;
        }
    }
    return NULL;
}

const char *route_add_header(route_t *r, const char *line)
{
    static const char malformed[] = "header must be 'Name: value'";
    const char *colon = strchr(line, ':');
    if (colon == NULL || colon == line)
        return malformed;
    for (const char *p = line; p < colon; p++) {
        /* A field name is a token (RFC 9110 §5.1). */
        if (*p <= ' ' || strchr("()<>@,;:\\\"/[]?={}", *p) != NULL || *p == 127)
            return malformed;
    }
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p < ' ' && *p != '\t')
            return malformed;
    }
    size_t nlen = (size_t)(colon - line), vlen = strlen(v);
    const char *why = check_header_name(r, line, nlen);
    if (why != NULL)
        return why;
    char *h = realloc(r->headers, r->headers_len + nlen + vlen + 5);
    if (h == NULL)
        return "out of memory";
    r->headers = h;
    memcpy(h + r->headers_len, line, nlen);
    r->headers_len += nlen;
    memcpy(h + r->headers_len, ": ", 2);
    memcpy(h + r->headers_len + 2, v, vlen);
    memcpy(h + r->headers_len + 2 + vlen, "\r\n", 2);
    r->headers_len += vlen + 4;
    return NULL;
}

void route_free(route_t *r)
{
    if (r == NULL)
        return;
    if (r->type->free)
        r->type->free(r);
    free(r->headers);
    free(r->match);
    free(r);
}

route_t *route_find(route_t *const *routes, size_t n, const char *path, size_t len)
{
    route_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
        route_t *r = routes[i];
        if (r->exact) {
            if (r->match_len == len && memcmp(r->match, path, len) == 0)
                return r;
        } else if (r->match_len <= len && memcmp(r->match, path, r->match_len) == 0 &&
                   (best == NULL || r->match_len > best->match_len)) {
            best = r;
        }
    }
    return best;
}

int64_t route_parse_size(const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || n < 0 || errno != 0)
        return -1;
    int64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mult = 1024 * 1024, end++;
    else if (*end == 'g' || *end == 'G')
        mult = 1024 * 1024 * 1024, end++;
    if (*end != '\0' || n > INT64_MAX / mult)
        return -1;
    return n * mult;
}

int64_t route_parse_duration(const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || n < 0 || errno != 0)
        return -1;
    int64_t mult;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mult = 3600 * 1000;
    else
        return -1;
    if (n > INT64_MAX / mult)
        return -1;
    return n * mult;
}

int route_parse_bool(const char *v)
{
    static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no",
                                                                                "false", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

int route_handle(route_t *const *routes, size_t n, http_conn_t *c, const http_request_t *req)
{
    route_t *r = route_find(routes, n, req->path, req->path_len);
    if (r == NULL)
        return 404;
    http_response_stats(c, r->stats);
    if (!r->type->any_method && req->method != HTTP_GET && req->method != HTTP_HEAD) {
        http_response_start(c, 405);
        http_response_header_str(c, "Allow", "GET, HEAD");
        static const char body[] = "405 Method Not Allowed\n";
        http_response_body(c, "text/plain; charset=utf-8", body, sizeof(body) - 1, NULL, NULL);
        return 0;
    }
    return r->type->handle(r, c, req);
}
