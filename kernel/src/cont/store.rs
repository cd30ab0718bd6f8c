//! The `Store`: the runtime that owns functions, tags and continuations, and
//! implements `cont.new`, `resume`, `suspend`, `switch`, `cont.bind` and drop
//! on top of the stack layout and the switch.
//!
//! One `&Store` is shared by kernel code and by guest code running on
//! continuation stacks (each guest closure receives it). Stack switching
//! means the same store is "borrowed" on several stacks at once, so it can
//! never hand out `&mut`: every method takes `&self`, and the mutable state
//! lives in `Cell`s, `UnsafeCell`s and `ContRef`s reached through raw
//! pointers. The store is single-threaded (`!Send`, `!Sync`) and pinned
//! (guest stacks record its address as their `caller_vmctx`).
//!
//! The bookkeeping is split so that each side of a switch does only what it
//! alone knows, and the hot path (resume, suspend, switch) touches no heap
//! and takes no lock:
//!
//! * the *resumer* checks the handle, places the arguments, links the
//!   segment under itself (`outer.parent`, `outer.handlers`), sets
//!   `current` to the continuation and switches through `outer`'s control
//!   context;
//! * the *suspender* finds the handler, puts its payload in its mailbox,
//!   cuts the segment off (`last_ancestor`, `K_outer.parent = null`) and
//!   switches through `K_outer`'s control context, leaving `current` alone;
//! * back in `resume`, `current` still names whoever came back (the one
//!   that returned, suspended or trapped) and is reset to the resumer's own
//!   continuation.

use super::contref::{ContObj, ContRef, Handler, MAX_VALUES, Resumed, State, Tag, find_handler};
use super::func::{
    ArrayCallFn, DefineError, Func, FuncRecord, VMContext, WasmValue, WasmValues, array_call_shim,
};
use super::provider::{StackError, StackProvider};
use super::stack::{self, ArgsObject, ContStack, ControlContext};
use super::switch::{ControlEffect, frame_pointer, switch};
use super::trap::{Backtrace, Trap, TrapKind};
use super::val::{ValRaw, ValType};
use super::walk::{self, Frame};
use crate::cpu_local::cpu_local;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::cell::{Cell, UnsafeCell};
use core::marker::{PhantomData, PhantomPinned};
use core::pin::Pin;

/// A guest function's record and the closure it calls, kept alive together.
struct FuncEntry {
    _record: Box<FuncRecord>,
    _owner: Option<Box<dyn Any>>,
}

/// Store ids are handed out once each, from 1, so that a handle can never
/// be mistaken for one of another or a later store. They fill the top 24
/// bits of a revision (see `ContObj`): 2^24 - 1 stores per boot. A store
/// made after that gets id 0, which no handle carries: it works for
/// definitions, and its `cont.new` traps (`TrapKind::TooManyStores`).
static NEXT_STORE_ID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(1);

fn next_store_id() -> u32 {
    let id = NEXT_STORE_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    if id < 1 << 24 {
        id
    } else {
        // Keep the counter where it is, so that it never wraps to 1.
        NEXT_STORE_ID.store(1 << 24, core::sync::atomic::Ordering::Relaxed);
        0
    }
}

/// Tag ids are handed out once each across every store, so a handler,
/// which compares ids, only ever catches its own tag, never a tag of
/// another store that happens to have the same number.
static NEXT_TAG: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

cpu_local! {
    /// The store whose chain of continuations runs on this CPU (null: none,
    /// the CPU is on the kernel's own stack). Set by a kernel-level
    /// `resume`, cleared when it comes back. Chains do not mix stores: a
    /// resume of one store while another's chain runs traps
    /// (`TrapKind::OtherStoreRunning`), so a store never has a chain of its
    /// own running on top of stacks another store can free.
    static RUNNING: Cell<*const Store> = Cell::new(core::ptr::null());
}

/// The runtime. See the module documentation.
pub struct Store {
    /// This store's id, in every handle it makes (see `ContObj`).
    id: u32,
    /// The innermost running continuation; null = the kernel's own stack.
    current: Cell<*mut ContRef>,
    /// Free `ContRef`s, linked through `next_free`.
    free: Cell<*mut ContRef>,
    /// Every `ContRef` ever allocated (freed only when the store drops).
    all: UnsafeCell<Vec<*mut ContRef>>,
    funcs: UnsafeCell<Vec<FuncEntry>>,
    provider: UnsafeCell<Box<dyn StackProvider>>,
    stack_size: usize,
    /// A trap on its way from the trapping continuation to the resume that
    /// ran it.
    pending_trap: Cell<Option<Trap>>,
    /// The payload of the exception `resume_throw` raised last, and the
    /// types it was thrown with (the tag's params).
    exception: UnsafeCell<[ValRaw; MAX_VALUES]>,
    exception_types: Cell<&'static [ValType]>,
    /// The id of the tag it was thrown with.
    exception_tag: Cell<u32>,
    /// Handles whose owner dropped them when a cancellation was refused
    /// (a kernel lock held, another store's chain running): cancelled at
    /// the next `cont.new` that can, or when the store drops.
    deferred: UnsafeCell<Vec<ContObj>>,
    /// Where a trapping stack stores its (abandoned) context.
    scratch: UnsafeCell<ControlContext>,
    _pinned: PhantomPinned,
    _not_send_sync: PhantomData<*mut ()>,
}

#[inline]
pub(crate) fn same_types(a: &'static [ValType], b: &'static [ValType]) -> bool {
    a.len() == b.len() && (core::ptr::eq(a, b) || a == b)
}

impl Store {
    /// A store whose continuations get stacks of `stack_size` bytes from
    /// `provider`. Pinned: guest stacks record the store's address.
    pub fn new(provider: impl StackProvider + 'static, stack_size: usize) -> Pin<Box<Store>> {
        Box::pin(Store {
            id: next_store_id(),
            current: Cell::new(core::ptr::null_mut()),
            free: Cell::new(core::ptr::null_mut()),
            all: UnsafeCell::new(Vec::new()),
            funcs: UnsafeCell::new(Vec::new()),
            provider: UnsafeCell::new(Box::new(provider)),
            stack_size,
            pending_trap: Cell::new(None),
            exception: UnsafeCell::new([ValRaw::ZERO; MAX_VALUES]),
            exception_types: Cell::new(&[]),
            exception_tag: Cell::new(u32::MAX),
            deferred: UnsafeCell::new(Vec::new()),
            scratch: UnsafeCell::new(ControlContext {
                rsp: 0,
                rbp: 0,
                rip: 0,
            }),
            _pinned: PhantomPinned,
            _not_send_sync: PhantomData,
        })
    }

    /// The innermost running continuation of this store (null: none).
    #[inline(always)]
    pub(crate) fn running_cont(&self) -> *mut ContRef {
        self.current.get()
    }

    /// Whether the code calling this runs inside a continuation.
    pub fn in_continuation(&self) -> bool {
        !self.current.get().is_null()
    }

    /// Stacks the provider has handed out and not got back.
    pub fn outstanding_stacks(&self) -> usize {
        // SAFETY: a short shared look at the provider; no `&mut` to it is
        // live (provider calls never re-enter the store).
        unsafe { (*self.provider.get()).outstanding() }
    }

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
        let (revision, born, state) = unsafe { ((*c).revision, (*c).born, (*c).state) };
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

    // ----- definitions ---------------------------------------------------

    /// Makes a guest function from a Rust closure. Its signature is `P`'s
    /// and `R`'s; refused if `R` has more than [`MAX_VALUES`] values.
    pub fn func_wrap<P, R, F>(&self, f: F) -> Result<Func, DefineError>
    where
        P: WasmValues,
        R: WasmValues,
        F: Fn(&Store, P) -> Result<R, Trap> + 'static,
    {
        let owner = Box::new(f);
        let vmctx = &*owner as *const F as *mut VMContext;
        // SAFETY: `vmctx` is the boxed closure, kept alive next to the
        // record; `array_call_shim::<P, R, F>` expects exactly that.
        unsafe {
            self.define(
                array_call_shim::<P, R, F>,
                vmctx,
                P::TYPES,
                R::TYPES,
                Some(owner),
            )
        }
    }

    /// Makes a guest function from a raw array-call entry point.
    ///
    /// # Safety
    /// `array_call` must follow the array-call convention for `params` and
    /// `results`, and accept `callee_vmctx` for as long as the store lives.
    pub unsafe fn func_new_raw(
        &self,
        array_call: ArrayCallFn,
        callee_vmctx: *mut VMContext,
        params: &'static [ValType],
        results: &'static [ValType],
    ) -> Result<Func, DefineError> {
        // SAFETY: forwarded contract.
        unsafe { self.define(array_call, callee_vmctx, params, results, None) }
    }

    unsafe fn define(
        &self,
        array_call: ArrayCallFn,
        callee_vmctx: *mut VMContext,
        params: &'static [ValType],
        results: &'static [ValType],
        owner: Option<Box<dyn Any>>,
    ) -> Result<Func, DefineError> {
        if results.len() > MAX_VALUES {
            return Err(DefineError::TooManyValues {
                count: results.len(),
                max: MAX_VALUES,
            });
        }
        let record = Box::new(FuncRecord {
            array_call,
            callee_vmctx,
            params,
            results,
        });
        let func = Func(&*record);
        // SAFETY: no reference into `funcs` is ever held across calls.
        unsafe {
            (*self.funcs.get()).push(FuncEntry {
                _record: record,
                _owner: owner,
            })
        };
        Ok(func)
    }

    /// Makes a tag with a unique identity. Refused if its payload or results
    /// exceed [`MAX_VALUES`] values.
    pub fn tag_new(
        &self,
        params: &'static [ValType],
        results: &'static [ValType],
    ) -> Result<Tag, DefineError> {
        let count = params.len().max(results.len());
        if count > MAX_VALUES {
            return Err(DefineError::TooManyValues {
                count,
                max: MAX_VALUES,
            });
        }
        let id = NEXT_TAG.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        if id == u32::MAX {
            NEXT_TAG.store(u32::MAX, core::sync::atomic::Ordering::Relaxed);
            return Err(DefineError::TooManyTags);
        }
        Ok(Tag {
            id,
            params,
            results,
        })
    }

    // ----- traps ---------------------------------------------------------

    /// Raises a trap at the caller: an `Err` with a backtrace from here and,
    /// inside a continuation, that continuation as its origin. The caller
    /// (kernel or guest code) decides what to do with it.
    #[cold]
    #[inline(never)]
    pub(crate) fn raise<T>(&self, kind: TrapKind, message: &'static str) -> Result<T, Trap> {
        self.raise_trap(Trap::new(kind, message))
    }

    /// [`Store::raise`] of a trap already made.
    #[cold]
    #[inline(never)]
    fn raise_trap<T>(&self, mut trap: Trap) -> Result<T, Trap> {
        trap.set_backtrace(self.capture_backtrace(frame_pointer()));
        let c = self.current.get();
        if !c.is_null() {
            // SAFETY: the running continuation is a live ContRef.
            trap.set_origin(unsafe { (*c).stack.top() } as usize);
        }
        Err(trap)
    }

    /// Ends the running continuation with `trap`: records it and switches,
    /// with the trap effect, to where the continuation would return to (its
    /// control context: the `resume` or `switch` that ran it). That resume
    /// frees it and returns `Err(trap)`, one parent up; the frames on this
    /// stack are abandoned.
    ///
    /// # Safety
    /// A continuation must be running (`current` non-null), and this code
    /// must run on its stack.
    unsafe fn unwind(&self, mut trap: Trap) -> ! {
        // SAFETY: `current` is a live, active ContRef (the caller's
        // contract), so its control context holds its parent's resume
        // point. Nobody ever loads `scratch`.
        unsafe {
            let cur = self.current.get();
            if trap.origin() == 0 {
                trap.set_origin((*cur).stack.top() as usize);
            }
            self.pending_trap.set(Some(trap));
            let ctx = (*cur).stack.control_context();
            switch(ControlEffect::TRAP, self.scratch.get(), ctx);
        }
        unreachable!("a trapped stack was resumed")
    }

    /// Called by the shim when a guest closure returns `Err(trap)`.
    pub(crate) fn record_guest_trap(&self, mut trap: Trap) {
        if trap.backtrace().frames().is_empty() {
            trap.set_backtrace(self.capture_backtrace(frame_pointer()));
        }
        self.pending_trap.set(Some(trap));
    }

    /// Called by the entry when the array call returned `false`.
    #[cold]
    fn guest_failed(&self) -> ! {
        let trap = match self.pending_trap.take() {
            Some(trap) => trap,
            None => {
                let mut trap = Trap::new(TrapKind::GuestFailure, "guest function reported failure");
                trap.set_backtrace(self.capture_backtrace(frame_pointer()));
                trap
            }
        };
        // SAFETY: the entry runs on a continuation stack: `current` is set.
        unsafe { self.unwind(trap) }
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
    fn raise_lock_held<T>(&self) -> Result<T, Trap> {
        let lock = crate::sync::innermost_held().unwrap_or("kernel");
        self.raise(TrapKind::LockHeld, lock)
    }

    /// Walks frame records from `start_fp`, innermost first, calling
    /// `visit` until it returns false; see [`super::walk`].
    ///
    /// # Safety
    /// Outside a continuation, `start_fp` is the frame pointer of a live
    /// frame on the stack this code runs on: there the walk follows saved
    /// frame pointers with no bounds it can check. (Inside a continuation
    /// every read is checked against its stack, and any value is safe.)
    /// [`Store::walk_here`] is the safe way in.
    pub unsafe fn walk_frames(&self, start_fp: usize, visit: impl FnMut(Frame) -> bool) {
        // SAFETY: `current` is null or the innermost live ContRef of the
        // running chain, whose parents are live too; `start_fp` per the
        // contract.
        unsafe { walk::walk(self.current.get(), start_fp, visit) }
    }

    /// Walks the frames of the caller, innermost first, across
    /// continuation stacks into their parents (see [`super::walk`]),
    /// calling `visit` until it returns false.
    #[inline(never)]
    pub fn walk_here(&self, visit: impl FnMut(Frame) -> bool) {
        // SAFETY: this function's own frame pointer, on the stack it runs on.
        unsafe { self.walk_frames(frame_pointer(), visit) }
    }

    fn capture_backtrace(&self, fp: usize) -> Backtrace {
        let mut bt = Backtrace::EMPTY;
        // SAFETY: every caller passes its own frame pointer.
        unsafe { self.walk_frames(fp, |f| bt.push(f.return_address)) };
        bt
    }

    // ----- ContRef pool --------------------------------------------------

    fn take_contref(&self) -> *mut ContRef {
        let c = self.free.get();
        if !c.is_null() {
            // SAFETY: free-list entries are live ContRefs owned by the store.
            self.free.set(unsafe { (*c).next_free });
            return c;
        }
        let c = Box::into_raw(Box::new(ContRef::new(self.id)));
        // SAFETY: no reference into `all` is held across calls.
        unsafe { (*self.all.get()).push(c) };
        c
    }

    /// Gives `c`'s stack back to the provider and `c` to the free list.
    ///
    /// # Safety
    /// `c` must be a ContRef of this store that nothing runs on any more.
    pub(crate) unsafe fn release(&self, c: *mut ContRef) {
        // SAFETY: per the contract `c` is ours and dead; provider calls do
        // not re-enter the store.
        unsafe {
            let stack = core::mem::replace(&mut (*c).stack, ContStack::UNALLOCATED);
            (*self.provider.get()).free(stack);
            (*c).parent = core::ptr::null_mut();
            (*c).handlers = core::ptr::null();
            (*c).handlers_len = 0;
            (*c).next_free = self.free.get();
        }
        self.free.set(c);
    }

    // ----- operations ----------------------------------------------------

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
    fn flush_deferred(&self) {
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

    /// `cont.new`: a fresh continuation that will run `f`.
    pub fn cont_new(&self, f: Func) -> Result<ContObj, Trap> {
        if self.id == 0 {
            return self.raise(
                TrapKind::TooManyStores,
                "this store was made after every store id was taken",
            );
        }
        // SAFETY: a short look at the list's length.
        if unsafe { !(*self.deferred.get()).is_empty() } {
            self.flush_deferred();
        }
        // SAFETY: a Func is a record boxed in this store.
        let (params, results) = unsafe { ((*f.0).params, (*f.0).results) };
        if !stack::fits(self.stack_size, params.len().max(results.len())) {
            return self.raise(
                TrapKind::TooManyArguments,
                "the function's args buffer does not fit on a stack",
            );
        }
        let c = self.take_contref();
        // SAFETY: provider calls do not re-enter the store.
        let stack = match unsafe { (*self.provider.get()).allocate(self.stack_size, self) } {
            Ok(stack) => stack,
            Err(err) => {
                // SAFETY: `c` is ours and unused: back on the free list.
                unsafe { (*c).next_free = self.free.get() };
                self.free.set(c);
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
        // SAFETY: `c` is a free ContRef (nothing points at it but stale
        // handles, which the revision rejects); the stack is new and idle;
        // `args` lives in `c`, which outlives the stack's use.
        unsafe {
            (*c).stack = stack;
            let args = core::ptr::addr_of_mut!((*c).args);
            (*c).stack.initialize(
                f.0,
                self as *const Store as *mut VMContext,
                args,
                params.len(),
                results.len(),
            );
            (*c).state = State::Fresh;
            (*c).born = (*c).revision;
            (*c).parent = core::ptr::null_mut();
            (*c).last_ancestor = c;
            (*c).results = results;
            (*c).expected = params;
            (*c).inbox = (*c).args.data;
            (*c).bound = 0;
            (*c).payload = &[];
            Ok(self.handle(c))
        }
    }

    /// The ContRef a handle names, if the handle is this store's (the id in
    /// its revision; see `ContObj`), whatever its revision otherwise.
    /// Nothing of the handle is followed before that check.
    #[inline(always)]
    fn lookup(&self, k: ContObj) -> Option<*mut ContRef> {
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

    /// Checks that `k` is live and expects exactly `types` next.
    #[inline(always)]
    fn check(
        &self,
        k: ContObj,
        types: &'static [ValType],
        what: &'static str,
    ) -> Result<*mut ContRef, Trap> {
        let c = self.live(k, what)?;
        // SAFETY: `live` proved `c` a ContRef of this store.
        if !same_types(unsafe { (*c).expected }, types) {
            return self.raise(TrapKind::SignatureMismatch, what);
        }
        Ok(c)
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
        let c = self.check(k, A::TYPES, "resume")?;
        // SAFETY: `check` proved `c` live and fresh-or-suspended, so its
        // `last_ancestor` is the live outermost ContRef of its segment.
        unsafe {
            if !same_types((*(*c).last_ancestor).results, R::TYPES) {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "resume result types do not match the continuation's function",
                );
            }
            self.no_lock_held()?;
            self.no_other_store_running()?;
            self.resume_live(c, args, handlers)
        }
    }

    /// The body of `resume` once the handle is known live, the types right
    /// (by the checks above, or by the typed door's types) and the switch
    /// allowed (no kernel lock held, no other store's chain running): the
    /// one-shot revision bump, the arguments, the switch.
    ///
    /// # Safety
    /// `c` is a live (fresh or suspended) ContRef of this store that
    /// expects `A` next, `R` is the result types of its segment's
    /// outermost function, and `no_lock_held` and `no_other_store_running`
    /// have just passed.
    #[inline(always)]
    pub(crate) unsafe fn resume_live<A: WasmValues, R: WasmValues>(
        &self,
        c: *mut ContRef,
        args: A,
        handlers: &[Handler],
    ) -> Result<Resumed<R>, Trap> {
        // SAFETY: per the contract; its inbox has room for `bound + A`
        // values (args buffer capacity or mailbox).
        unsafe {
            let outer = (*c).last_ancestor;
            (*c).revision += 1;
            args.store((*c).inbox.add((*c).bound));
            self.resume_checked(c, outer, handlers)
        }
    }

    /// The switch half of `resume`, after the checks and the arguments.
    ///
    /// # Safety
    /// `c` must be a fresh or suspended ContRef with its arguments in place,
    /// `outer` its `last_ancestor`, and `R` that ContRef's `results`.
    #[inline(always)]
    unsafe fn resume_checked<R: WasmValues>(
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
    unsafe fn outcome<R: WasmValues>(
        &self,
        effect: ControlEffect,
        back: *mut ContRef,
    ) -> Result<Resumed<R>, Trap> {
        // SAFETY: per the contract.
        unsafe {
            match effect.discriminant() {
                ControlEffect::SUSPEND_TAG => Ok(Resumed::Suspended {
                    handler: effect.handler_index() as usize,
                    cont: self.handle(back),
                }),
                ControlEffect::RETURN_TAG => {
                    // `back` is the outermost of the segment we resumed, or
                    // a switch target that took its place with the same
                    // result types (`switch` checks): its results are `R`.
                    let results = R::load((*back).args.data);
                    (*back).state = State::Returned;
                    self.release(back);
                    Ok(Resumed::Returned(results))
                }
                _ => Err(self.trapped(back)),
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
        let prev = self.current.get();
        if prev.is_null() {
            RUNNING.set(self);
        }
        // SAFETY: `c`, its segment and `prev` are live ContRefs; `outer`'s
        // control context holds the segment's suspension point (or the
        // start trampoline), and `handlers` outlives the switch because
        // this frame stays on the stack until control comes back.
        unsafe {
            (*outer).parent = prev;
            (*outer).handlers = handlers.as_ptr();
            (*outer).handlers_len = handlers.len();
            if !prev.is_null() {
                (*prev).state = State::Parent;
            }
            (*c).state = State::Running;
            self.current.set(c);
            let ctx = (*outer).stack.control_context();
            let effect = switch(effect, ctx, ctx);

            // Back: `current` is whoever returned, suspended or trapped.
            let back = self.current.get();
            self.current.set(prev);
            if prev.is_null() {
                RUNNING.set(core::ptr::null());
            } else {
                (*prev).state = State::Running;
            }
            (effect, back)
        }
    }

    /// The trap effect came back from `back`: it trapped, and only it (it
    /// switched to its own control context, the resume that ran it). Frees
    /// it and returns its trap. Locks it took died with its frames; the
    /// resume began with none held (`no_lock_held`).
    ///
    /// # Safety
    /// `back` is the live ContRef that sent the trap effect.
    #[cold]
    pub(crate) unsafe fn trapped(&self, back: *mut ContRef) -> Trap {
        crate::sync::forget_held();
        let trap = self
            .pending_trap
            .take()
            .unwrap_or(Trap::new(TrapKind::GuestFailure, "trap"));
        // SAFETY: per the contract; nothing runs on `back` any more.
        unsafe {
            // A continuation that passed its cancellation on was dropped.
            (*back).state = match trap.kind() {
                TrapKind::Cancelled => State::Dropped,
                _ => State::Trapped,
            };
            self.release(back);
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
        // while nothing has been bound over them (`bound == 0`).
        unsafe {
            if (*c).state != State::Suspended || (*c).bound != 0 {
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

    /// `suspend tag payload`: hands control to the nearest enclosing resume
    /// with a suspend handler for `tag`; returns the values the next resume
    /// of this continuation passes. `P` must be the tag's params and `R` its
    /// results, or the suspend traps before anything is switched.
    /// Always inlined, for the reason given at `resume`.
    #[inline(always)]
    pub fn suspend<P: WasmValues, R: WasmValues>(&self, tag: Tag, payload: P) -> Result<R, Trap> {
        let cur = self.current.get();
        if cur.is_null() {
            return self.raise(TrapKind::UnhandledTag, "suspend outside any continuation");
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
        // SAFETY: `cur` is the running continuation and the types checked.
        unsafe { self.suspend_checked(cur, tag.id, payload) }
    }

    /// The body of `suspend` once the types are known to be the tag's (by
    /// the checks above, or by the typed door's types): finds the handler,
    /// cuts the segment, switches.
    ///
    /// # Safety
    /// `cur` is the store's running continuation (non-null), and `P` and
    /// `R` are the payload and result types of the tag with id `tag_id`.
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
    /// `cur` is the running continuation and `write` writes exactly
    /// `tag.params.len()` slots of those types.
    pub(crate) unsafe fn suspend_slots(
        &self,
        cur: *mut ContRef,
        tag: Tag,
        write: impl FnOnce(*mut ValRaw),
    ) -> Result<(), Trap> {
        // SAFETY: forwarded contract.
        unsafe { self.suspend_core(cur, tag.id, tag.params, tag.results, write) }
    }

    /// The body of every `suspend`: finds the handler, writes the payload,
    /// cuts the segment and switches; back when resumed, `Err` when
    /// cancelled or thrown into. The values sent are then in the mailbox.
    ///
    /// # Safety
    /// `cur` is the running continuation; `write` writes `params.len()`
    /// slots of types `params` (at most `MAX_VALUES`).
    #[inline(always)]
    unsafe fn suspend_core(
        &self,
        cur: *mut ContRef,
        tag_id: u32,
        params: &'static [ValType],
        results: &'static [ValType],
        write: impl FnOnce(*mut ValRaw),
    ) -> Result<(), Trap> {
        self.no_lock_held()?;
        let key = Handler::key_of(tag_id, false);
        // SAFETY: `cur` and its parents are live ContRefs of the running
        // chain, and each one's handler list belongs to a resume that is
        // still on a stack (it is the one that made it active).
        unsafe {
            let mut k = cur;
            let handler = loop {
                if let Some(i) = find_handler((*k).handlers, (*k).handlers_len, key) {
                    break i;
                }
                k = (*k).parent;
                if k.is_null() {
                    return self.raise(
                        TrapKind::UnhandledTag,
                        "no enclosing resume handles the tag",
                    );
                }
            };
            write((*cur).values.as_mut_ptr());
            (*cur).state = State::Suspended;
            (*cur).last_ancestor = k;
            (*cur).payload = params;
            (*cur).expected = results;
            (*cur).inbox = (*cur).values.as_mut_ptr();
            (*cur).bound = 0;
            (*k).parent = core::ptr::null_mut();
            let ctx = (*k).stack.control_context();
            let effect = switch(ControlEffect::suspend(handler as u32), ctx, ctx);
            if effect.discriminant() > ControlEffect::SWITCH_TAG {
                return self.interrupted(effect);
            }
            Ok(())
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
        let cur = self.current.get();
        if cur.is_null() {
            return self.raise(TrapKind::UnhandledTag, "switch outside any continuation");
        }
        self.no_lock_held()?;
        if R::TYPES.len() > MAX_VALUES {
            return self.raise(
                TrapKind::SignatureMismatch,
                "switch expects more values than a mailbox holds",
            );
        }
        let t = self.live(target, "switch")?;
        let n = A::TYPES.len();
        let key = Handler::key(tag, true);
        // SAFETY: `live` proved `t` a ContRef of this store, un-consumed; `cur`
        // and its parents are the live running chain (as in `suspend`).
        unsafe {
            let exp = (*t).expected;
            if exp.len() != n + 1 || exp[..n] != *A::TYPES || exp[n] != ValType::ContRef {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "switch target does not take these args and a continuation",
                );
            }
            let mut k = cur;
            while find_handler((*k).handlers, (*k).handlers_len, key).is_none() {
                k = (*k).parent;
                if k.is_null() {
                    return self.raise(
                        TrapKind::UnhandledTag,
                        "no enclosing resume has a switch handler for the tag",
                    );
                }
            }
            // The handler's resume gets the results of whatever returns to
            // it, so the target must return what `k` returns.
            let t_outer = (*t).last_ancestor;
            if !same_types((*t_outer).results, (*k).results) {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "switch target returns other types than the segment it replaces",
                );
            }
            // The target is consumed and gets args + our handle.
            (*t).revision += 1;
            let dest = (*t).inbox.add((*t).bound);
            args.store(dest);
            *dest.add(n) = self.handle(cur).to_raw();
            // Our segment cur..k becomes suspended.
            (*cur).state = State::Suspended;
            (*cur).last_ancestor = k;
            (*cur).payload = &[];
            (*cur).expected = R::TYPES;
            (*cur).inbox = (*cur).values.as_mut_ptr();
            (*cur).bound = 0;
            // The target's segment takes our segment's place under the
            // handler: its outermost inherits k's parent, handlers and
            // control context (the handler's resume point).
            let t_ctx = (*t_outer).stack.control_context();
            let k_ctx = (*k).stack.control_context();
            let target_ctx = *t_ctx;
            *t_ctx = *k_ctx;
            (*t_outer).parent = (*k).parent;
            (*t_outer).handlers = (*k).handlers;
            (*t_outer).handlers_len = (*k).handlers_len;
            (*k).parent = core::ptr::null_mut();
            (*t).state = State::Running;
            self.current.set(t);
            let effect = switch(ControlEffect::SWITCH, k_ctx, &target_ctx);
            if effect.discriminant() > ControlEffect::SWITCH_TAG {
                return self.interrupted(effect);
            }
            // Resumed or switched to with values checked against `R`.
            Ok(R::load((*cur).values.as_ptr()))
        }
    }

    /// `cont.bind k args`: consumes `k` and returns a handle to the same
    /// continuation expecting `args`' count fewer arguments.
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
            args.store((*c).inbox.add((*c).bound));
            (*c).bound += n;
            (*c).expected = &exp[n..];
            Ok(self.handle(c))
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
    unsafe fn cancel(&self, c: *mut ContRef) -> Result<(), Trap> {
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

    /// What a pending `suspend` or `switch` returns when its continuation
    /// is not resumed with values but cancelled (a drop) or thrown into
    /// (`resume_throw`, the tag's id in the effect's low half).
    #[cold]
    #[inline(never)]
    fn interrupted<T>(&self, effect: ControlEffect) -> Result<T, Trap> {
        if effect.discriminant() == ControlEffect::RESUME_THROW_TAG {
            let tag = effect.handler_index();
            self.raise(
                TrapKind::Exception { tag },
                "exception thrown at the suspension point",
            )
        } else {
            self.raise(
                TrapKind::Cancelled,
                "the suspended continuation was dropped",
            )
        }
    }

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
        let c = self.live(k, "resume_throw")?;
        self.no_lock_held()?;
        self.no_other_store_running()?;
        if !same_types(tag.params, P::TYPES) {
            return self.raise(
                TrapKind::SignatureMismatch,
                "resume_throw payload does not match the tag",
            );
        }
        // SAFETY: `live` proved `c` a live ContRef of this store, so fresh
        // or suspended, with a live outermost `last_ancestor`.
        unsafe {
            let outer = (*c).last_ancestor;
            if !same_types((*outer).results, R::TYPES) {
                return self.raise(
                    TrapKind::SignatureMismatch,
                    "resume_throw result types do not match the continuation's function",
                );
            }
            (*c).revision += 1;
            payload.store((*self.exception.get()).as_mut_ptr());
            self.exception_types.set(tag.params);
            self.exception_tag.set(tag.id);
            // (The raw door writes the same fields: `set_exception`.)
            if (*c).state == State::Fresh {
                // Its function never runs: the exception is the end of it.
                (*c).state = State::Trapped;
                self.release(c);
                return self.raise(
                    TrapKind::Exception { tag: tag.id },
                    "exception thrown into a fresh continuation",
                );
            }
            let effect = ControlEffect::new(ControlEffect::RESUME_THROW_TAG, tag.id);
            let (effect, back) = self.run_segment(c, outer, handlers, effect);
            self.outcome(effect, back)
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

    /// Traps if a continuation of another store runs on this CPU: stores
    /// do not nest (see `RUNNING`).
    #[inline(always)]
    pub(crate) fn no_other_store_running(&self) -> Result<(), Trap> {
        // Another store's chain runs on this CPU: RUNNING names a store
        // that is not this one (when it is this one, we are in our chain).
        let running = RUNNING.get();
        if !running.is_null() && !core::ptr::eq(running, self) {
            return self.raise(
                TrapKind::OtherStoreRunning,
                "resume while another store's continuation runs on this CPU",
            );
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
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
        // SAFETY: `&mut self`: nothing runs on any continuation stack (a
        // running chain borrows the store), so every ContRef is dead.
        unsafe {
            let provider = &mut *self.provider.get();
            for &c in (*self.all.get()).iter() {
                if !(*c).stack.top().is_null() {
                    provider.free(core::mem::replace(&mut (*c).stack, ContStack::UNALLOCATED));
                }
                drop(Box::from_raw(c));
            }
        }
    }
}

/// The Rust half of the start trampoline: runs the guest function over the
/// args buffer, then records that the results are there. On a guest
/// failure it never returns (the chain traps).
///
/// # Safety
/// Only the start trampoline calls this, with the launch words written by
/// [`ContStack::initialize`].
pub(crate) unsafe extern "C" fn cont_entry(
    return_value_count: usize,
    args: *mut ArgsObject,
    caller_vmctx: *mut VMContext,
    func_ref: *const FuncRecord,
) {
    // SAFETY: the launch words point at the function record and args object
    // of this continuation's ContRef, and at its store, all alive while it
    // runs; the args buffer holds `capacity` slots.
    unsafe {
        let f = &*func_ref;
        if !(f.array_call)(
            f.callee_vmctx,
            caller_vmctx,
            (*args).data,
            (*args).capacity as usize,
        ) {
            (*(caller_vmctx as *const Store)).guest_failed();
        }
        if crate::sync::held() != 0 {
            // The guest returns holding a lock (a guard it forgot): ending
            // the continuation would leave it taken by code that is gone.
            let store = &*(caller_vmctx as *const Store);
            if let Err(trap) = store.raise_lock_held::<()>() {
                store.unwind(trap);
            }
        }
        (*args).length = return_value_count as u32;
    }
}

/// Turns a CPU fault (or a panic) in guest code into a trap of the running
/// continuation: it is ended, and `Err(trap)` comes out of the `resume`
/// that ran it, one parent up.
/// The backtrace starts at `fault_rip` and walks from `fault_rbp` (the
/// interrupted RBP). Interrupts stay as the caller left them.
///
/// # Safety
/// `store` must be the store that owns the stack the fault happened on (the
/// kernel's stack pool records it per slot), with a continuation running;
/// the fault must have happened in that continuation's code (on its stack),
/// and the caller's own stack is
/// abandoned (e.g. an IST stack that the next fault resets).
pub unsafe fn trap_current(
    store: *const Store,
    mut trap: Trap,
    fault_rip: Option<usize>,
    fault_rbp: usize,
) -> ! {
    // SAFETY: per the contract, `store` is alive and inside a chain.
    let store = unsafe { &*store };
    assert!(
        store.in_continuation(),
        "trap_current outside a continuation"
    );
    let mut bt = Backtrace::EMPTY;
    if let Some(rip) = fault_rip {
        bt.push(rip);
    }
    // SAFETY: the interrupted frame pointer of code on the running
    // continuation's stack (the caller's contract).
    unsafe { store.walk_frames(fault_rbp, |f| bt.push(f.return_address)) };
    trap.set_backtrace(bt);
    // SAFETY: a continuation is running (asserted).
    unsafe { store.unwind(trap) }
}
