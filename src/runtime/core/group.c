/* Task groups (asyncio.TaskGroup).  Children are linked into their group
 * while they run; the group learns of each finish from eddy__task_finish. */
#include "runtime/internal.h"

static void cancel_children(eddy_group_t *g)
{
    g->cancelling = true;
    for (eddy_task_t *c = g->children; c != NULL; c = c->gnext)
        eddy_cancel(c);
}

void eddy_group_init(eddy_group_t *g, unsigned flags)
{
    g->children = NULL;
    g->owner = eddy_current();
    g->waiter = NULL;
    g->size = 0;
    g->error = 0;
    g->flags = flags;
    g->cancelling = false;
    g->closed = false;
}

/* In parentheses: eddy.h's eddy_group_spawn macro records the call site. */
int(eddy_group_spawn)(eddy_group_t *g, eddy_task_t **out, eddy_task_fn fn, void *arg,
                      const eddy_spawn_opts_t *opts)
{
    eddy_task_t *t;
    int rc;

    if (g->closed || g->cancelling)
        return UV_EINVAL;
    rc = eddy__task_new(&t, fn, arg, opts);
    if (rc != 0)
        return rc;
    t->group = g;
    t->gprev = NULL;
    t->gnext = g->children;
    if (g->children)
        g->children->gprev = t;
    g->children = t;
    g->size++;
    if (out != NULL) {
        eddy__task_handle(t);
        *out = t;
    }
    return 0;
}

void eddy__group_child_done(eddy_task_t *t)
{
    eddy_group_t *g = t->group;
    int status = t->status;

    if (t->gprev)
        t->gprev->gnext = t->gnext;
    else
        g->children = t->gnext;
    if (t->gnext)
        t->gnext->gprev = t->gprev;
    t->gprev = t->gnext = NULL;
    t->group = NULL;
    g->size--;

    /* A child that ends cancelled is not a failure (asyncio alike). */
    if (status < 0 && status != UV_ECANCELED) {
        if (g->error == 0)
            g->error = status;
        if (!(g->flags & EDDY_GROUP_SUPERVISE) && !g->cancelling) {
            cancel_children(g);
            /* The body is cancelled too unless it already waits for us;
             * eddy_group_wait absorbs a cancellation still pending. */
            if (g->waiter == NULL && g->owner != NULL && !g->closed)
                eddy_cancel(g->owner);
        }
    }
    if (g->waiter != NULL && g->size == 0)
        eddy_wait_wake(g->waiter, 0);
}

void eddy_group_cancel(eddy_group_t *g)
{
    cancel_children(g);
}

size_t eddy_group_size(const eddy_group_t *g)
{
    return g->size;
}

static void interrupt_nothing(eddy_wait_t *w)
{
    (void)w;
}

int eddy_group_wait(eddy_group_t *g)
{
    EDDY__CURRENT_OR_RETURN(self);
    eddy_wait_t w;
    int interrupted = 0;

    /* A cancellation the group itself sent the body is not the body's. */
    if (g->error != 0 && !(g->flags & EDDY_GROUP_SUPERVISE) && self == g->owner)
        self->cancel_pending = false;
    /* Children may still spawn children into the group while we wait
     * (asyncio alike): it closes only once the last has finished. */
    g->waiter = &w;
    while (g->size > 0) {
        eddy_wait_init(&w, interrupted ? NULL : interrupt_nothing);
        w.what = "the end of its task group's children";
        int rc = eddy_wait_park(&w, EDDY_FOREVER);
        if (rc < 0 && interrupted == 0) {
            interrupted = rc;
            cancel_children(g);
        }
    }
    g->waiter = NULL;
    g->closed = true;
    return g->error != 0 ? g->error : interrupted;
}
