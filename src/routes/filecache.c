#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "http/date.h"
#include "http/mime.h"
#include "routes/filecache.h"

#define CACHE_ENTRIES 1024
#define CACHE_DATA_MAX (64 * 1024) /* files up to this size are kept in memory */
#define REVALIDATE_MS 1000

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* Opens the root by its path: the descriptor and the canonical path. */
static int open_root(file_cache_t *fc)
{
    int fd = open(fc->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *real = realpath(fc->root, NULL);
    if (real == NULL) {
        int err = -errno;
        close(fd);
        return err;
    }
    free(fc->root_real);
    fc->root_real = real;
    fc->root_fd = fd;
    return 0;
}

int file_cache_init(file_cache_t *fc, const char *root, bool follow_symlinks)
{
    memset(fc, 0, sizeof(*fc));
    fc->root_fd = -1;
    fc->root = strdup(root);
    if (fc->root == NULL)
        return -ENOMEM;
    int rc = open_root(fc);
    if (rc != 0) {
        free(fc->root);
        fc->root = NULL;
        return rc;
    }
    fc->follow_symlinks = follow_symlinks;
    fc->nbuckets = 2 * CACHE_ENTRIES;
    fc->max_len = CACHE_ENTRIES;
    fc->buckets = calloc(fc->nbuckets, sizeof(file_entry_t *));
    if (fc->buckets == NULL) {
        free(fc->root_real);
        free(fc->root);
        close(fc->root_fd);
        return -ENOMEM;
    }
    return 0;
}

void file_entry_release(void *p)
{
    file_entry_t *e = p;
    if (--e->refs > 0)
        return;
    if (e->fd >= 0)
        close(e->fd);
    free(e->data);
    free(e->key);
    free(e);
}

static void lru_remove(file_cache_t *fc, file_entry_t *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        fc->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        fc->lru_tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void lru_push_front(file_cache_t *fc, file_entry_t *e)
{
    e->lprev = NULL;
    e->lnext = fc->lru_head;
    if (fc->lru_head)
        fc->lru_head->lprev = e;
    fc->lru_head = e;
    if (fc->lru_tail == NULL)
        fc->lru_tail = e;
}

static void unlink_entry(file_cache_t *fc, file_entry_t *e)
{
    file_entry_t **pp = &fc->buckets[e->hash & (fc->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_remove(fc, e);
    fc->len--;
    file_entry_release(e); /* the cache's reference */
}

void file_cache_destroy(file_cache_t *fc)
{
    while (fc->lru_head != NULL)
        unlink_entry(fc, fc->lru_head);
    free(fc->buckets);
    free(fc->root_real);
    fc->root_real = NULL;
    free(fc->root);
    fc->root = NULL;
    if (fc->root_fd >= 0)
        close(fc->root_fd);
    fc->root_fd = -1;
}

static void lru_front(file_cache_t *fc, file_entry_t *e)
{
    if (fc->lru_head == e)
        return;
    lru_remove(fc, e);
    lru_push_front(fc, e);
}

/* Without openat2 (kernels before 5.6, valgrind, strict seccomp): open,
 * then ask the kernel where the file really is and refuse it if that is
 * outside the root.  Same verdict, one readlink more. */
static int open_checked(file_cache_t *fc, const char *path)
{
    char link[64], real[PATH_MAX];
    int fd = openat(fc->root_fd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fc->follow_symlinks)
        return fd < 0 ? -errno : fd;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof(real) - 1);
    size_t rl = strlen(fc->root_real);
    if (n < 0) {
        close(fd);
        return -EACCES;
    }
    real[n] = '\0';
    bool inside = strncmp(real, fc->root_real, rl) == 0 &&
                  (real[rl] == '/' || real[rl] == '\0' || (rl == 1 && fc->root_real[0] == '/'));
    if (!inside) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

static int open_beneath(file_cache_t *fc, const char *path)
{
    struct open_how how = {
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
        .resolve = RESOLVE_NO_MAGICLINKS | (fc->follow_symlinks ? 0 : RESOLVE_BENEATH),
    };
    if (*path == '\0')
        path = ".";
    if (!fc->no_openat2) {
        long fd = syscall(SYS_openat2, fc->root_fd, path, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -errno;
        fc->no_openat2 = true;
    }
    return open_checked(fc, path);
}

static void describe(file_entry_t *e, const struct stat *st)
{
    e->size = st->st_size;
    e->mtime = st->st_mtim.tv_sec;
    e->mtime_nsec = st->st_mtim.tv_nsec;
    e->ino = st->st_ino;
    e->dev = st->st_dev;
    e->is_dir = S_ISDIR(st->st_mode);
    /* A strong validator from what changes when the file does. */
    e->etag_len = (size_t)snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx-%llx\"",
                                   (unsigned long long)st->st_ino,
                                   (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
                                       (unsigned long long)st->st_mtim.tv_nsec,
                                   (unsigned long long)st->st_size);
    http_date_format(e->mtime, e->last_modified);
}

/* A miss worth remembering: the path may appear later, and revalidation
 * notices that; errors such as EACCES or EXDEV are not cached. */
static bool cacheable_miss(int err)
{
    return err == -ENOENT || err == -ENOTDIR;
}

static int load(file_cache_t *fc, const char *path, file_entry_t **out)
{
    struct stat st;
    int fd = open_beneath(fc, path);
    if (fd < 0 && !cacheable_miss(fd))
        return fd;
    if (fd < 0) {
        file_entry_t *e = calloc(1, sizeof(*e));
        if (e == NULL || (e->key = strdup(path)) == NULL) {
            free(e);
            return fd;
        }
        e->fd = -1;
        e->missing = fd;
        e->refs = 1;
        *out = e;
        return 0;
    }
    if (fstat(fd, &st) != 0 || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
        int err = S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ? -errno : -EACCES;
        close(fd);
        return err;
    }
    file_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(path)) == NULL) {
        free(e);
        close(fd);
        return -ENOMEM;
    }
    e->fd = fd;
    e->mime = http_mime_type(path, strlen(path));
    describe(e, &st);
    if (S_ISREG(st.st_mode) && st.st_size <= CACHE_DATA_MAX && st.st_size > 0) {
        e->data = malloc((size_t)st.st_size);
        if (e->data && pread(fd, e->data, (size_t)st.st_size, 0) != st.st_size) {
            free(e->data);
            e->data = NULL;
        }
    }
    e->refs = 1;
    *out = e;
    return 0;
}

/* Still the same file?  One fstatat by path: if the path now names
 * another inode (replaced, or a symlink swapped in), reopen it safely. */
static bool still_valid(file_cache_t *fc, file_entry_t *e)
{
    struct stat st;
    if (fstatat(fc->root_fd, *e->key ? e->key : ".", &st, AT_SYMLINK_NOFOLLOW) != 0)
        return e->missing != 0 && cacheable_miss(-errno); /* still missing */
    if (e->missing != 0)
        return false; /* it appeared */
    if (S_ISLNK(st.st_mode) && fstatat(fc->root_fd, e->key, &st, 0) != 0)
        return false;
    return st.st_ino == e->ino && st.st_dev == e->dev && st.st_size == e->size &&
           st.st_mtim.tv_sec == e->mtime && st.st_mtim.tv_nsec == e->mtime_nsec;
}

/* The caller's answer from a cached entry: a reference, or the miss. */
static int answer(file_entry_t *e, file_entry_t **out)
{
    if (e->missing != 0)
        return e->missing;
    e->refs++;
    *out = e;
    return 0;
}

/* Does the root path still name the directory we hold?  Not if a deploy
 * swapped a symlink or renamed another directory over it, or if ours was
 * deleted (no links left: its inode number may already be reused). */
static bool root_current(file_cache_t *fc)
{
    struct stat by_path, held;
    if (fc->root_fd < 0 || stat(fc->root, &by_path) != 0 || fstat(fc->root_fd, &held) != 0)
        return false;
    return by_path.st_dev == held.st_dev && by_path.st_ino == held.st_ino && held.st_nlink > 0;
}

/* Once a second: if the root path now names another directory, every
 * entry is of the old tree; drop them all (a response still sending one
 * keeps its reference) and open the root again.  While the path names
 * nothing, root_fd is -1 and every request a miss, as with nginx. */
static void check_root(file_cache_t *fc, uint64_t now_ms)
{
    if (now_ms - fc->root_checked_ms < REVALIDATE_MS)
        return;
    fc->root_checked_ms = now_ms;
    if (root_current(fc))
        return;
    while (fc->lru_head != NULL)
        unlink_entry(fc, fc->lru_head);
    if (fc->root_fd >= 0)
        close(fc->root_fd);
    fc->root_fd = -1;
    (void)open_root(fc);
}

size_t file_cache_sweep(file_cache_t *fc, uint64_t now_ms, size_t budget)
{
    size_t dropped = 0, stats = 0, i;

    check_root(fc, now_ms);
    /* Every bucket at most once; the stat calls are what the budget
     * bounds, and the next sweep goes on where this one stopped. */
    for (i = 0; i < fc->nbuckets && stats < budget && fc->len > 0; i++) {
        size_t b = (fc->sweep_pos + i) & (fc->nbuckets - 1);
        file_entry_t *e = fc->buckets[b], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            if (e->missing != 0 || now_ms - e->checked_ms < REVALIDATE_MS)
                continue;
            stats++;
            if (still_valid(fc, e)) {
                e->checked_ms = now_ms;
            } else {
                unlink_entry(fc, e);
                dropped++;
            }
        }
    }
    fc->sweep_pos = (fc->sweep_pos + i) & (fc->nbuckets - 1);
    return dropped;
}

int file_cache_get(file_cache_t *fc, const char *path, uint64_t now_ms, file_entry_t **out)
{
    uint32_t h = hash_str(path);
    file_entry_t *e;

    check_root(fc, now_ms);
    if (fc->root_fd < 0)
        return -ENOENT;

    for (e = fc->buckets[h & (fc->nbuckets - 1)]; e != NULL; e = e->hnext) {
        if (e->hash == h && strcmp(e->key, path) == 0)
            break;
    }
    if (e != NULL) {
        if (now_ms - e->checked_ms < REVALIDATE_MS || still_valid(fc, e)) {
            if (now_ms - e->checked_ms >= REVALIDATE_MS)
                e->checked_ms = now_ms;
            lru_front(fc, e);
            return answer(e, out);
        }
        unlink_entry(fc, e);
    }
    int rc = load(fc, path, &e);
    if (rc != 0)
        return rc;
    e->hash = h;
    e->checked_ms = now_ms;
    if (fc->len == fc->max_len)
        unlink_entry(fc, fc->lru_tail);
    e->hnext = fc->buckets[h & (fc->nbuckets - 1)];
    fc->buckets[h & (fc->nbuckets - 1)] = e;
    lru_push_front(fc, e);
    fc->len++;
    return answer(e, out);
}
