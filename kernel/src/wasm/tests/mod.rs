//! Host tests of the interpreter: WAT programs written for this kernel,
//! run through decoding, translation and the interpreter, continuations on
//! Linux stacks.

use crate::cont::{MmapStacks, Store};
use crate::wasm::{Error, Instance, Module, Val};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::pin::Pin;

mod core_ops;
mod examples;
mod hostile;
mod linking;
mod odd_modules;
mod refs_exceptions;
mod switching;

/// Stacks for the tests' continuations. Unoptimized (debug) builds of the
/// interpreter use several KiB of native stack per Wasm call, so the host
/// tests give it room (a release build uses about 300 bytes).
const STACK: usize = 1024 * 1024;
/// Native stack the outermost call may use on the test thread (2 MiB).
const BUDGET: usize = 1024 * 1024;

/// An instance of the module written as `wat`.
pub(super) fn instance(wat: &str) -> Pin<Box<Instance>> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let module = Module::new(&bytes).expect("the test's module validates");
    let inst = Instance::new(Arc::new(module), Store::new(MmapStacks::new(), STACK))
        .expect("instantiates");
    inst.set_stack_budget(BUDGET);
    inst
}

pub(super) use crate::cont::provider::Counting;

/// An instance whose store counts its live stacks in `live`.
pub(super) fn instance_counting(wat: &str, live: Rc<Cell<usize>>) -> Pin<Box<Instance>> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let module = Module::new(&bytes).expect("the test's module validates");
    let store = Store::new(Counting(MmapStacks::new(), live), STACK);
    Instance::new(Arc::new(module), store).expect("instantiates")
}

/// Calls `name` and expects results.
pub(super) fn call(inst: &Instance, name: &str, args: &[Val]) -> Vec<Val> {
    match inst.invoke(name, args) {
        Ok(r) => r,
        Err(e) => panic!("{name} failed: {e:?}"),
    }
}

/// Calls `name` and expects a trap; returns its reason.
pub(super) fn trap(inst: &Instance, name: &str, args: &[Val]) -> &'static str {
    match inst.invoke(name, args) {
        Err(e @ Error::Trap(_)) => e.trap_reason().unwrap_or(""),
        other => panic!("{name} did not trap: {other:?}"),
    }
}
