//! Lab 7, YOUR FILE: the context switch and the start trampoline, in
//! assembly. The task, the layout, hints and the output the checker
//! expects are in `docs/labs/lab7-switch.md`; `check.rs` next to this
//! file is the checker and `harness.rs` the coroutines it runs with your
//! code (read both, do not edit them).
//!
//! Run the checker with `./qemu-run.sh lab 7`.
//!
//! Two symbols, both in the `global_asm!` below:
//!
//! * `lab7_switch`, called as `extern "sysv64" fn(ctx: *mut usize)`:
//!   exchanges the running code with the control context at `ctx` (three
//!   words: RSP at +0, RBP at +8, RIP at +16). It loads the three words,
//!   stores the caller's RSP, RBP and resume point in their place, and
//!   jumps to what it loaded. When someone switches back through the
//!   same words, the call returns, with every callee-saved register as
//!   it was.
//! * `lab7_start`, never called: a fresh stack's context holds RSP =
//!   TOS-0x30, RBP = TOS-0x10 and RIP = `lab7_start`. At RSP lie two
//!   launch words: the address of the entry, then its argument. It calls
//!   the entry with that argument (RDI), and when the entry returns,
//!   switches back to the parent whose point the context holds, for good.

core::arch::global_asm!(
    ".text",
    ".globl lab7_switch",
    "lab7_switch:",
    // The skeleton: returns without switching. Write the exchange.
    "    ret",
    "",
    ".globl lab7_start",
    "lab7_start:",
    // The skeleton: never reached while the switch does not switch.
    "    ud2",
);
