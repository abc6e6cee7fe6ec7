/* Pub/sub channels (white-box): ids, history and its replay, the gap
 * notice, limits, empty channels freed, and the encodings subscribers
 * share. */
#include "pubsub/pubsub.h"
#include "runner/runner.h"

typedef struct rec {
    ps_sub_t ps;
    uint64_t ids[64];
    size_t n;
    int refuse_at; /* deliver returns 1 at this id (0: never) */
} rec_t;

static int record(ps_sub_t *s, ps_msg_t *m)
{
    rec_t *r = (rec_t *)s;
    r->ids[r->n++] = m->id;
    return r->refuse_at && (uint64_t)r->refuse_at == m->id;
}

static const ps_limits_t lim = {
    .history = 3, .history_ms = 0, .max_channels = 2, .max_subscribers = 3};

static uint64_t pub(ps_hub_t *h, const char *name, size_t *n)
{
    uint64_t id;
    size_t k;
    ASSERT_OK(ps_publish(h, &lim, name, strlen(name), false, "x", 1, &id, n ? n : &k));
    return id;
}

static int channels_main(void *arg)
{
    (void)arg;
    ps_hub_t *h = ps_hub_acquire("/ps/");
    ASSERT_PTR_EQ(ps_hub_acquire("/ps/"), h); /* one hub per name */
    ps_hub_release(h);
    rec_t a = {.ps.deliver = record}, b = {.ps.deliver = record, .refuse_at = 2};
    ps_replay_t rp;
    size_t n;

    ASSERT_OK(ps_subscribe(h, &lim, "c", 1, &a.ps, false, 0, &rp));
    ASSERT_OK(ps_subscribe(h, &lim, "c", 1, &b.ps, false, 0, &rp));
    ASSERT_EQ(pub(h, "c", &n), 1);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(pub(h, "c", &n), 2); /* b refuses id 2: unsubscribed */
    ASSERT_EQ(n, 1);
    ASSERT_EQ(b.ps.ch, NULL);
    for (int i = 3; i <= 6; i++)
        ASSERT_EQ(pub(h, "c", NULL), (uint64_t)i);
    ASSERT_EQ(a.n, 6);
    for (size_t i = 0; i < a.n; i++)
        ASSERT_EQ(a.ids[i], i + 1);

    /* History holds 4..6: since=1 misses 2..3, replays 4..6. */
    rec_t c = {.ps.deliver = record};
    ASSERT_OK(ps_subscribe(h, &lim, "c", 1, &c.ps, true, 1, &rp));
    ASSERT_EQ(rp.gap_from, 2);
    ASSERT_EQ(rp.gap_to, 3);
    ASSERT_EQ(rp.n, 3);
    ASSERT_EQ(rp.msgs[0]->id, 4);
    ASSERT_EQ(rp.msgs[2]->id, 6);
    ps_unsubscribe(h, &c.ps);
    /* since=4: no gap, 5..6; since=6 (the last): nothing. */
    ASSERT_OK(ps_subscribe(h, &lim, "c", 1, &c.ps, true, 4, &rp));
    ASSERT_TRUE(rp.gap_from > rp.gap_to);
    ASSERT_EQ(rp.n, 2);
    ps_unsubscribe(h, &c.ps);
    ASSERT_OK(ps_subscribe(h, &lim, "c", 1, &c.ps, true, 6, &rp));
    ASSERT_EQ(rp.n, 0);
    ASSERT_TRUE(rp.gap_from > rp.gap_to);

    /* Limits: 3 subscribers (a, c + one), 2 channels. */
    rec_t d = {.ps.deliver = record}, e = {.ps.deliver = record};
    ASSERT_OK(ps_subscribe(h, &lim, "d", 1, &d.ps, false, 0, &rp));
    ASSERT_FALSE(ps_can_subscribe(h, &lim, "c", 1));
    ASSERT_ERR(ps_subscribe(h, &lim, "c", 1, &e.ps, false, 0, &rp), UV_EAGAIN);
    ps_unsubscribe(h, &d.ps); /* "d" had no history: freed */
    ASSERT_EQ(ps_hub_channels(h), 1);
    ASSERT_OK(ps_publish(h, &lim, "e", 1, true, "", 0, &(uint64_t){0}, &n));
    uint64_t id;
    ASSERT_ERR(ps_publish(h, &lim, "f", 1, true, "", 0, &id, &n), UV_EAGAIN);

    uint64_t last;
    size_t subs, hist;
    ASSERT_TRUE(ps_channel_info(h, &lim, "c", 1, &last, &subs, &hist));
    ASSERT_EQ(last, 6);
    ASSERT_EQ(subs, 2);
    ASSERT_EQ(hist, 3);
    ASSERT_FALSE(ps_channel_info(h, &lim, "zz", 2, &last, &subs, &hist));
    ps_unsubscribe(h, &a.ps);
    ps_unsubscribe(h, &c.ps);
    ASSERT_EQ(ps_hub_subscribers(h), 0);
    ps_hub_release(h);
    return 0;
}

TEST_IMPL(pubsub_channels)
{
    ASSERT_OK(eddy_run(channels_main, NULL));
    return 0;
}

TEST_IMPL(pubsub_names)
{
    ASSERT_TRUE(ps_name_valid("chat", 4));
    ASSERT_TRUE(ps_name_valid("a/b.c_d~e-f", 11));
    ASSERT_FALSE(ps_name_valid("", 0));
    ASSERT_FALSE(ps_name_valid("a b", 3));
    ASSERT_FALSE(ps_name_valid("a%20", 4));
    char big[PS_NAME_MAX + 1];
    memset(big, 'a', sizeof(big));
    ASSERT_TRUE(ps_name_valid(big, PS_NAME_MAX));
    ASSERT_FALSE(ps_name_valid(big, PS_NAME_MAX + 1));
    return 0;
}

static void check_encoding(int (*enc)(const ps_msg_t *, ws_buf_t *), bool binary,
                           const char *data, size_t len, const char *want)
{
    ps_msg_t *m = calloc(1, sizeof(*m) + len);
    ASSERT_NOT_NULL(m);
    m->refs = 1;
    m->id = 7;
    m->binary = binary;
    m->len = len;
    memcpy(m->data, data, len);
    ws_buf_t b = {0};
    ASSERT_OK(enc(m, &b));
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        TEST__FAIL("encoded %.*s, want %s", (int)b.len, b.data, want);
    free(b.data);
    ps_msg_unref(m);
}

TEST_IMPL(pubsub_encodings)
{
    check_encoding(ps_encode_json, false, "a\"b\\c\n\x01\xc3\xa9", 9,
                   "{\"id\":7,\"data\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"}");
    check_encoding(ps_encode_json, true, "\x00\x01", 2, "{\"id\":7,\"b64\":\"AAE=\"}");
    check_encoding(ps_encode_sse, false, "one\ntwo\r\nthree\rfour\n", 20,
                   "id: 7\ndata: one\ndata: two\ndata: three\ndata: four\ndata: \n\n");
    check_encoding(ps_encode_sse, false, "", 0, "id: 7\ndata: \n\n");
    check_encoding(ps_encode_sse, true, "\xff", 1, "id: 7\nevent: binary\ndata: /w==\n\n");
    ws_buf_t b = {0};
    ASSERT_OK(ps_encode_gap_json(2, 5, &b));
    ASSERT_EQ(memcmp(b.data, "{\"gap\":{\"from\":2,\"to\":5}}", b.len), 0);
    b.len = 0;
    ASSERT_OK(ps_encode_gap_sse(2, 5, &b));
    ASSERT_EQ(b.len, strlen("event: gap\ndata: {\"from\":2,\"to\":5}\n\n"));
    ASSERT_EQ(memcmp(b.data, "event: gap\ndata: {\"from\":2,\"to\":5}\n\n", b.len), 0);
    free(b.data);
    return 0;
}
