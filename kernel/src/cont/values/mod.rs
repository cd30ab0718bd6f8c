//! The bottom floor: plain values, which know nothing of stacks or stores.
//!
//! * [`val`]: the 16-byte value slot and the value types;
//! * [`trap`]: what a trap says (kind, message, the first frames of its
//!   backtrace, where it came from);
//! * [`trace`]: a trap's full backtrace, kept in a ring per CPU beside it.
//!
//! Everything above builds on these; they import nothing from `cont`
//! but each other.

pub mod trace;
pub mod trap;
pub mod val;
