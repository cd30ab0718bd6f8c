//! The continuation core attacked from safe code: a test crate that cannot
//! use `unsafe` (it forbids it here, at its root) and reaches the kernel
//! only through its public API, as a guest would. If one of these tests
//! can crash, hang or corrupt the runtime, safe code can, and a promise of
//! `docs/guarantees.md` is broken.
//!
//! * `hostile`: one attempt per test to break the runtime, by line of
//!   attack (the typed door, mixed stores, traps, cancellation,
//!   `resume_throw`, the store's drop, locks, stacks and volume);
//! * `cache`: the same for the stack cache, the derived `State::Parent`,
//!   `switch`, the list of live stores and trap reports;
//! * `safe_code`: each way a user once broke the runtime (or could have),
//!   and the rule that now holds.
//!
//! The in-kernel half, for what needs the kernel's own stacks, CPU and
//! console, is the suite `tests/hostile.rs`.
#![forbid(unsafe_code)]

extern crate alloc;

mod cache;
mod hostile;
mod safe_code;
