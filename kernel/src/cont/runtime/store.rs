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
//!   cuts the segment off (`last_ancestor`; `K_outer.parent` is left for
//!   the next resume to write) and
//!   switches through `K_outer`'s control context, leaving `current` alone;
//! * back in `resume`, `current` still names whoever came back (the one
//!   that returned, suspended or trapped) and is reset to the resumer's own
//!   continuation.
//!
//! This file holds the store itself: its fields, the ids it hands out,
//! definitions (functions, tags), the records of continuations and their
//! free list. The operations are each in a module of their own, as
//! `impl Store` blocks: `handles` (the checks every handle goes through),
//! `admission` (the one way into a continuation, its checks in one order),
//! `resume` (`cont.new`, `resume`, `cont.bind`), `suspend` (`suspend`,
//! `switch`, the handler search), `cancel` (drop), `throw`
//! (`resume_throw`), `raise` (raising, unwinding one parent up, the trap a
//! guest's bad end becomes), `backtrace` (walks across the chain).

use super::contref::{ContObj, ContRef, MAX_VALUES, Tag};
use super::func::{
    ArrayCallFn, DefineError, Func, FuncRecord, VMContext, WasmValues, array_call_shim,
};
use super::limits::{Limits, StoreLimits};
use super::registry;
use crate::cont::machine::provider::StackProvider;
use crate::cont::machine::stack::ContStack;
use crate::cont::values::trap::Trap;
use crate::cont::values::val::{ValRaw, ValType};
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
    /// Whether dropping the closure runs code of its own (its type has
    /// drop glue: a captured `Vec`, an `Rc`, a value with a `Drop`), as
    /// `core::mem::needs_drop` tells when it is wrapped. Only such drops
    /// need a stack of the store (`drop_closures`); the others only give
    /// their box back.
    guest_drop: bool,
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
    /// The continuation the innermost `resume_for` runs; null when no
    /// budget is armed (`preempt`). Written by `resume_for` (and restored
    /// when it returns) and by a preemption; read by the tick, and by every
    /// `sync::no_preempt` section, which counts only while a budget is
    /// armed. One RIP-relative access away, like the gate word
    /// (`gate.rs`).
    pub(crate) static ARMED: Cell<*mut ContRef> = Cell::new(core::ptr::null_mut());
}

/// The runtime. See the module documentation.
pub struct Store {
    /// This store's id, in every handle it makes (see `ContObj`).
    pub(crate) id: u32,
    /// The innermost running continuation; null = the kernel's own stack.
    pub(crate) current: Cell<*mut ContRef>,
    /// Free `ContRef`s, linked through `next_free`. The first
    /// `cached_stacks` of them (up to [`STACK_CACHE`]) still hold the stack
    /// of the continuation that ended in them (see `release`).
    pub(crate) free: Cell<*mut ContRef>,
    /// How many free `ContRef`s hold a stack.
    pub(crate) cached_stacks: Cell<usize>,
    /// How many stacks this store has from its provider (cached or not).
    pub(crate) stacks_held: Cell<usize>,
    /// Every `ContRef` ever allocated (freed only when the store drops).
    pub(crate) all: UnsafeCell<Vec<*mut ContRef>>,
    funcs: UnsafeCell<Vec<FuncEntry>>,
    /// While the store drops: the function entries whose closures are
    /// still to be dropped, on one of the store's own stacks
    /// (`drop_closures`). Empty otherwise.
    dying: UnsafeCell<Vec<FuncEntry>>,
    pub(crate) provider: UnsafeCell<Box<dyn StackProvider>>,
    pub(crate) stack_size: usize,
    /// A trap on its way from the trapping continuation to the resume that
    /// ran it.
    pub(crate) pending_trap: Cell<Option<Trap>>,
    /// The payload of the exception `resume_throw` raised last, and the
    /// types it was thrown with (the tag's params).
    pub(crate) exception: UnsafeCell<[ValRaw; MAX_VALUES]>,
    pub(crate) exception_types: Cell<&'static [ValType]>,
    /// The id of the tag it was thrown with.
    pub(crate) exception_tag: Cell<u32>,
    /// Handles whose owner dropped them when a cancellation was refused
    /// (a kernel lock held, another store's chain running): cancelled at
    /// the next `cont.new` that can, or when the store drops.
    pub(crate) deferred: UnsafeCell<Vec<ContObj>>,
    /// While a store dropped inside this store's chain cancels its own
    /// suspended guests on top of it (`cancel_all`): this store's
    /// innermost running continuation, set aside (`current` is null
    /// meanwhile, so that those guests cannot suspend or switch through
    /// this chain). Null otherwise.
    pub(crate) shadowed: Cell<*mut ContRef>,
    /// This store's link in the list of live stores, for debuggers.
    pub(crate) live: registry::LiveLink,
    /// Its heap quota and stack limit (`limits.rs`).
    pub(crate) limits: Limits,
    pub(crate) _pinned: PhantomPinned,
    pub(crate) _not_send_sync: PhantomData<*mut ()>,
}

/// How many stacks of ended continuations a store keeps for its own next
/// `cont.new`, unzeroed.
///
/// Giving a stack back to the kernel's pool costs a lock, unmapping what
/// the guest paged in, and zeroing the top page (512 `stosq`), so that no
/// guest of another store ever sees what this one left there. Within one
/// store the zeroing buys nothing safe code can observe (neither safe Rust
/// nor WebAssembly reads below its stack pointer), and a store is one trust
/// domain, as one Wasm instance is: so a few stacks stay with the store,
/// and `cont.new` + run + drop costs about half as much. Stacks leave the
/// store, and are zeroed, when it drops. `docs/guarantees.md` rules 16 (what
/// leaves the store is zeroed) and 11 (every stack goes back).
pub const STACK_CACHE: usize = 4;

#[inline]
pub(crate) fn same_types(a: &'static [ValType], b: &'static [ValType]) -> bool {
    a.len() == b.len() && (core::ptr::eq(a, b) || a == b)
}

impl Store {
    /// A store whose continuations get stacks of `stack_size` bytes from
    /// `provider`, with the default limits ([`StoreLimits::DEFAULT`]).
    /// Pinned: guest stacks record the store's address.
    pub fn new(provider: impl StackProvider + 'static, stack_size: usize) -> Pin<Box<Store>> {
        Store::with_limits(provider, stack_size, StoreLimits::DEFAULT)
    }

    /// [`Store::new`] with the limits given (`limits.rs`).
    pub fn with_limits(
        provider: impl StackProvider + 'static,
        stack_size: usize,
        limits: StoreLimits,
    ) -> Pin<Box<Store>> {
        // The store's block first, its heap account after: the account
        // is charged to nobody, and a guest whose store's quota refuses
        // the block must not leave one behind (a refusal abandons the
        // guest's frames, and whatever they made).
        let block = Box::<Store>::new_uninit();
        let store = Box::into_pin(Box::write(
            block,
            Store {
                id: next_store_id(),
                current: Cell::new(core::ptr::null_mut()),
                free: Cell::new(core::ptr::null_mut()),
                cached_stacks: Cell::new(0),
                stacks_held: Cell::new(0),
                all: UnsafeCell::new(Vec::new()),
                funcs: UnsafeCell::new(Vec::new()),
                dying: UnsafeCell::new(Vec::new()),
                provider: UnsafeCell::new(Box::new(provider)),
                stack_size,
                pending_trap: Cell::new(None),
                exception: UnsafeCell::new([ValRaw::ZERO; MAX_VALUES]),
                exception_types: Cell::new(&[]),
                exception_tag: Cell::new(u32::MAX),
                deferred: UnsafeCell::new(Vec::new()),
                shadowed: Cell::new(core::ptr::null_mut()),
                live: registry::LiveLink::unlinked(),
                limits: Limits::new(limits),
                _pinned: PhantomPinned,
                _not_send_sync: PhantomData,
            },
        ));
        registry::register(&store);
        store
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

    /// Stacks this store's live continuations hold: what it got from its
    /// provider, less the ones it keeps for its next continuations
    /// ([`Store::cached_stacks`]). Zero once every continuation has ended
    /// or been dropped.
    pub fn outstanding_stacks(&self) -> usize {
        self.stacks_held.get() - self.cached_stacks.get()
    }

    /// Stacks of ended continuations this store keeps, unzeroed, for its
    /// next `cont.new` (at most [`STACK_CACHE`], but for a give-back that
    /// never returned: see `give_back_newest`; they go back to the provider
    /// when the store drops).
    pub fn cached_stacks(&self) -> usize {
        self.cached_stacks.get()
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
                core::mem::needs_drop::<F>(),
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
        unsafe { self.define(array_call, callee_vmctx, params, results, None, false) }
    }

    unsafe fn define(
        &self,
        array_call: ArrayCallFn,
        callee_vmctx: *mut VMContext,
        params: &'static [ValType],
        results: &'static [ValType],
        owner: Option<Box<dyn Any>>,
        guest_drop: bool,
    ) -> Result<Func, DefineError> {
        if results.len() > MAX_VALUES {
            return Err(DefineError::TooManyValues {
                count: results.len(),
                max: MAX_VALUES,
            });
        }
        // The list of functions grows in one piece (`preempt`).
        let _section = crate::sync::no_preempt();
        let record = Box::new(FuncRecord {
            array_call,
            callee_vmctx,
            params,
            results,
        });
        let func = Func::new(&record, self.id);
        // SAFETY: no reference into `funcs` is ever held across calls.
        unsafe {
            (*self.funcs.get()).push(FuncEntry {
                _record: record,
                _owner: owner,
                guest_drop,
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

    /// The store's drop, after its cancellations: drops the closures its
    /// functions hold on one of its own stacks, not on the stack of
    /// whoever drops the store. A closure is a guest's value (a guest may
    /// define functions in the store that runs it), and its drop is guest
    /// code: a panic there is a trap on a continuation stack, but on the
    /// kernel's own stack it would end the boot.
    ///
    /// Closures without drop glue (a closure that captures only plain
    /// values, `fn` pointers, tags or functions) run no code when they
    /// drop: their boxes are given back here, on the current stack, and
    /// no continuation is made for them (so a store of such closures
    /// touches no new stack page when it drops). The others' entries
    /// move to `dying`, and a continuation of this store pops
    /// and drops them one by one, each taken out before its drop runs. A
    /// drop that traps (a panic, an overflow, a refused allocation) loses
    /// only that one closure (its box is not freed): the trap is reported
    /// in one line on the console and a new continuation drops the rest.
    /// Where no continuation can run (no stack for it, a store made after
    /// the ids ran out), what is left drops on the current stack with the
    /// store's fields, as before.
    ///
    /// The caller (`cancel_all`) holds no kernel lock and has set aside
    /// any other store's chain running on this CPU.
    #[cold]
    #[inline(never)]
    pub(crate) fn drop_closures(&self) {
        // SAFETY: no reference into `funcs` or `dying` is held across
        // calls; nothing runs on this store's stacks (its drop has `&mut`).
        unsafe {
            // Freeing a box runs no guest code: these go here and now.
            (*self.funcs.get()).retain(|e| e.guest_drop);
            if (*self.funcs.get()).is_empty() {
                return;
            }
            *self.dying.get() = core::mem::take(&mut *self.funcs.get());
        }
        // Zero-sized, so that its own box takes no heap; its entry goes
        // into the now empty `funcs`, not into `dying`, so it never drops
        // itself while it runs.
        let dropper = self.func_wrap(|s: &Store, (): ()| -> Result<(), Trap> {
            loop {
                // SAFETY: the borrow ends with the `pop`, before the drop,
                // which may run any guest code (none of which reaches this
                // store: it is being dropped).
                let next = unsafe { (*s.dying.get()).pop() };
                match next {
                    Some(entry) => drop(entry),
                    None => return Ok(()),
                }
            }
        });
        let Ok(dropper) = dropper else { return };
        loop {
            // SAFETY: as above.
            let left = unsafe { (*self.dying.get()).len() };
            if left == 0 {
                return;
            }
            let Ok(k) = self.cont_new(dropper) else {
                return;
            };
            if let Err(trap) = self.resume::<(), ()>(k, (), &[]) {
                crate::println!("a closure of a dropped store trapped in its drop: {trap}");
            }
            // SAFETY: as above.
            if unsafe { (*self.dying.get()).len() } == left {
                // Refused before it ran: nothing more can be done here.
                return;
            }
        }
    }

    // ----- traps ---------------------------------------------------------

    // ----- ContRef pool --------------------------------------------------

    pub(crate) fn take_contref(&self) -> *mut ContRef {
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

    /// Puts `c` on the free list, with its stack if the cache has room
    /// (the next `cont.new` of this store then takes both at once, with no
    /// provider call, lock or zeroing), else after giving the stack back
    /// to the provider (`give_back_newest`).
    ///
    /// The free list keeps its records with a stack first: the cached ones
    /// are always its first `cached_stacks`, so `cont.new`, which looks at
    /// the first record only, finds a cached stack whenever there is one.
    ///
    /// # Safety
    /// `c` must be a ContRef of this store that nothing runs on any more.
    pub(crate) unsafe fn release(&self, c: *mut ContRef) {
        // The free list and the counts change together: no preemption in
        // between (`preempt`), which only an armed budget can bring (a
        // copy of the body with no section at all when none is).
        // SAFETY: forwarded contract.
        unsafe {
            if super::preempt::budget_armed() {
                let _section = crate::sync::counted_section();
                self.release_now(c);
            } else {
                self.release_now(c);
            }
        }
    }

    /// `release`'s body, in a section when a budget is armed (or called
    /// from inside one, or where none is armed).
    ///
    /// # Safety
    /// As for `release`.
    #[inline(always)]
    pub(crate) unsafe fn release_now(&self, c: *mut ContRef) {
        // SAFETY: per the contract `c` is ours and dead.
        unsafe {
            let cached = self.cached_stacks.get();
            (*c).parent = core::ptr::null_mut();
            (*c).handlers = core::ptr::null();
            (*c).handlers_len = 0;
            // Cached, at the head: from here on the store's books are
            // whole, whatever happens in `give_back_newest`.
            (*c).next_free = self.free.get();
            self.free.set(c);
            self.cached_stacks.set(cached + 1);
            if cached >= STACK_CACHE {
                self.give_back_newest();
            }
        }
    }

    /// The cache had no room for the stack `release` just put at the head
    /// of the free list: gives it back to the provider, then moves its
    /// record behind the cached ones.
    ///
    /// The provider gets a copy of the stack, and the record keeps its own
    /// until `free` has returned: the kernel's `free` first touches the
    /// stack below its caller, and a guest whose child ends near the bottom
    /// of the guest's own stack overflows there, a trap that leaves this
    /// code for good. The stack then stays in the cache (one over
    /// `STACK_CACHE`, until a `cont.new` takes it) instead of being lost
    /// to the pool for ever.
    ///
    /// # Safety
    /// The head of the free list holds a stack, counted in `cached_stacks`,
    /// that nothing runs on any more.
    #[cold]
    #[inline(never)]
    unsafe fn give_back_newest(&self) {
        // SAFETY: per the contract; provider calls do not re-enter the
        // store; every record on the free list is a live ContRef of this
        // store, and the first `cached_stacks` of them hold a stack.
        unsafe {
            let c = self.free.get();
            let stack = core::ptr::read(&(*c).stack);
            (*self.provider.get()).free(stack);
            (*c).stack = ContStack::UNALLOCATED;
            self.stacks_held.set(self.stacks_held.get() - 1);
            let cached = self.cached_stacks.get() - 1;
            self.cached_stacks.set(cached);
            // Off the head, and in again after the `cached` records that
            // hold a stack.
            let first = (*c).next_free;
            if cached == 0 {
                return;
            }
            self.free.set(first);
            let mut last = first;
            for _ in 1..cached {
                last = (*last).next_free;
            }
            (*c).next_free = (*last).next_free;
            (*last).next_free = c;
        }
    }

    // ----- operations ----------------------------------------------------
}

impl Drop for Store {
    fn drop(&mut self) {
        registry::unregister(self);
        self.cancel_all();
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
