//! `suspend` and `switch`: leaving a continuation, the handler search, and
//! the cut that makes the suspended segment.
//!
//! This is the suspender's half of the bookkeeping (see `store`): find the
//! nearest resume whose handler list names the tag, put the payload in the
//! mailbox, cut the segment off the chain, switch through the handler's
//! control context. When the segment is resumed again, control comes back
//! here with values, or with a cancellation or an exception
//! (`interrupted`).

use super::contref::{ContObj, ContRef, Handler, MAX_VALUES, State, Tag, find_handler};
use super::func::{WasmValue, WasmValues};
use super::store::{Store, same_types};
use crate::cont::machine::switch::{ControlEffect, switch, switch_plain, switch_through};
use crate::cont::values::trap::{Trap, TrapKind};
use crate::cont::values::val::{ValRaw, ValType};

impl Store {
    /// `suspend tag payload`: hands control to the nearest enclosing resume
    /// with a suspend handler for `tag`; returns the values the next resume
    /// of this continuation passes. `P` must be the tag's params and `R` its
    /// results, or the suspend traps before anything is switched.
    /// Always inlined, for the reason given at `resume`.
    #[inline(always)]
    pub fn suspend<P: WasmValues, R: WasmValues>(&self, tag: Tag, payload: P) -> Result<R, Trap> {
        let cur = self.current.get();
        // The gate word names this store: a continuation of it runs and no
        // lock is held (`gate.rs`). If not, the checks one by one, in
        // their order: a continuation runs, the types, no lock.
        let open = self.gate_open_for_suspend();
        if !open {
            self.gate_shut(cur, "suspend outside any continuation", false)?;
        }
        if !same_types(tag.params, P::TYPES) {
            return self.raise(
                TrapKind::SignatureMismatch,
                "suspend payload does not match the tag",
            );
        }
        if !same_types(tag.results, R::TYPES) {
            return self.raise(
                TrapKind::SignatureMismatch,
                "suspend result types do not match the tag",
            );
        }
        if !open {
            self.no_lock_held()?;
        }
        // SAFETY: `cur` is the running continuation, no lock is held, and
        // the types checked.
        unsafe { self.suspend_checked(cur, tag.id, payload) }
    }

    /// The body of `suspend` once the types are known to be the tag's (by
    /// the checks above, or by the typed door's types): finds the handler,
    /// cuts the segment, switches.
    ///
    /// # Safety
    /// `cur` is the store's running continuation (non-null), no kernel
    /// lock is held (the caller found the gate open, or checked), and `P`
    /// and `R` are the payload and result types of the tag with id
    /// `tag_id`.
    #[inline(always)]
    pub(crate) unsafe fn suspend_checked<P: WasmValues, R: WasmValues>(
        &self,
        cur: *mut ContRef,
        tag_id: u32,
        payload: P,
    ) -> Result<R, Trap> {
        // SAFETY: forwarded contract; `store` writes `P::TYPES.len()` slots.
        unsafe {
            self.suspend_core(cur, tag_id, P::TYPES, R::TYPES, |dst| payload.store(dst))?;
            // Resumed (or switched to): the resumer checked its values
            // against `expected`, which is `R::TYPES`.
            Ok(R::load((*cur).values.as_ptr()))
        }
    }

    /// `suspend_checked` for a tag of the dynamic door (the raw door's
    /// payload slots): `write` stores the payload into the mailbox.
    ///
    /// # Safety
    /// `cur` is the running continuation, no kernel lock is held, and
    /// `write` writes exactly `tag.params.len()` slots of those types.
    pub(crate) unsafe fn suspend_slots(
        &self,
        cur: *mut ContRef,
        tag: Tag,
        write: impl FnOnce(*mut ValRaw),
    ) -> Result<(), Trap> {
        // SAFETY: forwarded contract.
        unsafe { self.suspend_core(cur, tag.id, tag.params, tag.results, write) }
    }

    /// The checks a suspend or a switch makes when the gate word does not
    /// name its store (`gate.rs`), which it skips when it does: a
    /// continuation runs (`UnhandledTag`, `outside` saying where), then,
    /// with `lock_too`, no kernel lock is held (`LockHeld`). Out of line
    /// and cold, so that the common path keeps one test and one branch.
    #[cold]
    #[inline(never)]
    pub(crate) fn gate_shut(
        &self,
        cur: *mut ContRef,
        outside: &'static str,
        lock_too: bool,
    ) -> Result<(), Trap> {
        if cur.is_null() {
            return self.raise(TrapKind::UnhandledTag, outside);
        }
        if lock_too {
            self.no_lock_held()?;
        }
        Ok(())
    }

    /// The body of every `suspend`: finds the handler, writes the payload,
    /// cuts the segment and switches; back when resumed, `Err` when
    /// cancelled or thrown into. The values sent are then in the mailbox.
    ///
    /// # Safety
    /// `cur` is the running continuation; no kernel lock is held (the
    /// callers' gate test, or their `no_lock_held`); `write` writes
    /// `params.len()` slots of types `params` (at most `MAX_VALUES`).
    #[inline(always)]
    pub(crate) unsafe fn suspend_core(
        &self,
        cur: *mut ContRef,
        tag_id: u32,
        params: &'static [ValType],
        results: &'static [ValType],
        write: impl FnOnce(*mut ValRaw),
    ) -> Result<(), Trap> {
        let key = Handler::key_of(tag_id, false);
        // SAFETY: `cur` is the running continuation (the caller's contract),
        // so its handler list is that of the resume that runs it, still on
        // a stack.
        unsafe {
            // The mailbox is the running continuation's own: nothing reads
            // it until a resume sends values into it, so the payload goes
            // in before the handler is known (a suspend that finds none
            // traps, and the mailbox is written again by the next one).
            write((*cur).values.as_mut_ptr());
            // Suspended from here on: a tick no longer preempts it
            // (`preempt`), whatever point of the suspend it lands at. The
            // state and the tag's id (`suspended_tag`, which
            // `Suspension::take` compares) go in one store: a suspend
            // entry's word (`key`) is laid out as a record's first word
            // (see `Handler`). Written here, not by a helper: a debug
            // build gives each argument of an inlined call a stack slot,
            // and the guest's frame, which the suspend is inlined into,
            // grows with them. A suspend refused further on writes the
            // state back (`preemptible::suspend_refused`); the id it leaves is
            // read only by a `take` of a suspension, which it never makes.
            // SAFETY: the record's first 8 bytes are `state` (a `u8`
            // enum), three bytes of padding and `suspended_tag` (asserted
            // beside `ContRef`, little-endian); `key`'s low byte is
            // `State::Suspended`'s discriminant, a valid `State`, its next
            // three zero, its high half the tag's id; `cur` is live and
            // 8-aligned.
            *(cur as *mut u64) = key;
            let effect = if first_handler_is((*cur).handlers, (*cur).handlers_len, key) {
                // The common case, a suspend to the resume just above whose
                // first handler names the tag: the segment is `cur` alone
                // and the handler index 0, so the compiler knows both, and
                // this path carries its own switch.
                cut_segment(cur, cur, params, results);
                // (A suspend to handler 0 lands plain: no effect is named.)
                switch_plain((*cur).ctx, ControlEffect::RESUME)
            } else {
                self.suspend_far(cur, key, params, results)?
            };
            if effect.discriminant() > ControlEffect::SWITCH_TAG {
                let mut failed = Ok(());
                interrupted(effect, self, &mut failed);
                return failed;
            }
            Ok(())
        }
    }

    /// The rest of a `suspend`, out of line: the handler is further than
    /// the first entry of the resume just above (another entry of it, or
    /// a resume further out). Searches, cuts the segment, switches, and
    /// returns the effect that resumed it; traps when no resume handles
    /// the tag.
    ///
    /// # Safety
    /// As for `suspend_core`, with the payload already in `cur`'s mailbox.
    #[cold]
    #[inline(never)]
    unsafe fn suspend_far(
        &self,
        cur: *mut ContRef,
        key: u64,
        params: &'static [ValType],
        results: &'static [ValType],
    ) -> Result<ControlEffect, Trap> {
        // SAFETY: per the contract.
        unsafe {
            let Some((k, handler)) = search_chain(cur, key) else {
                super::preemptible::suspend_refused(cur);
                return self.raise(
                    TrapKind::UnhandledTag,
                    "no enclosing resume handles the tag",
                );
            };
            // (State `Suspended` and the tag's id: written by `suspend_core`.)
            cut_segment(cur, k, params, results);
            Ok(switch(
                ControlEffect::suspend(handler as u32),
                (*k).ctx,
                ControlEffect::RESUME,
            ))
        }
    }

    /// `switch target tag args`: suspends the running segment up to the
    /// nearest resume with a switch handler for `tag`, and runs `target` in
    /// its place, passing `args` and then the suspended segment's handle.
    /// `target` must expect exactly `A` and a continuation, and its
    /// function must return what the replaced segment's returns (that
    /// resume's results). Returns the values passed when this continuation
    /// is next resumed or switched to: `R` is what it expects then.
    /// Always inlined, for the reason given at `resume`.
    #[inline(always)]
    pub fn switch<A: WasmValues, R: WasmValues>(
        &self,
        target: ContObj,
        tag: Tag,
        args: A,
    ) -> Result<R, Trap> {
        let (cur, t) = self.switch_entry(target, || {
            if R::TYPES.len() > MAX_VALUES {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "switch expects more values than a mailbox holds",
                );
            }
            Ok(())
        })?;
        // SAFETY: `live` proved `t` a ContRef of this store, un-consumed;
        // `cur` is the running continuation; `store` writes `A::TYPES`'s
        // slots.
        unsafe {
            self.switch_target_takes(t, A::TYPES)?;
            self.switch_core(
                cur,
                t,
                Handler::key(tag, true),
                A::TYPES,
                R::TYPES,
                |dest| args.store(dest),
            )?;
            // Resumed or switched to with values checked against `R`.
            Ok(R::load((*cur).values.as_ptr()))
        }
    }

    /// The checks every `switch` makes before its target is looked at, in
    /// one order for both doors: a continuation must be running
    /// (`UnhandledTag`), no kernel lock held (`LockHeld`), then the door's
    /// own check of what it expects back (`room`), then the target's handle
    /// (`Store::live`). Returns the running continuation and the target's
    /// record. (No other store's chain can run: a continuation of this
    /// store does.)
    #[inline(always)]
    pub(crate) fn switch_entry(
        &self,
        target: ContObj,
        room: impl FnOnce() -> Result<(), Trap>,
    ) -> Result<(*mut ContRef, *mut ContRef), Trap> {
        let cur = self.current.get();
        // One test of the gate word on the common path, as in `suspend`.
        if !self.gate_open_for_suspend() {
            self.gate_shut(cur, "switch outside any continuation", true)?;
        }
        room()?;
        let t = self.live(target, "switch")?;
        Ok((cur, t))
    }

    /// Traps unless the switch target `t` expects `arg_types` and then a
    /// continuation: the check of the target's own types that the dynamic
    /// doors make after its handle (`switch_entry`) and before
    /// `switch_core`. A typed target's types are the compiler's to check.
    ///
    /// # Safety
    /// `t` is a live ContRef of this store.
    #[inline(always)]
    pub(crate) unsafe fn switch_target_takes(
        &self,
        t: *mut ContRef,
        arg_types: &[ValType],
    ) -> Result<(), Trap> {
        let n = arg_types.len();
        // SAFETY: per the contract.
        let exp = unsafe { (*t).expected };
        if exp.len() != n + 1 || exp[..n] != *arg_types || exp[n] != ValType::ContRef {
            return self.raise(
                TrapKind::SignatureMismatch,
                "switch target does not take these args and a continuation",
            );
        }
        Ok(())
    }

    /// The `switch` of the typed door (`Tag::switch`): `t` at `revision`
    /// is the record of a typed handle of this store that takes no
    /// arguments but a continuation, so neither the handle's store nor the
    /// target's types are checked here (the compiler did); the checks that
    /// stay are the dynamic door's others, in its order: a continuation
    /// runs, no lock is held, the handle is not used up, then (in
    /// `switch_core`) the handler and the target's result types against
    /// the replaced segment's.
    ///
    /// # Safety
    /// `t` is a ContRef of this store, and a continuation at `revision` of
    /// it expects exactly one continuation.
    #[inline(always)]
    pub(crate) unsafe fn switch_typed<R: WasmValues>(
        &self,
        t: *mut ContRef,
        revision: u64,
        tag_id: u32,
    ) -> Result<R, Trap> {
        let cur = self.current.get();
        // One test of the gate word on the common path, as in `suspend`.
        if !self.gate_open_for_suspend() {
            self.gate_shut(cur, "switch outside any continuation", true)?;
        }
        if R::TYPES.len() > MAX_VALUES {
            return self.raise(
                TrapKind::SignatureMismatch,
                "switch expects more values than a mailbox holds",
            );
        }
        // SAFETY: per the contract `t` is this store's, so readable; at its
        // revision it is live, takes a continuation, and gets our handle.
        unsafe {
            if (*t).revision != revision {
                return self.raise(TrapKind::ConsumedContinuation, "switch");
            }
            self.switch_core(cur, t, Handler::key_of(tag_id, true), &[], R::TYPES, |_| {})?;
            Ok(R::load((*cur).values.as_ptr()))
        }
    }

    /// The body of every `switch` (`Store::switch`, the raw door's
    /// `switch_raw`, the typed door's `switch_typed`), once the running
    /// continuation, the target's handle and its types are known good
    /// (`switch_target_takes`): checks that the target returns what the
    /// segment it replaces returns,
    /// finds the handler, hands the target `write`'s arguments and our
    /// handle, cuts our segment (expecting `expected` when it is next
    /// resumed or switched to) and switches. `key` is the switch tag's
    /// handler key (`Handler::key(tag, true)`). Back with `Ok` when resumed
    /// or switched to (the values are then in our mailbox), `Err` when
    /// cancelled or thrown into.
    ///
    /// # Safety
    /// `cur` is the running continuation and `t` a live (fresh or
    /// suspended) ContRef of this store; `write` writes exactly
    /// `arg_types.len()` slots of those types; `expected` has at most
    /// `MAX_VALUES` types.
    #[inline(always)]
    pub(crate) unsafe fn switch_core(
        &self,
        cur: *mut ContRef,
        t: *mut ContRef,
        key: u64,
        arg_types: &[ValType],
        expected: &'static [ValType],
        write: impl FnOnce(*mut ValRaw),
    ) -> Result<(), Trap> {
        // SAFETY: per the contract; `cur` and its parents are the live
        // running chain (as in `suspend`).
        unsafe {
            // Suspended from here on, as in `suspend_core`.
            (*cur).state = State::Suspended;
            // As in `suspend_core`: the handler in the first entry of the
            // resume just above is the common case, and its path has a copy
            // of the rest with the segment (`cur` alone) known.
            if first_handler_is((*cur).handlers, (*cur).handlers_len, key) {
                return self.switch_to(cur, t, cur, arg_types.len(), expected, write);
            }
            let Some((k, _)) = search_chain(cur, key) else {
                super::preemptible::suspend_refused(cur);
                return self.raise(
                    TrapKind::UnhandledTag,
                    "no enclosing resume has a switch handler for the tag",
                );
            };
            self.switch_to(cur, t, k, arg_types.len(), expected, write)
        }
    }

    /// The rest of `switch_core` once the handler's resume is found in
    /// `k`'s list: the target's result types, the cut, the switch.
    ///
    /// # Safety
    /// As for `switch_core`, with `k` the running chain's record whose
    /// handler list holds the switch tag's entry, `n` the count of
    /// arguments `write` writes.
    #[inline(always)]
    unsafe fn switch_to(
        &self,
        cur: *mut ContRef,
        t: *mut ContRef,
        k: *mut ContRef,
        n: usize,
        expected: &'static [ValType],
        write: impl FnOnce(*mut ValRaw),
    ) -> Result<(), Trap> {
        // SAFETY: per the contract.
        unsafe {
            // The handler's resume gets the results of whatever returns to
            // it, so the target must return what `k` returns.
            let t_outer = (*t).last_ancestor;
            if !same_types((*t_outer).results, (*k).results) {
                super::preemptible::suspend_refused(cur);
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "switch target returns other types than the segment it replaces",
                );
            }
            // The target is consumed and gets args + our handle.
            (*t).revision += 1;
            let dest = (*t).inbox;
            write(dest);
            *dest.add(n) = self.handle(cur).to_raw();
            // Our segment cur..k becomes suspended (`cur` says so since
            // `switch_core`'s first store); a switch sends no payload, and
            // records no tag.
            cut_segment(cur, k, &[], expected);
            // The target's segment takes our segment's place under the
            // handler: its outermost inherits k's parent, handlers and
            // control context (the handler's resume point).
            let t_ctx = (*t_outer).ctx;
            let k_ctx = (*k).ctx;
            (*t_outer).parent = (*k).parent;
            (*t_outer).handlers = (*k).handlers;
            (*t_outer).handlers_len = (*k).handlers_len;
            // Running from the switch on, as a resumed record is.
            (*t).state = State::Running;
            self.current.set(t);
            // The handler's resume point moves into `t_ctx`, ours into
            // `k_ctx`, and control goes where `t_ctx` pointed.
            let effect = switch_through(k_ctx, t_ctx, ControlEffect::RESUME);
            if effect.discriminant() > ControlEffect::SWITCH_TAG {
                let mut failed = Ok(());
                interrupted(effect, self, &mut failed);
                return failed;
            }
            Ok(())
        }
    }
}

/// Whether the first entry of the handler list `list` (`len` entries) is
/// `key`: the handler search's first step, inline on the hot path.
///
/// # Safety
/// `list` holds `len` readable entries.
#[inline(always)]
unsafe fn first_handler_is(list: *const Handler, len: usize, key: u64) -> bool {
    // SAFETY: the first entry is read only when there is one.
    len != 0 && unsafe { (*list).key } == key
}

/// What a pending `suspend` or `switch` returns when its continuation is
/// not resumed with values but cancelled (a drop) or thrown into
/// (`resume_throw`, the tag's id in the effect's high half): `Err` of the
/// trap, written to `out`. The effect is the first argument and the result
/// is not returned (a `Result<_, Trap>` is returned through a hidden
/// pointer, which would take RDI): so the effect stays in RDI, where the
/// switch left it, and the hot path does not copy it aside before its
/// test.
#[cold]
#[inline(never)]
pub(crate) fn interrupted(effect: ControlEffect, store: &Store, out: &mut Result<(), Trap>) {
    *out = if effect.discriminant() == ControlEffect::RESUME_THROW_TAG {
        let tag = effect.handler_index();
        store.raise::<()>(
            TrapKind::Exception { tag },
            "exception thrown at the suspension point",
        )
    } else {
        store.raise::<()>(
            TrapKind::Cancelled,
            "the suspended continuation was dropped",
        )
    };
}

/// The handler search: from the running continuation `cur` out through its
/// parents, the first whose resume's handler list holds `key` (see
/// [`Handler::key`]); that continuation (the outermost of the segment to
/// suspend) and the entry's index. Out of line: `suspend_core` and
/// `switch_core` look at the first entry of `cur`'s own list inline
/// ([`first_handler_is`]) and come here only when it is not the one.
///
/// # Safety
/// `cur` and its parents are live ContRefs of the running chain, each
/// one's handler list that of a resume still on a stack (the one that made
/// it active).
#[cold]
#[inline(never)]
unsafe fn search_chain(cur: *mut ContRef, key: u64) -> Option<(*mut ContRef, usize)> {
    let mut k = cur;
    loop {
        // SAFETY: per the contract.
        unsafe {
            if let Some(i) = find_handler((*k).handlers, (*k).handlers_len, key) {
                return Some((k, i));
            }
            // A member of the chain above `cur`: of the segment to suspend
            // if the search ends here or further out. It says `Running`
            // already (the resume or switch that ran it wrote it), as an
            // inner member of a suspended segment must: the store's drop
            // finds the segments it cancels by their `Suspended`
            // innermost, and `Store::state` and GDB report it as `Parent`.
            k = (*k).parent;
            if k.is_null() {
                return None;
            }
        }
    }
}

/// Marks `cur ..= k` as one suspended segment, its handle naming `cur`
/// (whose state the suspend or switch wrote `Suspended` before it looked
/// for the handler):
/// what `cur` sent (`payload` types, in its mailbox) and what its next
/// resume must send (`expected`, into the mailbox). `k`'s `parent` is
/// left as it was: it means nothing while `k` is suspended, and the next
/// resume of the segment writes it.
///
/// # Safety
/// `cur` is the running continuation and `k` an ancestor of it (or `cur`).
#[inline(always)]
unsafe fn cut_segment(
    cur: *mut ContRef,
    k: *mut ContRef,
    payload: &'static [ValType],
    expected: &'static [ValType],
) {
    // SAFETY: per the contract, `cur` is a live ContRef.
    unsafe {
        (*cur).last_ancestor = k;
        set_types(&raw mut (*cur).payload, payload);
        set_types(&raw mut (*cur).expected, expected);
        (*cur).inbox = (*cur).values.as_mut_ptr();
    }
}

/// Records the type list `types` in `field`. An empty list becomes the
/// empty sub-slice of the one recorded before (`field[..0]`), so only its
/// length is written: the pointer of an empty slice may be any
/// well-aligned one, and it keeps its own. `cut_segment` is inlined where
/// the types are constants (every switch's payload, the generic doors'
/// type lists), and there the test folds away: one store instead of two
/// for each empty list.
///
/// # Safety
/// `field` is a type-list field of a live ContRef.
#[inline(always)]
pub(crate) unsafe fn set_types(field: *mut &'static [ValType], types: &'static [ValType]) {
    // SAFETY: per the contract.
    unsafe {
        if types.is_empty() {
            let before: &'static [ValType] = *field;
            *field = &before[..0];
        } else {
            *field = types;
        }
    }
}
