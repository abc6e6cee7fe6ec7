/* Semaphores (asyncio.Semaphore and BoundedSemaphore).
 *
 * A release with tasks waiting hands its permit straight to the first of
 * them instead of raising the count, so the count stays 0 while anyone
 * waits: a late try_acquire cannot take the permit first, and a waiter
 * cancelled after the handoff keeps its permit (it returns 0) rather than
 * losing it.  An interrupted waiter was handed nothing: it is unlinked. */
#include "runtime/internal.h"

#include <limits.h>

void eddy_sem_init(eddy_sem_t *s, unsigned value)
{
    s->value = value;
    s->bound = value;
    s->bounded = false;
    eddy__waitq_init(&s->waiters);
}

void eddy_sem_init_bounded(eddy_sem_t *s, unsigned value)
{
    eddy_sem_init(s, value);
    s->bounded = true;
}

int eddy_sem_acquire(eddy_sem_t *s)
{
    eddy__waiter_t wt;

    if (s->value > 0) {
        s->value--;
        return 0;
    }
    return eddy__waitq_park(&s->waiters, &wt, EDDY_FOREVER);
}

int eddy_sem_try_acquire(eddy_sem_t *s)
{
    if (s->value == 0)
        return UV_EAGAIN;
    s->value--;
    return 0;
}

int eddy_sem_release(eddy_sem_t *s)
{
    /* Checked before any handoff, as asyncio does: a bounded semaphore of
     * 0 permits refuses every release. */
    if (s->bounded && s->value >= s->bound)
        return EDDY_EOVERRELEASE;
    if (eddy__waitq_wake_one(&s->waiters, 0))
        return 0;
    if (s->value == UINT_MAX)
        return UV_EOVERFLOW;
    s->value++;
    return 0;
}

unsigned eddy_sem_value(const eddy_sem_t *s)
{
    return s->value;
}
