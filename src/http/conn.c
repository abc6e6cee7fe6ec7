/* The connection task: read, feed llhttp, answer, repeat.
 *
 * The loop parses everything a read brought before it writes: the
 * responses to pipelined requests collect in the output batch and leave in
 * one vectored write when the parser needs more input.  Timeouts are
 * timeout scopes around the reads they bound: keepalive while idle between
 * requests, header from a request's first byte to the end of its head
 * (slowloris), body between two reads of a body, send around writes.
 *
 * When eddy ends a connection while the client may still be sending, it
 * closes the way nginx's lingering_close does: closing a socket with
 * unread input makes the kernel answer with RST, and the RST destroys the
 * tail of the last response still in flight. */
#include "config.h"

#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "http/conn.h"
#include "http/stats.h"

enum feed_result { FEED_MORE, FEED_HEAD, FEED_MESSAGE, FEED_ERROR };

/* Lingering close bounds besides limits.linger_ms: the longest wait for one
 * read (nginx's lingering_timeout) and the most bytes discarded. */
#define LINGER_READ_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)
/* A drain gives a connection accepted just before it this long for its
 * first request (answered with Connection: close): closed unread, it would
 * be lost, although a socket-activated successor keeps the listen queue. */
#define DRAIN_FIRST_REQUEST_MS 1000
/* ... and a keep-alive connection this long from its last response for
 * its next request: a busy client (a load generator, a browser loading a
 * page) sends it at once, and closed unread it would fail, since clients
 * such as wrk do not retry.  A client idle for longer is closed at once. */
#define DRAIN_IDLE_GRACE_MS 500

/* What is left of a draining keep-alive connection's grace. */
static uint64_t drain_grace_left(const http_conn_t *c)
{
    uint64_t end = c->idle_since + DRAIN_IDLE_GRACE_MS, now = eddy_now();
    return end > now ? end - now : 0;
}

static enum feed_result feed(http_conn_t *c, int *status)
{
    const char *p = c->in + c->in_parsed;
    llhttp_errno_t err = llhttp_execute(&c->parser, p, c->in_end - c->in_parsed);

    if (err == HPE_OK) {
        c->in_parsed = c->in_end;
        return FEED_MORE;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        c->in_parsed = (size_t)(llhttp_get_error_pos(&c->parser) - c->in);
        if (err == HPE_PAUSED)
            llhttp_resume(&c->parser);
        else
            c->close = true; /* no protocol to switch to on this route */
        if (c->msg_done) {
            c->msg_done = false;
            return FEED_MESSAGE;
        }
        return FEED_HEAD;
    }
    *status = http__parse_error_status(c, err);
    return FEED_ERROR;
}

/* Moves the unconsumed input to the front of the buffer. */
static void compact(http_conn_t *c)
{
    size_t d = c->in_start;
    if (d == 0)
        return;
    memmove(c->in, c->in + d, c->in_end - d);
    c->in_end -= d;
    c->in_parsed -= d;
    c->in_start = 0;
    /* Spans of a head in progress move with it. */
    c->method.off -= c->method.len ? (uint32_t)d : 0;
    c->url.off -= c->url.len ? (uint32_t)d : 0;
    c->version.off -= c->version.len ? (uint32_t)d : 0;
    for (size_t i = 0; i < c->nhdr; i++) {
        c->names[i].off -= c->names[i].len ? (uint32_t)d : 0;
        c->values[i].off -= c->values[i].len ? (uint32_t)d : 0;
    }
}

/* Reads more input within the timeout that applies now.  Returns bytes,
 * UV_EOF, UV_ETIMEDOUT, UV_ENOBUFS (head larger than the buffer) or
 * another error. */
static ssize_t read_more(http_conn_t *c)
{
    const http_limits_t *lim = &c->site->limits;
    uint64_t ms;
    eddy_timeout_t scope;
    ssize_t n;

    if (c->in_end == c->in_cap)
        compact(c);
    if (c->in_end == c->in_cap) {
        /* Buffers start small (most heads are a few hundred bytes) and
         * grow to what the limits allow: idle connections stay cheap. */
        size_t max = lim->header_size + 4096;
        if (c->in_cap >= max)
            return UV_ENOBUFS;
        size_t cap = c->in_cap * 4 < max ? c->in_cap * 4 : max;
        char *in = realloc(c->in, cap);
        if (in == NULL)
            return UV_ENOMEM;
        c->in = in;
        c->in_cap = cap;
    }
    if (c->idle) {
        /* With keep-alive off (0) the first request still gets the header
         * timeout to begin. */
        ms = lim->keepalive_ms || c->nrequests > 0 ? lim->keepalive_ms : lim->header_ms;
        if (c->srv->draining && c->nrequests == 0 && ms > DRAIN_FIRST_REQUEST_MS)
            ms = DRAIN_FIRST_REQUEST_MS;
        /* A client that just had its response may be sending its next
         * request: it gets DRAIN_IDLE_GRACE_MS from that response
         * (answered with Connection: close). */
        if (c->srv->draining && c->nrequests > 0)
            ms = drain_grace_left(c);
    } else if (c->in_message && !c->head_done) {
        uint64_t now = eddy_now();
        ms = c->head_deadline > now ? c->head_deadline - now : 0;
    } else {
        ms = lim->body_ms;
    }
    eddy_timeout_enter(&scope, ms);
    if (c->idle)
        c->idle_scope = &scope;
    n = eddy_read(c->stream, c->in + c->in_end, c->in_cap - c->in_end);
    c->idle_scope = NULL;
    eddy_timeout_leave(&scope);
    if (n > 0) {
        c->in_end += (size_t)n;
        http_stats.bytes_in += (uint64_t)n;
    }
    return n;
}

static int acquire_site(http_conn_t *c)
{
    if (c->site == NULL)
        c->site = c->srv->acquire(c->srv);
    return c->site ? 0 : -1;
}

static void release_site(http_conn_t *c)
{
    if (c->site != NULL)
        c->srv->release(c->srv, c->site);
    c->site = NULL;
}

/* The first buffers; they grow with what requests need (read_more,
 * http__grow_headers, http__grow_path). */
static int conn_alloc(http_conn_t *c)
{
    c->in_cap = 4096;
    c->out_cap = 16384;
    c->in = malloc(c->in_cap);
    c->out = malloc(c->out_cap);
    c->segs = malloc(OUT_SEGS * sizeof(out_seg_t));
    return c->in && c->out && c->segs && http__grow_headers(c) == 0 ? 0 : UV_ENOMEM;
}

int http__grow_headers(http_conn_t *c)
{
    size_t cap = c->hdr_cap ? c->hdr_cap * 2 : 16;
    span_t *names = realloc(c->names, cap * sizeof(span_t));
    if (names != NULL)
        c->names = names;
    span_t *values = realloc(c->values, cap * sizeof(span_t));
    if (values != NULL)
        c->values = values;
    http_header_t *hdrs = realloc(c->hdrs, cap * sizeof(http_header_t));
    if (hdrs != NULL)
        c->hdrs = hdrs;
    if (names == NULL || values == NULL || hdrs == NULL)
        return UV_ENOMEM;
    c->hdr_cap = cap;
    return 0;
}

int http__grow_path(http_conn_t *c, size_t need)
{
    if (need <= c->path_cap)
        return 0;
    char *p = realloc(c->path, need);
    if (p == NULL)
        return UV_ENOMEM;
    c->path = p;
    c->path_cap = need;
    return 0;
}

/* The buffers of HTTP requests (none once a handler took over). */
static void conn_free_buffers(http_conn_t *c)
{
    http__out_reset(c);
    free(c->in);
    free(c->out);
    free(c->names);
    free(c->values);
    free(c->hdrs);
    free(c->path);
    free(c->body);
    free(c->segs);
    c->segs = NULL;
    c->in = c->out = c->path = c->body = NULL;
    c->names = c->values = NULL;
    c->hdrs = NULL;
    c->in_cap = c->out_cap = c->hdr_cap = c->path_cap = c->body_cap = 0;
}

static void conn_free(http_conn_t *c)
{
    conn_free_buffers(c);
    free(c);
}

/* Hands the connection to the handler that took it over, once its
 * response has left (sent: whether it did).  The HTTP buffers go first:
 * a WebSocket session that idles for hours should not keep them. */
static void run_takeover(http_conn_t *c, bool sent)
{
    http_takeover_fn fn = c->takeover;
    void *arg = c->takeover_arg;
    char *extra = NULL;
    size_t n = c->in_end - c->in_parsed;

    c->takeover = NULL;
    if (!sent || c->site == NULL || (n > 0 && (extra = malloc(n)) == NULL)) {
        fn(arg, NULL, NULL, 0);
        return;
    }
    if (n > 0)
        memcpy(extra, c->in + c->in_parsed, n);
    conn_free_buffers(c);
    c->session = true;
    c->idle = false;
    /* Parsing and answering went deep; the session waits shallow. */
    eddy_stack_shrink();
    /* A drain that began while the upgrade was answered: the session
     * starts cancelled and says goodbye at once. */
    if (c->srv->draining && !c->srv->keep_sessions)
        eddy_cancel(c->task);
    fn(arg, c->stream, extra, n);
    free(extra);
}

static void link_conn(http_server_t *srv, http_conn_t *c)
{
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
}

static void unlink_conn(http_server_t *srv, http_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
}

void http__takeover_drop(http_conn_t *c)
{
    http_takeover_fn fn = c->takeover;
    if (fn != NULL) {
        c->takeover = NULL;
        fn(c->takeover_arg, NULL, NULL, 0);
    }
}

/* Answers with an error, reports the refusal and ends the connection. */
static void fail(http_conn_t *c, int status, const char *reason)
{
    http__defer_drop(c);
    http__takeover_drop(c);
    c->close = true;
    if (status > 0 && acquire_site(c) == 0) {
        http_response_error(c, status);
        http__refused(c, status, reason);
        http__commit(c);
    }
}

/* Serves requests until the connection ends.  Returns true if eddy ends it
 * while the client may still be sending (a lingering close is due), false
 * if the client ended it, went silent or failed. */
static bool serve(http_conn_t *c)
{
    for (;;) {
        int status = 0;

        if (c->in_parsed < c->in_end) {
            if (!c->in_message) {
                /* The first byte of a request starts its header timeout. */
                c->idle = false;
                if (acquire_site(c) != 0)
                    return false;
                c->head_deadline = eddy_now() + c->site->limits.header_ms;
                c->in_start = c->in_parsed;
            }
            switch (feed(c, &status)) {
            case FEED_MORE:
                if (c->head_done)
                    c->in_start = c->in_parsed; /* the head's spans are done with */
                break;
            case FEED_HEAD: /* the head was refused: answer and close */
                http__commit(c);
                return true;
            case FEED_MESSAGE:
                /* The site stays until the response is written: its send
                 * timeout bounds the flush. */
                if (c->srv->draining && !c->takeover)
                    http__response_close(c);
                http__commit(c);
                c->in_start = c->in_parsed;
                if (c->takeover)
                    return false; /* the handler serves the connection now */
                if (c->close || c->srv->draining)
                    return true;
                continue;
            case FEED_ERROR:
                fail(c, status, c->reason);
                return true;
            }
        }

        /* Everything read is parsed: send what is ready, then read. */
        if (http__flush(c) < 0)
            return false;
        if (!c->in_message) {
            /* From the last response on (the drain's grace counts from
             * there, not from a read tried again). */
            if (!c->idle)
                c->idle_since = eddy_now();
            c->idle = true;
            c->in_start = c->in_parsed = c->in_end = 0;
            release_site(c);
            if (acquire_site(c) != 0)
                return false;
        }
        ssize_t n = read_more(c);
        if (n > 0)
            continue;
        if (n == UV_ETIMEDOUT && c->idle && c->srv->draining && c->nrequests > 0)
            return true; /* the grace is over; the last response may be in flight */
        if (n == UV_ETIMEDOUT && !c->idle) {
            fail(c, 408, c->head_done ? "body timeout" : "header timeout");
            return true;
        }
        if (n == UV_ENOBUFS) {
            if (c->url.len && !c->version.len)
                fail(c, 414, "request line larger than the input buffer");
            else
                fail(c, 431, "request head larger than the input buffer");
            return true;
        }
        /* Shutdown's deadline cancels what is left; an idle connection's
         * last response may still be in flight: linger. */
        if (n == UV_ECANCELED && c->idle && c->srv->draining && c->nrequests > 0)
            return true;
        return false; /* end of stream, keepalive timeout, shutdown, error */
    }
}

/* Lingering close: after the last response, half-close so the client
 * sees its end, then read and discard until the client closes too, a read
 * waits LINGER_READ_MS, ms have passed or LINGER_MAX_BYTES arrived.  A
 * cancellation (shutdown's deadline) ends it at once. */
static void linger(http_conn_t *c, uint64_t ms)
{
    eddy_timeout_t total, one;
    size_t discarded = 0;
    ssize_t n;

    /* Draining cancels idle connections; this one is busy closing. */
    c->idle = false;
    eddy_timeout_enter(&total, ms);
    if (eddy_shutdown(c->stream) == 0) {
        do {
            eddy_timeout_enter(&one, LINGER_READ_MS);
            n = eddy_read(c->stream, c->in, c->in_cap);
            eddy_timeout_leave(&one);
            discarded += n > 0 ? (size_t)n : 0;
        } while (n > 0 && discarded < LINGER_MAX_BYTES);
    }
    eddy_timeout_leave(&total);
}

/* Whether a close could destroy a response with a reset, as nginx decides
 * it: the client may still be sending (input left unparsed, a body not
 * read to its end, bytes waiting in the socket), or the last response is
 * still in flight, so that what the client sends next would be answered
 * with a reset.  Otherwise the close is plain: no wait for a client that
 * keeps its connection open (a pool's idle connection at shutdown). */
static bool linger_needed(http_conn_t *c)
{
    int fd = eddy_stream_fd(c->stream), unsent = 0;
    char b;

    if (c->in_parsed < c->in_end || c->in_message)
        return true;
    if (fd < 0)
        return false;
    if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
        return true;
    return ioctl(fd, SIOCOUTQ, &unsent) == 0 && unsent > 0;
}

void http_conn_serve(http_server_t *srv, eddy_stream_t *stream)
{
    http_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        eddy_close(stream);
        return;
    }
    c->srv = srv;
    c->stream = stream;
    c->task = eddy_current();
    c->idle = true;
    if (eddy_stream_peer(stream, c->peer, sizeof(c->peer)) != 0)
        strcpy(c->peer, "-");
    llhttp_init(&c->parser, HTTP_REQUEST, &http__settings);
    c->parser.data = c;
    eddy_tcp_nodelay(stream, true);
    link_conn(srv, c);

    bool lingering = false, sent = true;
    if (acquire_site(c) == 0 && conn_alloc(c) == 0)
        lingering = serve(c);

    /* Whatever was answered last goes out before the close.  A task whose
     * cancellation (shutdown) is pending still says goodbye, within the
     * send timeout in all; otherwise the send timeout bounds each wait, and
     * a shutdown cuts this write like any other. */
    if (c->ncommitted > 0 && c->site != NULL) {
        bool bye = eddy_cancelling(c->task);
        eddy_timeout_t scope;
        if (bye) {
            eddy_shield_enter();
            eddy_timeout_enter(&scope, c->site->limits.send_ms);
        }
        if (http__flush(c) < 0)
            lingering = sent = false;
        if (bye) {
            eddy_timeout_leave(&scope);
            eddy_shield_leave();
        }
    }
    http__defer_drop(c);
    if (c->takeover) {
        run_takeover(c, sent && !eddy_cancelling(c->task));
        lingering = false;
    }
    lingering = lingering && linger_needed(c);
    uint64_t linger_ms = lingering && acquire_site(c) == 0 ? c->site->limits.linger_ms : 0;
    release_site(c);
    if (linger_ms > 0)
        linger(c, linger_ms);
    unlink_conn(srv, c);
    eddy_close(stream);
    conn_free(c);
}

void http_server_drain(http_server_t *srv, bool keep_sessions)
{
    srv->draining = true;
    srv->keep_sessions = keep_sessions;
    for (http_conn_t *c = srv->conns; c != NULL; c = c->next) {
        /* A keep-alive connection waiting for its next request gets what
         * is left of its grace: its read's deadline moves, nothing is
         * cancelled (a request that has just arrived is answered, not
         * failed at its handler's first wait).  One still waiting for its
         * first request is left to read it (DRAIN_FIRST_REQUEST_MS). */
        if (c->idle && c->nrequests > 0 && c->idle_scope != NULL)
            eddy_timeout_reschedule(c->idle_scope, drain_grace_left(c));
        else if (c->session && !keep_sessions)
            eddy_cancel(c->task);
    }
}
