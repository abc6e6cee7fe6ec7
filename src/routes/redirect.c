/* type = redirect: a Location with a 3xx status.  The location may hold
 * nginx-like variables, replaced per request:
 *   $request_uri  the target as sent (path and query), percent-encoded
 *                 where it holds bytes a URI may not
 *   $rest         the decoded path after the route's prefix, percent-encoded
 *   $query, $args the query as sent, without '?' (encoded as $request_uri)
 *   $is_args      "?" when the request has a query, else nothing
 * ${name} delimits a name followed by letters; a '$' that starts no name
 * (a digit, a space, the end) is kept as it is. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "http/path.h"
#include "routes/route.h"

typedef struct redir {
    int status;
    char *location;
    bool has_vars;
} redir_t;

enum var { VAR_REQUEST_URI, VAR_REST, VAR_QUERY, VAR_IS_ARGS, VAR_UNKNOWN };

static const struct {
    const char *name;
    enum var var;
} vars[] = {{"request_uri", VAR_REQUEST_URI},
            {"rest", VAR_REST},
            {"query", VAR_QUERY},
            {"args", VAR_QUERY},
            {"is_args", VAR_IS_ARGS}};

/* The variable at s (just after a '$'): how many bytes its name takes
 * (with braces), 0 if none starts there. */
static size_t var_at(const char *s, enum var *v)
{
    bool brace = *s == '{';
    const char *name = s + brace;
    size_t n = 0;
    if (isdigit((unsigned char)*name))
        return 0; /* "$5": a price, not a name */
    while (isalnum((unsigned char)name[n]) || name[n] == '_')
        n++;
    if (n == 0 || (brace && name[n] != '}'))
        return 0;
    *v = VAR_UNKNOWN;
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        if (strlen(vars[i].name) == n && memcmp(vars[i].name, name, n) == 0)
            *v = vars[i].var;
    }
    return n + 2 * brace;
}

/* Appends s percent-encoded (http_uri_encode): a decoded path keeps RFC
 * 3986's pchar and '/'; a target or query as sent (raw) keeps '%', '?'
 * too, as it is encoded already.  out has room (location_max). */
static char *encode(char *o, const char *s, size_t len, int raw)
{
    long n = http_uri_encode(s, len, o, 3 * len + 1, raw);
    return o + (n > 0 ? n : 0);
}

/* Writes the location for req into out (at least location_len(req) bytes);
 * returns its length. */
static size_t expand(const route_t *r, const http_request_t *req, char *out)
{
    const redir_t *st = r->state;
    char *o = out;
    for (const char *s = st->location; *s; s++) {
        enum var v;
        size_t n = *s == '$' ? var_at(s + 1, &v) : 0;
        if (n == 0) {
            *o++ = *s;
            continue;
        }
        s += n;
        switch (v) {
        case VAR_REQUEST_URI:
            if (req->target_len > 0 && req->target[0] == '/') {
                o = encode(o, req->target, req->target_len, 1);
                break;
            }
            /* An absolute-form target: its path and query. */
            o = encode(o, req->path, req->path_len, 0);
            if (req->query != NULL) {
                *o++ = '?';
                o = encode(o, req->query, req->query_len, 1);
            }
            break;
        case VAR_REST: {
            size_t skip = r->match_len < req->path_len ? r->match_len : req->path_len;
            o = encode(o, req->path + skip, req->path_len - skip, 0);
            break;
        }
        case VAR_QUERY:
            if (req->query != NULL)
                o = encode(o, req->query, req->query_len, 1);
            break;
        case VAR_IS_ARGS:
            if (req->query != NULL && req->query_len > 0)
                *o++ = '?';
            break;
        default:
            break;
        }
    }
    return (size_t)(o - out);
}

/* An upper bound of expand()'s length: each variable at most thrice the
 * bytes it draws from. */
static size_t location_max(const route_t *r, const http_request_t *req)
{
    const redir_t *st = r->state;
    size_t nvars = 0;
    for (const char *s = st->location; *s; s++)
        nvars += *s == '$';
    return strlen(st->location) + nvars * 3 * (req->target_len + req->path_len + 1);
}

static int redir_set(route_t *r, const char *key, const char *value, const char **err)
{
    redir_t *st = r->state;
    if (strcmp(key, "status") == 0) {
        st->status = route_parse_status(value, 300, 308);
        if (st->status != 301 && st->status != 302 && st->status != 303 && st->status != 307 &&
            st->status != 308) {
            *err = "redirect status must be 301, 302, 303, 307 or 308";
            return -1;
        }
    } else if (strcmp(key, "location") == 0) {
        st->has_vars = false;
        for (const char *p = value; *p; p++) {
            enum var v;
            if ((unsigned char)*p <= ' ' || (unsigned char)*p == 127) {
                *err = "location must not contain spaces or control characters";
                return -1;
            }
            if (*p == '$' && var_at(p + 1, &v) > 0) {
                if (v == VAR_UNKNOWN) {
                    *err = "unknown variable (one of $request_uri, $rest, $query, $args, "
                           "$is_args)";
                    return -1;
                }
                st->has_vars = true;
            }
        }
        free(st->location);
        st->location = strdup(value);
    } else {
        return 1;
    }
    return 0;
}

static const char *redir_check(route_t *r, char *buf, size_t len)
{
    redir_t *st = r->state;
    if (st->location == NULL || st->location[0] == '\0')
        return "a redirect route needs location";
    if (st->status == 0)
        st->status = 302;
    return NULL;
}

static int redir_handle(route_t *r, http_conn_t *c, const http_request_t *req)
{
    redir_t *st = r->state;
    http_response_start(c, st->status);
    if (st->has_vars) {
        char *loc = malloc(location_max(r, req));
        if (loc == NULL)
            return 500;
        http_response_header(c, "Location", 8, loc, expand(r, req, loc));
        free(loc);
    } else {
        http_response_header_str(c, "Location", st->location);
    }
    route_headers(r, c);
    http_response_body(c, "text/plain; charset=utf-8", "redirect\n", 9, NULL, NULL);
    return 0;
}

static void redir_free(route_t *r)
{
    free(((redir_t *)r->state)->location);
}

static const char *const redirect_headers[] = {"Location", NULL};

const route_type_t route_redirect = {
    .name = "redirect",
    .state_size = sizeof(redir_t),
    .any_method = true,
    .own_headers = redirect_headers,
    .set = redir_set,
    .check = redir_check,
    .handle = redir_handle,
    .free = redir_free,
};
