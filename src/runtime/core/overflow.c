/* Stack overflow diagnostics: a task that runs into its guard page dies of
 * SIGSEGV as before, but first says which task it was, how big its stack
 * is and how to give it more, instead of a bare "Segmentation fault".
 *
 * eddy_run installs the handler only if SIGSEGV has its default action (an
 * application's own handler, or a sanitizer's, is left alone) and puts the
 * default back when the last eddy_run of the process returns.  The handler
 * runs on an alternate signal stack, since the faulting one is full; each
 * thread in eddy_run gets one unless it has its own. */
#include "runtime/internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALTSTACK_SIZE (64u * 1024u)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned users; /* eddy_runs in progress */
static bool installed; /* our handler replaced SIG_DFL */
static __thread void *altstack;

/* Appends s to buf at *len (async-signal-safe, bounded). */
static void put_str(char *buf, size_t cap, size_t *len, const char *s)
{
    while (*s != '\0' && *len < cap)
        buf[(*len)++] = *s++;
}

static void put_uint(char *buf, size_t cap, size_t *len, size_t v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && *len < cap)
        buf[(*len)++] = digits[--n];
}

static void report_overflow(const eddy_task_t *t)
{
    char msg[320];
    size_t len = 0, cap = sizeof(msg);

    put_str(msg, cap, &len, "eddy: task \"");
    put_str(msg, cap, &len, t->name[0] != '\0' ? t->name : "(unnamed)");
    put_str(msg, cap, &len, "\" overflowed its stack of ");
    put_uint(msg, cap, &len, t->stack.size);
    put_str(msg, cap, &len,
            " bytes (hit the guard page); spawn it with a larger "
            "stack_size in eddy_spawn_opts_t\n");
    /* Nothing to do if stderr is gone: the task dies either way. */
    ssize_t rc = write(STDERR_FILENO, msg, len);
    (void)rc;
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    eddy__rt_t *rt = eddy__rt;
    eddy_task_t *t = rt != NULL ? rt->current : NULL;
    struct sigaction dfl;

    (void)uc;
    if (t != NULL && si != NULL && eddy__stack_is_guard(&t->stack, si->si_addr))
        report_overflow(t);
    /* Die of the signal as if no handler had been there: SIGSEGV stays
     * blocked until the handler returns, then kills with a core. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

/* Gives this thread an alternate signal stack unless it has one. */
static void altstack_enter(void)
{
    stack_t ss;
    if (sigaltstack(NULL, &ss) != 0 || !(ss.ss_flags & SS_DISABLE))
        return;
    altstack = malloc(ALTSTACK_SIZE);
    if (altstack == NULL)
        return;
    ss = (stack_t){.ss_sp = altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        free(altstack);
        altstack = NULL;
    }
}

static void altstack_leave(void)
{
    stack_t ss;
    if (altstack == NULL)
        return;
    /* Unless the application put its own in place meanwhile. */
    if (sigaltstack(NULL, &ss) == 0 && ss.ss_sp == altstack) {
        ss = (stack_t){.ss_flags = SS_DISABLE};
        sigaltstack(&ss, NULL);
    }
    free(altstack);
    altstack = NULL;
}

void eddy__overflow_enter(void)
{
    struct sigaction old, sa;

    pthread_mutex_lock(&lock);
    if (users++ == 0 && sigaction(SIGSEGV, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        installed = sigaction(SIGSEGV, &sa, NULL) == 0;
    }
    pthread_mutex_unlock(&lock);
    altstack_enter();
}

void eddy__overflow_leave(void)
{
    struct sigaction cur, dfl;

    altstack_leave();
    pthread_mutex_lock(&lock);
    if (--users == 0 && installed) {
        installed = false;
        /* Only if nobody replaced it meanwhile. */
        if (sigaction(SIGSEGV, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
            cur.sa_sigaction == on_segv) {
            memset(&dfl, 0, sizeof(dfl));
            dfl.sa_handler = SIG_DFL;
            sigemptyset(&dfl.sa_mask);
            sigaction(SIGSEGV, &dfl, NULL);
        }
    }
    pthread_mutex_unlock(&lock);
}
