/* Internals of a connection, shared by conn.c (reading and parsing),
 * request.c (checks and dispatch) and response.c (staging and writing). */
#ifndef EDDY_HTTP_CONN_H
#define EDDY_HTTP_CONN_H

#include <llhttp.h>

#include "http/http.h"

/* A response leaves as segments: runs of the output buffer and other
 * memory go out in one vectored write, files with sendfile. */
typedef struct out_seg {
    const char *base;
    size_t len;
    int fd; /* >= 0: send len bytes of fd from off */
    int64_t off;
    void *ref;
    void (*release)(void *ref);
    /* On a response's last segment: its access-log record (NULL: none),
     * its status and its body length; the body is the response's tail. */
    void *rec;
    uint64_t body;
    int status;
} out_seg_t;

#define OUT_SEGS 64

typedef struct span {
    uint32_t off, len;
} span_t;

struct http_conn {
    http_server_t *srv;
    http_site_t *site; /* acquired for the request being parsed */
    eddy_stream_t *stream;
    eddy_task_t *task;
    http_conn_t *prev, *next; /* srv->conns */
    llhttp_t parser;
    char peer[64];

    /* Input: [in_start, in_parsed) is the head being parsed, [in_parsed,
     * in_end) what llhttp has not seen yet. */
    char *in;
    size_t in_cap, in_start, in_parsed, in_end;

    /* Output: segments [0, ncommitted) belong to finished requests and may
     * be written; the rest is the response being staged. */
    char *out;
    size_t out_cap, out_used;
    out_seg_t *segs; /* OUT_SEGS of them */
    size_t nsegs, ncommitted;
    size_t resp_seg, resp_used; /* where the staged response starts */
    int resp_status;
    bool resp_close; /* the staged head says Connection: close */
    unsigned resp_omit; /* HTTP_OMIT_*: defaults the handler replaces */
    void *resp_rec;     /* a log record whose response was replaced */
    uint64_t resp_bytes;
    /* Metrics (http/stats.h): the route's counters, or NULL for the
     * unrouted ones, and uv_hrtime at the request's first byte (0: none). */
    struct http_route_stats *stats;
    uint64_t req_start;
    bool resp_failed; /* the response did not fit: answer 500 */

    /* The request being parsed. */
    span_t method, url, version;
    span_t *names, *values;
    size_t nhdr, hdr_cap;
    int hdr_idx[HTTP_H__COUNT];
    int host_count;
    int error;          /* status chosen while parsing */
    const char *reason; /* why, in words, for the error log */
    size_t trailer_bytes;
    bool te_unknown, expect_continue, expect_other;
    bool in_field;
    bool in_message, head_done, msg_done;
    bool head;
    uint64_t head_deadline;
    int64_t body_bytes;

    unsigned nrequests;
    bool close; /* after the current response */
    bool abort; /* answer now, read nothing more */
    bool idle;  /* waiting for a request's first byte */
    uint64_t idle_since; /* when the last response was flushed */
    /* The timeout of the read waiting for the next request, while it
     * waits: a drain moves its deadline to the end of the grace. */
    eddy_timeout_t *idle_scope;

    /* A handler waiting for the request body (http_response_defer). */
    http_body_fn defer;
    void *defer_arg;
    size_t defer_max;
    char *body;
    size_t body_len, body_cap;

    /* A handler's takeover after its response (http_response_takeover). */
    http_takeover_fn takeover;
    void *takeover_arg;
    bool session; /* the takeover runs: a drain cancels the task */

    http_header_t *hdrs; /* http_request_t.headers */
    char *path;          /* decoded path */
    size_t path_cap;
};

/* request.c */
/** The head is complete: checks it, runs the handler, stages a response. */
void http__on_head(http_conn_t *c);
/** Maps a parse failure to its status. */
int http__parse_error_status(http_conn_t *c, llhttp_errno_t err);
/** Parser callbacks (static settings). */
extern const llhttp_settings_t http__settings;
/** Gives up a takeover whose response will not be sent. */
void http__takeover_drop(http_conn_t *c);
/** Gives up a deferred handler's wait (the request failed). */
void http__defer_drop(http_conn_t *c);
/** Clears the per-request parse state at a message's start. */
void http__request_reset(http_conn_t *c);
/** Reports a refusal the layer answers with status: srv->refused with the
 *  reason, and, for a request refused before its head was handled, an
 *  access-log record of what arrived (after the error page is staged). */
void http__refused(http_conn_t *c, int status, const char *reason);

/* stats.c */
/** Counts the response just committed (status class, duration) in its
 *  route's counters. */
void http__stats_count(http_conn_t *c);

/* conn.c */
/** Doubles the header arrays (they start at 16 entries). */
int http__grow_headers(http_conn_t *c);
/** Makes the decoded-path buffer at least need bytes. */
int http__grow_path(http_conn_t *c, size_t need);

/* response.c */
/** Writes the committed segments (one vectored write per memory run). */
int http__flush(http_conn_t *c);
/** Marks everything staged as belonging to a finished request. */
void http__commit(http_conn_t *c);
/** Queues the interim 100 Continue ahead of the staged response and
 *  writes it with everything committed before it. */
int http__send_continue(http_conn_t *c);
/** Adds Connection: close to the staged response's head (a drain began
 *  while its request was still arriving). */
void http__response_close(http_conn_t *c);
/** Releases every segment (connection end); records of responses that
 *  never left end with 0 bytes. */
void http__out_reset(http_conn_t *c);
/** Gives the staged response the access-log record log_begin returned:
 *  log_end follows once its write finished or failed. */
void http__response_log(http_conn_t *c, void *rec);

#endif
