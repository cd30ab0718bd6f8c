//! Lab 1, reference solution: the task of the demo's scheduler
//! (`kernel/src/main.rs`, scene (c)) for any number of rounds, with a
//! counter of its switches.
//!
//! A task that gains control puts the continuation that switched to it at
//! the back of the shared queue, and switches to the front one while it
//! has rounds left and someone waits. The kernel's loop (the checker's)
//! resumes the first task and the front of the queue each time one
//! returns.

use crate::RunQueue;
use alloc::rc::Rc;
use core::cell::Cell;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Store, Tag, Trap};
use labs::say;

pub fn spawn<'s>(
    s: &'s Store,
    yld: Tag<(), ContObj>,
    queue: RunQueue,
    switches: Rc<Cell<u32>>,
    name: &'static str,
    rounds: u32,
) -> Result<Cont<'s, ContObj, ()>, Trap> {
    // `switch` hands the task the continuation that switched to it (null
    // when the kernel resumed it instead): a `ContObj`, taken over with
    // `Cont::from_raw`.
    let task = Func::wrap(s, move |s: &Store, prev: ContObj| -> Result<(), Trap> {
        let requeue = |k: ContObj| {
            if !k.is_null() {
                queue.borrow_mut().push_back(k);
            }
        };
        requeue(prev);
        for round in 0..rounds {
            let next = queue.borrow_mut().pop_front();
            let Some(next) = next else { break };
            say!("{name}: round {round}");
            switches.set(switches.get() + 1);
            let next = Cont::<ContObj, ()>::from_raw(s, next)?;
            requeue(yld.switch(s, next)?);
        }
        say!("{name}: done");
        Ok(())
    })?;
    Cont::new(s, task)
}
