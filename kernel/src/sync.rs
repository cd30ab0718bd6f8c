//! The kernel's lock: a named spin lock that counts the locks held on this
//! CPU and never waits for ever.
//!
//! Why not `spin::Mutex` alone? Two reasons, both about continuations.
//!
//! * **A lock must not cross a switch.** Code on a continuation stack can
//!   take a lock and then `suspend`: control leaves with the lock held, and
//!   the next code that wants it (the kernel, or another continuation) would
//!   spin for ever, because the holder only runs again when someone resumes
//!   it. xv6's `sched()` refuses to switch while locks are held; the runtime
//!   does the same: every `resume`, `suspend`, `switch` and the return of a
//!   continuation first checks [`held`], one load and one compare, and
//!   traps with [`crate::cont::TrapKind::LockHeld`], naming the lock, if it
//!   is not zero.
//! * **Waiting is always a deadlock here.** The kernel runs on one CPU with
//!   interrupts disabled: if a lock is taken when [`Mutex::lock`] finds it,
//!   its holder is code that cannot run until this code stops (an abandoned
//!   frame of a trapped continuation, or a caller further up this stack).
//!   So `lock` never spins on the kernel target: it panics, naming the lock.
//!   A panic on a continuation stack becomes a trap of that continuation;
//!   on the kernel's own stack it is a report and the end of the boot. In
//!   both cases the console says which lock, instead of a silent hang.
//!
//! On the host (unit tests of the continuation core, where test threads run
//! at once) a busy lock may be held by another thread, so `lock` spins
//! there, as `spin::Mutex` does; the count is per thread.

use crate::cpu_local::cpu_local;
use core::cell::Cell;
use core::ops::{Deref, DerefMut};

/// How many held locks keep their names for reports; deeper nesting is
/// still counted.
const NAMED: usize = 8;

cpu_local! {
    /// Locks held on this CPU (taken and not yet released).
    static HELD: Cell<usize> = Cell::new(0);
    /// The names of the first `NAMED` held locks, in the order taken.
    static NAMES: [Cell<&'static str>; NAMED] = [const { Cell::new("") }; NAMED];
    /// Moved on by every `forget_held`: a guard taken before it no longer
    /// counts, so releasing it later cannot take a count that belongs to
    /// a lock taken since.
    static EPOCH: Cell<u64> = Cell::new(0);
}

/// How many kernel locks this CPU holds now.
#[inline(always)]
pub fn held() -> usize {
    HELD.get()
}

/// The name of the lock taken most recently among those held, if any.
pub fn innermost_held() -> Option<&'static str> {
    match HELD.get() {
        0 => None,
        n => Some(NAMES[n.min(NAMED) - 1].get()),
    }
}

/// Forgets every lock this CPU holds: for the runtime, after a trap has
/// abandoned the frames that held them (the locks themselves stay taken,
/// and a later `lock` of one reports it instead of waiting).
pub(crate) fn forget_held() {
    HELD.set(0);
    EPOCH.set(EPOCH.get().wrapping_add(1));
}

/// Counts a lock taken; returns the epoch its guard must release it in.
fn note_taken(name: &'static str) -> u64 {
    let n = HELD.get();
    if n < NAMED {
        NAMES[n].set(name);
    }
    HELD.set(n + 1);
    EPOCH.get()
}

fn note_released(name: &'static str, epoch: u64) {
    let n = HELD.get();
    if n == 0 || epoch != EPOCH.get() {
        // Counted out already (`forget_held` after a trap abandoned or
        // outlived the frames that took it): nothing to undo.
        return;
    }
    // Locks are usually released in the reverse order of taking: then the
    // name on top is this lock's. If not, move the later names down over
    // the one released. Names are compared by address (each lock's name is
    // one string literal), so a release costs a few instructions.
    let named = n.min(NAMED);
    let same = |i: usize| core::ptr::eq(NAMES[i].get().as_ptr(), name.as_ptr());
    if n <= NAMED
        && !same(named - 1)
        && let Some(i) = (0..named).rev().find(|&i| same(i))
    {
        for j in i..named - 1 {
            NAMES[j].set(NAMES[j + 1].get());
        }
    }
    HELD.set(n - 1);
}

/// A spin lock with a name; see the module docs.
pub struct Mutex<T> {
    name: &'static str,
    inner: spin::Mutex<T>,
}

/// Proof that a [`Mutex`] is held; releases it when dropped.
pub struct MutexGuard<'a, T> {
    name: &'static str,
    /// The epoch it was counted in (see `EPOCH`).
    epoch: u64,
    inner: spin::MutexGuard<'a, T>,
}

impl<T> Mutex<T> {
    /// A lock named `name` (as reports will say: "the `name` lock").
    pub const fn new(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            name,
            inner: spin::Mutex::new(value),
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes the lock. On the kernel target a lock that is already taken
    /// can never be released while this code waits (one CPU, interrupts
    /// off), so this panics, naming the lock, instead of spinning for ever.
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        match self.try_lock() {
            Some(guard) => guard,
            #[cfg(target_os = "none")]
            None => panic!(
                "the {} lock is already held on this CPU: waiting would deadlock",
                self.name
            ),
            #[cfg(not(target_os = "none"))]
            None => {
                let inner = self.inner.lock();
                let epoch = note_taken(self.name);
                MutexGuard {
                    name: self.name,
                    epoch,
                    inner,
                }
            }
        }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let inner = self.inner.try_lock()?;
        let epoch = note_taken(self.name);
        Some(MutexGuard {
            name: self.name,
            epoch,
            inner,
        })
    }

    /// Whether the lock is taken.
    pub fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Releases the lock without its guard.
    ///
    /// # Safety
    /// Whoever holds the guard must never use it again (its frames are
    /// abandoned: code interrupted by a fault that ends the boot, or the
    /// chain of a trap that never resumes).
    pub unsafe fn force_unlock(&self) {
        if self.inner.is_locked() {
            // The holder's epoch is not known here: a lock forced open is
            // one whose holder is gone, counted in the epoch in force.
            note_released(self.name, EPOCH.get());
            // SAFETY: forwarded contract: the holder never runs again.
            unsafe { self.inner.force_unlock() };
        }
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        note_released(self.name, self.epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_counts_nested_locks_and_names_the_innermost() {
        let a = Mutex::new("alpha", 1);
        let b = Mutex::new("beta", 2);
        assert_eq!((held(), innermost_held()), (0, None));
        let ga = a.lock();
        let gb = b.lock();
        assert_eq!((held(), innermost_held()), (2, Some("beta")));
        drop(gb);
        assert_eq!((held(), innermost_held()), (1, Some("alpha")));
        drop(ga);
        assert_eq!((held(), innermost_held()), (0, None));
    }

    #[test]
    fn releasing_out_of_order_keeps_the_other_name() {
        let a = Mutex::new("alpha", ());
        let b = Mutex::new("beta", ());
        let ga = a.lock();
        let gb = b.lock();
        drop(ga);
        assert_eq!((held(), innermost_held()), (1, Some("beta")));
        drop(gb);
        assert_eq!(held(), 0);
    }

    #[test]
    fn try_lock_of_a_taken_lock_is_none_and_counts_nothing() {
        let a = Mutex::new("alpha", 5);
        let mut g = a.lock();
        *g += 1;
        assert!(a.try_lock().is_none());
        assert_eq!(held(), 1);
        drop(g);
        assert_eq!(*a.lock(), 6);
        assert_eq!(held(), 0);
    }
}
