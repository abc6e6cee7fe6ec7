/* The C test runner (libuv style).  A test is `TEST_IMPL(name) { ...;
 * return 0; }` in any file listed in Makefile.am; the build collects them
 * into tests/test-list.h.  Every test runs in its own process with a
 * timeout; a failed ASSERT prints both operands and aborts that process. */
#ifndef EDDY_TEST_RUNNER_H
#define EDDY_TEST_RUNNER_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy.h"

#define TEST_IMPL(name)                                                                            \
    int test_##name(void);                                                                         \
    int test_##name(void)

/** Return from a test to report it skipped (TAP "# SKIP"). */
#define TEST_SKIP 77

/** Milliseconds on the monotonic clock. */
uint64_t test_ms(void);
/** Scale for timing bounds: EDDY_TEST_TIMEOUT_SCALE (valgrind is slower). */
double test_scale(void);

#define TEST__FAIL(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        fflush(stderr);                                                                            \
        abort();                                                                                   \
    } while (0)

#define TEST__CMP(a, op, b)                                                                        \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (!(a_ op b_))                                                                           \
            TEST__FAIL("ASSERT(%s %s %s) failed: %lld %s %lld", #a, #op, #b, a_, #op, b_);         \
    } while (0)

#define ASSERT_EQ(a, b) TEST__CMP(a, ==, b)
#define ASSERT_NE(a, b) TEST__CMP(a, !=, b)
#define ASSERT_LT(a, b) TEST__CMP(a, <, b)
#define ASSERT_LE(a, b) TEST__CMP(a, <=, b)
#define ASSERT_GT(a, b) TEST__CMP(a, >, b)
#define ASSERT_GE(a, b) TEST__CMP(a, >=, b)
#define ASSERT_TRUE(x) TEST__CMP(!!(x), ==, 1)
#define ASSERT_FALSE(x) TEST__CMP(!!(x), ==, 0)

/** lo <= v <= hi */
#define ASSERT_BETWEEN(v, lo, hi)                                                                  \
    do {                                                                                           \
        long long v_ = (long long)(v), lo_ = (long long)(lo), hi_ = (long long)(hi);               \
        if (v_ < lo_ || v_ > hi_)                                                                  \
            TEST__FAIL("ASSERT_BETWEEN(%s) failed: %lld not in [%lld, %lld]", #v, v_, lo_, hi_);   \
    } while (0)

/** An eddy/libuv status equals the expected one (names both on failure). */
#define ASSERT_ERR(rc, expected)                                                                   \
    do {                                                                                           \
        int r_ = (int)(rc), e_ = (int)(expected);                                                  \
        if (r_ != e_)                                                                              \
            TEST__FAIL("%s: got %d (%s: %s), expected %d (%s)", #rc, r_, eddy_err_name(r_),      \
                       eddy_strerror(r_), e_, eddy_err_name(e_));                                 \
    } while (0)
#define ASSERT_OK(rc) ASSERT_ERR(rc, 0)

#define ASSERT_PTR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const void *a_ = (a), *b_ = (b);                                                           \
        if (a_ != b_)                                                                              \
            TEST__FAIL("ASSERT_PTR_EQ(%s, %s) failed: %p != %p", #a, #b, a_, b_);                  \
    } while (0)
#define ASSERT_NULL(a) ASSERT_PTR_EQ(a, NULL)
#define ASSERT_NOT_NULL(a)                                                                         \
    do {                                                                                           \
        if ((a) == NULL)                                                                           \
            TEST__FAIL("ASSERT_NOT_NULL(%s) failed", #a);                                          \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                       \
            TEST__FAIL("ASSERT_STR_EQ(%s, %s) failed: \"%s\" != \"%s\"", #a, #b,                   \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                    \
    } while (0)

#endif
