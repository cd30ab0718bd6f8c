//! Host tests of the continuation core through its public API
//! (`kernel::cont::...`): real stacks from `mmap`, real switches. Each test
//! names the Wasm behaviour it checks. The behaviours the in-kernel `cont`
//! suite checks too are written once, in the top-level `tests/scenarios.rs`,
//! and all run here, in the module `scenarios`; the host-only ones follow,
//! one file per behaviour: the dynamic door's operations (`resume`,
//! `switch`, `drop`, the `checks` every handle goes through, `traps`, the
//! `stack_cache`), cancellation (`cancel`), `resume_throw` (`throw`), the
//! typed door (`typed`), the raw door (`raw`), per-store limits (`limits`)
//! and the stack header (`layout`), sharing the helpers here.
//!
//! The safe-code and hostile tests are the crate `cont_hostile` beside this
//! one (it forbids `unsafe` at its root), the model test the crate
//! `cont_model`.
//!
//! Guest closures avoid `assert!` (a panic cannot unwind across the start
//! trampoline); they return what they saw, and the test asserts outside.

extern crate alloc;

/// The scenarios shared with the in-kernel suites: one file of the
/// top-level `tests/` folder, a module of each crate that runs it (see its
/// header for why it is not a crate of its own).
#[path = "../../../tests/scenarios.rs"]
mod scenarios_shared;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;
use kernel::cont::ValType::*;
use kernel::cont::dynamic::{ContObj, Func, Handler, Resumed};
use kernel::cont::*;

pub(crate) const STACK: usize = 64 * 1024;

/// `on_mmap_stacks!(a, b)`: a `#[test]` named after each scenario of
/// `tests/scenarios.rs` (shared with the in-kernel `cont` suite), running it
/// in a fresh store of `mmap` stacks and failing with the reason it gives.
macro_rules! on_mmap_stacks {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            if let Err(reason) = crate::scenarios_shared::$name(&store()) {
                panic!("{reason}");
            }
        }
    )*};
}

/// Every scenario of `tests/scenarios.rs`, on `mmap` stacks.
mod scenarios {
    use super::store;

    crate::for_each_scenario!(on_mmap_stacks);
}

mod cancel;
mod checks;
mod drop;
mod layout;
mod limits;
mod preempt;
mod raw;
mod resume;
mod stack_cache;
mod switch;
mod throw;
mod traps;
mod typed;

/// A store of `mmap` stacks. Its stack limit is raised above the default
/// ([`StoreLimits::DEFAULT`]): a scenario holds 10,000 continuations at once.
pub(crate) fn store() -> Pin<Box<Store>> {
    Store::with_limits(MmapStacks::new(), STACK, SCENARIO_LIMITS)
}

/// The limits of the scenarios' stores: room for the 10,000 continuations
/// one of them holds at once.
pub(crate) const SCENARIO_LIMITS: StoreLimits = StoreLimits {
    stacks: 16_384,
    ..StoreLimits::DEFAULT
};

pub(crate) fn returned<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> R {
    match r {
        Ok(Resumed::Returned(v)) => v,
        other => panic!("expected a return, got {other:?}"),
    }
}

pub(crate) fn suspended<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> (usize, ContObj) {
    match r {
        Ok(Resumed::Suspended { handler, cont }) => (handler, cont),
        other => panic!("expected a suspension, got {other:?}"),
    }
}

pub(crate) fn trapped<T: core::fmt::Debug>(r: Result<T, Trap>) -> Trap {
    match r {
        Err(trap) => trap,
        Ok(v) => panic!("expected a trap, got {v:?}"),
    }
}

/// A provider of `mmap` stacks that counts the stacks it has out in a
/// cell the test keeps, so the count can be read after the store (which
/// owns the provider) has dropped.
pub(crate) struct Counting(pub(crate) MmapStacks, pub(crate) Rc<Cell<usize>>);

// SAFETY: forwards every call to `MmapStacks`, which keeps the contract;
// the count is bookkeeping beside it.
unsafe impl StackProvider for Counting {
    fn allocate(&mut self, size: usize, owner: *const ()) -> Result<ContStack, StackError> {
        self.1.set(self.1.get() + 1);
        self.0.allocate(size, owner)
    }
    fn free(&mut self, stack: ContStack) {
        self.1.set(self.1.get() - 1);
        self.0.free(stack)
    }
    fn outstanding(&self) -> usize {
        self.1.get()
    }
}
