//! The dynamic door's names: `Copy` handles ([`ContObj`]), tags, functions
//! and handlers whose types the store checks at run time.
//!
//! The operations of this door are the store's own methods
//! (`Store::cont_new`, `Store::resume`, `Store::suspend`, `Store::switch`,
//! `Store::bind`, `Store::resume_throw`, `Store::drop_cont`,
//! `Store::resume_for`), one floor
//! down, beside the record they work on. This file only gives their types
//! names under `kernel::cont::dynamic`, so that the plain names
//! `kernel::cont::{Tag, Func, Resumed}` can be the typed door's: a guest
//! that learns its types only while it runs (a scheduler over tasks of
//! mixed types, the interpreter's host functions) or that keeps a
//! continuation as a value (a `ContObj` fits one `ValRaw` slot) uses these.

pub use crate::cont::runtime::contref::{ContObj, Handler, Resumed, Tag};
pub use crate::cont::runtime::func::Func;
pub use crate::cont::runtime::preempt::Timed;
