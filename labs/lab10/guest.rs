//! Lab 10's guest: a loop that never yields and keeps a value of its own
//! in every general-purpose register, and compares them all, with RBP, on
//! every round, so that a preemption stub that loses or swaps one is
//! caught where it happened (`docs/labs/lab10-preempt.md`).
//!
//! Why assembly: compiled code keeps in registers what the compiler
//! chooses, and a lost register shows (or not) wherever it is next used.
//! Here each of the fourteen registers other than RSP and RBP holds a
//! value set once, distinct for each register and each task, compared on
//! every round with a copy on the stack; RBP is the loop's frame pointer,
//! compared with its own copy; RSP is checked by every compare, which
//! reads through it. The loop ends when the checker's tick hook raises
//! `STOP`, and says which register (if any) did not hold its value, and
//! what it held. It also writes RSP to `WHO` on every round, so that the
//! hook can tell which task a tick landed in. (And the one `unsafe` call
//! of the checker: registering the student's stub.)
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU64, AtomicUsize};

/// The registers the loop fills, in the order of its value table.
pub const REGISTERS: [&str; 15] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rbp",
];

/// Raised by the checker's tick hook: every loop returns at its next round.
pub static STOP: AtomicU64 = AtomicU64::new(0);
/// The RSP of the last round of a loop (0: none since the last tick).
pub static WHO: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" {
    /// The student's stub (`student.rs`); never called, only entered by
    /// a preempting tick's `iretq`.
    fn lab10_preempt_stub();
}

unsafe extern "sysv64" {
    /// The loop, below: `values` are the fourteen values (RAX to R15, in
    /// [`REGISTERS`]' order); `out` gets two words: 0, or 1 plus the index
    /// in `REGISTERS` of the first register found not holding its value,
    /// then the value it held.
    fn lab10_spin(values: *const u64, out: *mut u64);
}

// The loop. The frame, below the caller's return address:
//   [rbp]         the caller's RBP (a frame record, so walks go through)
//   [rbp-8..-40]  RBX, R12-R15 (callee-saved: the loop uses them)
//   [rbp-48]      `out`
//   [rbp-56]      RBP's copy          = [rsp + 8*14]
//   [rbp-64..]    the 14 values       = [rsp + 8*i], i as in REGISTERS
core::arch::global_asm!(
    ".text",
    ".globl lab10_spin",
    "lab10_spin:",
    "    push rbp",
    "    mov rbp, rsp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    push rsi",
    "    push rbp",
    // The values, the last pushed first, so that value i is at [rsp + 8i].
    "    push qword ptr [rdi + 104]",
    "    push qword ptr [rdi + 96]",
    "    push qword ptr [rdi + 88]",
    "    push qword ptr [rdi + 80]",
    "    push qword ptr [rdi + 72]",
    "    push qword ptr [rdi + 64]",
    "    push qword ptr [rdi + 56]",
    "    push qword ptr [rdi + 48]",
    "    push qword ptr [rdi + 40]",
    "    push qword ptr [rdi + 32]",
    "    push qword ptr [rdi + 24]",
    "    push qword ptr [rdi + 16]",
    "    push qword ptr [rdi + 8]",
    "    push qword ptr [rdi]",
    // Into the registers, RDI (the table's address) last.
    "    mov rax, [rdi]",
    "    mov rbx, [rdi + 8]",
    "    mov rcx, [rdi + 16]",
    "    mov rdx, [rdi + 24]",
    "    mov rsi, [rdi + 32]",
    "    mov r8, [rdi + 48]",
    "    mov r9, [rdi + 56]",
    "    mov r10, [rdi + 64]",
    "    mov r11, [rdi + 72]",
    "    mov r12, [rdi + 80]",
    "    mov r13, [rdi + 88]",
    "    mov r14, [rdi + 96]",
    "    mov r15, [rdi + 104]",
    "    mov rdi, [rdi + 40]",
    // A round: say who runs, compare every register with its copy.
    "2:",
    "    mov [rip + {who}], rsp",
    "    cmp rax, [rsp]",
    "    jne 10f",
    "    cmp rbx, [rsp + 8]",
    "    jne 11f",
    "    cmp rcx, [rsp + 16]",
    "    jne 12f",
    "    cmp rdx, [rsp + 24]",
    "    jne 13f",
    "    cmp rsi, [rsp + 32]",
    "    jne 14f",
    "    cmp rdi, [rsp + 40]",
    "    jne 15f",
    "    cmp r8, [rsp + 48]",
    "    jne 16f",
    "    cmp r9, [rsp + 56]",
    "    jne 17f",
    "    cmp r10, [rsp + 64]",
    "    jne 18f",
    "    cmp r11, [rsp + 72]",
    "    jne 19f",
    "    cmp r12, [rsp + 80]",
    "    jne 20f",
    "    cmp r13, [rsp + 88]",
    "    jne 21f",
    "    cmp r14, [rsp + 96]",
    "    jne 22f",
    "    cmp r15, [rsp + 104]",
    "    jne 23f",
    "    cmp rbp, [rsp + 112]",
    "    jne 24f",
    "    cmp qword ptr [rip + {stop}], 0",
    "    je 2b",
    // Stopped, every register held: 0.
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    jmp 3f",
    // A register that did not hold: its value, then its number (1-based).
    "10: push rax",
    "    push 1",
    "    jmp 9f",
    "11: push rbx",
    "    push 2",
    "    jmp 9f",
    "12: push rcx",
    "    push 3",
    "    jmp 9f",
    "13: push rdx",
    "    push 4",
    "    jmp 9f",
    "14: push rsi",
    "    push 5",
    "    jmp 9f",
    "15: push rdi",
    "    push 6",
    "    jmp 9f",
    "16: push r8",
    "    push 7",
    "    jmp 9f",
    "17: push r9",
    "    push 8",
    "    jmp 9f",
    "18: push r10",
    "    push 9",
    "    jmp 9f",
    "19: push r11",
    "    push 10",
    "    jmp 9f",
    "20: push r12",
    "    push 11",
    "    jmp 9f",
    "21: push r13",
    "    push 12",
    "    jmp 9f",
    "22: push r14",
    "    push 13",
    "    jmp 9f",
    "23: push r15",
    "    push 14",
    "    jmp 9f",
    "24: push rbp",
    "    push 15",
    "9:  pop rcx",
    "    pop rdx",
    // RBP from its copy (it may be the register that was lost), then the
    // two words out, and the caller's registers back.
    "3:  mov rbp, [rsp + 112]",
    "    mov r8, [rbp - 48]",
    "    mov [r8], rcx",
    "    mov [r8 + 8], rdx",
    "    lea rsp, [rbp - 40]",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    who = sym WHO,
    stop = sym STOP,
);

/// The value task `task` keeps in register `reg` (an index in
/// [`REGISTERS`]): distinct for every register of every task, so that a
/// register restored from another task's or another register's save
/// shows.
pub fn value(task: usize, reg: usize) -> u64 {
    let (t, r) = (task as u64 + 1, reg as u64 + 1);
    (r << 56) | (t << 48) | 0x00c0_ffee_0000 | (r << 4) | t
}

/// Runs the loop with task `task`'s values until `STOP`: `None` if every
/// register held on every round, or the index in [`REGISTERS`] of the
/// first that did not and the value it held.
#[inline(never)]
pub fn spin(task: usize) -> Option<(usize, u64)> {
    let values: [u64; 14] = core::array::from_fn(|r| value(task, r));
    let mut out = [0u64; 2];
    // SAFETY: `values` holds the fourteen words the loop reads and `out`
    // the two it writes; the loop keeps the System V ABI's callee-saved
    // registers (on its stack, given back by RBP's copy) and returns.
    unsafe { lab10_spin(values.as_ptr(), out.as_mut_ptr()) };
    match out[0] {
        0 => None,
        n => Some((n as usize - 1, out[1])),
    }
}

/// Makes the student's stub the one preempting ticks enter
/// (`kernel::lab_hooks::set_preempt_stub`).
pub fn set_student_stub() -> Result<(), kernel::lab_hooks::AlreadySet> {
    // SAFETY: the student's stub is what the lab asks for: entered only by
    // a preempting tick, it saves the interrupted state below the RSP it
    // is given, calls `preempted` once and restores it all. A stub that
    // does not is what this lab's checker is there to find; the lab
    // kernel runs nothing but the checker, which reports it.
    unsafe { kernel::lab_hooks::set_preempt_stub(lab10_preempt_stub) }
}
