//! Lab 7, a WRONG solution (`labs-check` requires it to fail): RBP is
//! pushed and popped with the other callee-saved registers, and the
//! context's RBP word is left alone. Between two running stacks that
//! works (each gets its RBP back from its own stack), but a fresh stack
//! starts with the RBP of whoever resumed it, not TOS-0x10: the start
//! trampoline's frame record is not the context, and the trampoline
//! reads its parent's point through the wrong RBP.
//!
//! Expected: not TOS-0x10

core::arch::global_asm!(
    ".text",
    ".globl lab7_switch",
    "lab7_switch:",
    // The callee-saved registers, RBP among them, on our stack.
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    // Load the target's RSP and RIP from the context in RDI first...
    "    mov r8, [rdi + {rsp}]",
    "    mov r10, [rdi + {rip}]",
    // ...then store ours in their place: RSP, and label 2 for RIP.
    "    lea r11, [rip + 2f]",
    "    mov [rdi + {rsp}], rsp",
    "    mov [rdi + {rip}], r11",
    // Become the target (with our RBP).
    "    mov rsp, r8",
    "    jmp r10",
    // Where a switch back to us lands: RSP is ours again, RBP below.
    "2:",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    "",
    ".globl lab7_start",
    "lab7_start:",
    // RSP = TOS-0x30, RBP = TOS-0x10. The launch words: the entry, then
    // its argument.
    "    pop rax",
    "    pop rdi",
    // RSP = TOS-0x20: a multiple of 16 at the call, as the ABI wants.
    "    call rax",
    // RBP is callee-saved, so still TOS-0x10: the context is at RBP-8.
    // Back to the parent for good: RSP, RIP, then RBP (our base).
    "    mov rsp, [rbp - 8]",
    "    mov rax, [rbp + 8]",
    "    mov rbp, [rbp]",
    "    jmp rax",
    rsp = const kernel::cont::stack::CTX_RSP,
    rip = const kernel::cont::stack::CTX_RIP,
);
