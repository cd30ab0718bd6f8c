//! Stack-switching continuations: the machinery behind WebAssembly's
//! `cont.new`, `resume`, `suspend`, `switch`, `cont.bind` and
//! `resume_throw`.
//!
//! A continuation is a computation with a stack of its own that can be
//! stopped and continued. Code uses it through one of three doors to the
//! same [`Store`]: the typed door ([`typed`]: `Tag<P, R>`, `Func<P, R>`,
//! owned `Cont` handles; what a student writes), the dynamic door (the
//! store's own methods over `Copy` [`ContObj`] handles, every type checked
//! at run time), and the raw door ([`raw_door`]: slices of [`ValRaw`], for
//! an interpreter).
//!
//! The pieces, from the metal up:
//!
//! * [`stack`]: the words at the top of every continuation stack (control
//!   context, args buffer, launch words), as one table;
//! * [`switch`]: the assembly: the start trampoline and the three-register
//!   stack switch carrying a [`ControlEffect`];
//! * [`func`]: the array-call convention every guest function is reached
//!   through, and the typed wrapper that builds it from a closure;
//! * [`contref`]: the continuation record, handles with revisions (the
//!   one-shot rule), tags, handlers and what a resume reports;
//! * [`store`]: the registry of functions, tags and continuations, and
//!   the chain of parents the operations share;
//! * `handles`: the checks every handle goes through (live, this store's,
//!   not used up);
//! * `resume`, `suspend`, `cancel`, `throw`: the operations, one file each
//!   (`cont.new`, `resume` and `cont.bind`; `suspend` and `switch` with the
//!   handler search; drop and cancellation; `resume_throw`);
//! * `traps`: raising a trap and ending a continuation with it, and the
//!   entry function every continuation starts in;
//! * [`walk`]: the frame-pointer walk that crosses from a continuation into
//!   its parent;
//! * [`val`]: the 16-byte value slot and the value types;
//! * [`typed`] and [`raw_door`]: the typed and the raw doors above;
//! * [`provider`]: where stacks come from;
//! * [`limits`]: what a store may hold (heap bytes, stacks) and what it
//!   holds;
//! * `registry`: the list of live stores, where a debugger starts
//!   (`kernel/gdb/continuations.py`; [`live_store_ids`] reads it);
//! * [`trap`]: what a trap says; [`trace`]: its full backtrace, kept
//!   beside it; [`report`]: the backtrace named and grouped by stack.
//!
//! The tests live beside this code, not in it. The host tests are the
//! package `kernel-tests` (`kernel/tests/`), crates that use only the
//! public API, as a guest would: `cont/` (the dynamic door's operations,
//! the typed and raw doors, cancellation, `resume_throw`, limits, the stack
//! header), `cont_hostile/` (safe code only, `#![forbid(unsafe_code)]` at
//! its root: hostile tests, and what safe code can rely on) and
//! `cont_model/` (random programs against a reference interpreter). The
//! behaviours the host and the in-kernel `cont` suite both check are
//! written once, in the top-level `tests/scenarios.rs`. The inline
//! `#[cfg(test)] mod tests` of a few files check private layout and
//! helpers that no public item shows.
//!
//! `docs/continuations.md` follows one resume and one suspend instruction
//! by instruction.

mod cancel;
pub mod contref;
pub mod func;
mod handles;
pub mod limits;
pub mod provider;
mod raw_door;
mod registry;
pub mod report;
mod resume;
pub mod stack;
pub mod store;
mod suspend;
pub mod switch;
mod throw;
pub mod trace;
pub mod trap;
mod traps;
pub mod typed;
pub mod val;
pub mod walk;

pub use contref::{MAX_VALUES, State};
pub use func::{ArrayCallFn, DefineError, FuncRecord, VMContext, WasmValue, WasmValues};
pub use limits::{StoreLimits, StoreUsage};
#[cfg(target_os = "linux")]
pub use provider::MmapStacks;
pub use provider::{PAGE_SIZE, StackError, StackProvider};
pub use registry::live_store_ids;
pub use report::TrapReport;
pub use stack::ContStack;
pub use store::{STACK_CACHE, Store};
pub use switch::ControlEffect;
pub use trace::{Trace, TraceFrame};
pub use trap::{Backtrace, Trap, TrapKind, TrapText};
pub use traps::trap_current;
pub use val::{ValRaw, ValType};
pub use walk::Frame;

// The typed door takes the plain names: it is the one a student writes.
pub use typed::{Cont, Func, Resumed, Suspension, Tag};

/// The dynamic door: `Copy` handles whose types are checked at run time by
/// the store's own methods (`Store::cont_new`, `Store::resume`,
/// `Store::suspend`, ...). A guest that learns its types only while it runs
/// (a scheduler over mixed tasks, the interpreter's host functions) uses
/// these.
pub mod dynamic {
    pub use super::contref::{ContObj, Handler, Resumed, Tag};
    pub use super::func::Func;
}

/// The raw door: the store's `*_raw` methods over slices of [`ValRaw`]
/// and [`ValType`] lists, for an interpreter (see `Store::resume_raw`).
pub mod raw {
    pub use super::contref::{ContObj, Handler, Tag};
    /// How a raw `resume` came back: the function's result types, or the
    /// handler and the suspended continuation.
    pub use super::raw_door::RawResumed as Resumed;
}
