/* Request-path normalisation: the first defence of static files. */
#include "http/path.h"
#include "runner/runner.h"

static const char *norm(const char *in, char *out, size_t cap)
{
    long n = http_path_normalize(in, strlen(in), out, cap);
    return n < 0 ? NULL : out;
}

TEST_IMPL(http_path_normalize_plain)
{
    char o[128];
    ASSERT_STR_EQ(norm("/", o, sizeof(o)), "/");
    ASSERT_STR_EQ(norm("/a/b.txt", o, sizeof(o)), "/a/b.txt");
    ASSERT_STR_EQ(norm("/a//b///c", o, sizeof(o)), "/a/b/c");
    ASSERT_STR_EQ(norm("/dir/", o, sizeof(o)), "/dir/");
    ASSERT_STR_EQ(norm("/a?x=/../..", o, sizeof(o)), "/a");
    ASSERT_STR_EQ(norm("/a#frag", o, sizeof(o)), "/a");
    ASSERT_STR_EQ(norm("/sp%20ace", o, sizeof(o)), "/sp ace");
    ASSERT_STR_EQ(norm("/back\\slash", o, sizeof(o)), "/back\\slash");
    return 0;
}

TEST_IMPL(http_path_normalize_dot_segments)
{
    char o[128];
    ASSERT_STR_EQ(norm("/a/./b/../c", o, sizeof(o)), "/a/c");
    ASSERT_STR_EQ(norm("/a/b/..", o, sizeof(o)), "/a/");
    ASSERT_STR_EQ(norm("/a/b/.", o, sizeof(o)), "/a/b/");
    ASSERT_STR_EQ(norm("/a/..", o, sizeof(o)), "/");
    ASSERT_STR_EQ(norm("/./", o, sizeof(o)), "/");
    ASSERT_STR_EQ(norm("/a/%2e%2e/b", o, sizeof(o)), "/b");
    ASSERT_STR_EQ(norm("/a%2fb", o, sizeof(o)), "/a/b");
    return 0;
}

TEST_IMPL(http_path_normalize_refuses_escapes)
{
    char o[128];
    ASSERT_NULL(norm("/..", o, sizeof(o)));
    ASSERT_NULL(norm("/../etc/passwd", o, sizeof(o)));
    ASSERT_NULL(norm("/a/../..", o, sizeof(o)));
    ASSERT_NULL(norm("/%2e%2e/etc/passwd", o, sizeof(o)));
    ASSERT_NULL(norm("/%2E%2E%2f%2e%2e%2fetc", o, sizeof(o)));
    ASSERT_NULL(norm("/a/%2e%2e/%2e%2e/x", o, sizeof(o)));
    ASSERT_NULL(norm("/..%2f..%2fetc", o, sizeof(o)));
    ASSERT_NULL(norm("/x%00.txt", o, sizeof(o)));   /* NUL */
    ASSERT_NULL(norm("/%zz", o, sizeof(o)));         /* bad escape */
    ASSERT_NULL(norm("/%4", o, sizeof(o)));          /* truncated escape */
    ASSERT_NULL(norm("relative", o, sizeof(o)));
    ASSERT_NULL(norm("", o, sizeof(o)));
    /* Longer than the buffer. */
    ASSERT_NULL(norm("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", o, 16));
    return 0;
}
