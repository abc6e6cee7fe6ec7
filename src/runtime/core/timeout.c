/* Timeout scopes (asyncio.timeout).  A task keeps its scopes in a list,
 * innermost first.  A scope applies to the waits made at the shield depth
 * it was entered at: a shielded section suspends the scopes around it. */
#include "runtime/internal.h"

static uint64_t deadline_in(uint64_t ms)
{
    if (ms == EDDY_FOREVER || eddy__rt == NULL)
        return EDDY_FOREVER;
    return eddy_now() + ms;
}

uint64_t eddy__scope_deadline(const eddy_task_t *t)
{
    uint64_t d = EDDY_FOREVER;
    for (const eddy_timeout_t *s = t->scope; s != NULL && s->shield == t->shield; s = s->outer)
        d = eddy__min(d, s->deadline);
    return d;
}

bool eddy__scope_check(eddy_task_t *t, uint64_t now)
{
    bool any = false;
    for (eddy_timeout_t *s = t->scope; s != NULL && s->shield == t->shield; s = s->outer) {
        if (!s->expired && s->deadline <= now)
            s->expired = true;
        any |= s->expired;
    }
    return any;
}

void eddy_timeout_enter(eddy_timeout_t *s, uint64_t ms)
{
    eddy_task_t *t = eddy_current();
    s->deadline = deadline_in(ms);
    s->expired = false;
    s->task = t;
    s->outer = NULL;
    s->shield = 0;
    if (t == NULL)
        return;
    s->outer = t->scope;
    s->shield = t->shield;
    t->scope = s;
}

void eddy_timeout_reschedule(eddy_timeout_t *s, uint64_t ms)
{
    s->deadline = deadline_in(ms);
    if (s->deadline == EDDY_FOREVER || s->deadline > eddy_now())
        s->expired = false;
    /* Another task may move the deadline of a waiting one. */
    if (s->task != NULL && s->task != eddy_current())
        eddy__rearm(s->task);
}

static bool passed(const eddy_timeout_t *s, uint64_t now)
{
    return s->expired || (s->deadline != EDDY_FOREVER && s->deadline <= now);
}

bool eddy_timeout_expired(const eddy_timeout_t *s)
{
    return passed(s, eddy_now());
}

int eddy_timeout_leave(eddy_timeout_t *s)
{
    eddy_task_t *t = s->task;
    /* The loop's clock as of the last wait or eddy_now, without reading
     * the system clock again (~40 ns, as much as the rest of a scope). */
    bool expired = passed(s, eddy__rt ? uv_now(&eddy__rt->loop) : 0);
    if (t != NULL) {
        assert(t->scope == s && "timeout scopes must be left innermost first");
        t->scope = s->outer;
    }
    s->task = NULL;
    return expired ? UV_ETIMEDOUT : 0;
}
