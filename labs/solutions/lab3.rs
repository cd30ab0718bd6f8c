//! Lab 3, reference solution: the scheduler is a guest function that the
//! kernel resumes once. It makes one continuation per task (inside the
//! guest, so the handles borrow the store the guest was given) and keeps
//! them in a queue. A trap comes back from a task's `resume` as an `Err`:
//! it ended that task only (a trap travels one parent at a time), so the
//! scheduler says so and goes on with the rest instead of passing it on
//! with `?`.

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
            match k.resume((), &[progress.on()]) {
                Ok(Resumed::Suspended(turn)) => {
                    let (x, k) = turn.take(progress)?;
                    say!("task {id}: progress {x}");
                    queue.push_back((id, k));
                }
                Ok(Resumed::Returned(v)) => {
                    say!("task {id}: returned {v}");
                    returned += 1;
                }
                Err(trap) => say!("task {id}: trapped: {}", labs::kind_name(trap.kind())),
            }
        }
        Ok(returned)
    })?;
    Ok(scheduler)
}
