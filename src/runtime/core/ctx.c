/* Initial frames for the assembly context switches (ctx-*.S): a new context
 * looks like one that was switched away from, with the trampoline as its
 * return address and the entry point and argument in callee-saved
 * registers. */
#include "config.h"

#ifndef EDDY_CTX_UCONTEXT
#include <stdint.h>
#include <string.h>

#include "runtime/core/ctx.h"

void eddy__ctx_trampoline(void);

void eddy__ctx_make(eddy__ctx_t *ctx, void *base, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Popped in order r15, r14, r13, r12, rbx, rbp, then `ret` lands in the
     * trampoline with rsp 16-byte aligned, as the call it makes expects. */
    uintptr_t *sp = (uintptr_t *)(top - 72);
    memset(sp, 0, 72);
    sp[2] = (uintptr_t)entry; /* r13 */
    sp[3] = (uintptr_t)arg;   /* r12 */
    sp[6] = (uintptr_t)eddy__ctx_trampoline;
#elif defined(__aarch64__)
    /* Restored by the 160-byte frame of eddy__ctx_switch. */
    uintptr_t *sp = (uintptr_t *)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (uintptr_t)arg;                   /* x19 */
    sp[1] = (uintptr_t)entry;                 /* x20 */
    sp[11] = (uintptr_t)eddy__ctx_trampoline; /* x30 */
#else
#error "no assembly context switch for this CPU; configure --with-context=ucontext"
#endif
    ctx->sp = sp;
}
#endif
