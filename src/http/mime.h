/* Content types by file extension. */
#ifndef EDDY_HTTP_MIME_H
#define EDDY_HTTP_MIME_H

#include <stddef.h>

/** The media type for a file name (by its extension, case-insensitive);
 *  "application/octet-stream" when unknown. */
const char *http_mime_type(const char *name, size_t len);

#endif
