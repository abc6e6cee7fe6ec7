/* The storage of websocket/stats.h: with the WebSocket code, so that
 * whatever links it (the daemon, the tests) has the counters too. */
#include "config.h"

#include "websocket/stats.h"

ws_stats_t ws_stats;
pubsub_stats_t pubsub_stats;
