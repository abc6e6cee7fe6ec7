/* systemd's side of the process model, spoken directly (no libsystemd):
 * the notify protocol (sd_notify(3): READY, RELOADING, STOPPING, STATUS and
 * the watchdog), socket activation (sd_listen_fds(3)) and whether stderr is
 * the journal.  Everything here is a no-op when eddy does not run under
 * systemd, so the daemon calls it unconditionally. */
#ifndef EDDY_DAEMON_SD_H
#define EDDY_DAEMON_SD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/conf.h"

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
#define SD_LISTEN_FDS_START 3

/** Reads NOTIFY_SOCKET, WATCHDOG_USEC/WATCHDOG_PID and LISTEN_FDS/
 *  LISTEN_PID/LISTEN_FDNAMES, then removes them from the environment so
 *  that no child inherits them.  Call once, early in main(), before any
 *  thread starts. */
void sd_init(void);

/** Sends one notify datagram (lines "KEY=value" joined by '\n') without
 *  ever blocking: 0, also when not under systemd, or a negative errno. */
int sd_notify(const char *state);
/** READY=1 (listeners bound) with a STATUS line; starts the watchdog task
 *  (WATCHDOG=1 every half WATCHDOG_USEC) and the STATUS task, which reports
 *  *nconns open connections and the rate of *nrequests. */
void sd_ready(const size_t *nconns, const uint64_t *nrequests);
/** RELOADING=1 with MONOTONIC_USEC (SIGHUP received). */
void sd_reloading(void);
/** READY=1 after a reload, with STATUS saying whether it failed (the
 *  previous configuration keeps serving then). */
void sd_reloaded(bool ok);
/** STOPPING=1 (the drain begins). */
void sd_stopping(void);
/** Stops the watchdog and STATUS tasks (after the drain). */
void sd_stop(void);

/** How many listening sockets systemd passed (fds SD_LISTEN_FDS_START on),
 *  as sd_init found them: 0 if none or not for this process. */
int sd_listen_fds(void);
/** The name systemd gave passed socket i (FileDescriptorName=; the socket
 *  unit's name by default), or "unknown". */
const char *sd_listen_name(int i);
/** The configured listen entry that names fd's local address: the same
 *  Unix path, the same IP and port (a host name is resolved, on the thread
 *  pool), or any-address with the same port for "8080" and ":8080".  NULL
 *  if none does.  Runs inside a task. */
const listen_addr_t *sd_listen_match(int fd, const config_t *cfg);
/** fd's local address as text: "127.0.0.1:80", "[::]:80", "unix:/path". */
void sd_socket_address(int fd, char *buf, size_t len);

/** True if fd is the journal's stream (JOURNAL_STREAM names its device and
 *  inode): its lines then take "<N>" priority prefixes instead of times. */
bool sd_journal_stream(int fd);

#endif
