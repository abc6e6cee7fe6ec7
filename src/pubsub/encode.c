/* The encodings of a message that subscribers share: the JSON object of
 * the eddy.pubsub.v1 subprotocol and a Server-Sent Events record. */
#include "config.h"

#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pubsub/pubsub.h"

static int put_str(ws_buf_t *b, const char *s)
{
    return ws_buf_append(b, s, strlen(s));
}

static int put_u64(ws_buf_t *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
    return ws_buf_append(b, t, (size_t)n);
}

/* Base64 of the payload (binary messages in text encodings). */
static int put_b64(ws_buf_t *b, const uint8_t *p, size_t n)
{
    size_t out = BASE64_ENCODE_RAW_LENGTH(n);
    if (ws_buf_reserve(b, out) < 0)
        return UV_ENOMEM;
    base64_encode_raw((char *)b->data + b->len, n, p);
    b->len += out;
    return 0;
}

/* A JSON string's contents: valid UTF-8 in, control characters, quote
 * and backslash escaped. */
static int put_json_text(ws_buf_t *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (ws_buf_reserve(b, n + n / 8 + 8) < 0)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        char esc[6];
        size_t el = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, el = 2;
        } else if (c == '\n') {
            esc[0] = '\\', esc[1] = 'n', el = 2;
        } else if (c == '\r') {
            esc[0] = '\\', esc[1] = 'r', el = 2;
        } else if (c == '\t') {
            esc[0] = '\\', esc[1] = 't', el = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15], el = 6;
        }
        if (el == 0) {
            if (ws_buf_reserve(b, 1) < 0)
                return UV_ENOMEM;
            b->data[b->len++] = c;
        } else if (ws_buf_append(b, esc, el) < 0) {
            return UV_ENOMEM;
        }
    }
    return 0;
}

int ps_encode_json(const ps_msg_t *m, ws_buf_t *b)
{
    int rc = put_str(b, "{\"id\":");
    rc = rc ? rc : put_u64(b, m->id);
    rc = rc ? rc : put_str(b, m->binary ? ",\"b64\":\"" : ",\"data\":\"");
    rc = rc ? rc : (m->binary ? put_b64(b, m->data, m->len) : put_json_text(b, m->data, m->len));
    rc = rc ? rc : put_str(b, "\"}");
    return rc;
}

int ps_encode_gap_json(uint64_t from, uint64_t to, ws_buf_t *b)
{
    int rc = put_str(b, "{\"gap\":{\"from\":");
    rc = rc ? rc : put_u64(b, from);
    rc = rc ? rc : put_str(b, ",\"to\":");
    rc = rc ? rc : put_u64(b, to);
    rc = rc ? rc : put_str(b, "}}");
    return rc;
}

/* One data: line per line of the payload; CR, LF and CRLF all end lines
 * in an event stream, so each starts a new data: line. */
static int put_data_lines(ws_buf_t *b, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && p[j] != '\n' && p[j] != '\r')
            j++;
        int rc = put_str(b, "data: ");
        rc = rc ? rc : ws_buf_append(b, p + i, j - i);
        rc = rc ? rc : put_str(b, "\n");
        if (rc || j == n)
            return rc;
        /* "a\n" is two lines, "a" and "": the reader joins them with \n. */
        i = j + (p[j] == '\r' && j + 1 < n && p[j + 1] == '\n' ? 2 : 1);
    }
}

int ps_encode_sse(const ps_msg_t *m, ws_buf_t *b)
{
    int rc = put_str(b, "id: ");
    rc = rc ? rc : put_u64(b, m->id);
    rc = rc ? rc : put_str(b, "\n");
    if (m->binary) {
        rc = rc ? rc : put_str(b, "event: binary\ndata: ");
        rc = rc ? rc : put_b64(b, m->data, m->len);
        rc = rc ? rc : put_str(b, "\n");
    } else {
        rc = rc ? rc : put_data_lines(b, m->data, m->len);
    }
    rc = rc ? rc : put_str(b, "\n");
    return rc;
}

int ps_encode_gap_sse(uint64_t from, uint64_t to, ws_buf_t *b)
{
    int rc = put_str(b, "event: gap\ndata: {\"from\":");
    rc = rc ? rc : put_u64(b, from);
    rc = rc ? rc : put_str(b, ",\"to\":");
    rc = rc ? rc : put_u64(b, to);
    rc = rc ? rc : put_str(b, "}\n\n");
    return rc;
}
