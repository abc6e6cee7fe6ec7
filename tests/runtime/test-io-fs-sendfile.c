/* sendfile to a stream over loopback TCP: whole files and ranges to a
 * reader that reads slowly (so that the socket fills and sendfile waits
 * for room), ordering behind a write in progress, and interruption. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner/runner.h"

/* Waits of sendfile for room in the socket (sendfile.c). */
extern uint64_t eddy__sendfile_waits;

#define MiB (1u << 20)

static char dir[64];
static char paths[4][128];
static const size_t sizes[4] = {0, 13, 1 * MiB, 32 * MiB};

/* The byte at offset i of every test file: no short period, so a chunk
 * sent twice or out of order shows. */
static unsigned char byte_at(uint64_t i)
{
    return (unsigned char)((i * 2654435761u) >> 24);
}

static void files_make(void)
{
    static unsigned char buf[MiB];

    strcpy(dir, "/tmp/eddy-sendfile-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
    for (int f = 0; f < 4; f++) {
        int fd;
        snprintf(paths[f], sizeof(paths[f]), "%s/f%d", dir, f);
        fd = open(paths[f], O_CREAT | O_WRONLY | O_TRUNC, 0600);
        ASSERT_GE(fd, 0);
        for (size_t off = 0; off < sizes[f];) {
            size_t n = sizes[f] - off < sizeof(buf) ? sizes[f] - off : sizeof(buf);
            for (size_t i = 0; i < n; i++)
                buf[i] = byte_at(off + i);
            ASSERT_EQ(write(fd, buf, n), n);
            off += n;
        }
        close(fd);
    }
}

static void files_remove(void)
{
    for (int f = 0; f < 4; f++)
        ASSERT_EQ(unlink(paths[f]), 0);
    ASSERT_EQ(rmdir(dir), 0);
}

/* ---------------------------------------------------------- connections */

typedef struct reader {
    int port;
    uint64_t expect_from; /* file offset of the first byte expected */
    size_t prefix;        /* bytes of 'p' expected before the file's */
    uint64_t delay_ms;    /* before the first read */
    bool never_read;      /* hold the connection open until cancelled */
    size_t got;           /* bytes received, prefix included */
} reader_t;

/* Checks n more received bytes. */
static void check_bytes(reader_t *r, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++, r->got++) {
        if (r->got < r->prefix)
            ASSERT_EQ(buf[i], 'p');
        else if ((unsigned char)buf[i] != byte_at(r->expect_from + r->got - r->prefix))
            TEST__FAIL("byte %zu differs", r->got);
    }
}

/* Connects and reads to EOF, slowly, checking every byte. */
static int reader_task(void *arg)
{
    static char buf[64 * 1024];
    reader_t *r = arg;
    eddy_stream_t *c;
    char port[16];

    snprintf(port, sizeof(port), "%d", r->port);
    ASSERT_OK(eddy_connect(&c, "127.0.0.1", port));
    if (r->never_read) {
        int rc = eddy_sleep(EDDY_FOREVER); /* until cancelled */
        eddy_close(c);
        return rc;
    }
    ASSERT_OK(eddy_sleep(r->delay_ms));
    for (;;) {
        ssize_t n = eddy_read(c, buf, sizeof(buf));
        if (n == UV_EOF)
            break;
        ASSERT_GT(n, 0);
        check_bytes(r, buf, (size_t)n);
        /* Slow: a pause every MiB keeps the socket full now and then. */
        if (r->got / MiB != (r->got - (size_t)n) / MiB)
            ASSERT_OK(eddy_sleep(5));
    }
    eddy_close(c);
    return 0;
}

/* Listens, starts r's reader and accepts its connection, whose send buffer
 * is made small so that sendfile meets EAGAIN early (not tiny: with a few
 * KiB, loopback TCP itself crawls at some MB/s). */
static eddy_stream_t *connect_pair(reader_t *r, eddy_task_t **reader)
{
    eddy_stream_t *srv, *a;
    int small = 64 * 1024;

    ASSERT_OK(eddy_listen(&srv, "127.0.0.1:0", 0));
    r->port = eddy_stream_port(srv);
    ASSERT_GT(r->port, 0);
    ASSERT_OK(eddy_spawn(reader, reader_task, r, NULL));
    ASSERT_OK(eddy_accept(srv, &a));
    eddy_close(srv);
    ASSERT_EQ(setsockopt(eddy_stream_fd(a), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    return a;
}

/* Ends the connection and checks what the reader got. */
static void finish_pair(eddy_stream_t *a, eddy_task_t *reader, reader_t *r, size_t expect)
{
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(reader, NULL));
    eddy_detach(reader);
    eddy_close(a);
    ASSERT_EQ(r->got, expect);
}

/* ---------------------------------------------------------------- tests */

static int whole_files_main(void *arg)
{
    for (int f = 0; f < 4; f++) {
        reader_t r = {.delay_ms = 20};
        uint64_t waits = eddy__sendfile_waits;
        eddy_task_t *reader;
        eddy_stream_t *a = connect_pair(&r, &reader);
        int fd = eddy_fs_open(paths[f], O_RDONLY, 0);

        ASSERT_GE(fd, 0);
        ASSERT_EQ(eddy_fs_sendfile(a, fd, 0, sizes[f]), sizes[f]);
        ASSERT_OK(eddy_fs_close(fd));
        finish_pair(a, reader, &r, sizes[f]);
        /* The reader waited before reading: the socket filled up. */
        if (sizes[f] >= MiB)
            ASSERT_GT(eddy__sendfile_waits, waits);
    }
    return 0;
}

TEST_IMPL(fs_sendfile_whole_files)
{
    files_make();
    ASSERT_OK(eddy_run(whole_files_main, NULL));
    files_remove();
    ASSERT_ERR(eddy_fs_sendfile(NULL, 0, 0, 1), EDDY_ENOTASK);
    return 0;
}

static int range_main(void *arg)
{
    static const struct {
        int file;
        int64_t off;
        size_t len, expect;
    } cases[] = {
        {2, 1000, 100000, 100000},      /* inside the file */
        {3, 5 * MiB + 7, MiB, MiB},     /* far in, unaligned */
        {1, 5, 100, 8},                 /* past the end: what there is */
        {2, 2 * MiB, 10, 0},            /* starting past the end */
        {3, 31 * MiB, 4 * MiB, 1 * MiB} /* the tail of a big one */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reader_t r = {.delay_ms = 10, .expect_from = (uint64_t)cases[i].off};
        eddy_task_t *reader;
        eddy_stream_t *a = connect_pair(&r, &reader);
        int fd = eddy_fs_open(paths[cases[i].file], O_RDONLY, 0);

        ASSERT_GE(fd, 0);
        ASSERT_EQ(eddy_fs_sendfile(a, fd, cases[i].off, cases[i].len), cases[i].expect);
        /* The file position is not used nor moved. */
        ASSERT_EQ(lseek(fd, 0, SEEK_CUR), 0);
        ASSERT_OK(eddy_fs_close(fd));
        finish_pair(a, reader, &r, cases[i].expect);
    }
    return 0;
}

TEST_IMPL(fs_sendfile_range)
{
    files_make();
    ASSERT_OK(eddy_run(range_main, NULL));
    files_remove();
    return 0;
}

#define PREFIX (2 * MiB)

static int write_prefix(void *arg)
{
    char *p = malloc(PREFIX);
    int rc;
    ASSERT_NOT_NULL(p);
    memset(p, 'p', PREFIX);
    rc = eddy_write_all(arg, p, PREFIX);
    free(p);
    return rc;
}

/* The client end of a connection as a plain non-blocking socket, so that
 * a task can read from it without a loop turn (see below). */
typedef struct raw_reader {
    reader_t r;
    int fd;
    bool go;
} raw_reader_t;

/* Reads what is there: bytes, 0 at EOF, or -1 if nothing is. */
static ssize_t raw_read(raw_reader_t *rr)
{
    static char buf[64 * 1024];
    ssize_t n = recv(rr->fd, buf, sizeof(buf), 0);
    if (n < 0) {
        ASSERT_EQ(errno, EAGAIN);
        return -1;
    }
    check_bytes(&rr->r, buf, (size_t)n);
    return n;
}

static int raw_reader_task(void *arg)
{
    raw_reader_t *rr = arg;
    while (!rr->go)
        ASSERT_OK(eddy_sleep(1));
    for (;;) {
        ssize_t n = raw_read(rr);
        if (n == 0)
            return 0;
        if (n < 0)
            ASSERT_OK(eddy_sleep(1));
    }
}

static int queued_write_main(void *arg)
{
    raw_reader_t rr = {.r = {.prefix = PREFIX}};
    eddy_task_t *reader, *writer;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct pollfd p;
    eddy_stream_t *srv, *a;
    int fd, small = 64 * 1024;

    ASSERT_OK(eddy_listen(&srv, "127.0.0.1:0", 0));
    sin.sin_port = htons((uint16_t)eddy_stream_port(srv));
    rr.fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(rr.fd, 0);
    ASSERT_EQ(setsockopt(rr.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    ASSERT_EQ(connect(rr.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ASSERT_EQ(fcntl(rr.fd, F_SETFL, O_NONBLOCK), 0);
    ASSERT_OK(eddy_accept(srv, &a));
    eddy_close(srv);
    ASSERT_EQ(setsockopt(eddy_stream_fd(a), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    ASSERT_OK(eddy_spawn(&reader, raw_reader_task, &rr, NULL));
    fd = eddy_fs_open(paths[2], O_RDONLY, 0);
    ASSERT_GE(fd, 0);

    /* The prefix fills the socket; its writer waits for room. */
    ASSERT_OK(eddy_spawn(&writer, write_prefix, a, NULL));
    ASSERT_OK(eddy_sleep(20));
    ASSERT_FALSE(eddy_done(writer));
    /* Reading here makes room in the socket before the writer learns of
     * it on the next loop turn: sendfile(2) would now succeed, and put the
     * file before the rest of the prefix. */
    ASSERT_GT(raw_read(&rr), 0);
    while (raw_read(&rr) > 0)
        ;
    p.fd = eddy_stream_fd(a);
    p.events = POLLOUT;
    ASSERT_EQ(poll(&p, 1, 100), 1);
    ASSERT_FALSE(eddy_done(writer));
    rr.go = true;
    ASSERT_EQ(eddy_fs_sendfile(a, fd, 0, MiB), MiB);

    ASSERT_OK(eddy_join(writer, NULL));
    eddy_detach(writer);
    ASSERT_OK(eddy_fs_close(fd));
    ASSERT_OK(eddy_shutdown(a));
    ASSERT_OK(eddy_join(reader, NULL));
    eddy_detach(reader);
    eddy_close(a);
    close(rr.fd);
    ASSERT_EQ(rr.r.got, PREFIX + MiB);
    return 0;
}

TEST_IMPL(fs_sendfile_after_queued_write)
{
    files_make();
    ASSERT_OK(eddy_run(queued_write_main, NULL));
    files_remove();
    return 0;
}

typedef struct sender {
    eddy_stream_t *out;
    int fd;
    uint64_t timeout_ms;
} sender_t;

static int send_task(void *arg)
{
    sender_t *s = arg;
    eddy_timeout_t scope;
    ssize_t rc;

    eddy_timeout_enter(&scope, s->timeout_ms);
    rc = eddy_fs_sendfile(s->out, s->fd, 0, 32 * MiB);
    eddy_timeout_leave(&scope);
    return (int)rc;
}

static int interrupt_main(void *arg)
{
    for (int scoped = 0; scoped < 2; scoped++) {
        reader_t r = {.never_read = true};
        eddy_task_t *reader, *sender;
        eddy_stream_t *a = connect_pair(&r, &reader);
        sender_t s = {a, eddy_fs_open(paths[3], O_RDONLY, 0), scoped ? 50 : EDDY_FOREVER};
        uint64_t t0 = test_ms();

        ASSERT_GE(s.fd, 0);
        ASSERT_OK(eddy_spawn(&sender, send_task, &s, NULL));
        if (!scoped) {
            ASSERT_OK(eddy_sleep(50));
            ASSERT_FALSE(eddy_done(sender)); /* the peer never reads */
            eddy_cancel(sender);
        }
        ASSERT_ERR(eddy_join(sender, NULL), scoped ? UV_ETIMEDOUT : UV_ECANCELED);
        ASSERT_LE(test_ms() - t0, 500 * test_scale());
        eddy_detach(sender);
        ASSERT_OK(eddy_fs_close(s.fd));
        eddy_close(a);
        eddy_cancel(reader);
        ASSERT_ERR(eddy_join(reader, NULL), UV_ECANCELED);
        eddy_detach(reader);
    }
    return 0;
}

TEST_IMPL(fs_sendfile_interrupted)
{
    files_make();
    ASSERT_OK(eddy_run(interrupt_main, NULL));
    files_remove();
    return 0;
}
