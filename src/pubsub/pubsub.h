/* Publish/subscribe channels: named channels, each with an id sequence,
 * a bounded history for late joiners and a list of subscribers, grouped in
 * hubs (one per pubsub route, kept across reloads by name).
 *
 * A publish numbers the message, keeps it in the history and hands it to
 * every subscriber's deliver callback at once, without waiting: a
 * subscriber queues it (see websocket/session.h) and its connection's
 * writer sends it.  Nothing here waits, so channel state never changes
 * across a wait and needs no lock: a subscribe (history replay, then live
 * messages) and a publish are each atomic on the single-threaded loop.
 *
 * A message carries a small cache of its encodings (a WebSocket frame, a
 * JSON frame, an event-stream chunk...), made by the first subscriber that
 * needs one and shared by the others: one encoding per fan-out, not one
 * per subscriber.  The encodings are the subscribers' business; this
 * layer only frees them. */
#ifndef EDDY_PUBSUB_H
#define EDDY_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "websocket/session.h"

#define PS_NAME_MAX 128
#define PS_FORMS 6

typedef struct ps_msg {
    uint32_t refs;
    bool binary;
    uint64_t id;
    uint64_t time_ms; /* when published (history expiry) */
    size_t len;
    ws_blob_t *forms[PS_FORMS]; /* encodings, made on first use */
    uint8_t data[];
} ps_msg_t;

static inline ps_msg_t *ps_msg_ref(ps_msg_t *m)
{
    m->refs++;
    return m;
}
void ps_msg_unref(ps_msg_t *m);

typedef struct ps_channel ps_channel_t;
typedef struct ps_sub ps_sub_t;

/** Hands a message to a subscriber; must not wait.  A non-zero return
 *  unsubscribes it (the callback has ended its session). */
typedef int (*ps_deliver_fn)(ps_sub_t *s, ps_msg_t *m);

struct ps_sub {
    ps_sub_t *prev, *next;
    ps_channel_t *ch; /* NULL when not subscribed */
    ps_deliver_fn deliver;
};

/** A route's limits, passed with each call (a reload may change them). */
typedef struct ps_limits {
    size_t history;          /* messages kept per channel */
    uint64_t history_ms;     /* a message older than this leaves history (0: never) */
    size_t max_channels;     /* per hub */
    size_t max_subscribers;  /* per hub */
} ps_limits_t;

typedef struct ps_hub ps_hub_t;

/** The hub called name (created on first use), with a reference. */
ps_hub_t *ps_hub_acquire(const char *name);
void ps_hub_release(ps_hub_t *h);

/** A valid channel name: 1..PS_NAME_MAX bytes of [A-Za-z0-9._~/-]. */
bool ps_name_valid(const char *name, size_t len);

/** What a subscriber missed and gets replayed. */
typedef struct ps_replay {
    uint64_t gap_from, gap_to; /* ids no longer in history (from > to: none) */
    ps_msg_t **msgs;           /* history after since, oldest first */
    size_t n;
} ps_replay_t;

/** Whether one more subscriber fits (for a 503 at the handshake). */
bool ps_can_subscribe(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len);
/** Subscribes s to the channel (created if need be).  With since (and
 *  has_since), *replay lists what to send before live messages: valid until
 *  the caller's next wait.  0, UV_EAGAIN (max_channels / max_subscribers
 *  reached) or UV_ENOMEM. */
int ps_subscribe(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, ps_sub_t *s,
                 bool has_since, uint64_t since, ps_replay_t *replay);
void ps_unsubscribe(ps_hub_t *h, ps_sub_t *s);
/** Publishes to the channel (created if need be): 0 with the message's id
 *  and how many subscribers it was handed to, UV_EAGAIN (max_channels) or
 *  UV_ENOMEM. */
int ps_publish(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, bool binary,
               const void *data, size_t n, uint64_t *id, size_t *delivered);

/** A channel's state: false if it does not exist. */
bool ps_channel_info(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len,
                     uint64_t *last_id, size_t *subscribers, size_t *history);
/** Hub totals (for metrics). */
size_t ps_hub_channels(const ps_hub_t *h);
size_t ps_hub_subscribers(const ps_hub_t *h);

/* ------------------------------------------------------------ encodings */
/* Each appends to b (a growable buffer): 0 or UV_ENOMEM. */

/** {"id":N,"data":"..."} ({"id":N,"b64":"..."} for binary). */
int ps_encode_json(const ps_msg_t *m, ws_buf_t *b);
/** {"gap":{"from":A,"to":B}}. */
int ps_encode_gap_json(uint64_t from, uint64_t to, ws_buf_t *b);
/** An event-stream record: id:, data: lines (binary: event: binary and
 *  base64), blank line. */
int ps_encode_sse(const ps_msg_t *m, ws_buf_t *b);
/** event: gap with data: {"from":A,"to":B}. */
int ps_encode_gap_sse(uint64_t from, uint64_t to, ws_buf_t *b);

#endif
