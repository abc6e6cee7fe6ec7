/* Locks (asyncio.Lock), owned by the task that acquired them.
 *
 * Release hands the lock straight to the first waiter instead of unlocking
 * it: the waiter owns it from that moment, before it even runs, so a task
 * that arrives in between finds the lock taken and queues behind (no
 * barging), and a waiter cancelled after the handoff still returns 0 with
 * the lock held (its cancellation stays pending for its next wait).  So a
 * locked lock always has an owner, and an unlocked one has no waiters. */
#include "runtime/internal.h"

void eddy_lock_init(eddy_lock_t *l)
{
    l->owner = NULL;
    eddy__waitq_init(&l->waiters);
}

int eddy_lock_acquire(eddy_lock_t *l)
{
    EDDY__CURRENT_OR_RETURN(self);
    eddy__waiter_t wt;

    if (l->owner == NULL) {
        l->owner = self;
        return 0;
    }
    if (l->owner == self)
        return EDDY_EDEADLOCK; /* waiting for ourselves would never end */
    /* Woken with 0 only by release, which made us the owner. */
    return eddy__waitq_park(&l->waiters, &wt, EDDY_FOREVER);
}

int eddy_lock_try_acquire(eddy_lock_t *l)
{
    EDDY__CURRENT_OR_RETURN(self);
    if (l->owner != NULL)
        return UV_EBUSY;
    l->owner = self;
    return 0;
}

int eddy_lock_release(eddy_lock_t *l)
{
    eddy__waiter_t *next;

    if (l->owner == NULL || l->owner != eddy_current())
        return EDDY_ENOTOWNER;
    next = eddy__waitq_pop(&l->waiters);
    if (next == NULL) {
        l->owner = NULL;
        return 0;
    }
    l->owner = next->w.task;
    eddy_wait_wake(&next->w, 0);
    return 0;
}

bool eddy_lock_locked(const eddy_lock_t *l)
{
    return l->owner != NULL;
}
