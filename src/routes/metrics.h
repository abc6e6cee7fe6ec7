/* The metrics route (type = metrics): Prometheus text format 0.0.4.
 *
 * The route renders what the layers below it count (http/stats.h,
 * websocket/stats.h, eddy_stats, the process's own numbers); the numbers
 * the daemon owns (open connections, the access log's drops, loop lag)
 * come through metrics_daemon_hook, which the daemon sets: the routes
 * never include the daemon.  Each family is written once, HELP and TYPE
 * first, then every sample of it. */
#ifndef EDDY_ROUTES_METRICS_H
#define EDDY_ROUTES_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A scrape's text being built. */
typedef struct metrics_text {
    char *buf;
    size_t len, cap;
    bool failed; /* out of memory: the scrape is answered with 500 */
    /* Labels every sample carries first ("worker=\"2\""; "" for none):
     * with worker processes, the master renders each worker's numbers with
     * its label, and a scrape sees the whole server. */
    const char *labels;
} metrics_text_t;

/** The HELP and TYPE lines that start a family (type: "counter",
 *  "gauge", "histogram"). */
void metrics_family(metrics_text_t *m, const char *name, const char *type, const char *help);
/** One sample line: name{m->labels,labels} v (labels: NULL or "" for
 *  none, else preformatted "code=\"2xx\"" with escaped values). */
void metrics_sample(metrics_text_t *m, const char *name, const char *labels, double v);
/** A family of one sample without labels. */
void metrics_counter(metrics_text_t *m, const char *name, const char *help, double v);
void metrics_gauge(metrics_text_t *m, const char *name, const char *help, double v);
/** Escapes a label value (backslash, double quote, newline) into buf
 *  (truncated to len); returns buf. */
const char *metrics_escape(const char *v, char *buf, size_t len);

/** Renders this process's numbers into m (m->labels on every sample). */
void metrics_render(metrics_text_t *m);
/** Merges n whole texts of the same families (with labels that tell them
 *  apart) into out: each family's HELP and TYPE once, then the samples of
 *  every text in turn.  Families in the order they first appear. */
void metrics_merge(const char *const *texts, const size_t *lens, size_t n, metrics_text_t *out);
/** Set by the daemon with worker processes: fills m with every worker's
 *  numbers (it asks the master, so it waits): 0 or an error, for which
 *  the scrape gets 503. */
extern int (*metrics_gather_hook)(metrics_text_t *m);

/** Set by the daemon: renders the families it owns into m.  Called in the
 *  connection task that serves the scrape, so it may read the daemon's
 *  state but must not wait. */
extern void (*metrics_daemon_hook)(metrics_text_t *m);

#endif
