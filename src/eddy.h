/*
 * eddy.h — a coroutine runtime for C on libuv: Python's asyncio, done in C.
 *
 * Tasks are stackful coroutines: a task can wait at any call depth, so code
 * reads top to bottom like blocking code while one thread serves thousands
 * of tasks.  Every waiting call returns 0 (or a count) on success and a
 * negative libuv error code on failure (UV_ECANCELED, UV_ETIMEDOUT, ...), or
 * one of eddy's own codes below.  There is no hidden global error state.
 *
 * Waiting calls may only be made from inside a task (under eddy_run); called
 * elsewhere they return EDDY_ENOTASK.  The runtime is single-threaded: one
 * loop per thread, and eddy_* calls are not thread-safe except where noted.
 *
 * The short forms (EDDY_WITH_LOCK and the other scoped blocks, generators,
 * typed results, awaitables as tasks) are in eddy/forms.h, included at the
 * end.  Where eddy deliberately differs from asyncio, and why: the table
 * in README.md ("Where eddy deliberately differs from asyncio").
 */
#ifndef EDDY_H
#define EDDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ Errors */

/* eddy's own error codes, beside libuv's negative errno values.  XX(name,
 * value, message); the values sit far below libuv's range. */
#define EDDY_ERRNO_MAP(XX)                                                     \
    XX(EDEADLOCK, -30001, "every task is waiting and nothing can wake one")    \
    XX(ENOTASK, -30002, "waiting call made outside a task")                   \
    XX(ESHUTDOWN, -30003, "queue is shut down")                                \
    XX(EBROKEN, -30004, "barrier is broken")                                   \
    XX(ENOTOWNER, -30005, "lock is not held by this task")                     \
    XX(EOVERRELEASE, -30006, "bounded semaphore released too many times")      \
    XX(ELIMIT, -30007, "separator not found within the size limit")            \
    XX(EINCOMPLETE, -30008, "stream ended before the expected bytes arrived")  \
    XX(ECLOSED, -30009, "object was closed while a task waited on it")

enum {
#define EDDY__ERR_ENUM(name, value, msg) EDDY_##name = (value),
    EDDY_ERRNO_MAP(EDDY__ERR_ENUM)
#undef EDDY__ERR_ENUM
};

/** A message for any error code this API returns (eddy's or libuv's). */
const char *eddy_strerror(int err);
/** The symbolic name of an error code ("ECANCELED", "EDDY_ESHUTDOWN"). */
const char *eddy_err_name(int err);

/* ------------------------------------------------------------------- Tasks */

typedef struct eddy_task eddy_task_t;

/** A task body.  Its return value is the task's status: >= 0 success,
 *  < 0 an error code (a task that was cancelled usually returns the
 *  UV_ECANCELED its wait gave it). */
typedef int (*eddy_task_fn)(void *arg);

/** No deadline: pass as a timeout in milliseconds. */
#define EDDY_FOREVER UINT64_MAX

/** Default usable stack size of a task, in bytes (see README: measured). */
#define EDDY_STACK_DEFAULT (64u * 1024u)
/** Smallest stack size accepted; smaller requests are rounded up. */
#define EDDY_STACK_MIN (16u * 1024u)

/** No guard page below this task's stack.  Each guarded stack costs two
 *  kernel memory mappings, and a process has vm.max_map_count of them
 *  (65530 by default): guarded stacks are given out while fewer than
 *  (max_map_count - max_map_count / 8 - 1024) / 2 are mapped (28k by
 *  default); past that, and whenever a guard cannot be mapped, a task
 *  silently gets an unguarded stack instead, so 100k tasks and more run.
 *  Unguarded stacks are carved from shared 4 MiB mappings (or malloc'd if
 *  no mapping can be had) and cost no mapping of their own.  For many
 *  small, trusted tasks; an overflow then corrupts memory instead of
 *  faulting.  Stacks are address space reserved without commitment: only
 *  the pages a task touches take memory. */
#define EDDY_SPAWN_NOGUARD 0x1u

typedef struct eddy_spawn_opts {
    const char *name;  /**< copied; shown by eddy_task_name (may be NULL) */
    size_t stack_size; /**< usable stack bytes; 0 = EDDY_STACK_DEFAULT */
    unsigned flags;    /**< EDDY_SPAWN_* */
} eddy_spawn_opts_t;

/** asyncio.run: creates a loop, runs main(arg) as a task until it returns,
 *  cancels and reaps the tasks still alive, closes every libuv handle and
 *  returns main's status.
 *
 *  Deadlocks: if every task ends up waiting on something nothing can ever
 *  signal, every task is cancelled once so that it can unwind, and
 *  eddy_run returns EDDY_EDEADLOCK whatever main then returned (usually
 *  UV_ECANCELED).  With the environment variable EDDY_DEBUG set (and not
 *  "0"), or in a build configured with --enable-debug, each stuck task's
 *  name and what it waits on (eddy_wait_t.what) are written to stderr.
 *
 *  Stack overflows: unless the application has its own SIGSEGV handler
 *  (or a sanitizer installed one), eddy_run installs one for its duration,
 *  on an alternate signal stack (one per thread, unless the thread has
 *  its own): a task that runs into its guard page then dies of SIGSEGV
 *  after writing its name, its stack size and the fix (a larger
 *  stack_size in eddy_spawn_opts_t) to stderr.  Other faults die as
 *  without the handler.  Unguarded stacks (EDDY_SPAWN_NOGUARD) cannot be
 *  diagnosed. */
int eddy_run(eddy_task_fn main, void *arg);

/** Gives the stacks this thread's pool keeps for reuse back to the system,
 *  all but keep of each size.  Finished tasks' stacks are pooled (up to
 *  1,024 of a size) with the pages they touched, so after a spike of tasks
 *  (a burst of connections) a server calls this once the spike is over.
 *  Returns how many stacks were released. */
size_t eddy_stack_pool_trim(size_t keep);

/** Gives back the pages of the running task's stack deeper than where it
 *  stands now (less a margin for the calls it makes next): for a task that
 *  did deep work (parsing a request) and goes on to wait for hours at a
 *  shallow depth (a WebSocket session), so that an idle task holds only the
 *  pages it uses.  Returns the bytes released (0 outside a task). */
size_t eddy_stack_shrink(void);

/** The loop of the running eddy_run, for starting libuv requests. */
uv_loop_t *eddy_loop(void);

/** Loop time in milliseconds (uv_now, brought up to date first: unlike
 *  uv_now it includes the time the current loop turn has run), the clock
 *  timeouts are measured on. */
uint64_t eddy_now(void);

/** asyncio.create_task: schedules fn(arg) to start on the next loop turn.
 *  With t non-NULL the caller holds a handle that it must give back with
 *  eddy_detach (after joining, or to let the task run on unobserved); with
 *  t NULL the task is detached from the start.  opts may be NULL.
 *  The task's stack is taken here: returns 0, UV_ENOMEM (no memory for
 *  the task or its stack: the task does not exist) or EDDY_ENOTASK outside
 *  eddy_run. */
int eddy_spawn(eddy_task_t **t, eddy_task_fn fn, void *arg, const eddy_spawn_opts_t *opts);

/** Waits for t to finish and returns its status; *result (if non-NULL)
 *  gets what t passed to eddy_set_result.  Joining never cancels t.  If the
 *  joining task is itself cancelled or times out, returns UV_ECANCELED or
 *  UV_ETIMEDOUT and t runs on (eddy_done(t) tells the cases apart).  The
 *  handle stays valid until eddy_detach. */
int eddy_join(eddy_task_t *t, void **result);

/** Gives back the handle from eddy_spawn; the task runs on if still alive
 *  and is freed when it finishes. */
void eddy_detach(eddy_task_t *t);

/** Requests cancellation: t's current wait — or its next one — returns
 *  UV_ECANCELED.  It is delivered once: later waits work normally, so t can
 *  unwind and run cleanup that waits.  A task cancelled before it first runs
 *  never runs and finishes with UV_ECANCELED.  No-op on a finished task. */
void eddy_cancel(eddy_task_t *t);

/** True once t has finished. */
bool eddy_done(const eddy_task_t *t);
/** True if t finished with status UV_ECANCELED (asyncio's Task.cancelled). */
bool eddy_cancelled(const eddy_task_t *t);
/** True while a cancellation of t is requested but not yet delivered. */
bool eddy_cancelling(const eddy_task_t *t);
/** Status of a finished task (its return value); UV_EBUSY while it runs. */
int eddy_status(const eddy_task_t *t);
/** The task's name, "" if it has none. */
const char *eddy_task_name(const eddy_task_t *t);

/** The running task, NULL outside a task. */
eddy_task_t *eddy_current(void);
/** Sets the running task's result pointer, handed to eddy_join. */
void eddy_set_result(void *result);

/** asyncio.sleep(0): lets every other ready task run once, then returns 0
 *  (or UV_ECANCELED / UV_ETIMEDOUT if interrupted). */
int eddy_yield(void);
/** Sleeps ms milliseconds: 0, or UV_ECANCELED / UV_ETIMEDOUT. */
int eddy_sleep(uint64_t ms);

/** A shielded section: waits between enter and leave are not interrupted by
 *  cancellation nor by timeout scopes entered before the section; such an
 *  interruption stays pending and is delivered at the first wait after
 *  leave.  Scopes entered inside the section work as usual.  Sections nest.
 *  Use it for cleanup that must complete (flushing a log, a goodbye frame). */
void eddy_shield_enter(void);
void eddy_shield_leave(void);

/* ---------------------------------------------------------------- Timeouts */

/** asyncio.timeout(): a scope in which every wait fails with UV_ETIMEDOUT
 *  once the deadline has passed (and keeps failing until the scope is
 *  left).  Scopes nest; the nearest deadline wins.  Lives on the caller's
 *  stack; scopes must be left in the reverse order of entering. */
typedef struct eddy_timeout {
    uint64_t deadline; /* loop time in ms, EDDY_FOREVER for none */
    struct eddy_timeout *outer;
    eddy_task_t *task;
    unsigned shield; /* shield depth when entered */
    bool expired;
} eddy_timeout_t;

/** Enters a scope whose deadline is ms milliseconds from now
 *  (EDDY_FOREVER: none yet). */
void eddy_timeout_enter(eddy_timeout_t *s, uint64_t ms);
/** Moves the deadline to ms from now (EDDY_FOREVER: none); an expired
 *  scope given a future deadline stops expiring waits. */
void eddy_timeout_reschedule(eddy_timeout_t *s, uint64_t ms);
/** True if the scope's deadline has passed. */
bool eddy_timeout_expired(const eddy_timeout_t *s);
/** Leaves the scope: UV_ETIMEDOUT if its deadline passed, else 0.  The
 *  clock is the loop's as of the last wait or eddy_now call: a deadline
 *  that passes while the task computes without waiting goes unreported
 *  unless the task asked (asyncio's timeout likewise reports only an
 *  expiry that interrupted an await). */
int eddy_timeout_leave(eddy_timeout_t *s);

/* ------------------------------------------------------------ Combinators */

/** eddy_gather flag: wait for every task and report each status (asyncio's
 *  return_exceptions=True) instead of failing fast. */
#define EDDY_GATHER_COLLECT 0x1u

/** asyncio.gather over already spawned tasks.  results[i] and statuses[i]
 *  (either array may be NULL) get each task's result and status, in order.
 *  By default the first task to fail cancels the others; gather waits for
 *  them to finish and returns that first error.  With EDDY_GATHER_COLLECT it
 *  waits for all and returns 0.  If the gathering task is cancelled (or its
 *  timeout scope expires) the tasks are cancelled and waited for, and
 *  UV_ECANCELED (UV_ETIMEDOUT) is returned.  Handles stay the caller's. */
int eddy_gather(eddy_task_t *const *tasks, size_t n, void **results, int *statuses,
                unsigned flags);

/** When eddy_wait returns. */
enum eddy_return_when {
    EDDY_FIRST_COMPLETED, /**< as soon as one task finishes */
    EDDY_FIRST_EXCEPTION, /**< when one fails (status < 0), or all finish */
    EDDY_ALL_COMPLETED    /**< when all finish */
};

/** asyncio.wait: waits until `when` is met or timeout_ms passes; never
 *  cancels anything.  Returns how many of the tasks are done (check each
 *  with eddy_done), or UV_ECANCELED / UV_ETIMEDOUT if the waiting task was
 *  interrupted (a scope's timeout, not timeout_ms, which is not an error). */
int eddy_wait(eddy_task_t *const *tasks, size_t n, enum eddy_return_when when,
              uint64_t timeout_ms);

/** asyncio.as_completed: yields the tasks in the order they finish. */
typedef struct eddy_as_completed {
    struct eddy__watch *watches; /* one per task */
    eddy_task_t **order;         /* finished tasks, in completion order */
    size_t n, nfinished, nyielded;
    uint64_t deadline;
    struct eddy_wait *waiter; /* the task waiting in _next, if any */
} eddy_as_completed_t;

/** Starts iterating over n tasks; timeout_ms bounds the whole iteration.
 *  Returns 0 or UV_ENOMEM. */
int eddy_as_completed_init(eddy_as_completed_t *it, eddy_task_t *const *tasks, size_t n,
                           uint64_t timeout_ms);
/** Waits for the next task to finish and stores it in *t: 0, UV_EOF when
 *  every task has been yielded, UV_ETIMEDOUT past the deadline, or
 *  UV_ECANCELED. */
int eddy_as_completed_next(eddy_as_completed_t *it, eddy_task_t **t);
/** Ends the iteration (may be called early). */
void eddy_as_completed_close(eddy_as_completed_t *it);

/** asyncio.wait_for: waits for t up to timeout_ms.  On timeout t is
 *  cancelled and waited for, and UV_ETIMEDOUT returned — unless t still
 *  finished successfully, whose status is then returned.  If the waiting
 *  task is cancelled, t is cancelled too.  The handle stays the caller's. */
int eddy_wait_for(eddy_task_t *t, uint64_t timeout_ms, void **result);

/** asyncio.shield: waits for t; cancelling the waiting task returns
 *  UV_ECANCELED but leaves t running (joining never cancels). */
int eddy_shield(eddy_task_t *t, void **result);

/* ------------------------------------------------------------- Task groups */

/** Group flag: a failing child does not cancel its siblings (a supervisor,
 *  as a server wants for its connection tasks); errors are still counted
 *  and the first is reported by eddy_group_wait. */
#define EDDY_GROUP_SUPERVISE 0x1u

/** asyncio.TaskGroup: owns the tasks spawned into it.  Unless
 *  EDDY_GROUP_SUPERVISE, the first child to fail (status < 0 other than a
 *  cancellation caused by the group) cancels every other child and the
 *  task that owns the group (the one that called eddy_group_init).  The
 *  owner must call eddy_group_wait before it returns. */
typedef struct eddy_group {
    eddy_task_t *children; /* live children, intrusive list */
    eddy_task_t *owner;
    struct eddy_wait *waiter; /* owner waiting in eddy_group_wait */
    size_t size;
    int error; /* first error */
    unsigned flags;
    bool cancelling, closed;
} eddy_group_t;

/** Prepares an empty group owned by the running task. */
void eddy_group_init(eddy_group_t *g, unsigned flags);
/** Spawns fn(arg) into the group.  t may be NULL; a non-NULL handle must
 *  be detached by the caller.  Children may spawn into the group while the
 *  owner is in eddy_group_wait (a crawler's workers adding work), which
 *  then returns after the last of them.  UV_EINVAL once eddy_group_wait
 *  has returned, or once the group is cancelling (a failing child, or the
 *  owner cancelled while waiting). */
int eddy_group_spawn(eddy_group_t *g, eddy_task_t **t, eddy_task_fn fn, void *arg,
                     const eddy_spawn_opts_t *opts);
/** Cancels every child (shutdown: cancel, then eddy_group_wait). */
void eddy_group_cancel(eddy_group_t *g);
/** Number of children still running. */
size_t eddy_group_size(const eddy_group_t *g);
/** Leaves the group: waits for every child and returns the first error, or
 *  0.  If the owner is cancelled (or a scope expires) while waiting, the
 *  children are cancelled, waited for, and UV_ECANCELED (UV_ETIMEDOUT)
 *  is returned when no child error came first. */
int eddy_group_wait(eddy_group_t *g);

/* ---------------------------------------------- Waiting on libuv callbacks */

/** The building block of every waiting call, for code that starts a libuv
 *  request (or arms a handle) and waits for its callback:
 *
 *      struct op { uv_fs_t req; eddy_wait_t w; };
 *      static void on_done(uv_fs_t *req) {
 *          struct op *op = req->data;
 *          eddy_wait_wake(&op->w, (int)req->result);
 *      }
 *      ...
 *      eddy_wait_init(&op.w, NULL);   // NULL: cannot be interrupted
 *      op.req.data = &op;
 *      uv_fs_fsync(eddy_loop(), &op.req, fd, on_done);
 *      rc = eddy_wait_park(&op.w, EDDY_FOREVER);
 *
 *  A wait with an on_interrupt hook can be interrupted by cancellation or
 *  a timeout: the hook runs first and must make sure the callback will not
 *  touch w afterwards (stop the handle, unlink w from a list); park then
 *  returns UV_ECANCELED or UV_ETIMEDOUT.  A wait without a hook is never
 *  interrupted; a cancellation or expiry stays pending for the next wait. */
typedef struct eddy_wait {
    eddy_task_t *task; /* the parked task; NULL when not parked */
    int status;
    void (*on_interrupt)(struct eddy_wait *w);
    void *data;       /* free for the caller */
    const char *what; /* what is awaited, named by the deadlock report: set it
                       * after eddy_wait_init (NULL: "a libuv request") */
} eddy_wait_t;

/** Prepares w; on_interrupt may be NULL (uninterruptible). */
void eddy_wait_init(eddy_wait_t *w, void (*on_interrupt)(eddy_wait_t *w));
/** Suspends the running task until eddy_wait_wake(w), an interruption, or
 *  timeout_ms (EDDY_FOREVER: none; expiry returns UV_ETIMEDOUT and, like
 *  any interruption, runs on_interrupt).  Returns the status given to wake. */
int eddy_wait_park(eddy_wait_t *w, uint64_t timeout_ms);
/** Makes w's task ready to return status from eddy_wait_park.  Returns
 *  false (and does nothing) if no task is parked on w.  Call it from libuv
 *  callbacks or other tasks, on the loop's thread. */
bool eddy_wait_wake(eddy_wait_t *w, int status);

/* Private: a FIFO of parked tasks, embedded in the objects below.  The
 * waiter lives on the waiting task's stack. */
typedef struct eddy__waiter {
    eddy_wait_t w;
    struct eddy__waiter *prev, *next;
    struct eddy__waitq *q;
    void *item; /* a handoff slot */
} eddy__waiter_t;

typedef struct eddy__waitq {
    eddy__waiter_t *head, *tail;
    size_t len;
} eddy__waitq_t;

/* -------------------------------------------------------------------- Sync */

/* asyncio's synchronisation primitives.  The structs are public so callers
 * can embed them; treat their fields as private.  None needs destroying.
 * Every waiting call is interruptible: it returns UV_ECANCELED when the task
 * is cancelled and UV_ETIMEDOUT when a timeout scope around it expires (there
 * are no per-call timeouts: wrap the call in eddy_timeout_enter/leave).
 * Waiters are served in FIFO order, and what a waiter was handed (the lock,
 * a permit, a notification, an item) is never lost: a task cancelled after
 * it was handed one still gets it, and the cancellation is delivered at its
 * next wait. */

/** asyncio.Lock: a mutex owned by the task that acquired it.  Release hands
 *  the lock straight to the first waiter, so a task that comes later cannot
 *  take it first. */
typedef struct eddy_lock {
    eddy_task_t *owner; /* NULL when unlocked */
    eddy__waitq_t waiters;
} eddy_lock_t;

/** Prepares an unlocked lock. */
void eddy_lock_init(eddy_lock_t *l);
/** Waits for the lock and takes it: 0, UV_ECANCELED, UV_ETIMEDOUT, or
 *  EDDY_EDEADLOCK if the calling task already holds it (it is not
 *  reentrant). */
int eddy_lock_acquire(eddy_lock_t *l);
/** Takes the lock if that needs no wait: 0 or UV_EBUSY. */
int eddy_lock_try_acquire(eddy_lock_t *l);
/** Releases the lock (to its first waiter, if any): 0, or EDDY_ENOTOWNER
 *  if the calling task does not hold it (the lock is left untouched). */
int eddy_lock_release(eddy_lock_t *l);
/** True while some task holds the lock. */
bool eddy_lock_locked(const eddy_lock_t *l);

/** asyncio.Event: a flag tasks can wait for. */
typedef struct eddy_event {
    eddy__waitq_t waiters;
    bool set;
} eddy_event_t;

/** Prepares a cleared event. */
void eddy_event_init(eddy_event_t *e);
/** Sets the flag and wakes every waiter (they return 0 even if the flag is
 *  cleared again before they run). */
void eddy_event_set(eddy_event_t *e);
/** Clears the flag. */
void eddy_event_clear(eddy_event_t *e);
/** Waits until the flag is set (at once if it is): 0, UV_ECANCELED or
 *  UV_ETIMEDOUT. */
int eddy_event_wait(eddy_event_t *e);
/** True while the flag is set. */
bool eddy_event_is_set(const eddy_event_t *e);

/** asyncio.Condition, bound to a lock that every call needs held. */
typedef struct eddy_cond {
    eddy_lock_t *lock;
    eddy__waitq_t waiters;
} eddy_cond_t;

/** Prepares a condition variable using lock (which must outlive it). */
void eddy_cond_init(eddy_cond_t *c, eddy_lock_t *lock);
/** Releases the lock, waits for a notification, and re-acquires the lock
 *  before returning — even when interrupted (the re-acquiring wait is
 *  shielded), so the caller always holds the lock afterwards.  Returns 0,
 *  UV_ECANCELED or UV_ETIMEDOUT, or EDDY_ENOTOWNER (without waiting) if the
 *  calling task does not hold the lock. */
int eddy_cond_wait(eddy_cond_t *c);
/** Waits until pred(arg) is true, calling it with the lock held: first at
 *  once, then after each notification.  0 once it holds, or what
 *  eddy_cond_wait returned when it failed. */
int eddy_cond_wait_for(eddy_cond_t *c, bool (*pred)(void *arg), void *arg);
/** Wakes up to n waiters (oldest first): 0, or EDDY_ENOTOWNER if the
 *  calling task does not hold the lock. */
int eddy_cond_notify(eddy_cond_t *c, size_t n);
/** Wakes every waiter: 0 or EDDY_ENOTOWNER. */
int eddy_cond_notify_all(eddy_cond_t *c);

/** asyncio.Semaphore and BoundedSemaphore: a count of permits.  A release
 *  hands its permit straight to the first waiter. */
typedef struct eddy_sem {
    unsigned value; /* free permits; 0 whenever tasks wait */
    unsigned bound; /* initial value, the limit of a bounded semaphore */
    bool bounded;
    eddy__waitq_t waiters;
} eddy_sem_t;

/** Prepares a semaphore with value permits. */
void eddy_sem_init(eddy_sem_t *s, unsigned value);
/** Prepares a bounded semaphore: releasing it above value is an error. */
void eddy_sem_init_bounded(eddy_sem_t *s, unsigned value);
/** Waits for a permit and takes it: 0, UV_ECANCELED or UV_ETIMEDOUT. */
int eddy_sem_acquire(eddy_sem_t *s);
/** Takes a permit if one is free: 0 or UV_EAGAIN. */
int eddy_sem_try_acquire(eddy_sem_t *s);
/** Gives a permit back (to the first waiter, if any): 0, EDDY_EOVERRELEASE
 *  if a bounded semaphore would go above its initial value, UV_EOVERFLOW
 *  if the count would overflow. */
int eddy_sem_release(eddy_sem_t *s);
/** Free permits now. */
unsigned eddy_sem_value(const eddy_sem_t *s);

/** asyncio.Barrier: parties tasks wait until all have arrived, then all go
 *  on; reusable, one generation after another. */
typedef struct eddy_barrier {
    unsigned parties;
    bool broken;
    eddy__waitq_t waiters; /* this generation's arrivals, in order */
} eddy_barrier_t;

/** Prepares a barrier for parties tasks: 0, or UV_EINVAL if parties is 0. */
int eddy_barrier_init(eddy_barrier_t *b, unsigned parties);
/** Arrives and waits for the others.  Returns the arrival index, 0 to
 *  parties-1 (the last to arrive gets parties-1 and does not wait), or
 *  EDDY_EBROKEN if the barrier is or becomes broken (aborted, reset while
 *  waiting, or another waiter interrupted), or UV_ECANCELED / UV_ETIMEDOUT;
 *  an interrupted waiter breaks the barrier for the others. */
int eddy_barrier_wait(eddy_barrier_t *b);
/** Breaks the barrier: waiters and later arrivals get EDDY_EBROKEN until
 *  eddy_barrier_reset. */
void eddy_barrier_abort(eddy_barrier_t *b);
/** Returns the barrier to its empty, unbroken state; current waiters get
 *  EDDY_EBROKEN. */
void eddy_barrier_reset(eddy_barrier_t *b);
/** True if the barrier is broken. */
bool eddy_barrier_broken(const eddy_barrier_t *b);
/** Tasks waiting in the current generation. */
unsigned eddy_barrier_n_waiting(const eddy_barrier_t *b);

/* ------------------------------------------------------------------ Queues */

/** asyncio.Queue, LifoQueue and PriorityQueue of void * items.  A bounded
 *  queue (maxsize > 0) allocates its storage at init, so putting into it
 *  never fails for lack of memory; an unbounded one grows.  Passing an
 *  item between a waiting task and another never allocates: put hands it
 *  straight to the first waiting getter, and get moves the first waiting
 *  putter's item into the slot it freed.  Getters, putters and joiners are
 *  served in FIFO order; an interrupted call neither loses nor duplicates
 *  an item (a getter handed an item before its cancellation arrived
 *  returns it). */
typedef struct eddy_queue {
    void *buf;         /* ring of void * (FIFO), stack (LIFO) or heap (priority) */
    size_t cap;        /* slots in buf */
    size_t head;       /* ring index of the oldest item (FIFO) */
    size_t len;        /* items stored */
    size_t maxsize;    /* 0: unbounded */
    size_t unfinished; /* put but not yet task_done'd */
    uint64_t seq;      /* insertion counter: FIFO order among equal priorities */
    int (*cmp)(const void *a, const void *b);
    eddy__waitq_t getters, putters, joiners;
    uint8_t kind;
    bool shutdown;
} eddy_queue_t;

/** Prepares a FIFO queue holding at most maxsize items (0: unbounded):
 *  0 or UV_ENOMEM. */
int eddy_queue_init(eddy_queue_t *q, size_t maxsize);
/** Prepares a LIFO queue (asyncio.LifoQueue): 0 or UV_ENOMEM. */
int eddy_queue_init_lifo(eddy_queue_t *q, size_t maxsize);
/** Prepares a priority queue: get returns the smallest item by cmp, which
 *  is given two items (not pointers to them) and returns <0, 0, >0 like
 *  strcmp; equal items come out in the order they were put.  0,
 *  UV_ENOMEM, or UV_EINVAL if cmp is NULL. */
int eddy_queue_init_priority(eddy_queue_t *q, size_t maxsize,
                             int (*cmp)(const void *a, const void *b));
/** Frees the storage.  Items still queued are forgotten: a caller that
 *  owns them drains the queue with eddy_queue_get_nowait first.  Tasks
 *  still waiting on q are woken with EDDY_ECLOSED. */
void eddy_queue_destroy(eddy_queue_t *q);
/** Puts item, waiting while the queue is full: 0, EDDY_ESHUTDOWN (the item
 *  was not put), UV_ECANCELED, UV_ETIMEDOUT, or UV_ENOMEM (unbounded queue
 *  that could not grow). */
int eddy_queue_put(eddy_queue_t *q, void *item);
/** Takes the next item into *item, waiting while the queue is empty: 0,
 *  EDDY_ESHUTDOWN once the queue is shut down and empty, UV_ECANCELED or
 *  UV_ETIMEDOUT. */
int eddy_queue_get(eddy_queue_t *q, void **item);
/** Puts item if that needs no wait: 0, UV_EAGAIN (full), EDDY_ESHUTDOWN or
 *  UV_ENOMEM.  Callable outside a task (from a libuv callback). */
int eddy_queue_put_nowait(eddy_queue_t *q, void *item);
/** Takes an item if one is there: 0, UV_EAGAIN (empty) or EDDY_ESHUTDOWN
 *  (shut down and empty).  Callable outside a task. */
int eddy_queue_get_nowait(eddy_queue_t *q, void **item);
/** Items in the queue. */
size_t eddy_queue_size(const eddy_queue_t *q);
/** True if the queue holds no item. */
bool eddy_queue_empty(const eddy_queue_t *q);
/** True if a bounded queue holds maxsize items (never for unbounded). */
bool eddy_queue_full(const eddy_queue_t *q);
/** Marks one item taken by get as processed: 0, or UV_EINVAL if called
 *  more times than items were put.  The last one wakes eddy_queue_join. */
int eddy_queue_task_done(eddy_queue_t *q);
/** Waits until every item put has been marked done (at once if so): 0,
 *  UV_ECANCELED or UV_ETIMEDOUT. */
int eddy_queue_join(eddy_queue_t *q);
/** Python 3.13's Queue.shutdown: put fails with EDDY_ESHUTDOWN from now on
 *  (waiting putters wake with it), and get does once the queue is empty
 *  (waiting getters wake with it).  With immediate, the queued items are
 *  dropped at once and count as done for join; when they own memory, shut
 *  down without immediate and drain with eddy_queue_get_nowait instead. */
void eddy_queue_shutdown(eddy_queue_t *q, bool immediate);

/* ---------------------------------------------------------------- Channels */

/* Go's channels and Trio's memory channels: items of a fixed size, copied
 * by value.  A rendezvous channel (capacity 0) completes a send only when a
 * receiver takes the item; a buffered one holds up to capacity items.
 * Passing an item to a waiting task never allocates: it is copied straight
 * from the sender's memory to the receiver's.  Waits are interruptible
 * (UV_ECANCELED, UV_ETIMEDOUT from a timeout scope), served in FIFO order,
 * and a call woken with its item sent or received returns 0 even if a
 * cancellation arrives before it runs (delivered at the next wait): an
 * interrupted call neither loses nor duplicates an item.  Callable from
 * one loop's thread only; the try_ forms also from libuv callbacks. */
typedef struct eddy_chan {
    char *buf;        /* capacity * item_size bytes, a ring */
    size_t capacity;  /* 0: rendezvous */
    size_t item_size; /* bytes copied per item (0 allowed: a signal) */
    size_t head, len; /* ring index of the oldest item, items held */
    eddy__waitq_t senders, receivers;
    bool closed;
} eddy_chan_t;

/** Prepares ch for items of item_size bytes, buffering up to capacity of
 *  them (0: unbuffered, every send meets a receiver): 0 or UV_ENOMEM. */
int eddy_chan_init(eddy_chan_t *ch, size_t capacity, size_t item_size);
/** Frees the buffer; tasks still waiting are woken with EDDY_ECLOSED as by
 *  eddy_chan_close (buffered items are forgotten). */
void eddy_chan_destroy(eddy_chan_t *ch);
/** Copies *item into the channel, waiting for buffer room or, unbuffered,
 *  for a receiver: 0, EDDY_ECLOSED (closed before or while waiting: the
 *  item was not sent), UV_ECANCELED or UV_ETIMEDOUT. */
int eddy_chan_send(eddy_chan_t *ch, const void *item);
/** Receives the next item into *item, waiting for one: 0, EDDY_ECLOSED
 *  once the channel is closed and drained, UV_ECANCELED or UV_ETIMEDOUT. */
int eddy_chan_recv(eddy_chan_t *ch, void *item);
/** Sends if that needs no wait: 0, UV_EAGAIN or EDDY_ECLOSED. */
int eddy_chan_try_send(eddy_chan_t *ch, const void *item);
/** Receives if an item is there (buffered, or a waiting sender's): 0,
 *  UV_EAGAIN or EDDY_ECLOSED (closed and drained). */
int eddy_chan_try_recv(eddy_chan_t *ch, void *item);
/** Closes ch (trio's aclose on the send side): sends fail with
 *  EDDY_ECLOSED from now on, waiting senders wake with it, and receivers
 *  get the buffered items first, then EDDY_ECLOSED.  Idempotent. */
void eddy_chan_close(eddy_chan_t *ch);
/** Items buffered in ch. */
size_t eddy_chan_len(const eddy_chan_t *ch);

/** An operation's direction in eddy_select. */
enum { EDDY_SEND = 1, EDDY_RECV = 2 };

/** One case of eddy_select.  A NULL chan is never ready (Go's nil
 *  channel), which switches a case off without rebuilding the array. */
typedef struct eddy_chan_op {
    eddy_chan_t *chan;
    int dir;    /* EDDY_SEND or EDDY_RECV */
    void *item; /* the item to send, or where to receive one */
    int status; /* out, for the op that completed: 0 or EDDY_ECLOSED */
} eddy_chan_op_t;

/** Go's select: performs exactly one of the n operations, waiting at most
 *  timeout_ms (EDDY_FOREVER: no bound; 0: only if one is ready now), and
 *  returns its index, with ops[i].status 0 or EDDY_ECLOSED (a closed
 *  channel is always ready: recv once drained, send at once).  When
 *  several are ready, one is picked at random.  Otherwise UV_ETIMEDOUT,
 *  UV_ECANCELED (timeout scopes apply too), UV_EINVAL (a bad dir),
 *  UV_ENOMEM (more than 16 ops and no memory for the waiters), or
 *  EDDY_ENOTASK (it would wait outside a task; timeout 0 works there). */
int eddy_select(eddy_chan_op_t *ops, size_t n, uint64_t timeout_ms);

/* ----------------------------------------------------------------- Threads */

/** A function run on libuv's thread pool by eddy_to_thread. */
typedef void *(*eddy_thread_fn)(void *arg);

/** asyncio.to_thread: runs fn(arg) on libuv's thread pool (size:
 *  UV_THREADPOOL_SIZE, default 4, fixed at first use) and waits; returns 0
 *  and stores fn's return value in *result (if non-NULL; with result NULL
 *  the value goes to discard).  If the waiting task is cancelled (or its
 *  timeout scope expires) before fn started, fn never runs and UV_ECANCELED
 *  (UV_ETIMEDOUT) is returned at once; once fn has started, the call waits
 *  for it to finish (fn may use the caller's stack through arg), passes
 *  its result to discard (may be NULL) and returns the interruption. */
int eddy_to_thread(eddy_thread_fn fn, void *arg, void **result, void (*discard)(void *result));

/* ----------------------------------------------------------------- Streams */

/** A TCP or Unix-domain stream socket, or a listener.  Opaque and
 *  heap-allocated; eddy_close frees it.  Creating the first stream sets
 *  SIGPIPE to ignored if it is at its default (a write to a closed peer
 *  then fails with UV_EPIPE instead of killing the process). */
typedef struct eddy_stream eddy_stream_t;

/** Listens on addr: "127.0.0.1:8080", "[::1]:8080", "host:8080" (resolved),
 *  ":8080" or "8080" (all interfaces, IPv6 dual-stack where possible, else
 *  IPv4), or "unix:/path".  TCP listeners get SO_REUSEADDR; a unix path is
 *  unlinked first if it is a stale socket (nobody accepts on it), and
 *  UV_EADDRINUSE is returned if it is a live one.  backlog <= 0 means 511.
 *  Port 0 picks a free port (see eddy_stream_port). */
int eddy_listen(eddy_stream_t **server, const char *addr, int backlog);
/** eddy_listen, but a host name gets a listener on every address it
 *  resolves to (as nginx does; IPv6 ones with IPV6_V6ONLY), up to max of
 *  them in servers[]: returns how many (> 0), or an error with none open.
 *  Addresses this host cannot bind (UV_EADDRNOTAVAIL, UV_EAFNOSUPPORT: no
 *  IPv6) are skipped while at least one other binds. */
int eddy_listen_all(eddy_stream_t **servers, size_t max, const char *addr, int backlog);
/** Adopts an already-listening socket fd (TCP or Unix), e.g. from systemd;
 *  UV_EINVAL if fd is not a listening stream socket.  The stream owns fd. */
int eddy_listen_fd(eddy_stream_t **server, int fd);
/** Adopts a connected stream socket fd (TCP or Unix, e.g. one end of a
 *  socketpair inherited from a parent process); UV_EINVAL if fd is not a
 *  connected-or-connectable stream socket (a listener, a datagram socket).
 *  The stream owns fd (it is made non-blocking). */
int eddy_stream_open_fd(eddy_stream_t **s, int fd);
/** Waits for the next connection and stores it in *client (TCP streams get
 *  TCP_NODELAY, as in asyncio).  EDDY_ECLOSED if the server is closed
 *  meanwhile.  Several tasks may accept on one server (FIFO).  Out of
 *  descriptors it returns UV_EMFILE (UV_ENFILE) and the connection stays in
 *  the kernel's backlog for a later call, rather than being accepted and
 *  closed unseen as libuv's uv_listen does. */
int eddy_accept(eddy_stream_t *server, eddy_stream_t **client);
/** Connects to host:port.  A numeric host is used as is; a name is resolved
 *  with getaddrinfo on the thread pool (uv_getaddrinfo, cancellable) and
 *  each address is tried in turn, returning the last error if all fail.
 *  host "unix:/path" with port NULL connects a Unix socket. */
int eddy_connect(eddy_stream_t **s, const char *host, const char *port);
/** Reads up to len bytes into buf: >0 bytes, UV_EOF at end of stream (and
 *  on every read after it), <0 error; UV_EINVAL if len is 0, UV_EBUSY if
 *  another task is reading s, EDDY_ECLOSED if s is closed meanwhile. */
ssize_t eddy_read(eddy_stream_t *s, void *buf, size_t len);
/** Writes all of bufs and returns when written (0 or <0).  Tries
 *  uv_try_write first; what is left is written as the socket makes room
 *  (or queued with uv_write behind writes libuv already holds).  If the
 *  task is cancelled, its scope expires or the send timeout passes while
 *  the write waits, the unwritten bytes are copied so that the write
 *  completes in the background, and UV_ECANCELED (UV_ETIMEDOUT) returns at
 *  once: the caller's buffers are free again.  Writes on one stream go out
 *  whole and in the order they were made (a write waits for the one before
 *  it to finish). */
int eddy_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs);
/** eddy_write that also stores in *sent how many of the bytes the socket
 *  took before it returned: all of them on success; on an error or an
 *  interruption, those written until then (the rest may still go out in
 *  the background, uncounted).  sent may be NULL. */
int eddy_write_sent(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs, size_t *sent);
/** Bounds each wait of eddy_write and eddy_fs_sendfile on s for the socket
 *  to take more bytes (SO_SNDTIMEO's meaning): a wait in which nothing
 *  could be written for ms fails with UV_ETIMEDOUT, while a slow peer that
 *  keeps reading is never cut, however long the whole write takes.
 *  EDDY_FOREVER (the default): no bound.  Timeout scopes still bound the
 *  whole call. */
void eddy_stream_set_send_timeout(eddy_stream_t *s, uint64_t ms);
/** eddy_write of one buffer. */
int eddy_write_all(eddy_stream_t *s, const void *data, size_t len);
/** Writes what the socket takes now, without waiting: the count written
 *  (0 when the socket is full or another task's write is between its
 *  bytes, so order is kept), or <0.  For fan-out, where a producer must not
 *  wait on one slow consumer: it writes what fits and hands the rest to a
 *  task that may wait (with eddy_write, which continues in order). */
ssize_t eddy_try_write(eddy_stream_t *s, const uv_buf_t *bufs, size_t nbufs);
/** Half-close (uv_shutdown, after the queued writes) and wait for it. */
int eddy_shutdown(eddy_stream_t *s);
/** Closes and frees the stream (never waits; the memory is freed in the
 *  close callback, so s must not be used after this call).  A task parked
 *  in eddy_read, eddy_accept, eddy_write or eddy_shutdown on it wakes with
 *  EDDY_ECLOSED.  NULL is a no-op. */
void eddy_close(eddy_stream_t *s);
/** The socket's file descriptor (for sendfile, setsockopt), or <0. */
int eddy_stream_fd(const eddy_stream_t *s);
/** The underlying libuv stream (a uv_tcp_t or uv_pipe_t); do not close it
 *  nor start reading on it. */
uv_stream_t *eddy_stream_handle(eddy_stream_t *s);
/** True for a Unix-domain stream, false for TCP. */
bool eddy_stream_is_unix(const eddy_stream_t *s);
/** TCP_NODELAY on or off; UV_EINVAL on a Unix-domain stream. */
int eddy_tcp_nodelay(eddy_stream_t *s, bool on);
/** TCP_CORK on or off (nginx's tcp_nopush): while on, the kernel holds
 *  back partial segments, so that a small head written before a sendfile
 *  leaves in one full segment with the file's first bytes; turning it off
 *  sends what is held.  UV_EINVAL on a Unix-domain stream. */
int eddy_tcp_cork(eddy_stream_t *s, bool on);
/** TCP keep-alive on (first probe after delay_s seconds idle) or off;
 *  UV_EINVAL on a Unix-domain stream. */
int eddy_tcp_keepalive(eddy_stream_t *s, bool on, unsigned delay_s);
/** Peer address as text for logs ("1.2.3.4", "::1"; "unix:UID" for a Unix
 *  peer, with its user id from SO_PEERCRED, or "unix" where the kernel does
 *  not say): 0 or <0. */
int eddy_stream_peer(const eddy_stream_t *s, char *buf, size_t len);
/** Local port of a TCP stream or listener (lets tests listen on port 0),
 *  or <0 (UV_EINVAL for a Unix-domain one). */
int eddy_stream_port(const eddy_stream_t *s);

/** asyncio.StreamReader over any stream: a buffer with line and
 *  exact-length reads.  Fields are private; lives where the caller puts
 *  it.  On any error nothing is consumed, so the bytes stay readable. */
typedef struct eddy_reader {
    eddy_stream_t *stream;
    char *buf;
    size_t start, end, cap; /* buffered bytes are buf[start, end) */
    size_t limit;
} eddy_reader_t;

/** Reads from s (which stays the caller's).  limit: the most bytes
 *  readline/readuntil may buffer (0 = 64 KiB, asyncio's default).  0 or
 *  UV_ENOMEM. */
int eddy_reader_init(eddy_reader_t *r, eddy_stream_t *s, size_t limit);
/** Frees the buffer (not the stream); buffered bytes are lost. */
void eddy_reader_free(eddy_reader_t *r);
/** Reads through sep; *data points into the reader's buffer (valid until
 *  the next call) and the length (separator included) is returned.
 *  EDDY_ELIMIT if sep does not end within limit bytes (asyncio's
 *  LimitOverrunError; the bytes stay buffered), EDDY_EINCOMPLETE if the
 *  stream ends first (the partial data stay readable with eddy_reader_read),
 *  UV_EOF if it ends with nothing buffered. */
ssize_t eddy_reader_readuntil(eddy_reader_t *r, const void *sep, size_t seplen, const char **data);
/** readuntil("\n"), but at end of stream returns the partial last line,
 *  and 0 at EOF. */
ssize_t eddy_reader_readline(eddy_reader_t *r, const char **line);
/** Exactly n bytes into dst: 0, or EDDY_EINCOMPLETE if the stream ends
 *  first (asyncio's IncompleteReadError; the partial bytes stay readable
 *  with eddy_reader_read). */
int eddy_reader_readexactly(eddy_reader_t *r, void *dst, size_t n);
/** What is buffered (up to max), or waits for what arrives: >0 bytes, 0 at
 *  EOF, <0 error. */
ssize_t eddy_reader_read(eddy_reader_t *r, void *dst, size_t max);
/** Bytes buffered and not yet consumed. */
size_t eddy_reader_buffered(const eddy_reader_t *r);

/** asyncio.StreamWriter over any stream: writes are copied and queued
 *  without waiting; eddy_writer_drain applies flow control.  Fields are
 *  private.  Close the writer before the stream; do not mix eddy_write and
 *  a writer on one stream unless the writer has nothing pending. */
typedef struct eddy_writer {
    eddy_stream_t *stream;
    size_t high, low;
    size_t pending; /* bytes accepted and not yet written */
    char *buf;      /* bytes not yet handed to libuv */
    size_t len, cap;
    struct eddy__wop *inflight; /* the uv_write in progress, if any */
    eddy_wait_t *waiter;        /* a task in drain or close */
    int error;                  /* the stream's first write error */
} eddy_writer_t;

/** Prepares w over s with high/low water marks; 0,0 = 64 KiB / 16 KiB
 *  (low is capped at high).  Returns 0. */
int eddy_writer_init(eddy_writer_t *w, eddy_stream_t *s, size_t high, size_t low);
/** Copies and queues data; never waits.  Returns 0, UV_ENOMEM, or the
 *  stream's error if a write has failed. */
int eddy_writer_write(eddy_writer_t *w, const void *data, size_t len);
/** If more than high bytes are pending, waits until no more than low are:
 *  0, the stream's error, or the interruption. */
int eddy_writer_drain(eddy_writer_t *w);
/** Bytes accepted by eddy_writer_write and not yet written to the socket. */
size_t eddy_writer_pending(const eddy_writer_t *w);
/** Waits until everything is written, then releases the writer (not the
 *  stream): 0 or the stream's error.  If interrupted, the pending bytes
 *  are still written in the background and the interruption returned;
 *  the writer is released either way. */
int eddy_writer_close(eddy_writer_t *w);

/* ------------------------------------------------------------------- Files */

/* Files: libuv's fs requests on its thread pool, so they never block the
 * loop (nor does a FIFO, a slow disk or NFS).  Paths and flags are open(2)'s
 * (O_CLOEXEC is always added).  Every call but eddy_fs_close is
 * interruptible: a cancellation or an expired timeout scope takes the
 * request back if it has not started, else waits for it to finish (file
 * operations are bounded) and returns UV_ECANCELED / UV_ETIMEDOUT; an fd
 * that an interrupted open produced anyway is closed, and an interrupted
 * write that wrote returns its count (the cancellation then stays pending
 * for the next wait). */

/** open(2): fd >= 0 or <0. */
int eddy_fs_open(const char *path, int flags, int mode);
/** pread(2) at offset, or read(2) at the current position if offset is
 *  -1: bytes read (maybe fewer than len), 0 at EOF, or <0. */
ssize_t eddy_fs_read(int fd, void *buf, size_t len, int64_t offset);
/** pwrite(2) at offset, or write(2) if offset is -1: bytes written (maybe
 *  fewer than len), or <0. */
ssize_t eddy_fs_write(int fd, const void *buf, size_t len, int64_t offset);
/** stat(2) into *st: 0 or <0. */
int eddy_fs_stat(const char *path, uv_stat_t *st);
/** fstat(2) into *st: 0 or <0. */
int eddy_fs_fstat(int fd, uv_stat_t *st);
/** close(2): 0 or <0 (fd is closed either way).  Not interruptible: it
 *  always completes, so that fd is never left in doubt. */
int eddy_fs_close(int fd);
/** Reads a whole file: *data is malloc'd (the caller frees it) and
 *  NUL-terminated, *len excludes the NUL.  0, UV_EFBIG if the file holds
 *  more than limit bytes, or another error (then *data is NULL). */
int eddy_fs_read_file(const char *path, char **data, size_t *len, size_t limit);
/** Sends len bytes of fd, from offset, to the stream out with sendfile(2)
 *  (no copy through user space), waiting for room in the socket when it is
 *  full (each wait bounded by the stream's send timeout); while writes are
 *  queued on out in libuv, or if sendfile cannot take the file, the next
 *  chunk (up to 64 KiB) is read and written instead.  Like eddy_write it
 *  holds the stream's write turn.  Returns the bytes sent (fewer than len
 *  only if the file ends first) or <0, including UV_ECANCELED /
 *  UV_ETIMEDOUT; the file's position is not used. */
ssize_t eddy_fs_sendfile(eddy_stream_t *out, int fd, int64_t offset, size_t len);
/** eddy_fs_sendfile returning 0 or <0, with the bytes the socket took in
 *  *sent either way (when it fails part-way too).  sent may be NULL. */
int eddy_fs_sendfile_sent(eddy_stream_t *out, int fd, int64_t offset, size_t len, size_t *sent);

/* ------------------------------------------------------ Signals and timers */

/** Signals as awaitables (asyncio's add_signal_handler, as a wait).
 *  Opaque, heap-allocated; eddy_signal_close frees it. */
typedef struct eddy_signal eddy_signal_t;

/** Starts catching the n signals now (uv_signal; a repeated number counts
 *  once).  Signals that arrive while no task waits are queued, counted per
 *  signal, so none is lost between two waits.  0, UV_EINVAL (n is 0 or a
 *  number is invalid), UV_ENOMEM or EDDY_ENOTASK outside eddy_run. */
int eddy_signal_open(eddy_signal_t **s, const int *signums, size_t n);
/** Returns the oldest queued signal at once, else waits for the next one:
 *  its number (> 0), UV_ECANCELED, UV_ETIMEDOUT, or EDDY_ECLOSED if s is
 *  closed meanwhile.  Several tasks may wait (FIFO, one signal each).
 *  While no task waits, s does not keep the loop alive. */
int eddy_signal_wait(eddy_signal_t *s);
/** Stops catching (the default action applies again once no other catcher
 *  of the signal is left), wakes waiters with EDDY_ECLOSED and frees s.
 *  NULL is a no-op. */
void eddy_signal_close(eddy_signal_t *s);

/** Periodic timer usable from a task (Go's time.Ticker).  Ticks fall at
 *  open + k * period on the loop clock.  Opaque, heap-allocated. */
typedef struct eddy_ticker eddy_ticker_t;

/** Starts a ticker with the given period (> 0): 0, UV_EINVAL, UV_ENOMEM,
 *  or EDDY_ENOTASK outside eddy_run. */
int eddy_ticker_open(eddy_ticker_t **t, uint64_t period_ms);
/** Waits for the next tick; returns how many ticks fell since the one the
 *  last wait returned (>= 1: ticks missed while the task was busy are
 *  coalesced, and returned at once, not queued), or UV_ECANCELED,
 *  UV_ETIMEDOUT, EDDY_ECLOSED (closed meanwhile), UV_EBUSY (another task
 *  is waiting on t).  An idle ticker costs nothing and does not keep the
 *  loop alive. */
int eddy_ticker_wait(eddy_ticker_t *t);
/** Stops and frees the ticker; a waiting task gets EDDY_ECLOSED.  NULL is
 *  a no-op. */
void eddy_ticker_close(eddy_ticker_t *t);

/* ------------------------------------------------- Statistics and stalls */

/** Numbers of this thread's runtime, for a server's metrics. */
typedef struct eddy_stats {
    size_t tasks_alive;   /**< tasks spawned and not finished */
    size_t stacks_pooled; /**< finished tasks' stacks kept for reuse */
    uint64_t stalls;      /**< runs the stall detector reported */
} eddy_stats_t;

/** Fills st (all zero outside eddy_run). */
void eddy_stats(eddy_stats_t *st);

/** Told that task t ran ms milliseconds without waiting.  Called on the
 *  scheduler's stack, after t switched out (t may have finished; it is
 *  valid for the call): cb must not wait or spawn, only look and log. */
typedef void (*eddy_stall_cb)(eddy_task_t *t, uint64_t ms, void *arg);

/** asyncio's slow_callback_duration: after a task runs ms milliseconds or
 *  more between two waits, blocking every other task meanwhile, cb is
 *  called with it (0 turns the detector off).  A run is timed on the
 *  coarse monotonic clock (the kernel tick, 1-4 ms), one clock read per
 *  task switch while on, so thresholds below ~10 ms are not precise.  0,
 *  or EDDY_ENOTASK outside eddy_run. */
int eddy_stall_watch(uint64_t ms, eddy_stall_cb cb, void *arg);

/* ------------------------------------------------------------ Short forms */

/* Scoped blocks (EDDY_WITH_LOCK...), done/pending sets, typed results,
 * async generators, awaitables as tasks and the spawn sites of the
 * forgotten-handle report: in their own header. */
#include "eddy/forms.h"

#ifdef __cplusplus
}
#endif
#endif /* EDDY_H */
