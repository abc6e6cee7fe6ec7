/* Growable byte buffers (ws_buf_t): messages being reassembled, corked
 * frames, encodings being built. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "websocket/ws.h"

int ws_buf_reserve(ws_buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL)
        return UV_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int ws_buf_append(ws_buf_t *b, const void *p, size_t n)
{
    if (ws_buf_reserve(b, n) < 0)
        return UV_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}
