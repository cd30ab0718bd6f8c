//! Stack-switching continuations: the machinery behind WebAssembly's
//! `cont.new`, `resume`, `suspend`, `switch` and `cont.bind`.
//!
//! A continuation is a computation with a stack of its own that can be
//! stopped and continued. The kernel (and guest code) use it through the
//! [`Store`]: make a function ([`Store::func_wrap`]), make a continuation
//! that will run it ([`Store::cont_new`]), run it with [`Store::resume`]
//! under a list of [`Handler`]s; inside, guest code calls
//! [`Store::suspend`] to hand a tag's payload to the nearest resume that
//! handles the tag, and gets back the values of the next resume.
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
//! * [`store`]: the operations, the chain of parents, traps;
//! * [`provider`]: where stacks come from;
//! * [`trap`]: what a trap says.
//!
//! `docs/continuations.md` follows one resume and one suspend instruction
//! by instruction.

pub mod contref;
pub mod func;
pub mod provider;
pub mod raw_door;
pub mod stack;
pub mod store;
pub mod switch;
pub mod trap;
pub mod typed;
pub mod val;
pub mod walk;

#[cfg(test)]
mod cancel_tests;
#[cfg(test)]
mod hostile_tests;
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

pub use contref::{ContObj, Handler, MAX_VALUES, Resumed, State, Tag};
pub use func::{ArrayCallFn, DefineError, Func, FuncRecord, VMContext, WasmValue, WasmValues};
#[cfg(target_os = "linux")]
pub use provider::MmapStacks;
pub use provider::{PAGE_SIZE, StackError, StackProvider};
pub use raw_door::RawResumed;
pub use stack::ContStack;
pub use store::{Store, trap_current};
pub use switch::ControlEffect;
pub use trap::{Backtrace, Trap, TrapKind, TrapText};
pub use val::{ValRaw, ValType};
pub use walk::Frame;
