/* The relay's records (relay.c), shared by its master side
 * (relay-master.c) and its worker side (relay-worker.c); private to
 * them.  See relay.h for what the relay does. */
#ifndef EDDY_DAEMON_RELAY_RECORDS_H
#define EDDY_DAEMON_RELAY_RECORDS_H

#include "pubsub/pubsub.h"

/* The largest record accepted (a message of max_message and names). */
#define RECORD_MAX (512u << 20)
/* Records handled in a row before the loop gets a turn. */
#define RECORDS_PER_TURN 64

/* Record types.  Worker to master: */
enum {
    R_PUBLISH = 1, /* req, flags, hub, name, data: number it, send it to all */
    R_SUBS,        /* hub, name, a: subscribers added (int64) */
    R_INFO_REQ,    /* req, hub, name: a channel's state */
    R_GATHER_REQ,  /* req: every worker's metrics */
    R_GATHER_PART, /* req (the master's gather), data: this worker's text */
    /* Master to worker: */
    R_HELLO = 16, /* a: the worker's relay id */
    R_MSG,        /* req, origin, flags, a: id, b: subscribers, hub, name, data */
    R_HISTORY,    /* flags, a: id, hub, name, data: history only */
    R_LAST,       /* a: a channel's last id (after the history) */
    R_SYNCED,     /* the history is all there */
    R_NACK,       /* req, a: the error (negative) */
    R_INFO,       /* req, flags (F_EXISTS), a: last id, b: subscribers, c: history */
    R_GATHER,     /* req (the gather's), data: the labels for this worker's text */
    R_GATHERED,   /* req, data: the texts, each a u32 length then the bytes */
};

#define F_BINARY 1
#define F_EXISTS 2

/* Every record: this header, then hub, name and data.  Both ends are the
 * same binary on the same machine: native byte order. */
typedef struct rec {
    uint32_t len; /* bytes after the header */
    uint8_t type, flags;
    uint16_t hub_len, name_len;
    uint16_t pad;
    uint32_t req, origin;
    uint64_t a, b, c;
} rec_t;

typedef struct parsed {
    rec_t h; /* a copy: a record's bytes are not aligned */
    const char *hub, *name;
    const uint8_t *data;
    size_t data_len;
} parsed_t;

/* A reader of records from a stream: a growable buffer. */
typedef struct reader {
    eddy_stream_t *stream;
    uint8_t *buf;
    size_t len, cap, off;
} reader_t;

/** A record: h (its len, hub_len, name_len are filled in), then hub, name
 *  and data, as one blob; NULL without memory or past RECORD_MAX. */
ws_blob_t *relay_record(const rec_t *h, const char *hub, size_t hl, const char *name, size_t nl,
                        const void *data, size_t n);
/** Queues a record made by relay_record on q (NULL: UV_ENOMEM). */
int relay_post(ws_outq_t *q, ws_blob_t *b);
int relay_reader_init(reader_t *r, eddy_stream_t *s);
/** The next record: 0 with *p (valid until the next call), the read's
 *  error (UV_EOF), or UV_EPROTO for a malformed record. */
int relay_next(reader_t *r, parsed_t *p);
/** The next of a sequence of ids, skipping 0 (which means "none"). */
static inline uint32_t relay_next_id(uint32_t *seq)
{
    return ++*seq != 0 ? *seq : ++*seq;
}
/** The hub named by len bytes at s (a record's, not terminated). */
ps_hub_t *relay_find_hub(const char *s, size_t len);
/** The hub a record names. */
ps_hub_t *relay_hub_of(const parsed_t *p);

#endif
