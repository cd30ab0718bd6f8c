//! Behaviour tests of the whole machinery through the dynamic door, on the
//! host: real stacks from `mmap`, real switches. Each test names the Wasm
//! behaviour it checks. The behaviours the in-kernel `cont` suite checks
//! too are written once, in `cont::scenarios`, and all run here, in the
//! module `scenarios`; the host-only ones follow, one file per operation
//! (`resume`, `switch`, drop, the checks every handle goes through, traps),
//! sharing the helpers here.
//!
//! Guest closures avoid `assert!` (a panic cannot unwind across the start
//! trampoline); they return what they saw, and the test asserts outside.

use super::*;
use crate::cont::dynamic::{ContObj, Func, Handler, Resumed};
use ValType::*;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;

pub(super) const STACK: usize = 64 * 1024;

/// `on_mmap_stacks!(a, b)`: a `#[test]` named after each scenario of
/// `cont::scenarios` (shared with the in-kernel `cont` suite), running it in
/// a fresh store of `mmap` stacks and failing with the reason it gives.
macro_rules! on_mmap_stacks {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            if let Err(reason) = crate::cont::scenarios::$name(&store()) {
                panic!("{reason}");
            }
        }
    )*};
}

/// Every scenario of `cont::scenarios`, on `mmap` stacks.
mod scenarios {
    use super::store;

    crate::for_each_scenario!(on_mmap_stacks);
}

mod checks;
mod drop;
mod resume;
mod stack_cache;
mod switch;
mod traps;

/// A store of `mmap` stacks. Its stack limit is raised above the default
/// ([`StoreLimits::DEFAULT`]): a scenario holds 10,000 continuations at once.
pub(super) fn store() -> Pin<Box<Store>> {
    Store::with_limits(MmapStacks::new(), STACK, SCENARIO_LIMITS)
}

/// The limits of the scenarios' stores: room for the 10,000 continuations
/// one of them holds at once.
pub(super) const SCENARIO_LIMITS: StoreLimits = StoreLimits {
    stacks: 16_384,
    ..StoreLimits::DEFAULT
};

pub(super) fn returned<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> R {
    match r {
        Ok(Resumed::Returned(v)) => v,
        other => panic!("expected a return, got {other:?}"),
    }
}

pub(super) fn suspended<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> (usize, ContObj) {
    match r {
        Ok(Resumed::Suspended { handler, cont }) => (handler, cont),
        other => panic!("expected a suspension, got {other:?}"),
    }
}

pub(super) fn trapped<T: core::fmt::Debug>(r: Result<T, Trap>) -> Trap {
    match r {
        Err(trap) => trap,
        Ok(v) => panic!("expected a trap, got {v:?}"),
    }
}

pub(super) use crate::cont::provider::Counting;
