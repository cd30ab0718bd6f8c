//! Lab 1, a WRONG solution (`labs-check` requires it to fail): a task
//! hands over to the next one with `resume` instead of `switch`, and comes
//! back when that one suspends or returns. Every task runs, but each
//! inside the one before it: a chain that grows with every turn, not a
//! round robin of equals under the kernel.
//!
//! Expected: continuations deep

use crate::RunQueue;
use alloc::rc::Rc;
use core::cell::Cell;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
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
            let next = queue.borrow_mut().pop_front();
            let Some(next) = next else { break };
            say!("{name}: round {round}");
            switches.set(switches.get() + 1);
            let next = Cont::<ContObj, ()>::from_raw(s, next)?;
            if let Resumed::Suspended(back) = next.resume(ContObj::NULL, &[turn.on()])? {
                queue.borrow_mut().push_back(back.take(turn)?.1.into_raw());
            }
        }
        say!("{name}: done");
        Ok(())
    })?;
    Cont::new(s, task)
}
