/* eddy_to_thread (asyncio.to_thread): a blocking function on libuv's
 * thread pool, awaited by a task.
 *
 * The uv_work_t is on the heap because it must outlive an interrupted
 * wait: a job that was cancelled before it started still gets its
 * after-work callback (with UV_ECANCELED), and frees itself there.  A job
 * that has started cannot be stopped; the task then waits for it, since fn
 * may use memory on the task's stack through arg. */
#include "runtime/internal.h"

#include <stdlib.h>

/* What the waiting task keeps on its stack. */
typedef struct call {
    eddy_wait_t w;
    void *result;
    int status;
    bool finished;  /* the job ran to its end (or was cancelled) */
    bool cancelled; /* uv_cancel removed it before it started */
} call_t;

typedef struct job {
    uv_work_t req;
    call_t *call; /* NULL once the job was cancelled before it started */
    eddy_thread_fn fn;
    void *arg;
    void *result;
} job_t;

static void work_cb(uv_work_t *req)
{
    job_t *job = req->data;
    job->result = job->fn(job->arg);
}

static void after_work_cb(uv_work_t *req, int status)
{
    job_t *job = req->data;
    call_t *call = job->call;

    if (call != NULL) {
        call->finished = true;
        call->status = status;
        call->result = job->result;
        eddy_wait_wake(&call->w, status); /* no-op if the task stopped waiting */
    }
    free(job);
}

static void call_interrupted(eddy_wait_t *w)
{
    job_t *job = w->data;
    call_t *call = job->call;

    /* uv_cancel succeeds only while the job is still queued; its
     * after-work callback then comes with UV_ECANCELED and frees it. */
    if (uv_cancel((uv_req_t *)&job->req) == 0) {
        call->cancelled = true;
        job->call = NULL;
    }
}

int eddy_to_thread(eddy_thread_fn fn, void *arg, void **result, void (*discard)(void *result))
{
    EDDY__CURRENT_OR_RETURN(t);
    call_t call = {.finished = false, .cancelled = false};
    job_t *job;
    int rc;

    (void)t;
    job = malloc(sizeof(*job));
    if (job == NULL)
        return UV_ENOMEM;
    job->req.data = job;
    job->call = &call;
    job->fn = fn;
    job->arg = arg;
    job->result = NULL;
    eddy_wait_init(&call.w, call_interrupted);
    call.w.data = job;
    rc = uv_queue_work(eddy_loop(), &job->req, work_cb, after_work_cb);
    if (rc != 0) {
        free(job);
        return rc;
    }
    rc = eddy_wait_park(&call.w, EDDY_FOREVER);
    if (call.cancelled)
        return rc; /* fn never ran */
    if (rc != 0 && !call.finished) {
        /* Interrupted while fn runs: wait for it without interruption. */
        eddy_wait_init(&call.w, NULL);
        eddy_wait_park(&call.w, EDDY_FOREVER);
    }
    if (rc == 0 && result != NULL)
        *result = call.result;
    else if (discard != NULL)
        discard(call.result);
    return rc;
}
