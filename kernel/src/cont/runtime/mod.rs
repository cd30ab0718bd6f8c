//! The runtime floor: the store and the operations on its continuations,
//! built on the machine below ([`super::machine`]) and the plain values
//! ([`super::values`]).
//!
//! * [`contref`]: the continuation record, handles with revisions (the
//!   one-shot rule), tags, handlers and what a resume reports;
//! * [`func`]: guest functions and the typed shim that builds an array call
//!   from a closure;
//! * [`store`]: the registry of functions, tags and continuations, and the
//!   chain of parents the operations share (its methods are the dynamic
//!   door);
//! * `handles`: the checks every handle goes through (live, this store's,
//!   not used up);
//! * [`admission`]: the one point every way into a continuation passes,
//!   its checks in one order;
//! * `resume`, `suspend`, `cancel`, `throw`: the operations, one file each
//!   (`cont.new`, `resume` and `cont.bind`; `suspend` and `switch` with the
//!   handler search; drop and cancellation; `resume_throw`);
//! * [`raise`]: raising a trap, and ending a continuation with one;
//! * [`preempt`]: `resume_for`, a budget of timer ticks, and the tick's
//!   involuntary suspend of a continuation that spent it; `epoch`: the
//!   Wasm interpreter's safe points, where it is preempted instead, and
//!   the deadline of a Wasm call; `overdue`: the end of a guest that
//!   holds a lock past its budget; `preemptible`: where a tick may act; `stress_run`: the stress build's
//!   runs, every resume under a budget of one tick;
//! * [`backtrace`]: the machine's walk run across a chain, kept in a trap;
//! * [`limits`]: what a store may hold (heap bytes, stacks) and what it
//!   holds;
//! * `registry`: the list of live stores, where a debugger starts
//!   (`kernel/gdb/continuations.py`).

pub mod admission;
pub mod backtrace;
mod cancel;
pub mod contref;
pub(crate) mod epoch;
pub mod func;
pub(crate) mod gate;
mod handles;
#[cfg(all(target_os = "none", feature = "lab-hooks"))]
pub(crate) mod lab_preempt;
pub mod limits;
pub(crate) mod overdue;
pub mod preempt;
mod preempt_stub;
mod preemptible;
pub mod raise;
pub(crate) mod registry;
mod resume;
pub mod store;
#[cfg(feature = "stress")]
mod stress_run;
mod suspend;
mod throw;
