/* type = redirect: a fixed Location with a 3xx status. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "routes/route.h"

typedef struct redir {
    int status;
    char *location;
} redir_t;

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
        for (const char *p = value; *p; p++) {
            if ((unsigned char)*p <= ' ') {
                *err = "location must not contain spaces or control characters";
                return -1;
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
    http_response_header_str(c, "Location", st->location);
    route_headers(r, c);
    http_response_body(c, "text/plain; charset=utf-8", "redirect\n", 9, NULL, NULL);
    return 0;
}

static void redir_free(route_t *r)
{
    free(((redir_t *)r->state)->location);
}

const route_type_t route_redirect = {
    .name = "redirect",
    .state_size = sizeof(redir_t),
    .any_method = true,
    .set = redir_set,
    .check = redir_check,
    .handle = redir_handle,
    .free = redir_free,
};
