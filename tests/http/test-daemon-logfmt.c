/* The access log's combined format, white-box: fields, escaping,
 * $remote_user from Basic auth, the cut of long fields. */
#include "daemon/logfmt.h"
#include "http/date.h"
#include "runner/runner.h"

static http_header_t auth_hdr;

/* A GET of target with an optional Authorization value and User-Agent. */
static http_request_t make_req(const char *target, const char *auth, const http_header_t *ua)
{
    http_request_t req = {
        .method_name = "GET",
        .method_len = 3,
        .version_minor = 1,
        .target = target,
        .target_len = strlen(target),
        .peer = "192.0.2.7",
    };
    if (auth != NULL) {
        auth_hdr = (http_header_t){"Authorization", auth, 13, strlen(auth)};
        req.headers = &auth_hdr;
        req.nheaders = 1;
    }
    req.hdr[HTTP_H_USER_AGENT] = ua;
    return req;
}

/* The record with the status and the byte count 123 put in,
 * NUL-terminated. */
static const char *format(const http_request_t *req, int status)
{
    static char out[LOG_RECORD_MAX + LOG_STATUS_BYTES_MAX];
    char line[LOG_RECORD_MAX], mid[LOG_STATUS_BYTES_MAX];
    uint32_t split;
    size_t len = log_format_combined(line, req, &split);
    size_t mlen = log_format_status_bytes(mid, status, 123);

    ASSERT_LE(len, (size_t)LOG_RECORD_MAX);
    ASSERT_LT((size_t)split, len);
    ASSERT_EQ(line[len - 1], '\n');
    ASSERT_PTR_EQ(memchr(line, '\n', len - 1), NULL);
    memcpy(out, line, split);
    memcpy(out + split, mid, mlen);
    memcpy(out + split + mlen, line + split, len - split - 1);
    out[split + mlen + len - split - 1] = '\0';
    return out;
}

TEST_IMPL(logfmt_status_bytes)
{
    char out[LOG_STATUS_BYTES_MAX];
    size_t n = log_format_status_bytes(out, 413, 0);
    ASSERT_EQ(n, (size_t)5);
    out[n] = '\0';
    ASSERT_STR_EQ(out, "413 -");
    n = log_format_status_bytes(out, 200, UINT64_MAX);
    ASSERT_EQ(n, (size_t)24);
    out[n] = '\0';
    ASSERT_STR_EQ(out, "200 18446744073709551615");
    return 0;
}

/* The $remote_user field of a GET with Authorization: auth. */
static const char *user_of(const char *auth)
{
    static char user[512];
    http_request_t req = make_req("/", auth, NULL);
    const char *line = format(&req, 200);
    const char *p = strchr(line, ' ') + 3; /* after "host - " */
    size_t n = (size_t)(strchr(p, ' ') - p);
    memcpy(user, p, n);
    user[n] = '\0';
    return user;
}

TEST_IMPL(logfmt_combined)
{
    http_logtime_local(false);
    const char *agent = "a \"quoted\" \\ agent\r\n";
    http_header_t ua = {"User-Agent", agent, 10, strlen(agent)};
    http_request_t req = make_req("/x?y=1", NULL, &ua);
    const char *line = format(&req, 404);
    char want[256];
    snprintf(want, sizeof(want),
             "192.0.2.7 - - [%.26s] \"GET /x?y=1 HTTP/1.1\" 404 123 \"-\" "
             "\"a \\x22quoted\\x22 \\x5c agent\\x0d\\x0a\"",
             http_logtime_now());
    ASSERT_STR_EQ(line, want);
    ASSERT_STR_EQ(http_logtime_now() + 21, "+0000");
    http_logtime_local(true);
    return 0;
}

TEST_IMPL(logfmt_remote_user)
{
    ASSERT_STR_EQ(user_of("Basic YWxpY2U6c2VjcmV0"), "alice"); /* alice:secret */
    ASSERT_STR_EQ(user_of("basic  Ym9iOng6eQ"), "bob");        /* bob:x:y, no padding */
    ASSERT_STR_EQ(user_of("Basic YSBiOng="), "a\\x20b");       /* "a b:x" */
    ASSERT_STR_EQ(user_of(NULL), "-");
    ASSERT_STR_EQ(user_of("Basic bm9jb2xvbg=="), "-"); /* nocolon */
    ASSERT_STR_EQ(user_of("Basic OnB3"), "-");         /* ":pw" */
    ASSERT_STR_EQ(user_of("Basic !!!!"), "-");
    ASSERT_STR_EQ(user_of("Basic Y"), "-"); /* a lone sixth of a byte */
    ASSERT_STR_EQ(user_of("Basic "), "-");
    ASSERT_STR_EQ(user_of("Bearer YWxpY2U6c2VjcmV0"), "-");
    return 0;
}

TEST_IMPL(logfmt_long_fields)
{
    static char target[8192], agent[8192], auth[4096];
    memset(target, '/', sizeof(target) - 1);
    memset(agent, '"', sizeof(agent) - 1); /* each escaped to 4 bytes */
    strcpy(auth, "Basic ");
    memset(auth + 6, 'Q', sizeof(auth) - 7);
    http_header_t ua = {"User-Agent", agent, 10, strlen(agent)};
    http_request_t req = make_req(target, auth, &ua);
    const char *line = format(&req, 200);
    /* Cut, but every field is still there and the status intact. */
    ASSERT_NOT_NULL(strstr(line, " HTTP/1.1\" 200 123 \""));
    ASSERT_EQ(line[strlen(line) - 1], '"');

    req.method_name = NULL; /* refused before the request line was whole */
    req.method_len = 0;
    req.peer = NULL;
    ASSERT_NOT_NULL(strstr(format(&req, 400), "- - [")); /* the peer and the user */
    ASSERT_NOT_NULL(strstr(format(&req, 400), "] \"-\" 400 123 "));
    return 0;
}
