//! Drop: freeing a fresh continuation, and cancelling a suspended one.
//!
//! A suspended continuation has frames on its stack, and their destructors
//! must run: dropping it resumes it once, under no handlers, with the
//! cancel effect, so its pending `suspend` or `switch` returns
//! `Err(Cancelled)` and a guest that passes that on returns through every
//! frame. When cancelling must wait (a kernel lock held, another store's
//! chain running), an owned handle's drop is deferred to the store's next
//! `cont.new`, or to its own drop.

use super::contref::{ContObj, ContRef, State};
use super::gate::{running, set_running};
use super::store::Store;
use crate::cont::machine::switch::ControlEffect;
use crate::cont::values::trap::{Trap, TrapKind};
use core::sync::atomic::Ordering::Relaxed;

impl Store {
    /// What dropping an owned handle does (the typed door's `Drop`): frees
    /// or cancels the continuation if it is still the handle's; when the
    /// cancellation is refused for now (a kernel lock held, another store's
    /// chain running), keeps the handle to cancel later (`flush_deferred`).
    /// A trap of the cancelled guest has nowhere to go from a drop.
    pub(crate) fn drop_owned(&self, k: ContObj) {
        if let Err(trap) = self.drop_cont(k)
            && matches!(
                trap.kind(),
                TrapKind::LockHeld | TrapKind::OtherStoreRunning
            )
        {
            let _section = crate::sync::no_preempt();
            // SAFETY: no reference into `deferred` is held across calls.
            unsafe { (*self.deferred.get()).push(k) };
        }
    }

    /// Cancels what owners dropped while cancelling was refused, if it can
    /// be done now.
    #[cold]
    pub(crate) fn flush_deferred(&self) {
        if !self.may_enter() {
            return;
        }
        // Taken out before any guest code runs, so a cancelled guest that
        // defers again pushes onto a new list; in a section, so that no
        // tick preempts the taking half-done.
        let pending = {
            let _section = crate::sync::no_preempt();
            // SAFETY: no reference into `deferred` is held across calls.
            unsafe { core::mem::take(&mut *self.deferred.get()) }
        };
        for k in pending {
            self.drop_owned(k);
        }
    }

    /// Drops a fresh or suspended continuation (its whole segment). A
    /// fresh one never ran: its stack just goes back (to the store's cache
    /// or the pool). A suspended one is cancelled (`cancel`, below): it is
    /// resumed once with the cancel effect, so its frames return and their
    /// destructors run if its guest passes the `Err(Cancelled)` on, and its
    /// stacks go back as each guest returns. The cancellation is refused,
    /// the continuation left as it was, while a kernel lock is held
    /// (`LockHeld`) or another store's chain runs (`OtherStoreRunning`); a
    /// trap of the cancelled guest other than the cancellation is returned.
    pub fn drop_cont(&self, k: ContObj) -> Result<(), Trap> {
        let c = self.live(k, "drop")?;
        // SAFETY: as in `bind`: `c` is fresh or suspended.
        unsafe {
            if (*c).state == State::Fresh {
                // Never ran: no frame to unwind, nothing but its stack.
                (*c).revision += 1;
                (*c).state = State::Dropped;
                self.release(c);
                return Ok(());
            }
            self.cancel(c)
        }
    }

    /// Cancels suspended `c` (its whole segment): resumes it with the
    /// cancel effect under no handlers, so its pending `suspend` or `switch`
    /// returns `Err(Cancelled)`. A guest that passes it on with `?` returns
    /// through every frame, running their destructors, and so does each
    /// guest of the segment's outer members in turn; then the stack goes
    /// back to the pool. A guest that ignores the cancellation just goes
    /// on: it runs until it returns or traps (a suspend it tries finds no
    /// handler here, so it fails too, unless a resume inside the segment or
    /// above this drop handles its tag, as for any resume). A trap other
    /// than the cancellation itself is returned.
    ///
    /// # Safety
    /// `c` is a live, suspended ContRef of this store.
    pub(crate) unsafe fn cancel(&self, c: *mut ContRef) -> Result<(), Trap> {
        // SAFETY: forwarded contract.
        unsafe { self.cancel_as(c, false) }
    }

    /// [`Store::cancel`], `bounded` when no budget covers the run though
    /// one is armed (the cancellations of a store dropped inside another
    /// store's budgeted chain: `cancel_all`): then the guest runs for at
    /// most [`super::preempt::CANCEL_BUDGET`] ticks of it, and one that
    /// outlives them (it ignores the cancellation and loops) has its
    /// frames abandoned, as a preempted one's are.
    ///
    /// # Safety
    /// As for [`Store::cancel`].
    unsafe fn cancel_as(&self, c: *mut ContRef, bounded: bool) -> Result<(), Trap> {
        // SAFETY: per the contract `c` is live (the drop checked its
        // handle, since a fresh one is freed without entering); its
        // `last_ancestor` is the segment's outermost, whose context holds
        // its suspension point. A cancellation places nothing.
        unsafe {
            let (c, outer) = self.admit(|| Ok(c), |_, _| Ok(()), |_| {})?;
            let (effect, back) = if super::preempt::is_preempted(c) {
                // Stopped at no suspend: it runs on from where it was, for
                // a budget (`preempt`, "A preempted continuation").
                match self.cancel_preempted(c, outer) {
                    Some(came_back) => came_back,
                    None => return Ok(()),
                }
            } else if bounded && super::preempt::TICKING.get() {
                let (effect, back) = self.run_budgeted(
                    c,
                    outer,
                    &[],
                    ControlEffect::CANCEL,
                    super::preempt::CANCEL_BUDGET,
                );
                if effect.discriminant() == ControlEffect::PREEMPT_TAG {
                    self.abandon(back, outer);
                    return Ok(());
                }
                (effect, back)
            } else {
                self.run_segment(c, outer, &[], ControlEffect::CANCEL)
            };
            match effect.discriminant() {
                ControlEffect::RETURN_TAG => {
                    (*back).state = State::Dropped;
                    self.release(back);
                    Ok(())
                }
                ControlEffect::TRAP_TAG
                | ControlEffect::GUEST_FAILED_TAG
                | ControlEffect::RETURNED_HOLDING_LOCK_TAG => {
                    match self.trapped(effect.discriminant(), back) {
                        trap if trap.kind() == TrapKind::Cancelled => Ok(()),
                        trap => Err(trap),
                    }
                }
                // No handler of this (empty) list can have caught a
                // suspend; a switch needs a switch handler too.
                _ => unreachable!("a cancelled continuation suspended to its drop"),
            }
        }
    }

    /// The store's drop, first: cancels what is still suspended, so that
    /// its frames return and their destructors run, as a drop of each
    /// handle would; nothing a suspended guest holds is left behind.
    ///
    /// A guest of another store may be what drops this one (it owned it,
    /// through an `Rc` or a box): that store's chain runs on this CPU, and
    /// the cancellations run nested on top of it, with that chain set
    /// aside for their duration ([`SetAside`], which says why that is
    /// sound). Only a kernel lock held refuses them (no switch with a lock
    /// held, rule 6): then what is still suspended is abandoned, its
    /// frames never unwound.
    ///
    /// Then, in the same way, the closures the store's functions hold are
    /// dropped on one of its own stacks (`Store::drop_closures`), so that
    /// a guest's `Drop` that panics is a trap, not the end of the boot.
    /// With a kernel lock held they drop on the current stack instead.
    pub(crate) fn cancel_all(&self) {
        if crate::sync::held() != 0 {
            return;
        }
        // SAFETY: `&mut` in the store's drop: this store has no chain of
        // its own running (a running chain borrows it).
        let aside = unsafe { SetAside::new() };
        // Dropped inside another store's chain with a budget armed: these
        // guests run on top of that chain but not under its `resume_for`
        // (their chain is this store's), so no tick of it would end one
        // that loops. Each cancellation gets a budget of its own, charged
        // to the armed one (`cancel_as`). Not in the stress build, whose
        // budgets of one tick are the harness's: two of its ticks are a
        // few thousand instructions, less than a cancellation's
        // destructors may take.
        let bounded =
            !aside.outer.is_null() && super::preempt::budget_armed() && !cfg!(feature = "stress");
        // Pass after pass, until one finds nothing suspended: a cancelled
        // guest may make new continuations (and leave them suspended), in
        // a record an earlier pass has already looked at. By index: `all`
        // may grow meanwhile.
        'passes: loop {
            let mut cancelled = false;
            let mut i = 0;
            // SAFETY: no reference into `all` is held across a cancellation.
            while i < unsafe { (*self.all.get()).len() } {
                // SAFETY: every entry is a ContRef of this store; a
                // suspended one is the innermost of a live segment.
                unsafe {
                    let c = (&(*self.all.get()))[i];
                    if (*c).state == State::Suspended {
                        // A guest that trapped holding a lock had it
                        // forgotten; this is only a guard.
                        if crate::sync::held() != 0 {
                            break 'passes;
                        }
                        // It runs, whatever it then does (it may even be
                        // suspended again, in the same record, by a guest
                        // of its segment): another pass is needed.
                        let _ = self.cancel_as(c, bounded);
                        cancelled = true;
                    }
                }
                i += 1;
            }
            if !cancelled {
                break;
            }
        }
        // Still set aside: the closures the store's functions hold are
        // dropped on one of its stacks, as its guests were cancelled.
        self.drop_closures();
    }
}

/// The chain of another store, set aside while a store dropped inside it
/// cancels its own suspended guests on top of it: the store named in
/// `RUNNING` (whose guest dropped the dying store) gets a null `current`,
/// its innermost continuation kept in `shadowed`, and `RUNNING` is null,
/// so that the dying store's cancellations run as they would from the
/// kernel's stack (each one links its segment under nothing, sets
/// `RUNNING` to the dying store and clears it). Dropping this puts the
/// chain back: `current` and `RUNNING` as they were.
///
/// Why it is sound: the dying store has no chain of its own (its drop
/// has `&mut`), and the cancelled guests run on its stacks, above the
/// outer store's chain, which cannot end under them (its code is stopped
/// in this drop until they are done). What those guests can do:
///
/// * resume, or drop-and-cancel, a continuation of the outer store:
///   refused, `OtherStoreRunning` (`RUNNING` is the dying store), or for a
///   dropped owned handle deferred, as any drop inside another store's
///   chain;
/// * suspend or switch through the outer store: refused, `UnhandledTag`,
///   since its `current` is null: it cannot cut a segment of a chain it
///   does not run in (which is what this set-aside is for);
/// * suspend, switch, resume, drop, trap or panic in the dying store:
///   exactly as in a drop from the kernel's stack, the trap or the
///   suspend that finds no handler ending at this drop's resume, because
///   the cancelled segment's parent is null, never the outer chain;
/// * drop a third store: the same again, one level up (the dying store's
///   chain is then the one set aside);
/// * drop the outer store: impossible, its running chain borrows it.
///
/// A fault or panic of the outer store's own code while it is set aside
/// (its guest's stack overflows in this drop) takes the chain back first
/// (`Store::take_back_set_aside`) and traps that guest as usual; the
/// dying store's drop is abandoned with that guest's frames.
struct SetAside {
    outer: *const Store,
}

impl SetAside {
    /// Sets aside the chain that runs on this CPU, if any.
    ///
    /// # Safety
    /// The caller is the drop of a store with no chain of its own running.
    unsafe fn new() -> SetAside {
        let outer = running();
        // SAFETY: a store in RUNNING has a chain running on this CPU, so
        // it is alive; it stays alive until this is dropped (its chain is
        // stopped in the code that made this, and borrows it).
        if let Some(o) = unsafe { outer.as_ref() } {
            o.shadowed.set(o.current.replace(core::ptr::null_mut()));
            set_running(core::ptr::null());
        }
        SetAside { outer }
    }
}

impl Drop for SetAside {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        if let Some(o) = unsafe { self.outer.as_ref() } {
            o.current.set(o.shadowed.replace(core::ptr::null_mut()));
            set_running(self.outer);
        }
    }
}

impl Store {
    /// The drop of a preempted continuation (`preempt.rs`' module docs):
    /// resumed with the cancel effect and a budget of
    /// [`super::preempt::CANCEL_BUDGET`] under no handlers. Returns the effect and the record that sent it, or `None`
    /// once a preemption came back and the segment's records were freed
    /// with their frames abandoned.
    ///
    /// # Safety
    /// `c` and `outer` are an admitted preempted record and its outermost.
    pub(crate) unsafe fn cancel_preempted(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
    ) -> Option<(ControlEffect, *mut ContRef)> {
        // SAFETY: per the contract.
        unsafe {
            // Stopped at a Wasm safe point, alone in its segment, it is
            // cancelled as a suspended one is, timer or not: told so, its
            // interpreter returns through every frame and runs no guest
            // code on the way (a segment with parents keeps the budget
            // below: a parent is any guest, and may ignore the
            // cancellation its child returns to it).
            if c == outer && super::preempt::is_preempted_at_a_safe_point(c) {
                return Some(self.run_segment(c, outer, &[], ControlEffect::CANCEL));
            }
            // With the timer stopped no tick would end the budget: a guest
            // that never suspends would hold the drop for ever. Its frames
            // are abandoned at once.
            let back = if super::preempt::TICKING.get() {
                let (effect, back) = self.run_budgeted(
                    c,
                    outer,
                    &[],
                    ControlEffect::CANCEL,
                    super::preempt::CANCEL_BUDGET,
                );
                if effect.discriminant() != ControlEffect::PREEMPT_TAG {
                    return Some((effect, back));
                }
                back
            } else {
                c
            };
            // Preempted again: nothing runs on the segment's stacks any
            // more.
            self.abandon(back, outer);
            None
        }
    }

    /// Frees the records of a segment whose frames are abandoned (a
    /// cancellation preempted: nothing runs on its stacks any more),
    /// innermost (`back`) first, each one's parent the next, up to
    /// `outer`; counts it in `preempt::abandoned_in_drop`.
    ///
    /// # Safety
    /// `back..=outer` is a preempted segment of this store, just come back.
    unsafe fn abandon(&self, back: *mut ContRef, outer: *mut ContRef) {
        let _section = crate::sync::no_preempt();
        let mut r = back;
        // SAFETY: per the contract each record is live and its parent the
        // next one of the segment.
        unsafe {
            loop {
                let next = (*r).parent;
                (*r).revision += 1;
                (*r).state = State::Dropped;
                self.release(r);
                if r == outer {
                    break;
                }
                r = next;
            }
        }
        let abandoned = &super::preempt::ABANDONED;
        abandoned.store(abandoned.load(Relaxed) + 1, Relaxed);
    }
}
