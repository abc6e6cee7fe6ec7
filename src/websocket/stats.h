/* Counters of WebSocket sessions and of pub/sub, read by the metrics route
 * (type = metrics) under the names in the comments.  Plain globals, like
 * the HTTP layer's (http/stats.h): one thread per process, so the code
 * that counts bumps them with a bare ++ or --, no lock, no allocation.
 * The pub/sub code includes this header too: its messages travel over
 * WebSocket sessions, and one registry keeps the names together. */
#ifndef EDDY_WEBSOCKET_STATS_H
#define EDDY_WEBSOCKET_STATS_H

#include <stdint.h>

typedef struct ws_stats {
    uint64_t sessions_open;  /* gauge eddy_websocket_sessions_open: ++ at the
                                upgrade, -- when the session ends */
    uint64_t sessions_total; /* eddy_websocket_sessions_total: sessions begun */
    uint64_t messages_in;    /* eddy_websocket_messages_received_total: whole
                                messages (not frames) from clients */
    uint64_t messages_out;   /* eddy_websocket_messages_sent_total: messages
                                queued to clients */
} ws_stats_t;

typedef struct pubsub_stats {
    uint64_t channels;         /* gauge eddy_pubsub_channels: channels that exist */
    uint64_t subscribers;      /* gauge eddy_pubsub_subscribers: subscriptions */
    uint64_t published;        /* eddy_pubsub_published_total: messages published */
    uint64_t deliveries;       /* eddy_pubsub_deliveries_total: one per message and
                                  subscriber it was handed to */
    uint64_t queue_drops;      /* eddy_pubsub_queue_drops_total: messages dropped
                                  from a subscriber's full queue */
    uint64_t slow_disconnects; /* eddy_pubsub_slow_consumer_disconnects_total:
                                  subscribers cut off for not keeping up */
} pubsub_stats_t;

extern ws_stats_t ws_stats;
extern pubsub_stats_t pubsub_stats;

#endif
