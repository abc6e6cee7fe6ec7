/*
 * eddy/sync.h — synchronisation between tasks, part of eddy's API; included by eddy.h (do not
 * include it on its own).
 *
 * Lock, Event, Condition, Semaphore, Barrier; queues; channels and select.
 */
#ifndef EDDY_SYNC_H
#define EDDY_SYNC_H

#ifndef EDDY_H
#error "include <eddy.h>, not <eddy/sync.h>"
#endif

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

#endif /* EDDY_SYNC_H */
