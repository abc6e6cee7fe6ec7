/* Config parsing: values, every error with FILE:LINE, overrides. */
#include <unistd.h>

#include "daemon/conf.h"
#include "runner/runner.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/eddy-conf-XXXXXX");
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    return path;
}

static bool has_error(const config_errors_t *e, const char *needle)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strstr(e->msg[i], needle) != NULL)
            return true;
    }
    return false;
}

TEST_IMPL(config_values)
{
    ASSERT_EQ(config_parse_size("16k"), 16384);
    ASSERT_EQ(config_parse_size("1m"), 1048576);
    ASSERT_EQ(config_parse_size("2G"), 2147483648LL);
    ASSERT_EQ(config_parse_size("512"), 512);
    ASSERT_EQ(config_parse_size("12q"), -1);
    ASSERT_EQ(config_parse_size("-1"), -1);
    ASSERT_EQ(config_parse_size(""), -1);
    ASSERT_EQ(config_parse_duration("500ms"), 500);
    ASSERT_EQ(config_parse_duration("10s"), 10000);
    ASSERT_EQ(config_parse_duration("2m"), 120000);
    ASSERT_EQ(config_parse_duration("1h"), 3600000);
    ASSERT_EQ(config_parse_duration("30"), 30000);
    ASSERT_EQ(config_parse_duration("10x"), -1);
    ASSERT_NULL(config_check_listen("8080"));
    ASSERT_NULL(config_check_listen(":8080"));
    ASSERT_NULL(config_check_listen("127.0.0.1:8080"));
    ASSERT_NULL(config_check_listen("[::1]:8080"));
    ASSERT_NULL(config_check_listen("unix:/run/eddy.sock"));
    ASSERT_NOT_NULL(config_check_listen("127.0.0.1:99999"));
    ASSERT_NULL(config_check_listen("localhost:80")); /* a name, resolved at start */
    ASSERT_NOT_NULL(config_check_listen("no_host:80"));
    ASSERT_NOT_NULL(config_check_listen("[::1]"));
    ASSERT_NOT_NULL(config_check_listen("unix:relative"));
    return 0;
}

TEST_IMPL(config_good_file)
{
    config_errors_t errs = {0};
    char *path = write_tmp("[server]\n"
                           "listen = 127.0.0.1:9000 ; first\n"
                           "listen = unix:/tmp/x.sock\n"
                           "max_connections = 50\n"
                           "server_header = off\n"
                           "[timeouts]\nheader = 2s\nkeepalive = 500ms\n"
                           "[limits]\nheader_size = 8k\nbody_size = 1k\nheaders = 20\n"
                           "[log]\naccess = off\nlevel = warn\n"
                           "[route = /health]\ntype = return\nstatus = 204\n"
                           "header = X-A: 1\nheader = X-B: two words\n"
                           "[route /old/]\ntype = redirect\nlocation = /new/\nstatus = 308\n"
                           "[route /]\ntype = static\nroot = /tmp\n");
    config_t *cfg = config_load(path, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msg[i]);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->nlisten, 2);
    ASSERT_STR_EQ(cfg->listen[0].addr, "127.0.0.1:9000");
    ASSERT_EQ(cfg->listen[0].line, 2);
    ASSERT_EQ(cfg->max_connections, 50);
    ASSERT_NULL(cfg->site.server_header);
    ASSERT_EQ(cfg->site.limits.header_ms, 2000);
    ASSERT_EQ(cfg->site.limits.keepalive_ms, 500);
    ASSERT_EQ(cfg->site.limits.header_size, 8192);
    ASSERT_EQ(cfg->site.limits.body_size, 1024);
    ASSERT_EQ(cfg->site.limits.headers, 20);
    ASSERT_EQ(cfg->log_level, LOG_WARN);
    ASSERT_EQ(cfg->nroutes, 3);
    route_t *r = route_find(cfg->routes, cfg->nroutes, "/health", 7);
    ASSERT_NOT_NULL(r);
    ASSERT_TRUE(r->exact);
    ASSERT_EQ(r->headers_len, strlen("X-A: 1\r\nX-B: two words\r\n"));
    ASSERT_STR_EQ(route_find(cfg->routes, cfg->nroutes, "/old/x", 6)->match, "/old/");
    ASSERT_STR_EQ(route_find(cfg->routes, cfg->nroutes, "/oldx", 5)->match, "/");
    ASSERT_NULL(route_find(cfg->routes + 1, 1, "/x", 2)); /* only /old/ */
    config_unref(cfg);
    unlink(path);
    return 0;
}

TEST_IMPL(config_every_error_with_line)
{
    config_errors_t errs = {0};
    char *path = write_tmp("[server]\n"                 /* 1 */
                           "listen = 127.0.0.1:99999\n" /* 2 bad port */
                           "bogus = 1\n"                /* 3 unknown key */
                           "[nosuch]\n"                 /* 4 unknown section */
                           "x = 1\n"                    /* 5 (ignored) */
                           "[limits]\n"                 /* 6 */
                           "body_size = 12q\n"          /* 7 bad size */
                           "[timeouts]\n"               /* 8 */
                           "header = soon\n"            /* 9 bad duration */
                           "this line is wrong\n"       /* 10 syntax */
                           "[route = /a]\n"             /* 11 */
                           "type = return\n"            /* 12 */
                           "status = 99\n"              /* 13 bad status */
                           "[route = /a]\n"             /* 14 duplicate route */
                           "type = return\n"            /* 15 */
                           "[route /s/]\n"              /* 16 static without root */
                           "type = static\n"            /* 17 */
                           "[route /t/]\n"              /* 18 unknown type */
                           "type = teleport\n"          /* 19 */
                           "[route /u/]\n"              /* 20 no type */
                           "[log]\n"                    /* 21 */
                           "level = chatty\n"           /* 22 */
                           "level = info\n");           /* 23 duplicate key */
    config_t *cfg = config_load(path, &errs);
    ASSERT_NULL(cfg);
    char want[32][128];
    const struct {
        int line;
        const char *what;
    } expect[] = {{2, "listen"},    {3, "bogus"},     {4, "nosuch"},  {7, "body_size"},
                  {9, "header"},    {10, "expected"}, {13, "status"}, {14, "duplicate route"},
                  {16, "root"},     {19, "teleport"}, {20, "type"},   {22, "level"},
                  {23, "duplicate"}};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        snprintf(want[i], sizeof(want[i]), "%s:%d: ", path, expect[i].line);
        if (!has_error(&errs, want[i])) {
            for (size_t k = 0; k < errs.n; k++)
                fprintf(stderr, "  %s\n", errs.msg[k]);
            TEST__FAIL("no error for line %d (%s)", expect[i].line, expect[i].what);
        }
    }
    ASSERT_EQ(errs.n, sizeof(expect) / sizeof(expect[0]));
    config_errors_free(&errs);
    unlink(path);
    return 0;
}

TEST_IMPL(config_default_and_overrides)
{
    config_errors_t errs = {0};
    config_t *cfg = config_default(&errs);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->nlisten, 1);
    ASSERT_STR_EQ(cfg->listen[0].addr, "127.0.0.1:8080");
    ASSERT_NOT_NULL(route_find(cfg->routes, cfg->nroutes, "/health", 7));
    ASSERT_NOT_NULL(route_find(cfg->routes, cfg->nroutes, "/", 1));
    char *l[] = {"9999", "unix:/tmp/e.sock"};
    ASSERT_EQ(config_override(cfg, l, 2, "/tmp", &errs), 0);
    ASSERT_EQ(cfg->nlisten, 2);
    route_t *r = route_find(cfg->routes, cfg->nroutes, "/x", 2);
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(r->type->name, "static");
    char *bad[] = {"no_pe:1"};
    ASSERT_EQ(config_override(cfg, bad, 1, "/nonexistent-dir", &errs), -1);
    ASSERT_EQ(errs.n, 2);
    ASSERT_TRUE(has_error(&errs, "-l no_pe:1"));
    ASSERT_TRUE(has_error(&errs, "-r /nonexistent-dir"));
    config_errors_free(&errs);
    config_unref(cfg);
    return 0;
}

/* Issue 7: what passes -t must work.  Values the daemon cannot serve with
 * carry their line; configured headers replace the defaults (route->omit). */
TEST_IMPL(config_runnable_values)
{
    config_errors_t errs = {0};
    char *path = write_tmp("[timeouts]\n"                    /* 1 */
                           "keepalive = 0\n"                 /* 2 fine: keep-alive off */
                           "shutdown = 0\n"                  /* 3 fine: cancel at once */
                           "header = 0ms\n"                  /* 4 refused */
                           "[limits]\n"                      /* 5 */
                           "uri_size = 32k\n"                /* 6 > header_size */
                           "[route = /a]\n"                  /* 7 */
                           "type = return\n"                 /* 8 */
                           "header = Server: mine\n"         /* 9 replaces the default */
                           "header = Transfer-Encoding: x\n" /* 10 refused */
                           "[route = /b]\n"                  /* 11 */
                           "type = return\n"                 /* 12 */
                           "status = 204\n"                  /* 13 */
                           "body = no\n"                     /* 14 refused: no body on 204 */
                           "[route = /r]\n"                  /* 15 */
                           "type = redirect\n"               /* 16 */
                           "location = /n/$nope\n"           /* 17 unknown variable */
                           "[log]\n"                         /* 18 */
                           "access = /nonexistent/dir/a.log\n" /* 19 cannot be opened */);
    config_t *cfg = config_load(path, &errs);
    ASSERT_NULL(cfg);
    const int lines[] = {4, 6, 10, 14, 17, 19};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "%s:%d: ", path, lines[i]);
        if (!has_error(&errs, want)) {
            for (size_t k = 0; k < errs.n; k++)
                fprintf(stderr, "  %s\n", errs.msg[k]);
            TEST__FAIL("no error for line %d", lines[i]);
        }
    }
    ASSERT_EQ(errs.n, sizeof(lines) / sizeof(lines[0]));
    config_errors_free(&errs);
    unlink(path);

    path = write_tmp("[timeouts]\nkeepalive = 0\nshutdown = 0\n"
                     "[route = /a]\ntype = return\nheader = server: mine\n"
                     "header = Content-Type: text/x\nheader = X-A: 1\n");
    cfg = config_load(path, &errs);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(cfg->site.limits.keepalive_ms, 0);
    ASSERT_EQ(cfg->shutdown_ms, 0);
    route_t *r = route_find(cfg->routes, cfg->nroutes, "/a", 2);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(r->omit, HTTP_OMIT_SERVER | HTTP_OMIT_CONTENT_TYPE);
    config_unref(cfg);
    unlink(path);
    return 0;
}
