/* Files: the fs calls round trip, whole-file reads, the loop running while
 * they do, and interruption of queued and running requests.  FIFOs give
 * requests that block their thread for as long as a test wants. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/runner.h"

static char dir[64];

static void tmp_make(void)
{
    strcpy(dir, "/tmp/eddy-fs-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
}

/* Removes the temporary directory and the files in it. */
static void tmp_remove(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    ASSERT_NOT_NULL(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ASSERT_EQ(unlink(path), 0);
    }
    closedir(d);
    ASSERT_EQ(rmdir(dir), 0);
}

static const char *tmp_path(const char *name)
{
    static char path[4][128];
    static unsigned next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    return p;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ASSERT_NOT_NULL(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

/* Opens the write end of a FIFO without blocking; retries while the reader
 * (a request on the thread pool) has not reached its open(2) yet. */
static int open_fifo_writer(const char *path)
{
    for (int i = 0; i < 1000; i++) {
        int fd = open(path, O_WRONLY | O_NONBLOCK);
        if (fd >= 0 || errno != ENXIO)
            return fd;
        eddy_sleep(2);
    }
    return -1;
}

/* ------------------------------------------------------------ round trip */

static int round_trip_main(void *arg)
{
    const char *path = tmp_path("a");
    char buf[32];
    uv_stat_t st;
    int fd;

    fd = eddy_fs_open(path, O_CREAT | O_RDWR | O_TRUNC, 0640);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(eddy_fs_write(fd, "hello", 5, -1), 5); /* at the position, which moves */
    ASSERT_EQ(eddy_fs_write(fd, " world", 6, 5), 6); /* at an offset: it does not */
    ASSERT_OK(eddy_fs_fstat(fd, &st));
    ASSERT_EQ(st.st_size, 11);
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_OK(eddy_fs_stat(path, &st));
    ASSERT_EQ(st.st_size, 11);
    ASSERT_EQ(st.st_mode & 0777, 0640); /* the test set umask 022 */

    ASSERT_EQ(eddy_fs_read(fd, buf, sizeof(buf), -1), 6); /* from position 5 */
    ASSERT_EQ(memcmp(buf, " world", 6), 0);
    ASSERT_EQ(eddy_fs_read(fd, buf, sizeof(buf), -1), 0); /* EOF */
    ASSERT_EQ(eddy_fs_read(fd, buf, 5, 0), 5);
    ASSERT_EQ(memcmp(buf, "hello", 5), 0);
    ASSERT_EQ(eddy_fs_read(fd, buf, sizeof(buf), 6), 5);
    ASSERT_EQ(memcmp(buf, "world", 5), 0);
    ASSERT_EQ(eddy_fs_read(fd, buf, sizeof(buf), 100), 0);
    ASSERT_OK(eddy_fs_close(fd));

    ASSERT_ERR(eddy_fs_close(fd), UV_EBADF);
    ASSERT_ERR(eddy_fs_read(fd, buf, 1, 0), UV_EBADF);
    ASSERT_ERR(eddy_fs_write(fd, buf, 1, 0), UV_EBADF);
    ASSERT_ERR(eddy_fs_fstat(fd, &st), UV_EBADF);
    ASSERT_ERR(eddy_fs_open(tmp_path("missing"), O_RDONLY, 0), UV_ENOENT);
    ASSERT_ERR(eddy_fs_stat(tmp_path("missing"), &st), UV_ENOENT);
    ASSERT_ERR(eddy_fs_open(path, O_CREAT | O_EXCL | O_WRONLY, 0600), UV_EEXIST);
    return 0;
}

TEST_IMPL(fs_round_trip)
{
    umask(022);
    tmp_make();
    ASSERT_OK(eddy_run(round_trip_main, NULL));
    tmp_remove();
    /* Outside eddy_run, nothing starts. */
    ASSERT_ERR(eddy_fs_open("/", O_RDONLY, 0), EDDY_ENOTASK);
    ASSERT_ERR(eddy_fs_close(0), EDDY_ENOTASK);
    return 0;
}

/* -------------------------------------------------------------- read_file */

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = eddy_fs_open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    for (size_t off = 0; off < len;) {
        ssize_t n = eddy_fs_write(fd, (const char *)data + off, len - off, (int64_t)off);
        ASSERT_GT(n, 0);
        off += (size_t)n;
    }
    ASSERT_OK(eddy_fs_close(fd));
}

static int read_file_main(void *arg)
{
    char *data = (char *)1;
    size_t len = 99;

    write_file(tmp_path("small"), "small file\n", 11);
    ASSERT_OK(eddy_fs_read_file(tmp_path("small"), &data, &len, 1024));
    ASSERT_EQ(len, 11);
    ASSERT_STR_EQ(data, "small file\n");
    free(data);

    /* Exactly at the limit is fine; one byte over is not. */
    ASSERT_OK(eddy_fs_read_file(tmp_path("small"), &data, &len, 11));
    ASSERT_EQ(len, 11);
    free(data);
    ASSERT_ERR(eddy_fs_read_file(tmp_path("small"), &data, &len, 10), UV_EFBIG);
    ASSERT_NULL(data);
    ASSERT_EQ(len, 0);

    write_file(tmp_path("empty"), "", 0);
    ASSERT_OK(eddy_fs_read_file(tmp_path("empty"), &data, &len, 0));
    ASSERT_EQ(len, 0);
    ASSERT_STR_EQ(data, "");
    free(data);

    ASSERT_ERR(eddy_fs_read_file(tmp_path("missing"), &data, &len, 1024), UV_ENOENT);
    ASSERT_NULL(data);

    /* procfs files claim to be empty: the buffer must grow as data comes. */
    ASSERT_OK(eddy_fs_read_file("/proc/self/maps", &data, &len, 1 << 20));
    ASSERT_GT(len, 0);
    ASSERT_EQ(strlen(data), len);
    free(data);
    ASSERT_ERR(eddy_fs_read_file("/proc/self/maps", &data, &len, 10), UV_EFBIG);
    ASSERT_NULL(data);
    return 0;
}

TEST_IMPL(fs_read_file)
{
    tmp_make();
    ASSERT_OK(eddy_run(read_file_main, NULL));
    tmp_remove();
    return 0;
}

/* ------------------------------------------------- the loop keeps running */

static int open_fifo_task(void *arg)
{
    int fd = eddy_fs_open(arg, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    return eddy_fs_close(fd);
}

static int fifo_open_main(void *arg)
{
    const char *fifo = tmp_path("fifo");
    eddy_ticker_t *tk;
    eddy_task_t *t;
    int ticks = 0, wfd;

    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    ASSERT_OK(eddy_spawn(&t, open_fifo_task, (void *)fifo, NULL));
    /* The open blocks its thread until a writer comes; the loop ticks on. */
    ASSERT_OK(eddy_ticker_open(&tk, 10));
    while (ticks < 5) {
        int n = eddy_ticker_wait(tk);
        ASSERT_GE(n, 1);
        ticks += n;
        ASSERT_FALSE(eddy_done(t));
    }
    eddy_ticker_close(tk);
    wfd = open_fifo_writer(fifo);
    ASSERT_GE(wfd, 0);
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    close(wfd);
    return 0;
}

TEST_IMPL(fs_blocking_open_does_not_block_loop)
{
    tmp_make();
    ASSERT_OK(eddy_run(fifo_open_main, NULL));
    tmp_remove();
    return 0;
}

#define BIG_SIZE (64u << 20)

static bool spin_stop;
static uint64_t spin_turns;

/* Counts the loop turns: each of its yields lasts one turn. */
static int spinner(void *arg)
{
    while (!spin_stop) {
        spin_turns++;
        if (eddy_yield() < 0)
            break;
    }
    return 0;
}

static int big_read_main(void *arg)
{
    const char *path = tmp_path("big");
    char *data, *big = malloc(BIG_SIZE);
    uint64_t turns;
    eddy_task_t *t;
    size_t len;

    ASSERT_NOT_NULL(big);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (char)(i % 251);
    write_file(path, big, BIG_SIZE);

    ASSERT_OK(eddy_spawn(&t, spinner, NULL, NULL));
    ASSERT_OK(eddy_yield());
    turns = spin_turns;
    /* open, fstat, read, read (EOF), close: five requests, and the other
     * task runs at least once while each is on the thread pool. */
    ASSERT_OK(eddy_fs_read_file(path, &data, &len, BIG_SIZE));
    ASSERT_GE(spin_turns - turns, 5);
    spin_stop = true;
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);

    ASSERT_EQ(len, BIG_SIZE);
    ASSERT_EQ(memcmp(data, big, BIG_SIZE), 0);
    ASSERT_EQ(data[len], 0);
    free(data);
    free(big);
    return 0;
}

TEST_IMPL(fs_big_read_does_not_block_loop)
{
    tmp_make();
    ASSERT_OK(eddy_run(big_read_main, NULL));
    tmp_remove();
    return 0;
}

/* ---------------------------------------------------------- cancellation */

static int stat_task(void *arg)
{
    uv_stat_t st;
    return eddy_fs_stat(arg, &st);
}

static int cancel_queued_main(void *arg)
{
    const char *fifo = tmp_path("fifo");
    eddy_task_t *opener, *t;
    eddy_timeout_t scope;
    uv_stat_t st;
    uint64_t t0;
    int wfd;

    /* The only thread of the pool blocks in the FIFO's open, so the next
     * requests stay queued, where uv_cancel takes them back. */
    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    ASSERT_OK(eddy_spawn(&opener, open_fifo_task, (void *)fifo, NULL));
    ASSERT_OK(eddy_spawn(&t, stat_task, dir, NULL));
    ASSERT_OK(eddy_sleep(20));
    ASSERT_FALSE(eddy_done(t));
    t0 = test_ms();
    eddy_cancel(t);
    ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
    eddy_detach(t);

    eddy_timeout_enter(&scope, 20);
    ASSERT_ERR(eddy_fs_stat(dir, &st), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&scope), UV_ETIMEDOUT);
    ASSERT_LE(test_ms() - t0, 200 * test_scale());
    ASSERT_FALSE(eddy_done(opener));

    /* The pool still works once its thread is free. */
    wfd = open_fifo_writer(fifo);
    ASSERT_GE(wfd, 0);
    ASSERT_OK(eddy_join(opener, NULL));
    eddy_detach(opener);
    close(wfd);
    ASSERT_OK(eddy_fs_stat(dir, &st));
    return 0;
}

TEST_IMPL(fs_cancel_queued_request)
{
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    tmp_make();
    ASSERT_OK(eddy_run(cancel_queued_main, NULL));
    tmp_remove();
    return 0;
}

/* A FIFO whose read end blocks and whose write end does not wait for a
 * reader. */
static void fifo_pair(const char *path, int *rfd, int *wfd)
{
    ASSERT_EQ(mkfifo(path, 0600), 0);
    *rfd = open(path, O_RDONLY | O_NONBLOCK);
    ASSERT_GE(*rfd, 0);
    *wfd = open(path, O_WRONLY);
    ASSERT_GE(*wfd, 0);
    ASSERT_EQ(fcntl(*rfd, F_SETFL, 0), 0);
}

typedef struct read_op {
    int fd;
    uint64_t scope_ms;
} read_op_t;

static int read_task(void *arg)
{
    read_op_t *op = arg;
    eddy_timeout_t scope;
    char buf[16];
    int rc;

    eddy_timeout_enter(&scope, op->scope_ms);
    rc = (int)eddy_fs_read(op->fd, buf, sizeof(buf), -1);
    eddy_timeout_leave(&scope);
    return rc;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* Interrupts a read that its thread has entered: nothing can take it back,
 * so the task must wait until the read ends.  The request may still be
 * queued when the interruption comes (the thread was slow to start; then
 * uv_cancel takes it back and the byte written stays in the pipe): try
 * again, giving the thread longer. */
static int cancel_running_main(void *arg)
{
    int rfd, wfd, hits = 0;
    char c;

    fifo_pair(tmp_path("fifo"), &rfd, &wfd);
    for (int scoped = 0; scoped < 2; scoped++) {
        for (int attempt = 1; attempt <= 10; attempt++) {
            uint64_t delay = (uint64_t)(20 * attempt * test_scale());
            read_op_t op = {rfd, scoped ? delay : EDDY_FOREVER};
            int expect = scoped ? UV_ETIMEDOUT : UV_ECANCELED;
            eddy_task_t *t;
            bool done;

            ASSERT_OK(eddy_spawn(&t, read_task, &op, NULL));
            ASSERT_OK(eddy_sleep(delay));
            if (!scoped)
                eddy_cancel(t);
            ASSERT_OK(eddy_sleep(20));
            done = eddy_done(t);
            ASSERT_EQ(write(wfd, "x", 1), 1);
            ASSERT_ERR(eddy_join(t, NULL), expect);
            eddy_detach(t);
            if (readable(rfd)) {
                ASSERT_EQ(read(rfd, &c, 1), 1); /* taken back before it ran */
                continue;
            }
            ASSERT_FALSE(done); /* it waited for its read */
            hits++;
            break;
        }
    }
    ASSERT_EQ(hits, 2);
    close(rfd);
    close(wfd);
    return 0;
}

TEST_IMPL(fs_cancel_running_request)
{
    tmp_make();
    ASSERT_OK(eddy_run(cancel_running_main, NULL));
    tmp_remove();
    return 0;
}

/* The same for an open(2) of a FIFO, which blocks until a writer comes:
 * the open completes after the interruption, and the task must close the
 * fd it got.  A writer's non-blocking open fails with ENXIO while no
 * reader is in open(2), which tells the two cases apart. */
static int cancel_open_main(void *arg)
{
    const char *fifo = tmp_path("fifo");
    int nfds = count_fds(), wfd = -1;

    ASSERT_EQ(mkfifo(fifo, 0600), 0);
    for (int attempt = 1; attempt <= 10 && wfd < 0; attempt++) {
        eddy_task_t *t;
        bool done;

        ASSERT_OK(eddy_spawn(&t, open_fifo_task, (void *)fifo, NULL));
        ASSERT_OK(eddy_sleep((uint64_t)(20 * attempt * test_scale())));
        eddy_cancel(t);
        ASSERT_OK(eddy_sleep(20));
        done = eddy_done(t);
        wfd = open(fifo, O_WRONLY | O_NONBLOCK);
        if (wfd < 0)
            ASSERT_EQ(errno, ENXIO); /* taken back before it ran */
        else
            ASSERT_FALSE(done); /* it waited for its open */
        ASSERT_ERR(eddy_join(t, NULL), UV_ECANCELED);
        eddy_detach(t);
    }
    ASSERT_GE(wfd, 0);
    close(wfd);
    for (int i = 0; i < 500 && count_fds() != nfds; i++)
        ASSERT_OK(eddy_sleep(2));
    ASSERT_EQ(count_fds(), nfds);
    return 0;
}

TEST_IMPL(fs_cancel_open_closes_fd)
{
    tmp_make();
    ASSERT_OK(eddy_run(cancel_open_main, NULL));
    tmp_remove();
    return 0;
}

#define PIPE_WRITE (256u << 10)

typedef struct writer {
    int fd;
    ssize_t written;
    int next_wait;
} writer_t;

static int write_task(void *arg)
{
    writer_t *w = arg;
    static char data[PIPE_WRITE];
    memset(data, 'w', sizeof(data));
    w->written = eddy_fs_write(w->fd, data, sizeof(data), -1);
    w->next_wait = eddy_sleep(1000);
    return 0;
}

static int cancel_write_main(void *arg)
{
    static char buf[PIPE_WRITE];
    struct pollfd p;
    writer_t w = {0};
    eddy_task_t *t;
    size_t total = 0;
    int rfd;

    fifo_pair(tmp_path("fifo"), &rfd, &w.fd);
    ASSERT_OK(eddy_spawn(&t, write_task, &w, NULL));
    /* Data in the pipe: the thread is inside write(2), which blocks until
     * the pipe has taken all of it. */
    p.fd = rfd;
    p.events = POLLIN;
    while (poll(&p, 1, 0) == 0)
        ASSERT_OK(eddy_sleep(1));
    eddy_cancel(t);
    ASSERT_OK(eddy_sleep(20));
    ASSERT_FALSE(eddy_done(t));
    while (total < PIPE_WRITE) {
        ssize_t n = read(rfd, buf, sizeof(buf));
        ASSERT_GT(n, 0);
        total += (size_t)n;
    }
    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    /* The write happened, so it reports its count, and the cancellation
     * is kept for the task's next wait. */
    ASSERT_EQ(w.written, PIPE_WRITE);
    ASSERT_ERR(w.next_wait, UV_ECANCELED);
    close(rfd);
    close(w.fd);
    return 0;
}

TEST_IMPL(fs_cancel_completed_write_reports_count)
{
    tmp_make();
    ASSERT_OK(eddy_run(cancel_write_main, NULL));
    tmp_remove();
    return 0;
}
