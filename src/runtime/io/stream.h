/* Internal layout of eddy streams, shared by stream.c (reading, writing,
 * closing), tcp.c (listening, accepting, connecting) and writer.c. */
#ifndef EDDY_RUNTIME_IO_STREAM_H
#define EDDY_RUNTIME_IO_STREAM_H

#include "runtime/internal.h"

enum eddy__stream_kind { EDDY__STREAM_TCP, EDDY__STREAM_PIPE };

struct eddy_stream {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    uint8_t kind;     /* enum eddy__stream_kind */
    bool closing;     /* eddy_close was called; freed in the close callback */
    bool reading;     /* uv_read_start is active (it may outlive one eddy_read) */
    int listen_error; /* listener: a failed accept, for the next eddy_accept */
    int rerror;       /* UV_EOF or a read error: every later read returns it */

    /* The task parked in eddy_read: its wait and buffer live on its stack. */
    eddy_wait_t *rwait;
    char *rbuf;
    size_t rlen;

    /* Bytes that arrived while no task was reading (see stream.c). */
    char *spill;
    size_t spill_start, spill_end;

    eddy__waitq_t acceptors; /* tasks parked in eddy_accept */

    /* Waiting for room in the socket (see stream.c): a uv_poll on a dup of
     * the socket, made on the first wait and kept until the close.  A
     * listener polls its dup for readability instead (see tcp.c). */
    uint64_t send_timeout; /* ms without progress, EDDY_FOREVER: none */
    uv_poll_t *wpoll;
    int wfd;
    eddy_wait_t *wwait; /* the task parked in eddy__stream_wait_writable */
    /* A task is between the bytes of a write or sendfile: later writes wait
     * in writers, so that writes go out whole and in order. */
    bool wbusy;
    eddy__waitq_t writers;
};

/** Frees the spare spill buffers (runtime teardown). */
void eddy__stream_spares_free(void);
/** Allocates a stream of the given kind and initialises its handle on the
 *  running loop: 0 or a libuv error. */
int eddy__stream_new(eddy_stream_t **out, enum eddy__stream_kind kind);
/** Closes a stream that no task has seen yet (error paths). */
void eddy__stream_discard(eddy_stream_t *s);
/** Waits until the socket can take more bytes: 0, or UV_ETIMEDOUT after
 *  the stream's send timeout, EDDY_ECLOSED, UV_EBUSY (another task waits),
 *  or the task's interruption. */
int eddy__stream_wait_writable(eddy_stream_t *s);
/** True if eddy__stream_wait_writable failed with rc because the poll's
 *  descriptor could not be had (EMFILE, ENFILE, ENOMEM): the caller writes
 *  through libuv's queue instead, which needs no descriptor. */
bool eddy__stream_no_wpoll(const eddy_stream_t *s, int rc);
/** Takes the stream's write turn (FIFO, handed over): 0, EDDY_ECLOSED or
 *  the task's interruption. */
int eddy__stream_wlock(eddy_stream_t *s);
/** Gives the write turn to the next writer. */
void eddy__stream_wunlock(eddy_stream_t *s);
/** eddy_write_sent for the holder of the write turn. */
int eddy__write_locked(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t *sent);

#endif
