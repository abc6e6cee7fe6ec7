/* WebSocket opening handshake: validation and its statuses, the accept
 * key, subprotocol selection and the Origin check. */
#include "runner/runner.h"
#include "websocket/ws.h"

#define MAXH 16

typedef struct req {
    http_request_t r;
    http_header_t h[MAXH];
} req_t;

static void add(req_t *q, const char *name, const char *value)
{
    ASSERT_LT(q->r.nheaders, MAXH);
    http_header_t *h = &q->h[q->r.nheaders++];
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

/* The RFC 6455 §1.3 example request. */
static void good(req_t *q)
{
    memset(q, 0, sizeof(*q));
    q->r.method_name = "GET";
    q->r.method_len = 3;
    q->r.version_minor = 1;
    q->r.headers = q->h;
    add(q, "Host", "server.example.com");
    add(q, "Upgrade", "websocket");
    add(q, "Connection", "Upgrade");
    add(q, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    add(q, "Origin", "http://example.com");
    add(q, "Sec-WebSocket-Version", "13");
}

/* The request with header i's value replaced (NULL: header i dropped). */
static int with(size_t i, const char *value, const ws_accept_policy_t *pol)
{
    req_t q;
    ws_handshake_t hs;
    good(&q);
    if (value)
        q.h[i].value = value, q.h[i].value_len = strlen(value);
    else
        q.h[i].name = "X-Dropped", q.h[i].name_len = 9;
    return ws_handshake_check(&q.r, pol, &hs);
}

TEST_IMPL(ws_handshake_rfc_example)
{
    req_t q;
    ws_handshake_t hs;
    good(&q);
    ASSERT_OK(ws_handshake_check(&q.r, NULL, &hs));
    ASSERT_STR_EQ(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ASSERT_EQ(hs.protocol, -1);
    char out[29];
    ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
    ASSERT_STR_EQ(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    return 0;
}

TEST_IMPL(ws_handshake_upgrade_headers)
{
    /* Tokens are case-insensitive and may sit in a list. */
    ASSERT_OK(with(1, "WebSocket", NULL));
    ASSERT_OK(with(2, "keep-alive, Upgrade", NULL));
    ASSERT_OK(with(2, "keep-alive,upgrade ", NULL));
    ASSERT_EQ(with(1, "websockets", NULL), 400);
    ASSERT_EQ(with(2, "keep-alive", NULL), 400);
    ASSERT_EQ(with(2, "upgraded", NULL), 400);
    ASSERT_EQ(with(0, NULL, NULL), 400); /* Host */
    ASSERT_EQ(with(1, NULL, NULL), 400);
    ASSERT_EQ(with(2, NULL, NULL), 400);
    /* A second Connection header may carry the token. */
    req_t q;
    ws_handshake_t hs;
    good(&q);
    q.h[2].value = "keep-alive", q.h[2].value_len = 10;
    add(&q, "connection", "upgrade");
    ASSERT_OK(ws_handshake_check(&q.r, NULL, &hs));
    /* Method and version. */
    good(&q);
    q.r.method_name = "POST", q.r.method_len = 4;
    ASSERT_EQ(ws_handshake_check(&q.r, NULL, &hs), 400);
    good(&q);
    q.r.version_minor = 0;
    ASSERT_EQ(ws_handshake_check(&q.r, NULL, &hs), 400);
    return 0;
}

TEST_IMPL(ws_handshake_key_and_version)
{
    ASSERT_EQ(with(3, NULL, NULL), 400);
    ASSERT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZQ=", NULL), 400);   /* 23 chars */
    ASSERT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZQ===", NULL), 400); /* 25 */
    ASSERT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZ*==", NULL), 400);  /* alphabet */
    ASSERT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZR==", NULL), 400);  /* padding bits */
    ASSERT_EQ(with(3, "dGhlIHNhbXBsZSBub25jZQAA", NULL), 400);  /* 18 bytes */
    ASSERT_OK(with(3, "AAAAAAAAAAAAAAAAAAAAAA==", NULL));
    ASSERT_EQ(with(5, "8", NULL), 426);
    ASSERT_EQ(with(5, "13, 8", NULL), 426);
    ASSERT_EQ(with(5, NULL, NULL), 426);
    return 0;
}

TEST_IMPL(ws_handshake_subprotocols)
{
    static const char *const mine[] = {"eddy.pubsub.v1", "chat", "superchat"};
    ws_accept_policy_t pol = {NULL, 0, mine, 3};
    req_t q;
    ws_handshake_t hs;
    /* The server's preference wins over the client's order. */
    good(&q);
    add(&q, "Sec-WebSocket-Protocol", "superchat, chat");
    ASSERT_OK(ws_handshake_check(&q.r, &pol, &hs));
    ASSERT_EQ(hs.protocol, 1);
    good(&q);
    add(&q, "Sec-WebSocket-Protocol", "superchat");
    add(&q, "Sec-WebSocket-Protocol", "other, eddy.pubsub.v1");
    ASSERT_OK(ws_handshake_check(&q.r, &pol, &hs));
    ASSERT_EQ(hs.protocol, 0);
    /* No overlap: no subprotocol, still accepted. */
    good(&q);
    add(&q, "Sec-WebSocket-Protocol", "mqtt, chat2");
    ASSERT_OK(ws_handshake_check(&q.r, &pol, &hs));
    ASSERT_EQ(hs.protocol, -1);
    return 0;
}

TEST_IMPL(ws_handshake_origin)
{
    static const char *const list[] = {"https://a.example", "http://example.com"};
    static const char *const any[] = {"*"};
    ws_accept_policy_t pol = {list, 2, NULL, 0};
    ws_accept_policy_t star = {any, 1, NULL, 0};
    ASSERT_OK(with(4, "http://example.com", &pol));
    ASSERT_OK(with(4, "HTTP://Example.COM", &pol));
    ASSERT_EQ(with(4, "http://example.com.evil", &pol), 403);
    ASSERT_EQ(with(4, "http://evil.example", &pol), 403);
    ASSERT_EQ(with(4, NULL, &pol), 403);
    ASSERT_OK(with(4, "http://evil.example", &star));
    ASSERT_OK(with(4, NULL, &star));
    ASSERT_TRUE(ws_origin_allowed("x", 1, NULL, 0));
    ASSERT_TRUE(ws_header_has_token(" a ,\tb, c", 9, "b"));
    ASSERT_FALSE(ws_header_has_token("ab, bc", 6, "b"));
    return 0;
}
