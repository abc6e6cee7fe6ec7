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
