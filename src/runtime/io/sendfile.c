/* sendfile(2) to an eddy stream.  libuv has no stream sendfile, so this
 * calls it on the socket directly, which is only correct while libuv has
 * nothing queued on the stream (the bytes would overtake queued writes).
 *
 * The socket is non-blocking and libuv owns its readiness, so when it is
 * full (EAGAIN) — or when writes are queued — a small next chunk of the
 * file is read with pread and written with eddy_write, which waits until
 * the socket took it: that wait is how the task learns the socket has
 * room again.  Then sendfile resumes and fills that room without a copy.
 * The chunk is small (the copy is the price of the wake-up) and read on
 * the loop's thread like sendfile's own reads: a thread-pool hop per
 * chunk cost more in latency than the read (measured: 1 MiB responses to
 * 100 clients went from 1.8k/s to the peers' rate).  Only the waits of
 * the fallback path and a periodic yield are interruption points; on a
 * file that is not in the page cache both read the disk on the loop's
 * thread. */
#include "runtime/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* The fallback path's chunk: one read and one write. */
#define CHUNK_SIZE (16u * 1024u)
/* Bytes sent without a wait after which other tasks get a turn: a peer
 * that keeps up would otherwise never make sendfile return EAGAIN. */
#define YIELD_EVERY (1u << 20)
/* Linux sends at most this much per call anyway. */
#define MAX_PER_CALL 0x7ffff000u

/* Chunks sent through the fallback path, for tests (not in any header). */
uint64_t eddy__sendfile_fallbacks;

/* Reads the next chunk at *off and writes it to out: bytes sent, 0 if the
 * file has ended, or <0. */
static ssize_t send_chunk(eddy_stream_t *out, int fd, off_t *off, size_t left, char **chunk)
{
    uv_buf_t b;
    ssize_t n;
    int rc;

    if (*chunk == NULL && (*chunk = malloc(CHUNK_SIZE)) == NULL)
        return UV_ENOMEM;
    do
        n = pread(fd, *chunk, eddy__min(left, CHUNK_SIZE), *off);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    b = uv_buf_init(*chunk, (unsigned)n);
    /* If interrupted, eddy_write copies what is left of the chunk and
     * completes it in the background, so the chunk may be freed. */
    rc = eddy_write(out, &b, 1);
    if (rc < 0)
        return rc;
    *off += n;
    eddy__sendfile_fallbacks++;
    return n;
}

ssize_t eddy_fs_sendfile(eddy_stream_t *out, int fd, int64_t offset, size_t len)
{
    EDDY__CURRENT_OR_RETURN(t);
    uv_stream_t *h = eddy_stream_handle(out);
    int sock = eddy_stream_fd(out);
    bool use_sendfile = true;
    size_t sent = 0, unyielded = 0;
    off_t off = (off_t)offset;
    char *chunk = NULL;
    ssize_t rc = 0;

    (void)t;
    if (sock < 0)
        return sock;
    if (offset < 0)
        return UV_EINVAL;
    while (sent < len && rc >= 0) {
        if (use_sendfile && uv_stream_get_write_queue_size(h) == 0) {
            ssize_t n = sendfile(sock, fd, &off, eddy__min(len - sent, MAX_PER_CALL));
            if (n > 0) {
                sent += (size_t)n;
                unyielded += (size_t)n;
                if (unyielded >= YIELD_EVERY) {
                    unyielded = 0;
                    rc = eddy_yield();
                }
                continue;
            }
            if (n == 0)
                break; /* the file ended before len */
            if (errno == EINTR)
                continue;
            if (errno == EINVAL || errno == ENOSYS) {
                use_sendfile = false; /* a file or socket sendfile cannot take */
            } else if (errno != EAGAIN) {
                rc = -errno;
                break;
            }
        }
        rc = send_chunk(out, fd, &off, len - sent, &chunk);
        if (rc == 0)
            break; /* the file ended before len */
        if (rc > 0) {
            sent += (size_t)rc;
            unyielded = 0;
        }
    }
    free(chunk);
    return rc < 0 ? rc : (ssize_t)sent;
}
