/* Periodic timers usable from a task (Go's time.Ticker, counted).
 *
 * Ticks fall at open + k * period on the loop clock, whatever the waiter
 * does, so a slow consumer keeps the phase and learns how many periods went
 * by instead of receiving a backlog.  The timer is armed only while a task
 * waits, for the next tick after the last one returned: an idle ticker
 * costs no wakeups and, not being active, does not keep the loop alive. */
#include "runtime/internal.h"

#include <stdlib.h>

struct eddy_ticker {
    uv_timer_t timer;
    eddy_wait_t *waiter; /* the task waiting, at most one */
    uint64_t start;      /* loop time at open */
    uint64_t period;     /* ms */
    uint64_t consumed;   /* index of the last tick returned */
};

/* Index of the last tick due at loop time now. */
static uint64_t ticks_due(const eddy_ticker_t *tk, uint64_t now)
{
    return (now - tk->start) / tk->period;
}

/* Returns how many ticks are due since the last one returned, and marks
 * them returned. */
static int take_ticks(eddy_ticker_t *tk, uint64_t now)
{
    uint64_t k = ticks_due(tk, now);
    uint64_t n = k > tk->consumed ? k - tk->consumed : 0;
    tk->consumed += n;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

static void on_tick(uv_timer_t *h)
{
    eddy_ticker_t *tk = eddy__container_of(h, eddy_ticker_t, timer);
    eddy_wait_t *w = tk->waiter;
    int n = take_ticks(tk, uv_now(h->loop));

    if (n == 0) {
        /* Not due yet on this clock reading; wait out the rest. */
        uv_timer_start(h, on_tick, tk->start + (tk->consumed + 1) * tk->period - uv_now(h->loop),
                       0);
        return;
    }
    tk->waiter = NULL;
    eddy_wait_wake(w, n);
}

static void on_interrupt(eddy_wait_t *w)
{
    eddy_ticker_t *tk = w->data;
    uv_timer_stop(&tk->timer);
    tk->waiter = NULL;
}

int eddy_ticker_open(eddy_ticker_t **out, uint64_t period_ms)
{
    uv_loop_t *loop = eddy_loop();
    eddy_ticker_t *tk;

    *out = NULL;
    if (loop == NULL)
        return EDDY_ENOTASK;
    if (period_ms == 0 || period_ms == EDDY_FOREVER)
        return UV_EINVAL;
    tk = calloc(1, sizeof(*tk));
    if (tk == NULL)
        return UV_ENOMEM;
    uv_timer_init(loop, &tk->timer);
    tk->start = eddy_now();
    tk->period = period_ms;
    *out = tk;
    return 0;
}

int eddy_ticker_wait(eddy_ticker_t *tk)
{
    EDDY__CURRENT_OR_RETURN(t);
    uint64_t now = eddy_now(); /* up to date, and the base uv_timer_start uses */
    eddy_wait_t w;

    (void)t;
    if (tk->waiter != NULL)
        return UV_EBUSY;
    if (ticks_due(tk, now) > tk->consumed)
        return take_ticks(tk, now); /* behind schedule: like a channel that holds a tick */
    eddy_wait_init(&w, on_interrupt);
    w.data = tk;
    tk->waiter = &w;
    uv_timer_start(&tk->timer, on_tick, tk->start + (tk->consumed + 1) * tk->period - now, 0);
    return eddy_wait_park(&w, EDDY_FOREVER);
}

static void on_closed(uv_handle_t *h)
{
    free(eddy__container_of((uv_timer_t *)h, eddy_ticker_t, timer));
}

void eddy_ticker_close(eddy_ticker_t *tk)
{
    if (tk == NULL)
        return;
    if (tk->waiter != NULL) {
        eddy_wait_wake(tk->waiter, EDDY_ECLOSED);
        tk->waiter = NULL;
    }
    uv_close((uv_handle_t *)&tk->timer, on_closed);
}
