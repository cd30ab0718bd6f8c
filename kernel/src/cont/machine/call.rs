//! The array-call convention (`docs/spec.md` §3): the one way the machine
//! runs guest code, whatever the guest is.
//!
//! A continuation's stack holds a `func_ref`, a pointer to a [`FuncRecord`],
//! and the entry ([`super::entry`]) calls
//!
//! ```text
//! array_call(callee_vmctx, caller_vmctx, values, len) -> bool
//! ```
//!
//! which reads the parameters from `values[0..params]`, runs, writes the
//! results to `values[0..results]` (the same slots: `len` is
//! `max(params, results)`) and returns `false` if it trapped. One convention
//! for every function means the stack layout, the trampoline and the runtime
//! never depend on a signature. The contexts are opaque here: the machine
//! passes them on and never looks inside.

use crate::cont::values::val::{ValRaw, ValType};

/// The opaque context pointer a guest function receives. For functions
/// built by `Store::func_wrap`, `callee_vmctx` is the closure and
/// `caller_vmctx` the store.
#[repr(C)]
pub struct VMContext {
    _opaque: [u8; 0],
}

/// The array-call convention: parameters in, results out, through `values`;
/// `false` means the callee trapped.
pub type ArrayCallFn = unsafe extern "C" fn(
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool;

/// A guest function: what a continuation's `func_ref` launch word points at.
/// Owned by the store in a `Box`, so its address never changes.
#[derive(Debug)]
#[repr(C)]
pub struct FuncRecord {
    pub array_call: ArrayCallFn,
    pub callee_vmctx: *mut VMContext,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}
