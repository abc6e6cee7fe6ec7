/* x86_64 System V context switch: only the callee-saved registers (rbx, rbp,
 * r12-r15) and the stack pointer; the return address is on the stack.  The
 * SSE control word and x87 control word are not switched: tasks must not
 * change rounding modes. */
    .text

/* void eddy__ctx_switch(eddy__ctx_t *from, eddy__ctx_t *to) */
    .globl  eddy__ctx_switch
    .hidden eddy__ctx_switch
    .type   eddy__ctx_switch, @function
    .p2align 4
eddy__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   eddy__ctx_switch, .-eddy__ctx_switch

/* First code a new context runs: eddy__ctx_make left the argument in r12
 * and the entry point in r13. */
    .globl  eddy__ctx_trampoline
    .hidden eddy__ctx_trampoline
    .type   eddy__ctx_trampoline, @function
    .p2align 4
eddy__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   eddy__ctx_trampoline, .-eddy__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
