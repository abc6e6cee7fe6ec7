#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/logfmt.h"
#include "daemon/sd.h"
#include "http/date.h"
#include "http/fmt.h"

#define CHUNK_SIZE (64 * 1024) /* the unit the queue grows by */
#define SPARE_CHUNKS 8         /* kept for reuse; the rest go back to malloc */
#define WRITE_IOV 64           /* chunks per writev(2) */
#define RL_SLOTS 32            /* rate-limited keys remembered */
#define RL_KEY 64
#define RL_MSG 512
#define RL_WINDOW_MS 1000

/* A record formatted at log_access_begin: the whole line but the status
 * and the byte count, which go at split once the response has left. */
typedef struct record {
    uint32_t split;
    uint32_t len;
    char line[];
} record_t;

/* The queue is a chain of chunks that records are appended to; the writer
 * takes the whole chain each turn and writes it with one writev, so it
 * keeps up however small the records are. */
typedef struct chunk {
    struct chunk *next;
    size_t len;
    size_t records; /* complete lines in data */
    char data[CHUNK_SIZE];
} chunk_t;

static struct {
    enum log_level level;
    int error_fd;
    char *error_path;
    char *access_path; /* NULL: off */
    int access_fd;     /* owned by the writer task */
    size_t buffer_max; /* bytes of chunks queued or being written, at most */
    bool running, stopping, reopen;
    eddy_task_t *writer;
    eddy_event_t wake;
    chunk_t *head, *tail; /* queued, not yet taken by the writer */
    size_t bytes;         /* chunk bytes queued or being written */
    chunk_t *spare;
    size_t nspare;
    uint64_t written, dropped;
} lg = {.level = LOG_INFO, .error_fd = 2, .access_fd = -1, .buffer_max = 16 * 1024 * 1024};

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* syslog priorities of the levels, for the journal: debug, info, warning, err. */
static const char level_prio[] = {'7', '6', '4', '3'};

/* Under systemd with stderr connected to the journal, which stamps each
 * line itself and reads a "<N>" prefix as its priority. */
static bool stderr_is_journal(void)
{
    static int journal = -1;
    if (journal < 0)
        journal = sd_journal_stream(2);
    return journal;
}

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
    int n = lg.error_fd == 2 && stderr_is_journal()
                ? snprintf(buf, sizeof(buf), "<%c>[%s] ", level_prio[level], level_names[level])
                : snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ [%s] ",
                           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, level_names[level]);
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

/* ------------------------------------------------------- rate limiting */

/* One key's window: the first line of a window is written, the others are
 * counted (the latest one kept), and the count is written when the window
 * ends, either with the next line for the key or by the writer task's
 * rl_flush, which wakes for it. */
typedef struct rl_slot {
    char key[RL_KEY];
    uint64_t start_ms; /* 0: unused */
    uint64_t suppressed;
    enum log_level level;
    char last[RL_MSG];
} rl_slot_t;

static rl_slot_t rl[RL_SLOTS];
static size_t rl_pending; /* slots with suppressed lines */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

/* Writes msg, with the count of the lines suppressed since the window
 * began, and begins a new window. */
static void rl_emit(rl_slot_t *s, enum log_level level, const char *msg, uint64_t more,
                    uint64_t now)
{
    if (more > 0) {
        uint64_t secs = (now - s->start_ms + 500) / 1000;
        log_msg(level, "%s (and %llu more like it in the last %llus)", msg,
                (unsigned long long)more, (unsigned long long)(secs ? secs : 1));
    } else {
        log_msg(level, "%s", msg);
    }
    if (s->suppressed > 0)
        rl_pending--;
    s->suppressed = 0;
    s->start_ms = now;
}

/* Writes the counts of windows that have ended; all of them if force. */
static void rl_flush(bool force)
{
    uint64_t now = now_ms();
    for (size_t i = 0; i < RL_SLOTS && rl_pending > 0; i++) {
        rl_slot_t *s = &rl[i];
        if (s->suppressed > 0 && (force || now - s->start_ms >= RL_WINDOW_MS))
            rl_emit(s, s->level, s->last, s->suppressed - 1, now);
    }
}

/* Milliseconds until the first window with suppressed lines ends. */
static uint64_t rl_next_ms(void)
{
    uint64_t now = now_ms(), next = RL_WINDOW_MS;
    for (size_t i = 0; i < RL_SLOTS; i++) {
        const rl_slot_t *s = &rl[i];
        if (s->suppressed > 0) {
            uint64_t end = s->start_ms + RL_WINDOW_MS;
            uint64_t left = end > now ? end - now : 0;
            next = left < next ? left : next;
        }
    }
    return next;
}

/* The slot for key: its own, a free one, or the least recently begun one
 * (whose count is written first). */
static rl_slot_t *rl_slot(const char *key)
{
    rl_slot_t *oldest = &rl[0];
    for (size_t i = 0; i < RL_SLOTS; i++) {
        rl_slot_t *s = &rl[i];
        if (s->start_ms == 0 || strncmp(s->key, key, RL_KEY - 1) == 0)
            return s;
        if (s->start_ms < oldest->start_ms)
            oldest = s;
    }
    if (oldest->suppressed > 0)
        rl_emit(oldest, oldest->level, oldest->last, oldest->suppressed - 1, now_ms());
    oldest->start_ms = 0;
    oldest->suppressed = 0;
    return oldest;
}

void log_ratelimited(enum log_level level, const char *key, const char *fmt, ...)
{
    char msg[RL_MSG];
    va_list ap;

    if (level < lg.level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rl_slot_t *s = rl_slot(key);
    uint64_t now = now_ms();
    if (s->start_ms == 0) {
        snprintf(s->key, sizeof(s->key), "%s", key);
    } else if (now - s->start_ms < RL_WINDOW_MS) {
        /* The writer task writes the count when the window ends. */
        if (s->suppressed++ == 0 && rl_pending++ == 0 && lg.running)
            eddy_event_set(&lg.wake);
        s->level = level;
        memcpy(s->last, msg, sizeof(msg));
        return;
    }
    rl_emit(s, level, msg, s->suppressed, now);
}

void log_refused(const char *peer, int status, const char *reason)
{
    char key[RL_KEY];
    snprintf(key, sizeof(key), "refused %d %s", status, reason);
    log_ratelimited(LOG_INFO, key, "%s: %d %s", peer ? peer : "-", status, reason);
}

/* ----------------------------------------------------------- the queue */

static chunk_t *chunk_get(void)
{
    chunk_t *c = lg.spare;
    if (lg.bytes + CHUNK_SIZE > lg.buffer_max)
        return NULL;
    if (c != NULL) {
        lg.spare = c->next;
        lg.nspare--;
    } else if ((c = malloc(sizeof(*c))) == NULL) {
        return NULL;
    }
    lg.bytes += CHUNK_SIZE;
    c->next = NULL;
    c->len = c->records = 0;
    return c;
}

static void chunk_put(chunk_t *c)
{
    lg.bytes -= CHUNK_SIZE;
    if (lg.nspare < SPARE_CHUNKS) {
        c->next = lg.spare;
        lg.spare = c;
        lg.nspare++;
    } else {
        free(c);
    }
}

static void drop(uint64_t n, const char *why)
{
    lg.dropped += n;
    log_ratelimited(LOG_WARN, why, "access log: %s: %llu record(s) dropped (%llu since start)", why,
                    (unsigned long long)n, (unsigned long long)lg.dropped);
}

/* Appends r's line with the byte count to the queue and wakes the writer. */
static void enqueue(const record_t *r, int status, uint64_t sent)
{
    char num[LOG_STATUS_BYTES_MAX];
    size_t nlen = log_format_status_bytes(num, status, sent);
    chunk_t *c = lg.tail;
    if (c == NULL || CHUNK_SIZE - c->len < r->len + nlen) {
        if ((c = chunk_get()) == NULL) {
            drop(1, "buffer full, the disk does not keep up");
            return;
        }
        if (lg.tail != NULL)
            lg.tail->next = c;
        else
            lg.head = c;
        lg.tail = c;
    }
    char *o = c->data + c->len;
    memcpy(o, r->line, r->split);
    memcpy(o + r->split, num, nlen);
    memcpy(o + r->split + nlen, r->line + r->split, r->len - r->split);
    c->len += r->len + nlen;
    c->records++;
    if (!eddy_event_is_set(&lg.wake))
        eddy_event_set(&lg.wake);
}

/* ---------------------------------------------------------- the writer */

typedef struct write_job {
    int fd;
    chunk_t *batch;
    size_t written;
    int err;
} write_job_t;

/* On the thread pool: writes the whole chain, IOV chunks a call. */
static void *write_chain(void *arg)
{
    write_job_t *j = arg;
    chunk_t *c = j->batch;
    size_t off = 0; /* into c */

    while (c != NULL) {
        struct iovec iov[WRITE_IOV];
        int n = 0;
        for (chunk_t *p = c; p != NULL && n < WRITE_IOV; p = p->next, n++) {
            iov[n].iov_base = p->data + (p == c ? off : 0);
            iov[n].iov_len = p->len - (p == c ? off : 0);
        }
        ssize_t w = writev(j->fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            j->err = w < 0 ? -errno : UV_EIO;
            break;
        }
        j->written += (size_t)w;
        /* Past what was written: a short write resumes mid-chunk. */
        size_t left = (size_t)w;
        while (c != NULL && left >= c->len - off) {
            left -= c->len - off;
            off = 0;
            c = c->next;
        }
        off += left;
    }
    return NULL;
}

/* Counts the records of batch that the first written bytes hold whole. */
static uint64_t records_in(const chunk_t *batch, size_t written, uint64_t *total)
{
    uint64_t whole = 0;
    *total = 0;
    for (const chunk_t *c = batch; c != NULL; c = c->next) {
        *total += c->records;
        if (written >= c->len) {
            whole += c->records;
            written -= c->len;
        } else {
            for (size_t i = 0; i < written; i++)
                whole += c->data[i] == '\n';
            written = 0;
        }
    }
    return whole;
}

static void write_batch(chunk_t *batch)
{
    write_job_t j = {.fd = lg.access_fd, .batch = batch};
    uint64_t total;

    if (j.fd < 0)
        j.err = UV_EBADF;
    else if (eddy_to_thread(write_chain, &j, NULL, NULL) != 0)
        j.err = UV_ECANCELED;
    uint64_t done = records_in(batch, j.written, &total);
    lg.written += done;
    if (j.err != 0) {
        char why[RL_KEY];
        snprintf(why, sizeof(why), "write %s", eddy_err_name(j.err));
        lg.dropped += total - done;
        log_ratelimited(LOG_ERROR, why,
                        "access log %s: %s: %llu record(s) dropped (%llu since start)",
                        lg.access_path ? lg.access_path : "(closed)", eddy_strerror(j.err),
                        (unsigned long long)(total - done), (unsigned long long)lg.dropped);
    }
    while (batch != NULL) {
        chunk_t *next = batch->next;
        chunk_put(batch);
        batch = next;
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
        log_ratelimited(LOG_ERROR, "access log open", "cannot open access log %s: %s",
                        lg.access_path, eddy_strerror(fd));
    else
        lg.access_fd = fd;
}

/* Sleeps until records are queued, waking each second while rate-limited
 * lines wait for their count to be written. */
static void writer_wait(void)
{
    eddy_event_clear(&lg.wake);
    if (rl_pending == 0) {
        eddy_event_wait(&lg.wake);
    } else {
        eddy_timeout_t scope;
        eddy_timeout_enter(&scope, rl_next_ms());
        eddy_event_wait(&lg.wake);
        eddy_timeout_leave(&scope);
    }
}

/* The consumer: takes everything queued and writes it in one go. */
static int writer_task(void *arg)
{
    (void)arg;
    writer_reopen();
    for (;;) {
        if (lg.head != NULL) {
            chunk_t *batch = lg.head;
            lg.head = lg.tail = NULL;
            write_batch(batch);
        }
        /* Checked after every write, so that under a steady load that
         * always queues more a reopen and the counts still happen. */
        if (lg.reopen) {
            lg.reopen = false;
            writer_reopen();
        }
        rl_flush(false);
        if (lg.head == NULL) {
            if (lg.stopping)
                break;
            writer_wait();
        }
    }
    if (lg.access_fd > 2)
        eddy_fs_close(lg.access_fd);
    lg.access_fd = -1;
    return 0;
}

/* --------------------------------------------------------- life cycle */

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
    if (off != (lg.access_path == NULL) || (!off && strcmp(lg.access_path, cfg->access_log) != 0)) {
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
    lg.buffer_max = cfg->log_buffer;
    http_logtime_local(cfg->log_time_local);
    return 0;
}

int log_start(void)
{
    eddy_event_init(&lg.wake);
    lg.stopping = false;
    int rc = eddy_spawn(&lg.writer, writer_task, NULL, &(eddy_spawn_opts_t){.name = "access-log"});
    if (rc != 0)
        return rc;
    lg.running = true;
    return 0;
}

void log_stop(void)
{
    if (!lg.running)
        return;
    /* Not immediate: what is queued is still written.  Records that end
     * from now on are freed unwritten. */
    lg.running = false;
    lg.stopping = true;
    eddy_event_set(&lg.wake);
    eddy_shield_enter();
    eddy_join(lg.writer, NULL);
    eddy_shield_leave();
    eddy_detach(lg.writer);
    while (lg.spare != NULL) {
        chunk_t *c = lg.spare;
        lg.spare = c->next;
        free(c);
    }
    lg.nspare = 0;
    rl_flush(true);
    if (lg.written + lg.dropped > 0)
        log_msg(lg.dropped ? LOG_WARN : LOG_INFO, "access log: %llu records written, %llu dropped",
                (unsigned long long)lg.written, (unsigned long long)lg.dropped);
    if (lg.error_fd > 2)
        close(lg.error_fd);
    lg.error_fd = 2;
    free(lg.error_path);
    free(lg.access_path);
    lg.error_path = lg.access_path = NULL;
}

void log_reopen(void)
{
    if (lg.running) {
        lg.reopen = true;
        eddy_event_set(&lg.wake);
    }
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

/* ---------------------------------------------------------- the records */

void *log_access_begin(const http_request_t *req)
{
    char line[LOG_RECORD_MAX];
    uint32_t split;

    if (!lg.running || lg.access_path == NULL)
        return NULL;
    size_t len = log_format_combined(line, req, &split);
    record_t *r = malloc(sizeof(*r) + len);
    if (r == NULL) {
        drop(1, "out of memory");
        return NULL;
    }
    r->split = split;
    r->len = (uint32_t)len;
    memcpy(r->line, line, len);
    return r;
}

void log_access_end(void *rec, int status, uint64_t sent)
{
    record_t *r = rec;
    if (r == NULL)
        return;
    /* The log may have been turned off or stopped since the record began. */
    if (lg.running && lg.access_path != NULL)
        enqueue(r, status, sent);
    free(r);
}
