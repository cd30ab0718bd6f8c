//! The stress build's run of a continuation: every resume under a budget
//! of one tick, resumed at once each time a tick preempts it, so that
//! ticks land inside every runtime operation a suite goes through
//! (`docs/interrupts.md`, "Stress mode").
//!
//! Why beside `preempt.rs` and not in it: nothing here is compiled into
//! an ordinary build (the module is the `stress` feature's); the budget's
//! own words and their order stay `preempt`'s.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{
    contref::{ContRef, Handler},
    store::Store,
};
use crate::cont::machine::switch::ControlEffect;
use crate::cpu_local::cpu_local;

cpu_local! {
    /// Preemptions of a stressed run, resumed at once.
    static STRESS_RESUMED: AtomicU64 = AtomicU64::new(0);
    /// Ticks that found a budget spent and the armed continuation not
    /// preemptible there (a `suspend` or `switch` under way, the
    /// runtime's code on another stack).
    static STRESS_NOT_HERE: AtomicU64 = AtomicU64::new(0);
}

impl Store {
    /// The stress build's `run_segment` (`docs/interrupts.md`, "Stress
    /// mode"): the run of `c` with a budget of one tick, and each time a
    /// tick preempts it, the same continuation resumed at once under the
    /// same handlers with another budget, until it returns, suspends or
    /// traps. The caller sees what a plain run would have shown; ticks,
    /// meanwhile, land in every operation the run goes through. A budget
    /// already armed by a `resume_for` further out is set aside for the
    /// run and restored after it (`run_budgeted`), as for any nested
    /// `resume_for`.
    ///
    /// # Safety
    /// As for `run_segment`.
    pub(crate) unsafe fn run_stressed(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
        effect: ControlEffect,
    ) -> (ControlEffect, *mut ContRef) {
        let (mut c, mut outer, mut effect) = (c, outer, effect);
        loop {
            // SAFETY: per the contract for the first run; a preempted `c`
            // is a live suspended record, its segment's outermost the
            // record its preemption named, which expects no values.
            let (back_effect, back) = unsafe { self.run_budgeted(c, outer, handlers, effect, 1) };
            if back_effect.discriminant() != ControlEffect::PREEMPT_TAG {
                return (back_effect, back);
            }
            STRESS_RESUMED.store(STRESS_RESUMED.load(Relaxed) + 1, Relaxed);
            c = back;
            // SAFETY: `back` is the preempted record, live.
            outer = unsafe { (*back).last_ancestor };
            effect = ControlEffect::RESUME;
        }
    }
}

/// Counts a tick that found the budget spent where its chain could not
/// be preempted (`preempt::tick_lands`).
pub(super) fn note_not_here() {
    STRESS_NOT_HERE.store(STRESS_NOT_HERE.load(Relaxed) + 1, Relaxed);
}

/// Stress build: preemptions of stressed runs resumed at once, and ticks
/// that found a spent budget where its continuation could not be
/// preempted (see [`Store::run_stressed`]).
pub fn stress_counts() -> (u64, u64) {
    (STRESS_RESUMED.load(Relaxed), STRESS_NOT_HERE.load(Relaxed))
}
