//! Lab 3, a WRONG solution (`labs-check` requires it to fail): the
//! scheduler resumes each task with `?`, the way the README's examples
//! do. The first task that traps then ends the scheduler too: its trap is
//! passed on, one parent further, instead of ending that task only.
//!
//! Expected: a task's trap must end that task only

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
use labs::say;

pub fn scheduler<'s>(
    s: &'s Store,
    progress: Tag<i32, ()>,
    tasks: &[Func<(), i32>],
) -> Result<Func<'s, (), i32>, Trap> {
    let tasks: Vec<Func<'static, (), i32>> = tasks.iter().map(|f| f.detach()).collect();
    let scheduler = Func::wrap(s, move |s: &Store, ()| {
        let mut queue = VecDeque::new();
        for (id, &f) in tasks.iter().enumerate() {
            queue.push_back((id, Cont::new(s, f)?));
        }
        let mut returned = 0;
        while let Some((id, k)) = queue.pop_front() {
            match k.resume((), &[progress.on()])? {
                Resumed::Suspended(turn) => {
                    let (x, k) = turn.take(progress)?;
                    say!("task {id}: progress {x}");
                    queue.push_back((id, k));
                }
                Resumed::Returned(v) => {
                    say!("task {id}: returned {v}");
                    returned += 1;
                }
            }
        }
        Ok(returned)
    })?;
    Ok(scheduler)
}
