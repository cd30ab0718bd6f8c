//! A WebAssembly interpreter whose stack-switching instructions run on the
//! kernel's continuations.
//!
//! The pieces, in the order a module goes through them:
//!
//! * [`module`]: decoding and validation (wasmparser, with the
//!   stack-switching, exceptions and function-references proposals);
//! * [`code`]: each function translated once into a compact internal form
//!   with its branch targets resolved;
//! * [`types`]: how Wasm value types map onto the runtime's slot types;
//! * [`instance`]: memory, globals, tables, tags and the runtime functions
//!   of an instance, and the calls into it; [`memory`]: a linear memory,
//!   pages mapped in its own slot of the kernel's address space;
//!   `segments`: the memories an instance makes, its constant
//!   expressions and active segments;
//! * [`interp`]: the interpreter, a handler per op chained by tail calls,
//!   one native frame per Wasm call (and none per tail call), its callees
//!   found by [`callee`];
//! * [`linker`]: instances that share a store and import from each other,
//!   each import checked against its export's exact type ([`exact`]);
//! * [`num`]: the numeric instructions;
//! * [`host`]: the `spectest` host module, and [`wasi`]: WASI preview 1,
//!   the imports a lone instance resolves;
//! * [`switching`]: `cont.new`, `cont.bind`, `resume`, `resume_throw`,
//!   `suspend` and `switch` as calls of the runtime's dynamic door
//!   (crate-private, as are the interpreter's [`interp::call`] and its
//!   value stack: each trusts its slots to hold only handles the runtime
//!   made, which validation promises for the interpreter's own stack and
//!   nothing could for a slice a caller outside filled);
//! * `timed`: an instance's tick budget, and its exports as runtime
//!   functions for `resume_for`;
//! * [`trap`]: traps and exceptions, and the specification's words for them;
//! * [`val`]: values as the host passes them and as slots hold them.
//!
//! `docs/wasm.md` follows one `resume` from the Wasm instruction down to
//! the kernel's stack switch.

pub(crate) mod callee;
pub mod code;
pub(crate) mod exact;
pub mod host;
pub mod instance;
pub mod interp;
pub mod linker;
pub mod memory;
pub mod module;
pub mod num;
mod segments;
pub(crate) mod switching;
mod timed;
pub mod trap;
pub mod types;
pub mod val;
pub mod wasi;

pub use code::CompileError;
pub use instance::{Error, Instance, RefVal, Val};
pub use linker::Linker;
pub use module::Module;
