//! Hostile tests, from safe code only, of five parts of the runtime: the
//! store's stack cache (`STACK_CACHE`, `Store::release`), `State::Parent` derived
//! by `Store::state` instead of written, `switch` through `switch_through`,
//! the list of live stores (`registry`), and trap reports kept beside the
//! trap (`trace`, `report`). Each test is one attempt to make one of them
//! strand a stack, miscount, report a wrong state, lose a value or walk a
//! store that is gone; its name states what must hold, and it checks exact
//! values. The in-kernel half, for what needs the kernel's own stacks
//! (guard pages, demand paging, the pool), is `tests/hostile.rs`.
//!
//! As in `hostile`, guests never panic (a panic cannot cross the
//! `extern "C"` shim on the host): they report through `Cell`s. One file
//! per part, sharing the helpers here.

mod live_stores;
mod parent;
mod reports;
mod stack_cache;
mod switch;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::hint::black_box;
use core::pin::Pin;
use kernel::cont::dynamic::{ContObj, Func, Handler, Resumed, Tag};
use kernel::cont::{Cont, MmapStacks, STACK_CACHE, State, Store, Trap, TrapKind, ValType, typed};

const STACK: usize = 64 * 1024;

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), STACK)
}

fn shared() -> Rc<Pin<Box<Store>>> {
    Rc::new(store())
}

#[track_caller]
fn returned<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> R {
    match r {
        Ok(Resumed::Returned(v)) => v,
        other => panic!("expected a return, got {other:?}"),
    }
}

#[track_caller]
fn suspended<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> ContObj {
    match r {
        Ok(Resumed::Suspended { cont, .. }) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    }
}

fn kind_of<T>(r: Result<T, Trap>) -> Option<TrapKind> {
    r.err().map(|t| t.kind())
}

/// `(outstanding_stacks, cached_stacks)`: the two counts every path must
/// keep exact.
fn counts(s: &Store) -> (usize, usize) {
    (s.outstanding_stacks(), s.cached_stacks())
}

// Guest frames alive are counted with `hostile::Frames`: a count
// left up after a cancellation or a store's drop is a frame that was
// abandoned.
use crate::hostile::Frames;

/// A guest that returns the address of one of its locals: which stack it
/// ran on.
fn where_i_ran(s: &Store) -> Func {
    s.func_wrap(|_, ()| {
        let local = 0u8;
        Ok(black_box(&local) as *const u8 as i64)
    })
    .unwrap()
}

/// A guest that suspends at `t` once, then returns.
fn parks_once(s: &Store, t: Tag) -> Func {
    s.func_wrap(move |s: &Store, ()| s.suspend::<(), ()>(t, ()))
        .unwrap()
}
