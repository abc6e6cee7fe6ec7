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
    bool incoming;    /* listener: libuv holds an accepted connection for us */
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
};

/** Allocates a stream of the given kind and initialises its handle on the
 *  running loop: 0 or a libuv error. */
int eddy__stream_new(eddy_stream_t **out, enum eddy__stream_kind kind);
/** Closes a stream that no task has seen yet (error paths). */
void eddy__stream_discard(eddy_stream_t *s);

#endif
