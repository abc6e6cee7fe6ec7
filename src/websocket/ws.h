/* The WebSocket protocol (RFC 6455, RFC 7692) as a library: UTF-8
 * validation, framing, the opening handshake and permessage-deflate.  It
 * does no I/O and knows nothing of the config file: a connection task reads
 * bytes from an eddy stream and feeds them here, and fan-out frames a
 * message once (ws_frame_header_write) for many subscribers.
 *
 * Errors are negative, like libuv's.  A protocol failure is the negative
 * close code the connection must send (-WS_CLOSE_PROTOCOL is -1002), which
 * collides with no libuv code; ws_close_error() tells them apart. */
#ifndef EDDY_WS_H
#define EDDY_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* ------------------------------------------------------------ close codes */
#define WS_CLOSE_MAP(XX)                                                                           \
    XX(NORMAL, 1000, "normal closure")                                                             \
    XX(GOING_AWAY, 1001, "going away")                                                             \
    XX(PROTOCOL, 1002, "protocol error")                                                           \
    XX(UNSUPPORTED, 1003, "unsupported data")                                                      \
    XX(NO_STATUS, 1005, "no status received")                                                      \
    XX(ABNORMAL, 1006, "abnormal closure")                                                         \
    XX(INVALID_DATA, 1007, "invalid frame payload data")                                           \
    XX(POLICY, 1008, "policy violation")                                                           \
    XX(TOO_BIG, 1009, "message too big")                                                           \
    XX(EXTENSION, 1010, "mandatory extension")                                                     \
    XX(INTERNAL, 1011, "internal error")

enum ws_close_code {
#define XX(name, code, text) WS_CLOSE_##name = code,
    WS_CLOSE_MAP(XX)
#undef XX
};

/** The text of a close code, or NULL if it has none here. */
const char *ws_close_text(int code);
/** A status that is a protocol failure (-1000..-1015): the code to close with. */
bool ws_close_error(int rc);

/* ------------------------------------------------------------ UTF-8 */
/** An incremental UTF-8 validator: state carried across fragments. */
typedef struct ws_utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* range of the next continuation byte */
    uint8_t failed;
} ws_utf8_t;

/** Starts a message. */
void ws_utf8_init(ws_utf8_t *v);
/** Validates the next n bytes: 0, or -WS_CLOSE_INVALID_DATA at the first bad
 *  byte (its offset in *bad if bad is not NULL).  Failure is sticky. */
int ws_utf8_feed(ws_utf8_t *v, const void *p, size_t n, size_t *bad);
/** Ends the message: fails if a sequence is left unfinished. */
int ws_utf8_finish(ws_utf8_t *v);
/** One-shot check of a complete text (a close reason, a published body). */
bool ws_utf8_valid(const void *p, size_t n);

/* ------------------------------------------------------------ frames */
enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

#define WS_RSV1 0x40           /* "compressed" under permessage-deflate */
#define WS_FRAME_HEADER_MAX 14 /* 2 + 8 length + 4 mask */
#define WS_CONTROL_MAX 125

/** A parsed frame header. */
typedef struct ws_frame {
    uint8_t fin;
    uint8_t rsv; /* the RSV bits as on the wire (0x70 mask) */
    uint8_t opcode;
    uint8_t masked;
    uint8_t mask[4];
    uint64_t len; /* payload length */
} ws_frame_t;

/** What the peer may send. */
typedef struct ws_frame_limits {
    uint8_t rsv_allowed; /* WS_RSV1 once permessage-deflate is negotiated */
    bool require_mask;   /* a server requires masked client frames */
    uint64_t max_len;    /* a larger payload is -WS_CLOSE_TOO_BIG (0: none) */
} ws_frame_limits_t;

/** Parses a frame header at the start of buf.  Returns its length (> 0)
 *  with *f filled, 0 if buf holds only part of it (call again with more),
 *  or -WS_CLOSE_PROTOCOL / -WS_CLOSE_TOO_BIG. */
int ws_frame_parse(ws_frame_t *f, const void *buf, size_t n, const ws_frame_limits_t *lim);

/** Fragmentation state of the messages a peer sends. */
typedef struct ws_msgseq {
    uint8_t in_message; /* a fragmented message is open */
    uint8_t opcode;     /* its opcode (TEXT or BINARY) */
    uint8_t rsv1;       /* its first frame had RSV1: compressed */
} ws_msgseq_t;

/** Checks a frame against the message sequence and advances it: a
 *  continuation with nothing to continue, a new data frame inside a
 *  fragmented message or RSV1 on a continuation is -WS_CLOSE_PROTOCOL.
 *  Control frames pass through untouched. */
int ws_msgseq_next(ws_msgseq_t *s, const ws_frame_t *f);

/** Unmasks n payload bytes in place; offset is their position in the
 *  payload, so that a payload read in pieces unmasks piece by piece. */
void ws_unmask(void *p, size_t n, const uint8_t mask[4], uint64_t offset);

/** Writes an unmasked (server) frame header into out; returns its length
 *  (2, 4 or 10).  rsv is 0 or WS_RSV1. */
size_t ws_frame_header_write(uint8_t out[10], bool fin, uint8_t rsv, int opcode, uint64_t len);

/** Parses a close frame's payload: code 1005 if empty; -WS_CLOSE_PROTOCOL
 *  for one byte or a code not allowed on the wire, -WS_CLOSE_INVALID_DATA
 *  for a reason that is not UTF-8. */
int ws_close_parse(const void *p, size_t n, uint16_t *code, const char **reason, size_t *rlen);
/** A code a peer may send in a close frame (RFC 6455 §7.4, 3000-4999). */
bool ws_close_code_valid(unsigned code);
/** Writes a close payload (code + reason cut at 123 bytes on a character
 *  boundary) into out; returns its length. */
size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason,
                        size_t rlen);

/* ------------------------------------------------------------ handshake */
/** The server's side of the handshake; NULL lists mean "anything". */
typedef struct ws_accept_policy {
    const char *const *origins; /* allowed Origin values ("*" allows any) */
    size_t norigins;
    const char *const *protocols; /* subprotocols in preference order */
    size_t nprotocols;
} ws_accept_policy_t;

/** What the handshake found. */
typedef struct ws_handshake {
    char accept[29]; /* Sec-WebSocket-Accept, NUL-terminated */
    int protocol;    /* index in policy->protocols, -1: none */
} ws_handshake_t;

/** Validates an upgrade request.  Returns 0 with *hs filled, or the HTTP
 *  status to answer: 400 (malformed), 426 (version: answer with
 *  "Sec-WebSocket-Version: 13") or 403 (Origin not allowed). */
int ws_handshake_check(const http_request_t *req, const ws_accept_policy_t *pol,
                       ws_handshake_t *hs);
/** Sec-WebSocket-Accept for a key: base64(SHA-1(key + GUID)). */
void ws_accept_key(const char *key, size_t len, char out[29]);
/** Collects the values of every header called name (case-insensitive), in
 *  order, up to max; returns how many there are (may exceed max). */
size_t ws_header_values(const http_request_t *req, const char *name, const char **vals,
                        size_t *lens, size_t max);
/** Whether a header value holds token in its comma-separated list. */
bool ws_header_has_token(const char *v, size_t n, const char *token);
/** The index of the first of the server's protocols that the client
 *  offers in the Sec-WebSocket-Protocol headers, or -1. */
int ws_subprotocol_select(const http_request_t *req, const char *const *protocols, size_t n);
/** Whether an Origin value is allowed by the list (NULL, empty or "*": any). */
bool ws_origin_allowed(const char *origin, size_t n, const char *const *list, size_t count);

/* ------------------------------------------------------------ permessage-deflate */
/** Negotiated (or preferred) permessage-deflate parameters. */
typedef struct ws_deflate_params {
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    uint8_t server_max_window_bits; /* 8..15: the server's LZ77 window */
    uint8_t client_max_window_bits; /* 8..15: the client's LZ77 window */
} ws_deflate_params_t;

#define WS_DEFLATE_RESP_MAX 160

/** Negotiates from the Sec-WebSocket-Extensions values (each a comma list
 *  of offers): the first acceptable permessage-deflate offer wins.  pref
 *  (NULL: defaults) is what the server would rather use.  Returns 1 with
 *  *out and the response value in resp (NUL-terminated), 0 if no offer is
 *  acceptable, UV_ENOBUFS if resp is too small (WS_DEFLATE_RESP_MAX suffices). */
int ws_deflate_negotiate(const char *const *values, const size_t *lens, size_t nvalues,
                         const ws_deflate_params_t *pref, ws_deflate_params_t *out, char *resp,
                         size_t cap);

/** A growable output buffer (malloc'd; free data when done). */
typedef struct ws_buf {
    uint8_t *data;
    size_t len, cap;
} ws_buf_t;

/** Room for more bytes after len (doubling): 0 or UV_ENOMEM. */
int ws_buf_reserve(ws_buf_t *b, size_t more);
/** Appends n bytes: 0 or UV_ENOMEM. */
int ws_buf_append(ws_buf_t *b, const void *p, size_t n);

/** One connection's compressor and decompressor (zlib streams made on
 *  first use). */
typedef struct ws_deflate {
    ws_deflate_params_t p;
    void *zin, *zout; /* z_stream, NULL until needed */
    bool zin_ended;   /* the peer's stream hit a final block mid-message */
} ws_deflate_t;

/** Sets up with negotiated parameters; allocates nothing yet. */
void ws_deflate_init(ws_deflate_t *d, const ws_deflate_params_t *p);
/** Frees both streams. */
void ws_deflate_close(ws_deflate_t *d);
/** Frees the streams that keep no context between messages (an idle
 *  connection then holds no zlib memory). */
void ws_deflate_trim(ws_deflate_t *d);
/** Inflates part of a compressed message onto out; fin marks its last
 *  fragment.  Output past max bytes is -WS_CLOSE_TOO_BIG before it is
 *  allocated; corrupt data is -WS_CLOSE_INVALID_DATA; UV_ENOMEM.  After an
 *  error the stream is unusable: the connection closes. */
int ws_inflate(ws_deflate_t *d, const void *in, size_t n, bool fin, size_t max, ws_buf_t *out);
/** Compresses a whole message onto out, without the 00 00 ff ff tail. */
int ws_deflate_message(ws_deflate_t *d, const void *in, size_t n, ws_buf_t *out);

#endif
