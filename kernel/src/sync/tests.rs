//! Host tests of the lock count, the `push_off` nest and the deferred
//! tick: apart from `mod.rs` so that the lock itself stays short enough to
//! read in one sitting.

use super::section::{close_section, open_section};
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

/// Clears what an earlier test on this thread may have left pending.
fn fresh() -> (u64, u64) {
    PREEMPT_PENDING.store(false, Relaxed);
    (deferred_ticks(), deferred_ticks_seen())
}

#[test]
fn tick_with_no_lock_held_and_no_section_open_is_not_deferred() {
    let (deferred, seen) = fresh();
    assert!(!tick_must_wait());
    assert!(!preempt_pending());
    assert_eq!((deferred_ticks(), deferred_ticks_seen()), (deferred, seen));
}

#[test]
fn ticks_under_nested_locks_are_deferred_and_seen_once_at_the_last_release() {
    let (deferred, seen) = fresh();
    let a = Mutex::new("alpha", ());
    let b = Mutex::new("beta", ());
    let ga = a.lock();
    let gb = b.lock();
    assert!(tick_must_wait());
    assert!(tick_must_wait());
    assert!(tick_must_wait());
    drop(gb);
    // One lock still held: the inner release is not a point to act.
    assert_eq!(deferred_ticks_seen(), seen);
    assert!(preempt_pending());
    drop(ga);
    assert_eq!(deferred_ticks(), deferred + 3);
    assert_eq!(deferred_ticks_seen(), seen + 1);
    assert!(!preempt_pending());
}

#[test]
fn a_lock_released_inside_a_no_preempt_section_leaves_the_tick_to_the_section_end() {
    let (deferred, seen) = fresh();
    let a = Mutex::new("alpha", ());
    open_section();
    assert!(tick_must_wait());
    let ga = a.lock();
    assert!(tick_must_wait());
    drop(ga);
    assert_eq!(deferred_ticks_seen(), seen);
    close_section();
    assert_eq!(deferred_ticks(), deferred + 2);
    assert_eq!(deferred_ticks_seen(), seen + 1);
    assert!(!tick_must_wait());
}

#[test]
fn a_release_with_no_tick_waiting_reaches_no_preemption_point() {
    let (_, seen) = fresh();
    let a = Mutex::new("alpha", ());
    drop(a.lock());
    open_section();
    close_section();
    assert_eq!(deferred_ticks_seen(), seen);
}

#[test]
fn a_section_opened_with_no_budget_armed_defers_no_tick() {
    let (deferred, seen) = fresh();
    assert!(!crate::cont::runtime::preempt::budget_armed());
    let section = no_preempt();
    assert!(!tick_must_wait());
    drop(section);
    assert_eq!((deferred_ticks(), deferred_ticks_seen()), (deferred, seen));
    assert!(!preempt_pending());
}

#[test]
fn forget_held_leaves_a_deferred_tick_for_the_next_release() {
    let (_, seen) = fresh();
    let a = Mutex::new("alpha", ());
    let b = Mutex::new("beta", ());
    let ga = a.lock();
    assert!(tick_must_wait());
    core::mem::forget(ga);
    forget_held(false);
    assert_eq!((held(), deferred_ticks_seen()), (0, seen));
    assert!(preempt_pending());
    drop(b.lock());
    assert_eq!(deferred_ticks_seen(), seen + 1);
}

#[test]
fn a_nest_abandoned_by_forget_held_is_replaced_by_the_next_lock() {
    let a = Mutex::new("alpha", ());
    let b = Mutex::new("beta", ());
    core::mem::forget(a.lock());
    core::mem::forget(b.lock());
    assert_eq!(OFF_DEPTH.get(), 2);
    forget_held(false);
    let c = Mutex::new("gamma", ());
    let gc = c.lock();
    assert_eq!(OFF_DEPTH.get(), 1);
    drop(gc);
    assert_eq!(OFF_DEPTH.get(), 0);
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
