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
/* The forms' last slot: the message as the master's relay record, shared
 * by every worker that is sent the history (daemon/relay.c). */
#define PS_FORM_RELAY (PS_FORMS - 1)

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

/** The defaults (a pubsub route's, and a new hub's until one commits). */
#define PS_LIMITS_DEFAULT                                                                          \
    ((ps_limits_t){.history = 100,                                                                 \
                   .history_ms = 3600 * 1000,                                                      \
                   .max_channels = 10000,                                                          \
                   .max_subscribers = 100000})

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

/* --------------------------------------------------- worker processes */
/* With [server] workers > 1 each worker holds a replica of every hub, and
 * the master holds the original (daemon/relay.c): a publish on any worker
 * goes to the master, which numbers it (ps_publish there: one id sequence
 * per channel) and sends it to every worker in the same order; each
 * applies it to its replica (ps_apply), keeping history and handing it to
 * its own subscribers.  Workers report their subscriber counts, which keep
 * the master's channels (and their ids) alive as local subscribers would;
 * a new worker gets the history first, so ?since works on every worker. */

/** How channels are shared with other processes; installed by the daemon
 *  in a worker (NULL: this process's channels are all there is). */
typedef struct ps_relay {
    /** Has the message numbered and fanned out to every worker, this one
     *  included.  wait: until it was numbered (0 with *id and the
     *  subscribers of every worker, UV_EAGAIN at max_channels, or an
     *  error such as UV_ECONNRESET without a master); !wait: 0 once sent,
     *  *id 0. */
    int (*publish)(ps_hub_t *h, const char *name, size_t len, bool binary, const void *data,
                   size_t n, bool wait, uint64_t *id, size_t *subscribers);
    /** A channel's state over every worker; may wait: 0, UV_ENOENT (no
     *  such channel) or an error. */
    int (*info)(ps_hub_t *h, const char *name, size_t len, uint64_t *last_id,
                size_t *subscribers, size_t *history);
    /** This process's subscribers of a channel changed by delta; must not
     *  wait. */
    void (*subscribers)(ps_hub_t *h, const char *name, size_t len, int delta);
} ps_relay_t;

void ps_relay_set(const ps_relay_t *r);

/** Publishes where the channels live: here (ps_publish) or through the
 *  relay (which may wait; see ps_relay_t.publish for wait). */
int ps_post(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len, bool binary,
            const void *data, size_t n, bool wait, uint64_t *id, size_t *subscribers);
/** ps_channel_info where the channels live (may wait with a relay): 0,
 *  UV_ENOENT (no such channel) or the relay's error. */
int ps_state(ps_hub_t *h, const ps_limits_t *lim, const char *name, size_t len,
             uint64_t *last_id, size_t *subscribers, size_t *history);

/** The hub called name, or NULL; no reference is taken. */
ps_hub_t *ps_hub_find(const char *name);
const char *ps_hub_name(const ps_hub_t *h);
/** The limits applied to messages that arrive through the relay (the
 *  newest configuration's: a route sets them when it is checked). */
void ps_hub_set_limits(ps_hub_t *h, const ps_limits_t *lim);
const ps_limits_t *ps_hub_limits(const ps_hub_t *h);

/** In a worker: a message the master numbered id and published at time_ms
 *  (eddy_now's clock, the same in every process: CLOCK_MONOTONIC; 0: now),
 *  applied to the replica (history, then this process's subscribers
 *  unless history_only).  Each
 *  comes once, in order; an id at or below the channel's last means the
 *  master's channel started over (it was freed), and the replica's history
 *  is dropped.  Returns the subscribers it was handed to. */
size_t ps_apply(ps_hub_t *h, const char *name, size_t len, uint64_t id, uint64_t time_ms,
                bool binary, const void *data, size_t n, bool history_only);
/** In the master: delta subscribers in a worker; a channel with some is
 *  kept (its id sequence too), and they count in ps_publish's
 *  *delivered and ps_channel_info's *subscribers. */
void ps_remote(ps_hub_t *h, const char *name, size_t len, long delta);
/** In a worker: the master's channel name is at id (a new worker's
 *  start): the replica's channel, or the id it will go on from once made,
 *  is brought up to it. */
void ps_note_last(ps_hub_t *h, const char *name, size_t len, uint64_t id);
/** Calls fn with the last id of every channel, and of every freed one
 *  still remembered, of every hub (what a new worker is sent after the
 *  history, for ps_note_last). */
void ps_each_last(void (*fn)(void *arg, ps_hub_t *h, const char *name, size_t len, uint64_t id),
                  void *arg);
/** Calls fn on every message in every hub's history, each channel's
 *  oldest first (what a new worker is sent before it serves). */
void ps_each_history(void (*fn)(void *arg, ps_hub_t *h, const char *name, size_t len,
                                ps_msg_t *m),
                     void *arg);

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
