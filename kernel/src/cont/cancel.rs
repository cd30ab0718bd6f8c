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
use super::store::Store;
use super::switch::ControlEffect;
use super::trap::{Trap, TrapKind};

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
            // SAFETY: no reference into `deferred` is held across calls.
            unsafe { (*self.deferred.get()).push(k) };
        }
    }

    /// Cancels what owners dropped while cancelling was refused, if it can
    /// be done now.
    #[cold]
    pub(super) fn flush_deferred(&self) {
        if crate::sync::held() != 0 || self.no_other_store_running().is_err() {
            return;
        }
        // SAFETY: taken out before any guest code runs, so a cancelled
        // guest that defers again pushes onto a new list.
        let pending = unsafe { core::mem::take(&mut *self.deferred.get()) };
        for k in pending {
            self.drop_owned(k);
        }
    }

    /// Drops a fresh or suspended continuation (its whole segment): its
    /// stacks go back to the provider. Frames on those stacks are abandoned
    /// without running destructors, as a Wasm engine would.
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
    pub(super) unsafe fn cancel(&self, c: *mut ContRef) -> Result<(), Trap> {
        self.no_lock_held()?;
        self.no_other_store_running()?;
        // SAFETY: per the contract: `last_ancestor` is the segment's
        // outermost, whose context holds its suspension point.
        unsafe {
            (*c).revision += 1;
            let outer = (*c).last_ancestor;
            let (effect, back) = self.run_segment(c, outer, &[], ControlEffect::CANCEL);
            match effect.discriminant() {
                ControlEffect::RETURN_TAG => {
                    (*back).state = State::Dropped;
                    self.release(back);
                    Ok(())
                }
                ControlEffect::TRAP_TAG => match self.trapped(back) {
                    trap if trap.kind() == TrapKind::Cancelled => Ok(()),
                    trap => Err(trap),
                },
                // No handler of this (empty) list can have caught a
                // suspend; a switch needs a switch handler too.
                _ => unreachable!("a cancelled continuation suspended to its drop"),
            }
        }
    }

    /// The store's drop, first: cancels what is still suspended, so that
    /// its frames return and their destructors run, as a drop of each
    /// handle would.
    pub(super) fn cancel_all(&self) {
        // Cancel what is still suspended, so that its frames return and
        // their destructors run, as a drop of each handle would. By index:
        // a cancelled guest may make new continuations (and leave them
        // suspended, to be cancelled in turn). Where cancelling is refused
        // (another store's chain runs, a lock is held) the frames are
        // abandoned, as before.
        // Pass after pass, until one finds nothing suspended: a cancelled
        // guest may leave a new suspended continuation in a record an
        // earlier pass has already looked at.
        // A cancellation that would be refused (a kernel lock held, another
        // store's chain running) ends the attempt: what is left is
        // abandoned below.
        let can_cancel = || crate::sync::held() == 0 && self.no_other_store_running().is_ok();
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
                        if !can_cancel() {
                            break 'passes;
                        }
                        // It runs, whatever it then does (it may even be
                        // suspended again, in the same record, by a guest
                        // of its segment): another pass is needed.
                        let _ = self.cancel(c);
                        cancelled = true;
                    }
                }
                i += 1;
            }
            if !cancelled {
                break;
            }
        }
    }
}
