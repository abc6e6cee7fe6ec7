/* Signals as awaitables: one uv_signal handle per signal number, started at
 * open, so a signal that arrives while no task waits is counted instead of
 * lost (or killing the process by its default action).
 *
 * Waiting tasks queue in FIFO order and each caught signal is handed to the
 * first of them directly, so a woken waiter owns its signal even if it is
 * cancelled before it runs.  Queued signals are delivered oldest first.
 * The handles are referenced only while a task waits: a catcher nobody
 * waits on must not hide a deadlock from the runtime, or keep it alive. */
#include "runtime/internal.h"

#include <stdlib.h>

typedef struct sig_slot {
    uv_signal_t handle;
    eddy_signal_t *owner;
    int signum;
    uint64_t pending; /* caught while nobody waited */
    uint64_t since;   /* order stamp of the oldest pending one */
} sig_slot_t;

typedef struct sig_waiter {
    eddy_wait_t w;
    struct sig_waiter *prev, *next;
    eddy_signal_t *s;
} sig_waiter_t;

struct eddy_signal {
    sig_waiter_t *head, *tail; /* waiting tasks, FIFO */
    uint64_t seq;              /* order stamps */
    size_t n;                  /* slots */
    size_t open;               /* handles not yet closed */
    bool referenced;
    sig_slot_t slots[];
};

static void set_referenced(eddy_signal_t *s, bool ref)
{
    if (s->referenced == ref)
        return;
    s->referenced = ref;
    for (size_t i = 0; i < s->n; i++) {
        if (ref)
            uv_ref((uv_handle_t *)&s->slots[i].handle);
        else
            uv_unref((uv_handle_t *)&s->slots[i].handle);
    }
}

static void waiter_unlink(sig_waiter_t *wt)
{
    eddy_signal_t *s = wt->s;
    if (wt->prev)
        wt->prev->next = wt->next;
    else
        s->head = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
    else
        s->tail = wt->prev;
    wt->prev = wt->next = NULL;
    set_referenced(s, s->head != NULL);
}

static void waiter_interrupted(eddy_wait_t *w)
{
    waiter_unlink(eddy__container_of(w, sig_waiter_t, w));
}

static void on_signal(uv_signal_t *h, int signum)
{
    sig_slot_t *slot = eddy__container_of(h, sig_slot_t, handle);
    eddy_signal_t *s = slot->owner;
    sig_waiter_t *wt = s->head;

    if (wt != NULL) {
        waiter_unlink(wt);
        eddy_wait_wake(&wt->w, signum);
        return;
    }
    if (slot->pending++ == 0)
        slot->since = ++s->seq;
}

static void on_handle_closed(uv_handle_t *h)
{
    sig_slot_t *slot = eddy__container_of((uv_signal_t *)h, sig_slot_t, handle);
    eddy_signal_t *s = slot->owner;
    if (--s->open == 0)
        free(s);
}

/* Closes the first n handles and frees s once they are closed. */
static void close_handles(eddy_signal_t *s, size_t n)
{
    s->open = n;
    if (n == 0) {
        free(s);
        return;
    }
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&s->slots[i].handle, on_handle_closed);
}

static bool seen_before(const int *signums, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (signums[j] == signums[i])
            return true;
    }
    return false;
}

int eddy_signal_open(eddy_signal_t **out, const int *signums, size_t n)
{
    uv_loop_t *loop = eddy_loop();
    eddy_signal_t *s;
    int rc;

    *out = NULL;
    if (loop == NULL)
        return EDDY_ENOTASK;
    if (n == 0)
        return UV_EINVAL;
    s = calloc(1, sizeof(*s) + n * sizeof(s->slots[0]));
    if (s == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        sig_slot_t *slot = &s->slots[s->n];
        if (seen_before(signums, i))
            continue; /* a second handle would count each signal twice */
        slot->owner = s;
        slot->signum = signums[i];
        uv_signal_init(loop, &slot->handle);
        s->n++;
        rc = uv_signal_start(&slot->handle, on_signal, signums[i]);
        if (rc != 0) {
            close_handles(s, s->n);
            return rc;
        }
        uv_unref((uv_handle_t *)&slot->handle);
    }
    *out = s;
    return 0;
}

/* The slot whose pending signal is the oldest, or NULL. */
static sig_slot_t *oldest_pending(eddy_signal_t *s)
{
    sig_slot_t *best = NULL;
    for (size_t i = 0; i < s->n; i++) {
        sig_slot_t *slot = &s->slots[i];
        if (slot->pending > 0 && (best == NULL || slot->since < best->since))
            best = slot;
    }
    return best;
}

int eddy_signal_wait(eddy_signal_t *s)
{
    EDDY__CURRENT_OR_RETURN(t);
    sig_slot_t *slot = oldest_pending(s);
    sig_waiter_t wt;

    (void)t;
    if (slot != NULL) {
        /* More of the same signal go behind those caught meanwhile. */
        if (--slot->pending > 0)
            slot->since = ++s->seq;
        return slot->signum;
    }
    eddy_wait_init(&wt.w, waiter_interrupted);
    wt.s = s;
    wt.next = NULL;
    wt.prev = s->tail;
    if (s->tail)
        s->tail->next = &wt;
    else
        s->head = &wt;
    s->tail = &wt;
    set_referenced(s, true);
    return eddy_wait_park(&wt.w, EDDY_FOREVER);
}

void eddy_signal_close(eddy_signal_t *s)
{
    if (s == NULL)
        return;
    while (s->head != NULL) {
        sig_waiter_t *wt = s->head;
        waiter_unlink(wt);
        eddy_wait_wake(&wt->w, EDDY_ECLOSED);
    }
    close_handles(s, s->n);
}
