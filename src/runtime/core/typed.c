/* Typed results: integer tasks (eddy_spawn_int) and integer results, so
 * that a task computing a number needs no cast through void * on either
 * side.  A task's result is a union of a pointer and an int64_t. */
#include "runtime/internal.h"

/* The body of an eddy_spawn_int task: the integer function and its
 * argument travel in the task's own fields. */
static int int_body(void *arg)
{
    eddy_task_t *t = eddy__rt->current;
    eddy_int_task_fn fn = (eddy_int_task_fn)t->xfn;
    int64_t value = 0;
    int rc = fn(t->xint, &value);

    t->result_int = value;
    return rc;
}

int(eddy_spawn_int)(eddy_task_t **out, eddy_int_task_fn fn, int64_t arg,
                    const eddy_spawn_opts_t *opts)
{
    eddy_task_t *t;
    int rc = eddy__task_new(&t, int_body, NULL, opts);

    if (rc != 0)
        return rc;
    t->xfn = (void (*)(void))fn;
    t->xint = arg;
    if (out != NULL) {
        eddy__task_handle(t);
        *out = t;
    }
    return 0;
}

void eddy_set_result_int(int64_t value)
{
    eddy_task_t *t = eddy_current();
    if (t != NULL)
        t->result_int = value;
}

int eddy_join_int(eddy_task_t *t, int64_t *value)
{
    int rc = eddy_join(t, NULL);
    if (value != NULL)
        *value = eddy_done(t) ? t->result_int : 0;
    return rc;
}

int64_t eddy_result_int(const eddy_task_t *t)
{
    return t->result_int;
}

void *eddy_result_ptr(const eddy_task_t *t)
{
    return t->result;
}
