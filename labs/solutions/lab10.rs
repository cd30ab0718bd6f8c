//! Lab 10, reference solution: the kernel's preemption stub, rebuilt
//! (`cont/runtime/preempt.rs`, `docs/interrupts.md`), and a round robin
//! of one-tick slices.
//!
//! The stub owes the interrupted code everything: it was stopped between
//! two instructions, so no register is the caller's to clobber. It pushes
//! the `iretq` frame, all fifteen registers (RSP is in the frame), and a
//! frame record naming the interrupted instruction: 22 words, 176 bytes,
//! so RSP is still a multiple of 16 at the call. Back from the call
//! (resumed), it pops in the reverse order and `iretq`s.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use kernel::cont::{Cont, Func, Resumed, Store, Timed, Trap};

core::arch::global_asm!(
    ".text",
    ".globl lab10_preempt_stub",
    "lab10_preempt_stub:",
    // The iretq frame, SS first: what the tick found.
    "    push qword ptr [rip + {frame} + 32]",
    "    push qword ptr [rip + {frame} + 24]",
    "    push qword ptr [rip + {frame} + 16]",
    "    push qword ptr [rip + {frame} + 8]",
    "    push qword ptr [rip + {frame}]",
    // Every general-purpose register but RSP.
    "    push rax",
    "    push rbx",
    "    push rcx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbp",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r11",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    // The frame record: the interrupted RIP (15 words up), then RBP.
    "    push qword ptr [rsp + 15 * 8]",
    "    push rbp",
    "    mov rbp, rsp",
    // The C ABI wants DF clear; RFLAGS comes back with the iretq.
    "    cld",
    "    call {preempted}",
    // Resumed: the record, the registers, the frame.
    "    add rsp, 16",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop r11",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rbp",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    "    pop rbx",
    "    pop rax",
    "    iretq",
    frame = sym kernel::lab_hooks::INTERRUPTED_FRAME,
    preempted = sym kernel::lab_hooks::preempted,
);

pub fn round_robin(s: &Store, tasks: &[Func<(), i64>]) -> Result<Vec<i64>, Trap> {
    let mut results = vec![0; tasks.len()];
    let mut queue = VecDeque::new();
    for (i, f) in tasks.iter().enumerate() {
        queue.push_back((i, Cont::new(s, *f)?));
    }
    while let Some((i, k)) = queue.pop_front() {
        match k.resume_for(1, (), &[])? {
            Timed::Preempted(k) => queue.push_back((i, k)),
            Timed::InTime(Resumed::Returned(r)) => results[i] = r,
            Timed::InTime(Resumed::Suspended(_)) => {
                return Err(Trap::guest("a task suspended, with no handler to take it"));
            }
        }
    }
    Ok(results)
}
