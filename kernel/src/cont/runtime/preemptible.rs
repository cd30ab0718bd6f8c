//! Where a tick may preempt: the chain an armed budget covers, its
//! innermost member running its own code on its own stack.
//!
//! Why a module of its own: the tick (`preempt::tick_lands`), the end of
//! a deferral, a Wasm safe point (`epoch`), the end of a lock holder
//! (`overdue`) and the lab's stub all ask the same question before they
//! act, and the answer rests on one invariant kept elsewhere: a record
//! says `Running` from the resume or switch that ran it until a suspend
//! or switch of it writes `Suspended` as its first step (`resume`,
//! `suspend`). So `Running` on the store's innermost record means "its
//! own code, or the runtime's code before any suspend began", where a
//! preemption is sound, and anything else means "a suspend under way".
//! The chain is walked from the innermost out, through `parent`, to find
//! the record the budget is armed for: a child resumed by a budgeted
//! guest is preempted with it, the segment reaching out to the one the
//! budget's `resume_for` resumed.

use super::contref::{ContRef, State};
use super::gate::{gate, running};
use super::preempt::{ARMED_PREV, BUDGET};
use super::store::ARMED;

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
/// `rsp`: a budget is armed and spent, and the store's innermost running
/// continuation is the one it is armed for or a child of it (through any
/// number of plain resumes), running its own code (`Running`: no
/// `suspend` or `switch` under way) on its own stack. Called with
/// interrupts off.
pub(super) fn may_preempt_at(rsp: usize) -> bool {
    let c = ARMED.get();
    if c.is_null() || BUDGET.get() != 0 {
        return false;
    }
    !innermost_under(c, rsp, false).is_null()
}

/// The store's innermost running continuation, if it runs its own code
/// on its own stack (`rsp`) and the armed `c` is it or one of its parents,
/// budget or not; else null. The walk up from the innermost stops at the
/// record that made the armed `resume_for` (`ARMED_PREV`), `c`'s parent
/// while `c` runs: so it is as long as the chain below `c`, and a tick in
/// the resumer's own code (`c` not running) looks at one record, not at
/// every level of a deep chain above it (the stress build's thousand
/// nested resumes did not finish before). With no lock held (`unlocked`,
/// a tick that was not deferred) the gate word names the running store
/// itself, one load fewer than the lock-aware read.
#[inline(always)]
pub(super) fn innermost_under(c: *mut ContRef, rsp: usize, unlocked: bool) -> *mut ContRef {
    let store = if unlocked { gate() } else { running() };
    if store.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: RUNNING names the store whose chain runs (live while it
    // runs); its `current` and the parents up from it are live records of
    // the running chain, whose `parent` ends at null (the kernel's
    // stack). `c` is compared, never read (it may have ended:
    // `run_budgeted` asks between its stores, before it disarms).
    unsafe {
        let x = (*store).current.get();
        if x.is_null() || (*x).state != State::Running || !(*x).stack.contains(rsp) {
            return core::ptr::null_mut();
        }
        if x == c {
            return x;
        }
        let stop = ARMED_PREV.get();
        // From `x` itself: a tick in the resumer's own code (`x` is the
        // stop) looks at no parent.
        let mut k = x;
        while !k.is_null() && k != stop {
            if k == c {
                return x;
            }
            k = (*k).parent;
        }
        core::ptr::null_mut()
    }
}
