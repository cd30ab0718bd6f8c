//! Wasm epochs: the interpreter's safe points, where a Wasm guest whose
//! `resume_for` budget is spent is preempted, and a Wasm call past its
//! deadline ends.
//!
//! The Wasm interpreter does not need the preemption stub: it stops at
//! *safe points* of its own, every branch taken (so every loop
//! back-edge) and every call, where its state is whole. A tick that finds
//! the budget spent raises one per-CPU byte, [`safe_point_due`] (as
//! Wasmtime's epoch interruption compares an epoch with a deadline at
//! those points; here the tick makes the comparison, as it already
//! counts the budget down, so the interpreter's check is one compare of a
//! byte with zero). The interpreter's next safe point calls
//! [`safe_point`], which suspends the continuation there with the same
//! preempt effect, by a plain call (no saved registers, no `iretq`). A
//! continuation running the interpreter is marked (`polls_born`), and the
//! tick that spends its budget gives it one period to reach a safe point:
//! if the next tick still finds it elsewhere (a long host call), the stub
//! preempts it where it is. Dropped, a continuation preempted at a safe
//! point is cancelled cleanly: the safe point returns the cancellation,
//! and the interpreter's frames return through it, as at a `suspend`.
//! The same byte serves [`with_deadline`], a budget armed for no
//! continuation: the kernel's own call into the interpreter (the `.wast`
//! runner's commands, a WASI program's run), whose safe point then says
//! "timed out".
//!
//! Why beside `preempt.rs` and not in it: the tick's side (`tick_lands`,
//! which raises the flag) and the suspension itself (`preempt_here`) are
//! `preempt`'s; this is the side the interpreter calls, which
//! `docs/interrupts.md` ("Wasm epochs") walks through.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use super::contref::ContRef;
use super::gate::running;
use super::preempt::{BUDGET, interrupts, preempt_here};
use super::preemptible::may_preempt_at;
use super::store::{ARMED, Store};
use crate::cont::machine::switch::ControlEffect;
use crate::cpu_local::cpu_local;

cpu_local! {
    /// Raised by a tick that finds the armed budget spent: the Wasm
    /// interpreter's next safe point acts on it ([`safe_point`]). Lowered
    /// there, where the stub or a deferral's end preempts instead, and
    /// around a deadline. Written by the tick (interrupts off) and by
    /// ordinary code with single stores.
    pub(super) static SAFE_POINT_DUE: AtomicBool = AtomicBool::new(false);
    /// Preemptions taken at a Wasm safe point.
    static PREEMPTIONS_AT_SAFE_POINTS: AtomicU64 = AtomicU64::new(0);
}

/// The armed word of a deadline ([`with_deadline`]): a budget armed for no
/// continuation. Never the address of a record (records are heap
/// objects; this is the lowest aligned address), so `current` is never
/// it and no tick preempts for it.
fn deadline_word() -> *mut ContRef {
    NonNull::dangling().as_ptr()
}

/// Whether a tick has found the armed budget spent since the last safe
/// point: the Wasm interpreter's test at each branch and call, one load
/// and one compare.
#[inline(always)]
pub(crate) fn safe_point_due() -> bool {
    SAFE_POINT_DUE.load(Relaxed)
}

/// Of [`preempt::preemptions`](super::preempt::preemptions), those taken
/// at a Wasm safe point.
pub fn preemptions_at_safe_points() -> u64 {
    PREEMPTIONS_AT_SAFE_POINTS.load(Relaxed)
}

/// What the interpreter does after a [`safe_point`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SafePoint {
    /// Go on: nothing to do here, or preempted and resumed since.
    Continue,
    /// Preempted here, then dropped: return through every frame, as a
    /// `suspend` whose continuation was dropped does.
    Cancelled,
    /// The deadline of [`with_deadline`] has passed: trap "timed out".
    TimedOut,
}

/// A safe point of the Wasm interpreter whose [`safe_point_due`] was
/// raised: preempts the running continuation here if the budget armed
/// for it is spent and nothing defers the preemption (the same conditions
/// as a tick's), by a plain call of the suspension; or reports a passed
/// deadline.
#[cold]
#[inline(never)]
pub(crate) fn safe_point() -> SafePoint {
    SAFE_POINT_DUE.store(false, Relaxed);
    if ARMED.get() == deadline_word() {
        return if BUDGET.get() == 0 {
            SafePoint::TimedOut
        } else {
            SafePoint::Continue
        };
    }
    // A kernel lock held turns interrupts off; its release preempts, as
    // does a `no_preempt` section's end. A guest lock taken under the
    // budget (by a host function) leaves them on, but counts: its release
    // preempts, or the tick ends its holder (`overdue.rs`).
    if !interrupts::enabled()
        || crate::sync::NO_PREEMPT.load(Relaxed) != 0
        || crate::sync::held() != 0
    {
        return SafePoint::Continue;
    }
    interrupts::disable();
    let mut effect = ControlEffect::RESUME;
    if may_preempt_at(crate::cont::machine::switch::stack_pointer()) {
        PREEMPTIONS_AT_SAFE_POINTS.store(PREEMPTIONS_AT_SAFE_POINTS.load(Relaxed) + 1, Relaxed);
        // SAFETY: interrupts are off, and the armed continuation runs its
        // own code here (checked), as `preempt_here` requires.
        effect = unsafe { preempt_here(true) };
    }
    interrupts::enable();
    if effect.discriminant() == ControlEffect::CANCEL_TAG {
        SafePoint::Cancelled
    } else {
        SafePoint::Continue
    }
}

/// Marks the continuation of `store` now running as one that runs the
/// interpreter, which stops at safe points (see the module docs): called
/// where a continuation enters a Wasm function.
#[inline(always)]
pub(crate) fn polls_at_safe_points(store: &Store) {
    let c = store.current.get();
    if !c.is_null() {
        // SAFETY: the store's running continuation is a live record.
        unsafe { (*c).polls_born = (*c).born };
    }
}

/// Runs `f` with a deadline of `ticks` timer ticks (0 counts as 1): a
/// budget armed for no continuation, so no tick preempts anything for it,
/// but once it is spent every safe point of the Wasm interpreter reports
/// [`SafePoint::TimedOut`], until `f` returns. Armed only from the
/// kernel's own stack with nothing armed and no chain running (where no
/// frame of this call can be abandoned, which would leave the deadline
/// armed for ever); elsewhere `f` just runs, bounded by whatever bounds
/// the continuation it runs in.
pub(crate) fn with_deadline<T>(ticks: u32, f: impl FnOnce() -> T) -> T {
    if !ARMED.get().is_null() || !running().is_null() {
        return f();
    }
    ARMED.set(deadline_word());
    BUDGET.set(ticks.max(1));
    SAFE_POINT_DUE.store(false, Relaxed);
    let result = f();
    ARMED.set(core::ptr::null_mut());
    BUDGET.set(0);
    SAFE_POINT_DUE.store(false, Relaxed);
    result
}
