/* A WebSocket connection served by a task: the reader loop (frames,
 * fragments, inflation, UTF-8, pings, the closing handshake) and an
 * outbound queue that fan-out feeds without waiting.  Like the rest of
 * this folder it knows nothing of the config file: a route fills a
 * ws_config_t and calls ws_session_run from its takeover.
 *
 * Writes.  Everything a session sends goes through its queue (ws_outq_t):
 * a frame is written at once when the queue is empty and the socket takes
 * it (eddy_try_write), and what the socket does not take waits in the
 * queue for a writer task, spawned on demand, which may block.  So a
 * publisher never waits on a slow subscriber, frames never interleave, and
 * an idle connection has no writer task: its memory is the reader's. */
#ifndef EDDY_WS_SESSION_H
#define EDDY_WS_SESSION_H

#include "websocket/ws.h"

/* ------------------------------------------------------------ blobs */

/** Reference-counted bytes: one framed message shared by every queue it
 *  was fanned out to. */
typedef struct ws_blob {
    uint32_t refs;
    uint32_t len;
    /* A whole data frame a slow consumer may lose (drop-oldest); never a
     * control frame or the tail of a frame partly written. */
    uint8_t droppable;
    uint8_t data[];
} ws_blob_t;

/** A blob of len bytes (uninitialised) with one reference; NULL. */
ws_blob_t *ws_blob_new(size_t len);
static inline ws_blob_t *ws_blob_ref(ws_blob_t *b)
{
    b->refs++;
    return b;
}
/** Drops a reference; the last frees. */
void ws_blob_unref(ws_blob_t *b);
/** A server frame (header + payload) of one message as a blob. */
ws_blob_t *ws_blob_frame(int opcode, uint8_t rsv, const void *payload, size_t len);

/* ------------------------------------------------------------ the queue */

typedef struct ws_outq ws_outq_t;
struct ws_outq {
    eddy_stream_t *stream;
    ws_blob_t **items; /* ring of cap entries, len from head */
    uint32_t head, len, cap;
    uint32_t off;     /* bytes of the head item already written */
    uint32_t inflight; /* items in the writer's write now */
    uint64_t bytes;    /* of the items queued (whole) */
    eddy_task_t *writer; /* the last writer's handle (joined at close) */
    bool writing;        /* ... and it is still draining the queue */
    eddy_event_t *ended; /* set when the writer ends (flush, close) */
    int error;        /* the first write error: nothing more leaves */
    uint64_t dropped; /* items drop_oldest removed */
    bool dirty;       /* posted, waiting for the flusher */
    struct ws_outq *dprev, *dnext;
    /* Told once of the first write error (from whichever task wrote). */
    void (*on_error)(void *arg, int err);
    void *arg;
};

void ws_outq_init(ws_outq_t *q, eddy_stream_t *s);
/** Sends a blob (the queue takes a reference): written now if the queue
 *  is empty and the socket takes it, else queued.  0 or the queue's error
 *  (UV_ENOMEM). */
int ws_outq_send(ws_outq_t *q, ws_blob_t *b);
/** Queues a blob to leave with the other sends of this turn of the loop:
 *  a flusher task writes every posted queue once the tasks ready now have
 *  run (fan-out: a burst leaves in one write per subscriber). */
int ws_outq_post(ws_outq_t *q, ws_blob_t *b);
/** Sends bytes the caller keeps (copied only if they must wait). */
int ws_outq_send_bufs(ws_outq_t *q, const uv_buf_t *bufs, size_t n);
/** Items waiting (the one being written included). */
static inline size_t ws_outq_count(const ws_outq_t *q)
{
    return q->len;
}
/** Items waiting to be written (not in the writer's current write): what
 *  a queue limit counts, so that a full batch in flight never blocks the
 *  drop-oldest policy. */
static inline size_t ws_outq_waiting(const ws_outq_t *q)
{
    return q->len - q->inflight;
}
/** Drops the oldest droppable item (ws_blob_t.droppable) no byte of which
 *  has left; false if none. */
bool ws_outq_drop_oldest(ws_outq_t *q);
/** Waits until everything queued has left (or the queue failed): 0 or
 *  the error; interruptible. */
int ws_outq_flush(ws_outq_t *q);
/** Stops the writer (cancels and joins it) and releases what is queued. */
void ws_outq_close(ws_outq_t *q);

/* ------------------------------------------------------------ sessions */

typedef struct ws_config {
    size_t max_message;         /* after inflation */
    uint64_t ping_ms, pong_ms;  /* server pings; the answer's deadline */
    uint64_t send_ms;           /* each wait for the socket to take bytes */
    uint64_t close_ms;          /* the closing handshake, at most */
    bool deflate;               /* permessage-deflate negotiated */
    ws_deflate_params_t dp;     /* its parameters */
} ws_config_t;

typedef struct ws_session ws_session_t;
/** A whole message arrived (text is valid UTF-8, inflated): 0, or a
 *  negative close code to end the session with. */
typedef int (*ws_message_fn)(ws_session_t *ws, int opcode, const uint8_t *data, size_t len);

struct ws_session {
    eddy_stream_t *stream;
    eddy_task_t *task; /* the reader: the connection task */
    ws_config_t cfg;
    ws_outq_t out;
    ws_message_fn on_message;
    /** Called once the queue works, before the first read: 0, or a
     *  negative close code to end the session with (NULL: none). */
    int (*on_open)(ws_session_t *ws);
    void *user;

    ws_deflate_t zin;   /* the peer's messages (inflate) */
    ws_deflate_t *zout; /* ours: own context or the shared one */
    ws_deflate_t zown;
    ws_frame_limits_t lim;
    ws_msgseq_t seq;
    ws_utf8_t utf8;
    ws_buf_t msg; /* a message being reassembled */

    uint8_t *rbuf;
    size_t rcap, rstart, rend;
    bool in_frame; /* a data frame's payload is being read */
    ws_frame_t f;
    uint64_t fpos; /* payload bytes of f handled */

    ws_buf_t cork; /* frames the reader sends while handling one read */
    bool corked;

    /* The close this side sends when the task is cancelled (a kick or a
     * drain): 1001 unless kick() set another. */
    uint16_t close_code;
    char close_reason[64];
    bool close_sent, close_got;
};

/** Serves the session until it ends: reads from s (extra: bytes already
 *  read), answers pings, pings the peer, handles the closing handshake,
 *  calls on_message for each message.  Does not close s. */
void ws_session_run(ws_session_t *ws, eddy_stream_t *s, const char *extra, size_t n);
/** Frames and sends one message (compressed when negotiated and worth
 *  it): 0 or <0.  From the reader's task (on_message) frames are corked
 *  and leave together after the read. */
int ws_session_send(ws_session_t *ws, int opcode, const void *data, size_t len);
/** Sends a frame made once for many sessions. */
int ws_session_send_frame(ws_session_t *ws, ws_blob_t *frame);
/** Ends the session from another task: it closes with code and reason. */
void ws_session_kick(ws_session_t *ws, uint16_t code, const char *reason);
/** The shared compressor for window bits (no context takeover): one per
 *  process, used between waits only. */
ws_deflate_t *ws_deflate_shared(int bits);

#endif
