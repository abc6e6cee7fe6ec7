/* Staging responses into the connection's output batch, and writing it.
 * The head is formatted straight into the output buffer; small bodies are
 * copied after it so that a response is one contiguous run, and the
 * responses to pipelined requests that arrived together leave in one
 * vectored write. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "http/conn.h"
#include "http/date.h"
#include "http/fmt.h"
#include "http/stats.h"
#include "http/status.h"

/* Bodies up to this size are copied next to their head. */
#define COPY_BODY_MAX 2048

static void seg_release(out_seg_t *s)
{
    if (s->release != NULL)
        s->release(s->ref);
    s->release = NULL;
    s->ref = NULL;
}

/* The access log learns what left of a response: exactly once per record. */
static void end_record(http_conn_t *c, out_seg_t *s, uint64_t sent)
{
    void *rec = s->rec;
    s->rec = NULL;
    if (rec != NULL && c->srv->log_end != NULL)
        c->srv->log_end(c->srv, rec, s->status, sent);
}

/* Ends the records of segments [0, n), of which the first `done` bytes
 * left.  A response's body is its tail, so what is missing of it is what
 * did not leave up to its last segment. */
static void end_records(http_conn_t *c, size_t n, uint64_t done)
{
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        out_seg_t *s = &c->segs[i];
        pos += s->len;
        if (s->rec != NULL) {
            uint64_t unsent = pos > done ? pos - done : 0;
            end_record(c, s, s->body > unsent ? s->body - unsent : 0);
        }
    }
}

void http__response_log(http_conn_t *c, void *rec)
{
    out_seg_t *last = c->nsegs > c->resp_seg ? &c->segs[c->nsegs - 1] : NULL;
    if (last != NULL && last->rec == NULL) {
        last->rec = rec;
        last->body = c->resp_bytes;
        last->status = c->resp_status;
        return;
    }
    out_seg_t none = {.rec = rec, .fd = -1, .status = c->resp_status}; /* nothing will leave */
    end_record(c, &none, 0);
}

/* A response staged after its request was logged replaces the one the
 * record was made for (a request refused after its head: 413 on a chunked
 * body, 408 waiting for the body): the record moves to it, so that the log
 * shows what was sent. */
static void adopt_record(http_conn_t *c)
{
    void *rec = c->resp_rec;
    if (rec != NULL) {
        c->resp_rec = NULL;
        http__response_log(c, rec);
    }
}

void http__out_reset(http_conn_t *c)
{
    adopt_record(c);
    end_records(c, c->nsegs, 0);
    for (size_t i = 0; i < c->nsegs; i++)
        seg_release(&c->segs[i]);
    c->nsegs = c->ncommitted = 0;
    c->out_used = 0;
    c->resp_seg = 0;
    c->resp_used = 0;
}

void http__commit(http_conn_t *c)
{
    adopt_record(c);
    if (c->nsegs > c->resp_seg)
        http__stats_count(c); /* once per response: committed, it is no longer staged */
    c->ncommitted = c->nsegs;
    c->resp_seg = c->nsegs;
    c->resp_used = c->out_used;
}

static bool has_file(const http_conn_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->segs[i].fd >= 0)
            return true;
    }
    return false;
}

/* Writes segments [0, n) and drops them; the rest (the response being
 * staged) moves to the front. */
static int write_segs(http_conn_t *c, size_t n)
{
    uv_buf_t iov[OUT_SEGS];
    size_t i = 0, took;
    uint64_t done = 0; /* bytes the socket took */
    int rc = 0;

    /* timeouts.send bounds each wait for the client to take more bytes,
     * not the whole batch: a slow reader that keeps reading is served. */
    eddy_stream_set_send_timeout(c->stream, c->site ? c->site->limits.send_ms : EDDY_FOREVER);
    /* A head and its file leave in full segments, as with nginx's
     * tcp_nopush.  Sent alone (the connection is TCP_NODELAY), the head
     * took a segment and a client wake-up of its own: measured, 1 MiB
     * files to 100 connections went out at half nginx's rate (0.85k/s
     * against 1.5-1.8k/s), corked at nginx's rate. */
    bool cork = has_file(c, n) && eddy_tcp_cork(c->stream, true) == 0;
    while (i < n && rc >= 0) {
        size_t k = 0;
        while (i < n && c->segs[i].fd < 0) {
            iov[k++] = uv_buf_init((char *)c->segs[i].base, (unsigned)c->segs[i].len);
            i++;
        }
        if (k > 0) {
            rc = eddy_write_sent(c->stream, iov, k, &took);
            done += took;
        }
        if (rc >= 0 && i < n && c->segs[i].fd >= 0) {
            out_seg_t *s = &c->segs[i++];
            rc = eddy_fs_sendfile_sent(c->stream, s->fd, s->off, s->len, &took);
            done += took;
            if (rc >= 0 && took != s->len)
                rc = UV_EPIPE; /* the file shrank: the framing is broken */
        }
    }
    if (cork && rc != EDDY_ECLOSED) /* closed: the stream may be gone */
        eddy_tcp_cork(c->stream, false); /* sends what is held */
    http_stats.bytes_out += done;
    end_records(c, n, done);
    for (size_t j = 0; j < n; j++)
        seg_release(&c->segs[j]);
    memmove(c->segs, c->segs + n, (c->nsegs - n) * sizeof(out_seg_t));
    c->nsegs -= n;
    c->ncommitted -= n;
    c->resp_seg -= n < c->resp_seg ? n : c->resp_seg;
    if (c->nsegs == 0) {
        c->out_used = c->resp_used = 0;
    } else if (c->ncommitted == 0 && c->resp_used > 0) {
        /* Only the staged response is left: move its bytes to the front
         * so the buffer's space is whole again. */
        char *from = c->out + c->resp_used, *end = c->out + c->out_used;
        memmove(c->out, from, (size_t)(end - from));
        for (size_t k = 0; k < c->nsegs; k++) {
            if (c->segs[k].base >= from && c->segs[k].base < end)
                c->segs[k].base -= c->resp_used;
        }
        c->out_used -= c->resp_used;
        c->resp_used = 0;
    }
    return rc;
}

int http__flush(http_conn_t *c)
{
    if (c->ncommitted == 0)
        return 0;
    return write_segs(c, c->ncommitted);
}

/* Appends bytes to the output buffer, growing the last segment when it is
 * the run just before. */
static int append(http_conn_t *c, const void *data, size_t len)
{
    if (c->out_used + len > c->out_cap || c->nsegs == OUT_SEGS) {
        /* Make room by writing what finished requests have staged. */
        if (http__flush(c) < 0 || c->out_used + len > c->out_cap || c->nsegs == OUT_SEGS) {
            c->resp_failed = true;
            return -1;
        }
    }
    char *dst = c->out + c->out_used;
    memcpy(dst, data, len);
    c->out_used += len;
    out_seg_t *last = c->nsegs > c->resp_seg ? &c->segs[c->nsegs - 1] : NULL;
    if (last != NULL && last->fd < 0 && last->release == NULL && last->base + last->len == dst) {
        last->len += len;
        return 0;
    }
    c->segs[c->nsegs++] = (out_seg_t){.base = dst, .len = len, .fd = -1};
    return 0;
}

static int add_seg(http_conn_t *c, out_seg_t seg)
{
    if (c->nsegs == OUT_SEGS && (http__flush(c) < 0 || c->nsegs == OUT_SEGS)) {
        c->resp_failed = true;
        seg_release(&seg);
        return -1;
    }
    c->segs[c->nsegs++] = seg;
    return 0;
}

/* Drops whatever the handler staged before deciding otherwise. */
static void restart_response(http_conn_t *c, int status)
{
    for (size_t i = c->resp_seg; i < c->nsegs; i++) {
        if (c->segs[i].rec != NULL && c->resp_rec == NULL) {
            c->resp_rec = c->segs[i].rec; /* adopt_record gives it to the new response */
            c->segs[i].rec = NULL;
        }
        end_record(c, &c->segs[i], 0);
        seg_release(&c->segs[i]);
    }
    c->nsegs = c->resp_seg;
    c->out_used = c->resp_used;
    c->resp_status = status;
    c->resp_bytes = 0;
    c->resp_failed = false;
    c->resp_omit = 0;
}

void http_response_start(http_conn_t *c, int status)
{
    char line[64];
    const char *reason;
    size_t n = 0;

    restart_response(c, status);

    const char *fixed = http_status_line(status, &n);
    if (fixed != NULL) {
        append(c, fixed, n);
        return;
    }
    memcpy(line, "HTTP/1.1 ", 9);
    n = 9 + http_fmt_u64(line + 9, (uint64_t)status);
    line[n++] = ' ';
    reason = http_status_reason(status);
    size_t rl = strlen(reason);
    memcpy(line + n, reason, rl);
    n += rl;
    line[n++] = '\r';
    line[n++] = '\n';
    append(c, line, n);
}

void http_response_raw(http_conn_t *c, const char *text, size_t len)
{
    append(c, text, len);
}

void http_response_header(http_conn_t *c, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    char line[512];
    if (nlen + vlen + 4 > sizeof(line)) {
        append(c, name, nlen);
        append(c, ": ", 2);
        append(c, value, vlen);
        append(c, "\r\n", 2);
        return;
    }
    /* One append per header: append is what a response costs most. */
    memcpy(line, name, nlen);
    line[nlen] = ':';
    line[nlen + 1] = ' ';
    memcpy(line + nlen + 2, value, vlen);
    line[nlen + 2 + vlen] = '\r';
    line[nlen + 3 + vlen] = '\n';
    append(c, line, nlen + vlen + 4);
}

void http_response_header_str(http_conn_t *c, const char *name, const char *value)
{
    http_response_header(c, name, strlen(name), value, strlen(value));
}

void http_response_omit(http_conn_t *c, unsigned flags)
{
    c->resp_omit |= flags;
}

/* The headers every response carries (less those the handler replaced,
 * resp_omit), and the blank line. */
static void end_head(http_conn_t *c, const char *content_type, int64_t content_length)
{
    char buf[512];
    size_t n = 0;
    const char *server = c->site ? c->site->server_header : NULL;
    size_t tl = content_type ? strlen(content_type) : 0;

    if (c->resp_omit & HTTP_OMIT_CONTENT_TYPE)
        tl = 0;
    if (c->resp_omit & HTTP_OMIT_SERVER)
        server = NULL;

    if (tl > 0 && tl < 200) {
        memcpy(buf, "Content-Type: ", 14);
        memcpy(buf + 14, content_type, tl);
        n = 14 + tl;
        buf[n++] = '\r';
        buf[n++] = '\n';
    } else if (tl > 0) {
        http_response_header_str(c, "Content-Type", content_type);
    }
    if (content_length >= 0) {
        memcpy(buf + n, "Content-Length: ", 16);
        n += 16;
        n += http_fmt_u64(buf + n, (uint64_t)content_length);
        buf[n++] = '\r';
        buf[n++] = '\n';
    }
    if (server != NULL) {
        size_t sl = strlen(server);
        if (sl < 100) {
            memcpy(buf + n, "Server: ", 8);
            memcpy(buf + n + 8, server, sl);
            n += 8 + sl;
            buf[n++] = '\r';
            buf[n++] = '\n';
        }
    }
    if (!(c->resp_omit & HTTP_OMIT_DATE)) {
        memcpy(buf + n, "Date: ", 6);
        memcpy(buf + n + 6, http_date_now(), HTTP_DATE_LEN);
        n += 6 + HTTP_DATE_LEN;
        buf[n++] = '\r';
        buf[n++] = '\n';
    }
    c->resp_close = c->close;
    if (c->takeover) {
        /* The handler wrote its own Connection header. */
    } else if (c->close) {
        memcpy(buf + n, "Connection: close\r\n", 19);
        n += 19;
    } else if (c->parser.http_minor == 0) {
        memcpy(buf + n, "Connection: keep-alive\r\n", 24);
        n += 24;
    }
    memcpy(buf + n, "\r\n", 2);
    n += 2;
    append(c, buf, n);
}

void http_response_body(http_conn_t *c, const char *content_type, const void *body, size_t len,
                        void *ref, void (*release)(void *ref))
{
    end_head(c, content_type, (int64_t)len);
    c->resp_bytes = c->head ? 0 : len;
    if (c->head || len == 0) {
        if (release)
            release(ref);
    } else if (len <= COPY_BODY_MAX || release == NULL) {
        append(c, body, len);
        if (release)
            release(ref);
    } else {
        add_seg(c, (out_seg_t){.base = body, .len = len, .fd = -1, .ref = ref, .release = release});
    }
}

void http_response_file(http_conn_t *c, const char *content_type, int fd, int64_t off,
                        size_t len, void *ref, void (*release)(void *ref))
{
    end_head(c, content_type, (int64_t)len);
    c->resp_bytes = c->head ? 0 : len;
    if (c->head || len == 0) {
        if (release)
            release(ref);
        return;
    }
    add_seg(c, (out_seg_t){.fd = fd, .off = off, .len = len, .ref = ref, .release = release});
}

void http_response_empty(http_conn_t *c, int64_t content_length)
{
    end_head(c, NULL, content_length);
    c->resp_bytes = 0;
}

void http_response_error(http_conn_t *c, int status)
{
    char body[96];
    const char *reason = http_status_reason(status);
    size_t n = http_fmt_u64(body, (uint64_t)status);
    size_t rl = strlen(reason);

    body[n++] = ' ';
    memcpy(body + n, reason, rl);
    n += rl;
    body[n++] = '\n';
    http_response_start(c, status);
    http_response_body(c, "text/plain; charset=utf-8", body, n, NULL, NULL);
}

void http__response_close(http_conn_t *c)
{
    static const char hdr[] = "Connection: close\r\n";
    const size_t hl = sizeof(hdr) - 1;

    if (c->resp_close || c->resp_seg >= c->nsegs || c->out_used + hl > c->out_cap)
        return;
    out_seg_t *first = &c->segs[c->resp_seg];
    if (first->fd >= 0 || first->base < c->out || first->base >= c->out + c->out_cap)
        return;
    const char *end = memmem(first->base, first->len, "\r\n\r\n", 4);
    if (end == NULL)
        return;
    /* Insert before the blank line; bytes after it in the buffer move. */
    char *at = (char *)end + 2, *buf_end = c->out + c->out_used;
    memmove(at + hl, at, (size_t)(buf_end - at));
    memcpy(at, hdr, hl);
    first->len += hl;
    for (size_t i = c->resp_seg + 1; i < c->nsegs; i++) {
        if (c->segs[i].base >= at && c->segs[i].base < buf_end)
            c->segs[i].base += hl;
    }
    c->out_used += hl;
    c->resp_close = true;
}

void http_response_takeover(http_conn_t *c, http_takeover_fn fn, void *arg)
{
    c->takeover = fn;
    c->takeover_arg = arg;
}

const http_limits_t *http_conn_limits(const http_conn_t *c)
{
    return &c->site->limits;
}

bool http_response_is_head(const http_conn_t *c)
{
    return c->head;
}

int http__send_continue(http_conn_t *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    out_seg_t seg = {.base = cont, .len = sizeof(cont) - 1, .fd = -1};

    if (c->nsegs == OUT_SEGS)
        return UV_ENOBUFS;
    /* Insert ahead of the staged response, then write up to it. */
    memmove(&c->segs[c->resp_seg + 1], &c->segs[c->resp_seg],
            (c->nsegs - c->resp_seg) * sizeof(out_seg_t));
    c->segs[c->resp_seg] = seg;
    c->nsegs++;
    c->ncommitted = c->resp_seg + 1;
    c->resp_seg++;
    return http__flush(c);
}

/* ------------------------------------------------------------- replay */

/* What besides the second makes two responses' bytes differ. */
static unsigned replay_flags(const http_conn_t *c)
{
    return (c->close ? 1u : 0u) | (c->parser.http_minor == 0 ? 2u : 0u) | (c->head ? 4u : 0u) |
           (c->site && c->site->server_header ? 8u : 0u);
}

bool http_response_replay(http_conn_t *c, http_replay_t *r)
{
    if (r->len == 0 || r->second != (int64_t)http_date_second() || r->flags != replay_flags(c))
        return false;
    restart_response(c, r->status);
    append(c, r->bytes, r->len);
    c->resp_close = c->close;
    c->resp_bytes = r->body_bytes;
    return true;
}

void http_response_remember(http_conn_t *c, http_replay_t *r)
{
    /* Only a response that is one run of the output buffer. */
    if (c->resp_failed || c->nsegs != c->resp_seg + 1 || c->segs[c->resp_seg].fd >= 0 ||
        c->segs[c->resp_seg].release != NULL)
        return;
    const out_seg_t *seg = &c->segs[c->resp_seg];
    if (seg->len > r->cap) {
        char *b = realloc(r->bytes, seg->len);
        if (b == NULL)
            return;
        r->bytes = b;
        r->cap = seg->len;
    }
    memcpy(r->bytes, seg->base, seg->len);
    r->len = seg->len;
    r->second = (int64_t)http_date_second();
    r->flags = replay_flags(c);
    r->status = c->resp_status;
    r->body_bytes = c->resp_bytes;
}

void http_replay_free(http_replay_t *r)
{
    free(r->bytes);
    r->bytes = NULL;
    r->len = r->cap = 0;
}
