/* WebSocket UTF-8 validation: Markus Kuhn's decoder stress cases, every
 * split of every sequence across fragments, and the ASCII fast path. */
#include "runner/runner.h"
#include "websocket/ws.h"

typedef struct sample {
    const char *bytes;
    size_t len;
} sample_t;

#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

/* Valid: boundaries of each length, noncharacters, mixed text. */
static const sample_t valid[] = {
    S(""),
    S("\x00"),
    S("\x7f"),
    S("\xc2\x80"),
    S("\xdf\xbf"),
    S("\xe0\xa0\x80"),
    S("\xef\xbf\xbf"),
    S("\xed\x9f\xbf"),
    S("\xee\x80\x80"),
    S("\xef\xbf\xbd"),
    S("\xef\xbf\xbe"),
    S("\xf0\x90\x80\x80"),
    S("\xf4\x8f\xbf\xbf"),
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), /* kosme */
    S("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"),
};

/* Invalid, each failing at (or before the end of) the bytes given. */
static const sample_t invalid[] = {
    /* Unexpected continuation bytes. */
    S("\x80"),
    S("\xbf"),
    S("\x80\xbf"),
    S("\x80\xbf\x80"),
    /* Lonely start bytes. */
    S("\xc0\x20"),
    S("\xdf\x20"),
    S("\xe0\x20"),
    S("\xef\x20"),
    S("\xf0\x20"),
    S("\xf7\x20"),
    S("\xf8\x20"),
    S("\xfc\x20"),
    /* Last continuation byte missing (at message end). */
    S("\xc2"),
    S("\xe0\xa0"),
    S("\xf0\x90\x80"),
    S("\xdf"),
    S("\xef\xbf"),
    S("\xf4\x8f\xbf"),
    S("\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41"),
    /* Impossible bytes. */
    S("\xfe"),
    S("\xff"),
    S("\xfe\xfe\xff\xff"),
    /* Overlong forms, including the maximal ones and NUL. */
    S("\xc0\xaf"),
    S("\xe0\x80\xaf"),
    S("\xf0\x80\x80\xaf"),
    S("\xf8\x80\x80\x80\xaf"),
    S("\xfc\x80\x80\x80\x80\xaf"),
    S("\xc1\xbf"),
    S("\xe0\x9f\xbf"),
    S("\xf0\x8f\xbf\xbf"),
    S("\xc0\x80"),
    S("\xe0\x80\x80"),
    S("\xf0\x80\x80\x80"),
    /* UTF-16 surrogates, single and paired. */
    S("\xed\xa0\x80"),
    S("\xed\xad\xbf"),
    S("\xed\xae\x80"),
    S("\xed\xaf\xbf"),
    S("\xed\xb0\x80"),
    S("\xed\xbe\x80"),
    S("\xed\xbf\xbf"),
    S("\xed\xa0\x80\xed\xb0\x80"),
    /* Beyond U+10FFFF. */
    S("\xf4\x90\x80\x80"),
    S("\xf5\x80\x80\x80"),
    S("\xf7\xbf\xbf\xbf"),
    /* The kosme text with a bad byte in the middle. */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64"),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Validates buf fed in up to three pieces cut at i <= j. */
static int fed_in_pieces(const char *buf, size_t n, size_t i, size_t j)
{
    ws_utf8_t v;
    ws_utf8_init(&v);
    if (ws_utf8_feed(&v, buf, i, NULL) < 0)
        return -1;
    if (ws_utf8_feed(&v, buf + i, j - i, NULL) < 0)
        return -1;
    if (ws_utf8_feed(&v, buf + j, n - j, NULL) < 0)
        return -1;
    return ws_utf8_finish(&v) < 0 ? -1 : 0;
}

/* Each sample between ASCII neighbours, cut at every pair of positions. */
static void check_all_splits(const sample_t *s, int expected)
{
    char buf[64];
    size_t n = s->len + 2;
    buf[0] = 'a';
    memcpy(buf + 1, s->bytes, s->len);
    buf[n - 1] = 'z';
    ASSERT_EQ(ws_utf8_valid(buf, n), expected == 0);
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i; j <= n; j++)
            if (fed_in_pieces(buf, n, i, j) != expected)
                TEST__FAIL("sample %02x.. (%zu bytes) split at %zu,%zu: got %d",
                           (uint8_t)s->bytes[0], s->len, i, j, -expected - 1);
}

TEST_IMPL(ws_utf8_kuhn_valid)
{
    for (size_t k = 0; k < COUNT(valid); k++) {
        ASSERT_TRUE(ws_utf8_valid(valid[k].bytes, valid[k].len));
        check_all_splits(&valid[k], 0);
    }
    return 0;
}

TEST_IMPL(ws_utf8_kuhn_invalid)
{
    for (size_t k = 0; k < COUNT(invalid); k++) {
        /* At message end the truncated ones fail too, not only in the middle. */
        if (ws_utf8_valid(invalid[k].bytes, invalid[k].len))
            TEST__FAIL("invalid sample %zu accepted", k);
        check_all_splits(&invalid[k], -1);
    }
    return 0;
}

/* Fails at the first bad byte, and reports where, at any alignment of the
 * 8-byte ASCII path. */
TEST_IMPL(ws_utf8_fails_at_first_bad_byte)
{
    char buf[80];
    memset(buf, 'x', sizeof(buf));
    for (size_t pos = 0; pos < 64; pos++) {
        ws_utf8_t v;
        size_t bad = 999;
        memset(buf, 'x', sizeof(buf));
        /* A valid 2-byte sequence ahead, then an overlong E0 80. */
        if (pos >= 3)
            memcpy(buf + pos - 3, "\xc3\xa9", 2);
        buf[pos] = (char)0xe0;
        buf[pos + 1] = (char)0x80;
        ws_utf8_init(&v);
        ASSERT_EQ(ws_utf8_feed(&v, buf, sizeof(buf), &bad), -WS_CLOSE_INVALID_DATA);
        ASSERT_EQ(bad, pos + 1);
        /* Sticky: nothing more is accepted. */
        ASSERT_EQ(ws_utf8_feed(&v, "ok", 2, NULL), -WS_CLOSE_INVALID_DATA);
        ASSERT_EQ(ws_utf8_finish(&v), -WS_CLOSE_INVALID_DATA);
    }
    return 0;
}

/* Truncation is only an error at the message end, and is caught there. */
TEST_IMPL(ws_utf8_truncated_at_end)
{
    ws_utf8_t v;
    ws_utf8_init(&v);
    ASSERT_OK(ws_utf8_feed(&v, "abc\xf0\x9f", 5, NULL));
    ASSERT_EQ(ws_utf8_finish(&v), -WS_CLOSE_INVALID_DATA);
    ws_utf8_init(&v);
    ASSERT_OK(ws_utf8_feed(&v, "abc\xf0\x9f", 5, NULL));
    ASSERT_OK(ws_utf8_feed(&v, "\x98\x80", 2, NULL)); /* U+1F600 */
    ASSERT_OK(ws_utf8_finish(&v));
    return 0;
}

/* Every code point's encoding (surrogates aside) passes, byte by byte. */
TEST_IMPL(ws_utf8_every_code_point)
{
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x800 ? 1 : 7)) {
        uint8_t b[4];
        size_t n;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        if (cp < 0x80) {
            b[0] = (uint8_t)cp, n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xE0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 4;
        }
        ws_utf8_t v;
        ws_utf8_init(&v);
        for (size_t i = 0; i < n; i++)
            ASSERT_OK(ws_utf8_feed(&v, b + i, 1, NULL));
        ASSERT_OK(ws_utf8_finish(&v));
    }
    return 0;
}
