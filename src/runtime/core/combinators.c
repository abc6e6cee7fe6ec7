/* Combinators over spawned tasks: gather, wait, as_completed, wait_for.
 * Each registers a watch on the tasks it waits for; a watch fires when its
 * task finishes and wakes the waiting task, which re-checks its condition.
 * None of them takes ownership of the handles it is given. */
#include "runtime/internal.h"

#include <stdlib.h>

/* Small sets use the caller's stack for their watches. */
#define INLINE_WATCHES 16

/* A wait's own deadline reports this positive status, to tell it apart from
 * a timeout scope's UV_ETIMEDOUT. */
#define OWN_DEADLINE 1

typedef struct waiting {
    eddy_wait_t w;
    size_t finished;
    size_t failed;
    int first_error;
} waiting_t;

static void on_finished(eddy__watch_t *watch, eddy_task_t *t)
{
    waiting_t *st = watch->data;
    st->finished++;
    if (t->status < 0) {
        if (st->failed++ == 0)
            st->first_error = t->status;
    }
    eddy_wait_wake(&st->w, 0);
}

static void interrupt_nothing(eddy_wait_t *w)
{
    (void)w;
}

static eddy__watch_t *watches_alloc(eddy__watch_t *inline_buf, size_t n)
{
    if (n <= INLINE_WATCHES)
        return inline_buf;
    return malloc(n * sizeof(eddy__watch_t));
}

static void watches_free(eddy__watch_t *inline_buf, eddy__watch_t *ws, size_t n)
{
    for (size_t i = 0; i < n; i++)
        eddy__watch_remove(&ws[i]);
    if (ws != inline_buf)
        free(ws);
}

/* Watches every unfinished task; counts the finished ones into st. */
static void watch_all(eddy_task_t *const *tasks, size_t n, eddy__watch_t *ws, waiting_t *st)
{
    for (size_t i = 0; i < n; i++) {
        ws[i].task = NULL;
        if (tasks[i]->state == EDDY__DONE) {
            st->finished++;
            if (tasks[i]->status < 0 && st->failed++ == 0)
                st->first_error = tasks[i]->status;
        } else {
            eddy__watch_add(tasks[i], &ws[i], on_finished, st);
        }
    }
}

int eddy_gather(eddy_task_t *const *tasks, size_t n, void **results, int *statuses,
                unsigned flags)
{
    EDDY__CURRENT_OR_RETURN(self);
    eddy__watch_t inline_buf[INLINE_WATCHES], *ws;
    waiting_t st = {.first_error = 0};
    bool fail_fast = !(flags & EDDY_GATHER_COLLECT);
    int rc = 0;

    (void)self;
    ws = watches_alloc(inline_buf, n);
    if (ws == NULL)
        return UV_ENOMEM;
    watch_all(tasks, n, ws, &st);

    while (st.finished < n && !(fail_fast && st.failed > 0)) {
        eddy_wait_init(&st.w, interrupt_nothing);
        st.w.what = "the end of tasks it gathers or waits for";
        rc = eddy_wait_park(&st.w, EDDY_FOREVER);
        if (rc < 0)
            break;
    }
    if (st.finished < n) {
        /* Failed fast or interrupted: cancel the rest and reap them. */
        for (size_t i = 0; i < n; i++)
            eddy_cancel(tasks[i]);
        while (st.finished < n) {
            eddy_wait_init(&st.w, NULL);
            st.w.what = "the end of tasks it gathers or waits for";
            eddy_wait_park(&st.w, EDDY_FOREVER);
        }
    }
    watches_free(inline_buf, ws, n);

    for (size_t i = 0; i < n; i++) {
        if (results)
            results[i] = tasks[i]->result;
        if (statuses)
            statuses[i] = tasks[i]->status;
    }
    if (rc < 0)
        return rc;
    return fail_fast ? st.first_error : 0;
}

static bool wait_met(const waiting_t *st, size_t n, enum eddy_return_when when)
{
    switch (when) {
    case EDDY_FIRST_COMPLETED:
        return st->finished > 0;
    case EDDY_FIRST_EXCEPTION:
        return st->failed > 0 || st->finished == n;
    case EDDY_ALL_COMPLETED:
    default:
        return st->finished == n;
    }
}

int eddy_wait(eddy_task_t *const *tasks, size_t n, enum eddy_return_when when,
              uint64_t timeout_ms)
{
    EDDY__CURRENT_OR_RETURN(self);
    eddy__watch_t inline_buf[INLINE_WATCHES], *ws;
    waiting_t st = {.first_error = 0};
    uint64_t deadline = timeout_ms == EDDY_FOREVER ? EDDY_FOREVER : eddy_now() + timeout_ms;
    int rc = 0;

    (void)self;
    if (n == 0)
        return UV_EINVAL;
    ws = watches_alloc(inline_buf, n);
    if (ws == NULL)
        return UV_ENOMEM;
    watch_all(tasks, n, ws, &st);
    while (!wait_met(&st, n, when)) {
        eddy_wait_init(&st.w, interrupt_nothing);
        st.w.what = "the end of tasks it gathers or waits for";
        rc = eddy__park(&st.w, deadline, OWN_DEADLINE);
        if (rc != 0)
            break;
    }
    watches_free(inline_buf, ws, n);
    return rc < 0 ? rc : (int)st.finished;
}

int eddy_wait_sets(eddy_task_t *const *tasks, size_t n, enum eddy_return_when when,
                   uint64_t timeout_ms, eddy_task_t **done, eddy_task_t **pending)
{
    int rc = eddy_wait(tasks, n, when, timeout_ms);
    size_t ndone = 0, npending = 0;

    /* Sorted after the wait, from the tasks' states: a task that finished
     * as the wait returned is done, whatever woke the waiter. */
    for (size_t i = 0; i < n; i++) {
        if (tasks[i]->state == EDDY__DONE) {
            if (done != NULL)
                done[ndone] = tasks[i];
            ndone++;
        } else {
            if (pending != NULL)
                pending[npending] = tasks[i];
            npending++;
        }
    }
    return rc < 0 ? rc : (int)ndone;
}

/* ----------------------------------------------------------- as_completed */

static void on_completed(eddy__watch_t *watch, eddy_task_t *t)
{
    eddy_as_completed_t *it = watch->data;
    it->order[it->nfinished++] = t;
    if (it->waiter != NULL)
        eddy_wait_wake(it->waiter, 0);
}

static void as_completed_interrupted(eddy_wait_t *w)
{
    ((eddy_as_completed_t *)w->data)->waiter = NULL;
}

int eddy_as_completed_init(eddy_as_completed_t *it, eddy_task_t *const *tasks, size_t n,
                           uint64_t timeout_ms)
{
    it->n = n;
    it->nfinished = it->nyielded = 0;
    it->waiter = NULL;
    it->deadline = timeout_ms == EDDY_FOREVER ? EDDY_FOREVER : eddy_now() + timeout_ms;
    it->watches = calloc(n ? n : 1, sizeof(eddy__watch_t));
    it->order = calloc(n ? n : 1, sizeof(eddy_task_t *));
    if (it->watches == NULL || it->order == NULL) {
        free(it->watches);
        free(it->order);
        it->watches = NULL;
        it->order = NULL;
        return UV_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (tasks[i]->state == EDDY__DONE)
            it->order[it->nfinished++] = tasks[i];
        else
            eddy__watch_add(tasks[i], &it->watches[i], on_completed, it);
    }
    return 0;
}

int eddy_as_completed_next(eddy_as_completed_t *it, eddy_task_t **t)
{
    EDDY__CURRENT_OR_RETURN(self);
    eddy_wait_t w;

    (void)self;
    if (it->nyielded == it->n)
        return UV_EOF;
    while (it->nyielded == it->nfinished) {
        eddy_wait_init(&w, as_completed_interrupted);
        w.what = "the end of tasks it gathers or waits for";
        w.data = it;
        it->waiter = &w;
        int rc = eddy__park(&w, it->deadline, UV_ETIMEDOUT);
        it->waiter = NULL;
        if (rc < 0)
            return rc;
    }
    *t = it->order[it->nyielded++];
    return 0;
}

void eddy_as_completed_close(eddy_as_completed_t *it)
{
    if (it->watches != NULL) {
        for (size_t i = 0; i < it->n; i++)
            eddy__watch_remove(&it->watches[i]);
    }
    free(it->watches);
    free(it->order);
    it->watches = NULL;
    it->order = NULL;
}

/* --------------------------------------------------------------- wait_for */

int eddy_wait_for(eddy_task_t *t, uint64_t timeout_ms, void **result)
{
    EDDY__CURRENT_OR_RETURN(self);
    eddy__watch_t watch;
    waiting_t st = {.first_error = 0};
    uint64_t deadline = timeout_ms == EDDY_FOREVER ? EDDY_FOREVER : eddy_now() + timeout_ms;
    int rc = 0;

    (void)self;
    if (t->state != EDDY__DONE) {
        eddy__watch_add(t, &watch, on_finished, &st);
        eddy_wait_init(&st.w, interrupt_nothing);
        st.w.what = "the end of tasks it gathers or waits for";
        rc = eddy__park(&st.w, deadline, OWN_DEADLINE);
        eddy__watch_remove(&watch);
    }
    if (t->state != EDDY__DONE) {
        /* Timed out or interrupted: cancel t and wait for it to unwind. */
        eddy_cancel(t);
        eddy__wait_done_uninterruptibly(t);
        if (rc < 0)
            return rc; /* the waiting task itself was interrupted */
        if (t->status < 0)
            return UV_ETIMEDOUT;
    }
    if (result != NULL)
        *result = t->result;
    return t->status;
}
