/* type = return: a fixed response (status, body, content type), nginx's
 * `return`.  Takes any method and discards a request body.  The body is
 * either `body` (one ini line: surrounding double quotes are stripped and
 * \n \t \r \\ \" \; are decoded) or `body_file` (read whole at load). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes/route.h"

/* The largest body_file: a fixed answer, held in memory per route. */
#define BODY_FILE_MAX (1024 * 1024)

typedef struct ret {
    int status;
    char *body;
    size_t body_len;
    char *content_type;
    int body_keys;        /* body and body_file given: only one may be */
    const char *body_key; /* the key that set the body, for messages */
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

/* body = VALUE: an ini value cannot hold a newline, and inih keeps quotes
 * and backslashes as they are; decode them as inih users expect.  NULL, or
 * what is wrong. */
static const char *decode_body(ret_t *st, const char *v)
{
    static const char from[] = "ntr\\\";", to[] = "\n\t\r\\\";";
    size_t len = strlen(v);
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"')
        v++, len -= 2;
    char *out = malloc(len + 1), *o = out;
    if (out == NULL)
        return "out of memory";
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\\') {
            *o++ = v[i];
            continue;
        }
        const char *e = i + 1 < len ? strchr(from, v[i + 1]) : NULL;
        if (e == NULL || *e == '\0') {
            free(out);
            return "unknown escape (use \\n \\t \\r \\\\ \\\" or \\;)";
        }
        *o++ = to[e - from];
        i++;
    }
    *o = '\0';
    free(st->body);
    st->body = out;
    st->body_len = (size_t)(o - out);
    return NULL;
}

/* body_file = PATH: the file's bytes, read now (and again on reload). */
static const char *read_body_file(ret_t *st, const char *path)
{
    static char why[512];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, sizeof(why), "cannot read %s: %s", path, strerror(errno));
        return why;
    }
    char *buf = malloc(BODY_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, BODY_FILE_MAX + 1, f) : 0;
    int failed = buf == NULL || ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(why, sizeof(why), "cannot read %s: %s", path, strerror(buf ? saved : ENOMEM));
        return why;
    }
    if (n > BODY_FILE_MAX) {
        free(buf);
        snprintf(why, sizeof(why), "%s is larger than %d bytes", path, BODY_FILE_MAX);
        return why;
    }
    free(st->body);
    st->body = buf;
    st->body_len = n;
    return NULL;
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
        st->body_keys++;
        st->body_key = "body";
        *err = decode_body(st, value);
        if (*err != NULL)
            return -1;
    } else if (strcmp(key, "body_file") == 0) {
        st->body_keys++;
        st->body_key = "body_file";
        *err = read_body_file(st, value);
        if (*err != NULL)
            return -1;
    } else if (strcmp(key, "content_type") == 0) {
        for (const char *p = value; *p; p++) {
            if ((unsigned char)*p < ' ' || *p == 127) {
                *err = "content_type must not contain control characters";
                return -1;
            }
        }
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
    if (st->body_keys > 1)
        return "body, body_file: give one of them";
    /* 204 and 304 responses end at their head (RFC 9110 §15.3.5, §15.4.5). */
    if ((st->status == 204 || st->status == 304) && st->body_len > 0) {
        snprintf(buf, len, "%s: status %d responses have no body", st->body_key, st->status);
        return buf;
    }
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
    /* Set as given: the page is not an ini value to decode. */
    ret_t *st = r->state;
    const char *err;
    free(st->body);
    st->body = strdup(body);
    st->body_len = strlen(body);
    if (st->body == NULL || ret_set(r, "content_type", content_type, &err) != 0)
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
