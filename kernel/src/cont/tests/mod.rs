//! Behaviour tests of the whole machinery through the dynamic door, on the
//! host: real stacks from `mmap`, real switches. Each test names the Wasm
//! behaviour it checks; one file per operation (`resume`, `bind`,
//! `switch`, drop, the checks every handle goes through, traps), sharing
//! the helpers here.
//!
//! Guest closures avoid `assert!` (a panic cannot unwind across the start
//! trampoline); they return what they saw, and the test asserts outside.

use super::*;
use ValType::*;
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;
use std::collections::VecDeque;

pub(super) const STACK: usize = 64 * 1024;

mod bind;
mod checks;
mod drop;
mod resume;
mod stack_cache;
mod switch;
mod traps;

pub(super) fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), STACK)
}

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

/// Builds: kernel --resume[on a]--> outer --resume[on `inner_handles`]--> inner,
/// where inner does `suspend a 5` and returns twice what comes back.
/// Outer returns inner's result + 1, or (if inner suspends to outer) resumes
/// it with 50 and returns its result + 1000.
pub(super) fn forwarding_pair(s: &Store, a: Tag, inner_handles: Tag) -> Func {
    let inner = s
        .func_wrap(move |s, ()| Ok(s.suspend::<_, i32>(a, 5)? * 2))
        .unwrap();
    s.func_wrap(move |s, ()| {
        let k = s.cont_new(inner)?;
        match s.resume::<_, i32>(k, (), &[Handler::suspend(inner_handles)])? {
            Resumed::Returned(v) => Ok(v + 1),
            Resumed::Suspended { cont, .. } => Ok(returned::<i32>(s.resume(cont, 50, &[])) + 1000),
        }
    })
    .unwrap()
}

pub(super) unsafe extern "C" fn failing_guest(
    _: *mut VMContext,
    _: *mut VMContext,
    _: *mut ValRaw,
    _: usize,
) -> bool {
    false
}

/// A provider that counts outstanding stacks in a cell the test keeps.
pub(super) struct Counting(pub(super) MmapStacks, pub(super) Rc<Cell<usize>>);

// SAFETY: forwards to `MmapStacks`, which keeps the contract.
unsafe impl StackProvider for Counting {
    fn allocate(&mut self, size: usize, owner: *const Store) -> Result<ContStack, StackError> {
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
