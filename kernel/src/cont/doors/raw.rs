//! The raw door: `resume`, `suspend`, `cont.bind`, `resume_throw` and the
//! payload over slices of [`ValRaw`] with [`ValType`] lists, for code that
//! learns its types only at run time (an interpreter of WebAssembly, the
//! first user this door was made for).
//!
//! The typed door ([`super::typed`]) checks types when the Rust code is
//! compiled; the store's generic methods check them at run time against a
//! Rust type. Here the caller has neither: it holds values in slots and
//! knows their types as data, so every operation compares the caller's
//! `ValType` list with the continuation's or tag's, and the lengths of the
//! slices, and traps with `SignatureMismatch` when they differ.
//!
//! These functions are `unsafe` for one reason: a slot can hold a
//! continuation handle (`ValType::ContRef`), and a handle made from
//! arbitrary bits would point anywhere (see `WasmValue::from_raw`). The
//! caller promises that every slot its type list calls a `ContRef` holds a
//! handle the runtime made (or `ContObj::NULL`), which an interpreter gets
//! for free when it only ever stores handles that came out of the runtime.

use crate::cont::machine::switch::ControlEffect;
use crate::cont::runtime::contref::{self, ContObj, Handler, MAX_VALUES, State, Tag};
use crate::cont::runtime::store::Store;
use crate::cont::values::trap::{Trap, TrapKind};
use crate::cont::values::val::{ValRaw, ValType};

/// How a raw `resume` came back: `Returned(types)` when the function
/// returned, its results then in the caller's `results` slice, of these
/// types; `Suspended { handler, cont }` as for any resume
/// ([`Store::payload_raw`] reads what the suspend sent).
pub type Resumed = contref::Resumed<&'static [ValType]>;

/// Copies `n` slots from `src` to `dst` (which do not overlap). A Wasm
/// operation moves a value or two: plain moves for those, a call of
/// `memcpy` (a dozen instructions and the call's) only for more.
///
/// # Safety
/// As for `core::ptr::copy_nonoverlapping` of `n` `ValRaw`s.
#[inline(always)]
unsafe fn copy_slots(src: *const ValRaw, dst: *mut ValRaw, n: usize) {
    // SAFETY: the caller's promise, for each of the `n` slots.
    unsafe {
        match n {
            0 => {}
            1 => *dst = *src,
            2 => {
                *dst = *src;
                *dst.add(1) = *src.add(1);
            }
            _ => core::ptr::copy_nonoverlapping(src, dst, n),
        }
    }
}

impl Store {
    /// `resume k args (on ...)*` over slots: `args` of types `arg_types`
    /// (the continuation's expected types, or a trap), results written to
    /// the front of `results` (at least as long as the function's results).
    ///
    /// # Safety
    /// Every slot of `args` that `arg_types` calls a `ContRef` holds a
    /// handle the runtime made (see the module docs).
    #[inline]
    pub unsafe fn resume_raw(
        &self,
        k: ContObj,
        args: &[ValRaw],
        arg_types: &[ValType],
        handlers: &[Handler],
        results: &mut [ValRaw],
    ) -> Result<Resumed, Trap> {
        // SAFETY: `live` returns only live records of this store; the
        // arguments are copied once their count and types are checked to
        // be what the record expects, for which its inbox has room.
        unsafe {
            let (c, outer) = self.admit(
                || self.live(k, "resume"),
                |c, outer| {
                    if (*c).expected != arg_types || args.len() != arg_types.len() {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume arguments do not match the continuation",
                        );
                    }
                    let wanted = (*outer).results;
                    if results.len() < wanted.len() {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume has no room for the function's results",
                        );
                    }
                    Ok(())
                },
                |c| {
                    copy_slots(args.as_ptr(), (*c).inbox, args.len());
                },
            )?;
            let (effect, back) = self.run_segment(c, outer, handlers, ControlEffect::RESUME);
            self.raw_outcome(effect, back, results)
        }
    }

    /// `resume_throw k tag payload (on ...)*` over slots; see
    /// [`Store::resume_throw`].
    ///
    /// # Safety
    /// As for [`Store::resume_raw`], for the slots of `payload`.
    pub unsafe fn resume_throw_raw(
        &self,
        k: ContObj,
        tag: Tag,
        payload: &[ValRaw],
        handlers: &[Handler],
        results: &mut [ValRaw],
    ) -> Result<Resumed, Trap> {
        // SAFETY: as in `resume_raw`; the payload is copied once its
        // count is checked to be the tag's.
        unsafe {
            let (c, outer) = self.admit(
                || self.live(k, "resume_throw"),
                |c, outer| {
                    self.not_preempted(c)?;
                    if payload.len() != tag.params.len() {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume_throw payload does not match the tag",
                        );
                    }
                    let wanted = (*outer).results;
                    if results.len() < wanted.len() {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume_throw has no room for the function's results",
                        );
                    }
                    Ok(())
                },
                |_| self.set_exception(tag, payload),
            )?;
            let (effect, back) = self.throw_into(c, outer, tag, handlers)?;
            self.raw_outcome(effect, back, results)
        }
    }

    /// What a raw resume reports (see `run_segment`).
    ///
    /// # Safety
    /// `back` is the live ContRef that sent `effect`; `results` has room
    /// for the results of the function that returned, if one did.
    #[inline(always)]
    unsafe fn raw_outcome(
        &self,
        effect: ControlEffect,
        back: *mut crate::cont::runtime::contref::ContRef,
        results: &mut [ValRaw],
    ) -> Result<Resumed, Trap> {
        // SAFETY: per the contract; the copy writes at most
        // `results.len()` slots and reads no more than `back` returned.
        unsafe {
            self.outcome_with(effect, back, |types, data| {
                let n = types.len().min(results.len());
                copy_slots(data, results.as_mut_ptr(), n);
                types
            })
        }
    }

    /// `suspend tag payload` over slots: `payload` has the tag's params'
    /// count; what the next resume sends is written to the front of
    /// `results` (at least as long as the tag's results), whose types are
    /// returned.
    ///
    /// # Safety
    /// As for [`Store::resume_raw`], for the slots of `payload`.
    #[inline]
    pub unsafe fn suspend_raw(
        &self,
        tag: Tag,
        payload: &[ValRaw],
        results: &mut [ValRaw],
    ) -> Result<&'static [ValType], Trap> {
        let cur = self.running_cont();
        // One test of the gate word on the common path, as in `suspend`;
        // with it shut, the checks in their order.
        let open = self.gate_open_for_suspend();
        if !open {
            self.gate_shut(cur, "suspend outside any continuation", false)?;
        }
        if payload.len() != tag.params.len() || results.len() < tag.results.len() {
            return self.raise(
                TrapKind::SignatureMismatch,
                "suspend payload or result room does not match the tag",
            );
        }
        if !open {
            self.no_lock_held()?;
        }
        // SAFETY: `cur` is the running continuation; the payload fits its
        // mailbox (a tag has at most MAX_VALUES params).
        unsafe {
            let values = (*cur).values.as_mut_ptr();
            self.suspend_slots(cur, tag, |dst| {
                copy_slots(payload.as_ptr(), dst, payload.len())
            })?;
            copy_slots(values, results.as_mut_ptr(), tag.results.len());
        }
        Ok(tag.results)
    }

    /// The payload of a suspended continuation, copied to the front of
    /// `out`; returns its types. Traps as [`Store::payload`] does.
    #[inline(always)]
    pub fn payload_raw(&self, k: ContObj, out: &mut [ValRaw]) -> Result<&'static [ValType], Trap> {
        let c = self.live(k, "payload")?;
        // SAFETY: `live` proved `c` a live ContRef of this store.
        unsafe {
            if (*c).state != State::Suspended || (*c).inbox != (*c).values.as_mut_ptr() {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "payload of a continuation that holds none",
                );
            }
            let types = (*c).payload;
            if out.len() < types.len() {
                return self.raise(TrapKind::SignatureMismatch, "no room for the payload");
            }
            copy_slots((*c).values.as_ptr(), out.as_mut_ptr(), types.len());
            Ok(types)
        }
    }

    /// `cont.bind k args` over slots: `args` of types `arg_types`, a prefix
    /// of what `k` expects.
    ///
    /// # Safety
    /// As for [`Store::resume_raw`].
    pub unsafe fn bind_raw(
        &self,
        k: ContObj,
        args: &[ValRaw],
        arg_types: &[ValType],
    ) -> Result<ContObj, Trap> {
        let c = self.live(k, "bind")?;
        let n = arg_types.len();
        // SAFETY: `live` proved `c` a live ContRef of this store, with inbox
        // room for everything it expects.
        unsafe {
            let exp = (*c).expected;
            if args.len() != n || exp.len() < n || exp[..n] != *arg_types {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "bind arguments do not match the continuation",
                );
            }
            (*c).revision += 1;
            copy_slots(args.as_ptr(), (*c).inbox, n);
            (*c).inbox = (*c).inbox.add(n);
            (*c).expected = &exp[n..];
            Ok(self.handle(c))
        }
    }

    /// `switch target tag args` over slots (see [`Store::switch`]):
    /// `args` of types `arg_types` (what `target` expects before the
    /// continuation it is handed); `result_types` is what this
    /// continuation expects when it is next resumed or switched to, and
    /// those values are written to the front of `results`.
    ///
    /// # Safety
    /// As for [`Store::resume_raw`], for the slots of `args`.
    pub unsafe fn switch_raw(
        &self,
        target: ContObj,
        tag: Tag,
        args: &[ValRaw],
        arg_types: &[ValType],
        result_types: &'static [ValType],
        results: &mut [ValRaw],
    ) -> Result<(), Trap> {
        let (cur, t) = self.switch_entry(target, || {
            if result_types.len() > MAX_VALUES || results.len() < result_types.len() {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "switch has no room for the values it expects",
                );
            }
            Ok(())
        })?;
        if args.len() != arg_types.len() {
            return self.raise(
                TrapKind::SignatureMismatch,
                "switch target does not take these args and a continuation",
            );
        }
        // SAFETY: `live` proved `t` a ContRef of this store, un-consumed;
        // `cur` is the running continuation; the copy writes
        // `arg_types.len()` slots, as many as `args` holds.
        unsafe {
            self.switch_target_takes(t, arg_types)?;
            self.switch_core(
                cur,
                t,
                Handler::key(tag, true),
                arg_types,
                result_types,
                |dest| copy_slots(args.as_ptr(), dest, args.len()),
            )?;
            copy_slots(
                (*cur).values.as_ptr(),
                results.as_mut_ptr(),
                result_types.len(),
            );
            Ok(())
        }
    }

    /// The size of this store's continuation stacks: how deep an
    /// interpreter may let the native frames of its guests grow there.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// The payload of the exception `trap` carries, copied to the front of
    /// `out`, if `trap` is an exception of `tag` and the last this store
    /// threw (see [`Store::exception_payload`]); `None` otherwise, or if
    /// `out` is too short.
    pub fn exception_payload_raw(
        &self,
        trap: &Trap,
        tag: Tag,
        out: &mut [ValRaw],
    ) -> Option<usize> {
        let thrown = matches!(trap.kind(), TrapKind::Exception { tag: t } if t == tag.id);
        let types = self.exception_types.get();
        if !thrown
            || self.exception_tag.get() != tag.id
            || types != tag.params
            || out.len() < types.len()
        {
            return None;
        }
        // SAFETY: no reference into the exception slots is held across
        // calls; `types.len()` slots were written by the throw.
        unsafe {
            copy_slots(
                (*self.exception.get()).as_ptr(),
                out.as_mut_ptr(),
                types.len(),
            )
        };
        Some(types.len())
    }

    /// Records `payload` as the exception of `tag` a continuation's guest
    /// is leaving with: what [`Store::exception_payload_raw`] reads at the
    /// resume that ran it, when its `Err` says `TrapKind::Exception`.
    /// Refused (false) when `payload` is not the tag's params' count.
    ///
    /// # Safety
    /// As for [`Store::resume_raw`], for the slots of `payload`.
    pub unsafe fn set_exception_raw(&self, tag: Tag, payload: &[ValRaw]) -> bool {
        if payload.len() != tag.params.len() {
            return false;
        }
        // SAFETY: the count matches the tag's, at most MAX_VALUES.
        unsafe { self.set_exception(tag, payload) };
        true
    }
}
