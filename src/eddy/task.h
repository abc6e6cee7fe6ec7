/*
 * eddy/task.h — tasks and how they wait, part of eddy's API; included by eddy.h (do not
 * include it on its own).
 *
 * Error codes, tasks (spawn, join, cancel, shield), timeout scopes, the
 * combinators (gather, wait, as_completed, wait_for), task groups, waiting
 * on libuv callbacks, and the runtime's statistics and stall detector.
 */
#ifndef EDDY_TASK_H
#define EDDY_TASK_H

#ifndef EDDY_H
#error "include <eddy.h>, not <eddy/task.h>"
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

#endif /* EDDY_TASK_H */
