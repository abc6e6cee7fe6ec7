/* Small helpers shared by the C tests: spawning and reaping tasks, letting
 * the ready tasks run, ints carried in void pointers, a connected TCP pair.
 * Each one fails the test (like an ASSERT) when a call it makes fails. */
#ifndef EDDY_TEST_HELPERS_H
#define EDDY_TEST_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "eddy.h"

/** An int carried in a task's void * argument (or an item), and back. */
#define TEST_P(i) ((void *)(intptr_t)(i))
#define TEST_I(p) ((int)(intptr_t)(p))

/** Milliseconds elapsed since t0, a value of test_ms(). */
uint64_t test_since(uint64_t t0);

/** Spawns fn(arg) with the default options; returns the handle. */
eddy_task_t *test_spawn(eddy_task_fn fn, void *arg);

/** Joins and detaches t; returns its status. */
int test_reap(eddy_task_t *t);

/** Yields n times, letting every ready task run until it waits. */
void test_settle(int n);

/** Two connected TCP streams over 127.0.0.1: *a connected, *b accepted.
 * The listener is closed before returning; the caller closes both ends. */
void test_tcp_pair(eddy_stream_t **a, eddy_stream_t **b);

/** True when the tests run under a wrapper (EDDY_TEST_WRAPPER: valgrind in
 *  make check-valgrind). */
bool test_under_wrapper(void);

/** True under a wrapper or in an ASan build: where 100k stacks, guard
 *  pages, mapping counts and descriptor limits are not what they seem. */
bool test_under_checker(void);

/** Descriptors used up by test_fds_use_up, and the limit to restore. */
typedef struct test_fds {
    struct rlimit old;
    int fill[64];
    int n;
} test_fds_t;

/** Lowers RLIMIT_NOFILE to a few above the descriptors open now and opens
 *  descriptors until none is left: the next one fails with EMFILE. */
void test_fds_use_up(test_fds_t *f);

/** Closes the descriptors test_fds_use_up opened and restores the limit. */
void test_fds_give_back(test_fds_t *f);

#endif
