/* type = return: a fixed response (status, body, content type), nginx's
 * `return`.  Takes any method and discards a request body. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "routes/route.h"

typedef struct ret {
    int status;
    char *body;
    size_t body_len;
    char *content_type;
    http_replay_t replay; /* the last response, replayed within its second */
} ret_t;

int route_parse_status(const char *v, int lo, int hi)
{
    char *end;
    long s = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || s < lo || s > hi)
        return -1;
    return (int)s;
}

static int ret_set(route_t *r, const char *key, const char *value, const char **err)
{
    ret_t *st = r->state;
    if (strcmp(key, "status") == 0) {
        st->status = route_parse_status(value, 200, 599);
        if (st->status < 0) {
            *err = "status must be a number from 200 to 599";
            return -1;
        }
    } else if (strcmp(key, "body") == 0) {
        free(st->body);
        st->body = strdup(value);
        st->body_len = strlen(value);
    } else if (strcmp(key, "content_type") == 0) {
        free(st->content_type);
        st->content_type = strdup(value);
    } else {
        return 1;
    }
    return 0;
}

static const char *ret_check(route_t *r, char *buf, size_t len)
{
    ret_t *st = r->state;
    if (st->status == 0)
        st->status = 200;
    return NULL;
}

static int ret_handle(route_t *r, http_conn_t *c, const http_request_t *req)
{
    ret_t *st = r->state;
    if (http_response_replay(c, &st->replay))
        return 0;
    http_response_start(c, st->status);
    route_headers(r, c);
    if (st->status == 204 || st->status == 304) {
        http_response_empty(c, -1);
    } else {
        http_response_body(c, st->content_type ? st->content_type : "text/plain; charset=utf-8",
                           st->body ? st->body : "", st->body_len, NULL, NULL);
    }
    http_response_remember(c, &st->replay);
    return 0;
}

static void ret_free(route_t *r)
{
    ret_t *st = r->state;
    free(st->body);
    free(st->content_type);
    http_replay_free(&st->replay);
}

int route_return_set_body(route_t *r, const char *body, const char *content_type)
{
    const char *err;
    if (ret_set(r, "body", body, &err) != 0 || ret_set(r, "content_type", content_type, &err) != 0)
        return -1;
    return 0;
}

const route_type_t route_return = {
    .name = "return",
    .state_size = sizeof(ret_t),
    .any_method = true,
    .set = ret_set,
    .check = ret_check,
    .handle = ret_handle,
    .free = ret_free,
};
