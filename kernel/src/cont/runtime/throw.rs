//! `resume_throw`: resuming a continuation by raising an exception at its
//! suspension point.
//!
//! The exception's payload waits in the store (`exception_payload`), the
//! continuation is resumed with the resume_throw effect carrying the tag's
//! id, and its pending `suspend` returns `Err` of kind `Exception`. A fresh
//! continuation never runs: the exception comes straight back.

use super::contref::{ContObj, ContRef, Handler, Resumed, State, Tag};
use super::func::WasmValues;
use super::store::{Store, same_types};
use crate::cont::machine::switch::ControlEffect;
use crate::cont::values::trap::{Trap, TrapKind};
use crate::cont::values::val::ValRaw;

impl Store {
    /// `resume_throw k tag payload (on ...)*`: resumes `k` by raising an
    /// exception of `tag`, carrying `payload`, at its suspension point: its
    /// pending `suspend` or `switch` returns `Err` of kind
    /// `TrapKind::Exception { tag }`. The guest may handle it and go on, or
    /// pass it on; if it leaves the continuation's function, this returns it
    /// as that `Err`. A fresh `k` never runs its function: the exception
    /// comes straight back. Otherwise as `resume`: `R` is the result types
    /// of the function whose return ends `k`, and `handlers` catch what the
    /// guest suspends. `P` must be the tag's payload types.
    pub fn resume_throw<P: WasmValues, R: WasmValues>(
        &self,
        k: ContObj,
        tag: Tag,
        payload: P,
        handlers: &[Handler],
    ) -> Result<Resumed<R>, Trap> {
        // SAFETY: `live` returns only live records of this store; the
        // payload is stored once the tag's types are checked to be `P`.
        unsafe {
            let (c, outer) = self.admit(
                || self.live(k, "resume_throw"),
                |c, outer| {
                    self.not_preempted(c)?;
                    if !same_types(tag.params, P::TYPES) {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume_throw payload does not match the tag",
                        );
                    }
                    if !same_types((*outer).results, R::TYPES) {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume_throw result types do not match the continuation's function",
                        );
                    }
                    Ok(())
                },
                |_| self.set_exception_of(tag, payload),
            )?;
            let (effect, back) = self.throw_into(c, outer, tag, handlers)?;
            self.outcome(effect, back)
        }
    }

    /// Records the payload of an exception being thrown, of `tag` whose
    /// payload types are `P`.
    #[inline(always)]
    pub(crate) fn set_exception_of<P: WasmValues>(&self, tag: Tag, payload: P) {
        // SAFETY: the exception slots hold `MAX_VALUES` values, and a tag's
        // payload is at most that many (checked when the tag was made).
        unsafe { payload.store((*self.exception.get()).as_mut_ptr()) };
        self.exception_types.set(tag.params);
        self.exception_tag.set(tag.id);
    }

    /// The body of both doors' `resume_throw`, once the handle is used and
    /// the exception recorded: a fresh continuation never runs its
    /// function, the exception is the end of it; a suspended one is resumed
    /// with the resume_throw effect (the tag's id in its high half).
    ///
    /// # Safety
    /// `c` is a live ContRef of this store whose revision has just moved
    /// on, `outer` its `last_ancestor`, and the switch is allowed.
    pub(crate) unsafe fn throw_into(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        tag: Tag,
        handlers: &[Handler],
    ) -> Result<(ControlEffect, *mut ContRef), Trap> {
        // SAFETY: per the contract.
        unsafe {
            if (*c).state == State::Fresh {
                (*c).state = State::Trapped;
                self.release(c);
                return self.raise(
                    TrapKind::Exception { tag: tag.id },
                    "exception thrown into a fresh continuation",
                );
            }
            let effect = ControlEffect::new(ControlEffect::RESUME_THROW_TAG, tag.id);
            Ok(self.run_segment(c, outer, handlers, effect))
        }
    }

    /// Records the payload of an exception being thrown (raw door).
    ///
    /// # Safety
    /// `payload` holds at most `MAX_VALUES` values of types `types`.
    pub(crate) unsafe fn set_exception(&self, tag: Tag, payload: &[ValRaw]) {
        // SAFETY: per the contract the payload fits; no reference into the
        // exception slots is held across calls.
        unsafe {
            core::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                (*self.exception.get()).as_mut_ptr(),
                payload.len(),
            );
        }
        self.exception_types.set(tag.params);
        self.exception_tag.set(tag.id);
    }

    /// The payload of the exception `trap` carries, if `trap` is an
    /// exception of `tag`, `P` its payload types, and it is the exception
    /// this store threw last (a later `resume_throw` overwrites the payload:
    /// then an earlier exception of another tag has none).
    pub fn exception_payload<P: WasmValues>(&self, trap: &Trap, tag: Tag) -> Option<P> {
        let thrown = matches!(trap.kind(), TrapKind::Exception { tag: t } if t == tag.id);
        (thrown
            && self.exception_tag.get() == tag.id
            && same_types(self.exception_types.get(), P::TYPES)
            && same_types(tag.params, P::TYPES))
        // SAFETY: the slots hold values of the types just compared.
        .then(|| unsafe { P::load((*self.exception.get()).as_ptr()) })
    }
}
