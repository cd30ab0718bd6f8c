//! Hostile tests of the continuation runtime, from safe code only (the
//! crate forbids `unsafe` at its root) and through nothing but the kernel's
//! public API (`kernel::cont::...`, `kernel::sync::...`). Each test is one
//! attempt to crash, hang or corrupt the runtime, strand a stack, or reach
//! a continuation after its end; its name states what must hold, and it
//! checks exact values. One file per line of attack, sharing the helpers
//! here.
//!
//! One test is `#[ignore]`d because it must run alone, not because it
//! fails: it uses up the process's store ids (its own doc says how to run
//! it: alone, in release, with `-- --ignored`).
//!
//! Guests never panic here: on the host a panic cannot cross the
//! `extern "C"` shim and aborts the test binary. They report what they saw
//! through `Cell`s, and the tests assert on the kernel side.

mod budgets;
mod cancellation;
mod gate;
mod locks;
mod stacks;
mod store_drop;
mod stores;
mod throw;
mod traps;
mod typed_door;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;
use kernel::cont::dynamic::{self, ContObj, Handler};
use kernel::cont::{
    Cont, Func, MmapStacks, Resumed, State, Store, Suspension, Tag, Trap, TrapKind, ValType,
    WasmValues,
};
use kernel::sync::{Mutex, MutexGuard, held};

const STACK: usize = 64 * 1024;

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), STACK)
}

fn shared() -> Rc<Pin<Box<Store>>> {
    Rc::new(store())
}

/// The kind of the trap a result carries, if any.
fn kind_of<T>(r: Result<T, Trap>) -> Option<TrapKind> {
    r.err().map(|t| t.kind())
}

/// Counts guest frames that are alive: each guest that should be unwound
/// (by a return, `?`, or a cancellation) holds one [`Frame`]. Closures the
/// store owns do not count, so a count that stays up after a store's drop
/// is a frame that was abandoned.
#[derive(Clone, Default)]
pub(crate) struct Frames(Rc<Cell<i32>>);

pub(crate) struct Frame(Rc<Cell<i32>>);

impl Frames {
    pub(crate) fn enter(&self) -> Frame {
        self.0.set(self.0.get() + 1);
        Frame(self.0.clone())
    }
    pub(crate) fn live(&self) -> i32 {
        self.0.get()
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A kernel lock that lives for ever (so that a guard can be kept anywhere).
fn leaked_lock(name: &'static str) -> &'static Mutex<()> {
    Box::leak(Box::new(Mutex::new(name, ())))
}

/// The handle a dynamic resume returned, which must be a suspension.
#[track_caller]
fn suspended<R: core::fmt::Debug>(r: Result<dynamic::Resumed<R>, Trap>) -> ContObj {
    match r {
        Ok(dynamic::Resumed::Suspended { cont, .. }) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    }
}

/// The suspension a typed resume returned.
#[track_caller]
fn typed_suspension<'s, R: WasmValues>(r: Result<Resumed<'s, R>, Trap>) -> Suspension<'s, R> {
    match r {
        Ok(Resumed::Suspended(s)) => s,
        Ok(Resumed::Returned(_)) => panic!("expected a suspension, the function returned"),
        Err(t) => panic!("expected a suspension, got {t}"),
    }
}

/// The kernel side is clean: no chain runs, no lock is counted.
#[track_caller]
fn kernel_side_clean(s: &Store) {
    assert!(!s.in_continuation());
    assert_eq!(held(), 0);
}

/// A continuation of `s` suspended to the kernel at `t`, whose guest runs
/// `on_cancel` on whatever its suspend returned.
fn parked<F>(s: &Store, t: dynamic::Tag, on_cancel: F) -> ContObj
where
    F: Fn(&Store, Result<(), Trap>) -> Result<i32, Trap> + 'static,
{
    parked_holding(s, t, None, on_cancel)
}

/// As [`parked`], the guest holding one frame of `lives` from before its
/// suspend until it returns.
fn parked_holding<F>(s: &Store, t: dynamic::Tag, lives: Option<&Frames>, on_cancel: F) -> ContObj
where
    F: Fn(&Store, Result<(), Trap>) -> Result<i32, Trap> + 'static,
{
    let l = lives.cloned();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let _mine = l.as_ref().map(Frames::enter);
            let r = s.suspend::<(), ()>(t, ());
            on_cancel(s, r)
        })
        .unwrap();
    suspended(s.resume::<(), i32>(s.cont_new(f).unwrap(), (), &[Handler::suspend(t)]))
}

/// A typed continuation of `f` suspended at `t`.
fn typed_kept<'s>(s: &'s Store, f: Func<(), ()>, t: Tag<(), ()>) -> Result<Cont<'s, (), ()>, Trap> {
    match Cont::new(s, f)?.resume((), &[t.on()])? {
        Resumed::Suspended(susp) => Ok(susp.take(t)?.1),
        Resumed::Returned(()) => Err(Trap::guest("returned")),
    }
}
