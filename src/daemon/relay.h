/* The relay between the master and its workers ([server] workers > 1):
 * one Unix stream socket per worker (a socketpair the master makes when it
 * starts the worker), carrying records both ways.
 *
 * Pub/sub.  The master holds the original of every channel (ids, history,
 * and how many subscribers each worker has); each worker holds a replica.
 * A publish on a worker goes to the master, which numbers it and sends one
 * record, built once, to every worker in the same order; each worker
 * applies it to its replica and hands it to its own subscribers (see
 * pubsub.h).  So every subscriber on every worker sees one id sequence,
 * in order, and the worker that took the publish answers it with the id
 * once its record comes back.  A worker's first records are the master's
 * history: it serves ?since= like the others from its first connection,
 * also after a restart or a reload.
 *
 * Metrics.  A scrape on any worker asks the master, which asks every live
 * worker for its text (labelled worker="N", or worker="gG-N" for one of
 * an older generation still draining) and sends them back to be merged:
 * one scrape sees the whole server.
 *
 * The master never waits on a worker: records to a worker that does not
 * read pile up in its queue, and past RELAY_QUEUE_MAX the worker is
 * killed (and restarted, with the history). */
#ifndef EDDY_DAEMON_RELAY_H
#define EDDY_DAEMON_RELAY_H

#include <stdbool.h>
#include <sys/types.h>

/* ------------------------------------------------------------ the master */

/** A socketpair for a new worker: fds[0] the master's, fds[1] the
 *  worker's (both close-on-exec; spawn.c hands fds[1] on).  0 or an
 *  error. */
int relay_pair(int fds[2]);
/** Serves the master's end fd of the relay of worker slot of generation
 *  gen (pid: whom to kill if it stops reading): sends it the history at
 *  once, then everything published.  Takes fd (closed on error).  0 or an
 *  error. */
int relay_master_add(int fd, pid_t pid, unsigned slot, unsigned gen);
/** The serving generation (the others are labelled as draining). */
void relay_master_generation(unsigned gen);
/** Closes every worker's relay (at exit). */
void relay_master_stop(void);

/* ------------------------------------------------------------ a worker */

/** Connects this worker to the master over fd: reads the history into the
 *  replicas of the configuration's hubs, then serves the relay in a task
 *  and makes pub/sub and the metrics route go through it.  0 or an error
 *  (logged). */
int relay_worker_start(int fd);
/** Stops serving the relay (at exit). */
void relay_worker_stop(void);

#endif
