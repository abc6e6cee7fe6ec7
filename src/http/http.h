/* The HTTP/1.1 layer: connection tasks that parse requests with llhttp,
 * hand each to a handler and write the responses.  It knows nothing of the
 * config file: the daemon gives it an http_server_t whose site (limits,
 * timeouts and handler) it acquires once per request, so a reload swaps
 * the site between requests while each request finishes under its own. */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy.h"

typedef struct http_conn http_conn_t;

typedef struct http_header {
    const char *name, *value;
    size_t name_len, value_len;
} http_header_t;

/* Well-known request headers, found once while parsing. */
enum http_hdr {
    HTTP_H_HOST,
    HTTP_H_IF_MATCH,
    HTTP_H_IF_NONE_MATCH,
    HTTP_H_IF_MODIFIED_SINCE,
    HTTP_H_IF_UNMODIFIED_SINCE,
    HTTP_H_RANGE,
    HTTP_H_IF_RANGE,
    HTTP_H_ACCEPT_ENCODING,
    HTTP_H_REFERER,
    HTTP_H_USER_AGENT,
    HTTP_H_UPGRADE,
    HTTP_H_CONNECTION,
    HTTP_H__COUNT
};

typedef struct http_request {
    int method;              /* llhttp_method_t */
    const char *method_name; /* "GET" */
    size_t method_len;
    int version_minor; /* HTTP/1.x */
    const char *target; /* as sent */
    size_t target_len;
    const char *path; /* decoded, normalised, NUL-terminated */
    size_t path_len;
    const char *query; /* after '?', not decoded (NULL if none) */
    size_t query_len;
    const http_header_t *headers;
    size_t nheaders;
    const http_header_t *hdr[HTTP_H__COUNT]; /* NULL if absent */
    int64_t content_length; /* -1 if none */
    bool chunked;
    bool head; /* HEAD: headers only */
    const char *peer; /* client address */
} http_request_t;

/** The first header called name (case-insensitive), or NULL: for the
 *  headers not among the well-known ones in hdr[]. */
const http_header_t *http_request_header(const http_request_t *req, const char *name);

/* ------------------------------------------------------------ the site */

typedef struct http_limits {
    size_t header_size, body_size, uri_size, headers;
    unsigned requests_per_connection; /* 0: unlimited */
    uint64_t header_ms, body_ms, keepalive_ms, send_ms;
    /* Lingering close: how long to read and discard what the client still
     * sends after eddy's last response (0: close at once). */
    uint64_t linger_ms;
} http_limits_t;

typedef struct http_site http_site_t;
/** Stages the response to req on c (http_response_*).  Returns 0, or an
 *  HTTP status >= 400 for the layer to answer with a plain error page. */
typedef int (*http_handler_fn)(http_site_t *site, http_conn_t *c, const http_request_t *req);

struct http_site {
    http_limits_t limits;
    const char *server_header; /* NULL: no Server header */
    http_handler_fn handle;
};

typedef struct http_server http_server_t;
struct http_server {
    /** The site new requests use, with a reference for this request. */
    http_site_t *(*acquire)(http_server_t *srv);
    void (*release)(http_server_t *srv, http_site_t *site);
    /** A response was staged (for the access log): the record is formatted
     *  now, while req is valid, and returned (NULL: not logged); the status
     *  and the byte count are filled in by log_end.  For a request refused
     *  before its head was complete (400, 408, 414, 431, 501, 505), req
     *  holds only what arrived: method_name/target as far as known (length
     *  0 if nothing; the formatter may print "-"), no headers, path NULL,
     *  method -1. */
    void *(*log_begin)(http_server_t *srv, const http_request_t *req);
    /** The response left, whole or cut (client gone, send timeout,
     *  shutdown): status is the one sent (a request refused after its head,
     *  413 on a chunked body say, replaces the handler's response), sent the
     *  body bytes that actually left.  Called exactly once for every
     *  non-NULL record log_begin returned. */
    void (*log_end)(http_server_t *srv, void *rec, int status, uint64_t sent);
    /** A request was refused (status >= 400) by the parser, a check or a
     *  timeout: the reason in words, for the error log (rate-limited). */
    void (*refused)(http_server_t *srv, const char *peer, int status, const char *reason);
    /** Set when the server drains: idle connections close, busy ones
     *  answer their current request with Connection: close. */
    bool draining;
    /** With draining: sessions (takeovers: WebSocket, event streams) run
     *  on until they end or the caller's deadline cancels them, as a
     *  reload's retiring worker keeps them; otherwise a drain ends them at
     *  once (1001). */
    bool keep_sessions;
    /** Open connections, for draining. */
    http_conn_t *conns;
    size_t nconns;
};

/** Serves one client connection until it closes (the body of a
 *  connection task); closes the stream. */
void http_conn_serve(http_server_t *srv, eddy_stream_t *stream);

/** Drain: closes idle connections now; the others close after their
 *  current response; sessions end now, or with keep_sessions when they
 *  end by themselves or the caller cancels them. */
void http_server_drain(http_server_t *srv, bool keep_sessions);

/* ------------------------------------------------------- response staging */

/** Starts a response with a status line. */
void http_response_start(http_conn_t *c, int status);
/** Adds a header (name and value copied). */
void http_response_header(http_conn_t *c, const char *name, size_t nlen, const char *value,
                          size_t vlen);
/** Adds a header from NUL-terminated strings. */
void http_response_header_str(http_conn_t *c, const char *name, const char *value);
/** Adds a pre-formatted header block ("Name: value\r\n"...). */
void http_response_raw(http_conn_t *c, const char *text, size_t len);
/* Defaults the end of the head writes, which a handler may supply itself. */
#define HTTP_OMIT_SERVER 1u
#define HTTP_OMIT_DATE 2u
#define HTTP_OMIT_CONTENT_TYPE 4u
/** Leaves out the default headers in flags (HTTP_OMIT_*) from the response
 *  being staged, because the handler adds its own (a route's configured
 *  `header = Server: x` replaces the default instead of repeating it).
 *  http_response_start clears them. */
void http_response_omit(http_conn_t *c, unsigned flags);
/** Ends the head and queues a body from memory.  ref/release (may be
 *  NULL) keep the memory alive until it is written. */
void http_response_body(http_conn_t *c, const char *content_type, const void *body, size_t len,
                        void *ref, void (*release)(void *ref));
/** Ends the head and queues len bytes of fd from off (sent with
 *  sendfile); ref/release keep fd open until it is sent. */
void http_response_file(http_conn_t *c, const char *content_type, int fd, int64_t off,
                        size_t len, void *ref, void (*release)(void *ref));
/** Ends a response that has no body (304, HEAD...) but a Content-Length
 *  of len to announce (pass -1 for none). */
void http_response_empty(http_conn_t *c, int64_t content_length);
/** A plain-text error page for status (also used by the layer itself). */
void http_response_error(http_conn_t *c, int status);
/** A response that is the same for every request in a second (a fixed
 *  `return` route): staged once, then replayed as one copy of its bytes
 *  while the Date second and the connection's flags stay the same. */
typedef struct http_replay {
    char *bytes;
    size_t len, cap;
    int64_t second;
    unsigned flags;
    int status;
    uint64_t body_bytes;
} http_replay_t;

/** Stages the remembered response if it is still valid; false if not. */
bool http_response_replay(http_conn_t *c, http_replay_t *r);
/** Remembers the response just staged (if it lies wholly in the output
 *  buffer) for http_response_replay. */
void http_response_remember(http_conn_t *c, http_replay_t *r);
/** Frees what a replay cache holds. */
void http_replay_free(http_replay_t *r);

/* ------------------------------------------------ bodies and takeovers */

/** Called once the request body is complete, to stage the response as a
 *  handler does (0 or an error status).  Called exactly once: with c NULL
 *  (and body NULL) when the request failed before its end, so that arg
 *  can be freed. */
typedef int (*http_body_fn)(void *arg, http_conn_t *c, const char *body, size_t len);
/** Instead of staging a response now, the handler waits for the body: the
 *  layer collects at most max bytes of it (more: 413; body_size applies
 *  too) and calls fn at the end of the message.  The request given to the
 *  handler is gone by then: arg carries what fn needs. */
void http_response_defer(http_conn_t *c, size_t max, http_body_fn fn, void *arg);

/** Serves the connection after its response: s is the stream, extra the
 *  bytes that arrived after the request (already read).  Called with s NULL
 *  when the response could not be written (arg is only to be freed). */
typedef void (*http_takeover_fn)(void *arg, eddy_stream_t *s, const char *extra, size_t n);
/** The handler takes the connection over once the response it stages has
 *  left (101 Switching Protocols, an event stream): call before ending the
 *  head (no Connection: close is added; the handler writes its own
 *  Connection header).  The layer frees its buffers and runs fn in the
 *  connection task; the stream is closed when fn returns.  The site stays
 *  acquired meanwhile, so a reload leaves the session on the configuration
 *  it started with.  A drain (shutdown) cancels the task, now or at the
 *  drain's deadline (keep_sessions): fn says goodbye (WebSocket 1001) and
 *  returns. */
void http_response_takeover(http_conn_t *c, http_takeover_fn fn, void *arg);

/** The limits and timeouts of the site serving the current request. */
const http_limits_t *http_conn_limits(const http_conn_t *c);

/** True if the request being answered is a HEAD. */
bool http_response_is_head(const http_conn_t *c);

#endif
