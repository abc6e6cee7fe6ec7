/* The outbound queue (websocket/outq.c) over a real socket pair: order is
 * kept across inline writes, posts and the writer; drop-oldest drops only
 * whole data frames; closing with a writer that never ran returns. */
#include "runner/runner.h"
#include "websocket/session.h"

typedef struct pair {
    eddy_stream_t *srv, *cli, *acc;
} pair_t;

static void open_pair(pair_t *p)
{
    char port[16];
    ASSERT_OK(eddy_listen(&p->srv, "127.0.0.1:0", 4));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(p->srv));
    ASSERT_OK(eddy_connect(&p->cli, "127.0.0.1", port));
    ASSERT_OK(eddy_accept(p->srv, &p->acc));
}

static void close_pair(pair_t *p)
{
    eddy_close(p->acc);
    eddy_close(p->cli);
    eddy_close(p->srv);
}

/* Fills the socket: the peer does not read yet. */
static size_t fill(eddy_stream_t *s)
{
    static char junk[65536];
    uv_buf_t b = uv_buf_init(junk, sizeof(junk));
    size_t filled = 0;
    ssize_t n;
    while ((n = eddy_try_write(s, &b, 1)) > 0)
        filled += (size_t)n;
    return filled;
}

static int close_unstarted_main(void *arg)
{
    pair_t p = {0};
    (void)arg;
    open_pair(&p);
    ASSERT_GT(fill(p.acc), 0);
    ws_outq_t q;
    ws_outq_init(&q, p.acc);
    ws_blob_t *b = ws_blob_frame(WS_OP_TEXT, 0, "hello", 5);
    ASSERT_OK(ws_outq_send(&q, b)); /* queued: a writer is spawned, not yet run */
    ws_blob_unref(b);
    ASSERT_TRUE(q.writing);
    ws_outq_close(&q); /* must return (the runner's timeout catches a hang) */
    ASSERT_NULL(q.writer);
    close_pair(&p);
    return 0;
}

TEST_IMPL(ws_outq_close_before_writer_runs)
{
    ASSERT_OK(eddy_run(close_unstarted_main, NULL));
    return 0;
}

/* Numbered 100-byte frames through send, post and send_bufs while the
 * socket is full; the reader then sees every byte, in order. */
static int order_main(void *arg)
{
    pair_t p = {0};
    (void)arg;
    open_pair(&p);
    size_t junk = fill(p.acc);
    ws_outq_t q;
    ws_outq_init(&q, p.acc);
    enum { N = 300, SZ = 100 };
    for (int i = 0; i < N; i++) {
        char msg[SZ];
        memset(msg, 'a' + i % 26, sizeof(msg));
        memcpy(msg, &i, sizeof(i));
        ws_blob_t *b = ws_blob_new(SZ);
        memcpy(b->data, msg, SZ);
        b->droppable = 1;
        if (i % 3 == 0) {
            ASSERT_OK(ws_outq_send(&q, b));
        } else if (i % 3 == 1) {
            ASSERT_OK(ws_outq_post(&q, b));
        } else {
            uv_buf_t bufs[2] = {uv_buf_init(msg, 10), uv_buf_init(msg + 10, SZ - 10)};
            ASSERT_OK(ws_outq_send_bufs(&q, bufs, 2));
        }
        ws_blob_unref(b);
    }
    /* Two whole data frames dropped; never the partly written head. */
    ASSERT_TRUE(ws_outq_drop_oldest(&q));
    ASSERT_TRUE(ws_outq_drop_oldest(&q));
    ASSERT_EQ(q.dropped, 2);
    /* Read past the junk, then collect the frames. */
    static char frames[N * SZ], chunk[65536];
    size_t pos = 0, nframes = 0, want = junk + (size_t)(N - 2) * SZ;
    while (pos < want) {
        ssize_t n = eddy_read(p.cli, chunk, sizeof(chunk));
        ASSERT_GT(n, 0);
        for (ssize_t k = 0; k < n; k++, pos++) {
            if (pos >= junk)
                frames[nframes++] = chunk[k];
        }
    }
    ASSERT_EQ(pos, want);
    ASSERT_OK(ws_outq_flush(&q));
    int last = -1;
    for (size_t off = 0; off < nframes; off += SZ) {
        int id;
        memcpy(&id, frames + off, sizeof(id));
        ASSERT_GT(id, last); /* in order, none twice */
        ASSERT_EQ(frames[off + SZ - 1], 'a' + id % 26); /* whole */
        last = id;
    }
    ASSERT_EQ(last, N - 1);
    ws_outq_close(&q);
    close_pair(&p);
    return 0;
}

TEST_IMPL(ws_outq_order_and_drop)
{
    ASSERT_OK(eddy_run(order_main, NULL));
    return 0;
}

/* A control frame (not droppable) queued between data frames survives. */
static int keep_control_main(void *arg)
{
    pair_t p = {0};
    (void)arg;
    open_pair(&p);
    fill(p.acc);
    ws_outq_t q;
    ws_outq_init(&q, p.acc);
    ws_blob_t *ping = ws_blob_frame(WS_OP_PONG, 0, "p", 1);
    ws_blob_t *data = ws_blob_frame(WS_OP_TEXT, 0, "d", 1);
    data->droppable = 1;
    ASSERT_OK(ws_outq_post(&q, ping));
    ASSERT_OK(ws_outq_post(&q, data));
    ASSERT_TRUE(ws_outq_drop_oldest(&q)); /* the data frame, not the pong */
    ASSERT_FALSE(ws_outq_drop_oldest(&q));
    ASSERT_EQ(ws_outq_count(&q), 1);
    ws_blob_unref(ping);
    ws_blob_unref(data);
    ws_outq_close(&q);
    close_pair(&p);
    return 0;
}

TEST_IMPL(ws_outq_drop_keeps_control_frames)
{
    ASSERT_OK(eddy_run(keep_control_main, NULL));
    return 0;
}
