/*
 * eddy.h — a coroutine runtime for C on libuv: Python's asyncio, done in C.
 *
 * Tasks are stackful coroutines: a task can wait at any call depth, so code
 * reads top to bottom like blocking code while one thread serves thousands
 * of tasks.  Every waiting call returns 0 (or a count) on success and a
 * negative libuv error code on failure (UV_ECANCELED, UV_ETIMEDOUT, ...), or
 * one of eddy's own codes below.  There is no hidden global error state.
 *
 * Waiting calls may only be made from inside a task (under eddy_run); called
 * elsewhere they return EDDY_ENOTASK.  The runtime is single-threaded: one
 * loop per thread, and eddy_* calls are not thread-safe except where noted.
 *
 * The short forms (EDDY_WITH_LOCK and the other scoped blocks, generators,
 * typed results, awaitables as tasks) are in eddy/forms.h, included at the
 * end.  Where eddy deliberately differs from asyncio, and why: the table
 * in README.md ("Where eddy deliberately differs from asyncio").
 */
#ifndef EDDY_H
#define EDDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The API by concept, in their own headers (each needs the ones before). */
#include "eddy/task.h"
#include "eddy/sync.h"
#include "eddy/io.h"

/* ------------------------------------------------------------ Short forms */

/* Scoped blocks (EDDY_WITH_LOCK...), done/pending sets, typed results,
 * async generators, awaitables as tasks and the spawn sites of the
 * forgotten-handle report: in their own header. */
#include "eddy/forms.h"

#ifdef __cplusplus
}
#endif
#endif /* EDDY_H */
