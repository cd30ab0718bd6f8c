//! A guest that holds a lock past its budget is ended: a `LockHeld` trap,
//! through the same path as a guest's fault.
//!
//! Why it is needed: a tick never preempts a lock holder (the lock would
//! cross the switch, and the next taker would find it held), so a guest
//! that takes a lock and then loops, or forgets the guard and loops,
//! would own the CPU for ever. Its lock, a guest lock taken under a
//! budget, leaves interrupts on (`sync.rs`, "Guest locks under a
//! budget"), so the ticks still land and still spend the budget; each one
//! that finds the budget already spent and a guest lock held is counted
//! overdue (`sync::overdue_tick`). A guest that releases its locks within
//! [`LOCK_GRACE`] such ticks is preempted at the release, as before. One
//! that does not is ended, where that is safe:
//!
//! * **Only guest locks are held** (`sync::only_guest_locks_held`): no
//!   kernel lock (the heap's, the frame allocator's, the page table's, the
//!   stack pool's, the console's: those keep interrupts off, and a tick
//!   lands only once they are free), no `no_preempt` section open (no
//!   runtime operation half done). What is abandoned is the guest's own:
//!   its frames, and its locks, which stay taken (the next `lock` of one
//!   panics, naming it, as after any trap that abandoned a lock).
//! * **The guest is the store's innermost running continuation, on the
//!   budget's chain** (the one the budget is armed for, or a child it
//!   resumed), running its own code on its own stack
//!   (`preemptible::may_preempt_at`, the conditions of a preemption): not a
//!   `suspend` or `switch` under way. Only it is ended: its parent gets
//!   the trap from its `resume` and runs on, its budget still spent, so
//!   the next tick preempts it.
//!
//! The tick ends it through a stub, as it preempts through one: its
//! `iretq` enters [`overdue_stub`] on the guest's stack with interrupts
//! off, which calls `trap_current` with the interrupted instruction and
//! frame pointer, as a fault handler does. A release or section end that
//! finds the same conditions (a tick waited meanwhile, and the count is
//! past the grace) ends it there by a plain call ([`at_a_point`]): a
//! guest whose ticks all land inside a kernel lock taken within its own
//! (a loop of allocations) is ended at the kernel lock's release.
//! Interrupts come back on once the ended record no longer says
//! `Running` (so no tick preempts the rest of its end), as after a
//! fault; the trap's bookkeeping forgets the lock counts
//! (`sync::forget_held`), the overdue count with them.
//!
//! The stress build's budgets are the harness's, not the guest's (every
//! resume gets one tick): there, nothing is ended for holding a lock.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::contref::State;
use super::gate::running;
use super::preempt::{Landing, SAVED_FRAME, interrupts};
use super::preemptible::may_preempt_at;
use crate::cont::machine::switch::{frame_pointer, stack_pointer};
use crate::cont::values::trap::{Trap, TrapKind, TrapText};
use crate::cpu_local::cpu_local;

/// How many ticks past its spent budget a guest may go on holding a lock
/// before it is ended: a guest with a budget of `n` ticks that keeps a
/// lock is back, a `LockHeld` trap, within `n + LOCK_GRACE + 1` periods.
pub const LOCK_GRACE: u32 = 8;

cpu_local! {
    /// Guests ended for holding a lock past their budget.
    static ENDED: AtomicU64 = AtomicU64::new(0);
}

/// Guests ended on this CPU since boot for holding a lock past their
/// budget.
pub fn ended_holding_locks() -> u64 {
    ENDED.load(Relaxed)
}

/// A deferred tick that found the budget already spent (`tick_lands`,
/// interrupts off), the interrupted stack pointer `rsp`: counts it if a
/// guest lock is held, and ends the holder once it is past the grace and
/// the conditions of the module docs hold.
#[cold]
pub(super) fn tick_in_lock(rsp: usize) -> Landing {
    let overdue = crate::sync::overdue_tick();
    if cfg!(feature = "stress") || overdue <= LOCK_GRACE {
        return Landing::Stay;
    }
    if crate::sync::only_guest_locks_held() && may_preempt_at(rsp) {
        return Landing::End;
    }
    Landing::Stay
}

/// A release or section end with only guest locks left held and a tick
/// waiting (`sync`): ends the holder here if it is past the grace.
#[cold]
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // no tick on the host
pub(crate) fn at_a_point() {
    if cfg!(feature = "stress") || crate::sync::overdue() <= LOCK_GRACE || !interrupts::enabled() {
        return;
    }
    interrupts::disable();
    if crate::sync::only_guest_locks_held() && may_preempt_at(stack_pointer()) {
        // SAFETY: interrupts are off, the armed continuation runs its own
        // code here on its own stack, and it holds only guest locks
        // (checked); this frame pointer is its own.
        unsafe { end(None, frame_pointer()) }
    }
    interrupts::enable();
}

/// Ends the running guest with a `LockHeld` trap naming its innermost
/// lock; `rip` and `rbp` start the trap's backtrace.
///
/// # Safety
/// Interrupts are off; [`may_preempt_at`] and
/// `sync::only_guest_locks_held` hold for the running code, whose frame
/// pointer is `rbp`; the caller's frames are abandoned.
unsafe fn end(rip: Option<usize>, rbp: usize) -> ! {
    ENDED.store(ENDED.load(Relaxed) + 1, Relaxed);
    let lock = crate::sync::innermost_held().unwrap_or("guest");
    let mut text = TrapText::EMPTY;
    let _ = write!(
        text,
        "held past its budget: ended {} ticks after the budget ran out",
        crate::sync::overdue()
    );
    let trap = Trap::new(TrapKind::LockHeld, lock).with_text(text);
    let store = running();
    // SAFETY: `may_preempt_at` found the store in `RUNNING` running its
    // `current`, a live record, on whose stack this runs.
    unsafe { (*(*store).current.get()).state = State::Trapped };
    // No longer `Running`: no tick preempts the rest of its end. The guest
    // ran with interrupts on (a guest lock under a budget leaves them on),
    // so they come back on now, as after a fault: what gets the trap may
    // be a parent inside the budgeted chain, with no `resume_for` of its
    // own to give the flag back.
    interrupts::enable();
    // SAFETY: `may_preempt_at` found the store in `RUNNING` running the
    // armed continuation, on whose stack this runs; per the contract,
    // its frames here are abandoned by the trap's switch.
    unsafe { crate::cont::trap_current(store, trap, rip, rbp) }
}

/// Where the stub goes: the interrupted instruction (the tick saved it in
/// `SAVED_FRAME`) and frame pointer start the trap's backtrace.
///
/// # Safety
/// Entered only from [`overdue_stub`], after a tick's `Landing::End`.
unsafe extern "C" fn overdue_entry(rbp: usize) -> ! {
    let rip = SAVED_FRAME[0].load(Relaxed) as usize;
    // SAFETY: the tick checked the conditions with interrupts off, and
    // they are still off (the redirected frame cleared IF).
    unsafe { end(Some(rip), rbp) }
}

// The stub an ending tick's `iretq` enters, on the guest's stack, RSP
// 16-byte aligned below the interrupted RSP, IF = 0, every register as
// the guest left it. Nothing is saved: the guest never runs again.
core::arch::global_asm!(
    ".text",
    ".balign 16",
    ".globl cont_overdue_stub",
    ".type cont_overdue_stub, @function",
    "cont_overdue_stub:",
    // The interrupted frame pointer, the walk's start: the argument.
    "    mov rdi, rbp",
    // The C ABI wants DF clear; RSP is aligned, so `call` leaves it as a
    // call should.
    "    cld",
    "    call {entry}",
    // The entry never returns.
    "    ud2",
    ".size cont_overdue_stub, . - cont_overdue_stub",
    entry = sym overdue_entry,
);

unsafe extern "C" {
    /// The stub above; never called, only entered by a redirected `iretq`.
    #[link_name = "cont_overdue_stub"]
    fn overdue_stub();
}

/// The address a tick's frame is redirected to for [`Landing::End`].
pub(super) fn stub_address() -> u64 {
    overdue_stub as *const () as u64
}
