/* Tasks: spawning, finishing, handles, cancellation and the watchers that
 * joiners, combinators and groups use to learn that a task finished.
 *
 * A task holds one reference while alive and one for each handle given
 * out (eddy_spawn's *t); its struct is freed when both are gone.  Structs
 * are pooled with their (lazily initialised) timer, so spawning costs no
 * malloc and no uv_timer_init in the steady state. */
#include "runtime/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_POOL_MAX 4096

static void free_after_close(uv_handle_t *h)
{
    free(eddy__container_of(h, eddy_task_t, timer));
}

static void task_free(eddy_task_t *t)
{
    eddy__rt_t *rt = eddy__rt;
    if (rt != NULL && rt->task_pool_len < TASK_POOL_MAX) {
        t->next_ready = rt->task_pool;
        rt->task_pool = t;
        rt->task_pool_len++;
        return;
    }
    if (t->timer_init)
        uv_close((uv_handle_t *)&t->timer, free_after_close);
    else
        free(t);
}

void eddy__task_pool_drain(void)
{
    eddy__rt_t *rt = eddy__rt;
    while (rt->task_pool != NULL) {
        eddy_task_t *t = rt->task_pool;
        rt->task_pool = t->next_ready;
        if (t->timer_init)
            uv_close((uv_handle_t *)&t->timer, free_after_close);
        else
            free(t);
    }
    rt->task_pool_len = 0;
}

void eddy__task_unref(eddy_task_t *t)
{
    assert(t->refs > 0);
    if (--t->refs == 0)
        task_free(t);
}

int eddy__task_new(eddy_task_t **out, eddy_task_fn fn, void *arg, const eddy_spawn_opts_t *opts)
{
    eddy__rt_t *rt = eddy__rt;
    eddy_task_t *t;
    bool timer_init = false;

    if (rt == NULL)
        return EDDY_ENOTASK;
    if (rt->task_pool != NULL) {
        t = rt->task_pool;
        rt->task_pool = t->next_ready;
        rt->task_pool_len--;
        timer_init = t->timer_init;
        /* Everything but the initialised timer handle is reset. */
        memset(t, 0, offsetof(eddy_task_t, timer));
        memset(&t->next_ready, 0, sizeof(*t) - offsetof(eddy_task_t, next_ready));
    } else {
        t = calloc(1, sizeof(*t));
        if (t == NULL)
            return UV_ENOMEM;
    }
    t->timer_init = timer_init;
    t->fn = fn;
    t->arg = arg;
    t->status = UV_EBUSY;
    t->wait_deadline = EDDY_FOREVER;
    t->refs = 1; /* alive */
    /* The stack is taken now, not when the task first runs, so that a
     * task that cannot have one fails here, visibly, instead of ending
     * with UV_ENOMEM before it ever ran. */
    int rc = eddy__stack_get(&t->stack,
                             (opts && opts->stack_size) ? opts->stack_size : EDDY_STACK_DEFAULT,
                             opts ? (opts->flags & EDDY_SPAWN_NOGUARD) : 0);
    /* The call site eddy_spawn_site recorded belongs to this spawn. */
    t->site_file = rt->site_file;
    t->site_line = rt->site_line;
    rt->site_file = NULL;
    if (rc != 0) {
        t->stack.base = NULL;
        task_free(t);
        return rc;
    }
    if (opts && opts->name) {
        strncpy(t->name, opts->name, sizeof(t->name) - 1);
        t->name[sizeof(t->name) - 1] = '\0';
    }

    t->next_live = rt->live;
    if (rt->live)
        rt->live->prev_live = t;
    rt->live = t;
    rt->nlive++;

    eddy__ready(t);
    *out = t;
    return 0;
}

/* In parentheses: eddy.h's eddy_spawn macro records the call site. */
int(eddy_spawn)(eddy_task_t **out, eddy_task_fn fn, void *arg, const eddy_spawn_opts_t *opts)
{
    eddy_task_t *t;
    int rc = eddy__task_new(&t, fn, arg, opts);
    if (rc != 0)
        return rc;
    if (out != NULL) {
        eddy__task_handle(t);
        *out = t;
    }
    return 0;
}

/* ------------------------------------------------------- handles and sites */

void eddy_spawn_site(const char *file, int line)
{
    eddy__rt_t *rt = eddy__rt;
    if (rt != NULL) {
        rt->site_file = file;
        rt->site_line = line;
    }
}

void eddy__task_handle(eddy_task_t *t)
{
    eddy__rt_t *rt = eddy__rt;

    t->refs++;
    /* A link: cheap enough to keep the list in every build, so that
     * EDDY_DEBUG alone turns the report on. */
    t->prev_handle = NULL;
    t->next_handle = rt->handles;
    if (rt->handles != NULL)
        rt->handles->prev_handle = t;
    rt->handles = t;
    t->handle_listed = true;
}

static void handle_unlist(eddy_task_t *t)
{
    eddy__rt_t *rt = eddy__rt;

    if (!t->handle_listed)
        return;
    if (t->prev_handle != NULL)
        t->prev_handle->next_handle = t->next_handle;
    else
        rt->handles = t->next_handle;
    if (t->next_handle != NULL)
        t->next_handle->prev_handle = t->prev_handle;
    t->prev_handle = t->next_handle = NULL;
    t->handle_listed = false;
}

void eddy__handles_report(bool log)
{
    eddy__rt_t *rt = eddy__rt;
    size_t n = 0;

    for (eddy_task_t *t = rt->handles; t != NULL; t = t->next_handle)
        n++;
    if (log && n > 0) {
        fprintf(stderr, "eddy: %zu task handle(s) never detached (eddy_detach):\n", n);
        for (eddy_task_t *t = rt->handles; t != NULL; t = t->next_handle) {
            const char *name = t->name[0] != '\0' ? t->name : "(unnamed)";
            fprintf(stderr, "eddy:   task \"%s\" spawned at %s:%d", name,
                    t->site_file ? t->site_file : "(unknown)", t->site_line);
            if (t->state != EDDY__DONE)
                fprintf(stderr, ", still running\n");
            else if (t->status < 0)
                fprintf(stderr, ", finished with %s\n", eddy_err_name(t->status));
            else
                fprintf(stderr, ", finished (status %d)\n", t->status);
        }
        fflush(stderr);
    }
    /* The handles outlive the runtime: eddy_detach must not touch the
     * list's head, freed with it. */
    while (rt->handles != NULL) {
        eddy_task_t *t = rt->handles;
        rt->handles = t->next_handle;
        t->prev_handle = t->next_handle = NULL;
        t->handle_listed = false;
    }
}

void eddy__task_finish(eddy_task_t *t, int status)
{
    eddy__rt_t *rt = eddy__rt;

    /* Waits leave the timer armed; a finished task needs it no more. */
    if (t->timer_init)
        uv_timer_stop(&t->timer);

    t->status = status;
    t->state = EDDY__DONE;
    t->cancel_pending = false;
    if (t->prev_live)
        t->prev_live->next_live = t->next_live;
    else
        rt->live = t->next_live;
    if (t->next_live)
        t->next_live->prev_live = t->prev_live;
    t->prev_live = t->next_live = NULL;
    rt->nlive--;

    /* Each watcher is unlinked before its callback runs, so a callback may
     * add or remove other watches. */
    while (t->watchers != NULL) {
        eddy__watch_t *w = t->watchers;
        t->watchers = w->next;
        if (w->next)
            w->next->prev = NULL;
        w->prev = w->next = NULL;
        w->task = NULL;
        w->cb(w, t);
    }
    if (t->group != NULL)
        eddy__group_child_done(t);
}

void eddy_detach(eddy_task_t *t)
{
    if (t != NULL) {
        handle_unlist(t);
        eddy__task_unref(t);
    }
}

void eddy_cancel(eddy_task_t *t)
{
    /* Requests made before the task sees the first are one cancellation
     * (asyncio alike): a second must not hit the cleanup's first wait. */
    if (t == NULL || t->state == EDDY__DONE || t->cancel_woken)
        return;
    if (t->state == EDDY__WAITING && t->shield == 0 && t->wait->on_interrupt != NULL) {
        t->cancel_woken = true;
        eddy__interrupt(t, UV_ECANCELED);
        return;
    }
    t->cancel_pending = true;
}

bool eddy_done(const eddy_task_t *t)
{
    return t->state == EDDY__DONE;
}

bool eddy_cancelled(const eddy_task_t *t)
{
    return t->state == EDDY__DONE && t->status == UV_ECANCELED;
}

bool eddy_cancelling(const eddy_task_t *t)
{
    return t->cancel_pending || t->cancel_woken;
}

int eddy_status(const eddy_task_t *t)
{
    return t->state == EDDY__DONE ? t->status : UV_EBUSY;
}

const char *eddy_task_name(const eddy_task_t *t)
{
    return t->name;
}

eddy_task_t *eddy_current(void)
{
    return eddy__rt ? eddy__rt->current : NULL;
}

void eddy_set_result(void *result)
{
    eddy_task_t *t = eddy_current();
    if (t != NULL)
        t->result = result;
}

/* ---------------------------------------------------------------- watches */

void eddy__watch_add(eddy_task_t *t, eddy__watch_t *w,
                     void (*cb)(eddy__watch_t *, eddy_task_t *), void *data)
{
    assert(t->state != EDDY__DONE);
    w->task = t;
    w->cb = cb;
    w->data = data;
    w->prev = NULL;
    w->next = t->watchers;
    if (t->watchers)
        t->watchers->prev = w;
    t->watchers = w;
}

void eddy__watch_remove(eddy__watch_t *w)
{
    eddy_task_t *t = w->task;
    if (t == NULL)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        t->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->task = NULL;
}

/* ------------------------------------------------------------------- join */

const char eddy__what_join[] = "the end of a task";

static void join_wake(eddy__watch_t *w, eddy_task_t *finished)
{
    eddy_wait_wake(w->data, 0);
}

static void join_interrupted(eddy_wait_t *wait)
{
    eddy__watch_remove(wait->data);
}

/* Waits until t is done; returns 0 or the interruption. */
static int wait_done(eddy_task_t *t)
{
    eddy__watch_t watch;
    eddy_wait_t w;
    int rc;

    if (t->state == EDDY__DONE)
        return 0;
    if (t == eddy_current())
        return UV_EINVAL; /* joining yourself never ends */
    eddy_wait_init(&w, join_interrupted);
    w.data = &watch;
    w.what = eddy__what_join;
    eddy__watch_add(t, &watch, join_wake, &w);
    rc = eddy_wait_park(&w, EDDY_FOREVER);
    return rc;
}

void eddy__wait_done_uninterruptibly(eddy_task_t *t)
{
    eddy__watch_t watch;
    eddy_wait_t w;

    while (t->state != EDDY__DONE) {
        eddy_wait_init(&w, NULL);
        eddy__watch_add(t, &watch, join_wake, &w);
        eddy_wait_park(&w, EDDY_FOREVER);
    }
}

int eddy_join(eddy_task_t *t, void **result)
{
    EDDY__CURRENT_OR_RETURN(self);
    (void)self;
    int rc = wait_done(t);
    if (rc != 0)
        return rc;
    if (result != NULL)
        *result = t->result;
    return t->status;
}

int eddy_shield(eddy_task_t *t, void **result)
{
    return eddy_join(t, result);
}
