/* Condition variables (asyncio.Condition) bound to an eddy_lock_t.
 *
 * A waiter gives up the lock, parks on the condition's own queue, and
 * takes the lock back before it returns whatever happened.  Taking it back
 * is shielded: a cancellation or an expired timeout scope must not leave
 * the caller without the lock its cleanup code expects to hold.  An
 * interruption that arrives during that shielded wait stays pending for
 * the caller's next wait. */
#include "runtime/internal.h"

void eddy_cond_init(eddy_cond_t *c, eddy_lock_t *lock)
{
    c->lock = lock;
    eddy__waitq_init(&c->waiters);
}

static bool held_by_caller(const eddy_cond_t *c)
{
    return c->lock->owner != NULL && c->lock->owner == eddy_current();
}

int eddy_cond_wait(eddy_cond_t *c)
{
    eddy__waiter_t wt;
    int rc, relock;

    if (!held_by_caller(c))
        return EDDY_ENOTOWNER;
    eddy_lock_release(c->lock);
    rc = eddy__waitq_park(&c->waiters, &wt, EDDY_FOREVER);

    eddy_shield_enter();
    relock = eddy_lock_acquire(c->lock);
    eddy_shield_leave();
    /* A shielded wait without a deadline is only woken by the release. */
    assert(relock == 0);
    (void)relock;
    return rc;
}

int eddy_cond_wait_for(eddy_cond_t *c, bool (*pred)(void *arg), void *arg)
{
    if (!held_by_caller(c))
        return EDDY_ENOTOWNER;
    while (!pred(arg)) {
        int rc = eddy_cond_wait(c);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int eddy_cond_notify(eddy_cond_t *c, size_t n)
{
    if (!held_by_caller(c))
        return EDDY_ENOTOWNER;
    /* A waiter woken here has consumed the notification even if it is
     * cancelled before it runs: it returns 0, so none is lost. */
    while (n > 0 && eddy__waitq_wake_one(&c->waiters, 0))
        n--;
    return 0;
}

int eddy_cond_notify_all(eddy_cond_t *c)
{
    if (!held_by_caller(c))
        return EDDY_ENOTOWNER;
    eddy__waitq_wake_all(&c->waiters, 0);
    return 0;
}
