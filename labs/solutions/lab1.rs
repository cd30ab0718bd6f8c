//! Lab 1, reference solution: the demo's scheduler (`kernel/src/main.rs`,
//! scene (c)) for any number of tasks and rounds, with a counter of the
//! switches the tasks make.
//!
//! The run queue and the counter are shared by every task (`Rc`): a task
//! that gains control puts the continuation that switched to it at the
//! back of the queue, and switches to the front one while it has rounds
//! left. The kernel resumes the first task, and the front of the queue
//! each time a task returns.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
use labs::say;

pub fn run_tasks(s: &Store, names: &[&'static str], rounds: u32) -> Result<u32, Trap> {
    // `switch` sends nothing and hands the task the continuation that
    // switched back to it: a `ContObj`, taken over with `Cont::from_raw`.
    let yld = Tag::<(), ContObj>::new(s).map_err(|_| Trap::guest("the switch tag was refused"))?;
    let queue: Rc<RefCell<VecDeque<ContObj>>> = Rc::default();
    let switches = Rc::new(Cell::new(0u32));
    let mut tasks = VecDeque::new();
    for &name in names {
        let (queue, switches) = (queue.clone(), switches.clone());
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
        })
        .map_err(|_| Trap::guest("the task function was refused"))?;
        tasks.push_back(Cont::new(s, task)?.into_raw());
    }
    let mut next = tasks.pop_front();
    queue.borrow_mut().extend(tasks);
    while let Some(k) = next {
        let task = Cont::<ContObj, ()>::from_raw(s, k)?;
        match task.resume(ContObj::NULL, &[yld.on_switch()])? {
            Resumed::Returned(()) => {}
            Resumed::Suspended(_) => return Err(Trap::guest("a task suspended")),
        }
        next = queue.borrow_mut().pop_front();
    }
    Ok(switches.get())
}
