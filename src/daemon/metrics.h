/* The daemon's part of the metrics (the route is routes/metrics.c): it
 * gives each route its counters, renders the numbers only the daemon has
 * (open connections, the access log's drops, loop lag) through the
 * route's hook, measures loop lag with a task, and logs the runtime's
 * stall reports ([server] stall_warn). */
#ifndef EDDY_DAEMON_METRICS_H
#define EDDY_DAEMON_METRICS_H

#include "daemon/conf.h"
#include "http/http.h"

/** Gives every route of cfg its counters (by its match, so that a reload
 *  keeps counting where the previous configuration left off). */
void metrics_routes(config_t *cfg);
/** Starts the lag task and the stall detector (inside the runtime); srv
 *  is what the hook reads connections from.  0 or an error. */
int metrics_start(http_server_t *srv, const config_t *cfg);
/** Applies a reloaded configuration (stall_warn, max_connections). */
void metrics_configure(const config_t *cfg);
/** Stops the lag task and the detector. */
void metrics_stop(void);

#endif
