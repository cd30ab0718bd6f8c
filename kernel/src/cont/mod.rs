//! Stack-switching continuations: the machinery behind WebAssembly's
//! `cont.new`, `resume`, `suspend`, `switch`, `cont.bind` and
//! `resume_throw`.
//!
//! A continuation is a computation with a stack of its own that can be
//! stopped and continued. Code uses it through one of three doors to the
//! same [`Store`]: the typed door ([`typed`]: `Tag<P, R>`, `Func<P, R>`,
//! owned `Cont` handles; what a student writes), the dynamic door (the
//! store's own methods over `Copy` [`ContObj`] handles, every type checked
//! at run time), and the raw door ([`raw`]: slices of [`ValRaw`], for
//! an interpreter).
//!
//! The core is built in floors, each a folder that imports only from the
//! floors below it (`kernel/tests/floors.rs` checks every `use`), so that a
//! reader can take one floor at a time, from the bottom:
//!
//! ```text
//!  +---------------------------------------------------------------+
//!  | doors/     typed.rs (Tag<P,R>, Func<P,R>, Cont)   raw.rs (slots)|
//!  |            convert types; every entry passes runtime::admission |
//!  +---------------------------------------------------------------+
//!  | runtime/   store.rs contref.rs func.rs handles.rs registry.rs   |
//!  |            limits.rs  admission.rs (the one way in)              |
//!  |            resume.rs suspend.rs cancel.rs throw.rs               |
//!  |            raise.rs (traps)  backtrace.rs (walks across a chain) |
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
/// The trap report's path before the floors, still named by the kernel's
/// fault and panic reports: it lives on the kernel's side now
/// ([`crate::trap_report`]), since it names stack slots and symbols.
pub use crate::trap_report as report;
pub use doors::{raw, typed};
pub use machine::{call, provider, stack, switch, walk};
#[cfg(test)]
use runtime::registry;
pub use runtime::{contref, func, limits, store};
pub use values::{trace, trap, val};

pub mod scenarios;

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

pub use crate::trap_report::TrapReport;
pub use call::{ArrayCallFn, FuncRecord, VMContext};
pub use contref::{ContObj, Handler, MAX_VALUES, Resumed, State, Tag};
pub use func::{DefineError, Func, WasmValue, WasmValues};
pub use limits::{StoreLimits, StoreUsage};
#[cfg(target_os = "linux")]
pub use provider::MmapStacks;
pub use provider::{PAGE_SIZE, StackError, StackProvider};
pub use raw::RawResumed;
pub use runtime::raise::trap_current;
pub use stack::ContStack;
pub use store::{STACK_CACHE, Store};
pub use switch::ControlEffect;
pub use trace::{Trace, TraceFrame};
pub use trap::{Backtrace, Trap, TrapKind, TrapText};
pub use val::{ValRaw, ValType};
pub use walk::Frame;
