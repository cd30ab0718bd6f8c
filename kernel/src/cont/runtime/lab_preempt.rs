//! The kernel's half of a lab's preemption stub (`lab_hooks::preempted`,
//! docs/labs/lab10-preempt.md): the call a stub makes once it has saved
//! the interrupted state, which checks what the stub built and then
//! suspends the continuation exactly as the kernel's own stub's call does.
//!
//! Why a checked entry and not `preempt_entry` itself: lab 10's student
//! writes the stub, and a stub that misaligns the stack or leaves no frame
//! record still "works" (the kernel is soft-float, and the switch does not
//! read RBP), so nothing would fail where the mistake is. The entry looks
//! where the mistake would show: RSP at the `call` (the System V ABI wants
//! a multiple of 16), and the frame record at RBP, walked by the kernel's
//! own backtrace walk (`Store::walk_frames`): its first return address
//! must be the interrupted instruction, and the walk must cross the
//! continuation's top record (`TOS-0x10`) into its parent, as a backtrace
//! of a preempted guest does. The first fault is kept for the checker
//! (`lab_hooks::stub_fault`); the suspension goes on regardless, so that
//! the lab's run ends and says what was wrong. Built only with the
//! feature `lab-hooks`.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::gate::running;
use super::preempt::{SAVED_FRAME, interrupts, preempt_here};
use super::preemptible::may_preempt_at;
use crate::lab_hooks::StubFault;
use spin::Once;

/// Calls of the entry since boot.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// The first fault found in what a stub built.
static FAULT: Once<StubFault> = Once::new();

// The entry a stub calls (`lab_hooks::preempted`): hands the RSP and RBP
// it found at its first instruction to the Rust entry, as its first and
// second arguments, by a jump, so that the Rust entry's frame is where
// the stub's call put it.
core::arch::global_asm!(
    ".text",
    ".balign 16",
    ".globl lab_hooks_preempted",
    ".type lab_hooks_preempted, @function",
    "lab_hooks_preempted:",
    "    mov rdi, rsp",
    "    mov rsi, rbp",
    "    jmp {checked}",
    ".size lab_hooks_preempted, . - lab_hooks_preempted",
    checked = sym checked_entry,
);

/// The Rust half of the entry: `rsp` and `rbp` as the stub's `call` left
/// them. Checks, notes the first fault, suspends.
extern "C" fn checked_entry(rsp: usize, rbp: usize) {
    CALLS.fetch_add(1, Relaxed);
    // Only a stub that a preempting tick entered may suspend: interrupts
    // off, the armed continuation running on the stack the call is on.
    if interrupts::enabled() || !may_preempt_at(rsp) {
        note(StubFault::NotPreempting { rsp });
        return;
    }
    let rip = SAVED_FRAME[0].load(Relaxed) as usize;
    if !(rsp + 8).is_multiple_of(16) {
        note(StubFault::Misaligned { rsp });
    } else if let Err(fault) = frame_record(rbp, rip) {
        note(fault);
    }
    // SAFETY: interrupts are off and `may_preempt_at` holds for the
    // running code (both checked above), as `preempt_here` requires; the
    // stub that called is the one the preempting tick entered.
    let _ = unsafe { preempt_here(false) };
}

/// Walks the frame records from `rbp` with the kernel's walk: the first
/// must name `rip`, the interrupted instruction, and the walk must leave
/// the continuation's stack through its top record.
fn frame_record(rbp: usize, rip: usize) -> Result<(), StubFault> {
    let store = running();
    // SAFETY: `may_preempt_at` found a store running (live while it runs)
    // whose current record is the running continuation, live.
    let top = unsafe { (*(*store).current.get()).stack.top() as usize };
    let (mut first, mut frames, mut crossed) = (None, 0, false);
    // SAFETY: the walk starts on the running continuation's stack, where
    // every read is checked against it (`walk_frames`); `store` as above.
    unsafe {
        (*store).walk_frames(rbp, |f| {
            frames += 1;
            first.get_or_insert(f.return_address);
            crossed = f.stack_top != top;
            !crossed
        })
    };
    match first {
        Some(found) if found == rip => {}
        found => {
            return Err(StubFault::FrameRecord {
                rbp,
                found: found.unwrap_or(0),
                rip,
            });
        }
    }
    if !crossed {
        return Err(StubFault::WalkStops { rbp, frames });
    }
    Ok(())
}

/// Keeps the first fault.
fn note(fault: StubFault) {
    FAULT.call_once(|| fault);
}

/// Calls of the entry since boot.
pub(crate) fn calls() -> u64 {
    CALLS.load(Relaxed)
}

/// The first fault found, if any.
pub(crate) fn fault() -> Option<StubFault> {
    FAULT.get().copied()
}
