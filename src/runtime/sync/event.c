/* Events (asyncio.Event): a flag and the tasks waiting for it to be set. */
#include "runtime/internal.h"

void eddy_event_init(eddy_event_t *e)
{
    eddy__waitq_init(&e->waiters);
    e->set = false;
}

void eddy_event_set(eddy_event_t *e)
{
    e->set = true;
    /* Each waiter is woken with success now, so clearing the flag before
     * they run does not send them back to sleep (asyncio does the same). */
    eddy__waitq_wake_all(&e->waiters, 0);
}

void eddy_event_clear(eddy_event_t *e)
{
    e->set = false;
}

int eddy_event_wait(eddy_event_t *e)
{
    eddy__waiter_t wt;

    if (e->set)
        return 0;
    return eddy__waitq_park(&e->waiters, &wt, EDDY_FOREVER);
}

bool eddy_event_is_set(const eddy_event_t *e)
{
    return e->set;
}
