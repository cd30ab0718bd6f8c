//! Lab 10, a WRONG solution (`labs-check` requires it to fail): the stub
//! saves what a function call must keep, the callee-saved registers RBX,
//! RBP and R12 to R15, and pads the stack to keep it aligned, as if the
//! interrupted code had called it. It had not: a tick stops code between
//! any two instructions, and every register it holds is live there. The
//! task comes back with RAX, RCX, RDX... as the kernel's code left them.
//!
//! Expected: callee-saved or not

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
    // The callee-saved registers, as a function would keep them, and a
    // word of padding: 12 words, 16-byte aligned.
    "    push rbx",
    "    push rbp",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    sub rsp, 8",
    // The frame record: the interrupted RIP (7 words up), then RBP.
    "    push qword ptr [rsp + 7 * 8]",
    "    push rbp",
    "    mov rbp, rsp",
    "    cld",
    "    call {preempted}",
    "    add rsp, 24",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbp",
    "    pop rbx",
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
