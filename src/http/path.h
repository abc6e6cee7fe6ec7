/* Request-target paths: percent-decoding and dot-segment removal. */
#ifndef EDDY_HTTP_PATH_H
#define EDDY_HTTP_PATH_H

#include <stddef.h>

/** Decodes the path of an origin-form target (up to '?' or '#') into out
 *  (capacity cap, NUL-terminated) and removes dot segments (RFC 3986
 *  §5.2.4) and repeated slashes.  Returns the length, or -1 for a path
 *  that is malformed (bad %-escape, not starting with '/'), decodes to a
 *  NUL, or climbs above the root. */
long http_path_normalize(const char *path, size_t len, char *out, size_t cap);

/** Percent-encodes a decoded path for a header (Location...): RFC 3986
 *  pchars and '/' stay, every other byte (CR, LF, space, '"', '%',
 *  non-ASCII...) becomes %XX.  With query set, the raw, already-encoded
 *  query of a request instead: '%', '?' and '/' stay too.  Writes out
 *  (capacity cap, NUL-terminated); the length, or -1 if it does not fit. */
long http_uri_encode(const char *in, size_t len, char *out, size_t cap, int query);

#endif
