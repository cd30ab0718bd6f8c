//! The typed front door: tags, functions and continuation handles that carry
//! their types, so that a signature mismatch is a compile error, and handles
//! that are owned, so that a continuation is used once by construction and
//! freed when its handle is dropped.
//!
//! The [`Store`]'s own methods are the *dynamic door*: `ContObj` handles are
//! `Copy`, and every use checks at run time that the handle is live and of
//! this store, and that the values match the continuation's types. That is
//! what an interpreter needs, whose types are only known at run time. Rust
//! code knows its types when it is compiled, so this module says them once,
//! in the types:
//!
//! | WebAssembly | typed door |
//! |---|---|
//! | `(tag $t (param P) (result R))` | `Tag::<P, R>::new(&store)` |
//! | `(func $f (param P) (result R))` | `Func::<P, R>::wrap(&store, closure)`: a `Func<'_, P, R>` |
//! | `cont.new $f` | `Cont::new(&store, f)`: a `Cont<'_, P, R>` |
//! | `resume (on $t $l)*` | `k.resume(args, &[t.on()])` |
//! | `suspend $t` | `t.suspend(store, payload)` |
//! | `cont.bind` | `k.bind(first_value)` |
//! | `switch $target $t` | `t.switch(store, target)` (a `Tag<(), R>`) |
//! | `resume_throw $e` | `k.resume_throw(e, payload, &handlers)` |
//! | (drop) | `drop(k)`: cancels a suspended continuation, then frees it |
//!
//! A `Cont<'s, A, R>` expects the values `A` next and ends with the results
//! `R` of its function. `resume` takes it by value: using it twice does not
//! compile. The handle borrows its store (`'s`), so it cannot outlive it.
//! Dropping it frees the continuation at once: a fresh one never runs; a
//! suspended one is *cancelled* first, so its frames return and their
//! destructors run (see [`Store::drop_cont`]).
//!
//! ```
//! use kernel::cont::typed::{Cont, Func, Resumed, Tag};
//! use kernel::cont::{MmapStacks, Store};
//!
//! let store = Store::new(MmapStacks::new(), 64 * 1024);
//! let yld = Tag::<i32, ()>::new(&store).unwrap();          // (tag $yield (param i32))
//! let squares = Func::wrap(&store, move |s: &Store, n: i32| {
//!     for i in 1..=n {
//!         yld.suspend(s, i * i)?;                          // suspend $yield
//!     }
//!     Ok(())
//! }).unwrap();
//! let mut k = Cont::new(&store, squares).unwrap().bind(4).unwrap(); // cont.new, cont.bind
//! let mut got = vec![];
//! while let Resumed::Suspended(s) = k.resume((), &[yld.on()]).unwrap() { // resume (on $yield)
//!     let (square, next) = s.take(yld).unwrap();
//!     got.push(square);
//!     k = next;
//! }
//! assert_eq!(got, [1, 4, 9, 16]);
//! ```
//!
//! The mistakes the types catch, each a compile error:
//!
//! ```compile_fail,E0382
//! # use kernel::cont::typed::{Cont, Func};
//! # use kernel::cont::{MmapStacks, Store};
//! # let store = Store::new(MmapStacks::new(), 64 * 1024);
//! # let f = Func::wrap(&store, |_: &Store, x: i32| Ok(x)).unwrap();
//! let k = Cont::new(&store, f).unwrap();
//! let _ = k.resume(1, &[]);
//! let _ = k.resume(2, &[]); // a continuation is resumed once
//! ```
//!
//! ```compile_fail,E0308
//! # use kernel::cont::typed::{Cont, Func};
//! # use kernel::cont::{MmapStacks, Store};
//! # let store = Store::new(MmapStacks::new(), 64 * 1024);
//! let f = Func::wrap(&store, |_: &Store, x: i32| Ok(x)).unwrap();
//! let k = Cont::new(&store, f).unwrap();
//! let _ = k.resume(1.5f64, &[]); // it expects an i32
//! ```
//!
//! ```compile_fail,E0308
//! # use kernel::cont::typed::{Func, Tag};
//! # use kernel::cont::{MmapStacks, Store};
//! # let store = Store::new(MmapStacks::new(), 64 * 1024);
//! let yld = Tag::<i32, ()>::new(&store).unwrap();
//! let f = Func::wrap(&store, move |s: &Store, (): ()| {
//!     yld.suspend(s, 7i64) // the tag's payload is an i32
//! });
//! ```
//!
//! ```compile_fail,E0505
//! # use kernel::cont::typed::{Cont, Func};
//! # use kernel::cont::{MmapStacks, Store};
//! let store = Store::new(MmapStacks::new(), 64 * 1024);
//! let f = Func::wrap(&store, |_: &Store, x: i32| Ok(x)).unwrap();
//! let k = Cont::new(&store, f).unwrap();
//! drop(store); // a handle cannot outlive its store
//! let _ = k.resume(1, &[]);
//! ```
//!
//! ```compile_fail,E0505
//! # use kernel::cont::typed::{Cont, Func};
//! # use kernel::cont::{MmapStacks, Store};
//! let store = Store::new(MmapStacks::new(), 64 * 1024);
//! let f = Func::wrap(&store, |_: &Store, x: i32| Ok(x)).unwrap();
//! drop(store); // a function cannot outlive its store
//! let other = Store::new(MmapStacks::new(), 64 * 1024);
//! let _ = Cont::new(&other, f);
//! ```
//!
//! What the types remove from the hot path: the handle's null, store and
//! revision checks (an owned handle is live and knows its store) and the
//! signature checks of `resume` and `suspend`. What stays: the handler
//! search, the lock and store checks, and the revision bump that makes any
//! `ContObj` copy of the same continuation stale.

use crate::cont::doors::dynamic;
use crate::cont::runtime::contref::{self, ContObj, ContRef, Handler, State};
use crate::cont::runtime::func::{self, DefineError, WasmValue, WasmValues};
use crate::cont::runtime::store::{Store, same_types};
use crate::cont::values::trap::{Trap, TrapKind};
use core::marker::PhantomData;
use core::mem::ManuallyDrop;

/// A tag with payload `P` and resume values `R`: `suspend` sends a `P` and
/// gets an `R` back. `Copy`; good for the store that made it.
pub struct Tag<P, R> {
    id: u32,
    _types: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for Tag<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for Tag<P, R> {}

impl<P: WasmValues, R: WasmValues> Tag<P, R> {
    /// `(tag $t (param P) (result R))`: a new tag of `store`.
    pub fn new(store: &Store) -> Result<Tag<P, R>, DefineError> {
        let tag = store.tag_new(P::TYPES, R::TYPES)?;
        Ok(Tag {
            id: tag.id(),
            _types: PhantomData,
        })
    }

    /// `(on $t $label)`: a handler entry that catches this tag's suspends.
    pub fn on(self) -> Handler {
        Handler::for_tag_id(self.id, false)
    }

    /// `(on $t switch)`: a handler entry for `switch`es with this tag.
    pub fn on_switch(self) -> Handler {
        Handler::for_tag_id(self.id, true)
    }

    /// `suspend $t`: hands `payload` to the nearest enclosing resume with a
    /// handler for this tag, and returns what the next resume sends. Traps
    /// (an `Err`) outside any continuation, with no handler, or with a
    /// kernel lock held; returns `Err` of kind `Cancelled` when the
    /// suspended continuation is dropped, and of kind `Exception` when it is
    /// resumed by `resume_throw`.
    #[inline(always)]
    pub fn suspend(self, store: &Store, payload: P) -> Result<R, Trap> {
        let cur = store.running_cont();
        // The gate word names the store: a continuation of it runs and no
        // lock is held (`gate.rs`). If not, the checks one by one.
        if !store.gate_open_for_suspend() {
            store.gate_shut(cur, "suspend outside any continuation", true)?;
        }
        // SAFETY: `cur` is the running continuation; `P` and `R` are this
        // tag's types by construction (`Tag::new`).
        unsafe { store.suspend_checked(cur, self.id, payload) }
    }

    /// The same tag for the dynamic door (`Store::resume`, `Handler`).
    pub fn untyped(self) -> contref::Tag {
        contref::Tag {
            id: self.id,
            params: P::TYPES,
            results: R::TYPES,
        }
    }
}

/// Switch tags: no payload (`switch` sends none), `R` is what the switching
/// continuation gets when it is switched back to or resumed.
impl<R: WasmValues> Tag<(), R> {
    /// `switch $target $t`: hands control straight to `target` under the
    /// nearest resume with a switch handler for this tag (`on_switch`),
    /// passing it the running continuation, and returns the values `R`
    /// sent when this continuation is next switched to or resumed.
    ///
    /// The continuation passed is a value of a recursive type (a
    /// continuation that expects a continuation ...), so it travels as a
    /// dynamic `ContObj`; the target takes it over with [`Cont::from_raw`],
    /// which checks its types. The runtime checks at the switch that the
    /// target returns what the segment it replaces returns; what the target
    /// takes is this handle's type, so that is not checked again.
    /// Always inlined, for the reason given at `Store::resume`.
    #[inline(always)]
    pub fn switch<T: WasmValues>(
        self,
        store: &Store,
        target: Cont<'_, ContObj, T>,
    ) -> Result<R, Trap> {
        let owner = target.store;
        let raw = target.into_raw();
        let r = if core::ptr::eq(owner, store) {
            // SAFETY: a typed handle's record is its store's, here the
            // switching one's, and a `Cont<ContObj, _>` at its revision
            // expects exactly one continuation.
            unsafe { store.switch_typed::<R>(raw.contref, raw.revision, self.id) }
        } else {
            // Another store's continuation: the dynamic door refuses it.
            store.switch::<(), R>(raw, self.untyped(), ())
        };
        if r.is_err() {
            // Refused before the target was used: it is still ours to
            // free, through the store it belongs to, which need not be the
            // switching one (then the switch was refused as foreign).
            // (A target the switch used has moved on: refused here.)
            owner.drop_owned(raw);
        }
        r
    }
}

/// A guest function from `P` to `R` of the store it borrows (`'s`):
/// `Copy`, and it cannot outlive that store (a compile error, see the
/// module's examples).
///
/// A guest closure must be `'static`, so a function it captures (to make
/// continuations of it from inside a guest) is [`Func::detach`]ed first:
/// a `Func<'static, P, R>`, which the compiler no longer ties to its
/// store. Both are checked at run time all the same: `cont.new` with a
/// function of another store, live or dropped, traps
/// ([`TrapKind::ForeignFunc`]) and never reads its record.
pub struct Func<'s, P, R> {
    raw: func::Func,
    _store: PhantomData<&'s Store>,
    _types: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for Func<'_, P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for Func<'_, P, R> {}

impl<'s, P: WasmValues, R: WasmValues> Func<'s, P, R> {
    /// `(func $f (param P) (result R))`, written as a Rust closure that
    /// gets the store and its parameters.
    pub fn wrap<F>(store: &'s Store, f: F) -> Result<Func<'s, P, R>, DefineError>
    where
        F: Fn(&Store, P) -> Result<R, Trap> + 'static,
    {
        Ok(Func {
            raw: store.func_wrap(f)?,
            _store: PhantomData,
            _types: PhantomData,
        })
    }

    /// The same function, no longer tied to its store by the compiler: for
    /// a guest closure (which must be `'static`) to capture. Still good
    /// only in its own store: elsewhere, or once that store is gone,
    /// `Cont::new` traps (`ForeignFunc`).
    pub fn detach(self) -> Func<'static, P, R> {
        Func {
            raw: self.raw,
            _store: PhantomData,
            _types: PhantomData,
        }
    }

    /// The same function for the dynamic door.
    pub fn untyped(self) -> func::Func {
        self.raw
    }
}

/// An owned continuation handle: it expects the values `A` next and ends
/// with the results `R`. Not `Copy`; `resume`, `bind` and `resume_throw`
/// take it by value. Dropping it frees the continuation (cancelling it first
/// if it is suspended).
pub struct Cont<'s, A: WasmValues, R: WasmValues> {
    store: &'s Store,
    contref: *mut ContRef,
    /// The revision this handle is good for. An owned handle is normally
    /// live by construction, but a cancellation can end its continuation
    /// under it (the store cancels everything left when it drops, while
    /// guests still hold handles): every use compares it, one compare.
    revision: u64,
    _types: PhantomData<fn(A) -> R>,
}

/// How a typed `resume` came back.
pub enum Resumed<'s, R: WasmValues> {
    /// The continuation's function returned these results.
    Returned(R),
    /// A `suspend` reached one of this resume's handlers.
    Suspended(Suspension<'s, R>),
}

/// How a typed [`Cont::resume_for`] came back.
pub enum Timed<'s, R: WasmValues> {
    /// Within its budget: its function returned, or it suspended.
    InTime(Resumed<'s, R>),
    /// A timer tick found its budget spent and suspended it where it was.
    /// The handle resumes it there; it expects no values.
    Preempted(Cont<'s, (), R>),
}

/// A continuation that has just suspended to a handler of a typed resume:
/// which handler, and (through [`Suspension::take`]) its payload and the
/// handle that resumes it. Dropping it cancels the continuation.
pub struct Suspension<'s, R: WasmValues> {
    store: &'s Store,
    contref: *mut ContRef,
    revision: u64,
    handler: usize,
    _types: PhantomData<fn() -> R>,
}

impl<'s, A: WasmValues, R: WasmValues> Cont<'s, A, R> {
    /// `cont.new $f`: a fresh continuation that will run `f`. Traps
    /// (`ForeignFunc`) if `f` is a function of another store.
    pub fn new(store: &'s Store, f: Func<'_, A, R>) -> Result<Cont<'s, A, R>, Trap> {
        Ok(Cont::own(store, store.cont_new(f.raw)?))
    }

    /// `resume (on $t $label)*`: runs the continuation with `args` until its
    /// function returns or it suspends to one of `handlers`.
    #[inline(always)]
    pub fn resume(self, args: A, handlers: &[Handler]) -> Result<Resumed<'s, R>, Trap> {
        let (store, contref, revision) = (self.store, self.contref, self.revision);
        // Refusals come first, while this handle still owns the
        // continuation: on `Err` it is dropped, which frees it (or leaves
        // it to the store to cancel as soon as it can: see `Drop`). The
        // types are `A` and `R` by construction: no type check.
        // SAFETY: the record is one of the store's, which keeps it while
        // the store lives (and the handle borrows the store); a record at
        // the handle's revision is live; its inbox has room for `A`.
        let admitted = unsafe {
            store.admit(
                || match (*contref).revision == revision {
                    true => Ok(contref),
                    false => Err(Trap::new(
                        TrapKind::ConsumedContinuation,
                        "typed handle of a continuation that has ended",
                    )),
                },
                |_, _| Ok(()),
                |c| args.store((*c).inbox),
            )
        };
        let (c, outer) = admitted?;
        let _ = ManuallyDrop::new(self);
        // SAFETY: admitted, with its arguments in place; its segment
        // returns `R` by construction.
        Self::typed(store, unsafe {
            store.resume_checked::<R>(c, outer, handlers)
        })
    }

    /// `resume` with a budget of `ticks` timer ticks (0 counts as 1): the
    /// `ticks`-th tick that lands while this continuation runs its own
    /// code suspends it there, and this returns [`Timed::Preempted`] with
    /// the handle that continues it. Ticks that land in a lock, in a
    /// runtime operation, or while a child it resumed runs, count, and the
    /// preemption happens as soon as it may (`docs/interrupts.md`). With
    /// the timer stopped this is `resume`.
    pub fn resume_for(
        self,
        ticks: u32,
        args: A,
        handlers: &[Handler],
    ) -> Result<Timed<'s, R>, Trap> {
        let (store, contref, revision) = (self.store, self.contref, self.revision);
        // SAFETY: as in `resume`.
        let admitted = unsafe {
            store.admit(
                || match (*contref).revision == revision {
                    true => Ok(contref),
                    false => Err(Trap::new(
                        TrapKind::ConsumedContinuation,
                        "typed handle of a continuation that has ended",
                    )),
                },
                |_, _| Ok(()),
                |c| args.store((*c).inbox),
            )
        };
        let (c, outer) = admitted?;
        let _ = ManuallyDrop::new(self);
        // SAFETY: admitted, with its arguments in place; its segment
        // returns `R` by construction.
        match unsafe { store.resume_for_checked::<R>(c, outer, ticks, handlers) }? {
            dynamic::Timed::Preempted(k) => Ok(Timed::Preempted(Cont::own(store, k))),
            dynamic::Timed::InTime(r) => Ok(Timed::InTime(Self::typed(store, Ok(r))?)),
        }
    }

    /// `resume_throw $e`: resumes the continuation by raising an exception
    /// of `tag` with `payload` at its suspension point (for a fresh one: at
    /// once, without running its function). See [`Store::resume_throw`].
    pub fn resume_throw<E: WasmValues>(
        self,
        tag: Tag<E, ()>,
        payload: E,
        handlers: &[Handler],
    ) -> Result<Resumed<'s, R>, Trap> {
        let (store, raw) = (self.store, self.raw());
        let tag = tag.untyped();
        // SAFETY: `live` returns only live records of this store; the
        // exception slots hold the tag's payload, `E` by construction.
        let admitted = unsafe {
            store.admit(
                || store.live(raw, "resume_throw"),
                |c, _| store.not_preempted(c),
                |_| store.set_exception_of(tag, payload),
            )
        };
        let (c, outer) = admitted?;
        let _ = ManuallyDrop::new(self);
        // SAFETY: admitted, with the exception recorded; its segment
        // returns `R` by construction.
        let outcome = unsafe {
            store
                .throw_into(c, outer, tag, handlers)
                .and_then(|(effect, back)| store.outcome::<R>(effect, back))
        };
        Self::typed(store, outcome)
    }

    /// The typed report of a resume of this continuation.
    #[inline(always)]
    fn typed(
        store: &'s Store,
        outcome: Result<contref::Resumed<R>, Trap>,
    ) -> Result<Resumed<'s, R>, Trap> {
        match outcome {
            Ok(contref::Resumed::Returned(v)) => Ok(Resumed::Returned(v)),
            Ok(contref::Resumed::Suspended { handler, cont }) => {
                Ok(Resumed::Suspended(Suspension::new(store, cont, handler)))
            }
            Err(trap) => Err(trap),
        }
    }

    /// `cont.bind`: gives the continuation its first expected value now;
    /// the new handle expects the rest.
    pub fn bind(self, first: A::First) -> Result<Cont<'s, A::Rest, R>, Trap>
    where
        A: SplitFirst,
    {
        let (store, raw) = (self.store, self.raw());
        // A refused bind leaves the continuation as it was: this handle
        // still owns it, and frees it on the way out.
        let k = store.bind(raw, first)?;
        let _ = ManuallyDrop::new(self);
        Ok(Cont::own(store, k))
    }

    /// Where the continuation is: `Fresh` or `Suspended` (an owned handle
    /// is always live).
    pub fn state(&self) -> State {
        self.store.state(self.raw()).unwrap_or(State::Consumed)
    }

    /// The dynamic handle of the same continuation, giving up this one
    /// (nothing is freed: the `ContObj` now names the continuation).
    pub fn into_raw(self) -> ContObj {
        let raw = self.raw();
        let _ = ManuallyDrop::new(self);
        raw
    }

    /// Takes a continuation over from the dynamic door, checking at run
    /// time that `k` is a live handle of `store` that expects `A` and ends
    /// with `R`. `k` is consumed: its revision moves on, so the `ContObj`
    /// (and any copy of it) is stale from here.
    #[inline]
    pub fn from_raw(store: &'s Store, k: ContObj) -> Result<Cont<'s, A, R>, Trap> {
        let c = store.live(k, "typed handle")?;
        // SAFETY: `live` proved `c` a live ContRef of this store.
        unsafe {
            if !(same_types((*c).expected, A::TYPES)
                && same_types((*(*c).last_ancestor).results, R::TYPES))
            {
                return Err(Trap::new(
                    TrapKind::SignatureMismatch,
                    "the continuation does not have these types",
                ));
            }
            (*c).revision += 1;
        }
        Ok(Cont::own(store, store.handle(c)))
    }

    /// The owned handle for a live dynamic one that nothing else will use.
    fn own(store: &'s Store, k: ContObj) -> Cont<'s, A, R> {
        Cont {
            store,
            contref: k.contref,
            revision: k.revision,
            _types: PhantomData,
        }
    }

    /// The dynamic handle this one is: the record and its revision.
    fn raw(&self) -> ContObj {
        ContObj {
            contref: self.contref,
            revision: self.revision,
        }
    }
}

impl<A: WasmValues, R: WasmValues> Drop for Cont<'_, A, R> {
    fn drop(&mut self) {
        self.store.drop_owned(self.raw());
    }
}

impl<'s, R: WasmValues> Suspension<'s, R> {
    fn new(store: &'s Store, k: ContObj, handler: usize) -> Suspension<'s, R> {
        Suspension {
            store,
            contref: k.contref,
            revision: k.revision,
            handler,
            _types: PhantomData,
        }
    }

    /// The position in the resume's handler list of the handler reached.
    pub fn handler(&self) -> usize {
        self.handler
    }

    /// The payload the continuation suspended with, and the handle that
    /// resumes it, typed by `tag`: the tag of the handler reached. `Err`
    /// (a signature mismatch, and the continuation is cancelled) for any
    /// other tag, even one of the same types.
    ///
    /// One compare of tag ids, and no compare of types: the id of the tag
    /// the suspend recorded (`ContRef::suspended_tag`) names that tag's
    /// types, so equal ids mean the mailbox holds a `P` and the
    /// continuation expects a `T`. That rests on three facts. A tag's id
    /// is unique among all tags of a boot and never reused
    /// (`Store::tag_new` counts them, and refuses the last one). A tag's
    /// types are fixed when it is made: a dynamic tag's fields are the
    /// crate's own, set only by `Store::tag_new`, and a `Tag<P, T>` is made
    /// only by [`Tag::new`] with `P` and `T`'s type lists. And every
    /// suspend writes a payload of its tag's params and cuts with its
    /// tag's results as the expected types (the typed door's by
    /// construction, the dynamic door's after comparing its values' types
    /// with the tag's, the raw door's by `suspend_slots`'s contract),
    /// and records that tag's id in the same suspend. The revision,
    /// compared first, says the record has not been used since this
    /// suspension's suspend (no bind, no resume).
    #[inline(always)]
    pub fn take<P: WasmValues, T: WasmValues>(
        self,
        tag: Tag<P, T>,
    ) -> Result<(P, Cont<'s, T, R>), Trap> {
        let c = self.contref;
        // SAFETY: the resume that made this suspension handed over the only
        // handle of `c`, a ContRef of `store` (kept while the store lives);
        // while its revision is unchanged it is suspended by the suspend
        // that made this suspension, and its mailbox holds a payload of
        // the types of the tag that suspend recorded (see above).
        unsafe {
            if (*c).revision != self.revision {
                return Err(suspension_ended());
            }
            if (*c).suspended_tag != tag.id {
                return Err(not_the_tag_reached());
            }
            // What the ids proved, checked again where checks are cheap.
            debug_assert!(
                same_types((*c).payload, P::TYPES) && same_types((*c).expected, T::TYPES)
            );
            let payload = P::load((*c).values.as_ptr());
            let cont = Cont::own(self.store, self.store.handle(c));
            let _ = ManuallyDrop::new(self);
            Ok((payload, cont))
        }
    }
}

impl<R: WasmValues> core::fmt::Debug for Suspension<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Suspension {{ handler: {} }}", self.handler)
    }
}

impl<R: WasmValues + core::fmt::Debug> core::fmt::Debug for Resumed<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Resumed::Returned(v) => f.debug_tuple("Returned").field(v).finish(),
            Resumed::Suspended(s) => f.debug_tuple("Suspended").field(s).finish(),
        }
    }
}

impl<R: WasmValues> Drop for Suspension<'_, R> {
    fn drop(&mut self) {
        self.store.drop_owned(ContObj {
            contref: self.contref,
            revision: self.revision,
        });
    }
}

/// A list of values whose first one `cont.bind` can take: a scalar (then
/// nothing is left) or a tuple (then the rest is).
pub trait SplitFirst: WasmValues {
    type First: WasmValues;
    type Rest: WasmValues;
}

macro_rules! split_scalar {
    ($($t:ty),*) => {$(
        impl SplitFirst for $t {
            type First = $t;
            type Rest = ();
        }
    )*};
}
split_scalar!(i32, i64, f32, f64, u128, ContObj);

impl<A: WasmValue + WasmValues> SplitFirst for (A,) {
    type First = A;
    type Rest = ();
}
impl<A: WasmValue + WasmValues, B: WasmValue + WasmValues> SplitFirst for (A, B) {
    type First = A;
    type Rest = B;
}

macro_rules! split_tuple {
    ($first:ident $(, $rest:ident)+) => {
        impl<$first: WasmValue + WasmValues $(, $rest: WasmValue)+> SplitFirst
            for ($first, $($rest,)+)
        {
            type First = $first;
            type Rest = ($($rest,)+);
        }
    };
}
split_tuple!(A, B, C);
split_tuple!(A, B, C, D);
split_tuple!(A, B, C, D, E);
split_tuple!(A, B, C, D, E, F);
split_tuple!(A, B, C, D, E, F, G);
split_tuple!(A, B, C, D, E, F, G, H);
split_tuple!(A, B, C, D, E, F, G, H, I);
split_tuple!(A, B, C, D, E, F, G, H, I, J);
split_tuple!(A, B, C, D, E, F, G, H, I, J, K);
split_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);
split_tuple!(A, B, C, D, E, F, G, H, I, J, K, L, M);
split_tuple!(A, B, C, D, E, F, G, H, I, J, K, L, M, N);
split_tuple!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O);
split_tuple!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P);

/// `take` of a suspension whose continuation has ended. Out of line, and
/// with no arguments, so that the hot path keeps none of its constants.
#[cold]
#[inline(never)]
fn suspension_ended() -> Trap {
    Trap::new(
        TrapKind::ConsumedContinuation,
        "suspension of a continuation that has ended",
    )
}

/// `take` with another tag than that of the handler reached (see
/// `suspension_ended`).
#[cold]
#[inline(never)]
fn not_the_tag_reached() -> Trap {
    Trap::new(
        TrapKind::SignatureMismatch,
        "take with another tag than that of the handler reached",
    )
}
