//! `no_preempt` sections: where the runtime changes a store's books with
//! interrupts on, a tick is recorded and acted on at the section's end.
//! Apart from the lock (`sync.rs`) because it is the runtime's half of the
//! deferral, with the lock's words (`NO_PREEMPT`, the preemption point).

use super::{NO_PREEMPT, preemption_point};
use core::sync::atomic::Ordering::Relaxed;

/// An open section in which a tick is recorded, not acted on, as inside
/// a lock, but interrupts stay on: the runtime's operations that change a
/// store's books (`cont.new`, a record's release, a definition, a trap's
/// bookkeeping), which a preemption must not split (`cont::preempt`).
/// Made by [`no_preempt`]; ends when dropped, and the end that brings the
/// count to zero sees a waiting tick. A trap that abandons the frames of
/// open sections (a guest's panic inside one) ends them (`forget_held`).
/// Not `Send`: it belongs to the CPU that opened it.
///
/// Only a tick that finds a `resume_for` budget armed can preempt, so
/// with none armed the section is not counted: its open and its end each
/// compare the armed word with zero. The guard holds nothing; its end
/// tests the word again, which a runtime operation cannot change (a
/// budget is armed only around a `resume_for`'s switch, disarmed by a
/// preemption, and neither happens inside one).
pub(crate) struct NoPreempt {
    _not_send: core::marker::PhantomData<*const ()>,
}

/// Opens a [`NoPreempt`] section (counted only if a budget is armed).
#[inline(always)]
pub(crate) fn no_preempt() -> NoPreempt {
    if crate::cont::runtime::preempt::budget_armed() {
        open_section();
    }
    NoPreempt {
        _not_send: core::marker::PhantomData,
    }
}

/// A section always counted, ended when dropped: for `cont.new`, the
/// release and a trap's bookkeeping, which test the armed word once and
/// run one of two copies of their body, in this or in no section.
pub(crate) struct Counted {
    _not_send: core::marker::PhantomData<*const ()>,
}

/// Opens a [`Counted`] section: the caller has found a budget armed.
#[inline(always)]
pub(crate) fn counted_section() -> Counted {
    open_section();
    Counted {
        _not_send: core::marker::PhantomData,
    }
}

impl Drop for Counted {
    #[inline(always)]
    fn drop(&mut self) {
        close_section();
    }
}

/// Counts a section open (inline: a short section saves no registers).
#[inline(always)]
pub(super) fn open_section() {
    NO_PREEMPT.store(NO_PREEMPT.load(Relaxed) + 1, Relaxed);
}

/// Counts a section closed: a preemption point.
#[cold]
#[inline(never)]
pub(super) fn close_section() {
    NO_PREEMPT.store(NO_PREEMPT.load(Relaxed) - 1, Relaxed);
    preemption_point();
}

impl Drop for NoPreempt {
    #[inline(always)]
    fn drop(&mut self) {
        if crate::cont::runtime::preempt::budget_armed() {
            close_section();
        }
    }
}
