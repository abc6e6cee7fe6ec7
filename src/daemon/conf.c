/* Reading the config file.  inih does the ini syntax; it reads lines
 * through our reader, which counts them (so every message can name its
 * line), notices section headers (so empty sections are seen too) and
 * reports lines that are neither a section, a key nor a comment.  Route
 * sections are collected whole and built at their end, because their keys
 * depend on their type, which may come last. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/welcome.h"

enum section { SEC_NONE, SEC_SERVER, SEC_TIMEOUTS, SEC_LIMITS, SEC_LOG, SEC_ROUTE, SEC_UNKNOWN };

typedef struct kv {
    char *key, *value;
    int line;
} kv_t;

typedef struct parse {
    const char *file;
    const char *text;
    size_t len, pos;
    int line;
    config_t *cfg;
    config_errors_t *errs;
    enum section sec;
    char name[256]; /* of the current section */
    int sec_line;
    kv_t *kvs; /* the current section's keys */
    size_t nkv;
    struct seen_route {
        char *match;
        bool exact;
        int line;
    } *seen; /* every route section, valid or not, for duplicates */
    size_t nseen;
    /* Lines of keys checked across sections, for their messages (0: unset). */
    int uri_size_line, header_size_line, access_log_line, error_log_line;
} parse_t;

/* ----------------------------------------------------------------- errors */

static void add_error(config_errors_t *errs, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **m = realloc(errs->msg, (errs->n + 1) * sizeof(char *));
    if (m == NULL)
        return;
    errs->msg = m;
    errs->msg[errs->n++] = strdup(buf);
}

#define ERR_AT(p, line, ...)                                                                       \
    do {                                                                                           \
        char m_[800];                                                                              \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                                     \
        add_error((p)->errs, "%s:%d: %s", (p)->file, (line), m_);                                  \
    } while (0)

void config_errors_free(config_errors_t *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        free(errs->msg[i]);
    free(errs->msg);
    errs->msg = NULL;
    errs->n = 0;
}

/* ----------------------------------------------------------------- values */

int64_t config_parse_size(const char *v)
{
    return route_parse_size(v);
}

int64_t config_parse_duration(const char *v)
{
    return route_parse_duration(v);
}

/* Letters, digits, '-' and '.' (resolved at start, to all its addresses);
 * not all digits and dots, which would be a malformed IPv4 address. */
static bool valid_host_name(const char *s)
{
    bool letter = false;
    if (*s == '-' || *s == '.')
        return false;
    for (; *s != '\0'; s++) {
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
            return false;
        letter |= !isdigit((unsigned char)*s) && *s != '.';
    }
    return letter;
}

static bool valid_port(const char *s)
{
    char *end;
    long p = strtol(s, &end, 10);
    return *s != '\0' && *end == '\0' && p >= 0 && p <= 65535 && isdigit((unsigned char)*s);
}

const char *config_check_listen(const char *addr)
{
    char host[256];
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;

    if (strncmp(addr, "unix:", 5) == 0)
        return addr[5] == '/' ? NULL : "a unix: address needs an absolute path";
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - addr - 1) >= sizeof(host))
            return "expected [IPv6]:port";
        memcpy(host, addr + 1, (size_t)(close - addr - 1));
        host[close - addr - 1] = '\0';
        if (uv_ip6_addr(host, 0, &a6) != 0)
            return "not an IPv6 address";
        return valid_port(close + 2) ? NULL : "port must be a number from 0 to 65535";
    }
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return valid_port(addr) ? NULL : "expected PORT, :PORT, ADDRESS:PORT or unix:/path";
    if ((size_t)(colon - addr) >= sizeof(host))
        return "address too long";
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (strchr(host, ':') != NULL)
        return "an IPv6 address goes in brackets ([::1]:8080)";
    if (host[0] != '\0' && uv_ip4_addr(host, 0, &a4) != 0 && !valid_host_name(host))
        return "not an IPv4 address or a host name";
    return valid_port(colon + 1) ? NULL : "port must be a number from 0 to 65535";
}

/* "ADDR [mode=0NNN]": copies the address (checked) to addr and parses the
 * options after it; NULL or what is wrong. */
static const char *parse_listen(const char *v, char *addr, size_t len, unsigned *mode)
{
    size_t n = strcspn(v, " \t");
    const char *opt = v + n, *err;
    char *end;

    *mode = 0;
    if (n >= len)
        return "address too long";
    memcpy(addr, v, n);
    addr[n] = '\0';
    if ((err = config_check_listen(addr)) != NULL)
        return err;
    for (opt += strspn(opt, " \t"); *opt != '\0'; opt += strspn(opt, " \t")) {
        if (strncmp(opt, "mode=", 5) != 0)
            return "unknown option (the only one is mode=0NNN, for unix: addresses)";
        if (strncmp(addr, "unix:", 5) != 0)
            return "mode= applies to unix: addresses only";
        unsigned long m = strtoul(opt + 5, &end, 8);
        if (end == opt + 5 || (*end != '\0' && *end != ' ' && *end != '\t') || m == 0 || m > 0777)
            return "mode must be octal permission bits, such as mode=0660";
        *mode = (unsigned)m;
        opt = end;
    }
    return NULL;
}

/* ---------------------------------------------------------------- config */

static int site_handle(http_site_t *site, http_conn_t *c, const http_request_t *req)
{
    config_t *cfg = (config_t *)site;
    return route_handle(cfg->routes, cfg->nroutes, c, req);
}

static config_t *config_new(const char *file)
{
    config_t *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    cfg->refs = 1;
    cfg->file = file ? strdup(file) : NULL;
    cfg->max_connections = 10000;
    cfg->workers = 1;
    cfg->backlog = 511;
    cfg->server_header = strdup("eddy");
    cfg->shutdown_ms = 10000;
    cfg->stall_warn_ms = 100;
    cfg->access_log = strdup("stderr");
    cfg->error_log = strdup("stderr");
    cfg->log_level = LOG_INFO;
    cfg->log_buffer = 16 * 1024 * 1024;
    cfg->log_time_local = true;
    cfg->site.limits = (http_limits_t){
        .header_size = 16 * 1024,
        .body_size = 1024 * 1024,
        .uri_size = 8 * 1024,
        .headers = 100,
        .requests_per_connection = 0,
        .header_ms = 10000,
        .body_ms = 30000,
        .keepalive_ms = 75000,
        .send_ms = 30000,
        .linger_ms = 5000,
    };
    cfg->site.handle = site_handle;
    return cfg;
}

void config_commit(config_t *cfg)
{
    for (size_t i = 0; i < cfg->nroutes; i++) {
        if (cfg->routes[i]->type->commit != NULL)
            cfg->routes[i]->type->commit(cfg->routes[i]);
    }
}

void config_ref(config_t *cfg)
{
    cfg->refs++;
}

void config_unref(config_t *cfg)
{
    if (cfg == NULL || --cfg->refs > 0)
        return;
    for (size_t i = 0; i < cfg->nlisten; i++)
        free(cfg->listen[i].addr);
    free(cfg->listen);
    for (size_t i = 0; i < cfg->nroutes; i++)
        route_free(cfg->routes[i]);
    free(cfg->routes);
    free(cfg->server_header);
    free(cfg->access_log);
    free(cfg->error_log);
    free(cfg->file);
    free(cfg);
}

static int add_listen(config_t *cfg, const char *addr, unsigned mode, int line)
{
    listen_addr_t *l = realloc(cfg->listen, (cfg->nlisten + 1) * sizeof(*l));
    if (l == NULL)
        return -1;
    cfg->listen = l;
    cfg->listen[cfg->nlisten++] = (listen_addr_t){.addr = strdup(addr), .mode = mode, .line = line};
    return 0;
}

static int add_route(config_t *cfg, route_t *r)
{
    route_t **rs = realloc(cfg->routes, (cfg->nroutes + 1) * sizeof(*rs));
    if (rs == NULL)
        return -1;
    cfg->routes = rs;
    cfg->routes[cfg->nroutes++] = r;
    return 0;
}

/* ------------------------------------------------------- section handling */

static bool seen_before(parse_t *p, const char *key, int *first_line)
{
    for (size_t i = 0; i + 1 < p->nkv; i++) {
        if (strcmp(p->kvs[i].key, key) == 0) {
            *first_line = p->kvs[i].line;
            return true;
        }
    }
    return false;
}

/* The line a route check's message is about: a message that begins with
 * one of the section's keys ("root /x: No such file") is reported on that
 * key's line, any other on the section header's. */
static int check_line(const parse_t *p, const char *msg)
{
    size_t n = strcspn(msg, " :");
    for (size_t i = 0; i < p->nkv; i++) {
        if (strlen(p->kvs[i].key) == n && strncmp(p->kvs[i].key, msg, n) == 0)
            return p->kvs[i].line;
    }
    return p->sec_line;
}

/* A configured header that a key of the same section also sets
 * (Cache-Control and cache_control, Location and location, Content-Type
 * and content_type) would be sent twice: NULL, or the conflict. */
static const char *header_conflict(parse_t *p, const char *header)
{
    static char why[128];
    char key[64];
    size_t n = strcspn(header, ":");
    if (n >= sizeof(key))
        return NULL;
    for (size_t i = 0; i < n; i++)
        key[i] = header[i] == '-' ? '_' : (char)tolower((unsigned char)header[i]);
    key[n] = '\0';
    for (size_t i = 0; i < p->nkv; i++) {
        if (strcmp(p->kvs[i].key, key) == 0) {
            snprintf(why, sizeof(why), "%s (line %d) sets it already: use one", key,
                     p->kvs[i].line);
            return why;
        }
    }
    return NULL;
}

/* Builds the route of a finished [route ...] section. */
static void finish_route(parse_t *p)
{
    const char *name = p->name + 5;
    bool exact = false;
    const route_type_t *type = NULL;
    int type_line = p->sec_line;
    bool bad = false;

    while (*name == ' ' || *name == '\t')
        name++;
    if (*name == '=') {
        exact = true;
        name++;
        while (*name == ' ' || *name == '\t')
            name++;
    }
    if (name[0] != '/' || strpbrk(name, " \t\"") != NULL) {
        ERR_AT(p, p->sec_line, "route path must start with / and have no spaces: [%s]", p->name);
        return;
    }
    for (size_t i = 0; i < p->nseen; i++) {
        if (p->seen[i].exact == exact && strcmp(p->seen[i].match, name) == 0) {
            ERR_AT(p, p->sec_line, "duplicate route %s%s (first defined at line %d)",
                   exact ? "= " : "", name, p->seen[i].line);
            return;
        }
    }
    struct seen_route *seen = realloc(p->seen, (p->nseen + 1) * sizeof(*seen));
    if (seen != NULL) {
        p->seen = seen;
        p->seen[p->nseen++] = (struct seen_route){strdup(name), exact, p->sec_line};
    }
    for (size_t i = 0; i < p->nkv; i++) {
        if (strcmp(p->kvs[i].key, "type") == 0) {
            type_line = p->kvs[i].line;
            type = route_type_find(p->kvs[i].value);
            if (type == NULL) {
                ERR_AT(p, type_line, "unknown route type '%s' (one of: %s)", p->kvs[i].value,
                       route_type_names());
                return;
            }
        }
    }
    if (type == NULL) {
        ERR_AT(p, p->sec_line, "[%s] needs a type (one of: %s)", p->name, route_type_names());
        return;
    }
    route_t *r = route_new(type, name, exact, p->sec_line);
    if (r == NULL)
        return;
    for (size_t i = 0; i < p->nkv; i++) {
        const kv_t *kv = &p->kvs[i];
        const char *err = NULL;
        int rc;
        if (strcmp(kv->key, "type") == 0)
            continue;
        if (strcmp(kv->key, "header") == 0) {
            const char *why = header_conflict(p, kv->value);
            if (why == NULL)
                why = route_add_header(r, kv->value);
            if (why != NULL) {
                ERR_AT(p, kv->line, "header '%s': %s", kv->value, why);
                bad = true;
            }
            continue;
        }
        rc = type->set(r, kv->key, kv->value, &err);
        if (rc > 0) {
            ERR_AT(p, kv->line, "unknown key '%s' for a %s route", kv->key, type->name);
            bad = true;
        } else if (rc < 0) {
            ERR_AT(p, kv->line, "%s: %s", kv->key, err);
            bad = true;
        }
    }
    char buf[512];
    const char *msg = bad ? NULL : type->check(r, buf, sizeof(buf));
    if (msg != NULL) {
        ERR_AT(p, check_line(p, msg), "[%s]: %s", p->name, msg);
        bad = true;
    }
    if (bad || add_route(p->cfg, r) != 0)
        route_free(r);
}

static void end_section(parse_t *p)
{
    if (p->sec == SEC_ROUTE)
        finish_route(p);
    for (size_t i = 0; i < p->nkv; i++) {
        free(p->kvs[i].key);
        free(p->kvs[i].value);
    }
    p->nkv = 0;
}

static void begin_section(parse_t *p, const char *name)
{
    static const struct {
        const char *name;
        enum section sec;
    } sections[] = {{"server", SEC_SERVER},
                    {"timeouts", SEC_TIMEOUTS},
                    {"limits", SEC_LIMITS},
                    {"log", SEC_LOG}};

    end_section(p);
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->sec_line = p->line;
    p->sec = SEC_UNKNOWN;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strcmp(name, sections[i].name) == 0)
            p->sec = sections[i].sec;
    }
    if (strncmp(name, "route", 5) == 0 && (name[5] == ' ' || name[5] == '\t' || name[5] == '='))
        p->sec = SEC_ROUTE;
    if (p->sec == SEC_UNKNOWN)
        ERR_AT(p, p->line, "unknown section [%s]", name);
}

/* The line reader inih calls: counts lines, tracks sections, and reports
 * lines that inih would skip or misread. */
static char *reader(char *str, int num, void *stream)
{
    parse_t *p = stream;
    if (p->pos >= p->len)
        return NULL;
    const char *start = p->text + p->pos;
    const char *nl = memchr(start, '\n', p->len - p->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : p->len - p->pos;
    p->pos += n;
    p->line++;
    if (n >= (size_t)num) {
        ERR_AT(p, p->line, "line too long (the limit is %d characters)", num - 2);
        n = 0; /* handed to inih as an empty line */
    }
    memcpy(str, start, n);
    str[n] = '\0';

    /* What kind of line is it?  A UTF-8 BOM (all three bytes, first in the
     * file) is skipped as inih skips it; each byte is tested in turn so that
     * a short first line is never read past its end, and a partial BOM stays
     * in the line to be reported as garbage. */
    const char *s = str;
    if (p->line == 1 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        s += 3;
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    if (*s == '\0' || *s == '\n' || *s == ';' || *s == '#')
        return str;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL) {
            ERR_AT(p, p->line, "section header without ]");
            str[0] = '\0';
            return str;
        }
        char name[256];
        size_t len = (size_t)(close - s - 1);
        if (len >= sizeof(name))
            len = sizeof(name) - 1;
        memcpy(name, s + 1, len);
        name[len] = '\0';
        /* trim */
        char *b = name, *e = name + strlen(name);
        while (*b == ' ' || *b == '\t')
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        begin_section(p, b);
        return str;
    }
    if (strpbrk(s, "=:") == NULL) {
        ERR_AT(p, p->line, "expected 'key = value', a [section] or a ; comment");
        str[0] = '\0';
    } else if (p->sec == SEC_NONE) {
        ERR_AT(p, p->line, "key outside of any section");
        str[0] = '\0';
    }
    return str;
}

/* --------------------------------------------------------------- keys */

static void set_string(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
}

static void key_size(parse_t *p, size_t *dst, const char *key, const char *v, int64_t lo, int64_t hi)
{
    int64_t n = config_parse_size(v);
    if (n < 0)
        ERR_AT(p, p->line, "%s: '%s' is not a size (a number with an optional k, m or g)", key, v);
    else if (n < lo || n > hi)
        ERR_AT(p, p->line, "%s: %s is out of range (%lld to %lld)", key, v, (long long)lo,
               (long long)hi);
    else
        *dst = (size_t)n;
}

/* zero: what 0 means for this key, or NULL if 0 would break serving (a
 * request could never be read or answered) and is refused. */
static void key_duration(parse_t *p, uint64_t *dst, const char *key, const char *v,
                         const char *zero)
{
    int64_t n = config_parse_duration(v);
    if (n < 0)
        ERR_AT(p, p->line, "%s: '%s' is not a duration (a number with ms, s, m or h)", key, v);
    else if (n == 0 && zero == NULL)
        ERR_AT(p, p->line, "%s: must be more than 0 (no request could be served)", key);
    else
        *dst = (uint64_t)n;
}

static void key_server(parse_t *p, const char *key, const char *v)
{
    config_t *cfg = p->cfg;
    if (strcmp(key, "listen") == 0) {
        char addr[512];
        unsigned mode;
        const char *err = parse_listen(v, addr, sizeof(addr), &mode);
        if (err != NULL)
            ERR_AT(p, p->line, "listen %s: %s", v, err);
        else
            add_listen(cfg, addr, mode, p->line);
    } else if (strcmp(key, "backlog") == 0) {
        size_t n = 0;
        key_size(p, &n, key, v, 1, 1 << 20);
        if (n)
            cfg->backlog = (int)n;
    } else if (strcmp(key, "max_connections") == 0) {
        size_t n = 0;
        key_size(p, &n, key, v, 1, 10 * 1000 * 1000);
        if (n)
            cfg->max_connections = (unsigned)n;
    } else if (strcmp(key, "workers") == 0) {
        size_t n = 0;
        cfg->workers_line = p->line;
        if (strcmp(v, "auto") == 0)
            cfg->workers = 0;
        else
            key_size(p, &n, key, v, 1, 1024);
        if (n)
            cfg->workers = (unsigned)n;
    } else if (strcmp(key, "stall_warn") == 0) {
        key_duration(p, &cfg->stall_warn_ms, key, v, "off");
    } else if (strcmp(key, "server_header") == 0) {
        /* The head writer takes at most 99 bytes of it (and must never
         * send a control character). */
        bool ctl = false;
        for (const char *s = v; *s; s++)
            ctl |= (unsigned char)*s < ' ' || *s == 127;
        if (ctl || strlen(v) > 99 || *v == '\0')
            ERR_AT(p, p->line, "server_header: 1 to 99 characters without control characters");
        else
            set_string(&cfg->server_header, v);
    } else {
        ERR_AT(p, p->line, "unknown key '%s' in [server]", key);
    }
}

static void key_timeouts(parse_t *p, const char *key, const char *v)
{
    http_limits_t *l = &p->cfg->site.limits;
    if (strcmp(key, "header") == 0)
        key_duration(p, &l->header_ms, key, v, NULL);
    else if (strcmp(key, "body") == 0)
        key_duration(p, &l->body_ms, key, v, NULL);
    else if (strcmp(key, "keepalive") == 0)
        key_duration(p, &l->keepalive_ms, key, v, "keep-alive off");
    else if (strcmp(key, "send") == 0)
        key_duration(p, &l->send_ms, key, v, NULL);
    else if (strcmp(key, "shutdown") == 0)
        key_duration(p, &p->cfg->shutdown_ms, key, v, "cancel at once");
    else if (strcmp(key, "linger") == 0)
        key_duration(p, &l->linger_ms, key, v, "close at once");
    else
        ERR_AT(p, p->line, "unknown key '%s' in [timeouts]", key);
}

static void key_limits(parse_t *p, const char *key, const char *v)
{
    http_limits_t *l = &p->cfg->site.limits;
    if (strcmp(key, "header_size") == 0) {
        p->header_size_line = p->line;
        key_size(p, &l->header_size, key, v, 1024, 1024 * 1024);
    } else if (strcmp(key, "body_size") == 0) {
        key_size(p, &l->body_size, key, v, 0, INT64_MAX);
    } else if (strcmp(key, "uri_size") == 0) {
        p->uri_size_line = p->line;
        key_size(p, &l->uri_size, key, v, 16, 1024 * 1024);
    } else if (strcmp(key, "headers") == 0) {
        key_size(p, &l->headers, key, v, 1, 10000);
    } else if (strcmp(key, "requests_per_connection") == 0) {
        size_t n = l->requests_per_connection;
        key_size(p, &n, key, v, 0, 1u << 30);
        l->requests_per_connection = (unsigned)n;
    } else {
        ERR_AT(p, p->line, "unknown key '%s' in [limits]", key);
    }
}

static void key_log(parse_t *p, const char *key, const char *v)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    if (strcmp(key, "access") == 0) {
        p->access_log_line = p->line;
        set_string(&p->cfg->access_log, v);
    } else if (strcmp(key, "error") == 0) {
        if (strcmp(v, "off") == 0)
            ERR_AT(p, p->line, "error: the error log cannot be off (stderr or a path)");
        else
            set_string(&p->cfg->error_log, v);
        p->error_log_line = p->line;
    } else if (strcmp(key, "level") == 0) {
        for (int i = 0; i < 4; i++) {
            if (strcmp(v, levels[i]) == 0) {
                p->cfg->log_level = (enum log_level)i;
                return;
            }
        }
        ERR_AT(p, p->line, "level: '%s' is not one of debug, info, warn, error", v);
    } else if (strcmp(key, "buffer") == 0) {
        key_size(p, &p->cfg->log_buffer, key, v, 128 * 1024, 1024 * 1024 * 1024);
    } else if (strcmp(key, "time") == 0) {
        if (strcmp(v, "local") == 0 || strcmp(v, "utc") == 0)
            p->cfg->log_time_local = strcmp(v, "local") == 0;
        else
            ERR_AT(p, p->line, "time: '%s' is not one of local, utc", v);
    } else {
        ERR_AT(p, p->line, "unknown key '%s' in [log]", key);
    }
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
    parse_t *p = user;
    int first = 0;
    kv_t *kvs = realloc(p->kvs, (p->nkv + 1) * sizeof(kv_t));

    (void)section; /* tracked by the reader, which also sees empty sections */
    if (kvs == NULL)
        return 0;
    p->kvs = kvs;
    p->kvs[p->nkv++] = (kv_t){strdup(key), strdup(value), p->line};
    if (p->sec == SEC_UNKNOWN)
        return 1;
    if (strcmp(key, "listen") != 0 && strcmp(key, "header") != 0 && seen_before(p, key, &first)) {
        ERR_AT(p, p->line, "duplicate key '%s' in [%s] (first set at line %d)", key, p->name,
               first);
        return 1;
    }
    switch (p->sec) {
    case SEC_SERVER:
        key_server(p, key, value);
        break;
    case SEC_TIMEOUTS:
        key_timeouts(p, key, value);
        break;
    case SEC_LIMITS:
        key_limits(p, key, value);
        break;
    case SEC_LOG:
        key_log(p, key, value);
        break;
    default:
        break; /* routes are built at the end of their section */
    }
    return 1;
}

/* Can the log at path be opened for append, as start-up will?  Opening
 * it creates it, as start-up would; the daemon then finds it there. */
static void check_log(parse_t *p, const char *key, const char *path, int line)
{
    if (strcmp(path, "stderr") == 0 || strcmp(path, "off") == 0)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        ERR_AT(p, line, "%s: cannot open %s for append: %s", key, path, strerror(errno));
        return;
    }
    close(fd);
}

/* Checks across sections. */
static void check_config(parse_t *p)
{
    config_t *cfg = p->cfg;
    if (cfg->site.limits.uri_size > cfg->site.limits.header_size) {
        int line = p->uri_size_line > p->header_size_line ? p->uri_size_line : p->header_size_line;
        ERR_AT(p, line, "limits.uri_size (%zu) cannot exceed limits.header_size (%zu)",
               cfg->site.limits.uri_size, cfg->site.limits.header_size);
    }
    check_log(p, "access", cfg->access_log, p->access_log_line);
    check_log(p, "error", cfg->error_log, p->error_log_line);
    for (size_t i = 0; i < cfg->nlisten; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->listen[i].addr, cfg->listen[j].addr) == 0)
                ERR_AT(p, cfg->listen[i].line, "listen %s given twice (first at line %d)",
                       cfg->listen[i].addr, cfg->listen[j].line);
        }
    }
    if (strcmp(cfg->server_header, "off") == 0) {
        free(cfg->server_header);
        cfg->server_header = NULL;
    }
    cfg->site.server_header = cfg->server_header;
}

static config_t *parse_text(const char *file, const char *text, size_t len, config_errors_t *errs)
{
    parse_t p = {.file = file, .text = text, .len = len, .errs = errs};
    size_t before = errs->n;

    p.cfg = config_new(strcmp(file, "(default)") == 0 ? NULL : file);
    if (p.cfg == NULL) {
        add_error(errs, "%s: out of memory", file);
        return NULL;
    }
    ini_parse_stream(reader, &p, handler, &p);
    end_section(&p);
    free(p.kvs);
    for (size_t i = 0; i < p.nseen; i++)
        free(p.seen[i].match);
    free(p.seen);
    if (p.cfg->nlisten == 0)
        add_listen(p.cfg, "127.0.0.1:8080", 0, 0);
    check_config(&p);
    if (errs->n > before) {
        config_unref(p.cfg);
        return NULL;
    }
    return p.cfg;
}

config_t *config_load(const char *file, config_errors_t *errs)
{
    FILE *f = fopen(file, "rb");
    struct stat sb;
    if (f == NULL) {
        add_error(errs, "%s: cannot open: %s", file, strerror(errno));
        return NULL;
    }
    /* fopen() opens a directory for reading; only fread() would fail. */
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        add_error(errs, "%s: cannot read: is a directory", file);
        fclose(f);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *t = realloc(text, cap = cap ? cap * 2 : 8192);
            if (t == NULL)
                break;
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        if (n == 0 && ferror(f)) {
            add_error(errs, "%s: cannot read: %s", file, strerror(errno));
            fclose(f);
            free(text);
            return NULL;
        }
        if (n == 0)
            break;
        len += n;
        if (len > 16 * 1024 * 1024) {
            add_error(errs, "%s: larger than 16 MiB", file);
            fclose(f);
            free(text);
            return NULL;
        }
    }
    fclose(f);
    config_t *cfg = parse_text(file, text ? text : "", len, errs);
    free(text);
    return cfg;
}

static const char default_ini[] = "[server]\n"
                                  "listen = 127.0.0.1:8080\n"
                                  "[route = /health]\n"
                                  "type = return\n"
                                  "status = 200\n"
                                  "body = ok\n"
                                  "content_type = text/plain; charset=utf-8\n"
                                  /* The welcome page's live demo. */
                                  "[route = /ws/echo]\n"
                                  "type = echo\n"
                                  "[route /ps/]\n"
                                  "type = pubsub\n";

config_t *config_default(config_errors_t *errs)
{
    config_t *cfg = parse_text("(default)", default_ini, sizeof(default_ini) - 1, errs);
    if (cfg == NULL)
        return NULL;
    route_t *r = route_new(&route_return, "/", true, 0);
    char buf[64];
    if (r == NULL || route_return_set_body(r, welcome_html, "text/html; charset=utf-8") != 0 ||
        route_return.check(r, buf, sizeof(buf)) != NULL || add_route(cfg, r) != 0) {
        route_free(r);
        config_unref(cfg);
        add_error(errs, "(default): out of memory");
        return NULL;
    }
    return cfg;
}

int config_override(config_t *cfg, char *const *listen, size_t nlisten, const char *root,
                    config_errors_t *errs)
{
    size_t before = errs->n;
    if (nlisten > 0) {
        for (size_t i = 0; i < cfg->nlisten; i++)
            free(cfg->listen[i].addr);
        cfg->nlisten = 0;
        for (size_t i = 0; i < nlisten; i++) {
            char addr[512];
            unsigned mode;
            const char *err = parse_listen(listen[i], addr, sizeof(addr), &mode);
            if (err != NULL)
                add_error(errs, "-l %s: %s", listen[i], err);
            else
                add_listen(cfg, addr, mode, 0);
        }
    }
    if (root != NULL) {
        /* -r replaces whatever answered "/" (the welcome page, a "/" prefix). */
        for (size_t i = 0; i < cfg->nroutes;) {
            route_t *r = cfg->routes[i];
            if (strcmp(r->match, "/") == 0) {
                route_free(r);
                cfg->routes[i] = cfg->routes[--cfg->nroutes];
            } else {
                i++;
            }
        }
        route_t *r = route_new(&route_static, "/", false, 0);
        const char *err = NULL;
        char buf[512];
        if (r == NULL || route_static.set(r, "root", root, &err) != 0) {
            add_error(errs, "-r %s: out of memory", root);
            route_free(r);
        } else if ((err = route_static.check(r, buf, sizeof(buf))) != NULL) {
            add_error(errs, "-r %s: %s", root, err);
            route_free(r);
        } else if (add_route(cfg, r) != 0) {
            route_free(r);
        }
    }
    return errs->n > before ? -1 : 0;
}
