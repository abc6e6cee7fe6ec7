/* Standalone check of the aarch64 context switch: two contexts ping-pong,
 * callee-saved registers (including d8-d15) survive, stacks stay aligned. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "runtime/core/ctx.h"

/* Built by test-ctx-aarch64.sh with a cross compiler, run under qemu. */

static eddy__ctx_t main_ctx, a_ctx;
static volatile int count;
static double fsum;

static void entry(void *arg)
{
    double x = *(double *)arg;
    for (int i = 0; i < 1000; i++) {
        uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
        if (sp % 16 != 0) { printf("misaligned\n"); exit(3); }
        count++;
        x += 0.5;
        eddy__ctx_switch(&a_ctx, &main_ctx);
    }
    fsum = x;
    eddy__ctx_switch(&a_ctx, &main_ctx);
    abort();
}

int main(void)
{
    static char stack[64 * 1024] __attribute__((aligned(16)));
    double start = 1.0;
    register double keep asm("d8") = 42.0; /* callee-saved: must survive */
    eddy__ctx_make(&a_ctx, stack, sizeof(stack), entry, &start);
    for (int i = 0; i < 1001; i++) {
        eddy__ctx_switch(&main_ctx, &a_ctx);
        __asm__ volatile("" : "+w"(keep));
    }
    printf("count=%d fsum=%.1f d8=%.1f\n", count, fsum, keep);
    return !(count == 1000 && fsum == 501.0 && keep == 42.0);
}
