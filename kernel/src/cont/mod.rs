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
//!   (`kernel/gdb/continuations.py`);
//! * [`trap`]: what a trap says; [`trace`]: its full backtrace, kept
//!   beside it; [`report`]: the backtrace named and grouped by stack.
//!
//! [`scenarios`] holds the behaviours both test harnesses check, written
//! once: the host tests and the in-kernel `cont` suite each run them.
//!
//! The host tests beside them: `tests` (the dynamic door's behaviours),
//! `typed_tests`, `cancel_tests`, `throw_tests`, `raw_door_tests`,
//! `safe_code_tests`, `limits_tests` (the stack limit and the limits API),
//! `hostile_tests` and `hostile_cache_tests` (safe code
//! only, trying to break the runtime; the second attacks the stack cache,
//! the derived `Parent`, `switch`, the live-store list and trap reports), and `model_tests` (random programs against a reference
//! interpreter).
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
pub mod scenarios;
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

#[cfg(test)]
mod cancel_tests;
#[cfg(test)]
mod hostile_cache_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod raw_door_tests;
#[cfg(test)]
mod safe_code_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod throw_tests;
#[cfg(test)]
mod typed_tests;

pub use contref::{MAX_VALUES, State};
pub use func::{ArrayCallFn, DefineError, FuncRecord, VMContext, WasmValue, WasmValues};
pub use limits::{StoreLimits, StoreUsage};
#[cfg(target_os = "linux")]
pub use provider::MmapStacks;
pub use provider::{PAGE_SIZE, StackError, StackProvider};
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
