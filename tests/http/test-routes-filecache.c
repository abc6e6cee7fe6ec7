/* The static route's open-file cache: hits, remembered misses, revalidation
 * and refusals of paths that leave the root. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "routes/filecache.h"
#include "runner/runner.h"

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
}

TEST_IMPL(filecache_hits_and_remembered_misses)
{
    char dir[] = "/tmp/eddy-fc-XXXXXX";
    file_cache_t fc;
    file_entry_t *e = NULL;

    ASSERT_NOT_NULL(mkdtemp(dir));
    put_file(dir, "a.txt", "hello");
    ASSERT_OK(file_cache_init(&fc, dir, false));

    /* A hit: the bytes of a small file are in memory, the entry shared. */
    ASSERT_OK(file_cache_get(&fc, "a.txt", 1000, &e));
    ASSERT_EQ(e->size, 5);
    ASSERT_TRUE(memcmp(e->data, "hello", 5) == 0);
    ASSERT_STR_EQ(e->mime, "text/plain; charset=utf-8");
    file_entry_t *again = NULL;
    ASSERT_OK(file_cache_get(&fc, "a.txt", 1001, &again));
    ASSERT_PTR_EQ(again, e);
    file_entry_release(again);
    file_entry_release(e);

    /* A miss is remembered (a FILE.gz probe must not cost a syscall per
     * request) until revalidation sees the file appear. */
    ASSERT_EQ(file_cache_get(&fc, "a.txt.gz", 1000, &e), -ENOENT);
    ASSERT_EQ(fc.len, 2);
    put_file(dir, "a.txt.gz", "gz");
    ASSERT_EQ(file_cache_get(&fc, "a.txt.gz", 1500, &e), -ENOENT); /* within the second */
    ASSERT_EQ(fc.len, 2);
    ASSERT_OK(file_cache_get(&fc, "a.txt.gz", 2100, &e)); /* revalidated */
    ASSERT_EQ(e->size, 2);
    file_entry_release(e);
    ASSERT_EQ(fc.len, 2);

    /* A path that leaves the root is refused and not remembered. */
    char link[512];
    snprintf(link, sizeof(link), "%s/out", dir);
    ASSERT_OK(symlink("/etc/hostname", link));
    int rc = file_cache_get(&fc, "out", 3000, &e);
    ASSERT_TRUE(rc == -EXDEV || rc == -ELOOP);
    ASSERT_EQ(fc.len, 2);

    file_cache_destroy(&fc);
    unlink(link);
    snprintf(link, sizeof(link), "%s/a.txt", dir);
    unlink(link);
    snprintf(link, sizeof(link), "%s/a.txt.gz", dir);
    unlink(link);
    rmdir(dir);
    return 0;
}

/* A deleted file's entry (and descriptor) goes at the next sweep, without
 * a request for it; a root renamed over or deleted and recreated is
 * opened again by path. */
TEST_IMPL(filecache_sweep_and_root_swap)
{
    char base[] = "/tmp/eddy-fc-XXXXXX", root[600], old[600], fresh[600], path[700];
    file_cache_t fc;
    file_entry_t *e = NULL;

    ASSERT_NOT_NULL(mkdtemp(base));
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(old, sizeof(old), "%s/old", base);
    snprintf(fresh, sizeof(fresh), "%s/new", base);
    ASSERT_OK(mkdir(root, 0755));
    ASSERT_OK(mkdir(fresh, 0755));
    put_file(root, "a.txt", "old a");
    put_file(root, "gone.txt", "gone");
    put_file(fresh, "a.txt", "new a!");
    ASSERT_OK(file_cache_init(&fc, root, false));

    ASSERT_OK(file_cache_get(&fc, "gone.txt", 1000, &e));
    file_entry_release(e);
    ASSERT_OK(file_cache_get(&fc, "a.txt", 1000, &e));
    file_entry_release(e);
    ASSERT_EQ(fc.len, 2);

    /* Nothing is due within the second; after it, the deleted one goes. */
    snprintf(path, sizeof(path), "%s/gone.txt", root);
    ASSERT_OK(unlink(path));
    ASSERT_EQ(file_cache_sweep(&fc, 1500, 64), 0);
    ASSERT_EQ(file_cache_sweep(&fc, 2100, 64), 1);
    ASSERT_EQ(fc.len, 1);

    /* A directory renamed over the root: the new tree within a second. */
    ASSERT_OK(rename(root, old));
    ASSERT_OK(rename(fresh, root));
    ASSERT_OK(file_cache_get(&fc, "a.txt", 2200, &e));
    ASSERT_EQ(e->size, 5); /* still the old tree within the second */
    file_entry_release(e);
    ASSERT_OK(file_cache_get(&fc, "a.txt", 3200, &e));
    ASSERT_EQ(e->size, 6);
    ASSERT_TRUE(memcmp(e->data, "new a!", 6) == 0);
    file_entry_release(e);

    /* Root deleted: misses; recreated: served again. */
    snprintf(path, sizeof(path), "%s/a.txt", root);
    ASSERT_OK(unlink(path));
    ASSERT_OK(rmdir(root));
    ASSERT_EQ(file_cache_get(&fc, "a.txt", 4300, &e), -ENOENT);
    ASSERT_OK(mkdir(root, 0755));
    put_file(root, "a.txt", "again");
    ASSERT_OK(file_cache_get(&fc, "a.txt", 5400, &e));
    ASSERT_TRUE(memcmp(e->data, "again", 5) == 0);
    file_entry_release(e);

    file_cache_destroy(&fc);
    ASSERT_OK(unlink(path));
    ASSERT_OK(rmdir(root));
    snprintf(path, sizeof(path), "%s/a.txt", old);
    ASSERT_OK(unlink(path));
    ASSERT_OK(rmdir(old));
    ASSERT_OK(rmdir(base));
    return 0;
}
