/* The EDDY_WITH_* scoped blocks: each leaves its scope on every way out of
 * the block — its end, return, goto, break, continue — and the lock and
 * semaphore forms skip the block when the acquire fails. */
#include "runner/helpers.h"
#include "runner/runner.h"

static eddy_lock_t lock;
static eddy_sem_t sem;

/* -------------------------------------------------------------------- lock */

static int locked_return(int x)
{
    EDDY_WITH_LOCK(&lock) {
        ASSERT_TRUE(eddy_lock_locked(&lock));
        if (x > 0)
            return x; /* released on the way out */
    }
    return -1;
}

static int lock_ways_out_main(void *arg)
{
    int n = 0, after = 0;

    eddy_lock_init(&lock);
    /* The end of the block. */
    EDDY_WITH_LOCK(&lock)
        n++;
    ASSERT_EQ(n, 1);
    ASSERT_FALSE(eddy_lock_locked(&lock));

    /* return */
    ASSERT_EQ(locked_return(7), 7);
    ASSERT_FALSE(eddy_lock_locked(&lock));

    /* goto out */
    EDDY_WITH_LOCK(&lock) {
        ASSERT_TRUE(eddy_lock_locked(&lock));
        goto out;
    }
    ASSERT_TRUE(false); /* not reached */
out:
    ASSERT_FALSE(eddy_lock_locked(&lock));

    /* break and continue leave the block, and only the block: the loop
     * around it goes on. */
    for (int i = 0; i < 3; i++) {
        EDDY_WITH_LOCK(&lock) {
            if (i == 1)
                break;
            if (i == 2)
                continue;
            n++;
        }
        ASSERT_FALSE(eddy_lock_locked(&lock));
        after++;
    }
    ASSERT_EQ(after, 3);
    ASSERT_EQ(n, 2);
    return 0;
}

TEST_IMPL(forms_with_lock_ways_out)
{
    ASSERT_OK(eddy_run(lock_ways_out_main, NULL));
    return 0;
}

/* Two tasks each add under the lock across a sleep: the block serialises. */
static int inside;

static int lock_user(void *arg)
{
    int rc = -1;
    EDDY_WITH_LOCK_RC(&lock, rc) {
        ASSERT_EQ(inside++, 0);
        ASSERT_OK(eddy_sleep(5));
        inside--;
    }
    return rc;
}

/* Cancelled while waiting for the lock: the block is skipped and rc says
 * why. */
static int lock_cancel_main(void *arg)
{
    eddy_task_t *a, *b, *c;

    eddy_lock_init(&lock);
    a = test_spawn(lock_user, NULL);
    b = test_spawn(lock_user, NULL);
    c = test_spawn(lock_user, NULL);
    test_settle(2);
    eddy_cancel(c);
    ASSERT_OK(test_reap(a));
    ASSERT_OK(test_reap(b));
    ASSERT_ERR(test_reap(c), UV_ECANCELED);
    ASSERT_EQ(inside, 0);
    ASSERT_FALSE(eddy_lock_locked(&lock));
    return 0;
}

TEST_IMPL(forms_with_lock_acquire_fails)
{
    ASSERT_OK(eddy_run(lock_cancel_main, NULL));
    return 0;
}

/* ----------------------------------------------------------------- timeout */

static int timed_return(void)
{
    EDDY_WITH_TIMEOUT(20) {
        return eddy_sleep(1); /* the scope is left on the way out */
    }
    return -1;
}

static int timeout_main(void *arg)
{
    int rc = 1;
    uint64_t t0 = test_ms();

    /* Expiry inside the block, reported by the _RC form. */
    EDDY_WITH_TIMEOUT_RC(20, rc) {
        ASSERT_EQ(rc, 0);
        ASSERT_ERR(eddy_sleep(5000), UV_ETIMEDOUT);
    }
    ASSERT_ERR(rc, UV_ETIMEDOUT);
    ASSERT_LT(test_since(t0), 2000 * test_scale());

    /* A block left in time reports 0. */
    EDDY_WITH_TIMEOUT_RC(5000, rc)
        ASSERT_OK(eddy_sleep(1));
    ASSERT_OK(rc);

    /* return, break and goto leave the scope: a wait past its deadline
     * afterwards is not cut short. */
    ASSERT_OK(timed_return());
    ASSERT_OK(eddy_sleep(40));
    for (int i = 0; i < 2; i++) {
        EDDY_WITH_TIMEOUT(20) {
            break; /* leaves the block, not this loop */
        }
    }
    ASSERT_OK(eddy_sleep(40));
    EDDY_WITH_TIMEOUT(20) {
        goto out;
    }
out:
    ASSERT_OK(eddy_sleep(40));

    /* Nested blocks, left by return from the inner one: innermost first
     * (eddy_timeout_leave asserts the order). */
    EDDY_WITH_TIMEOUT(5000) {
        EDDY_WITH_TIMEOUT_RC(10, rc) {
            ASSERT_ERR(eddy_sleep(5000), UV_ETIMEDOUT);
        }
        ASSERT_ERR(rc, UV_ETIMEDOUT);
        ASSERT_OK(eddy_sleep(1)); /* the outer scope still has time */
        EDDY_WITH_TIMEOUT(20)
            EDDY_WITH_TIMEOUT(30) {
                ASSERT_OK(timed_return());
            }
    }
    ASSERT_OK(eddy_sleep(40));
    return 0;
}

TEST_IMPL(forms_with_timeout_ways_out)
{
    ASSERT_OK(eddy_run(timeout_main, NULL));
    return 0;
}

/* --------------------------------------------------------------- semaphore */

static int sem_return(void)
{
    EDDY_WITH_SEM(&sem) {
        ASSERT_EQ(eddy_sem_value(&sem), 1);
        return 3;
    }
    return -1;
}

static int sem_main(void *arg)
{
    int rc = 1;

    eddy_sem_init_bounded(&sem, 2);
    EDDY_WITH_SEM(&sem)
        EDDY_WITH_SEM(&sem) {
            ASSERT_EQ(eddy_sem_value(&sem), 0);
            /* No permit left: a third block would wait, and a timeout scope
             * around it makes the acquire fail, skipping the block. */
            EDDY_WITH_TIMEOUT(10) {
                EDDY_WITH_SEM_RC(&sem, rc) {
                    ASSERT_TRUE(false);
                }
            }
            ASSERT_ERR(rc, UV_ETIMEDOUT);
        }
    ASSERT_EQ(eddy_sem_value(&sem), 2); /* bounded: no over-release */
    ASSERT_EQ(sem_return(), 3);
    ASSERT_EQ(eddy_sem_value(&sem), 2);
    for (int i = 0; i < 2; i++) {
        EDDY_WITH_SEM(&sem) {
            continue;
        }
    }
    ASSERT_EQ(eddy_sem_value(&sem), 2);
    return 0;
}

TEST_IMPL(forms_with_sem)
{
    ASSERT_OK(eddy_run(sem_main, NULL));
    return 0;
}

/* ------------------------------------------------------------------ shield */

static int shielded_sleeper(void *arg)
{
    int rc = 1;
    EDDY_WITH_SHIELD() {
        rc = eddy_sleep(30); /* not interrupted */
    }
    ASSERT_OK(rc);
    return eddy_sleep(5000); /* the cancellation arrives here */
}

static int shield_return(void)
{
    EDDY_WITH_SHIELD() {
        return eddy_sleep(1);
    }
    return -1;
}

static int shield_main(void *arg)
{
    eddy_task_t *t = test_spawn(shielded_sleeper, NULL);

    test_settle(2);
    eddy_cancel(t);
    ASSERT_ERR(test_reap(t), UV_ECANCELED);

    /* Left by return: the shield is down again, a cancellation reaches the
     * next wait. */
    ASSERT_OK(shield_return());
    eddy_cancel(eddy_current());
    ASSERT_ERR(eddy_sleep(5000), UV_ECANCELED);
    return 0;
}

TEST_IMPL(forms_with_shield)
{
    ASSERT_OK(eddy_run(shield_main, NULL));
    return 0;
}
