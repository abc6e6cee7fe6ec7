/* Barriers (asyncio.Barrier).
 *
 * The waiters of the current generation sit in arrival order on one wait
 * queue, so the queue's length is the number of arrivals.  The last party
 * to arrive wakes each waiter with its arrival index as the status and
 * leaves the queue empty: the next generation can start filling at once,
 * with no draining phase, since every woken waiter already holds its
 * result.  A waiter that is interrupted breaks the barrier (as
 * threading.Barrier does on a timeout): the others would otherwise wait for
 * a party that is gone.  That happens in the wait's interrupt hook, so no
 * other task can arrive in between and count the departed one. */
#include "runtime/internal.h"

int eddy_barrier_init(eddy_barrier_t *b, unsigned parties)
{
    if (parties == 0)
        return UV_EINVAL;
    b->parties = parties;
    b->broken = false;
    eddy__waitq_init(&b->waiters);
    return 0;
}

/* Wakes every waiter with status; the queue is left empty. */
static void wake_all_except(eddy_barrier_t *b, const eddy__waiter_t *self, int status)
{
    eddy__waiter_t *wt;
    while ((wt = eddy__waitq_pop(&b->waiters)) != NULL) {
        if (wt != self)
            eddy_wait_wake(&wt->w, status);
    }
}

static void barrier_interrupted(eddy_wait_t *w)
{
    eddy_barrier_t *b = w->data;
    b->broken = true;
    /* Unlinks the interrupted waiter too; the core wakes it after this. */
    wake_all_except(b, eddy__container_of(w, eddy__waiter_t, w), EDDY_EBROKEN);
}

int eddy_barrier_wait(eddy_barrier_t *b)
{
    eddy__waiter_t wt;
    unsigned index;

    if (eddy_current() == NULL)
        return EDDY_ENOTASK;
    if (b->broken)
        return EDDY_EBROKEN;
    index = (unsigned)b->waiters.len;
    if (index + 1 < b->parties)
        /* The index, given by the last arrival. */
        return eddy__waitq_park_with(&b->waiters, &wt, EDDY_FOREVER, barrier_interrupted, b);

    /* The last party: release this generation, in arrival order. */
    for (int i = 0; b->waiters.head != NULL; i++)
        eddy_wait_wake(&eddy__waitq_pop(&b->waiters)->w, i);
    return (int)index;
}

void eddy_barrier_abort(eddy_barrier_t *b)
{
    b->broken = true;
    wake_all_except(b, NULL, EDDY_EBROKEN);
}

void eddy_barrier_reset(eddy_barrier_t *b)
{
    wake_all_except(b, NULL, EDDY_EBROKEN);
    b->broken = false;
}

bool eddy_barrier_broken(const eddy_barrier_t *b)
{
    return b->broken;
}

unsigned eddy_barrier_n_waiting(const eddy_barrier_t *b)
{
    return (unsigned)b->waiters.len;
}
