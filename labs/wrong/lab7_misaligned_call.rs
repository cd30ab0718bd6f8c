//! Lab 7, a WRONG solution (`labs-check` requires it to fail): the start
//! trampoline "makes room for the return address" before its call, as
//! if `call` needed RSP aligned after its push. It is the other way: RSP
//! must be a multiple of 16 at the `call`, and was (TOS-0x20) before the
//! extra 8 bytes. Code that relies on the ABI's alignment (aligned SSE
//! moves, in a build that has them) faults.
//!
//! Expected: misaligned

core::arch::global_asm!(
    ".text",
    ".globl lab7_switch",
    "lab7_switch:",
    // The callee-saved registers the context does not hold, on our stack.
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    // Load the target's three words from the context in RDI first...
    "    mov r8, [rdi + {rsp}]",
    "    mov r9, [rdi + {rbp}]",
    "    mov r10, [rdi + {rip}]",
    // ...then store ours in their place: RSP, RBP, and label 2 for RIP.
    "    lea r11, [rip + 2f]",
    "    mov [rdi + {rsp}], rsp",
    "    mov [rdi + {rbp}], rbp",
    "    mov [rdi + {rip}], r11",
    // Become the target.
    "    mov rsp, r8",
    "    mov rbp, r9",
    "    jmp r10",
    // Where a switch back to us lands: RSP and RBP are ours again.
    "2:",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    ret",
    "",
    ".globl lab7_start",
    "lab7_start:",
    // RSP = TOS-0x30, RBP = TOS-0x10. The launch words: the entry, then
    // its argument.
    "    pop rax",
    "    pop rdi",
    // RSP = TOS-0x20: a multiple of 16 at the call, as the ABI wants.
    "    sub rsp, 8",
    "    call rax",
    // RBP is callee-saved, so still TOS-0x10: the context is at RBP-8.
    // Back to the parent for good: RSP, RIP, then RBP (our base).
    "    mov rsp, [rbp - 8]",
    "    mov rax, [rbp + 8]",
    "    mov rbp, [rbp]",
    "    jmp rax",
    rsp = const kernel::cont::stack::CTX_RSP,
    rbp = const kernel::cont::stack::CTX_RBP,
    rip = const kernel::cont::stack::CTX_RIP,
);
