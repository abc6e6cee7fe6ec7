/* sendfile(2) to an eddy stream.  libuv has no stream sendfile, so this
 * calls it on the socket directly, which is only correct while libuv has
 * nothing queued on the stream (the bytes would overtake queued writes);
 * holding the stream's write turn keeps other writers out meanwhile.
 *
 * When the socket is full (EAGAIN), the task waits for room with a poll
 * on a dup of the socket (eddy__stream_wait_writable) and sendfile fills
 * the room again, without a copy.  Each wait is bounded by the stream's
 * send timeout, so a slow reader that keeps reading is never cut, and one
 * that stops is.  (This used to write a 16 KiB pread chunk through libuv
 * and wait for it to drain: the socket then sat nearly empty while the
 * wake-up went round the loop, and 1 MiB responses went out at half the
 * peers' rate.)  Only while libuv has writes queued, or for a file or
 * socket sendfile cannot take, is the next chunk read with pread and
 * written through the stream.  The waits and a periodic yield are the
 * only interruption points; on a file that is not in the page cache
 * sendfile reads the disk on the loop's thread. */
#include "runtime/io/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* The fallback path's chunk: one read and one write. */
#define CHUNK_SIZE (64u * 1024u)
/* Bytes sent without a wait after which other tasks get a turn: a peer
 * that keeps up would otherwise never make sendfile return EAGAIN. */
#define YIELD_EVERY (1u << 20)
/* Linux sends at most this much per call anyway. */
#define MAX_PER_CALL 0x7ffff000u

/* Chunks sent through the fallback path and waits for room, for tests
 * (not in any header). */
uint64_t eddy__sendfile_fallbacks;
uint64_t eddy__sendfile_waits;

/* Reads the next chunk at *off and writes it to out (whose write turn the
 * caller holds): 0 if the file has ended, else <0 or 0 with *sent the
 * bytes the socket took. */
static int send_chunk(eddy_stream_t *out, int fd, off_t *off, size_t left, char **chunk,
                      size_t *sent)
{
    uv_buf_t b;
    ssize_t n;
    int rc;

    *sent = 0;
    if (*chunk == NULL && (*chunk = malloc(CHUNK_SIZE)) == NULL)
        return UV_ENOMEM;
    do
        n = pread(fd, *chunk, eddy__min(left, CHUNK_SIZE), *off);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    b = uv_buf_init(*chunk, (unsigned)n);
    /* If interrupted, the write copies what is left of the chunk and
     * completes it in the background, so the chunk may be freed. */
    rc = eddy__write_locked(out, &b, 1, sent);
    *off += (off_t)*sent;
    eddy__sendfile_fallbacks++;
    return rc;
}

/* The loop of eddy_fs_sendfile_sent, with the write turn held. */
static int send_locked(eddy_stream_t *out, int sock, int fd, off_t off, size_t len, size_t *sent)
{
    uv_stream_t *h = eddy_stream_handle(out);
    bool use_sendfile = true;
    size_t unyielded = 0;
    char *chunk = NULL;
    int rc = 0;

    while (*sent < len && rc >= 0) {
        if (use_sendfile && uv_stream_get_write_queue_size(h) == 0) {
            ssize_t n = sendfile(sock, fd, &off, eddy__min(len - *sent, MAX_PER_CALL));
            if (n > 0) {
                *sent += (size_t)n;
                unyielded += (size_t)n;
                if (unyielded >= YIELD_EVERY && *sent < len) {
                    unyielded = 0;
                    rc = eddy_yield();
                }
                continue;
            }
            if (n == 0)
                break; /* the file ended before len */
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                eddy__sendfile_waits++;
                unyielded = 0;
                rc = eddy__stream_wait_writable(out);
                if (rc < 0 && eddy__stream_no_wpoll(out, rc)) {
                    /* No descriptor for the wait (EMFILE): chunks through
                     * libuv's write queue, which needs none. */
                    use_sendfile = false;
                    rc = 0;
                }
                continue;
            }
            if (errno != EINVAL && errno != ENOSYS) {
                rc = -errno;
                break;
            }
            use_sendfile = false; /* a file or socket sendfile cannot take */
        }
        size_t took = 0;
        rc = send_chunk(out, fd, &off, len - *sent, &chunk, &took);
        *sent += took;
        if (rc == 0 && took == 0)
            break; /* the file ended before len */
    }
    free(chunk);
    return rc;
}

int eddy_fs_sendfile_sent(eddy_stream_t *out, int fd, int64_t offset, size_t len, size_t *sent)
{
    EDDY__CURRENT_OR_RETURN(t);
    size_t ignored;
    int sock, rc;

    (void)t;
    if (sent == NULL)
        sent = &ignored;
    *sent = 0;
    if (out == NULL)
        return UV_EINVAL;
    sock = eddy_stream_fd(out);
    if (sock < 0)
        return sock;
    if (offset < 0)
        return UV_EINVAL;
    rc = eddy__stream_wlock(out);
    if (rc != 0)
        return rc;
    rc = send_locked(out, sock, fd, (off_t)offset, len, sent);
    if (rc != EDDY_ECLOSED) /* else out may be gone already */
        eddy__stream_wunlock(out);
    return rc;
}

ssize_t eddy_fs_sendfile(eddy_stream_t *out, int fd, int64_t offset, size_t len)
{
    size_t sent;
    int rc = eddy_fs_sendfile_sent(out, fd, offset, len, &sent);
    return rc < 0 ? rc : (ssize_t)sent;
}
