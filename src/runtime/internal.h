/* Internal declarations of the eddy runtime (eddy__ prefix): shared by the
 * runtime's files, never installed. */
#ifndef EDDY_RUNTIME_INTERNAL_H
#define EDDY_RUNTIME_INTERNAL_H

#include "config.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy.h"
#include "runtime/core/ctx.h"

#define eddy__container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define eddy__min(a, b) ((a) < (b) ? (a) : (b))
#define EDDY__LIKELY(x) __builtin_expect(!!(x), 1)
#define EDDY__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ stacks */

typedef struct eddy__stack {
    char *base;      /* lowest usable byte */
    size_t size;     /* usable bytes */
    unsigned flags;  /* EDDY_SPAWN_NOGUARD if unguarded, and the kind */
    unsigned vg_id;  /* valgrind stack id */
    void *slab;      /* the slab it was carved from, if any */
} eddy__stack_t;

/** Takes a stack of at least size bytes from the pool or maps a new one. */
int eddy__stack_get(eddy__stack_t *s, size_t size, unsigned flags);
/** Returns a stack to the pool (or unmaps it when the pool is full). */
void eddy__stack_put(eddy__stack_t *s);
/** Guarded stacks that could not get their guard page (past the guard
 *  budget, or vm.max_map_count reached) and were given unguarded ones. */
extern uint64_t eddy__stack_unguarded_fallbacks;
/** How many guarded stacks may be mapped at once, from vm.max_map_count. */
size_t eddy__stack_guard_budget(void);
/** True if addr lies in s's guard page (async-signal-safe). */
bool eddy__stack_is_guard(const eddy__stack_t *s, const void *addr);
/** Stacks this thread's pool holds. */
size_t eddy__stack_pooled(void);
/** Unmaps every pooled stack (runtime teardown). */
void eddy__stack_pool_drain(void);
/** eddy_run's start: installs the stack overflow diagnostic (a SIGSEGV
 *  handler, if SIGSEGV has its default action) and an alternate signal
 *  stack for this thread (if it has none). */
void eddy__overflow_enter(void);
/** eddy_run's end: undoes eddy__overflow_enter. */
void eddy__overflow_leave(void);

/* ------------------------------------------------------------------ tasks */

enum eddy__state {
    EDDY__READY,   /* in the ready queue (or new) */
    EDDY__RUNNING, /* the current task */
    EDDY__WAITING, /* parked on t->wait */
    EDDY__DONE
};

/** Called when a task finishes: joiners, combinators and groups. */
typedef struct eddy__watch {
    struct eddy__watch *prev, *next;
    eddy_task_t *task; /* NULL once fired or removed */
    void (*cb)(struct eddy__watch *w, eddy_task_t *finished);
    void *data;
} eddy__watch_t;

struct eddy_task {
    eddy__ctx_t ctx;
    eddy__stack_t stack;
    eddy_task_fn fn;
    void *arg;
    union {
        void *result;
        int64_t result_int; /* eddy_set_result_int, eddy_spawn_int */
    };
    int status;
    uint8_t state;
    bool started;
    bool cancel_pending;
    bool cancel_woken; /* a wait was interrupted by a cancel the task has not seen yet */
    bool timer_init;
    unsigned refs;   /* handle + alive */
    unsigned shield; /* depth of shielded sections */

    eddy_wait_t *wait;        /* what a WAITING task is parked on */
    uint64_t wait_deadline;   /* the wait's own deadline (EDDY_FOREVER) */
    int wait_deadline_status; /* what reaching it returns */
    eddy_timeout_t *scope;    /* innermost timeout scope */
    uv_timer_t timer;         /* arms the nearest deadline of a wait */

    eddy_task_t *next_ready;
    eddy_task_t *prev_live, *next_live; /* every unfinished task */
    eddy__watch_t *watchers;            /* called when the task finishes */

    eddy_group_t *group; /* owning group, if any */
    eddy_task_t *gprev, *gnext;

    /* A handle given out and not yet detached: listed for the
     * forgotten-handle report, with the spawn's call site. */
    eddy_task_t *prev_handle, *next_handle;
    const char *site_file;
    int site_line;
    bool handle_listed;

    /* The typed and awaitable spawns' own arguments (forms). */
    void (*xfn)(void), (*xfn2)(void);
    void *xarg;
    int64_t xint;

#ifdef EDDY_ASAN
    void *asan_fake_stack;
#endif
    char name[24];
};

/** Registers w to be called once t finishes (t must not be done). */
void eddy__watch_add(eddy_task_t *t, eddy__watch_t *w,
                     void (*cb)(eddy__watch_t *, eddy_task_t *), void *data);
/** Removes a watch that has not fired yet; no-op if it has. */
void eddy__watch_remove(eddy__watch_t *w);

/** The data of every task's own timer, so that eddy_run's teardown can
 *  tell a struct still held by a handle that its timer is closed. */
extern char eddy__task_timer_tag;

/** The what of a join's wait, whose data is the watch on the joined task. */
extern const char eddy__what_join[];

/** Called by the task itself when fn returns: notifies watchers. */
void eddy__task_finish(eddy_task_t *t, int status);
/** Waits, without being interruptible, until t is done (cleanup paths of
 *  combinators after they cancelled t). */
void eddy__wait_done_uninterruptibly(eddy_task_t *t);
/** A group child finished (called from eddy__task_finish). */
void eddy__group_child_done(eddy_task_t *t);
/** Drops one reference; frees t at zero. */
void eddy__task_unref(eddy_task_t *t);
/** Frees every pooled task struct (teardown). */
void eddy__task_pool_drain(void);
/** Creates a task without a handle for the caller; used by groups. */
int eddy__task_new(eddy_task_t **t, eddy_task_fn fn, void *arg, const eddy_spawn_opts_t *opts);
/** Gives the caller a handle on t (a reference), listed with the call
 *  site eddy_spawn_site recorded, for the forgotten-handle report. */
void eddy__task_handle(eddy_task_t *t);
/** eddy_run's end: reports the handles never detached (debug log) and
 *  forgets them all, as the runtime is going away. */
void eddy__handles_report(bool log);

/* -------------------------------------------------------------- scheduler */

typedef struct eddy__rt {
    uv_loop_t loop;
    eddy__ctx_t sched_ctx;
    eddy_task_t *current;
    eddy_task_t *ready_head, *ready_tail;
    eddy_task_t *live; /* every unfinished task */
    size_t nlive;
    eddy_task_t *task_pool; /* freed task structs, with their timers */
    size_t task_pool_len;
    bool in_uv_run; /* drive is inside uv_run: a wake-up must end its poll */
    eddy_task_t *handles;   /* tasks whose handle is out (debug report) */
    const char *site_file;  /* eddy_spawn_site's, for the next handle */
    int site_line;
    /* Stall detector (eddy_stall_watch): off while stall_ms is 0. */
    uint64_t stall_ms;
    uint64_t stall_mark; /* coarse ms when the running task was resumed */
    uint64_t stalls;
    eddy_stall_cb stall_cb;
    void *stall_arg;
#ifdef EDDY_ASAN
    void *sched_fake_stack;
    const void *sched_stack_bottom;
    size_t sched_stack_size;
#endif
} eddy__rt_t;

extern __thread eddy__rt_t *eddy__rt;

/** Appends t to the ready queue. */
void eddy__ready(eddy_task_t *t);
/** Switches from the running task to the scheduler. */
void eddy__switch_to_scheduler(eddy_task_t *t);
/** Switches from the running task `from`, which has parked or queued
 *  itself, straight to `to`, a started task woken without being queued
 *  (eddy__wait_take): a symmetric coroutine handoff, bypassing the ready
 *  queue and the loop turn (generators). */
void eddy__switch_to_task(eddy_task_t *from, eddy_task_t *to);
/** Entry of every task's context. */
void eddy__task_entry(void *arg);

/* ------------------------------------------------------------------ waits */

/** Parks the running task on w with its own deadline (absolute loop ms, or
 *  EDDY_FOREVER); reaching it returns deadline_status. */
int eddy__park(eddy_wait_t *w, uint64_t deadline, int deadline_status);
/** eddy__park, but switches straight to `to` (taken by eddy__wait_take)
 *  instead of to the scheduler; `to` is queued if the park returns at
 *  once (an interruption was pending). */
int eddy__park_to(eddy_wait_t *w, uint64_t deadline, int deadline_status, eddy_task_t *to);
/** Wakes w's task with status as eddy_wait_wake does, but without queueing
 *  it: the caller hands over to it (eddy__park_to).  NULL if none waited. */
eddy_task_t *eddy__wait_take(eddy_wait_t *w, int status);
/** t's pending interruption (UV_ECANCELED unless shielded, UV_ETIMEDOUT
 *  if a scope expired), delivered now as a wait would; 0 if none. */
int eddy__take_interruption(eddy_task_t *t);
/** Interrupts a parked task: runs the wait's hook and wakes it. */
void eddy__interrupt(eddy_task_t *t, int status);
/** Nearest deadline of t's timeout scopes that apply now (EDDY_FOREVER). */
uint64_t eddy__scope_deadline(const eddy_task_t *t);
/** Marks t's applicable scopes whose deadline <= now as expired; returns
 *  true if any of them is expired. */
bool eddy__scope_check(eddy_task_t *t, uint64_t now);
/** A deadline that applies to a parked t moved: re-arm or interrupt. */
void eddy__rearm(eddy_task_t *t);

static inline void eddy__waitq_init(eddy__waitq_t *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
}
/** Appends the running task to q and parks it; an interruption unlinks it.
 *  Returns the status it was woken with. */
int eddy__waitq_park(eddy__waitq_t *q, eddy__waiter_t *wt, uint64_t timeout_ms);
/** eddy__waitq_park with the caller's interrupt hook (w->data = data),
 *  which must unlink the waiter (eddy__waitq_remove) among its work. */
int eddy__waitq_park_with(eddy__waitq_t *q, eddy__waiter_t *wt, uint64_t timeout_ms,
                          void (*on_interrupt)(eddy_wait_t *w), void *data);
/** Links wt at q's tail (FIFO wake order). */
static inline void eddy__waitq_append(eddy__waitq_t *q, eddy__waiter_t *wt)
{
    wt->q = q;
    wt->next = NULL;
    wt->prev = q->tail;
    if (q->tail)
        q->tail->next = wt;
    else
        q->head = wt;
    q->tail = wt;
    q->len++;
}
/** Unlinks a waiter from its queue (no-op if it is in none).  Inline: a
 *  select links and unlinks a waiter per operation on every wait. */
static inline void eddy__waitq_remove(eddy__waiter_t *wt)
{
    eddy__waitq_t *q = wt->q;
    if (q == NULL)
        return;
    if (wt->prev)
        wt->prev->next = wt->next;
    else
        q->head = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
    else
        q->tail = wt->prev;
    wt->prev = wt->next = NULL;
    wt->q = NULL;
    q->len--;
}
/** Unlinks and returns the first waiter (NULL if none); wake it next. */
static inline eddy__waiter_t *eddy__waitq_pop(eddy__waitq_t *q)
{
    eddy__waiter_t *wt = q->head;
    if (wt != NULL)
        eddy__waitq_remove(wt);
    return wt;
}
/** Wakes the first waiter with status; false if there was none. */
bool eddy__waitq_wake_one(eddy__waitq_t *q, int status);
/** Wakes every waiter with status. */
void eddy__waitq_wake_all(eddy__waitq_t *q, int status);

/** Current task or NULL; returns EDDY_ENOTASK from the caller if NULL. */
#define EDDY__CURRENT_OR_RETURN(t)                                                                 \
    eddy_task_t *t = eddy__rt ? eddy__rt->current : NULL;                                          \
    if (EDDY__UNLIKELY(t == NULL))                                                                 \
        return EDDY_ENOTASK;

#endif
