//! Lab 10, YOUR FILE: the preemption stub a preempting tick's `iretq`
//! enters (assembly, in `global_asm!`), and a preemptive round-robin
//! scheduler on top of it (Rust). The task, hints and the output the
//! checker expects are in `docs/labs/lab10-preempt.md`; `check.rs` next
//! to this file is the checker (read it, do not edit it).
//!
//! Run the checker with `./qemu-run.sh lab 10`.

use alloc::vec::Vec;
use kernel::cont::{Func, Store, Trap};

// `lab10_preempt_stub`: entered by a preempting tick's `iretq` on the
// interrupted task's stack, RSP 16-byte aligned, interrupts off. The
// interrupted frame (RIP, CS, RFLAGS, RSP, SS) is in
// `kernel::lab_hooks::INTERRUPTED_FRAME`; `kernel::lab_hooks::preempted`
// is the kernel's part. The skeleton hands over to the kernel's own stub:
// replace the `jmp` with yours.
core::arch::global_asm!(
    ".text",
    ".globl lab10_preempt_stub",
    "lab10_preempt_stub:",
    "    jmp cont_preempt_stub",
);

/// Runs `tasks` round robin until every one has returned, each turn a
/// slice of one tick (`resume_for(1, ..)`): a task a tick preempts goes
/// to the back of the queue. The tasks never yield. Returns what each
/// task returned, in the order of `tasks`.
pub fn round_robin(s: &Store, tasks: &[Func<(), i64>]) -> Result<Vec<i64>, Trap> {
    let _ = (s, tasks);
    Err(labs::not_done_yet())
}
