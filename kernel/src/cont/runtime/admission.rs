//! Admission: the one point every way into a continuation passes, and the
//! checks it makes, in one order.
//!
//! A continuation is entered by a resume (each door's `resume` and
//! `resume_throw`) or by the drop's cancellation. [`Store::admit`] performs
//! the steps all of them share, in this order, and stops at the first that
//! fails:
//!
//! 1. the handle: it names a live continuation of this store (the door's
//!    own check: null, another store's, used up);
//! 2. the types: what the continuation expects next, and what its segment
//!    returns, are what the caller passes and takes (the door's own check;
//!    none for the typed door, whose types are checked by the compiler);
//! 3. no kernel lock is held on this CPU (`LockHeld`);
//! 4. no other store's chain runs on this CPU (`OtherStoreRunning`);
//! 5. the handle is used up: the record's revision moves on (the one-shot
//!    rule), so no copy of it can enter again;
//! 6. the arguments (or the exception's payload) are placed.
//!
//! Steps 1, 2 and 6 are the door's, given as closures: a door converts its
//! types and says how its handle is checked, and `admit` calls them in
//! their place. A refusal leaves the continuation as it was: nothing is
//! written before step 5.

use super::contref::ContRef;
use super::gate::{gate, running};
use super::store::Store;
use crate::cont::values::trap::{Trap, TrapKind};

impl Store {
    /// Admits the caller into a continuation: the checks of this module's
    /// list, in its order. `handle` checks the handle and returns its
    /// record (step 1); `types` checks the types against the record and its
    /// segment's outermost (step 2); `place` writes the arguments into the
    /// record once its revision has moved on (step 6). Returns the record
    /// and its segment's outermost, ready for the switch.
    ///
    /// # Safety
    /// `handle` returns only a live (fresh or suspended) ContRef of this
    /// store; `place` writes no more than the record's inbox holds.
    #[inline(always)]
    pub(crate) unsafe fn admit(
        &self,
        handle: impl FnOnce() -> Result<*mut ContRef, Trap>,
        types: impl FnOnce(*mut ContRef, *mut ContRef) -> Result<(), Trap>,
        place: impl FnOnce(*mut ContRef),
    ) -> Result<(*mut ContRef, *mut ContRef), Trap> {
        let c = handle()?;
        // SAFETY: a live ContRef of this store (the contract) has a live
        // outermost `last_ancestor`.
        let outer = unsafe { (*c).last_ancestor };
        types(c, outer)?;
        // Steps 3 and 4 in one test of the gate word (null or this store:
        // no lock held and no other store's chain runs); anything else
        // takes them one by one.
        if !self.gate_open_for_resume() {
            self.no_lock_held()?;
            self.no_other_store_running()?;
        }
        // SAFETY: as above; the handle is used from here on.
        unsafe { (*c).revision += 1 };
        place(c);
        Ok((c, outer))
    }

    /// Whether [`Store::admit`] would let a caller in as far as this CPU is
    /// concerned (steps 3 and 4), without raising a trap: for the drop's
    /// deferred cancellations, which wait rather than fail.
    pub(crate) fn may_enter(&self) -> bool {
        crate::sync::held() == 0 && self.no_other_store_running_quiet()
    }

    /// Traps unless this CPU holds no kernel lock: control must not leave
    /// (or enter) a continuation with a lock taken (see [`crate::sync`]).
    /// One load and one compare on the hot path.
    #[inline(always)]
    pub(crate) fn no_lock_held(&self) -> Result<(), Trap> {
        if crate::sync::held() != 0 {
            return self.raise_lock_held();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn raise_lock_held<T>(&self) -> Result<T, Trap> {
        let lock = crate::sync::innermost_held().unwrap_or("kernel");
        self.raise(TrapKind::LockHeld, lock)
    }

    /// Traps if a continuation of another store runs on this CPU: stores
    /// do not nest (see `RUNNING`).
    #[inline(always)]
    pub(crate) fn no_other_store_running(&self) -> Result<(), Trap> {
        if !self.no_other_store_running_quiet() {
            return self.raise(
                TrapKind::OtherStoreRunning,
                "resume while another store's continuation runs on this CPU",
            );
        }
        Ok(())
    }

    /// Whether no other store's chain runs on this CPU: RUNNING is null or
    /// names this store (then we are in our own chain).
    #[inline(always)]
    fn no_other_store_running_quiet(&self) -> bool {
        let running = running();
        running.is_null() || core::ptr::eq(running, self)
    }

    /// Whether a resume of this store may skip steps 3 and 4: the gate
    /// word (`store::gate`) is null or this store, so no lock is held and
    /// no other store's chain runs.
    #[inline(always)]
    fn gate_open_for_resume(&self) -> bool {
        let gate = gate();
        gate.is_null() || core::ptr::eq(gate, self)
    }

    /// Whether a suspend or a switch of this store may skip its first
    /// checks: the gate word names this store, so no lock is held and
    /// the store has a running continuation (the word's invariants,
    /// `store::gate`).
    #[inline(always)]
    pub(crate) fn gate_open_for_suspend(&self) -> bool {
        core::ptr::eq(gate(), self)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![forbid(unsafe_code)]
    use crate::cont::dynamic::Resumed;
    use crate::cont::{MmapStacks, State, Store, TrapKind};
    use crate::sync::Mutex;

    const STACK: usize = 64 * 1024;

    /// Step 2 before step 3: a `resume_throw` whose payload is not the
    /// tag's, made while a kernel lock is held, is a signature mismatch.
    /// Before the one admission point it checked the lock first and
    /// trapped `LockHeld`.
    #[test]
    fn resume_throw_of_a_wrong_payload_with_a_lock_held_is_a_signature_mismatch() {
        let s = Store::new(MmapStacks::new(), STACK);
        let e = s.tag_new(&[crate::cont::ValType::I32], &[]).unwrap();
        let f = s.func_wrap(|_: &Store, (): ()| Ok(1_i32)).unwrap();
        let k = s.cont_new(f).unwrap();
        let lock = Mutex::new("held by the caller", ());
        let guard = lock.lock();
        let trap = s.resume_throw::<i64, i32>(k, e, 7, &[]).unwrap_err();
        drop(guard);
        assert_eq!(
            (trap.kind(), trap.message()),
            (
                TrapKind::SignatureMismatch,
                "resume_throw payload does not match the tag"
            )
        );
        // Refused before anything was written: the handle still works.
        assert_eq!(s.state(k), Some(State::Fresh));
        assert_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    }

    /// Step 1 before step 3, for every door alike: a used handle resumed
    /// while a kernel lock is held is refused as used, and the lock is
    /// left to its holder.
    #[test]
    fn a_used_handle_resumed_with_a_lock_held_is_refused_as_consumed() {
        let s = Store::new(MmapStacks::new(), STACK);
        let f = s.func_wrap(|_: &Store, (): ()| Ok(2_i32)).unwrap();
        let k = s.cont_new(f).unwrap();
        assert_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(2)));
        let lock = Mutex::new("held by the caller", ());
        let guard = lock.lock();
        let resumed = s.resume::<(), i32>(k, (), &[]).unwrap_err();
        let e = s.tag_new(&[], &[]).unwrap();
        let thrown = s.resume_throw::<(), i32>(k, e, (), &[]).unwrap_err();
        drop(guard);
        assert_eq!(
            (resumed.kind(), thrown.kind()),
            (
                TrapKind::ConsumedContinuation,
                TrapKind::ConsumedContinuation
            )
        );
        assert_eq!(crate::sync::held(), 0);
    }
}
