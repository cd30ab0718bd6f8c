//! The top floor: the doors through which code uses the runtime below
//! ([`super::runtime`]). A door converts types and nothing more: every way
//! into a continuation is admitted by the runtime's one admission point
//! ([`super::runtime::admission`]).
//!
//! * [`typed`]: `Tag<P, R>`, `Func<P, R>`, owned `Cont` handles, types
//!   checked by the compiler (what a student writes);
//! * [`raw`]: slices of [`super::ValRaw`] and their types, checked at run
//!   time (for an interpreter).
//!
//! * [`dynamic`]: the names of the dynamic door's handles; its operations
//!   are the store's own methods (`Store::resume` and the rest, over `Copy`
//!   handles, every type checked at run time), one floor down.

pub mod dynamic;
pub mod raw;
pub mod typed;
