//! Host tests of the interpreter: WAT programs written for this kernel,
//! run through decoding, translation and the interpreter, continuations on
//! Linux stacks.

use core::cell::Cell;
use core::pin::Pin;
use kernel::cont::{ContStack, MmapStacks, StackError, StackProvider, Store};
use kernel::wasm::{Error, Instance, Module, Val};
use std::boxed::Box;
use std::rc::Rc;
use std::sync::Arc;
use std::vec::Vec;

mod core_ops;
mod examples;
mod hostile;
mod linking;
mod memories;
mod odd_modules;
mod refs_exceptions;
mod switching;
mod wasi;
mod wasi_hostile;

/// Stacks for the tests' continuations. Unoptimized (debug) builds of the
/// interpreter use several KiB of native stack per Wasm call, so the host
/// tests give it room (a release build uses about 300 bytes).
const STACK: usize = 1024 * 1024;
/// Native stack the outermost call may use on the test thread (2 MiB).
const BUDGET: usize = 1024 * 1024;

/// An instance of the module written as `wat`.
fn instance(wat: &str) -> Pin<Box<Instance>> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let module = Module::new(&bytes).expect("the test's module validates");
    let inst = Instance::new(Arc::new(module), Store::new(MmapStacks::new(), STACK))
        .expect("instantiates");
    inst.set_stack_budget(BUDGET);
    inst
}

/// A provider that counts the stacks it has handed out and not taken back,
/// in a cell the test keeps, so the count can be read after the store
/// (which owns the provider) has dropped.
pub struct Counting(pub MmapStacks, pub Rc<Cell<usize>>);

// SAFETY: every call forwards to `MmapStacks`, which keeps the contract;
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

/// An instance whose store counts its live stacks in `live`.
fn instance_counting(wat: &str, live: Rc<Cell<usize>>) -> Pin<Box<Instance>> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let module = Module::new(&bytes).expect("the test's module validates");
    let store = Store::new(Counting(MmapStacks::new(), live), STACK);
    Instance::new(Arc::new(module), store).expect("instantiates")
}

/// Calls `name` and expects results.
fn call(inst: &Instance, name: &str, args: &[Val]) -> Vec<Val> {
    match inst.invoke(name, args) {
        Ok(r) => r,
        Err(e) => panic!("{name} failed: {e:?}"),
    }
}

/// Calls `name` and expects a trap; returns its reason.
fn trap(inst: &Instance, name: &str, args: &[Val]) -> &'static str {
    match inst.invoke(name, args) {
        Err(e @ Error::Trap(_)) => e.trap_reason().unwrap_or(""),
        other => panic!("{name} did not trap: {other:?}"),
    }
}
