/* Small helpers shared by the C tests: spawning and reaping tasks, letting
 * the ready tasks run, ints carried in void pointers, a connected TCP pair.
 * Each one fails the test (like an ASSERT) when a call it makes fails. */
#ifndef EDDY_TEST_HELPERS_H
#define EDDY_TEST_HELPERS_H

#include <stdint.h>

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

#endif
