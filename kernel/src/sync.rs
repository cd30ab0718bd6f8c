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
//!   continuation refuses to go on while [`held`] is not zero, with
//!   [`crate::cont::TrapKind::LockHeld`], naming the lock. (The switches
//!   test it through the runtime's gate word, `cont/runtime/gate.rs`,
//!   which this count keeps at `LOCKED` while it is not zero.)
//! * **Waiting is always a deadlock here.** The kernel runs on one CPU, and
//!   the one interrupt that can be enabled (the timer's tick) never takes a
//!   lock: if a lock is taken when [`Mutex::lock`] finds it, its holder is
//!   code that cannot run until this code stops (an abandoned frame of a
//!   trapped continuation, or a caller further up this stack).
//!   So `lock` never spins on the kernel target: it panics, naming the lock.
//!   A panic on a continuation stack becomes a trap of that continuation;
//!   on the kernel's own stack it is a report and the end of the boot. In
//!   both cases the console says which lock, instead of a silent hang.
//!
//! On the host (unit tests of the continuation core, where test threads run
//! at once) a busy lock may be held by another thread, so `lock` spins
//! there, as `spin::Mutex` does; the count is per thread.
//!
//! ## The lock rule from the interrupt side (xv6's `push_off`/`pop_off`)
//!
//! Once the timer is on (`timer.rs`), interrupts are enabled, so a lock
//! could be interrupted by a tick while it is held. Taking a lock therefore
//! first disables interrupts and counts ([`push_off`]); the release that
//! brings the count back to zero restores the interrupt flag the first
//! `push_off` found ([`pop_off`]), as xv6's `acquire`/`release` do. Nested
//! locks nest the count, so an inner release never turns interrupts on
//! inside an outer lock.
//!
//! A tick is never *lost* in a lock: the local APIC keeps it pending while
//! interrupts are off, and it is delivered at the `sti` of the last
//! release. The release turns interrupts back on *before* it takes the
//! lock off the count (the spin lock itself is already free), so that tick
//! lands while the lock still counts: the handler sees a lock held, does
//! not act on it, and records it in the per-CPU *preempt pending* word.
//! The same happens to a tick inside a [`no_preempt`] section (interrupts
//! stay on there). The first point where the count of locks and sections
//! comes back to zero sees the word and calls the preemption point (it
//! counts, and preempts the running guest there if a `resume_for` budget
//! is spent: `cont/runtime/preempt.rs`):
//!
//! ```text
//!  lock()      push_off: IF found = 1, cli, depth 1; held 1
//!    ...       a tick now waits in the APIC (IF = 0)
//!  drop(guard) spin lock free; pop_off: depth 0, sti; nop
//!              <- the tick lands here: held is still 1, so it is deferred
//!              held 0, no section open: the pending word is seen
//! ```
//!
//! ## Guest locks under a budget
//!
//! Interrupts off is the right rule for the kernel's own locks (made with
//! `Mutex::kernel`: the heap, the frame allocator, the page table, the
//! stack pool, the console, ...): their sections are short, bounded, and
//! run no guest code. A [`Mutex::new`] lock is any safe code's, a guest's
//! included, and a guest that takes one and then loops (or forgets the
//! guard and loops) would keep interrupts off for ever: no tick, so no
//! budget could end it. So a guest lock taken while a budget is armed
//! (`resume_for`, a Wasm call's deadline) leaves interrupts on and is
//! counted (`HELD`, and `GUEST_HELD` beside it), counted *before* its
//! spin lock is taken and uncounted after it is freed. A tick inside it
//! is deferred like any other (nothing switches or preempts while a lock
//! counts), but it lands, so the budget still runs out; a holder that
//! keeps it [`crate::cont::preempt::LOCK_GRACE`] ticks past that is
//! ended with a `LockHeld` trap (`cont/runtime/overdue.rs`), at a tick or
//! at a release or section end with only guest locks left, never while
//! a kernel lock is held or a `no_preempt` section is open. Its guard
//! records how it was taken, and its release undoes exactly that. Taken
//! with no budget armed, a guest lock is an ordinary one: interrupts off.

use crate::cpu_local::cpu_local;
use core::cell::Cell;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// How many held locks keep their names for reports; deeper nesting is
/// still counted.
const NAMED: usize = 8;

// Why each word below may be a plain per-CPU word (`cpu_local.rs`) now
// that interrupts can be on. The one handler that can run in the middle
// of kernel code is the timer's tick (every other gate is an exception
// the code causes, or fatal). It *reads* `HELD` and `NO_PREEMPT` and
// *writes* only `PREEMPT_PENDING`, `DEFERRED` and the timer's counters:
//
// * `HELD` is written by ordinary code only, with single stores of an
//   aligned word, and the tick reads it with one volatile load
//   ([`held_now`]), so it sees the old or the new count, never a mix. It
//   stays a `Cell` (not an atomic) because the hot path reads it on every
//   switch, and LLVM merges repeated `Cell` loads where it keeps atomic
//   ones (an atomic cost the round trip 2 instructions). The one place
//   where a tick can land between a change of the count and the code
//   that depends on it, the release's `sti; nop`, is an `asm!` block
//   without `nomem`: a compiler barrier, so the count is in memory there.
// * `NAMES` and `EPOCH` are neither read nor written by the tick: a tick
//   between two of their accesses changes nothing (the "one CPU,
//   interrupts off" of old is now "one CPU, and the one handler that can
//   interrupt does not touch them").
// * `OFF_DEPTH`, `OFF_EPOCH` and `OFF_FOUND_ENABLED` change only with
//   interrupts off (inside `push_off`/`pop_off`, or in
//   `Timer::start`/`stop` inside their own `push_off`), so nothing can
//   interleave.
// * `GUEST_HELD` is as `HELD`: single stores by ordinary code (raised
//   after `HELD`, lowered before it, so it never exceeds it), one
//   volatile load by the tick.
// * `OVERDUE` is written by the tick (an increment, interrupts off) and
//   reset by ordinary code with single stores: an atomic.
// * `NO_PREEMPT` is written by ordinary code, read by the tick: an atomic.
// * `PREEMPT_PENDING` and `DEFERRED` are written by the tick and by
//   ordinary code (which clears the word): atomics, and ordinary code
//   only swaps the word (`swap` is one `xchg`, which a tick cannot split).
cpu_local! {
    /// Locks held on this CPU (taken and not yet released).
    static HELD: Cell<usize> = Cell::new(0);
    /// The names of the first `NAMED` held locks, in the order taken.
    static NAMES: [Cell<&'static str>; NAMED] = [const { Cell::new("") }; NAMED];
    /// Moved on by every `forget_held`: a guard taken before it no longer
    /// counts, so releasing it later cannot take a count that belongs to
    /// a lock taken since.
    static EPOCH: Cell<u64> = Cell::new(0);
    /// How deep `push_off` is nested (xv6's `noff`).
    static OFF_DEPTH: Cell<usize> = Cell::new(0);
    /// The `EPOCH` the open nest began in: a nest from an older epoch was
    /// abandoned by a trap (`forget_held`).
    static OFF_EPOCH: Cell<u64> = Cell::new(0);
    /// Whether interrupts were on when the outermost `push_off` ran
    /// (xv6's `intena`): what the last `pop_off` restores.
    static OFF_FOUND_ENABLED: Cell<bool> = Cell::new(false);
    /// `no_preempt` sections open on this CPU.
    pub(crate) static NO_PREEMPT: AtomicUsize = AtomicUsize::new(0);
    /// A tick landed while a lock was held or a section was open, and no
    /// point with the count back at zero has seen it yet.
    static PREEMPT_PENDING: AtomicBool = AtomicBool::new(false);
    /// Ticks that landed while a lock was held or a section was open.
    static DEFERRED: AtomicU64 = AtomicU64::new(0);
    /// Times a point with the count back at zero found the word set.
    static DEFERRED_SEEN: AtomicU64 = AtomicU64::new(0);
    /// Of `HELD`, the locks a guest took under a budget, with interrupts
    /// left on (see "Guest locks under a budget" above).
    static GUEST_HELD: Cell<usize> = Cell::new(0);
    /// Ticks that found a budget already spent while a guest lock was
    /// held; back to 0 when the last guest lock is released or forgotten.
    static OVERDUE: AtomicU32 = AtomicU32::new(0);
}

/// How many kernel locks this CPU holds now.
#[inline(always)]
pub fn held() -> usize {
    HELD.get()
}

/// The name of the lock taken most recently among those held, if any.
pub fn innermost_held() -> Option<&'static str> {
    match held() {
        0 => None,
        n => Some(NAMES[n.min(NAMED) - 1].get()),
    }
}

/// Forgets every lock this CPU holds: for the runtime, after a trap has
/// abandoned the frames that held them (the locks themselves stay taken,
/// and a later `lock` of one reports it instead of waiting). Their
/// `push_off`s are forgotten too, lazily: the next [`push_off`] sees that
/// the open nest is from an older epoch and starts a new one that will
/// restore the flag the abandoned one found. Until then interrupts stay
/// off (a tick waits in the APIC; none is lost), which keeps this cold
/// path as cheap as it was. A pending tick stays pending: the trap path
/// is the runtime's, not a point to act on it; the next release or
/// section end sees it. `in_section`: whether the caller runs in a
/// counted `no_preempt` section of its own (a budget is armed).
pub(crate) fn forget_held(in_section: bool) {
    // The gate word first, as in `note_released`.
    crate::cont::runtime::gate::locks_released();
    GUEST_HELD.set(0);
    OVERDUE.store(0, Relaxed);
    HELD.set(0);
    // Armed: the abandoned frames' sections end (their guards never
    // drop); the caller's (`Store::trapped`) stays, and no section spans
    // a resume. Unarmed: the abandoned frames counted none either.
    if in_section {
        NO_PREEMPT.store(1, Relaxed);
    }
    EPOCH.set(EPOCH.get().wrapping_add(1));
}

/// Disables interrupts and counts (xv6's `push_off`): the first of a
/// nest records whether they were on. Every lock does this before it is
/// taken; see the module docs.
#[inline]
pub(crate) fn push_off() {
    let mut was_on = interrupts::disable();
    let epoch = EPOCH.get();
    let mut depth = OFF_DEPTH.get();
    if depth > 0 && OFF_EPOCH.get() != epoch {
        // A trap abandoned the open nest (`forget_held`): its frames will
        // never release it. Interrupts have been off since, so what it
        // found is still the flag to restore.
        depth = 0;
        was_on = OFF_FOUND_ENABLED.get();
    }
    if depth == 0 {
        OFF_FOUND_ENABLED.set(was_on);
        OFF_EPOCH.set(epoch);
    }
    OFF_DEPTH.set(depth + 1);
}

/// Undoes one [`push_off`] (xv6's `pop_off`): the last of a nest turns
/// interrupts back on if the first found them on, and lets a tick that
/// waited in the APIC land before it returns. Runs with interrupts off.
#[inline]
pub(crate) fn pop_off() {
    let depth = OFF_DEPTH.get();
    debug_assert!(depth > 0, "pop_off without push_off");
    if depth == 0 {
        return;
    }
    OFF_DEPTH.set(depth - 1);
    if depth == 1 && OFF_FOUND_ENABLED.get() {
        interrupts::enable_and_let_pending_in();
    }
}

/// Inside a [`push_off`]: makes the last [`pop_off`] of the nest turn
/// interrupts on (`true`) or leave them off (`false`), whatever the first
/// `push_off` found. For `Timer::start` and `stop`, which change the flag
/// the kernel runs with.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub(crate) fn restore_interrupts_as(enabled: bool) {
    debug_assert!(
        OFF_DEPTH.get() > 0,
        "restore_interrupts_as outside push_off"
    );
    OFF_FOUND_ENABLED.set(enabled);
}

/// Whether the caller's own [`push_off`] is the only one open: no lock is
/// held around it.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub(crate) fn only_own_push_off() -> bool {
    OFF_DEPTH.get() == 1
}

/// The interrupt flag on the kernel target; nothing on the host, where a
/// test thread plays a CPU and no tick ever arrives.
mod interrupts {
    /// Disables interrupts; returns whether they were on.
    #[inline(always)]
    pub(super) fn disable() -> bool {
        #[cfg(target_os = "none")]
        {
            let was_on = x86_64::instructions::interrupts::are_enabled();
            x86_64::instructions::interrupts::disable();
            was_on
        }
        #[cfg(not(target_os = "none"))]
        false
    }

    /// `sti; nop`: interrupts on, and one instruction later a tick that
    /// was waiting is delivered (`sti` holds interrupts off for exactly
    /// the next instruction), so it lands before the caller's next step.
    #[inline(always)]
    pub(super) fn enable_and_let_pending_in() {
        #[cfg(target_os = "none")]
        // SAFETY: turning interrupts on is what the caller restores; the
        // only enabled source is the timer, whose handler runs on its own
        // stack and returns to the next instruction. Not `nomem`: the
        // compiler must not move memory accesses across the window.
        unsafe {
            core::arch::asm!("sti", "nop", options(nostack, preserves_flags))
        };
    }
}

/// Whether a tick now must wait: a lock is held or a [`NoPreempt`]
/// section is open. Called by the tick handler (`timer.rs`) with
/// interrupts off; a `true` is recorded in the preempt-pending word and
/// counted, for the first point where the count is back at zero.
#[inline]
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // host tests call it
pub(crate) fn tick_must_wait() -> bool {
    if held_now() == 0 && NO_PREEMPT.load(Relaxed) == 0 {
        return false;
    }
    PREEMPT_PENDING.store(true, Relaxed);
    DEFERRED.store(DEFERRED.load(Relaxed) + 1, Relaxed);
    true
}

/// [`held`] as the tick must read it: one volatile load, which the
/// compiler can neither drop nor answer from a register.
#[inline(always)]
fn held_now() -> usize {
    // SAFETY: `HELD` is a live static; the load is of an aligned word,
    // which x86_64 reads in one access, on the one CPU that writes it.
    unsafe { core::ptr::read_volatile(HELD.as_ptr()) }
}

/// [`GUEST_HELD`] as the tick must read it (see [`held_now`]).
#[inline(always)]
fn guest_held_now() -> usize {
    // SAFETY: as in `held_now`.
    unsafe { core::ptr::read_volatile(GUEST_HELD.as_ptr()) }
}

/// For a tick that found the budget already spent and the tick deferred
/// (interrupts off): if a guest lock is held, counts the tick as overdue
/// and returns how many are, this one included; else 0.
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // the tick is the kernel target's
pub(crate) fn overdue_tick() -> u32 {
    if guest_held_now() == 0 {
        return 0;
    }
    let n = OVERDUE.load(Relaxed).saturating_add(1);
    OVERDUE.store(n, Relaxed);
    n
}

/// Ticks counted overdue since the guest lock now held was taken (0 with
/// none held): how long a guest has held a lock past its budget.
pub(crate) fn overdue() -> u32 {
    OVERDUE.load(Relaxed)
}

/// Whether the locks this CPU holds are all guest locks taken under a
/// budget (at least one) and no `no_preempt` section is open: nothing of
/// the kernel's is half done, so the holder may be ended here.
pub(crate) fn only_guest_locks_held() -> bool {
    let held = held_now();
    held != 0 && guest_held_now() == held && NO_PREEMPT.load(Relaxed) == 0
}

/// A point where the count of held locks and open sections may have come
/// back to zero: if it has and a tick waited, the tick is seen here. With
/// guest locks still held (and only those), a tick that waited is a
/// chance to end a holder past its budget (`cont::runtime::overdue`).
#[inline]
fn preemption_point() {
    if HELD.get() == 0 {
        if NO_PREEMPT.load(Relaxed) == 0
            && PREEMPT_PENDING.load(Relaxed)
            && PREEMPT_PENDING.swap(false, Relaxed)
        {
            deferred_tick_seen();
        }
    } else if PREEMPT_PENDING.load(Relaxed) {
        guest_lock_point();
    }
}

/// A release or section end with locks still held and a tick waiting:
/// if they are all guest locks held past the budget's grace, the holder
/// is ended here.
#[cold]
fn guest_lock_point() {
    #[cfg(target_os = "none")]
    if only_guest_locks_held() {
        crate::cont::runtime::overdue::at_a_point();
    }
}

/// The hook a deferred tick reaches once nothing holds it back: it
/// counts, and a guest whose `resume_for` budget is spent is preempted
/// here, at a point where it holds no lock and the runtime is not inside
/// one of its operations.
#[cold]
fn deferred_tick_seen() {
    DEFERRED_SEEN.store(DEFERRED_SEEN.load(Relaxed) + 1, Relaxed);
    // A budget spent meanwhile preempts its guest here (`cont::preempt`).
    #[cfg(target_os = "none")]
    crate::cont::runtime::preempt::deferred_tick_seen();
}

/// Ticks that landed on this CPU while a kernel lock was held or a
/// `no_preempt` section was open, since boot.
pub fn deferred_ticks() -> u64 {
    DEFERRED.load(Relaxed)
}

/// How many times a release or a section end found a deferred tick
/// waiting and passed it to the preemption point. At most
/// [`deferred_ticks`]: several ticks deferred in one section are seen
/// once, at its end.
pub fn deferred_ticks_seen() -> u64 {
    DEFERRED_SEEN.load(Relaxed)
}

/// Whether a deferred tick is waiting for the count to reach zero.
pub fn preempt_pending() -> bool {
    PREEMPT_PENDING.load(Relaxed)
}

/// Takes a guest lock off `GUEST_HELD` (before `HELD`, so it never
/// exceeds it); the last one resets the overdue count.
fn guest_released() {
    let n = GUEST_HELD.get().saturating_sub(1);
    GUEST_HELD.set(n);
    if n == 0 {
        OVERDUE.store(0, Relaxed);
    }
}

/// Counts a lock taken; returns the epoch its guard must release it in.
fn note_taken(name: &'static str) -> u64 {
    let n = held();
    if n < NAMED {
        NAMES[n].set(name);
    }
    HELD.set(n + 1);
    if n == 0 {
        // The count before the gate word, fenced: a guest lock taken under
        // a budget leaves interrupts on, and a tick between the two stores
        // must already see a lock held (it is deferred). The other order
        // would let it preempt with the word `LOCKED` and the count at
        // zero (`gate::locks_released` says what that breaks).
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        crate::cont::runtime::gate::lock_taken();
    }
    EPOCH.get()
}

fn note_released(name: &'static str, epoch: u64) {
    let n = held();
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
    if n == 1 {
        // The gate word before the count (`gate::locks_released` says why).
        crate::cont::runtime::gate::locks_released();
    }
    HELD.set(n - 1);
}

/// A spin lock with a name; see the module docs.
pub struct Mutex<T> {
    name: &'static str,
    /// A kernel lock (`Mutex::kernel`): always interrupts off. Otherwise
    /// a guest lock: interrupts stay on when taken under a budget.
    kernel: bool,
    inner: spin::Mutex<T>,
}

/// Proof that a [`Mutex`] is held; releases it when dropped.
pub struct MutexGuard<'a, T> {
    name: &'static str,
    /// The epoch it was counted in (see `EPOCH`).
    epoch: u64,
    /// Taken under a budget with interrupts left on (no `push_off`).
    budgeted: bool,
    /// Dropped by hand in `drop`: the spin lock is freed before the count
    /// and the interrupt flag are given back.
    inner: ManuallyDrop<spin::MutexGuard<'a, T>>,
}

impl<T> Mutex<T> {
    /// A lock named `name` (as reports will say: "the `name` lock"). Any
    /// safe code can make one, so it is a *guest lock*: taken while a
    /// budget is armed, it leaves interrupts on (see the module docs).
    pub const fn new(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            name,
            kernel: false,
            inner: spin::Mutex::new(value),
        }
    }

    /// A kernel lock: interrupts off while it is held, always. For the
    /// kernel's own short sections that run no guest code (the heap, the
    /// frame allocator, the page table, the stack pool, the console...).
    pub(crate) const fn kernel(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            name,
            kernel: true,
            inner: spin::Mutex::new(value),
        }
    }

    /// The lock's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes the lock, with interrupts off until the last lock of this CPU
    /// is released (see the module docs). On the kernel target a lock that
    /// is already taken can never be released while this code waits (one
    /// CPU, and the tick takes no lock), so this panics, naming the lock,
    /// instead of spinning for ever.
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
                push_off();
                let inner = self.inner.lock();
                let epoch = note_taken(self.name);
                MutexGuard {
                    name: self.name,
                    epoch,
                    budgeted: false,
                    inner: ManuallyDrop::new(inner),
                }
            }
        }
    }

    /// Takes the lock if it is free (interrupts off while it is held, as
    /// for [`Mutex::lock`], unless it is a guest lock taken under a
    /// budget).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if !self.kernel && crate::cont::runtime::preempt::budget_armed() {
            return self.try_lock_budgeted();
        }
        push_off();
        let Some(inner) = self.inner.try_lock() else {
            pop_off();
            return None;
        };
        let epoch = note_taken(self.name);
        Some(MutexGuard {
            name: self.name,
            epoch,
            budgeted: false,
            inner: ManuallyDrop::new(inner),
        })
    }

    /// A guest lock taken under a budget: counted *before* the spin lock
    /// is taken (a tick between the two must already see it held, or it
    /// could preempt a holder not yet counted), interrupts left on.
    #[cold]
    fn try_lock_budgeted(&self) -> Option<MutexGuard<'_, T>> {
        let epoch = note_taken(self.name);
        GUEST_HELD.set(GUEST_HELD.get() + 1);
        let Some(inner) = self.inner.try_lock() else {
            guest_released();
            note_released(self.name, epoch);
            return None;
        };
        Some(MutexGuard {
            name: self.name,
            epoch,
            budgeted: true,
            inner: ManuallyDrop::new(inner),
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
            // one whose holder is gone, counted in the epoch in force. Its
            // `push_off` stays counted (interrupts stay off): the boot is
            // ending, or `forget_held` forgets it with the holder's frames.
            note_released(self.name, EPOCH.get());
            // A guest lock's count goes with it: never more than `HELD`.
            GUEST_HELD.set(GUEST_HELD.get().min(held()));
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
        // SAFETY: the inner guard is dropped here once and never touched
        // again (this is the guard's own drop).
        unsafe { ManuallyDrop::drop(&mut self.inner) };
        if self.epoch != EPOCH.get() {
            // Counted out (and its `push_off` forgotten) by `forget_held`.
            return;
        }
        // The lock is free; interrupts come back (if this was the last
        // `push_off`) while it still counts, so a tick that waited in the
        // APIC is deferred, then seen once the count is down. A guest lock
        // taken under a budget left them on: ticks inside were deferred.
        if self.budgeted {
            guest_released();
        } else {
            pop_off();
        }
        note_released(self.name, self.epoch);
        preemption_point();
    }
}

mod section;
pub(crate) use section::{counted_section, no_preempt};

#[cfg(test)]
mod tests;
