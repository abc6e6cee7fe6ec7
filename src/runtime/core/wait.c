/* Parking and waking tasks: the one mechanism under every waiting call.
 *
 * A parked task is woken exactly once: by eddy_wait_wake (the normal path),
 * or by an interruption (cancellation, a timeout scope's deadline, or the
 * wait's own deadline), which first runs the wait's on_interrupt hook so
 * that whatever would have woken it lets go of the wait.  One uv_timer per
 * task is armed for the nearest of the wait's own deadline and the
 * applicable scopes' deadlines. */
#include "runtime/internal.h"

static void on_task_timer(uv_timer_t *h);

char eddy__task_timer_tag;

void eddy_wait_init(eddy_wait_t *w, void (*on_interrupt)(eddy_wait_t *w))
{
    w->task = NULL;
    w->status = 0;
    w->on_interrupt = on_interrupt;
    w->data = NULL;
    w->what = NULL;
}

bool eddy_wait_wake(eddy_wait_t *w, int status)
{
    eddy_task_t *t = w->task;
    if (t == NULL)
        return false;
    w->task = NULL;
    w->status = status;
    t->wait = NULL;
    eddy__ready(t);
    return true;
}

void eddy__interrupt(eddy_task_t *t, int status)
{
    eddy_wait_t *w = t->wait;
    if (w->on_interrupt != NULL)
        w->on_interrupt(w);
    eddy_wait_wake(w, status);
}

/* A pending interruption of t, delivered now: 0 if none. */
static int take_interruption(eddy_task_t *t)
{
    if (t->cancel_pending && t->shield == 0) {
        t->cancel_pending = false;
        return UV_ECANCELED;
    }
    if (t->scope != NULL && eddy__scope_check(t, uv_now(&eddy__rt->loop)))
        return UV_ETIMEDOUT;
    return 0;
}

int eddy__take_interruption(eddy_task_t *t)
{
    return take_interruption(t);
}

/* Arms t's timer for the nearest deadline of its current wait, or
 * interrupts the wait at once if one has already passed. */
static void arm(eddy_task_t *t)
{
    uint64_t now = uv_now(&eddy__rt->loop);
    uint64_t deadline = t->wait_deadline;

    if (t->scope != NULL) {
        if (eddy__scope_check(t, now)) {
            eddy__interrupt(t, UV_ETIMEDOUT);
            return;
        }
        deadline = eddy__min(deadline, eddy__scope_deadline(t));
    }
    if (deadline == EDDY_FOREVER) {
        if (t->timer_init)
            uv_timer_stop(&t->timer);
        return;
    }
    if (deadline <= now) {
        eddy__interrupt(t, t->wait_deadline_status);
        return;
    }
    if (!t->timer_init) {
        uv_timer_init(&eddy__rt->loop, &t->timer);
        t->timer.data = &eddy__task_timer_tag;
        t->timer_init = true;
    }
    /* A timer already due no later than this deadline is left alone: if it
     * fires first, on_task_timer re-arms for what remains.  A connection
     * re-entering its 75 s keep-alive scope on every read thus costs no
     * timer-heap work per request, only an early wake-up per period. */
    if (uv_is_active((uv_handle_t *)&t->timer) &&
        uv_now(&eddy__rt->loop) + uv_timer_get_due_in(&t->timer) <= deadline)
        return;
    uv_timer_start(&t->timer, on_task_timer, deadline - now, 0);
}

static void on_task_timer(uv_timer_t *h)
{
    eddy_task_t *t = eddy__container_of(h, eddy_task_t, timer);
    if (t->state != EDDY__WAITING || t->wait->on_interrupt == NULL)
        return;
    arm(t); /* interrupts if a deadline passed; re-arms if one moved */
}

/* A timeout scope of a waiting task moved: re-arm or interrupt. */
void eddy__rearm(eddy_task_t *t)
{
    if (t->state == EDDY__WAITING && t->wait->on_interrupt != NULL)
        arm(t);
}

eddy_task_t *eddy__wait_take(eddy_wait_t *w, int status)
{
    eddy_task_t *t = w->task;
    if (t == NULL)
        return NULL;
    w->task = NULL;
    w->status = status;
    t->wait = NULL;
    t->state = EDDY__READY;
    return t;
}

/* Parks the running task on w, then switches to the scheduler, or to `to`
 * if not NULL (a task woken by eddy__wait_take, not queued). */
static inline int park(eddy_wait_t *w, uint64_t deadline, int deadline_status, eddy_task_t *to)
{
    EDDY__CURRENT_OR_RETURN(t);

    if (w->on_interrupt != NULL) {
        int rc = take_interruption(t);
        if (rc != 0) {
            w->on_interrupt(w);
            if (to != NULL)
                eddy__ready(to);
            return rc;
        }
    } else {
        deadline = EDDY_FOREVER; /* an uninterruptible wait has no deadline */
    }
    w->task = t;
    w->status = 0;
    t->wait = w;
    t->state = EDDY__WAITING;
    t->wait_deadline = deadline;
    t->wait_deadline_status = deadline_status;
    if (w->on_interrupt != NULL && (deadline != EDDY_FOREVER || t->scope != NULL))
        arm(t);

    if (to != NULL)
        eddy__switch_to_task(t, to);
    else
        eddy__switch_to_scheduler(t);

    /* The timer stays armed (see arm): a wake-up that finds the task not
     * waiting, or waiting with a later deadline, is ignored or re-armed. */
    t->cancel_woken = false; /* delivered: this wait returns it */
    t->wait_deadline = EDDY_FOREVER;
    return w->status;
}

int eddy__park(eddy_wait_t *w, uint64_t deadline, int deadline_status)
{
    return park(w, deadline, deadline_status, NULL);
}

int eddy__park_to(eddy_wait_t *w, uint64_t deadline, int deadline_status, eddy_task_t *to)
{
    return park(w, deadline, deadline_status, to);
}

int eddy_wait_park(eddy_wait_t *w, uint64_t timeout_ms)
{
    uint64_t deadline = EDDY_FOREVER;
    if (timeout_ms != EDDY_FOREVER && eddy__rt != NULL)
        deadline = eddy_now() + timeout_ms;
    return eddy__park(w, deadline, UV_ETIMEDOUT);
}

static void interrupt_nothing(eddy_wait_t *w)
{
    (void)w;
}

int eddy_sleep(uint64_t ms)
{
    eddy_wait_t w;
    if (ms == 0)
        return eddy_yield();
    eddy_wait_init(&w, interrupt_nothing);
    w.what = "a sleep without end";
    if (eddy__rt == NULL)
        return EDDY_ENOTASK;
    return eddy__park(&w, ms == EDDY_FOREVER ? EDDY_FOREVER : eddy_now() + ms, 0);
}

int eddy_yield(void)
{
    EDDY__CURRENT_OR_RETURN(t);
    int rc = take_interruption(t);
    if (rc != 0)
        return rc;
    eddy__ready(t);
    eddy__switch_to_scheduler(t);
    return 0;
}

void eddy_shield_enter(void)
{
    eddy_task_t *t = eddy_current();
    if (t != NULL)
        t->shield++;
}

void eddy_shield_leave(void)
{
    eddy_task_t *t = eddy_current();
    if (t != NULL && t->shield > 0)
        t->shield--;
}

/* ----------------------------------------------------------- wait queues */

static void waitq_interrupted(eddy_wait_t *w)
{
    eddy__waitq_remove(eddy__container_of(w, eddy__waiter_t, w));
}

int eddy__waitq_park(eddy__waitq_t *q, eddy__waiter_t *wt, uint64_t timeout_ms)
{
    return eddy__waitq_park_with(q, wt, timeout_ms, waitq_interrupted, NULL);
}

int eddy__waitq_park_with(eddy__waitq_t *q, eddy__waiter_t *wt, uint64_t timeout_ms,
                          void (*on_interrupt)(eddy_wait_t *w), void *data)
{
    if (eddy_current() == NULL)
        return EDDY_ENOTASK;
    eddy_wait_init(&wt->w, on_interrupt);
    wt->w.data = data;
    wt->w.what = "a wait queue (lock, event, condition, semaphore, barrier or queue)";
    eddy__waitq_append(q, wt);
    return eddy_wait_park(&wt->w, timeout_ms);
}

bool eddy__waitq_wake_one(eddy__waitq_t *q, int status)
{
    eddy__waiter_t *wt = eddy__waitq_pop(q);
    if (wt == NULL)
        return false;
    eddy_wait_wake(&wt->w, status);
    return true;
}

void eddy__waitq_wake_all(eddy__waitq_t *q, int status)
{
    while (eddy__waitq_wake_one(q, status))
        ;
}
