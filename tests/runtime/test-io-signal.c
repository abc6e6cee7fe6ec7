/* Signals as awaitables: delivery to a waiting task, queueing while nobody
 * waits, interruption, close, and the loop's liveness. */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "runner/runner.h"

static const int usr1_hup[] = {SIGUSR1, SIGHUP};

/* Raises one signal per tick of a plain uv_timer: the list ends with 0. */
typedef struct raiser {
    uv_timer_t timer;
    const int *signums;
} raiser_t;

static void on_raise(uv_timer_t *h)
{
    raiser_t *r = (raiser_t *)h;
    kill(getpid(), *r->signums++);
    if (*r->signums == 0)
        uv_timer_stop(h);
}

static void raiser_start(raiser_t *r, const int *signums, uint64_t every_ms)
{
    r->signums = signums;
    uv_timer_init(eddy_loop(), &r->timer);
    uv_timer_start(&r->timer, on_raise, every_ms, every_ms);
}

static int each_main(void *arg)
{
    static const int seq[] = {SIGUSR1, SIGHUP, SIGUSR1, 0};
    static raiser_t r; /* closed after this task returns */
    eddy_signal_t *s;

    ASSERT_OK(eddy_signal_open(&s, usr1_hup, 2));
    raiser_start(&r, seq, 20);
    ASSERT_EQ(eddy_signal_wait(s), SIGUSR1);
    ASSERT_EQ(eddy_signal_wait(s), SIGHUP);
    ASSERT_EQ(eddy_signal_wait(s), SIGUSR1);
    uv_close((uv_handle_t *)&r.timer, NULL);
    eddy_signal_close(s);
    return 0;
}

TEST_IMPL(signal_wait_gets_each)
{
    ASSERT_OK(eddy_run(each_main, NULL));
    return 0;
}

static int queued_main(void *arg)
{
    eddy_signal_t *s;
    uint64_t t0;

    ASSERT_OK(eddy_signal_open(&s, usr1_hup, 2));
    /* Caught while nobody waits: libuv hands them to the loop, which
     * counts them during the sleep. */
    raise(SIGUSR1);
    raise(SIGHUP);
    raise(SIGUSR1);
    ASSERT_OK(eddy_sleep(20));
    t0 = test_ms();
    ASSERT_EQ(eddy_signal_wait(s), SIGUSR1);
    ASSERT_EQ(eddy_signal_wait(s), SIGHUP);
    ASSERT_EQ(eddy_signal_wait(s), SIGUSR1);
    ASSERT_LE(test_ms() - t0, 10 * test_scale()); /* all at once */
    eddy_signal_close(s);
    return 0;
}

TEST_IMPL(signal_queued_while_not_waiting)
{
    ASSERT_OK(eddy_run(queued_main, NULL));
    return 0;
}

static int close_idle_main(void *arg)
{
    static const int usr2[] = {SIGUSR2, SIGUSR2};
    eddy_signal_t *s;

    ASSERT_OK(eddy_signal_open(&s, usr2, 2)); /* a repeated number counts once */
    raise(SIGUSR2);
    ASSERT_OK(eddy_sleep(10));
    eddy_signal_close(s); /* one still queued: freed with it */
    eddy_signal_close(NULL);
    ASSERT_OK(eddy_sleep(10));
    return 0;
}

TEST_IMPL(signal_close_while_not_waiting)
{
    ASSERT_OK(eddy_run(close_idle_main, NULL));
    return 0;
}

static int wait_once(void *arg)
{
    return eddy_signal_wait(arg);
}

static int cancel_main(void *arg)
{
    eddy_signal_t *s;
    eddy_task_t *a, *b;
    eddy_timeout_t scope;

    ASSERT_OK(eddy_signal_open(&s, usr1_hup, 2));
    ASSERT_OK(eddy_spawn(&a, wait_once, s, NULL));
    ASSERT_OK(eddy_spawn(&b, wait_once, s, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_cancel(a);
    ASSERT_ERR(eddy_join(a, NULL), UV_ECANCELED);
    /* The cancelled waiter left the queue: the signal goes to b... */
    raise(SIGHUP);
    ASSERT_EQ(eddy_join(b, NULL), SIGHUP);
    eddy_detach(a);
    eddy_detach(b);

    /* ...and a timeout scope interrupts a wait too, losing nothing. */
    eddy_timeout_enter(&scope, 20);
    ASSERT_ERR(eddy_signal_wait(s), UV_ETIMEDOUT);
    ASSERT_ERR(eddy_timeout_leave(&scope), UV_ETIMEDOUT);
    raise(SIGUSR1);
    ASSERT_EQ(eddy_signal_wait(s), SIGUSR1);
    eddy_signal_close(s);
    return 0;
}

TEST_IMPL(signal_cancel_waiting_task)
{
    ASSERT_OK(eddy_run(cancel_main, NULL));
    return 0;
}

static int close_waiting_main(void *arg)
{
    eddy_signal_t *s;
    eddy_task_t *a, *b;

    ASSERT_OK(eddy_signal_open(&s, usr1_hup, 2));
    ASSERT_OK(eddy_spawn(&a, wait_once, s, NULL));
    ASSERT_OK(eddy_spawn(&b, wait_once, s, NULL));
    ASSERT_OK(eddy_sleep(10));
    eddy_signal_close(s);
    ASSERT_ERR(eddy_join(a, NULL), EDDY_ECLOSED);
    ASSERT_ERR(eddy_join(b, NULL), EDDY_ECLOSED);
    eddy_detach(a);
    eddy_detach(b);
    return 0;
}

TEST_IMPL(signal_close_wakes_waiters)
{
    ASSERT_OK(eddy_run(close_waiting_main, NULL));
    return 0;
}

static void *raise_later(void *arg)
{
    usleep(50 * 1000);
    kill(getpid(), SIGUSR1);
    return NULL;
}

static int alive_main(void *arg)
{
    eddy_signal_t *s;
    pthread_t th;

    ASSERT_OK(eddy_signal_open(&s, usr1_hup, 2));
    ASSERT_EQ(pthread_create(&th, NULL, raise_later, NULL), 0);
    /* Only the signal can wake this task: waiting on it must keep the loop
     * alive rather than look like a deadlock. */
    ASSERT_EQ(eddy_signal_wait(s), SIGUSR1);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    eddy_signal_close(s);
    return 0;
}

TEST_IMPL(signal_wait_keeps_loop_alive)
{
    ASSERT_OK(eddy_run(alive_main, NULL));
    return 0;
}

static int idle_main(void *arg)
{
    eddy_signal_t *s;
    int rc;

    ASSERT_OK(eddy_signal_open(&s, usr1_hup, 2));
    /* Nobody waits on s: this sleep is a deadlock, which the runtime must
     * see and break by cancelling. */
    rc = eddy_sleep(EDDY_FOREVER);
    eddy_signal_close(s);
    ASSERT_ERR(rc, UV_ECANCELED);
    return 0;
}

TEST_IMPL(signal_idle_does_not_keep_loop_alive)
{
    /* Broken by cancelling main, and still reported as a deadlock. */
    ASSERT_ERR(eddy_run(idle_main, NULL), EDDY_EDEADLOCK);
    return 0;
}

static int invalid_main(void *arg)
{
    static const int bad[] = {SIGUSR1, 0};
    eddy_signal_t *s;

    ASSERT_ERR(eddy_signal_open(&s, usr1_hup, 0), UV_EINVAL);
    ASSERT_NULL(s);
    ASSERT_ERR(eddy_signal_open(&s, bad, 2), UV_EINVAL);
    ASSERT_NULL(s);
    return 0;
}

TEST_IMPL(signal_open_invalid)
{
    ASSERT_OK(eddy_run(invalid_main, NULL));
    ASSERT_ERR(eddy_signal_open(&(eddy_signal_t *){NULL}, usr1_hup, 2), EDDY_ENOTASK);
    return 0;
}
