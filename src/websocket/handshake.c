/* The server's side of the opening handshake (RFC 6455 §4.2): request
 * validation, Sec-WebSocket-Accept, subprotocol selection and the Origin
 * check.  SHA-1 comes from nettle, the crypto library Debian keeps. */
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>
#include <strings.h>

#include "websocket/ws.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool name_is(const http_header_t *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

size_t ws_header_values(const http_request_t *req, const char *name, const char **vals,
                        size_t *lens, size_t max)
{
    size_t count = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header_t *h = &req->headers[i];
        if (!name_is(h, name))
            continue;
        if (count < max) {
            vals[count] = h->value;
            lens[count] = h->value_len;
        }
        count++;
    }
    return count;
}

/* Steps over one element of a comma list: *tok and *tlen give the element with
 * surrounding whitespace trimmed; returns the position after its comma. */
static size_t next_item(const char *v, size_t n, size_t i, const char **tok, size_t *tlen)
{
    size_t end = i;
    while (end < n && v[end] != ',')
        end++;
    size_t a = i, b = end;
    while (a < b && is_ows(v[a]))
        a++;
    while (b > a && is_ows(v[b - 1]))
        b--;
    *tok = v + a;
    *tlen = b - a;
    return end < n ? end + 1 : end;
}

bool ws_header_has_token(const char *v, size_t n, const char *token)
{
    size_t want = strlen(token), tlen;
    const char *tok;
    for (size_t i = 0; i < n;) {
        i = next_item(v, n, i, &tok, &tlen);
        if (tlen == want && strncasecmp(tok, token, want) == 0)
            return true;
    }
    return false;
}

/* Whether any header called name holds token (headers may repeat). */
static bool any_has_token(const http_request_t *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const http_header_t *h = &req->headers[i];
        if (name_is(h, name) && ws_header_has_token(h->value, h->value_len, token))
            return true;
    }
    return false;
}

/* The one value of a header that must appear exactly once. */
static bool single(const http_request_t *req, const char *name, const char **v, size_t *n)
{
    return ws_header_values(req, name, v, n, 1) == 1;
}

/* A key is base64 of 16 bytes: 22 alphabet characters and "==" (§4.1). */
static bool key_valid(const char *k, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (k[i] == '\0' || !strchr(alphabet, k[i]))
            return false;
    /* The last character carries 2 data bits: the 4 padding bits are 0. */
    return (strchr(alphabet, k[21]) - alphabet) % 16 == 0;
}

void ws_accept_key(const char *key, size_t len, char out[29])
{
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];

    sha1_init(&ctx);
    sha1_update(&ctx, len, (const uint8_t *)key);
    sha1_update(&ctx, sizeof(GUID) - 1, (const uint8_t *)GUID);
    sha1_digest(&ctx, sizeof(digest), digest);
    base64_encode_raw(out, sizeof(digest), digest);
    out[28] = '\0';
}

int ws_subprotocol_select(const http_request_t *req, const char *const *protocols, size_t n)
{
    for (size_t p = 0; p < n; p++)
        if (any_has_token(req, "Sec-WebSocket-Protocol", protocols[p]))
            return (int)p;
    return -1;
}

bool ws_origin_allowed(const char *origin, size_t n, const char *const *list, size_t count)
{
    if (list == NULL || count == 0)
        return true;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(list[i], "*") == 0)
            return true;
        /* Origins are case-insensitive ASCII (RFC 6454 §6.2 lowercases). */
        if (origin && strlen(list[i]) == n && strncasecmp(origin, list[i], n) == 0)
            return true;
    }
    return false;
}

/* The request line and the headers that make it an upgrade. */
static bool upgrade_valid(const http_request_t *req)
{
    const char *v;
    size_t n;
    if (req->method_len != 3 || memcmp(req->method_name, "GET", 3) != 0)
        return false;
    if (req->version_minor < 1 || !single(req, "Host", &v, &n))
        return false;
    return any_has_token(req, "Upgrade", "websocket") &&
           any_has_token(req, "Connection", "upgrade");
}

int ws_handshake_check(const http_request_t *req, const ws_accept_policy_t *pol, ws_handshake_t *hs)
{
    const char *v = NULL;
    size_t n = 0;

    if (!upgrade_valid(req))
        return 400;
    if (!single(req, "Sec-WebSocket-Version", &v, &n) || n != 2 || memcmp(v, "13", 2) != 0)
        return 426;
    if (!single(req, "Sec-WebSocket-Key", &v, &n) || !key_valid(v, n))
        return 400;
    ws_accept_key(v, n, hs->accept);
    if (pol && pol->norigins) {
        const char *o = NULL;
        size_t olen = 0;
        /* A browser always sends Origin, so a list admits none without it. */
        bool has = single(req, "Origin", &o, &olen);
        if (!ws_origin_allowed(has ? o : NULL, olen, pol->origins, pol->norigins))
            return 403;
    }
    hs->protocol = pol ? ws_subprotocol_select(req, pol->protocols, pol->nprotocols) : -1;
    return 0;
}
