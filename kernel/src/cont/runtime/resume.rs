//! `cont.new`, `resume` and `cont.bind`: putting a continuation to work.
//!
//! `resume` is the resumer's half of the bookkeeping (see `store`): check
//! the handle and the types, place the arguments, link the segment under
//! the running code, switch; and, when control comes back, read what the
//! effect says happened (`outcome`). `run_segment` is shared with the
//! drop's cancellation and with `resume_throw`, which resume with other
//! effects.

use super::contref::{ContObj, ContRef, Handler, Resumed, State};
use super::func::{Func, FuncRecord, VMContext, WasmValues};
use super::gate::set_running_unlocked;
use super::store::{Store, same_types};
use crate::cont::machine::provider::StackError;
use crate::cont::machine::stack::{self};
use crate::cont::machine::switch::{ControlEffect, switch_then};
use crate::cont::values::trap::{Trap, TrapKind};
use crate::cont::values::val::{ValRaw, ValType};

impl Store {
    /// `cont.new`: a fresh continuation that will run `f`. Traps
    /// (`ForeignFunc`) if `f` was made by another store, live or dropped.
    ///
    /// Inlined down to its two words that matter, the record and the store
    /// id, so that the handle's other words (its types, for
    /// [`Func::params`]) are never copied to make the call.
    #[inline(always)]
    pub fn cont_new(&self, f: Func) -> Result<ContObj, Trap> {
        self.cont_new_of(f.record, f.store)
    }

    /// `cont_new` of the function whose record is `record`, made by the
    /// store with id `store`.
    fn cont_new_of(&self, record: *const FuncRecord, store: u32) -> Result<ContObj, Trap> {
        if self.id == 0 {
            return self.raise(
                TrapKind::TooManyStores,
                "this store was made after every store id was taken",
            );
        }
        // A function belongs to its store: the record of another store's
        // `Func` may be freed (its store dropped), and is read only once
        // its store is known to be this one. Ids are unique per boot but
        // for 0, refused above.
        if store != self.id {
            return self.raise(
                TrapKind::ForeignFunc,
                "a function of another store, or of a store that is gone",
            );
        }
        // SAFETY: a short look at the list's length.
        if unsafe { !(*self.deferred.get()).is_empty() } {
            self.flush_deferred();
        }
        // SAFETY: the record is boxed in this store (its id is ours), which
        // keeps it until it drops.
        let (params, results) = unsafe { ((*record).params, (*record).results) };
        if !stack::fits(self.stack_size, params.len().max(results.len())) {
            return self.raise(
                TrapKind::TooManyArguments,
                "the function's args buffer does not fit on a stack",
            );
        }
        // From here on the free list, the cache and the counts change: no
        // preemption until they are whole again (`preempt`), which only an
        // armed budget can bring (a copy with no section when none is).
        if super::preempt::budget_armed() {
            let _section = crate::sync::counted_section();
            self.cont_new_taking(record, params, results)
        } else {
            self.cont_new_taking(record, params, results)
        }
    }

    /// The rest of `cont_new_of`, its checks passed: a record and a stack
    /// taken, the continuation started in them.
    #[inline(always)]
    fn cont_new_taking(
        &self,
        record: *const FuncRecord,
        params: &'static [ValType],
        results: &'static [ValType],
    ) -> Result<ContObj, Trap> {
        let c = self.take_contref();
        // SAFETY: `c` is a free ContRef of this store: it holds a stack of
        // `stack_size` only if `release` cached one in it.
        if unsafe { !(*c).stack.top().is_null() } {
            self.cached_stacks.set(self.cached_stacks.get() - 1);
            // SAFETY: the cached stack is this store's, idle, and is
            // initialized afresh.
            return unsafe { Ok(self.start_in(c, record, params, results)) };
        }
        // `c` holds no stack (so none is cached): it waits at the head of
        // the free list while the provider runs. The kernel's `allocate`
        // first touches the stack below its caller, and a guest near the
        // bottom of its own stack overflows there, a trap that never comes
        // back here: the record must not be lost with this frame.
        // SAFETY: `c` is ours and unused.
        unsafe { (*c).next_free = self.free.get() };
        self.free.set(c);
        if self.stacks_held.get() >= self.limits.stacks() {
            return self.raise(
                TrapKind::OutOfStacks,
                "the store holds as many stacks as its limit allows (StoreLimits::stacks)",
            );
        }
        // SAFETY: provider calls do not re-enter the store.
        let stack = match unsafe {
            (*self.provider.get()).allocate(self.stack_size, core::ptr::from_ref(self).cast())
        } {
            Ok(stack) => {
                // Nothing took `c` meanwhile: off the free list again.
                // SAFETY: `c` is the head of the free list, a live record.
                self.free.set(unsafe { (*c).next_free });
                stack
            }
            Err(err) => {
                let why = match err {
                    StackError::OutOfMemory => "the stack provider has no stack left",
                    StackError::UnsupportedSize => {
                        "the stack provider does not hand out stacks of this size"
                    }
                };
                return self.raise(TrapKind::OutOfStacks, why);
            }
        };
        debug_assert!(stack.len() >= self.stack_size);
        self.stacks_held.set(self.stacks_held.get() + 1);
        // SAFETY: `c` is free and the stack new and idle.
        unsafe {
            (*c).stack = stack;
            Ok(self.start_in(c, record, params, results))
        }
    }

    /// Makes the free ContRef `c`, with its stack in place, a fresh
    /// continuation of `f`, and returns its handle.
    ///
    /// # Safety
    /// `c` is a free ContRef of this store (nothing points at it but stale
    /// handles, which the revision rejects) holding an idle stack of this
    /// store's size; `record` is the record of a function of this store
    /// with `params` params and `results`.
    #[inline(always)]
    unsafe fn start_in(
        &self,
        c: *mut ContRef,
        record: *const FuncRecord,
        params: &'static [ValType],
        results: &'static [ValType],
    ) -> ContObj {
        // SAFETY: per the contract; `args` lives in `c`, which outlives the
        // stack's use.
        unsafe {
            let args = core::ptr::addr_of_mut!((*c).args);
            (*c).stack.initialize(
                record,
                self as *const Store as *mut VMContext,
                args,
                params.len(),
                results.len(),
            );
            (*c).ctx = (*c).stack.control_context();
            (*c).state = State::Fresh;
            (*c).born = (*c).revision;
            (*c).parent = core::ptr::null_mut();
            (*c).last_ancestor = c;
            (*c).results = results;
            (*c).expected = params;
            (*c).inbox = (*c).args.data;
            // No payload yet: the length alone (`set_types`).
            super::suspend::set_types(&raw mut (*c).payload, &[]);
            self.handle(c)
        }
    }

    /// `resume k args (on ...)*`: runs `k` until it returns or suspends to
    /// one of `handlers` (or a trap ends its chain). `A` must be the types
    /// `k` expects next and `R` the result types of the function whose
    /// return ends `k` (the outermost of its segment); both are checked
    /// before anything is switched, and a mismatch traps.
    ///
    /// Always inlined: the switch clobbers every register, so the function
    /// that contains it must keep whatever its caller holds in callee-saved
    /// registers. Out of line that is a full save and restore of all six
    /// (RBX, RBP, R12 to R15) on each call; inlined, the caller saves them once in its prologue and
    /// spills around the switch only the values it still needs afterwards.
    #[inline(always)]
    pub fn resume<A: WasmValues, R: WasmValues>(
        &self,
        k: ContObj,
        args: A,
        handlers: &[Handler],
    ) -> Result<Resumed<R>, Trap> {
        // SAFETY: `live` returns only live records of this store; the
        // arguments are stored once the types are checked to be `A`, and
        // the inbox has room for `A` values after the bound ones (args
        // buffer capacity or mailbox).
        unsafe {
            let (c, outer) = self.admit(
                || self.live(k, "resume"),
                |c, outer| {
                    if !same_types((*c).expected, A::TYPES) {
                        return self.raise(TrapKind::SignatureMismatch, "resume");
                    }
                    if !same_types((*outer).results, R::TYPES) {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume result types do not match the continuation's function",
                        );
                    }
                    Ok(())
                },
                |c| args.store((*c).inbox),
            )?;
            self.resume_checked(c, outer, handlers)
        }
    }

    /// The switch half of `resume`, after the checks and the arguments.
    ///
    /// # Safety
    /// `c` must be a fresh or suspended ContRef with its arguments in place,
    /// `outer` its `last_ancestor`, and `R` that ContRef's `results`.
    #[inline(always)]
    pub(crate) unsafe fn resume_checked<R: WasmValues>(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
    ) -> Result<Resumed<R>, Trap> {
        // SAFETY: forwarded contract.
        unsafe {
            let (effect, back) = self.run_segment(c, outer, handlers, ControlEffect::RESUME);
            self.outcome(effect, back)
        }
    }

    /// What a resume reports, from the effect that came back and who sent
    /// it (see `run_segment`).
    ///
    /// # Safety
    /// `back` is the live ContRef that sent `effect` to a resume of a
    /// segment whose outermost function returns `R`.
    #[inline(always)]
    pub(crate) unsafe fn outcome<R: WasmValues>(
        &self,
        effect: ControlEffect,
        back: *mut ContRef,
    ) -> Result<Resumed<R>, Trap> {
        // SAFETY: per the contract: `back` is the outermost of the segment
        // we resumed, or a switch target that took its place with the same
        // result types (`switch` checks), so its results are `R`.
        unsafe { self.outcome_with(effect, back, |_, data| R::load(data)) }
    }

    /// The body of every resume's report, whatever door: a suspension's
    /// handle, the results `load` reads from the args buffer of a
    /// continuation that returned (it gets their types too) before the
    /// record is released, or the trap.
    ///
    /// # Safety
    /// `back` is the live ContRef that sent `effect`; `load` reads at most
    /// `back`'s results from the buffer it is given.
    #[inline(always)]
    pub(crate) unsafe fn outcome_with<T>(
        &self,
        effect: ControlEffect,
        back: *mut ContRef,
        load: impl FnOnce(&'static [ValType], *const ValRaw) -> T,
    ) -> Result<Resumed<T>, Trap> {
        // SAFETY: per the contract.
        unsafe {
            // A suspension to handler 0 is the common way back (a
            // generator, a scheduler's task): it comes to the switch's
            // plain landing, where `effect` is a constant and this match
            // folds to its arm. What comes to the effect landing is
            // tested in this order: a return, then a suspension to another
            // handler, then a trap.
            match effect.discriminant() {
                ControlEffect::RETURN_TAG => {
                    let results = load((*back).results, (*back).args.data);
                    (*back).state = State::Returned;
                    self.release(back);
                    Ok(Resumed::Returned(results))
                }
                ControlEffect::SUSPEND_TAG => Ok(Resumed::Suspended {
                    handler: effect.handler_index() as usize,
                    cont: self.handle(back),
                }),
                kind => Err(self.trapped(kind, back)),
            }
        }
    }

    /// Links the segment `c ..= outer` under the running code (its parent
    /// is `current`, its handlers `handlers`), makes `c` current and
    /// switches into `outer`'s control context with `effect`: the body of
    /// `resume` and of a drop's cancellation. Returns the effect that came
    /// back and the ContRef that sent it (returned, suspended or trapped),
    /// with `current` restored.
    ///
    /// In a stress build (the `stress` feature, `docs/interrupts.md`)
    /// every such run is a budgeted one whose preemptions are resumed at
    /// once ([`Store::run_stressed`]); the ordinary build compiles this to
    /// the plain switch alone.
    ///
    /// # Safety
    /// As for `resume_checked`.
    #[inline(always)]
    pub(crate) unsafe fn run_segment(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
        effect: ControlEffect,
    ) -> (ControlEffect, *mut ContRef) {
        // SAFETY: forwarded contract.
        #[cfg(feature = "stress")]
        return unsafe { self.run_stressed(c, outer, handlers, effect) };
        // SAFETY: forwarded contract.
        #[cfg(not(feature = "stress"))]
        unsafe {
            self.run_segment_plain(c, outer, handlers, effect)
        }
    }

    /// `run_segment` without the stress build's budget: the switch and
    /// its bookkeeping, and nothing else. What `resume_for` arms its own
    /// budget around.
    ///
    /// # Safety
    /// As for `resume_checked`.
    #[inline(always)]
    pub(crate) unsafe fn run_segment_plain(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
        effect: ControlEffect,
    ) -> (ControlEffect, *mut ContRef) {
        // SAFETY: forwarded contract.
        unsafe { self.run_segment_then(c, outer, handlers, effect, |effect, back| (effect, back)) }
    }

    /// `run_segment`, going on with `then` of the effect that came back
    /// and who sent it. `then`, with the bookkeeping after the switch, is
    /// compiled once for each landing (`switch_then`), so the two paths
    /// meet only at what `then` returns: `run_segment`'s pair, which the
    /// resume's report (`outcome`) tests at once, and on the plain
    /// landing's path (a suspend to handler 0, the effect a constant) the
    /// compiler folds that test. With the bookkeeping after the paths
    /// met, it kept the effect in memory and tested it.
    ///
    /// # Safety
    /// As for `resume_checked`.
    #[inline(always)]
    pub(crate) unsafe fn run_segment_then<T>(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
        effect: ControlEffect,
        then: impl FnOnce(ControlEffect, *mut ContRef) -> T,
    ) -> T {
        let prev = self.current.get();
        // Set whether or not `prev` is null: inside this store's chain
        // (`prev` a continuation of it) RUNNING names this store already,
        // and a store written is one test and branch fewer than a store
        // tested (admission refused any other store's chain, and a lock
        // held).
        set_running_unlocked(self);
        // SAFETY: `c`, its segment and `prev` are live ContRefs; `outer`'s
        // control context holds the segment's suspension point (or the
        // start trampoline), and `handlers` outlives the switch because
        // this frame stays on the stack until control comes back.
        unsafe {
            (*outer).parent = prev;
            (*outer).handlers = handlers.as_ptr();
            (*outer).handlers_len = handlers.len();
            // `Running` from the switch on, until a suspend or switch of
            // it writes `Suspended` first thing: what tells a tick that it
            // runs its own code, whichever member of a budgeted chain it is
            // (`preemptible::may_preempt_at`). One store; it also makes every
            // member above the innermost an inner member already, should a
            // suspend or a preemption cut the chain further out.
            (*c).state = State::Running;
            self.current.set(c);
            let ctx = (*outer).ctx;
            // A resume's switch site lands plain when it is suspended to
            // handler 0, the common way back.
            switch_then(effect, ctx, ControlEffect::suspend(0), |effect| {
                // Back: `current` is whoever returned, suspended or trapped.
                let back = self.current.get();
                self.current.set(prev);
                if prev.is_null() {
                    // Back at the kernel level: no chain runs. The word is
                    // written whatever it reads: only a trap can come back
                    // with a lock counted (its frames took it; every other
                    // way back checked), and the trap's `forget_held`,
                    // before anything switches again, then finds the
                    // word no longer `LOCKED` and leaves it null.
                    set_running_unlocked(core::ptr::null());
                }
                then(effect, back)
            })
        }
    }

    /// A trap effect (its kind `kind`) came back from `back`: it trapped, and only it (it
    /// switched to its own control context, the resume that ran it, or its
    /// start trampoline did). Frees it and returns its trap (see
    /// `machine_trap`). Locks it took died with its frames; the
    /// resume began with none held (`no_lock_held`).
    ///
    /// # Safety
    /// `back` is the live ContRef that sent the trap effect.
    #[cold]
    pub(crate) unsafe fn trapped(&self, kind: u32, back: *mut ContRef) -> Trap {
        // The pending trap is taken and the record freed in one piece
        // (`preempt`), in a section if a budget is armed (a copy with none
        // when not); `forget_held` ends the sections of the abandoned
        // frames and keeps this one, and `release` nests one of its own.
        // SAFETY: forwarded contract.
        unsafe {
            if super::preempt::budget_armed() {
                let _section = crate::sync::counted_section();
                self.trapped_now(kind, back, true)
            } else {
                self.trapped_now(kind, back, false)
            }
        }
    }

    /// `trapped`'s body, in a section when a budget is armed (then
    /// `in_section`).
    ///
    /// # Safety
    /// As for `trapped`.
    #[inline(always)]
    unsafe fn trapped_now(&self, kind: u32, back: *mut ContRef, in_section: bool) -> Trap {
        // SAFETY: forwarded contract.
        let trap = unsafe { self.machine_trap(kind, back) };
        crate::sync::forget_held(in_section);
        // SAFETY: per the contract; nothing runs on `back` any more.
        unsafe {
            // A continuation that passed its cancellation on was dropped.
            (*back).state = match trap.kind() {
                TrapKind::Cancelled => State::Dropped,
                _ => State::Trapped,
            };
            self.release_now(back);
        }
        trap
    }

    /// The payload a suspended continuation sent with its `suspend`, read
    /// from its mailbox. `k` must be the handle the resume returned, not
    /// yet used (a consumed handle traps), and `P` the tag's payload types.
    /// After a `bind` of one or more values the mailbox holds those values
    /// instead, and this traps as a signature mismatch.
    #[inline]
    pub fn payload<P: WasmValues>(&self, k: ContObj) -> Result<P, Trap> {
        let c = self.live(k, "payload")?;
        // SAFETY: `live` proved `c` a ContRef of this store, un-consumed; a
        // suspended one has `payload.len()` values in its mailbox
        // while nothing has been bound over them (the inbox is still at the
        // mailbox's start).
        unsafe {
            if (*c).state != State::Suspended || (*c).inbox != (*c).values.as_mut_ptr() {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "payload of a continuation that holds none",
                );
            }
            if !same_types((*c).payload, P::TYPES) {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "payload types do not match the suspend's tag",
                );
            }
            Ok(P::load((*c).values.as_ptr()))
        }
    }

    /// `cont.bind k args`: consumes `k` and returns a handle to the same
    /// continuation expecting `args`' count fewer arguments.
    #[inline]
    pub fn bind<A: WasmValues>(&self, k: ContObj, args: A) -> Result<ContObj, Trap> {
        let c = self.live(k, "bind")?;
        let n = A::TYPES.len();
        // SAFETY: `live` proved `c` a ContRef of this store, un-consumed, so
        // fresh or suspended, with inbox room for `expected`.
        unsafe {
            let exp = (*c).expected;
            if exp.len() < n || exp[..n] != *A::TYPES {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "bind arguments do not match the continuation",
                );
            }
            (*c).revision += 1;
            args.store((*c).inbox);
            (*c).inbox = (*c).inbox.add(n);
            (*c).expected = &exp[n..];
            Ok(self.handle(c))
        }
    }
}
