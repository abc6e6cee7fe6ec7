/* Task context switch: saves the callee-saved registers of the running
 * context on its own stack, stores the stack pointer in *from and resumes
 * the context whose stack pointer is in *to.  Hand-written for x86_64 and
 * aarch64 (a few ns); ucontext elsewhere (swapcontext also saves the signal
 * mask with a syscall: ~190 ns). */
#ifndef EDDY_RUNTIME_CTX_H
#define EDDY_RUNTIME_CTX_H

#include <stddef.h>

#ifdef EDDY_CTX_UCONTEXT
#include <ucontext.h>
typedef struct eddy__ctx {
    ucontext_t uc;
} eddy__ctx_t;
#else
typedef struct eddy__ctx {
    void *sp;
} eddy__ctx_t;
#endif

/** Switches from the running context (saved into from) to `to`. */
void eddy__ctx_switch(eddy__ctx_t *from, eddy__ctx_t *to);

/** Prepares ctx so that switching to it calls entry(arg) on the stack
 *  [base, base + size).  entry must never return. */
void eddy__ctx_make(eddy__ctx_t *ctx, void *base, size_t size, void (*entry)(void *), void *arg);

#endif
