/*
 * eddy/io.h — I/O as tasks see it, part of eddy's API; included by eddy.h (do not
 * include it on its own).
 *
 * Work on threads (to_thread), streams (TCP and Unix sockets), files,
 * signals and timers.
 */
#ifndef EDDY_IO_H
#define EDDY_IO_H

#ifndef EDDY_H
#error "include <eddy.h>, not <eddy/io.h>"
#endif

/* ----------------------------------------------------------------- Threads */

/** A function run on libuv's thread pool by eddy_to_thread. */
typedef void *(*eddy_thread_fn)(void *arg);

/** asyncio.to_thread: runs fn(arg) on libuv's thread pool (size:
 *  UV_THREADPOOL_SIZE, default 4, fixed at first use) and waits; returns 0
 *  and stores fn's return value in *result (if non-NULL; with result NULL
 *  the value goes to discard).  If the waiting task is cancelled (or its
 *  timeout scope expires) before fn started, fn never runs and UV_ECANCELED
 *  (UV_ETIMEDOUT) is returned at once; once fn has started, the call waits
 *  for it to finish (fn may use the caller's stack through arg), passes
 *  its result to discard (may be NULL) and returns the interruption. */
int eddy_to_thread(eddy_thread_fn fn, void *arg, void **result, void (*discard)(void *result));

/* ----------------------------------------------------------------- Streams */

/** A TCP or Unix-domain stream socket, or a listener.  Opaque and
 *  heap-allocated; eddy_close frees it.  Creating the first stream sets
 *  SIGPIPE to ignored if it is at its default (a write to a closed peer
 *  then fails with UV_EPIPE instead of killing the process). */
typedef struct eddy_stream eddy_stream_t;

/** Listens on addr: "127.0.0.1:8080", "[::1]:8080", "host:8080" (resolved),
 *  ":8080" or "8080" (all interfaces, IPv6 dual-stack where possible, else
 *  IPv4), or "unix:/path".  TCP listeners get SO_REUSEADDR; a unix path is
 *  unlinked first if it is a stale socket (nobody accepts on it), and
 *  UV_EADDRINUSE is returned if it is a live one.  backlog <= 0 means 511.
 *  Port 0 picks a free port (see eddy_stream_port). */
int eddy_listen(eddy_stream_t **server, const char *addr, int backlog);
/** eddy_listen, but a host name gets a listener on every address it
 *  resolves to (as nginx does; IPv6 ones with IPV6_V6ONLY), up to max of
 *  them in servers[]: returns how many (> 0), or an error with none open.
 *  Addresses this host cannot bind (UV_EADDRNOTAVAIL, UV_EAFNOSUPPORT: no
 *  IPv6) are skipped while at least one other binds. */
int eddy_listen_all(eddy_stream_t **servers, size_t max, const char *addr, int backlog);
/** Adopts an already-listening socket fd (TCP or Unix), e.g. from systemd;
 *  UV_EINVAL if fd is not a listening stream socket.  The stream owns fd. */
int eddy_listen_fd(eddy_stream_t **server, int fd);
/** Adopts a connected stream socket fd (TCP or Unix, e.g. one end of a
 *  socketpair inherited from a parent process); UV_EINVAL if fd is not a
 *  connected-or-connectable stream socket (a listener, a datagram socket).
 *  The stream owns fd (it is made non-blocking). */
int eddy_stream_open_fd(eddy_stream_t **s, int fd);
/** Waits for the next connection and stores it in *client (TCP streams get
 *  TCP_NODELAY, as in asyncio).  EDDY_ECLOSED if the server is closed
 *  meanwhile.  Several tasks may accept on one server (FIFO).  Out of
 *  descriptors it returns UV_EMFILE (UV_ENFILE) and the connection stays in
 *  the kernel's backlog for a later call, rather than being accepted and
 *  closed unseen as libuv's uv_listen does. */
int eddy_accept(eddy_stream_t *server, eddy_stream_t **client);
/** Connects to host:port.  A numeric host is used as is; a name is resolved
 *  with getaddrinfo on the thread pool (uv_getaddrinfo, cancellable) and
 *  each address is tried in turn, returning the last error if all fail.
 *  host "unix:/path" with port NULL connects a Unix socket. */
int eddy_connect(eddy_stream_t **s, const char *host, const char *port);
/** Reads up to len bytes into buf: >0 bytes, UV_EOF at end of stream (and
 *  on every read after it), <0 error; UV_EINVAL if len is 0, UV_EBUSY if
 *  another task is reading s, EDDY_ECLOSED if s is closed meanwhile. */
ssize_t eddy_read(eddy_stream_t *s, void *buf, size_t len);
/** Writes all of bufs and returns when written (0 or <0).  Tries
 *  uv_try_write first; what is left is written as the socket makes room
 *  (or queued with uv_write behind writes libuv already holds).  If the
 *  task is cancelled, its scope expires or the send timeout passes while
 *  the write waits, the unwritten bytes are copied so that the write
 *  completes in the background, and UV_ECANCELED (UV_ETIMEDOUT) returns at
 *  once: the caller's buffers are free again.  Writes on one stream go out
 *  whole and in the order they were made (a write waits for the one before
 *  it to finish). */
int eddy_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs);
/** eddy_write that also stores in *sent how many of the bytes the socket
 *  took before it returned: all of them on success; on an error or an
 *  interruption, those written until then (the rest may still go out in
 *  the background, uncounted).  sent may be NULL. */
int eddy_write_sent(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t *sent);
/** Bounds each wait of eddy_write and eddy_fs_sendfile on s for the socket
 *  to take more bytes (SO_SNDTIMEO's meaning): a wait in which nothing
 *  could be written for ms fails with UV_ETIMEDOUT, while a slow peer that
 *  keeps reading is never cut, however long the whole write takes.
 *  EDDY_FOREVER (the default): no bound.  Timeout scopes still bound the
 *  whole call. */
void eddy_stream_set_send_timeout(eddy_stream_t *s, uint64_t ms);
/** eddy_write of one buffer. */
int eddy_write_all(eddy_stream_t *s, const void *data, size_t len);
/** Writes what the socket takes now, without waiting: the count written
 *  (0 when the socket is full or another task's write is between its
 *  bytes, so order is kept), or <0.  For fan-out, where a producer must not
 *  wait on one slow consumer: it writes what fits and hands the rest to a
 *  task that may wait (with eddy_write, which continues in order). */
ssize_t eddy_try_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs);
/** Half-close (uv_shutdown, after the queued writes) and wait for it. */
int eddy_shutdown(eddy_stream_t *s);
/** Closes and frees the stream (never waits; the memory is freed in the
 *  close callback, so s must not be used after this call).  A task parked
 *  in eddy_read, eddy_accept, eddy_write or eddy_shutdown on it wakes with
 *  EDDY_ECLOSED.  NULL is a no-op. */
void eddy_close(eddy_stream_t *s);
/** The socket's file descriptor (for sendfile, setsockopt), or <0. */
int eddy_stream_fd(const eddy_stream_t *s);
/** The underlying libuv stream (a uv_tcp_t or uv_pipe_t); do not close it
 *  nor start reading on it. */
uv_stream_t *eddy_stream_handle(eddy_stream_t *s);
/** True for a Unix-domain stream, false for TCP. */
bool eddy_stream_is_unix(const eddy_stream_t *s);
/** TCP_NODELAY on or off; UV_EINVAL on a Unix-domain stream. */
int eddy_tcp_nodelay(eddy_stream_t *s, bool on);
/** TCP_CORK on or off (nginx's tcp_nopush): while on, the kernel holds
 *  back partial segments, so that a small head written before a sendfile
 *  leaves in one full segment with the file's first bytes; turning it off
 *  sends what is held.  UV_EINVAL on a Unix-domain stream. */
int eddy_tcp_cork(eddy_stream_t *s, bool on);
/** TCP keep-alive on (first probe after delay_s seconds idle) or off;
 *  UV_EINVAL on a Unix-domain stream. */
int eddy_tcp_keepalive(eddy_stream_t *s, bool on, unsigned delay_s);
/** Peer address as text for logs ("1.2.3.4", "::1"; "unix:UID" for a Unix
 *  peer, with its user id from SO_PEERCRED, or "unix" where the kernel does
 *  not say): 0 or <0. */
int eddy_stream_peer(const eddy_stream_t *s, char *buf, size_t len);
/** Local port of a TCP stream or listener (lets tests listen on port 0),
 *  or <0 (UV_EINVAL for a Unix-domain one). */
int eddy_stream_port(const eddy_stream_t *s);

/** asyncio.StreamReader over any stream: a buffer with line and
 *  exact-length reads.  Fields are private; lives where the caller puts
 *  it.  On any error nothing is consumed, so the bytes stay readable. */
typedef struct eddy_reader {
    eddy_stream_t *stream;
    char *buf;
    size_t start, end, cap; /* buffered bytes are buf[start, end) */
    size_t limit;
} eddy_reader_t;

/** Reads from s (which stays the caller's).  limit: the most bytes
 *  readline/readuntil may buffer (0 = 64 KiB, asyncio's default).  0 or
 *  UV_ENOMEM. */
int eddy_reader_init(eddy_reader_t *r, eddy_stream_t *s, size_t limit);
/** Frees the buffer (not the stream); buffered bytes are lost. */
void eddy_reader_free(eddy_reader_t *r);
/** Reads through sep; *data points into the reader's buffer (valid until
 *  the next call) and the length (separator included) is returned.
 *  EDDY_ELIMIT if sep does not end within limit bytes (asyncio's
 *  LimitOverrunError; the bytes stay buffered), EDDY_EINCOMPLETE if the
 *  stream ends first (the partial data stay readable with eddy_reader_read),
 *  UV_EOF if it ends with nothing buffered. */
ssize_t eddy_reader_readuntil(eddy_reader_t *r, const void *sep, size_t seplen, const char **data);
/** readuntil("\n"), but at end of stream returns the partial last line,
 *  and 0 at EOF. */
ssize_t eddy_reader_readline(eddy_reader_t *r, const char **line);
/** Exactly n bytes into dst: 0, or EDDY_EINCOMPLETE if the stream ends
 *  first (asyncio's IncompleteReadError; the partial bytes stay readable
 *  with eddy_reader_read). */
int eddy_reader_readexactly(eddy_reader_t *r, void *dst, size_t n);
/** What is buffered (up to max), or waits for what arrives: >0 bytes, 0 at
 *  EOF, <0 error. */
ssize_t eddy_reader_read(eddy_reader_t *r, void *dst, size_t max);
/** Bytes buffered and not yet consumed. */
size_t eddy_reader_buffered(const eddy_reader_t *r);

/** asyncio.StreamWriter over any stream: writes are copied and queued
 *  without waiting; eddy_writer_drain applies flow control.  Fields are
 *  private.  Close the writer before the stream; do not mix eddy_write and
 *  a writer on one stream unless the writer has nothing pending. */
typedef struct eddy_writer {
    eddy_stream_t *stream;
    size_t high, low;
    size_t pending; /* bytes accepted and not yet written */
    char *buf;      /* bytes not yet handed to libuv */
    size_t len, cap;
    struct eddy__wop *inflight; /* the uv_write in progress, if any */
    eddy_wait_t *waiter;        /* a task in drain or close */
    int error;                  /* the stream's first write error */
} eddy_writer_t;

/** Prepares w over s with high/low water marks; 0,0 = 64 KiB / 16 KiB
 *  (low is capped at high).  Returns 0. */
int eddy_writer_init(eddy_writer_t *w, eddy_stream_t *s, size_t high, size_t low);
/** Copies and queues data; never waits.  Returns 0, UV_ENOMEM, or the
 *  stream's error if a write has failed. */
int eddy_writer_write(eddy_writer_t *w, const void *data, size_t len);
/** If more than high bytes are pending, waits until no more than low are:
 *  0, the stream's error, or the interruption. */
int eddy_writer_drain(eddy_writer_t *w);
/** Bytes accepted by eddy_writer_write and not yet written to the socket. */
size_t eddy_writer_pending(const eddy_writer_t *w);
/** Waits until everything is written, then releases the writer (not the
 *  stream): 0 or the stream's error.  If interrupted, the pending bytes
 *  are still written in the background and the interruption returned;
 *  the writer is released either way. */
int eddy_writer_close(eddy_writer_t *w);

/* ------------------------------------------------------------------- Files */

/* Files: libuv's fs requests on its thread pool, so they never block the
 * loop (nor does a FIFO, a slow disk or NFS).  Paths and flags are open(2)'s
 * (O_CLOEXEC is always added).  Every call but eddy_fs_close is
 * interruptible: a cancellation or an expired timeout scope takes the
 * request back if it has not started, else waits for it to finish (file
 * operations are bounded) and returns UV_ECANCELED / UV_ETIMEDOUT; an fd
 * that an interrupted open produced anyway is closed, and an interrupted
 * write that wrote returns its count (the cancellation then stays pending
 * for the next wait). */

/** open(2): fd >= 0 or <0. */
int eddy_fs_open(const char *path, int flags, int mode);
/** pread(2) at offset, or read(2) at the current position if offset is
 *  -1: bytes read (maybe fewer than len), 0 at EOF, or <0. */
ssize_t eddy_fs_read(int fd, void *buf, size_t len, int64_t offset);
/** pwrite(2) at offset, or write(2) if offset is -1: bytes written (maybe
 *  fewer than len), or <0. */
ssize_t eddy_fs_write(int fd, const void *buf, size_t len, int64_t offset);
/** stat(2) into *st: 0 or <0. */
int eddy_fs_stat(const char *path, uv_stat_t *st);
/** fstat(2) into *st: 0 or <0. */
int eddy_fs_fstat(int fd, uv_stat_t *st);
/** close(2): 0 or <0 (fd is closed either way).  Not interruptible: it
 *  always completes, so that fd is never left in doubt. */
int eddy_fs_close(int fd);
/** Reads a whole file: *data is malloc'd (the caller frees it) and
 *  NUL-terminated, *len excludes the NUL.  0, UV_EFBIG if the file holds
 *  more than limit bytes, or another error (then *data is NULL). */
int eddy_fs_read_file(const char *path, char **data, size_t *len, size_t limit);
/** Sends len bytes of fd, from offset, to the stream out with sendfile(2)
 *  (no copy through user space), waiting for room in the socket when it is
 *  full (each wait bounded by the stream's send timeout); while writes are
 *  queued on out in libuv, or if sendfile cannot take the file, the next
 *  chunk (up to 64 KiB) is read and written instead.  Like eddy_write it
 *  holds the stream's write turn.  Returns the bytes sent (fewer than len
 *  only if the file ends first) or <0, including UV_ECANCELED /
 *  UV_ETIMEDOUT; the file's position is not used. */
ssize_t eddy_fs_sendfile(eddy_stream_t *out, int fd, int64_t offset, size_t len);
/** eddy_fs_sendfile returning 0 or <0, with the bytes the socket took in
 *  *sent either way (when it fails part-way too).  sent may be NULL. */
int eddy_fs_sendfile_sent(eddy_stream_t *out, int fd, int64_t offset, size_t len, size_t *sent);

/* ------------------------------------------------------ Signals and timers */

/** Signals as awaitables (asyncio's add_signal_handler, as a wait).
 *  Opaque, heap-allocated; eddy_signal_close frees it. */
typedef struct eddy_signal eddy_signal_t;

/** Starts catching the n signals now (uv_signal; a repeated number counts
 *  once).  Signals that arrive while no task waits are queued, counted per
 *  signal, so none is lost between two waits.  0, UV_EINVAL (n is 0 or a
 *  number is invalid), UV_ENOMEM or EDDY_ENOTASK outside eddy_run. */
int eddy_signal_open(eddy_signal_t **s, const int *signums, size_t n);
/** Returns the oldest queued signal at once, else waits for the next one:
 *  its number (> 0), UV_ECANCELED, UV_ETIMEDOUT, or EDDY_ECLOSED if s is
 *  closed meanwhile.  Several tasks may wait (FIFO, one signal each).
 *  While no task waits, s does not keep the loop alive. */
int eddy_signal_wait(eddy_signal_t *s);
/** Stops catching (the default action applies again once no other catcher
 *  of the signal is left), wakes waiters with EDDY_ECLOSED and frees s.
 *  NULL is a no-op. */
void eddy_signal_close(eddy_signal_t *s);

/** Periodic timer usable from a task (Go's time.Ticker).  Ticks fall at
 *  open + k * period on the loop clock.  Opaque, heap-allocated. */
typedef struct eddy_ticker eddy_ticker_t;

/** Starts a ticker with the given period (> 0): 0, UV_EINVAL, UV_ENOMEM,
 *  or EDDY_ENOTASK outside eddy_run. */
int eddy_ticker_open(eddy_ticker_t **t, uint64_t period_ms);
/** Waits for the next tick; returns how many ticks fell since the one the
 *  last wait returned (>= 1: ticks missed while the task was busy are
 *  coalesced, and returned at once, not queued), or UV_ECANCELED,
 *  UV_ETIMEDOUT, EDDY_ECLOSED (closed meanwhile), UV_EBUSY (another task
 *  is waiting on t).  An idle ticker costs nothing and does not keep the
 *  loop alive. */
int eddy_ticker_wait(eddy_ticker_t *t);
/** Stops and frees the ticker; a waiting task gets EDDY_ECLOSED.  NULL is
 *  a no-op. */
void eddy_ticker_close(eddy_ticker_t *t);

#endif /* EDDY_IO_H */
