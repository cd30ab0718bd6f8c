//! Stack-switching continuations: the machinery behind WebAssembly's
//! `cont.new`, `resume`, `suspend`, `switch`, `cont.bind` and
//! `resume_throw`.
//!
//! A continuation is a computation with a stack of its own that can be
//! stopped and continued. Code uses it through one of three doors to the
//! same [`Store`]: the typed door ([`typed`], whose types take the plain
//! names [`Tag<P, R>`](Tag), [`Func<P, R>`](Func), owned [`Cont`] handles
//! and [`Resumed`]; what a student writes), the dynamic door ([`dynamic`]:
//! the store's own methods over `Copy` [`dynamic::ContObj`] handles, every
//! type checked at run time), and the raw door ([`raw`]: slices of
//! [`ValRaw`], for an interpreter).
//!
//! The core is built in floors, each a folder that imports only from the
//! floors below it (`kernel/tests/floors.rs` checks every `use`), so that a
//! reader can take one floor at a time, from the bottom:
//!
//! ```text
//!  +---------------------------------------------------------------+
//!  | doors/     typed.rs (Tag<P,R>, Func<P,R>, Cont)   raw.rs (slots)|
//!  |            dynamic.rs (names of the store's Copy handles)       |
//!  |            convert types; every entry passes runtime::admission |
//!  +---------------------------------------------------------------+
//!  | runtime/   store.rs contref.rs func.rs handles.rs registry.rs   |
//!  |            limits.rs  admission.rs (the one way in)              |
//!  |            resume.rs suspend.rs cancel.rs throw.rs               |
//!  |            raise.rs (traps)  backtrace.rs (walks across a chain) |
//!  |            preempt.rs (resume_for, the tick's suspend, its stub)  |
//!  +---------------------------------------------------------------+
//!  | machine/   stack.rs (the layout table)  call.rs (array call)    |
//!  |            switch.rs (trampoline, switch)  entry.rs (into a guest)|
//!  |            walk.rs (frame records)  provider.rs (where stacks    |
//!  |            come from); knows contexts and opaque pointers, not   |
//!  |            the store; a guest's end is an effect word, not a call|
//!  +---------------------------------------------------------------+
//!  | values/    val.rs (slots, types)  trap.rs (what a trap says)     |
//!  |            trace.rs (a trap's full backtrace)                    |
//!  +---------------------------------------------------------------+
//! ```
//!
//! Each floor's `mod.rs` lists its files. The kernel's own pieces that name
//! stack slots and symbols (the trap report, `crate::trap_report`; the
//! kernel's stack pool, `crate::stacks`) live outside `cont/` and import
//! it, never the other way round: the core builds and runs its tests on the
//! host without them.
//!
//! The tests live beside this code, not in it. The host tests are the
//! package `kernel-tests` (`kernel/tests/`), crates that use only the
//! public API, as a guest would: `cont/` (the dynamic door's operations,
//! the typed and raw doors, cancellation, `resume_throw`, limits, the stack
//! header), `cont_hostile/` (safe code only, `#![forbid(unsafe_code)]` at
//! its root: hostile tests, and what safe code can rely on) and
//! `cont_model/` (random programs against a reference interpreter) and
//! `floors.rs` (no file of a floor imports from a floor above it). The
//! behaviours the host and the in-kernel `cont` suite both check are
//! written once, in the top-level `tests/scenarios.rs`. The inline
//! `#[cfg(test)] mod tests` of a few files check private layout and
//! helpers that no public item shows.
//!
//! `docs/continuations.md` follows one resume and one suspend instruction
//! by instruction.

pub(crate) mod doors;
pub(crate) mod machine;
pub(crate) mod runtime;
pub(crate) mod values;

// The public paths of the floors' modules: a floor is the crate's own
// grouping (`pub(crate)`), and code outside the crate names each module at
// the level of `cont` (`kernel::cont::stack::ContStack`,
// `kernel::cont::switch::frame_pointer`, `kernel::cont::typed::Cont`), as
// do the host tests beside this file. A file inside `cont/` names its floor
// instead (`kernel/tests/floors.rs` checks).
pub use doors::{dynamic, raw, typed};
pub use machine::{call, provider, stack, switch, walk};
pub use runtime::limits;
pub use runtime::preempt;
pub(crate) use runtime::{contref, func, store};
pub use values::{trace, trap, val};

pub use call::{ArrayCallFn, FuncRecord, VMContext};
pub use contref::{MAX_VALUES, State};
pub use func::{DefineError, WasmValue, WasmValues};
pub use limits::{StoreLimits, StoreUsage};
#[cfg(target_os = "linux")]
pub use provider::MmapStacks;
pub use provider::{PAGE_SIZE, StackError, StackProvider};
pub use runtime::raise::trap_current;
pub use runtime::registry::live_store_ids;
pub use stack::ContStack;
pub use store::{STACK_CACHE, Store};
pub use switch::ControlEffect;
pub use trace::{Trace, TraceFrame};
pub use trap::{Backtrace, Trap, TrapKind, TrapText};
pub use val::{ValRaw, ValType};
pub use walk::Frame;

// The typed door takes the plain names: it is the one a student writes.
pub use typed::{Cont, Func, Resumed, Suspension, Tag, Timed};
