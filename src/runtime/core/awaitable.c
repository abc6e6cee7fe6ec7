/* Awaitables as tasks: one call (a sleep, a queue get, an event wait, a
 * channel receive, a to_thread call) run by a small task of its own, so
 * that gather, wait and as_completed take it beside other tasks.  The
 * call's extra arguments travel in the task's own fields, so spawning one
 * allocates nothing beyond the task. */
#include "runtime/internal.h"

static eddy_task_t *self(void)
{
    return eddy__rt->current;
}

/* Spawns body(arg) with the extra arguments set before it first runs. */
static int spawn_call(eddy_task_t **out, eddy_task_fn body, void *arg, void (*xfn)(void),
                      void (*xfn2)(void), void *xarg, int64_t xint)
{
    eddy_task_t *t;
    int rc = eddy__task_new(&t, body, arg, NULL);

    if (rc != 0)
        return rc;
    t->xfn = xfn;
    t->xfn2 = xfn2;
    t->xarg = xarg;
    t->xint = xint;
    if (out != NULL) {
        eddy__task_handle(t);
        *out = t;
    }
    return 0;
}

static int thread_body(void *arg)
{
    eddy_task_t *t = self();
    void *result = NULL;
    int rc = eddy_to_thread((eddy_thread_fn)t->xfn, arg, &result, (void (*)(void *))t->xfn2);
    if (rc == 0)
        t->result = result;
    return rc;
}

int(eddy_spawn_thread)(eddy_task_t **out, eddy_thread_fn fn, void *arg,
                       void (*discard)(void *result))
{
    return spawn_call(out, thread_body, arg, (void (*)(void))fn, (void (*)(void))discard, NULL, 0);
}

static int sleep_body(void *arg)
{
    return eddy_sleep((uint64_t)self()->xint);
}

int(eddy_spawn_sleep)(eddy_task_t **out, uint64_t ms)
{
    return spawn_call(out, sleep_body, NULL, NULL, NULL, NULL, (int64_t)ms);
}

static int queue_get_body(void *arg)
{
    void *item = NULL;
    int rc = eddy_queue_get(arg, &item);
    if (rc == 0)
        self()->result = item;
    return rc;
}

int(eddy_spawn_queue_get)(eddy_task_t **out, eddy_queue_t *q)
{
    return spawn_call(out, queue_get_body, q, NULL, NULL, NULL, 0);
}

static int event_wait_body(void *arg)
{
    return eddy_event_wait(arg);
}

int(eddy_spawn_event_wait)(eddy_task_t **out, eddy_event_t *e)
{
    return spawn_call(out, event_wait_body, e, NULL, NULL, NULL, 0);
}

static int chan_recv_body(void *arg)
{
    return eddy_chan_recv(arg, self()->xarg);
}

int(eddy_spawn_chan_recv)(eddy_task_t **out, eddy_chan_t *ch, void *item)
{
    return spawn_call(out, chan_recv_body, ch, NULL, NULL, item, 0);
}
