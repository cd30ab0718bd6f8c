//! Lab 1, a WRONG solution (`labs-check` requires it to fail): the tasks
//! never `switch`; each suspends to the kernel after its round, hoping the
//! kernel's loop will put it back in the queue and play the next one, as a
//! scheduler with a `suspend` handler would. The lines could come out in
//! the right order, but control never went from task to task.
//!
//! Expected: a task must pass control to the next with `switch`

use crate::RunQueue;
use alloc::rc::Rc;
use core::cell::Cell;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Store, Tag, Trap};
use labs::say;

pub fn spawn<'s>(
    s: &'s Store,
    _yld: Tag<(), ContObj>,
    queue: RunQueue,
    switches: Rc<Cell<u32>>,
    name: &'static str,
    rounds: u32,
) -> Result<Cont<'s, ContObj, ()>, Trap> {
    let turn = Tag::<(), ()>::new(s)?;
    let task = Func::wrap(s, move |s: &Store, _: ContObj| -> Result<(), Trap> {
        for round in 0..rounds {
            if queue.borrow().is_empty() {
                break;
            }
            say!("{name}: round {round}");
            switches.set(switches.get() + 1);
            turn.suspend(s, ())?;
        }
        say!("{name}: done");
        Ok(())
    })?;
    Cont::new(s, task)
}
