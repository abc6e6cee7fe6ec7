/* permessage-deflate: offer negotiation (RFC 7692 §5, §7.1) and message
 * compression with zlib, including the deflate bomb cap. */
#include <zlib.h>

#include "runner/runner.h"
#include "websocket/ws.h"

static int nego1(const char *offer, const ws_deflate_params_t *pref, ws_deflate_params_t *out,
                 char *resp)
{
    size_t len = strlen(offer);
    resp[0] = '\0';
    return ws_deflate_negotiate(&offer, &len, 1, pref, out, resp, WS_DEFLATE_RESP_MAX);
}

TEST_IMPL(ws_deflate_negotiate_basic)
{
    ws_deflate_params_t p;
    char r[WS_DEFLATE_RESP_MAX];
    ASSERT_EQ(nego1("permessage-deflate", NULL, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate");
    ASSERT_EQ(p.server_max_window_bits, 15);
    ASSERT_EQ(p.client_max_window_bits, 15);
    ASSERT_FALSE(p.server_no_context_takeover || p.client_no_context_takeover);
    ASSERT_EQ(nego1("permessage-deflate; client_max_window_bits", NULL, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate");
    ASSERT_EQ(nego1("x-webkit-deflate-frame, permessage-deflate ;server_no_context_takeover ;"
                    " client_no_context_takeover",
                    NULL, &p, r),
              1);
    ASSERT_STR_EQ(r, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    ASSERT_TRUE(p.server_no_context_takeover && p.client_no_context_takeover);
    ASSERT_EQ(nego1("x-webkit-deflate-frame", NULL, &p, r), 0);
    ASSERT_EQ(nego1("", NULL, &p, r), 0);
    /* The server's own preferences may be imposed. */
    ws_deflate_params_t pref = {true, false, 12, 10};
    ASSERT_EQ(nego1("permessage-deflate", &pref, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
    ASSERT_EQ(p.client_max_window_bits, 15); /* not offered: not ours to set */
    ASSERT_EQ(nego1("permessage-deflate; client_max_window_bits", &pref, &p, r), 1);
    ASSERT_EQ(p.client_max_window_bits, 10);
    ASSERT_STR_EQ(r, "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; "
                     "client_max_window_bits=10");
    char tiny[20];
    const char *o = "permessage-deflate";
    size_t olen = strlen(o);
    ASSERT_ERR(ws_deflate_negotiate(&o, &olen, 1, &pref, &p, tiny, sizeof(tiny)), UV_ENOBUFS);
    return 0;
}

TEST_IMPL(ws_deflate_negotiate_window_bits)
{
    ws_deflate_params_t p;
    char r[WS_DEFLATE_RESP_MAX];
    ws_deflate_params_t pref = {false, false, 11, 15};
    /* Never a larger server window than offered (§7.1.2.1). */
    ASSERT_EQ(nego1("permessage-deflate; server_max_window_bits=10", NULL, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate; server_max_window_bits=10");
    ASSERT_EQ(nego1("permessage-deflate; server_max_window_bits=13", &pref, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate; server_max_window_bits=11");
    ASSERT_EQ(nego1("permessage-deflate; server_max_window_bits=8", NULL, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate; server_max_window_bits=8");
    ASSERT_EQ(p.server_max_window_bits, 8);
    ASSERT_EQ(nego1("permessage-deflate; client_max_window_bits=\"9\"", NULL, &p, r), 1);
    ASSERT_STR_EQ(r, "permessage-deflate; client_max_window_bits=9");
    ASSERT_EQ(p.client_max_window_bits, 9);
    /* Values out of range, leading zeros, missing where required. */
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; client_max_window_bits=",
        "permessage-deflate; client_max_window_bits=1a",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; mystery",
        "permessage-deflate; client_max_window_bits=10 junk",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (nego1(bad[i], NULL, &p, r) != 0)
            TEST__FAIL("accepted: %s", bad[i]);
    return 0;
}

/* An undefined parameter declines its offer only (§5): a later offer, in
 * the same header or the next one, is still accepted. */
TEST_IMPL(ws_deflate_negotiate_fallback)
{
    ws_deflate_params_t p;
    char r[WS_DEFLATE_RESP_MAX];
    ASSERT_EQ(nego1("permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=7, "
                    "permessage-deflate; client_no_context_takeover",
                    NULL, &p, r),
              1);
    ASSERT_STR_EQ(r, "permessage-deflate; client_no_context_takeover");
    const char *vals[] = {"permessage-deflate; bar", "foo, permessage-deflate"};
    size_t lens[] = {strlen(vals[0]), strlen(vals[1])};
    ASSERT_EQ(ws_deflate_negotiate(vals, lens, 2, NULL, &p, r, sizeof(r)), 1);
    ASSERT_STR_EQ(r, "permessage-deflate");
    return 0;
}

/* The receiver's view of the sender's parameters. */
static void mirror(ws_deflate_t *rx, const ws_deflate_params_t *tx)
{
    ws_deflate_params_t p = {false, tx->server_no_context_takeover, 15, tx->server_max_window_bits};
    ws_deflate_init(rx, &p);
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    /* Text-like: words from a small set, so that LZ77 finds matches. */
    static const char *const words[] = {"pub ", "sub ", "channel ", "eddy ", "frame ", "x"};
    size_t i = 0;
    while (i < n) {
        seed = seed * 1103515245 + 12345;
        const char *w = words[(seed >> 16) % 6];
        for (; *w && i < n; w++)
            b[i++] = (uint8_t)*w;
    }
}

static size_t round_trip(ws_deflate_t *tx, ws_deflate_t *rx, const uint8_t *msg, size_t n,
                         size_t cut)
{
    ws_buf_t z = {0}, out = {0};
    ASSERT_OK(ws_deflate_message(tx, msg, n, &z));
    if (z.len >= 4)
        ASSERT_NE(memcmp(z.data + z.len - 4, "\x00\x00\xff\xff", 4), 0);
    if (cut > z.len)
        cut = z.len;
    ASSERT_OK(ws_inflate(rx, z.data, cut, false, n, &out));
    ASSERT_OK(ws_inflate(rx, z.data + cut, z.len - cut, true, n, &out));
    ASSERT_EQ(out.len, n);
    ASSERT_EQ(n ? memcmp(out.data, msg, n) : 0, 0);
    size_t zlen = z.len;
    free(z.data);
    free(out.data);
    return zlen;
}

TEST_IMPL(ws_deflate_round_trip)
{
    static uint8_t msg[20000];
    static const ws_deflate_params_t cases[] = {{false, false, 15, 15},
                                                {true, true, 15, 15},
                                                {false, false, 8, 15},
                                                {true, false, 9, 15},
                                                {false, false, 11, 15}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        ws_deflate_t tx, rx;
        ws_deflate_init(&tx, &cases[c]);
        mirror(&rx, &cases[c]);
        size_t sizes[] = {0, 1, 100, 5000, 5000, 20000, 0, 20000, 0};
        size_t first = 0, again = 0;
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            fill(msg, sizes[i], (unsigned)sizes[i]);
            size_t zlen = round_trip(&tx, &rx, msg, sizes[i], i * 37);
            first = i == 3 ? zlen : first;
            again = i == 4 ? zlen : again;
            ws_deflate_trim(&tx);
            ws_deflate_trim(&rx);
        }
        /* The same message again costs less only when context is kept
         * and the window reaches back over it (5000 bytes). */
        if (cases[c].server_no_context_takeover)
            ASSERT_EQ(again, first);
        else if (cases[c].server_max_window_bits >= 13)
            ASSERT_LT(again, first / 4);
        ASSERT_EQ(tx.zout == NULL, cases[c].server_no_context_takeover);
        ws_deflate_close(&tx);
        ws_deflate_close(&rx);
    }
    return 0;
}

/* A compressed message split at every byte inflates the same. */
TEST_IMPL(ws_deflate_fragments)
{
    uint8_t msg[3000];
    const ws_deflate_params_t p = {true, true, 15, 15};
    fill(msg, sizeof(msg), 7);
    ws_deflate_t tx, rx;
    ws_deflate_init(&tx, &p);
    mirror(&rx, &p);
    for (size_t cut = 0; cut < 400; cut++)
        round_trip(&tx, &rx, msg, sizeof(msg), cut);
    /* An empty message compresses to the single byte 00 (§7.2.3.6). */
    ws_buf_t z = {0};
    ASSERT_OK(ws_deflate_message(&tx, "", 0, &z));
    ASSERT_EQ(z.len, 1);
    ASSERT_EQ(z.data[0], 0);
    free(z.data);
    ws_deflate_close(&tx);
    ws_deflate_close(&rx);
    return 0;
}

TEST_IMPL(ws_deflate_bomb_capped)
{
    const size_t big = 64u << 20, max = 1u << 20;
    const ws_deflate_params_t p = {false, false, 15, 15};
    uint8_t *zeros = calloc(1, big);
    ws_deflate_t tx, rx;
    ws_buf_t z = {0}, out = {0};
    ASSERT_NOT_NULL(zeros);
    ws_deflate_init(&tx, &p);
    ASSERT_OK(ws_deflate_message(&tx, zeros, big, &z));
    free(zeros);
    ASSERT_LT(z.len, 128 * 1024);
    mirror(&rx, &p);
    /* Fed in fragments: fails once past max, having allocated max + 1. */
    int rc = 0;
    for (size_t off = 0; off < z.len && rc == 0; off += 1000) {
        size_t n = z.len - off < 1000 ? z.len - off : 1000;
        rc = ws_inflate(&rx, z.data + off, n, off + n == z.len, max, &out);
    }
    ASSERT_EQ(rc, -WS_CLOSE_TOO_BIG);
    ASSERT_LE(out.cap, max + 1);
    free(out.data);
    ws_deflate_close(&rx);
    /* Exactly max passes. */
    ws_buf_t z2 = {0};
    out = (ws_buf_t){0};
    uint8_t *m = calloc(1, max);
    ws_deflate_close(&tx);
    ws_deflate_init(&tx, &p);
    ASSERT_OK(ws_deflate_message(&tx, m, max, &z2));
    mirror(&rx, &p);
    ASSERT_OK(ws_inflate(&rx, z2.data, z2.len, true, max, &out));
    ASSERT_EQ(out.len, max);
    free(m);
    free(z2.data);
    free(z.data);
    free(out.data);
    ws_deflate_close(&rx);
    ws_deflate_close(&tx);
    return 0;
}

/* Compresses with a final block, as some peers do. */
static size_t finished(const char *s, uint8_t *out, size_t cap)
{
    z_stream zs = {0};
    ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)s;
    zs.avail_in = (uInt)strlen(s);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

TEST_IMPL(ws_deflate_bad_input)
{
    const ws_deflate_params_t p = {false, false, 15, 15};
    ws_deflate_t rx;
    ws_buf_t out = {0};
    uint8_t z[256];
    ws_deflate_init(&rx, &p);
    /* Block type 3 does not exist. */
    ASSERT_EQ(ws_inflate(&rx, "\xff\xff\xff", 3, true, 1000, &out), -WS_CLOSE_INVALID_DATA);
    ws_deflate_close(&rx);
    /* A final block ends the message's stream; the next message starts anew. */
    ws_deflate_init(&rx, &p);
    for (int i = 0; i < 2; i++) {
        size_t n = finished("hello hello hello", z, sizeof(z));
        out.len = 0;
        ASSERT_OK(ws_inflate(&rx, z, n, true, 1000, &out));
        ASSERT_EQ(out.len, 17);
        ASSERT_EQ(memcmp(out.data, "hello hello hello", 17), 0);
    }
    /* Bytes after the final block are invalid, in the same piece or later. */
    size_t n = finished("abc", z, sizeof(z));
    z[n] = 0x00;
    ASSERT_EQ(ws_inflate(&rx, z, n + 1, true, 1000, &out), -WS_CLOSE_INVALID_DATA);
    ws_deflate_close(&rx);
    ws_deflate_init(&rx, &p);
    ASSERT_OK(ws_inflate(&rx, z, n, false, 1000, &out));
    ASSERT_EQ(ws_inflate(&rx, "\x00", 1, true, 1000, &out), -WS_CLOSE_INVALID_DATA);
    free(out.data);
    ws_deflate_close(&rx);
    return 0;
}
