#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "http/date.h"
#include "http/fmt.h"

#define QUEUE_MAX 4096
#define BATCH_MAX (64 * 1024)
#define RECORD_LINE 1024

typedef struct record {
    struct record *next; /* free list */
    size_t len;
    char line[RECORD_LINE];
} record_t;

static struct {
    enum log_level level;
    int error_fd;
    char *error_path;
    char *access_path; /* NULL: off */
    int access_fd;     /* owned by the writer task */
    eddy_queue_t queue;
    bool running;
    eddy_task_t *writer;
    record_t *free;
    uint64_t dropped, dropped_reported;
} lg = {.level = LOG_INFO, .error_fd = 2, .access_fd = -1};

/* The writer reopens its file when it takes this from the queue. */
static record_t reopen_marker;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static int open_log(const char *path)
{
    if (strcmp(path, "stderr") == 0)
        return 2;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    if (level < lg.level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ [%s] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     level_names[level]);
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    /* Error lines are rare: a direct write keeps them in order with
     * whatever else the process says, even while it is going down. */
    if (write(lg.error_fd, buf, (size_t)n) < 0 && lg.error_fd != 2)
        (void)!write(2, buf, (size_t)n);
}

int log_configure(const config_t *cfg)
{
    lg.level = cfg->log_level;
    if (lg.error_path == NULL || strcmp(lg.error_path, cfg->error_log) != 0) {
        int fd = open_log(cfg->error_log);
        if (fd < 0) {
            log_msg(LOG_ERROR, "cannot open error log %s: %s", cfg->error_log, strerror(errno));
            return -1;
        }
        if (lg.error_fd > 2)
            close(lg.error_fd);
        lg.error_fd = fd;
        free(lg.error_path);
        lg.error_path = strdup(cfg->error_log);
    }
    bool off = strcmp(cfg->access_log, "off") == 0;
    if (off != (lg.access_path == NULL) ||
        (!off && strcmp(lg.access_path, cfg->access_log) != 0)) {
        if (!off) {
            /* Fail now, at start-up or reload, not silently later. */
            int fd = open_log(cfg->access_log);
            if (fd < 0) {
                log_msg(LOG_ERROR, "cannot open access log %s: %s", cfg->access_log,
                        strerror(errno));
                return -1;
            }
            if (fd > 2)
                close(fd);
        }
        free(lg.access_path);
        lg.access_path = off ? NULL : strdup(cfg->access_log);
        log_reopen();
    }
    return 0;
}

static void flush_batch(char *buf, size_t len)
{
    size_t off = 0;
    while (off < len && lg.access_fd >= 0) {
        ssize_t n = eddy_fs_write(lg.access_fd, buf + off, len - off, -1);
        if (n <= 0) {
            log_msg(LOG_ERROR, "access log write: %s", eddy_strerror((int)n));
            return;
        }
        off += (size_t)n;
    }
}

static void writer_reopen(void)
{
    if (lg.access_fd > 2)
        eddy_fs_close(lg.access_fd);
    lg.access_fd = -1;
    if (lg.access_path == NULL)
        return;
    if (strcmp(lg.access_path, "stderr") == 0) {
        lg.access_fd = 2;
        return;
    }
    int fd = eddy_fs_open(lg.access_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        log_msg(LOG_ERROR, "cannot open access log %s: %s", lg.access_path, eddy_strerror(fd));
    else
        lg.access_fd = fd;
}

static void recycle(record_t *r)
{
    if (r == &reopen_marker)
        return;
    r->next = lg.free;
    lg.free = r;
}

/* The consumer: takes what is queued, writes it in one go. */
static int writer_task(void *arg)
{
    char *batch = malloc(BATCH_MAX);
    void *item;

    (void)arg;
    writer_reopen();
    while (batch != NULL && eddy_queue_get(&lg.queue, &item) == 0) {
        size_t len = 0;
        do {
            record_t *r = item;
            if (r == &reopen_marker) {
                flush_batch(batch, len);
                len = 0;
                writer_reopen();
            } else if (len + r->len > BATCH_MAX) {
                flush_batch(batch, len);
                memcpy(batch, r->line, r->len);
                len = r->len;
            } else {
                memcpy(batch + len, r->line, r->len);
                len += r->len;
            }
            recycle(r);
            eddy_queue_task_done(&lg.queue);
        } while (eddy_queue_get_nowait(&lg.queue, &item) == 0);
        flush_batch(batch, len);
        if (lg.dropped != lg.dropped_reported) {
            log_msg(LOG_WARN, "access log: %llu records dropped (queue full)",
                    (unsigned long long)(lg.dropped - lg.dropped_reported));
            lg.dropped_reported = lg.dropped;
        }
    }
    if (lg.access_fd > 2)
        eddy_fs_close(lg.access_fd);
    lg.access_fd = -1;
    free(batch);
    return 0;
}

int log_start(void)
{
    int rc = eddy_queue_init(&lg.queue, QUEUE_MAX);
    if (rc != 0)
        return rc;
    rc = eddy_spawn(&lg.writer, writer_task, NULL, &(eddy_spawn_opts_t){.name = "access-log"});
    if (rc != 0) {
        eddy_queue_destroy(&lg.queue);
        return rc;
    }
    lg.running = true;
    return 0;
}

void log_stop(void)
{
    if (!lg.running)
        return;
    lg.running = false;
    /* Not immediate: what is queued is still written. */
    eddy_queue_shutdown(&lg.queue, false);
    eddy_shield_enter();
    eddy_join(lg.writer, NULL);
    eddy_shield_leave();
    eddy_detach(lg.writer);
    eddy_queue_destroy(&lg.queue);
    while (lg.free != NULL) {
        record_t *r = lg.free;
        lg.free = r->next;
        free(r);
    }
    if (lg.error_fd > 2)
        close(lg.error_fd);
    lg.error_fd = 2;
    free(lg.error_path);
    free(lg.access_path);
    lg.error_path = lg.access_path = NULL;
}

void log_reopen(void)
{
    if (lg.running && eddy_queue_put_nowait(&lg.queue, &reopen_marker) != 0)
        lg.dropped++;
    if (lg.error_path != NULL && strcmp(lg.error_path, "stderr") != 0) {
        int fd = open_log(lg.error_path);
        if (fd >= 0) {
            if (lg.error_fd > 2)
                close(lg.error_fd);
            lg.error_fd = fd;
        }
    }
}

uint64_t log_dropped(void)
{
    return lg.dropped;
}

/* ------------------------------------------------------------ formatting */

/* Appends s, escaping quotes, backslashes and control bytes (\xHH) so a
 * client cannot forge log lines. */
static size_t put_escaped(char *out, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == '"' || ch == '\\' || ch >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        } else {
            out[o++] = (char)ch;
        }
    }
    return o;
}

static size_t put(char *out, size_t cap, const char *s, size_t len)
{
    if (len > cap)
        len = cap;
    memcpy(out, s, len);
    return len;
}

static size_t put_header(char *out, size_t cap, const http_header_t *h)
{
    if (h == NULL || h->value_len == 0)
        return put(out, cap, "\"-\"", 3);
    size_t o = put(out, cap, "\"", 1);
    o += put_escaped(out + o, cap - o - 1, h->value, h->value_len);
    return o + put(out + o, cap - o, "\"", 1);
}

void log_access(const http_request_t *req, int status, uint64_t bytes)
{
    record_t *r;

    if (!lg.running || lg.access_path == NULL)
        return;
    if (eddy_queue_full(&lg.queue)) {
        lg.dropped++;
        return;
    }
    r = lg.free;
    if (r != NULL)
        lg.free = r->next;
    else if ((r = malloc(sizeof(*r))) == NULL) {
        lg.dropped++;
        return;
    }
    /* %h - - [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i" */
    char *o = r->line;
    size_t cap = RECORD_LINE - 1, n = 0;
    n += put(o + n, cap - n, req->peer, strlen(req->peer));
    n += put(o + n, cap - n, " - - [", 6);
    n += put(o + n, cap - n, http_logtime_now(), HTTP_LOGTIME_LEN);
    n += put(o + n, cap - n, "] \"", 3);
    n += put_escaped(o + n, cap - n - 200 > cap ? 0 : cap - n - 200, req->method_name, req->method_len);
    n += put(o + n, cap - n, " ", 1);
    n += put_escaped(o + n, cap - n - 200 > cap ? 0 : cap - n - 200, req->target, req->target_len);
    n += put(o + n, cap - n, req->version_minor ? " HTTP/1.1\" " : " HTTP/1.0\" ", 11);
    n += http_fmt_u64(o + n, (uint64_t)status);
    n += put(o + n, cap - n, " ", 1);
    n += bytes ? http_fmt_u64(o + n, bytes) : put(o + n, cap - n, "-", 1);
    n += put(o + n, cap - n, " ", 1);
    n += put_header(o + n, cap - n - 100, req->hdr[HTTP_H_REFERER]);
    n += put(o + n, cap - n, " ", 1);
    n += put_header(o + n, cap - n - 2, req->hdr[HTTP_H_USER_AGENT]);
    o[n++] = '\n';
    r->len = n;
    if (eddy_queue_put_nowait(&lg.queue, r) != 0) {
        lg.dropped++;
        recycle(r);
    }
}

/* Interim: formats and queues at once (the bytes are the planned ones). */
void *log_access_begin(const http_request_t *req, int status, uint64_t planned)
{
    log_access(req, status, planned);
    return NULL;
}

void log_access_end(void *rec, uint64_t sent)
{
    (void)rec;
    (void)sent;
}

void log_refused(const char *peer, int status, const char *reason)
{
    log_msg(LOG_INFO, "%s: %d %s", peer, status, reason);
}
