/* Open-file cache of a static route: hot files cost no open/fstat/close per
 * request.  An entry keeps the file open (and small files' bytes in
 * memory) and is revalidated with one fstatat at most once a second; a
 * changed file is reopened.  Misses are remembered the same way, so a
 * probe for a FILE.gz that does not exist costs no syscall per request.
 * Opening uses openat2(RESOLVE_BENEATH), so no path and no symlink leads
 * out of the root unless symlinks are allowed.  The root itself is looked
 * up by path again once a second: an atomic deploy (a symlink swapped, a
 * directory renamed over, or deleted and recreated) is served within a
 * second, as nginx does by resolving the path on every request. */
#ifndef EDDY_ROUTES_FILECACHE_H
#define EDDY_ROUTES_FILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

typedef struct file_entry {
    unsigned refs;
    char *key;
    uint32_t hash;
    int fd;
    int missing; /* a remembered miss (-ENOENT, -ENOTDIR): no fd, no data */
    bool is_dir;
    off_t size;
    time_t mtime;
    long mtime_nsec;
    ino_t ino;
    dev_t dev;
    char *data; /* the whole file when small */
    const char *mime; /* by the name's extension */
    char etag[64];
    size_t etag_len;
    char last_modified[32];
    uint64_t checked_ms;
    struct file_entry *hnext;         /* hash chain */
    struct file_entry *lprev, *lnext; /* LRU, most recent first */
} file_entry_t;

typedef struct file_cache {
    int root_fd;     /* -1 while the root path names nothing */
    char *root;      /* as configured: reopened when it names another dir */
    char *root_real; /* canonical root, for the fallback without openat2 */
    uint64_t root_checked_ms;
    size_t sweep_pos; /* the bucket the next sweep starts at */
    bool no_openat2;
    bool follow_symlinks;
    file_entry_t **buckets;
    size_t nbuckets, len, max_len;
    file_entry_t *lru_head, *lru_tail;
} file_cache_t;

/** Opens root and prepares an empty cache; 0 or -errno. */
int file_cache_init(file_cache_t *fc, const char *root, bool follow_symlinks);
void file_cache_destroy(file_cache_t *fc);

/** The entry for path (relative to the root, no leading '/'), with a
 *  reference for the caller: 0, or -errno (-ENOENT, -EXDEV / -ELOOP for a
 *  path that would leave the root, -EACCES...). */
int file_cache_get(file_cache_t *fc, const char *path, uint64_t now_ms, file_entry_t **out);
/** Revalidates the root (once a second) and up to budget entries not
 *  checked within the last second, from where the last sweep stopped:
 *  entries of files deleted or replaced are dropped, which closes their
 *  descriptors once no response holds them.  Returns the entries dropped. */
size_t file_cache_sweep(file_cache_t *fc, uint64_t now_ms, size_t budget);
/** Drops a reference (the response holding it was written). */
void file_entry_release(void *entry);

#endif
