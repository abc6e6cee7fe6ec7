/* permessage-deflate payloads (RFC 7692 §7.2) with zlib raw streams.  A
 * message is one deflate stream cut by a sync flush: the sender strips the
 * flush's 00 00 ff ff tail and the receiver puts it back.  Inflated output
 * only grows as zlib really produces it and stops one byte past the limit,
 * so a deflate bomb costs at most the message limit, never its size. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "websocket/ws.h"

static const uint8_t TAIL[4] = {0x00, 0x00, 0xff, 0xff};

void ws_deflate_init(ws_deflate_t *d, const ws_deflate_params_t *p)
{
    d->p = *p;
    d->zin = d->zout = NULL;
    d->zin_ended = false;
}

static void end_in(ws_deflate_t *d)
{
    if (d->zin) {
        inflateEnd(d->zin);
        free(d->zin);
        d->zin = NULL;
    }
}

static void end_out(ws_deflate_t *d)
{
    if (d->zout) {
        deflateEnd(d->zout);
        free(d->zout);
        d->zout = NULL;
    }
}

void ws_deflate_close(ws_deflate_t *d)
{
    end_in(d);
    end_out(d);
}

void ws_deflate_trim(ws_deflate_t *d)
{
    if (d->p.client_no_context_takeover)
        end_in(d);
    if (d->p.server_no_context_takeover)
        end_out(d);
}

/* Grows b to at least want bytes, doubling, but never past limit. */
static int buf_grow(ws_buf_t *b, size_t want, size_t limit)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want && cap < limit)
        cap = cap > limit / 2 ? limit : cap * 2;
    if (cap > limit)
        cap = limit;
    if (cap <= b->cap)
        return 0;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return UV_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int start_inflate(ws_deflate_t *d)
{
    z_stream *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return UV_ENOMEM;
    if (inflateInit2(z, -d->p.client_max_window_bits) != Z_OK) {
        free(z);
        return UV_ENOMEM;
    }
    d->zin = z;
    return 0;
}

/* Inflates what z holds onto out until the input is used up.  limit is
 * max + 1: reaching it proves the message too big. */
static int inflate_some(z_stream *z, size_t limit, ws_buf_t *out, bool *ended)
{
    for (;;) {
        if (out->len == out->cap) {
            if (out->cap >= limit)
                return -WS_CLOSE_TOO_BIG;
            if (buf_grow(out, out->cap + 1, limit) < 0)
                return UV_ENOMEM;
        }
        size_t room = out->cap - out->len;
        z->next_out = out->data + out->len;
        z->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt before = z->avail_out;
        int zr = inflate(z, Z_SYNC_FLUSH);
        out->len += before - z->avail_out;
        if (zr == Z_STREAM_END) {
            *ended = true;
            return out->len >= limit ? -WS_CLOSE_TOO_BIG : 0;
        }
        if (zr == Z_MEM_ERROR)
            return UV_ENOMEM;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return -WS_CLOSE_INVALID_DATA;
        if (zr == Z_BUF_ERROR && z->avail_out != 0)
            return 0; /* no progress possible: all input consumed */
        if (out->len >= limit)
            return -WS_CLOSE_TOO_BIG;
        /* Done when zlib has all input and still had room to spare. */
        if (z->avail_in == 0 && z->avail_out != 0)
            return 0;
    }
}

/* Feeds n bytes in pieces zlib's 32-bit counters can take. */
static int feed(z_stream *z, const uint8_t *in, size_t n, size_t limit, ws_buf_t *out, bool *ended)
{
    do {
        size_t piece = n > UINT_MAX ? UINT_MAX : n;
        z->next_in = (Bytef *)in;
        z->avail_in = (uInt)piece;
        int rc = inflate_some(z, limit, out, ended);
        if (rc < 0)
            return rc;
        /* Bytes after a final block belong to no stream. */
        if (*ended)
            return z->avail_in != 0 || piece < n ? -WS_CLOSE_INVALID_DATA : 0;
        in += piece;
        n -= piece;
    } while (n > 0);
    return 0;
}

int ws_inflate(ws_deflate_t *d, const void *in, size_t n, bool fin, size_t max, ws_buf_t *out)
{
    size_t limit = max < SIZE_MAX ? max + 1 : SIZE_MAX;
    bool ended = d->zin_ended;
    int rc = 0;

    if (d->zin == NULL && (rc = start_inflate(d)) < 0)
        return rc;
    if (ended && n > 0)
        return -WS_CLOSE_INVALID_DATA;
    if (!ended)
        rc = feed(d->zin, in, n, limit, out, &ended);
    if (rc == 0 && fin && !ended)
        rc = feed(d->zin, TAIL, sizeof(TAIL), limit, out, &ended);
    d->zin_ended = ended;
    /* A final block ends the stream: the next message needs a fresh one,
     * as does every message without context takeover. */
    if (rc == 0 && fin && (ended || d->p.client_no_context_takeover)) {
        inflateReset(d->zin);
        d->zin_ended = false;
    }
    return rc;
}

/* zlib cannot make a raw 8-bit window and silently uses 9 for zlib
 * streams only; a 9-bit window's matches reach at most 512 - 262 = 250
 * bytes back (MAX_DIST), which a peer's 256-byte window still covers. */
static int start_deflate(ws_deflate_t *d)
{
    int bits = d->p.server_max_window_bits < 9 ? 9 : d->p.server_max_window_bits;
    z_stream *z = calloc(1, sizeof(*z));
    if (z == NULL)
        return UV_ENOMEM;
    if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return UV_ENOMEM;
    }
    d->zout = z;
    return 0;
}

static int deflate_all(z_stream *z, ws_buf_t *out)
{
    for (;;) {
        if (out->len == out->cap && buf_grow(out, out->cap + 1, SIZE_MAX) < 0)
            return UV_ENOMEM;
        size_t room = out->cap - out->len;
        z->next_out = out->data + out->len;
        z->avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt before = z->avail_out;
        int zr = deflate(z, Z_SYNC_FLUSH);
        out->len += before - z->avail_out;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return UV_ENOMEM;
        /* A sync flush is complete once deflate leaves room unused. */
        if (z->avail_in == 0 && z->avail_out != 0)
            return 0;
    }
}

int ws_deflate_message(ws_deflate_t *d, const void *in, size_t n, ws_buf_t *out)
{
    const uint8_t *p = in;
    size_t start = out->len;
    int rc;

    /* A second sync flush with no input makes zlib emit nothing, so an
     * empty message is the empty stored block's first byte (§7.2.3.6):
     * the stream itself is already at a byte boundary. */
    if (n == 0) {
        if (buf_grow(out, out->len + 1, SIZE_MAX) < 0)
            return UV_ENOMEM;
        out->data[out->len++] = 0x00;
        return 0;
    }
    if (d->zout == NULL && (rc = start_deflate(d)) < 0)
        return rc;
    z_stream *z = d->zout;
    if (buf_grow(out, out->len + deflateBound(z, n > ULONG_MAX ? ULONG_MAX : n) + 16, SIZE_MAX) < 0)
        return UV_ENOMEM;
    do {
        size_t piece = n > UINT_MAX ? UINT_MAX : n;
        z->next_in = (Bytef *)p;
        z->avail_in = (uInt)piece;
        if ((rc = deflate_all(z, out)) < 0)
            return rc;
        p += piece;
        n -= piece;
    } while (n > 0);
    if (out->len - start >= 4 && memcmp(out->data + out->len - 4, TAIL, 4) == 0)
        out->len -= 4;
    if (d->p.server_no_context_takeover)
        deflateReset(z);
    return 0;
}
