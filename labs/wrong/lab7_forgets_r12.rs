//! Lab 7, a WRONG solution (`labs-check` requires it to fail): the
//! exchange keeps RBX, R13, R14 and R15 on the stack but not R12, as if
//! the list of callee-saved registers were one shorter. Control comes
//! back with whatever R12 the other side left in it; code that kept a
//! value there across the call (the compiler may put anything in R12)
//! goes on with someone else's.
//!
//! Expected: r12 is callee-saved

core::arch::global_asm!(
    ".text",
    ".globl lab7_switch",
    "lab7_switch:",
    // The callee-saved registers the context does not hold, on our stack.
    "    push rbx",
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
