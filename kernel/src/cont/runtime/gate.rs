//! The gate word: one per-CPU word that says which store's chain of
//! continuations runs on this CPU, and that reads `LOCKED` while this CPU
//! holds a kernel lock.
//!
//! Two rules guard every switch (`docs/guarantees.md`): stores do not
//! nest (rule 5: a resume of one store while another's chain runs is
//! refused) and no kernel lock crosses a switch (rule 6). Each used to
//! cost the hot path its own load, compare and branch, on both sides of a
//! round trip, and a suspend tested its store's `current` for null on top.
//! Folding the lock count into the running store's word makes them one
//! test each side:
//!
//! ```text
//!  word reads      resume of S            suspend / switch of S
//!  ------------    --------------------   ------------------------------
//!  null            go on (kernel level)   checks one by one (refused:
//!                                          no continuation runs)
//!  S               go on (inside S)       go on: S has a running
//!                                          continuation, no lock is held
//!  another store   checks one by one      checks one by one
//!                  (OtherStoreRunning)     (no continuation of S runs)
//!  LOCKED          checks one by one      checks one by one (LockHeld)
//!                  (LockHeld)
//! ```
//!
//! "Checks one by one" are the checks the doors made before the word
//! existed, in their order, so a refusal says the same as ever; they run
//! only when the one test fails. The lock count itself stays in `sync`,
//! which tells this module when it leaves zero and when it comes back
//! ([`lock_taken`], [`locks_released`]).

use super::store::Store;
use crate::cpu_local::cpu_local;
use core::cell::Cell;
use core::sync::atomic::{Ordering::SeqCst, compiler_fence};

cpu_local! {
    /// The store whose chain of continuations runs on this CPU (null: none,
    /// the CPU is on the kernel's own stack), or [`LOCKED`] while this CPU
    /// holds a kernel lock (the store is then in `RUNNING_UNDER_LOCK`).
    /// Set by a kernel-level `resume`, cleared when it comes back. Chains
    /// do not mix stores: a resume of one store while another's chain runs
    /// traps (`TrapKind::OtherStoreRunning`), so a store never has a chain
    /// of its own running on top of stacks another store can free. (A store
    /// dropped by a guest of another cancels its own guests on top of that
    /// chain, which it sets aside meanwhile: `cancel::SetAside`.)
    ///
    /// One word for two rules, so that the hot path tests one: a resume
    /// may go on at once when it reads null or its own store (no other
    /// store's chain runs, rule 5, and no lock is held, rule 6), a suspend
    /// or a switch when it reads its own store (and then its store has a
    /// running continuation: see [`gate`]). Anything else sends them to
    /// their checks one by one, which say which rule refused. Private:
    /// read through [`running`], written through [`set_running`], which
    /// see through the lock's mark.
    static RUNNING: Cell<*const Store> = Cell::new(core::ptr::null());
    /// The store whose chain runs while [`RUNNING`] reads [`LOCKED`].
    static RUNNING_UNDER_LOCK: Cell<*const Store> = Cell::new(core::ptr::null());
}

/// What [`RUNNING`] reads while this CPU holds a kernel lock: an address no
/// store has (stores are 8-aligned boxes), neither null nor any store, so
/// that a resume, a suspend and a switch all leave their one-test path.
const LOCKED: *const Store = core::ptr::without_provenance(1);

/// [`RUNNING`] as the hot path tests it: the store whose chain runs, or
/// null, or [`LOCKED`]. The word keeps two invariants, argued where it is
/// written:
///
/// 1. while this CPU holds a kernel lock it reads [`LOCKED`] (`sync`'s
///    count calls [`lock_taken`] and [`locks_released`] as it leaves and
///    comes back to zero: with interrupts off for a kernel lock; with
///    them on for a guest lock under a budget, the count written first on
///    the way up and last on the way down, so a tick in between sees a
///    lock held and is deferred);
/// 2. where a suspend or a switch can run, a store it names has a running
///    continuation (`current` non-null): a resume names its store before
///    it sets `current` and clears the word after it restores it, and
///    only kernel code runs between the two; the set-aside of a chain
///    clears both together, and its end, and `take_back_set_aside`, set
///    both.
#[inline(always)]
pub(crate) fn gate() -> *const Store {
    RUNNING.get()
}

/// The store whose chain runs on this CPU (null: none), a lock held or
/// not.
#[inline]
pub(crate) fn running() -> *const Store {
    let store = RUNNING.get();
    if store == LOCKED {
        RUNNING_UNDER_LOCK.get()
    } else {
        store
    }
}

/// Names `store` as the one whose chain runs on this CPU, a lock held or
/// not.
#[inline]
pub(crate) fn set_running(store: *const Store) {
    if RUNNING.get() == LOCKED {
        RUNNING_UNDER_LOCK.set(store);
    } else {
        RUNNING.set(store);
    }
}

/// Names `store` on the hot path, where the caller knows that no lock is
/// held (the gate was open, or a suspend that checked it came back): one
/// store.
#[inline(always)]
pub(crate) fn set_running_unlocked(store: *const Store) {
    RUNNING.set(store);
}

/// `sync`'s count of held locks left zero: the gate reads [`LOCKED`]
/// until it comes back. Called *after* the count is written (fenced):
/// interrupts are off for a kernel lock, but a guest lock taken under a
/// budget leaves them on, and a tick that lands in between sees a lock
/// held and is deferred.
pub(crate) fn lock_taken() {
    RUNNING_UNDER_LOCK.set(RUNNING.get());
    RUNNING.set(LOCKED);
}

/// `sync`'s count of held locks comes back to zero (a release, or a trap's
/// `forget_held`): the gate names the running store again. Called *before*
/// the count is written, and ends with a compiler fence, so the two
/// stores stay in that order:
/// interrupts may be on (a release's `pop_off` came first), and a tick
/// that lands in between still sees a lock held and is deferred. The
/// other order would let a tick preempt with the count at zero and the
/// word still `LOCKED`; the resumer would then clear the saved store, and
/// this code, resumed later, would copy that null back into the word while
/// its guest runs.
pub(crate) fn locks_released() {
    if RUNNING.get() == LOCKED {
        RUNNING.set(RUNNING_UNDER_LOCK.get());
    }
    compiler_fence(SeqCst);
}
