/* The EDDY_WITH_* scoped blocks (asyncio's `async with`).  Each expands to
 * a one-pass for loop over an eddy_with_t whose cleanup attribute calls
 * eddy_with_end: the loop condition enters the first time and leaves the
 * second (the block ended normally, or by continue); a return, goto or
 * break takes the cleanup path instead, which leaves if still inside. */
#include "runtime/internal.h"

static int with_enter(eddy_with_t *w)
{
    switch (w->kind) {
    case EDDY__WITH_TIMEOUT:
        eddy_timeout_enter(&w->timeout, w->ms);
        return 0;
    case EDDY__WITH_LOCK:
        return eddy_lock_acquire(w->obj);
    case EDDY__WITH_SEM:
        return eddy_sem_acquire(w->obj);
    case EDDY__WITH_SHIELD:
    default:
        eddy_shield_enter();
        return 0;
    }
}

/* The status of leaving: only a timeout scope has one worth reporting. */
static int with_leave(eddy_with_t *w)
{
    switch (w->kind) {
    case EDDY__WITH_TIMEOUT:
        return eddy_timeout_leave(&w->timeout);
    case EDDY__WITH_LOCK:
        eddy_lock_release(w->obj);
        return 0;
    case EDDY__WITH_SEM:
        eddy_sem_release(w->obj);
        return 0;
    case EDDY__WITH_SHIELD:
    default:
        eddy_shield_leave();
        return 0;
    }
}

bool eddy_with_step(eddy_with_t *w)
{
    int rc;

    if (w->state == 0) {
        rc = with_enter(w);
        if (w->rc != NULL)
            *w->rc = rc;
        w->state = rc == 0 ? 1 : 2;
        return rc == 0;
    }
    eddy_with_end(w);
    return false;
}

void eddy_with_end(eddy_with_t *w)
{
    if (w->state != 1)
        return;
    w->state = 2;
    int rc = with_leave(w);
    /* A timeout block reports its expiry; the others keep the acquire's 0. */
    if (w->rc != NULL && w->kind == EDDY__WITH_TIMEOUT)
        *w->rc = rc;
}
