//! Lab 1, YOUR FILE: the tasks of a round-robin scheduler that pass
//! control to each other with `switch` and count their switches. The
//! task, the rules of the schedule and the output the checker expects are
//! in `docs/labs/lab1-switches.md`; `check.rs` next to this file is the
//! checker, and the kernel's side of the schedule (read it, do not edit
//! it).
//!
//! Run the checker with `./qemu-run.sh lab 1`.

use crate::RunQueue;
use alloc::rc::Rc;
use core::cell::Cell;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Store, Tag, Trap};

/// Makes the continuation of one task, `name`, which plays `rounds`
/// rounds taking turns with the others through `queue`, switching with
/// `yld`, and adds one to `switches` for every `switch` it makes.
///
/// The task says `"<name>: round <r>"` (with `labs::say!`) just before it
/// switches to the next task, and `"<name>: done"` just before it returns.
pub fn spawn<'s>(
    s: &'s Store,
    yld: Tag<(), ContObj>,
    queue: RunQueue,
    switches: Rc<Cell<u32>>,
    name: &'static str,
    rounds: u32,
) -> Result<Cont<'s, ContObj, ()>, Trap> {
    let _ = (s, yld, queue, switches, name, rounds);
    Err(labs::not_done_yet())
}
