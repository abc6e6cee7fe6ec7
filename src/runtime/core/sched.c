/* The scheduler: eddy_run's loop, the ready queue and the switches between
 * the scheduler's context (the thread's own stack) and the tasks'.
 *
 * A task that waits switches to the scheduler, which resumes the next ready
 * task; the one exception is eddy__switch_to_task, a generator's handoff
 * straight to its consumer or body, woken without entering the queue.
 * Ready tasks are run in batches, one batch per loop turn (asyncio's
 * call_soon), so libuv callbacks only mark tasks ready and never run task
 * code themselves. */
#include "runtime/internal.h"
#include "runtime/io/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef EDDY_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

__thread eddy__rt_t *eddy__rt;

uv_loop_t *eddy_loop(void)
{
    return eddy__rt ? &eddy__rt->loop : NULL;
}

uint64_t eddy_now(void)
{
    if (eddy__rt == NULL)
        return 0;
    /* uv_now is cached at the start of the loop turn: a deadline counted
     * from it would lose whatever time the batch has run so far. */
    uv_update_time(&eddy__rt->loop);
    return uv_now(&eddy__rt->loop);
}

void eddy__ready(eddy_task_t *t)
{
    eddy__rt_t *rt = eddy__rt;
    t->state = EDDY__READY;
    t->next_ready = NULL;
    if (rt->ready_tail)
        rt->ready_tail->next_ready = t;
    else
        rt->ready_head = t;
    rt->ready_tail = t;
    /* Woken by a libuv callback: uv_run(UV_RUN_ONCE) runs due timers
     * before it polls, and must not then block in the poll while a task is
     * ready (uv_stop makes the poll's timeout 0; uv_run clears the flag). */
    if (rt->in_uv_run)
        uv_stop(&rt->loop);
}

/* -------------------------------------------------------------- switching */

void eddy__switch_to_scheduler(eddy_task_t *t)
{
    eddy__rt_t *rt = eddy__rt;
#ifdef EDDY_ASAN
    /* A finished task never comes back: let ASan drop its fake stack. */
    __sanitizer_start_switch_fiber(t->state == EDDY__DONE ? NULL : &t->asan_fake_stack,
                                   rt->sched_stack_bottom, rt->sched_stack_size);
#endif
    eddy__ctx_switch(&t->ctx, &rt->sched_ctx);
#ifdef EDDY_ASAN
    /* Resumed by the scheduler or straight by another task (see
     * eddy__switch_to_task): the stack left is not always the scheduler's,
     * whose bounds eddy__task_entry records (tasks start only from it). */
    __sanitizer_finish_switch_fiber(t->asan_fake_stack, NULL, NULL);
#endif
}

void eddy__task_entry(void *arg)
{
    eddy_task_t *t = arg;
#ifdef EDDY_ASAN
    __sanitizer_finish_switch_fiber(NULL, &eddy__rt->sched_stack_bottom,
                                    &eddy__rt->sched_stack_size);
#endif
    eddy__task_finish(t, t->fn(t->arg));
    eddy__switch_to_scheduler(t);
    abort(); /* a finished task is never resumed */
}

static void stall_check(eddy__rt_t *rt, eddy_task_t *t);

void eddy__switch_to_task(eddy_task_t *from, eddy_task_t *to)
{
    eddy__rt_t *rt = eddy__rt;

    assert(to->started && to->state == EDDY__READY);
    if (EDDY__UNLIKELY(rt->stall_ms != 0))
        stall_check(rt, from);
    to->state = EDDY__RUNNING;
    rt->current = to;
#ifdef EDDY_ASAN
    __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack.base, to->stack.size);
#endif
    eddy__ctx_switch(&from->ctx, &to->ctx);
#ifdef EDDY_ASAN
    __sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
#endif
}

/* ---------------------------------------------------------- stall detector */

/* The kernel tick's clock: a read costs a few ns (no TSC, no syscall),
 * cheap enough for every switch, and a stall is many ticks long. */
static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* t switched out: reports its run if it was too long, and starts the
 * next one's.  Out of line, so that the switch path carries one test. */
static __attribute__((noinline)) void stall_check(eddy__rt_t *rt, eddy_task_t *t)
{
    uint64_t now = coarse_ms(), ran = now - rt->stall_mark;
    rt->stall_mark = now;
    if (ran < rt->stall_ms)
        return;
    rt->stalls++;
    rt->stall_cb(t, ran, rt->stall_arg);
    rt->stall_mark = coarse_ms(); /* the report is not the next task's run */
}

int eddy_stall_watch(uint64_t ms, eddy_stall_cb cb, void *arg)
{
    eddy__rt_t *rt = eddy__rt;
    if (rt == NULL)
        return EDDY_ENOTASK;
    rt->stall_ms = cb != NULL ? ms : 0;
    rt->stall_cb = cb;
    rt->stall_arg = arg;
    /* Turned on from inside a running task: its run starts now. */
    rt->stall_mark = coarse_ms();
    return 0;
}

void eddy_stats(eddy_stats_t *st)
{
    eddy__rt_t *rt = eddy__rt;
    memset(st, 0, sizeof(*st));
    if (rt == NULL)
        return;
    st->tasks_alive = rt->nlive;
    st->stacks_pooled = eddy__stack_pooled();
    st->stalls = rt->stalls;
}

/* -------------------------------------------------------------- resuming */

/* Runs t until it waits or finishes. */
static void resume(eddy__rt_t *rt, eddy_task_t *t)
{
    if (!t->started) {
        if (t->cancel_pending) {
            /* Cancelled before it ever ran: it never will. */
            t->cancel_pending = false;
            eddy__task_finish(t, UV_ECANCELED);
            goto finished;
        }
        t->started = true;
        eddy__ctx_make(&t->ctx, t->stack.base, t->stack.size, eddy__task_entry, t);
    }
    t->state = EDDY__RUNNING;
    rt->current = t;
#ifdef EDDY_ASAN
    __sanitizer_start_switch_fiber(&rt->sched_fake_stack, t->stack.base, t->stack.size);
#endif
    eddy__ctx_switch(&rt->sched_ctx, &t->ctx);
#ifdef EDDY_ASAN
    __sanitizer_finish_switch_fiber(rt->sched_fake_stack, NULL, NULL);
#endif
    /* The task that switched back: t, or one t handed over to directly. */
    t = rt->current;
    rt->current = NULL;
    if (EDDY__UNLIKELY(rt->stall_ms != 0))
        stall_check(rt, t);
    if (t->state != EDDY__DONE)
        return;
finished:
    /* The task has switched away from its stack for good (or never ran). */
    eddy__stack_put(&t->stack);
    t->stack.base = NULL;
    eddy__task_unref(t); /* the reference held while alive */
}

/* Runs the tasks that are ready now; tasks made ready meanwhile wait for
 * the next turn, so a task that yields in a loop cannot starve the loop. */
static void run_batch(eddy__rt_t *rt)
{
    eddy_task_t *t = rt->ready_head;
    rt->ready_head = rt->ready_tail = NULL;
    if (EDDY__UNLIKELY(rt->stall_ms != 0))
        rt->stall_mark = coarse_ms(); /* the loop's own work is no task's */
    while (t != NULL) {
        eddy_task_t *next = t->next_ready;
        t->next_ready = NULL;
        resume(rt, t);
        t = next;
    }
}

/* Cancels every unfinished task; returns how many were interrupted or
 * marked.  Oldest first (the live list is newest first): a task that
 * forwards its cancellation to tasks it spawned (a group owner, a gather)
 * then runs before them, while theirs is undelivered, so the two coalesce
 * instead of the second interrupting their cleanup. */
static size_t cancel_all(eddy__rt_t *rt)
{
    eddy_task_t *t = rt->live;
    size_t n = 0;

    while (t != NULL && t->next_live != NULL)
        t = t->next_live;
    for (; t != NULL; t = t->prev_live) {
        if (!eddy_cancelling(t)) {
            eddy_cancel(t);
            n++;
        }
    }
    return n;
}

/* Whether the deadlock report is printed: always in a debug build
 * (configure --enable-debug), else when EDDY_DEBUG is set and not "0". */
static bool debug_log_enabled(void)
{
#ifndef NDEBUG_RUNTIME
    return true;
#else
    const char *e = getenv("EDDY_DEBUG");
    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
#endif
}

/* Writes what a stuck task waits on. */
static void report_stuck(const eddy_task_t *t)
{
    const char *name = t->name[0] != '\0' ? t->name : "(unnamed)";
    const eddy_wait_t *w = t->state == EDDY__WAITING ? t->wait : NULL;

    if (w == NULL) {
        fprintf(stderr, "eddy:   task \"%s\" is not waiting\n", name);
    } else if (w->what == eddy__what_join && ((eddy__watch_t *)w->data)->task != NULL) {
        const eddy_task_t *joined = ((eddy__watch_t *)w->data)->task;
        fprintf(stderr, "eddy:   task \"%s\" waits for the end of task \"%s\"\n", name,
                joined->name[0] != '\0' ? joined->name : "(unnamed)");
    } else {
        fprintf(stderr, "eddy:   task \"%s\" waits on %s%s\n", name,
                w->what != NULL ? w->what : "a libuv request or handle",
                w->on_interrupt == NULL ? " (uninterruptible)" : "");
    }
}

/* The debug log of a deadlock: every stuck task and what it waits on
 * (at most 100 of them). */
static void report_deadlock(eddy__rt_t *rt)
{
    size_t n = 0;

    if (!debug_log_enabled())
        return;
    fprintf(stderr, "eddy: deadlock: %zu task(s) wait on something nothing can signal:\n",
            rt->nlive);
    for (const eddy_task_t *t = rt->live; t != NULL && n < 100; t = t->next_live, n++)
        report_stuck(t);
    if (rt->nlive > n)
        fprintf(stderr, "eddy:   ... and %zu more\n", rt->nlive - n);
    fflush(stderr);
}

/* Drives the loop until done(rt) holds.  Returns 0, or EDDY_EDEADLOCK when
 * at some point nothing could make progress: every task was then cancelled
 * (once), and done(rt) may have come true as they unwound. */
static int drive(eddy__rt_t *rt, bool (*done)(eddy__rt_t *, void *), void *arg)
{
    bool deadlocked = false;
    for (;;) {
        run_batch(rt);
        if (done(rt, arg))
            return deadlocked ? EDDY_EDEADLOCK : 0;
        rt->in_uv_run = true;
        int alive = uv_run(&rt->loop, rt->ready_head ? UV_RUN_NOWAIT : UV_RUN_ONCE);
        rt->in_uv_run = false;
        if (alive || rt->ready_head != NULL)
            continue;
        /* No handle, no request, no ready task: nothing can wake anyone. */
        if (done(rt, arg))
            return deadlocked ? EDDY_EDEADLOCK : 0;
        report_deadlock(rt);
        size_t cancelled = deadlocked ? 0 : cancel_all(rt);
        if (cancelled == 0) {
            if (debug_log_enabled())
                fprintf(stderr, "eddy: deadlock: nothing left to cancel\n");
            return EDDY_EDEADLOCK;
        }
        if (debug_log_enabled())
            fprintf(stderr, "eddy: deadlock: cancelled %zu task(s)\n", cancelled);
        deadlocked = true;
    }
}

static bool main_done(eddy__rt_t *rt, void *arg)
{
    return ((eddy_task_t *)arg)->state == EDDY__DONE;
}

static bool all_done(eddy__rt_t *rt, void *arg)
{
    return rt->nlive == 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        return;
    /* The timer of a task whose handle outlives the run: the struct must
     * not reuse it once given back (it would be on a dead loop). */
    if (h->data == &eddy__task_timer_tag)
        eddy__container_of(h, eddy_task_t, timer)->timer_init = false;
    uv_close(h, NULL);
}

/* Frees what a deadlocked run could not finish: the tasks stay parked
 * forever, so their stacks and structs are reclaimed without running. */
static void abandon_live(eddy__rt_t *rt)
{
    while (rt->live != NULL) {
        eddy_task_t *t = rt->live;
        rt->live = t->next_live;
        if (t->stack.base != NULL)
            eddy__stack_put(&t->stack);
        t->stack.base = NULL;
        t->state = EDDY__DONE;
        t->status = EDDY_EDEADLOCK;
        rt->nlive--;
        t->refs = 1;
        eddy__task_unref(t);
    }
}

/* The main task of eddy_run and of its typed variants, and where its
 * result goes. */
typedef struct run_main {
    eddy_task_fn fn;
    void *arg;
    eddy_int_task_fn int_fn; /* instead of fn: eddy_run_int */
    int64_t int_arg;
    void **result;
    int64_t *result_int;
} run_main_t;

static int run(const run_main_t *m)
{
    eddy__rt_t *rt;
    eddy_task_t *main_task;
    int rc, status;
    bool stuck = false;

    if (eddy__rt != NULL)
        return UV_EBUSY; /* one runtime per thread */
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return UV_ENOMEM;
    rc = uv_loop_init(&rt->loop);
    if (rc != 0) {
        free(rt);
        return rc;
    }
    eddy__rt = rt;
    eddy__overflow_enter();

    eddy_spawn_opts_t opts = {.name = "main"};
    if (m->int_fn != NULL)
        rc = (eddy_spawn_int)(&main_task, m->int_fn, m->int_arg, &opts);
    else
        rc = (eddy_spawn)(&main_task, m->fn, m->arg, &opts);
    if (rc != 0) {
        status = rc;
        goto teardown;
    }
    rc = drive(rt, main_done, main_task);
    /* A deadlock is reported as such, whatever main returned after the
     * cancellation that broke it. */
    status = rc == EDDY_EDEADLOCK ? rc : main_task->status;
    if (m->result != NULL)
        *m->result = main_task->result;
    if (m->result_int != NULL)
        *m->result_int = main_task->result_int;
    eddy_detach(main_task);

    /* asyncio.run: cancel what is left and let it unwind. */
    if (rt->nlive > 0) {
        cancel_all(rt);
        stuck = drive(rt, all_done, NULL) != 0 && rt->nlive > 0;
    }
    /* Every task has ended (or is stuck for good): a handle still out now
     * was forgotten.  Before abandon_live, which frees stuck tasks. */
    eddy__handles_report(debug_log_enabled());
    if (stuck)
        abandon_live(rt);

teardown:
    /* Close every handle: the tasks' timers and whatever was left open. */
    eddy__task_pool_drain();
    uv_walk(&rt->loop, close_walk_cb, NULL);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&rt->loop);
    assert(rc == 0);
    (void)rc;
    eddy__stack_pool_drain();
    eddy__stream_spares_free();
    eddy__overflow_leave();
    eddy__rt = NULL;
    free(rt);
    return status;
}

int eddy_run(eddy_task_fn main_fn, void *arg)
{
    run_main_t m = {.fn = main_fn, .arg = arg};
    return run(&m);
}

int eddy_run_result(eddy_task_fn main_fn, void *arg, void **result)
{
    run_main_t m = {.fn = main_fn, .arg = arg, .result = result};
    if (result != NULL)
        *result = NULL;
    return run(&m);
}

int eddy_run_int(eddy_int_task_fn main_fn, int64_t arg, int64_t *result)
{
    run_main_t m = {.int_fn = main_fn, .int_arg = arg, .result_int = result};
    if (result != NULL)
        *result = 0;
    return run(&m);
}
