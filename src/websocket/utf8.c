/* Incremental UTF-8 validation for text messages and close reasons.  The
 * state is small enough to live in the connection, so a message split
 * over fragments is checked as it arrives and fails at its first bad byte
 * (RFC 6455 §8.1: fail fast) instead of after the whole message. */
#include <string.h>

#include "websocket/ws.h"

#define ASCII_MASK UINT64_C(0x8080808080808080)

void ws_utf8_init(ws_utf8_t *v)
{
    memset(v, 0, sizeof(*v));
}

/* A lead byte sets how many continuation bytes follow and the range of the
 * first one: the ranges exclude overlong forms (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..). */
static bool lead(ws_utf8_t *v, uint8_t b)
{
    v->lo = 0x80;
    v->hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        v->need = 1;
    else if (b >= 0xE0 && b <= 0xEF)
        v->need = 2;
    else if (b >= 0xF0 && b <= 0xF4)
        v->need = 3;
    else
        return false; /* 80..C1 (stray continuation, overlong 2-byte), F5..FF */
    if (b == 0xE0)
        v->lo = 0xA0;
    else if (b == 0xED)
        v->hi = 0x9F;
    else if (b == 0xF0)
        v->lo = 0x90;
    else if (b == 0xF4)
        v->hi = 0x8F;
    return true;
}

static bool step(ws_utf8_t *v, uint8_t b)
{
    if (v->need == 0)
        return b < 0x80 || lead(v, b);
    if (b < v->lo || b > v->hi)
        return false;
    v->need--;
    v->lo = 0x80;
    v->hi = 0xBF;
    return true;
}

/* Skips the ASCII run at p, 8 bytes at a time: most text is ASCII. */
static size_t ascii_run(const uint8_t *p, size_t n)
{
    size_t i = 0;
    uint64_t w;
    while (i + 8 <= n) {
        memcpy(&w, p + i, 8);
        if (w & ASCII_MASK)
            break;
        i += 8;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

int ws_utf8_feed(ws_utf8_t *v, const void *buf, size_t n, size_t *bad)
{
    const uint8_t *p = buf;
    size_t i = 0;

    if (v->failed) {
        if (bad)
            *bad = 0;
        return -WS_CLOSE_INVALID_DATA;
    }
    while (i < n) {
        if (v->need == 0) {
            i += ascii_run(p + i, n - i);
            if (i == n)
                break;
        }
        if (!step(v, p[i])) {
            v->failed = 1;
            if (bad)
                *bad = i;
            return -WS_CLOSE_INVALID_DATA;
        }
        i++;
    }
    return 0;
}

int ws_utf8_finish(ws_utf8_t *v)
{
    if (v->failed || v->need != 0) {
        v->failed = 1;
        return -WS_CLOSE_INVALID_DATA;
    }
    return 0;
}

bool ws_utf8_valid(const void *p, size_t n)
{
    ws_utf8_t v;
    ws_utf8_init(&v);
    return ws_utf8_feed(&v, p, n, NULL) == 0 && ws_utf8_finish(&v) == 0;
}
