//! Lab 3, a WRONG solution (`labs-check` requires it to fail): the tasks'
//! continuations are made before the scheduler runs, on the kernel's
//! side, and handed into the scheduler's closure as `ContObj`s. The round
//! robin comes out right; but the scheduler was to make them itself, so
//! that nothing of the tasks exists until the scheduler that owns them
//! does.
//!
//! Expected: the scheduler must make the tasks' continuations itself

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
use labs::say;

pub fn scheduler<'s>(
    s: &'s Store,
    progress: Tag<i32, ()>,
    tasks: &[Func<(), i32>],
) -> Result<Func<'s, (), i32>, Trap> {
    let mut made: Vec<ContObj> = Vec::new();
    for &f in tasks {
        made.push(Cont::new(s, f)?.into_raw());
    }
    let scheduler = Func::wrap(s, move |s: &Store, ()| {
        let mut queue = VecDeque::new();
        for (id, &k) in made.iter().enumerate() {
            queue.push_back((id, Cont::<(), i32>::from_raw(s, k)?));
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
