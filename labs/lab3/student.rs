//! Lab 3, YOUR FILE: a round-robin scheduler, running as a guest, that
//! survives tasks that trap. The task, hints and the output the checker
//! expects are in `docs/labs/lab3-survive.md`; `check.rs` next to this file
//! is the checker (read it, do not edit it).
//!
//! Run the checker with `./qemu-run.sh lab 3`.

use kernel::cont::{Func, Store, Tag, Trap};

/// Gives the scheduler's function: the checker makes its continuation and
/// resumes it once, with no handler. Run there, it makes one continuation
/// per function of `tasks`, runs them round robin, and returns how many
/// tasks returned. Nothing may be made before it runs: the checker
/// refuses a store that already holds a continuation.
///
/// A task reports progress with a `suspend` of `progress` (payload: the
/// progress value); the scheduler then says `"task <i>: progress <x>"`
/// and puts it at the back of the queue. A task that returns `v` makes it
/// say `"task <i>: returned <v>"`, one that traps `"task <i>: trapped:
/// <kind>"` (`labs::kind_name` gives the kind's name); either way it
/// leaves the queue, and the others go on. `<i>` is the task's index in
/// `tasks`.
pub fn scheduler<'s>(
    s: &'s Store,
    progress: Tag<i32, ()>,
    tasks: &[Func<(), i32>],
) -> Result<Func<'s, (), i32>, Trap> {
    let _ = (s, progress, tasks);
    Err(labs::not_done_yet())
}
