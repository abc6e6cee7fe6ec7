/* The WebSocket session: the connection task reads frames and answers
 * them; sends go through the outbound queue (outq.c).
 *
 * Reading.  A frame that fits the read buffer (64 KiB) is handled once it
 * is whole, in place: an unfragmented, uncompressed message reaches
 * on_message without a copy.  A larger frame streams through: each read's
 * bytes are unmasked, inflated or appended to the message, and text is
 * validated as it comes, so that invalid UTF-8 fails at the fragment that
 * holds it.  Inflation stops at max_message: a deflate bomb never gets the
 * memory it asks for.
 *
 * Liveness.  Each read waits at most until the next ping is due
 * (ping_ms after the peer was last heard) or, once a ping is out, until
 * its pong is overdue (pong_ms): then the session closes.
 *
 * Closing.  Whoever closes first sends a close frame; the other side's
 * close frame ends the handshake, after which eddy closes the socket (the
 * server closes first, RFC 6455 §7.1.1).  A session cancelled by a kick or
 * a drain says goodbye under a shield, bounded by close_ms. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "websocket/session.h"
#include "websocket/stats.h"

#define RBUF_START 1024
#define RBUF_MAX (64 * 1024 + WS_FRAME_HEADER_MAX)
/* Messages shorter than this leave uncompressed: deflate's framing would
 * outweigh what it saves. */
#define DEFLATE_MIN 64
/* Frames this large leave at once rather than through the cork. */
#define CORK_MAX 2048

enum { MORE = 0, CLOSED = 1 };

/* ------------------------------------------------------------ compression */

static ws_deflate_t shared_zout[16];
static bool shared_init[16];

ws_deflate_t *ws_deflate_shared(int bits)
{
    if (bits < 8 || bits > 15)
        bits = 15;
    if (!shared_init[bits]) {
        ws_deflate_params_t p = {.server_no_context_takeover = true,
                                 .client_no_context_takeover = true,
                                 .server_max_window_bits = (uint8_t)bits,
                                 .client_max_window_bits = 15};
        ws_deflate_init(&shared_zout[bits], &p);
        shared_init[bits] = true;
    }
    return &shared_zout[bits];
}

/* Scratch for one message's compressed form: used between waits only. */
static ws_buf_t scratch;

/* ------------------------------------------------------------ sending */

static int flush_cork(ws_session_t *ws)
{
    int rc = 0;
    if (ws->cork.len > 0) {
        uv_buf_t b = uv_buf_init((char *)ws->cork.data, (unsigned)ws->cork.len);
        rc = ws_outq_send_bufs(&ws->out, &b, 1);
        ws->cork.len = 0;
    }
    return rc;
}

static int send_raw(ws_session_t *ws, const uint8_t *h, size_t hl, const void *p, size_t n)
{
    /* Small frames from the reader collect in the cork and leave in one
     * write after the read; a large one goes out at once without a copy
     * (after what the cork holds). */
    if (ws->corked && eddy_current() == ws->task && n >= CORK_MAX) {
        int rc = flush_cork(ws);
        if (rc < 0)
            return rc;
    } else if (ws->corked && eddy_current() == ws->task) {
        if (ws_buf_reserve(&ws->cork, hl + n) < 0)
            return UV_ENOMEM;
        ws_buf_append(&ws->cork, h, hl);
        return ws_buf_append(&ws->cork, p, n);
    }
    uv_buf_t b[2] = {uv_buf_init((char *)h, (unsigned)hl), uv_buf_init((char *)p, (unsigned)n)};
    return ws_outq_send_bufs(&ws->out, b, n ? 2 : 1);
}

static int uncork(ws_session_t *ws)
{
    ws->corked = false;
    int rc = flush_cork(ws);
    if (ws->cork.cap > 65536) {
        free(ws->cork.data);
        ws->cork = (ws_buf_t){0};
    }
    return rc;
}

int ws_session_send(ws_session_t *ws, int opcode, const void *data, size_t len)
{
    uint8_t h[10];
    uint8_t rsv = 0;

    if (ws->close_sent)
        return EDDY_ECLOSED;
    if (ws->out.error)
        return ws->out.error;
    if (len > UINT32_MAX)
        return UV_E2BIG;
    if (ws->cfg.deflate && len >= DEFLATE_MIN && (opcode == WS_OP_TEXT || opcode == WS_OP_BINARY)) {
        scratch.len = 0;
        if (ws_deflate_message(ws->zout, data, len, &scratch) == 0 && scratch.len < len) {
            data = scratch.data;
            len = scratch.len;
            rsv = WS_RSV1;
        }
    }
    size_t hl = ws_frame_header_write(h, true, rsv, opcode, len);
    int rc = send_raw(ws, h, hl, data, len);
    if (scratch.cap > 1024 * 1024) {
        free(scratch.data);
        scratch = (ws_buf_t){0};
    }
    if (rc == 0 && opcode != WS_OP_PING && opcode != WS_OP_PONG && opcode != WS_OP_CLOSE)
        ws_stats.messages_out++;
    return rc;
}

int ws_session_send_frame(ws_session_t *ws, ws_blob_t *frame)
{
    if (ws->close_sent)
        return EDDY_ECLOSED;
    int rc = ws_outq_post(&ws->out, frame);
    if (rc == 0)
        ws_stats.messages_out++;
    return rc;
}

static int send_close(ws_session_t *ws, uint16_t code, const char *reason)
{
    uint8_t p[WS_CONTROL_MAX];
    size_t n = 0;
    if (ws->close_sent)
        return 0;
    /* 1005 means "no code": an empty close answers an empty close. */
    if (code != WS_CLOSE_NO_STATUS)
        n = ws_close_payload(p, code, reason, reason ? strlen(reason) : 0);
    int rc = ws_session_send(ws, WS_OP_CLOSE, p, n);
    ws->close_sent = true;
    return rc;
}

void ws_session_kick(ws_session_t *ws, uint16_t code, const char *reason)
{
    if (ws->close_code == WS_CLOSE_GOING_AWAY || ws->close_code == 0) {
        ws->close_code = code;
        snprintf(ws->close_reason, sizeof(ws->close_reason), "%s", reason ? reason : "");
    }
    eddy_cancel(ws->task);
}

/* A write failed (send timeout, peer gone): the session ends. */
static void out_failed(void *arg, int err)
{
    ws_session_t *ws = arg;
    (void)err;
    ws->close_sent = true; /* nothing more can leave */
    eddy_cancel(ws->task);
}

/* ------------------------------------------------------------ receiving */

static int deliver(ws_session_t *ws, int opcode, const uint8_t *p, size_t n)
{
    ws_stats.messages_in++;
    return ws->on_message ? ws->on_message(ws, opcode, p, n) : 0;
}

static int on_control(ws_session_t *ws, uint8_t *p, size_t n)
{
    uint16_t code;
    const char *reason;
    size_t rlen;
    int rc;

    switch (ws->f.opcode) {
    case WS_OP_PING:
        return ws->close_sent ? 0 : ws_session_send(ws, WS_OP_PONG, p, n);
    case WS_OP_PONG:
        return 0; /* any traffic proves the peer alive (see the read loop) */
    default: /* close */
        rc = ws_close_parse(p, n, &code, &reason, &rlen);
        if (rc < 0)
            return rc;
        ws->close_got = true;
        if (!ws->close_sent)
            send_close(ws, code, NULL);
        return CLOSED;
    }
}

static int append(ws_session_t *ws, const uint8_t *p, size_t n)
{
    if (ws->msg.len + n > ws->cfg.max_message)
        return -WS_CLOSE_TOO_BIG;
    return ws_buf_append(&ws->msg, p, n);
}

/* The message in ws->msg is complete. */
static int message_done(ws_session_t *ws)
{
    int rc = 0;
    if (ws->seq.opcode == WS_OP_TEXT)
        rc = ws_utf8_finish(&ws->utf8);
    if (rc == 0)
        rc = deliver(ws, ws->seq.opcode, ws->msg.data, ws->msg.len);
    ws->msg.len = 0;
    if (ws->msg.cap > 65536) {
        free(ws->msg.data);
        ws->msg = (ws_buf_t){0};
    }
    if (ws->seq.rsv1 && ws->cfg.dp.client_no_context_takeover)
        ws_deflate_trim(&ws->zin);
    return rc;
}

/* n payload bytes of the current data frame at p (unmasked); done: the
 * frame ends with them. */
static int data_bytes(ws_session_t *ws, uint8_t *p, size_t n, bool whole, bool done)
{
    bool fin = done && ws->f.fin;
    bool text = ws->seq.opcode == WS_OP_TEXT;
    int rc;

    if (ws->close_sent)
        return 0; /* closing: data is read past */
    if (ws->seq.rsv1) {
        size_t before = ws->msg.len;
        rc = ws_inflate(&ws->zin, p, n, fin, ws->cfg.max_message, &ws->msg);
        if (rc == 0 && text)
            rc = ws_utf8_feed(&ws->utf8, ws->msg.data + before, ws->msg.len - before, NULL);
        if (rc < 0)
            return rc;
    } else if (fin && whole && ws->msg.len == 0) {
        /* A whole message in the buffer: no copy. */
        if (text && !ws_utf8_valid(p, n))
            return -WS_CLOSE_INVALID_DATA;
        return deliver(ws, ws->seq.opcode, p, n);
    } else {
        if ((rc = append(ws, p, n)) < 0)
            return rc;
        if (text && (rc = ws_utf8_feed(&ws->utf8, p, n, NULL)) < 0)
            return rc;
    }
    return fin ? message_done(ws) : 0;
}

/* Makes room for need more bytes after rend. */
static int reserve(ws_session_t *ws, size_t need)
{
    if (ws->rstart > 0 && ws->rcap - ws->rend < need) {
        memmove(ws->rbuf, ws->rbuf + ws->rstart, ws->rend - ws->rstart);
        ws->rend -= ws->rstart;
        ws->rstart = 0;
    }
    if (ws->rcap - ws->rend >= need)
        return 0;
    size_t cap = ws->rcap ? ws->rcap : RBUF_START;
    /* Room to spare: a frame that fills the buffer exactly leaves the
     * next frame's head to a second read. */
    while (cap - ws->rend < need + (ws->rcap ? RBUF_START : 0))
        cap *= 2;
    uint8_t *b = realloc(ws->rbuf, cap);
    if (b == NULL)
        return UV_ENOMEM;
    ws->rbuf = b;
    ws->rcap = cap;
    return 0;
}

/* Handles every frame the buffer holds: MORE (read more), CLOSED (the
 * peer's close arrived) or a negative close code / error. */
static int process(ws_session_t *ws)
{
    for (;;) {
        if (!ws->in_frame) {
            int r = ws_frame_parse(&ws->f, ws->rbuf + ws->rstart, ws->rend - ws->rstart, &ws->lim);
            if (r < 0)
                return r;
            if (r == 0)
                return reserve(ws, WS_FRAME_HEADER_MAX);
            int rc = ws_msgseq_next(&ws->seq, &ws->f);
            if (rc < 0)
                return rc;
            bool control = ws->f.opcode & 0x8;
            if (!control && ws->f.opcode != WS_OP_CONT)
                ws_utf8_init(&ws->utf8);
            if (!control && !ws->seq.rsv1 && ws->msg.len + ws->f.len > ws->cfg.max_message)
                return -WS_CLOSE_TOO_BIG;
            ws->rstart += (size_t)r;
            ws->in_frame = true;
            ws->fpos = 0;
        }
        size_t have = ws->rend - ws->rstart;
        uint64_t left = ws->f.len - ws->fpos;
        bool control = ws->f.opcode & 0x8;
        uint8_t *p = ws->rbuf + ws->rstart;
        if (have < left) {
            /* Wait for a frame that fits the buffer to be whole. */
            if (ws->fpos == 0 && ws->f.len <= RBUF_MAX - WS_FRAME_HEADER_MAX)
                return reserve(ws, (size_t)left - have);
            if (have == 0)
                return reserve(ws, 1);
            ws_unmask(p, have, ws->f.mask, ws->fpos);
            ws->fpos += have;
            ws->rstart += have;
            int rc = data_bytes(ws, p, have, false, false);
            return rc < 0 ? rc : reserve(ws, 1);
        }
        size_t n = (size_t)left;
        ws_unmask(p, n, ws->f.mask, ws->fpos);
        bool whole = ws->fpos == 0;
        ws->fpos += n;
        ws->rstart += n;
        ws->in_frame = false;
        int rc = control ? on_control(ws, p, n) : data_bytes(ws, p, n, whole, true);
        if (rc != 0)
            return rc;
    }
}

/* ------------------------------------------------------------ the loop */

/* Reads within the liveness deadline: >0, UV_ETIMEDOUT, UV_EOF... */
static ssize_t read_some(ws_session_t *ws, uint64_t ms)
{
    eddy_timeout_t scope;
    /* An empty buffer starts over: a read that fills the room to the byte
     * makes libuv read again into a spill buffer and stop reading. */
    if (ws->rstart == ws->rend)
        ws->rstart = ws->rend = 0;
    eddy_timeout_enter(&scope, ms);
    ssize_t n = eddy_read(ws->stream, ws->rbuf + ws->rend, ws->rcap - ws->rend);
    eddy_timeout_leave(&scope);
    if (n > 0)
        ws->rend += (size_t)n;
    return n;
}

/* After this side's close: read until the peer's close (its answer),
 * bounded by the caller's scope.  Frames are parsed and data skipped. */
static void await_close(ws_session_t *ws)
{
    while (!ws->close_got) {
        int rc = process(ws);
        if (rc != MORE)
            return;
        if (read_some(ws, EDDY_FOREVER) <= 0)
            return;
    }
}

/* Ends the session: our close (code, unless the peer's close was already
 * answered), the queue flushed, the peer's close awaited. */
static void finish(ws_session_t *ws, int code, const char *reason)
{
    eddy_timeout_t scope;
    eddy_shield_enter();
    eddy_timeout_enter(&scope, ws->cfg.close_ms);
    uncork(ws);
    if (!ws->close_sent && code > 0)
        send_close(ws, (uint16_t)code, reason);
    if (ws_outq_flush(&ws->out) == 0 && code > 0 && !ws->close_got) {
        /* Half-close too: a peer that never answers sees the end. */
        await_close(ws);
    }
    eddy_timeout_leave(&scope);
    eddy_shield_leave();
}

void ws_session_run(ws_session_t *ws, eddy_stream_t *s, const char *extra, size_t n)
{
    ws->stream = s;
    ws->task = eddy_current();
    ws_stats.sessions_open++;
    ws_stats.sessions_total++;
    ws_outq_init(&ws->out, s);
    ws->out.on_error = out_failed;
    ws->out.arg = ws;
    ws->close_code = WS_CLOSE_GOING_AWAY;
    snprintf(ws->close_reason, sizeof(ws->close_reason), "server shutting down");
    /* max_message counts inflated bytes: a compressed frame of
     * incompressible data is a little longer than its message (stored
     * blocks: 5 bytes per 64 KiB), and inflation stops at the limit. */
    size_t slack = ws->cfg.deflate ? ws->cfg.max_message / 64 + 1024 : 0;
    ws->lim = (ws_frame_limits_t){.rsv_allowed = ws->cfg.deflate ? WS_RSV1 : 0,
                                  .require_mask = true,
                                  .max_len = ws->cfg.max_message + slack};
    if (ws->cfg.deflate) {
        ws_deflate_init(&ws->zin, &ws->cfg.dp);
        if (ws->cfg.dp.server_no_context_takeover) {
            ws->zout = ws_deflate_shared(ws->cfg.dp.server_max_window_bits);
        } else {
            ws_deflate_init(&ws->zown, &ws->cfg.dp);
            ws->zout = &ws->zown;
        }
    }
    eddy_stream_set_send_timeout(s, ws->cfg.send_ms);

    int code = 0;
    const char *reason = NULL;
    if (reserve(ws, n > 0 ? n : RBUF_START) < 0) {
        code = WS_CLOSE_INTERNAL;
    } else if (n > 0) {
        memcpy(ws->rbuf, extra, n);
        ws->rend = n;
    }
    if (code == 0 && ws->on_open != NULL) {
        int rc = ws->on_open(ws);
        if (rc < 0) {
            code = ws_close_error(rc) ? -rc : WS_CLOSE_INTERNAL;
            reason = ws_close_text(code);
        }
    }
    uint64_t heard = eddy_now(), pinged = 0;
    while (code == 0) {
        ws->corked = true;
        int rc = process(ws);
        int urc = uncork(ws);
        if (rc == CLOSED)
            break; /* answered; the socket closes after the flush */
        if (rc < 0) {
            code = ws_close_error(rc) ? -rc : WS_CLOSE_INTERNAL;
            reason = ws_close_text(code);
            break;
        }
        if (urc < 0 || ws->out.error)
            break;
        uint64_t now = eddy_now();
        uint64_t due = pinged ? pinged + ws->cfg.pong_ms : heard + ws->cfg.ping_ms;
        uint64_t wait = due > now ? due - now : 0;
        ssize_t r = read_some(ws, ws->cfg.ping_ms == 0 ? EDDY_FOREVER : wait);
        if (r > 0) {
            heard = eddy_now();
            pinged = 0;
        } else if (r == UV_ETIMEDOUT && !pinged) {
            pinged = eddy_now();
            ws_session_send(ws, WS_OP_PING, NULL, 0);
        } else if (r == UV_ETIMEDOUT) {
            code = WS_CLOSE_GOING_AWAY;
            reason = "ping timeout";
        } else if (r == UV_ECANCELED && !ws->out.error) {
            code = ws->close_code;
            reason = ws->close_reason;
        } else {
            break; /* the peer is gone: nothing to say */
        }
    }
    finish(ws, code, reason);
    ws->out.on_error = NULL;
    ws_outq_close(&ws->out);
    if (ws->cfg.deflate) {
        ws_deflate_close(&ws->zin);
        if (ws->zout == &ws->zown)
            ws_deflate_close(&ws->zown);
    }
    ws_stats.sessions_open--;
    free(ws->rbuf);
    free(ws->msg.data);
    free(ws->cork.data);
    ws->rbuf = NULL;
    ws->msg = ws->cork = (ws_buf_t){0};
}
