//! Lab 4, a WRONG solution (`labs-check` requires it to fail): the budget
//! is read as the number of steps the job may take, so the job is resumed
//! once more than the budget allows (`0..=budget`) to let it finish its
//! last step.
//!
//! Expected: got `job: step 3`

use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};

pub fn run_with_budget(
    s: &Store,
    job: Func<(), i32>,
    step: Tag<(), ()>,
    budget: u32,
) -> Result<Option<i32>, Trap> {
    let mut k = Cont::new(s, job)?;
    for _ in 0..=budget {
        match k.resume((), &[step.on()])? {
            Resumed::Returned(v) => return Ok(Some(v)),
            Resumed::Suspended(turn) => k = turn.take(step)?.1,
        }
    }
    drop(k);
    Ok(None)
}
