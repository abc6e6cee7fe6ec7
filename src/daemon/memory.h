/* Giving memory back to the system after a spike of connections. */
#ifndef EDDY_DAEMON_MEMORY_H
#define EDDY_DAEMON_MEMORY_H

#include <stddef.h>

/** Starts a once-a-second check of *nconns (the open connections): when
 *  their number has fallen a lot since the last peak, the memory malloc
 *  keeps free is returned (malloc_trim), at most every few seconds.  The
 *  timer never keeps the loop alive and goes with eddy_run's teardown. */
void memory_trim_start(const size_t *nconns);

#endif
