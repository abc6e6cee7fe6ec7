/* WebSocket framing: header parse and its protocol errors, message
 * sequencing, unmasking, server headers and close payloads. */
#include "runner/runner.h"
#include "websocket/ws.h"

static const ws_frame_limits_t server = {0, true, 0};

static int parse(const char *bytes, size_t n, const ws_frame_limits_t *lim, ws_frame_t *f)
{
    return ws_frame_parse(f, bytes, n, lim);
}

#define PARSE(lit, lim, f) parse(lit, sizeof(lit) - 1, lim, f)

/* Every prefix of a header is "need more", the whole is its length. */
static void check_prefixes(const char *h, size_t n)
{
    ws_frame_t f;
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(parse(h, i, &server, &f), 0);
    ASSERT_EQ(parse(h, n, &server, &f), (int)n);
}

TEST_IMPL(ws_frame_parse_lengths)
{
    ws_frame_t f;
    ASSERT_EQ(PARSE("\x81\x85\x37\xfa\x21\x3d", &server, &f), 6);
    ASSERT_EQ(f.fin, 1);
    ASSERT_EQ(f.opcode, WS_OP_TEXT);
    ASSERT_EQ(f.masked, 1);
    ASSERT_EQ(f.len, 5);
    ASSERT_EQ(f.mask[0], 0x37);
    ASSERT_EQ(f.mask[3], 0x3d);
    check_prefixes("\x81\x85\x37\xfa\x21\x3d", 6);
    ASSERT_EQ(PARSE("\x02\xfe\x01\x00"
                    "abcd",
                    &server, &f),
              8);
    ASSERT_EQ(f.fin, 0);
    ASSERT_EQ(f.len, 256);
    check_prefixes("\x02\xfe\x01\x00"
                   "abcd",
                   8);
    ASSERT_EQ(PARSE("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00"
                    "abcd",
                    &server, &f),
              14);
    ASSERT_EQ(f.len, UINT64_C(1) << 32);
    check_prefixes("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00"
                   "abcd",
                   14);
    return 0;
}

TEST_IMPL(ws_frame_parse_bad_lengths)
{
    ws_frame_t f;
    /* Non-minimal encodings and the 64-bit length's top bit. */
    ASSERT_EQ(PARSE("\x82\xfe\x00\x7d"
                    "abcd",
                    &server, &f),
              -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\x82\xff\x00\x00\x00\x00\x00\x00\xff\xff"
                    "abcd",
                    &server, &f),
              -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00"
                    "abcd",
                    &server, &f),
              -WS_CLOSE_PROTOCOL);
    /* Over the limit: 1009 from the header, before any payload. */
    ws_frame_limits_t lim = {0, true, 1000};
    ASSERT_EQ(PARSE("\x82\xfe\x03\xe8"
                    "abcd",
                    &lim, &f),
              8);
    ASSERT_EQ(PARSE("\x82\xfe\x03\xe9"
                    "abcd",
                    &lim, &f),
              -WS_CLOSE_TOO_BIG);
    return 0;
}

TEST_IMPL(ws_frame_parse_rules)
{
    ws_frame_t f;
    ws_frame_limits_t deflate = {WS_RSV1, true, 0};
    /* Reserved bits without an extension; RSV1 only once negotiated. */
    ASSERT_EQ(PARSE("\xc1\x80", &server, &f), -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\xa1\x80", &server, &f), -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\x91\x80", &server, &f), -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\xc1\x80\0\0\0\0", &deflate, &f), 6);
    ASSERT_EQ(f.rsv, WS_RSV1);
    ASSERT_EQ(PARSE("\xa1\x80", &deflate, &f), -WS_CLOSE_PROTOCOL);
    /* Reserved opcodes, decided from the first byte alone. */
    for (int op = 0; op < 16; op++) {
        char h[6] = {(char)(0x80 | op), (char)0x80, 0, 0, 0, 0};
        bool known = op <= 2 || (op >= 8 && op <= 10);
        ASSERT_EQ(parse(h, known ? 6 : 2, &server, &f), known ? 6 : -WS_CLOSE_PROTOCOL);
    }
    /* Control frames: no fragments, <= 125 bytes, never compressed. */
    ASSERT_EQ(PARSE("\x09\x80", &server, &f), -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\x89\xfd\0\0\0\0", &server, &f), 6);
    ASSERT_EQ(PARSE("\x89\xfe", &server, &f), -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\x88\xfe", &server, &f), -WS_CLOSE_PROTOCOL);
    ASSERT_EQ(PARSE("\xc9\x80", &deflate, &f), -WS_CLOSE_PROTOCOL);
    /* Client frames must be masked; a client parsing server frames may not. */
    ASSERT_EQ(PARSE("\x81\x05", &server, &f), -WS_CLOSE_PROTOCOL);
    ws_frame_limits_t client = {0, false, 0};
    ASSERT_EQ(PARSE("\x81\x05", &client, &f), 2);
    ASSERT_EQ(f.masked, 0);
    return 0;
}

static ws_frame_t fr(bool fin, int op, uint8_t rsv)
{
    ws_frame_t f = {.fin = fin, .opcode = (uint8_t)op, .rsv = rsv, .masked = 1};
    return f;
}

TEST_IMPL(ws_frame_message_sequence)
{
    ws_msgseq_t s = {0};
    ws_frame_t f;
    /* A continuation with nothing to continue. */
    f = fr(1, WS_OP_CONT, 0);
    ASSERT_EQ(ws_msgseq_next(&s, &f), -WS_CLOSE_PROTOCOL);
    /* Fragments with control frames between them. */
    f = fr(0, WS_OP_TEXT, WS_RSV1);
    ASSERT_OK(ws_msgseq_next(&s, &f));
    ASSERT_EQ(s.opcode, WS_OP_TEXT);
    ASSERT_EQ(s.rsv1, 1);
    f = fr(1, WS_OP_PING, 0);
    ASSERT_OK(ws_msgseq_next(&s, &f));
    f = fr(0, WS_OP_CONT, 0);
    ASSERT_OK(ws_msgseq_next(&s, &f));
    f = fr(1, WS_OP_PONG, 0);
    ASSERT_OK(ws_msgseq_next(&s, &f));
    /* A new data frame inside the fragmented message. */
    ws_msgseq_t s2 = s;
    f = fr(1, WS_OP_BINARY, 0);
    ASSERT_EQ(ws_msgseq_next(&s2, &f), -WS_CLOSE_PROTOCOL);
    /* RSV1 belongs to the first frame only. */
    s2 = s;
    f = fr(1, WS_OP_CONT, WS_RSV1);
    ASSERT_EQ(ws_msgseq_next(&s2, &f), -WS_CLOSE_PROTOCOL);
    f = fr(1, WS_OP_CONT, 0);
    ASSERT_OK(ws_msgseq_next(&s, &f));
    ASSERT_EQ(s.in_message, 0);
    ASSERT_EQ(ws_msgseq_next(&s, &f), -WS_CLOSE_PROTOCOL);
    f = fr(1, WS_OP_BINARY, 0);
    ASSERT_OK(ws_msgseq_next(&s, &f));
    ASSERT_EQ(s.rsv1, 0);
    return 0;
}

/* Against the byte-at-a-time definition, at every offset and length, in
 * one piece and in two. */
TEST_IMPL(ws_frame_unmask)
{
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    uint8_t ref[80], a[80], b[80];
    for (size_t i = 0; i < sizeof(ref); i++)
        ref[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n <= 70; n++) {
        for (uint64_t off = 0; off < 8; off++) {
            memcpy(a, ref, n);
            ws_unmask(a, n, mask, off);
            for (size_t i = 0; i < n; i++)
                ASSERT_EQ(a[i], ref[i] ^ mask[(off + i) & 3]);
            for (size_t cut = 0; cut <= n; cut++) {
                memcpy(b, ref, n);
                ws_unmask(b, cut, mask, off);
                ws_unmask(b + cut, n - cut, mask, off + cut);
                ASSERT_EQ(memcmp(a, b, n), 0);
            }
        }
    }
    return 0;
}

TEST_IMPL(ws_frame_header_write)
{
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, UINT64_C(1) << 40};
    static const size_t sizes[] = {2, 2, 2, 4, 4, 4, 10, 10};
    const ws_frame_limits_t client = {WS_RSV1, false, 0};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t h[10];
        ws_frame_t f;
        size_t n = ws_frame_header_write(h, i & 1, (i & 2) ? WS_RSV1 : 0, WS_OP_BINARY, lens[i]);
        ASSERT_EQ(n, sizes[i]);
        ASSERT_EQ(ws_frame_parse(&f, h, n, &client), (int)n);
        ASSERT_EQ(f.len, lens[i]);
        ASSERT_EQ(f.fin, i & 1);
        ASSERT_EQ(f.rsv, (i & 2) ? WS_RSV1 : 0);
        ASSERT_EQ(f.opcode, WS_OP_BINARY);
        ASSERT_EQ(f.masked, 0);
    }
    return 0;
}

TEST_IMPL(ws_frame_close_payload)
{
    uint16_t code = 0;
    const char *reason;
    size_t rlen;
    ASSERT_OK(ws_close_parse("", 0, &code, &reason, &rlen));
    ASSERT_EQ(code, WS_CLOSE_NO_STATUS);
    ASSERT_EQ(ws_close_parse("\x03", 1, &code, &reason, &rlen), -WS_CLOSE_PROTOCOL);
    ASSERT_OK(ws_close_parse("\x03\xe8"
                             "bye",
                             5, &code, &reason, &rlen));
    ASSERT_EQ(code, 1000);
    ASSERT_EQ(rlen, 3);
    ASSERT_EQ(memcmp(reason, "bye", 3), 0);
    ASSERT_EQ(ws_close_parse("\x03\xe8\xce\xba\xe1\xbd", 6, &code, &reason, &rlen),
              -WS_CLOSE_INVALID_DATA);
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                  1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned bad[] = {0,    999,  1004, 1005, 1006, 1015,
                                   1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint8_t p[2] = {(uint8_t)(ok[i] >> 8), (uint8_t)ok[i]};
        ASSERT_OK(ws_close_parse(p, 2, &code, &reason, &rlen));
        ASSERT_EQ(code, ok[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t p[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        ASSERT_EQ(ws_close_parse(p, 2, &code, &reason, &rlen), -WS_CLOSE_PROTOCOL);
    }
    return 0;
}

TEST_IMPL(ws_frame_close_build)
{
    uint8_t out[WS_CONTROL_MAX];
    char reason[200];
    uint16_t code;
    const char *r;
    size_t rlen;
    ASSERT_EQ(ws_close_payload(out, 1001, "going", 5), 7);
    ASSERT_EQ(out[0], 0x03);
    ASSERT_EQ(out[1], 0xe9);
    /* A long reason of 2-byte characters is cut on a character boundary. */
    for (size_t i = 0; i < sizeof(reason); i += 2)
        memcpy(reason + i, "\xc3\xa9", 2);
    size_t n = ws_close_payload(out, 1008, reason, sizeof(reason));
    ASSERT_EQ(n, 124);
    ASSERT_OK(ws_close_parse(out, n, &code, &r, &rlen));
    ASSERT_EQ(code, 1008);
    ASSERT_STR_EQ(ws_close_text(1009), "message too big");
    ASSERT_NULL(ws_close_text(4000));
    ASSERT_TRUE(ws_close_error(-WS_CLOSE_PROTOCOL));
    ASSERT_FALSE(ws_close_error(UV_ENOMEM));
    ASSERT_FALSE(ws_close_error(UV_EOF));
    return 0;
}
