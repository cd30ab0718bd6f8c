//! Handle checks: whether a `ContObj` names a live continuation of this
//! store, and what the state of the one it names is.
//!
//! A handle is a pointer to a `ContRef` and the revision it is good for
//! (see `ContObj`). Every operation that takes one goes through `live`:
//! null, then the store id in the revision (compared without touching
//! memory), then the whole revision (the one-shot rule). Only then is the
//! pointer followed for anything else.

use super::contref::{ContObj, ContRef, State};
use super::store::Store;
use crate::cont::values::trap::{Trap, TrapKind};

impl Store {
    /// The state of the continuation a handle names; `None` for
    /// `ContObj::NULL` or another store's handle. A live handle reports
    /// `Fresh` or `Suspended`. A used handle reports how its continuation
    /// ended (`Returned`, `Trapped`, `Dropped`) while its record still holds
    /// it, and `Consumed` once the continuation has gone on under a newer
    /// handle or its record holds another continuation: never the state
    /// of a continuation the handle did not name.
    pub fn state(&self, k: ContObj) -> Option<State> {
        let c = self.lookup(k)?;
        // SAFETY: `lookup` returns only ContRefs of this store's table.
        let (revision, born, mut state) = unsafe { ((*c).revision, (*c).born, (*c).state) };
        // An inner member of a suspended segment says `Running` (the
        // resume that ran it wrote it): a parent. (No live handle names a
        // record that runs.)
        if state == State::Running && c != self.current.get() {
            state = State::Parent;
        }
        // Live: its own state. Used, and the record still holds the same
        // continuation, now ended: how it ended. Otherwise: consumed.
        let ended = matches!(state, State::Returned | State::Trapped | State::Dropped);
        let same = revision == k.revision || (k.revision >= born && ended);
        Some(if same { state } else { State::Consumed })
    }

    /// The top (TOS) of the stack a live handle's continuation runs on;
    /// `None` for a null or consumed handle.
    pub fn stack_top(&self, k: ContObj) -> Option<usize> {
        let c = self.lookup(k)?;
        // SAFETY: `lookup` returns only ContRefs of this store's table.
        unsafe { ((*c).revision == k.revision).then(|| (*c).stack.top() as usize) }
    }

    /// The ContRef a handle names, if the handle is this store's (the id in
    /// its revision; see `ContObj`), whatever its revision otherwise.
    /// Nothing of the handle is followed before that check.
    #[inline(always)]
    pub(crate) fn lookup(&self, k: ContObj) -> Option<*mut ContRef> {
        (!k.is_null() && k.store_id() == self.id).then_some(k.contref)
    }

    /// A handle to `c` at its current revision.
    #[inline(always)]
    pub(crate) fn handle(&self, c: *mut ContRef) -> ContObj {
        // SAFETY: `c` is one of this store's ContRefs (every caller got it
        // from `take_contref`, `lookup` or the running chain).
        let revision = unsafe { (*c).revision };
        ContObj {
            contref: c,
            revision,
        }
    }

    /// The ContRef behind `k` if the handle is live: not null, made by this
    /// store, and not yet consumed (its revision is the ContRef's). The
    /// one-shot rule of every operation that takes a continuation.
    #[inline(always)]
    pub(crate) fn live(&self, k: ContObj, what: &'static str) -> Result<*mut ContRef, Trap> {
        if k.is_null() {
            return self.raise(TrapKind::NullContinuation, what);
        }
        let Some(c) = self.lookup(k) else {
            return self.raise(TrapKind::ForeignContinuation, what);
        };
        // SAFETY: `lookup` checked the handle is this store's, so `c` is one
        // of its ContRefs, which it frees only when it drops.
        if unsafe { (*c).revision } != k.revision {
            return self.raise(TrapKind::ConsumedContinuation, what);
        }
        Ok(c)
    }
}
