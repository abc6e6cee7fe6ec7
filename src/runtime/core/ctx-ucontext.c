/* Portable fallback context switch on ucontext(3).  swapcontext saves and
 * restores the signal mask with a system call on every switch, which makes
 * it ~20x slower than the assembly switches; it is kept for other targets
 * and, on x86_64, for comparison (--with-context=ucontext). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "runtime/core/ctx.h"

static void trampoline(unsigned hi, unsigned lo, unsigned ehi, unsigned elo)
{
    void *arg = (void *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)ehi << 32) | (uintptr_t)elo);
    entry(arg);
    abort(); /* entry never returns */
}

void eddy__ctx_make(eddy__ctx_t *ctx, void *base, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;

    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = base;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))trampoline, 4, (unsigned)(a >> 32), (unsigned)a,
                (unsigned)(e >> 32), (unsigned)e);
}

void eddy__ctx_switch(eddy__ctx_t *from, eddy__ctx_t *to)
{
    swapcontext(&from->uc, &to->uc);
}
