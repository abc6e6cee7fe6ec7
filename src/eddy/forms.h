/*
 * eddy/forms.h — the short forms of eddy's API, included by eddy.h (do not
 * include it on its own): scoped enter/leave blocks, done and pending sets
 * from a wait, typed results, spawn sites for the forgotten-handle report,
 * async generators and line loops, and awaitables spawned as tasks.
 *
 * Every form here is built on the calls of eddy.h and behaves as they do;
 * they make ordinary asyncio code short in C, and need GCC or Clang
 * (__attribute__((cleanup)), __COUNTER__).
 */
#ifndef EDDY_FORMS_H
#define EDDY_FORMS_H

#ifndef EDDY_H
#error "include <eddy.h>, not <eddy/forms.h>"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ Spawn sites */

/** Records the source line of the next handle a spawn gives out, for the
 *  forgotten-handle report; the spawn macros below call it, so that every
 *  eddy_spawn, eddy_group_spawn, eddy_spawn_* and eddy_gen_start call
 *  site is known.  Outside eddy_run it does nothing.
 *
 *  Forgotten handles: with EDDY_DEBUG set (and not "0"), or in a build
 *  configured with --enable-debug, eddy_run writes to stderr, once every
 *  task has ended, each handle that was never given back with
 *  eddy_detach: the task's name and the file:line of its spawn.  Such a
 *  handle leaks the task's struct (asyncio's "Task was destroyed but it is
 *  pending" and ResourceWarning, found at exit rather than by the GC). */
void eddy_spawn_site(const char *file, int line);

#define EDDY__AT(call) (eddy_spawn_site(__FILE__, __LINE__), call)
/* A function-like macro is not expanded inside its own expansion, so
 * (eddy_spawn)(...) is the function itself, and &eddy_spawn still works. */
#define eddy_spawn(...) EDDY__AT((eddy_spawn)(__VA_ARGS__))
#define eddy_group_spawn(...) EDDY__AT((eddy_group_spawn)(__VA_ARGS__))

/* ----------------------------------------------------------- Scoped forms */

/* EDDY_WITH_TIMEOUT(ms), EDDY_WITH_LOCK(lock), EDDY_WITH_SEM(sem) and
 * EDDY_WITH_SHIELD() run the statement or block after them inside the
 * enter/leave pair, and leave however the block is left (asyncio's
 * `async with`):
 *
 *     EDDY_WITH_LOCK(&lock) {
 *         if (eddy_sleep(10) < 0)
 *             return -1;        // the lock is released on the way out
 *         counter++;
 *     }
 *
 * What is safe inside the block:
 *  - falling off its end, `return` and `goto` to a label outside it leave
 *    the scope (the leave runs from __attribute__((cleanup)) on return and
 *    goto; a return's value is computed before, still inside the scope);
 *  - `break` and `continue` leave the block too, but refer to the macro's
 *    own one-pass loop, not to a loop around it: to break out of an
 *    enclosing loop from inside, use goto (or a flag);
 *  - never jump into the block, nor longjmp out of it (no cleanup runs).
 * Blocks nest and are left innermost first.
 *
 * The _RC forms store a status in the int lvalue rc: for a lock or a
 * semaphore the acquire's (0, or UV_ECANCELED / UV_ETIMEDOUT, and then the
 * block is skipped); for a timeout, 0 on entering and eddy_timeout_leave's
 * result (0 or UV_ETIMEDOUT) on leaving.  The plain lock and semaphore
 * forms skip the block silently when the acquire fails (the task was
 * cancelled or a scope expired): use the _RC form where the caller must
 * tell. */

enum { EDDY__WITH_TIMEOUT = 1, EDDY__WITH_LOCK, EDDY__WITH_SEM, EDDY__WITH_SHIELD };

/** The state of one EDDY_WITH_* block; fields private. */
typedef struct eddy_with {
    int kind;  /* EDDY__WITH_* */
    int state; /* 0 not entered, 1 inside, 2 left */
    void *obj; /* the lock or semaphore */
    uint64_t ms;
    int *rc;
    eddy_timeout_t timeout;
} eddy_with_t;

/** The loop condition of the EDDY_WITH_* forms: enters on the first call
 *  (true, or false if the acquire failed), leaves on the second (false). */
bool eddy_with_step(eddy_with_t *w);
/** The cleanup of the EDDY_WITH_* forms: leaves if still inside. */
void eddy_with_end(eddy_with_t *w);

static inline void *eddy__with_lock_obj(eddy_lock_t *l)
{
    return l;
}
static inline void *eddy__with_sem_obj(eddy_sem_t *s)
{
    return s;
}

#define EDDY__CAT2(a, b) a##b
#define EDDY__CAT(a, b) EDDY__CAT2(a, b)
#define EDDY__WITH(k_, o_, ms_, rc_, id_)                                                          \
    for (eddy_with_t id_ __attribute__((                                                           \
             cleanup(eddy_with_end))) = {.kind = (k_), .obj = (o_), .ms = (ms_), .rc = (rc_)};     \
         eddy_with_step(&id_);)
#define EDDY__WITH_ID EDDY__CAT(eddy__with_, __COUNTER__)

/** async with asyncio.timeout(ms/1000): every wait in the block fails
 *  with UV_ETIMEDOUT once ms have passed (eddy_timeout_enter / leave). */
#define EDDY_WITH_TIMEOUT(ms) EDDY__WITH(EDDY__WITH_TIMEOUT, NULL, (ms), NULL, EDDY__WITH_ID)
/** EDDY_WITH_TIMEOUT; rc gets UV_ETIMEDOUT if the deadline passed. */
#define EDDY_WITH_TIMEOUT_RC(ms, rc)                                                               \
    EDDY__WITH(EDDY__WITH_TIMEOUT, NULL, (ms), &(rc), EDDY__WITH_ID)
/** async with lock: the block runs holding lock (eddy_lock_acquire /
 *  release), and is skipped if the acquire fails. */
#define EDDY_WITH_LOCK(lock)                                                                       \
    EDDY__WITH(EDDY__WITH_LOCK, eddy__with_lock_obj(lock), 0, NULL, EDDY__WITH_ID)
/** EDDY_WITH_LOCK; rc gets the acquire's status. */
#define EDDY_WITH_LOCK_RC(lock, rc)                                                                \
    EDDY__WITH(EDDY__WITH_LOCK, eddy__with_lock_obj(lock), 0, &(rc), EDDY__WITH_ID)
/** async with sem: the block runs holding a permit of sem. */
#define EDDY_WITH_SEM(sem)                                                                         \
    EDDY__WITH(EDDY__WITH_SEM, eddy__with_sem_obj(sem), 0, NULL, EDDY__WITH_ID)
/** EDDY_WITH_SEM; rc gets the acquire's status. */
#define EDDY_WITH_SEM_RC(sem, rc)                                                                  \
    EDDY__WITH(EDDY__WITH_SEM, eddy__with_sem_obj(sem), 0, &(rc), EDDY__WITH_ID)
/** A shielded block (eddy_shield_enter / leave). */
#define EDDY_WITH_SHIELD() EDDY__WITH(EDDY__WITH_SHIELD, NULL, 0, NULL, EDDY__WITH_ID)

/* ------------------------------------------------------ Done/pending sets */

/** asyncio.wait's two sets: eddy_wait, then the handles of the finished
 *  tasks in done[] and of the others in pending[], each in the order of
 *  tasks[] (either array may be NULL; each needs room for n).  Returns the
 *  number done (pending has n minus that), or eddy_wait's error (the
 *  arrays are filled then too, as of that moment). */
int eddy_wait_sets(eddy_task_t *const *tasks, size_t n, enum eddy_return_when when,
                   uint64_t timeout_ms, eddy_task_t **done, eddy_task_t **pending);

/* ---------------------------------------------------------- Typed results */

/** A task body computing an integer: returns its status (< 0: an error)
 *  and stores its value in *result (which starts at 0). */
typedef int (*eddy_int_task_fn)(int64_t arg, int64_t *result);

/** eddy_spawn of an integer task: fn(arg, &result) runs as a task whose
 *  result is that integer (eddy_join_int), no casts on either side. */
int eddy_spawn_int(eddy_task_t **t, eddy_int_task_fn fn, int64_t arg,
                   const eddy_spawn_opts_t *opts);
#define eddy_spawn_int(...) EDDY__AT((eddy_spawn_int)(__VA_ARGS__))
/** Sets the running task's result to an integer (eddy_set_result's twin). */
void eddy_set_result_int(int64_t value);
/** eddy_join, with the result as an integer in *value (if non-NULL). */
int eddy_join_int(eddy_task_t *t, int64_t *value);
/** A finished task's result as an integer (eddy_set_result_int's, or the
 *  value of an eddy_spawn_int body); 0 if none was set. */
int64_t eddy_result_int(const eddy_task_t *t);
/** A finished task's result pointer (eddy_set_result's). */
void *eddy_result_ptr(const eddy_task_t *t);

/** eddy_run, and main's result (eddy_set_result) in *result: for a
 *  program whose main task computes something.  result may be NULL. */
int eddy_run_result(eddy_task_fn main, void *arg, void **result);
/** eddy_run of an integer task: main(arg, result) runs as the main task;
 *  returns eddy_run's status, the integer in *result (if non-NULL). */
int eddy_run_int(eddy_int_task_fn main, int64_t arg, int64_t *result);

/* ------------------------------------------------------------- Generators */

/** An async generator: a task that yields items, one at a time, to its
 *  consumer (asyncio's `async for x in agen()`), over two rendezvous
 *  channels (eddy_chan_t).  Once running, eddy_gen_next switches straight
 *  into the body and eddy_gen_yield straight back, without the scheduler
 *  (~47 ns an item): while the body does not wait, the pair runs without
 *  other tasks in between, and a cancel or timeout of the consumer is
 *  delivered when the body waits or yields.  It is lazy like Python's: its body starts at
 *  the first eddy_gen_next and then waits in each eddy_gen_yield until the
 *  next eddy_gen_next asks for another item, so an item may point into the
 *  generator's memory (a line in its read buffer) until the consumer's
 *  next call.  Lives where the caller puts it, which must not move until
 *  the generator has ended (UV_EOF or an error from eddy_gen_next) or been
 *  closed.  Fields private. */
typedef struct eddy_gen eddy_gen_t;

/** A generator's body: yields with eddy_gen_yield(g, &item) and returns its
 *  status (>= 0: the consumer's next call gets UV_EOF; < 0: gets it). */
typedef int (*eddy_gen_fn)(eddy_gen_t *g, void *arg);

struct eddy_gen {
    eddy_chan_t items;    /* rendezvous: generator to consumer */
    eddy_chan_t requests; /* rendezvous, empty items: consumer to generator */
    eddy_task_t *task;    /* NULL once reaped */
    eddy_gen_fn fn;
    void *arg;
    int status;   /* the body's status, once reaped */
    bool asked;   /* a request was taken and its item not yet received */
    bool closing; /* eddy_gen_close is ending the body */
    bool ahead;   /* EDDY_GEN_AHEAD */
};

/** eddy_spawn_opts_t.flags for eddy_gen_start: the body runs ahead, from
 *  its spawn on, and each yield waits only until the consumer takes the
 *  item (Go's goroutine feeding an unbuffered channel), not for the next
 *  request: it computes the next item while the consumer handles the
 *  last (through the scheduler: a channel handoff, ~70-80 ns an item, more
 *  than the lazy form's direct switches; see tests/bench/README.md).
 *  Items must then not point into memory the body reuses. */
#define EDDY_GEN_AHEAD 0x100u

/** Spawns the generator fn(g, arg) yielding items of item_size bytes (not
 *  yet running: it starts at the first eddy_gen_next, unless
 *  EDDY_GEN_AHEAD).  opts as for eddy_spawn (its name shows in deadlock
 *  reports; flags may add EDDY_GEN_AHEAD).  0, UV_ENOMEM or
 *  EDDY_ENOTASK. */
int eddy_gen_start(eddy_gen_t *g, size_t item_size, eddy_gen_fn fn, void *arg,
                   const eddy_spawn_opts_t *opts);
#define eddy_gen_start(...) EDDY__AT((eddy_gen_start)(__VA_ARGS__))
/** Asks for the next item and waits for it (asyncio's __anext__): 0 with
 *  the item in *item, UV_EOF once the body returned >= 0, the body's own
 *  status if it failed (UV_ECANCELED if it was cancelled), or the
 *  interruption of the waiting consumer (UV_ECANCELED, UV_ETIMEDOUT: the
 *  item is not lost, the next call gets it).  Once it returned UV_EOF or
 *  the body's error, the generator is reaped: later calls return the same
 *  and eddy_gen_close is optional. */
int eddy_gen_next(eddy_gen_t *g, void *item);
/** In the body: hands *item to the consumer and waits for its next call.
 *  0 when asked for another item; EDDY_ECLOSED once the consumer closed
 *  the generator (the body returns then: asyncio's GeneratorExit), or
 *  UV_ECANCELED / UV_ETIMEDOUT. */
int eddy_gen_yield(eddy_gen_t *g, const void *item);
/** Ends the generator from the consumer's side (asyncio's aclose): a body
 *  waiting in eddy_gen_yield gets EDDY_ECLOSED, one waiting elsewhere is
 *  cancelled, and the call waits (shielded: the body may use the caller's
 *  memory) until it has returned.  Returns 0, or the body's error other
 *  than the EDDY_ECLOSED or UV_ECANCELED the close caused. */
int eddy_gen_close(eddy_gen_t *g);
/** Cancels the generator's task (from either side, like eddy_cancel): the
 *  consumer's next call then gets the body's status, usually UV_ECANCELED. */
void eddy_gen_cancel(eddy_gen_t *g);

/** A line of a stream: data points into the reader's buffer (valid until
 *  the next read), len counts the newline if there is one. */
typedef struct eddy_line {
    const char *data;
    size_t len;
} eddy_line_t;

/** A generator of the lines of r (eddy_reader_readline): yields
 *  eddy_line_t items, each valid until the next eddy_gen_next; ends with
 *  UV_EOF at end of stream, or the read's error. */
int eddy_gen_lines(eddy_gen_t *g, eddy_reader_t *r);
#define eddy_gen_lines(...) EDDY__AT((eddy_gen_lines)(__VA_ARGS__))

static inline bool eddy__line_next(eddy_reader_t *r, eddy_line_t *line, int *rc)
{
    ssize_t n = eddy_reader_readline(r, &line->data);
    if (n > 0) {
        line->len = (size_t)n;
        return true;
    }
    *rc = (int)n;
    return false;
}

/** `async for line in reader`: runs the block once per line of r, with
 *  `line` an eddy_line_t declared by the macro; afterwards the int lvalue
 *  rc holds 0 at end of stream or the read's error (left untouched by a
 *  break).  A real loop: break and continue work as in any loop. */
#define EDDY_FOR_LINES(r, line, rc)                                                                \
    for (eddy_line_t line = {NULL, 0}; eddy__line_next((r), &line, &(rc));)

/* ------------------------------------------------------------- Awaitables */

/* Sleeps, queue gets, event waits, channel receives and to_thread calls as
 * tasks, so that eddy_gather, eddy_wait, eddy_wait_sets, as_completed and
 * wait_for take them beside other tasks without a wrapper task written for
 * each.  Each is an ordinary task (join, detach, cancel it); its status is
 * the call's, its result what the call produced. */

/** A task running eddy_to_thread(fn, arg, &result, discard): result is
 *  fn's return value.  Cancelling it before fn starts keeps fn from
 *  running; after, the task ends when fn returns (discard gets its value). */
int eddy_spawn_thread(eddy_task_t **t, eddy_thread_fn fn, void *arg, void (*discard)(void *result));
#define eddy_spawn_thread(...) EDDY__AT((eddy_spawn_thread)(__VA_ARGS__))
/** A task sleeping ms: status 0 or UV_ECANCELED. */
int eddy_spawn_sleep(eddy_task_t **t, uint64_t ms);
#define eddy_spawn_sleep(...) EDDY__AT((eddy_spawn_sleep)(__VA_ARGS__))
/** A task running eddy_queue_get(q): result is the item (status 0). */
int eddy_spawn_queue_get(eddy_task_t **t, eddy_queue_t *q);
#define eddy_spawn_queue_get(...) EDDY__AT((eddy_spawn_queue_get)(__VA_ARGS__))
/** A task running eddy_event_wait(e). */
int eddy_spawn_event_wait(eddy_task_t **t, eddy_event_t *e);
#define eddy_spawn_event_wait(...) EDDY__AT((eddy_spawn_event_wait)(__VA_ARGS__))
/** A task running eddy_chan_recv(ch, item): item must stay valid until
 *  the task has ended. */
int eddy_spawn_chan_recv(eddy_task_t **t, eddy_chan_t *ch, void *item);
#define eddy_spawn_chan_recv(...) EDDY__AT((eddy_spawn_chan_recv)(__VA_ARGS__))

#ifdef __cplusplus
}
#endif
#endif /* EDDY_FORMS_H */
