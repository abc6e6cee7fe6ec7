/* Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4). */
#include <string.h>

#include "websocket/ws.h"

const char *ws_close_text(int code)
{
    switch (code) {
#define XX(name, c, text)                                                                          \
    case c:                                                                                        \
        return text;
        WS_CLOSE_MAP(XX)
#undef XX
    }
    return NULL;
}

bool ws_close_error(int rc)
{
    return rc <= -1000 && rc >= -1015;
}

/* 1004 is reserved, 1005 and 1006 only report what happened locally and
 * 1015 is TLS's; 1012-1014 are IANA-registered since RFC 6455 and sent by
 * real servers (restart, try again, bad gateway); 3000-4999 belong to
 * libraries and applications. */
bool ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1014)
        return code != 1004 && code != 1005 && code != 1006;
    return code >= 3000 && code <= 4999;
}

int ws_close_parse(const void *buf, size_t n, uint16_t *code, const char **reason, size_t *rlen)
{
    const uint8_t *p = buf;

    *reason = NULL;
    *rlen = 0;
    if (n == 0) {
        *code = WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (n == 1)
        return -WS_CLOSE_PROTOCOL;
    *code = (uint16_t)(p[0] << 8 | p[1]);
    if (!ws_close_code_valid(*code))
        return -WS_CLOSE_PROTOCOL;
    if (!ws_utf8_valid(p + 2, n - 2))
        return -WS_CLOSE_INVALID_DATA;
    *reason = (const char *)p + 2;
    *rlen = n - 2;
    return 0;
}

size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason, size_t rlen)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (rlen > WS_CONTROL_MAX - 2) {
        /* Back up over continuation bytes so the cut stays valid UTF-8. */
        rlen = WS_CONTROL_MAX - 2;
        while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
            rlen--;
    }
    if (rlen)
        memcpy(out + 2, reason, rlen);
    return 2 + rlen;
}
