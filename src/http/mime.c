#include "http/mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Sorted by extension for bsearch.  Text types carry a charset so browsers
 * need not guess. */
#define MIME_MAP(XX)                                                                               \
    XX("7z", "application/x-7z-compressed")                                                        \
    XX("avif", "image/avif")                                                                       \
    XX("bin", "application/octet-stream")                                                          \
    XX("bmp", "image/bmp")                                                                         \
    XX("css", "text/css; charset=utf-8")                                                           \
    XX("csv", "text/csv; charset=utf-8")                                                           \
    XX("gif", "image/gif")                                                                         \
    XX("gz", "application/gzip")                                                                   \
    XX("htm", "text/html; charset=utf-8")                                                          \
    XX("html", "text/html; charset=utf-8")                                                         \
    XX("ico", "image/vnd.microsoft.icon")                                                          \
    XX("jpeg", "image/jpeg")                                                                       \
    XX("jpg", "image/jpeg")                                                                        \
    XX("js", "text/javascript; charset=utf-8")                                                     \
    XX("json", "application/json")                                                                 \
    XX("map", "application/json")                                                                  \
    XX("md", "text/markdown; charset=utf-8")                                                       \
    XX("mjs", "text/javascript; charset=utf-8")                                                    \
    XX("mp3", "audio/mpeg")                                                                        \
    XX("mp4", "video/mp4")                                                                         \
    XX("oga", "audio/ogg")                                                                         \
    XX("ogg", "audio/ogg")                                                                         \
    XX("ogv", "video/ogg")                                                                         \
    XX("otf", "font/otf")                                                                          \
    XX("pdf", "application/pdf")                                                                   \
    XX("png", "image/png")                                                                         \
    XX("svg", "image/svg+xml")                                                                     \
    XX("tar", "application/x-tar")                                                                 \
    XX("tif", "image/tiff")                                                                        \
    XX("tiff", "image/tiff")                                                                       \
    XX("ttf", "font/ttf")                                                                          \
    XX("txt", "text/plain; charset=utf-8")                                                         \
    XX("wasm", "application/wasm")                                                                 \
    XX("wav", "audio/wav")                                                                         \
    XX("webm", "video/webm")                                                                       \
    XX("webmanifest", "application/manifest+json")                                                 \
    XX("webp", "image/webp")                                                                       \
    XX("woff", "font/woff")                                                                        \
    XX("woff2", "font/woff2")                                                                      \
    XX("xml", "application/xml")                                                                   \
    XX("zip", "application/zip")

static const struct mime {
    const char *ext;
    const char *type;
} mimes[] = {
#define XX(ext, type) {ext, type},
    MIME_MAP(XX)
#undef XX
};

static int cmp(const void *key, const void *elem)
{
    return strcasecmp(key, ((const struct mime *)elem)->ext);
}

const char *http_mime_type(const char *name, size_t len)
{
    char ext[16];
    size_t i = len;

    while (i > 0 && name[i - 1] != '.' && name[i - 1] != '/')
        i--;
    if (i == 0 || name[i - 1] != '.' || len - i == 0 || len - i >= sizeof(ext))
        return "application/octet-stream";
    memcpy(ext, name + i, len - i);
    ext[len - i] = '\0';
    const struct mime *m = bsearch(ext, mimes, sizeof(mimes) / sizeof(mimes[0]), sizeof(mimes[0]), cmp);
    return m ? m->type : "application/octet-stream";
}
