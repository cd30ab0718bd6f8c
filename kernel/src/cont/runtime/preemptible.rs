//! Where a tick may preempt: whatever runs under the armed `resume_for`,
//! its innermost record running its own code on its own stack.
//!
//! Why a module of its own: the tick (`preempt::tick_lands`), the end of
//! a deferral, a Wasm safe point (`epoch`), the end of a lock holder
//! (`overdue`) and the lab's stub all ask the same question before they
//! act. The answer rests on two facts kept elsewhere:
//!
//! * **`Running` means its own code.** A record says `Running` from the
//!   resume or switch that ran it until a suspend or switch of it writes
//!   `Suspended` as its first step (`resume`, `suspend`). So `Running` on
//!   the store's innermost record means "its own code, or the runtime's
//!   code before any suspend began", where a preemption is sound, and
//!   anything else means "a suspend under way".
//! * **A budget belongs to a call site, not to a record.** A `resume_for`
//!   is made by a resumer (the store's `current` then, or the kernel's
//!   stack) and runs a segment under it; its guests may resume children
//!   (plain `resume`), and `switch` may put another segment in the place
//!   of the first. Whatever runs there, the chain from the innermost
//!   record up through `parent` reaches the resumer, and the record just
//!   below it is the outermost under the `resume_for`, whose control
//!   context holds that call's resume point (the resume linked it there,
//!   or a `switch` moved the point into it). That record is the segment's
//!   outermost when the tick preempts, as it is for a `suspend` the
//!   `resume_for` handles.
//!
//! The walk is as long as the chain below the resumer; a tick in the
//! resumer's own code (the segment not running) looks at one record. At
//! the kernel level the resumer is the store itself (see [`Resumer`]): a
//! store dropped by a guest cancels its own guests on top of the chain
//! (`cancel::SetAside`), under no parent either, and those are not under
//! the budget.

use core::cell::Cell;

use super::contref::{ContRef, State};
use super::gate::{gate, running};
use super::preempt::{ARMED_RESUMER, BUDGET};
use super::store::{ARMED, Store};
use crate::cpu_local::cpu_local;

cpu_local! {
    /// What the last [`innermost_under`] that found a preemptible record
    /// found: that record and the outermost under the armed `resume_for`.
    /// Read by `preempt::preempt_here`, which runs after that check with
    /// interrupts off since, so nothing between can change the chain.
    pub(super) static PREEMPTING: Cell<(*mut ContRef, *mut ContRef)> =
        Cell::new((core::ptr::null_mut(), core::ptr::null_mut()));
}

/// The word that names who made a `resume_for` (`ARMED_RESUMER`): the
/// address of the store's running record, or at the kernel level (none
/// running) the store's own address. A store and a record are distinct
/// allocations, so the two kinds never meet, and 0 (nothing armed, or a
/// deadline) is neither.
pub(super) type Resumer = usize;

/// The [`Resumer`] word for a `resume_for` made now in `store`.
#[inline(always)]
pub(super) fn resumer_word(store: &Store) -> Resumer {
    let prev = store.current.get();
    if prev.is_null() {
        core::ptr::from_ref(store) as usize
    } else {
        prev as usize
    }
}

/// A `suspend` or `switch` of the running `cur` was refused (no handler,
/// a target of other result types) after it wrote `Suspended`: it runs on,
/// and says so again, so that a budget armed for it still preempts it.
///
/// # Safety
/// `cur` is the store's running continuation.
#[cold]
pub(crate) unsafe fn suspend_refused(cur: *mut ContRef) {
    // SAFETY: per the contract.
    unsafe { (*cur).state = State::Running };
}

/// Whether the running code may be preempted now, its stack pointer
/// `rsp`: a budget is armed for a `resume_for` (not a deadline) and
/// spent, and the store's innermost running continuation runs under it,
/// its own code (`Running`: no `suspend` or `switch` under way) on its
/// own stack. Called with interrupts off.
pub(super) fn may_preempt_at(rsp: usize) -> bool {
    !ARMED.get().is_null() && BUDGET.get() == 0 && !innermost_under(rsp, false).is_null()
}

/// The store's innermost running continuation, if it runs its own code
/// on its own stack (`rsp`) under the armed `resume_for` (see the module
/// docs), budget or not; else null. What it finds goes to [`PREEMPTING`].
/// With no lock held (`unlocked`, a tick that was not deferred) the gate
/// word names the running store itself, one load fewer than the
/// lock-aware read.
#[inline(always)]
pub(super) fn innermost_under(rsp: usize, unlocked: bool) -> *mut ContRef {
    let store = if unlocked { gate() } else { running() };
    let resumer = ARMED_RESUMER.get();
    // 0: no `resume_for` armed (a deadline arms none), and a null parent
    // must not match it.
    if store.is_null() || resumer == 0 {
        return core::ptr::null_mut();
    }
    // SAFETY: RUNNING names the store whose chain runs (live while it
    // runs); its `current` and the parents up from it are live records of
    // the running chain, whose `parent` ends at null (the kernel's
    // stack). The resumer is compared, never read.
    unsafe {
        let x = (*store).current.get();
        if x.is_null()
            || x as usize == resumer
            || (*x).state != State::Running
            || !(*x).stack.contains(rsp)
        {
            return core::ptr::null_mut();
        }
        let mut k = x;
        loop {
            let p = (*k).parent;
            if p as usize == resumer || (p.is_null() && store as usize == resumer) {
                PREEMPTING.set((x, k));
                return x;
            }
            if p.is_null() {
                return core::ptr::null_mut();
            }
            k = p;
        }
    }
}
