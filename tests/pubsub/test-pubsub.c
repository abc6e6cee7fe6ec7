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

/* The pieces the relay between worker processes uses (daemon/relay.c):
 * in a worker, messages numbered elsewhere applied to the replica; in the
 * master, subscribers elsewhere keeping a channel and its ids; a new
 * worker's history; and publishing through an installed relay. */
static struct {
    int published, infos, subs;
    long delta;
} fake;

static int fake_publish(ps_hub_t *h, const char *name, size_t len, bool binary, const void *data,
                        size_t n, bool wait, uint64_t *id, size_t *subscribers)
{
    (void)h, (void)name, (void)len, (void)binary, (void)data, (void)n;
    fake.published++;
    *id = wait ? 41 : 0;
    *subscribers = 7;
    return 0;
}

static int fake_info(ps_hub_t *h, const char *name, size_t len, uint64_t *last_id,
                     size_t *subscribers, size_t *history)
{
    (void)h, (void)name;
    fake.infos++;
    if (len != 1)
        return UV_ENOENT;
    *last_id = 9;
    *subscribers = 3;
    *history = 2;
    return 0;
}

static void fake_subscribers(ps_hub_t *h, const char *name, size_t len, int delta)
{
    (void)h, (void)name, (void)len;
    fake.subs++;
    fake.delta += delta;
}

static void count_history(void *arg, ps_hub_t *h, const char *name, size_t len, ps_msg_t *m)
{
    uint64_t *ids = arg;
    (void)h;
    if (len == 1 && name[0] == 'r')
        ids[ids[0]++ + 1] = m->id;
}

static int relay_main(void *arg)
{
    (void)arg;
    ps_hub_t *h = ps_hub_acquire("/relay/");
    ps_limits_t l = lim;
    l.max_channels = 100;
    ps_hub_set_limits(h, &l);
    ASSERT_PTR_EQ(ps_hub_find("/relay/"), h);
    ASSERT_PTR_EQ(ps_hub_find("/nope/"), NULL);
    ASSERT_EQ(strcmp(ps_hub_name(h), "/relay/"), 0);
    ASSERT_EQ(ps_hub_limits(h)->history, 3);

    /* A worker's replica: ids come from the master. */
    rec_t a = {.ps.deliver = record};
    ps_replay_t rp;
    uint64_t last;
    size_t subs, hist;
    ASSERT_OK(ps_subscribe(h, &l, "r", 1, &a.ps, false, 0, &rp));
    ASSERT_EQ(ps_apply(h, "r", 1, 7, 0, false, "seven", 5, false), 1);
    /* A lower id: the master's channel started over; so does the history. */
    ASSERT_EQ(ps_apply(h, "r", 1, 1, 0, false, "one", 3, false), 1);
    ASSERT_TRUE(ps_channel_info(h, &l, "r", 1, &last, &subs, &hist));
    ASSERT_EQ(last, 1);
    ASSERT_EQ(hist, 1);
    ASSERT_EQ(ps_apply(h, "r", 1, 5, 0, false, "five", 4, false), 1);
    ASSERT_EQ(ps_apply(h, "r", 1, 6, 0, true, "six", 3, true), 0); /* history only */
    ASSERT_EQ(a.n, 3);
    ASSERT_EQ(a.ids[0], 7);
    ASSERT_EQ(a.ids[1], 1);
    ASSERT_EQ(a.ids[2], 5);
    ASSERT_TRUE(ps_channel_info(h, &l, "r", 1, &last, &subs, &hist));
    ASSERT_EQ(last, 6);
    ASSERT_EQ(hist, 3); /* 1, 5, 6 */
    /* A new subscriber replays the replica's history. */
    rec_t b = {.ps.deliver = record};
    ASSERT_OK(ps_subscribe(h, &l, "r", 1, &b.ps, true, 4, &rp));
    ASSERT_EQ(rp.n, 2);
    ASSERT_EQ(rp.msgs[1]->id, 6);
    ASSERT_TRUE(rp.msgs[1]->binary);
    ps_unsubscribe(h, &b.ps);
    ps_unsubscribe(h, &a.ps);

    /* A new worker's history: every message of every channel in order. */
    uint64_t ids[8] = {0};
    ps_each_history(count_history, ids);
    ASSERT_EQ(ids[0], 3);
    ASSERT_EQ(ids[1], 1);
    ASSERT_EQ(ids[3], 6);

    /* The master: a channel without history lives while workers have
     * subscribers, so its ids go on; they count in publish and info. */
    ps_limits_t nohist = l;
    nohist.history = 0;
    ps_hub_set_limits(h, &nohist);
    uint64_t id;
    size_t n;
    ps_remote(h, "m", 1, 3);
    ASSERT_OK(ps_publish(h, &nohist, "m", 1, false, "x", 1, &id, &n));
    ASSERT_EQ(id, 1);
    ASSERT_EQ(n, 3);
    ASSERT_OK(ps_publish(h, &nohist, "m", 1, false, "x", 1, &id, &n));
    ASSERT_EQ(id, 2);
    ASSERT_TRUE(ps_channel_info(h, &nohist, "m", 1, &last, &subs, &hist));
    ASSERT_EQ(subs, 3);
    ps_remote(h, "m", 1, -2);
    ASSERT_TRUE(ps_channel_info(h, &nohist, "m", 1, &last, &subs, &hist));
    ASSERT_EQ(subs, 1);
    ps_remote(h, "m", 1, -5); /* never below 0: freed with its last */
    ASSERT_FALSE(ps_channel_info(h, &nohist, "m", 1, &last, &subs, &hist));
    ps_remote(h, "x", 1, -1); /* unknown: nothing */
    ASSERT_FALSE(ps_channel_info(h, &nohist, "x", 1, &last, &subs, &hist));

    /* Installed relay: publishes and states go through it, subscriptions
     * are reported; removed, the process's own channels answer again. */
    static const ps_relay_t relay = {
        .publish = fake_publish, .info = fake_info, .subscribers = fake_subscribers};
    ps_relay_set(&relay);
    ASSERT_OK(ps_post(h, &l, "r", 1, false, "y", 1, true, &id, &n));
    ASSERT_EQ(id, 41);
    ASSERT_EQ(n, 7);
    ASSERT_OK(ps_post(h, &l, "r", 1, false, "y", 1, false, &id, &n));
    ASSERT_EQ(id, 0);
    ASSERT_EQ(fake.published, 2);
    ASSERT_OK(ps_state(h, &l, "r", 1, &last, &subs, &hist));
    ASSERT_EQ(last, 9);
    ASSERT_ERR(ps_state(h, &l, "zz", 2, &last, &subs, &hist), UV_ENOENT);
    ASSERT_EQ(fake.infos, 2);
    ASSERT_OK(ps_subscribe(h, &l, "r", 1, &a.ps, false, 0, &rp));
    ASSERT_EQ(fake.delta, 1);
    ps_unsubscribe(h, &a.ps);
    ASSERT_EQ(fake.subs, 2);
    ASSERT_EQ(fake.delta, 0);
    ps_relay_set(NULL);
    ASSERT_OK(ps_post(h, &l, "r", 1, false, "z", 1, true, &id, &n));
    ASSERT_EQ(id, 7); /* numbered here, after the replica's 6 */
    ASSERT_EQ(fake.published, 2);
    ps_hub_release(h);
    return 0;
}

TEST_IMPL(pubsub_relay_pieces)
{
    ASSERT_OK(eddy_run(relay_main, NULL));
    return 0;
}

/* A freed channel's ids go on when it is made again (tombstones), also in
 * a worker's replica told the master's last id (ps_note_last), and a new
 * worker is told every channel's last id, freed ones included. */
static void collect_last(void *arg, ps_hub_t *h, const char *name, size_t len, uint64_t id)
{
    uint64_t *out = arg;
    (void)h;
    if (len == 1 && name[0] == 'f')
        out[0] = id;
    if (len == 1 && name[0] == 'g')
        out[1] = id;
}

static int tombs_main(void *arg)
{
    (void)arg;
    ps_hub_t *h = ps_hub_acquire("/tombs/");
    ps_limits_t l = {.history = 0, .max_channels = 4, .max_subscribers = 10};
    rec_t a = {.ps.deliver = record};
    ps_replay_t rp;
    uint64_t id, last, got[2] = {0, 0};
    size_t n, subs, hist;

    ps_hub_set_limits(h, &l);
    ASSERT_OK(ps_publish(h, &l, "f", 1, false, "x", 1, &id, &n));
    ASSERT_OK(ps_publish(h, &l, "f", 1, false, "x", 1, &id, &n));
    ASSERT_EQ(id, 2);
    ASSERT_FALSE(ps_channel_info(h, &l, "f", 1, &last, &subs, &hist)); /* freed */
    ASSERT_OK(ps_publish(h, &l, "f", 1, false, "x", 1, &id, &n));
    ASSERT_EQ(id, 3); /* not 1 */
    /* A subscriber with since=1 on the freed channel gets the gap 2..3. */
    ASSERT_OK(ps_subscribe(h, &l, "f", 1, &a.ps, true, 1, &rp));
    ASSERT_EQ(rp.gap_from, 2);
    ASSERT_EQ(rp.gap_to, 3);
    ps_unsubscribe(h, &a.ps);

    /* A replica told the master's last id measures gaps against it. */
    ps_note_last(h, "g", 1, 41);
    ps_each_last(collect_last, got);
    ASSERT_EQ(got[0], 3);
    ASSERT_EQ(got[1], 41);
    ASSERT_OK(ps_subscribe(h, &l, "g", 1, &a.ps, true, 40, &rp));
    ASSERT_EQ(rp.gap_from, 41);
    ASSERT_EQ(rp.gap_to, 41);
    ps_note_last(h, "g", 1, 45); /* the channel exists: brought up to 45 */
    ASSERT_TRUE(ps_channel_info(h, &l, "g", 1, &last, &subs, &hist));
    ASSERT_EQ(last, 45);
    ps_unsubscribe(h, &a.ps);

    /* The memory is bounded: past max(max_channels, 1024) freed
     * channels, the oldest are forgotten. */
    char name[16];
    for (int i = 0; i < 1100; i++) {
        int len = snprintf(name, sizeof(name), "t%d", i);
        ASSERT_OK(ps_publish(h, &l, name, (size_t)len, false, "x", 1, &id, &n));
    }
    got[0] = got[1] = 0;
    ps_each_last(collect_last, got);
    ASSERT_EQ(got[0], 0); /* "f" was among the oldest */
    ASSERT_OK(ps_publish(h, &l, "t1099", 5, false, "x", 1, &id, &n));
    ASSERT_EQ(id, 2);
    ps_hub_release(h);
    return 0;
}

TEST_IMPL(pubsub_ids_survive_free)
{
    ASSERT_OK(eddy_run(tombs_main, NULL));
    return 0;
}
