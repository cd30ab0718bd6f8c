//! Lab 4, a WRONG solution (`labs-check` requires it to fail): any `Err`
//! of the job's resume is taken for the end of its budget and reported as
//! a cancellation (`Err(_) => Ok(None)`). A job that failed then reads as
//! one that ran out of time, and its trap is lost.
//!
//! Expected: a job's trap is not a timeout

use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};

pub fn run_with_budget(
    s: &Store,
    job: Func<(), i32>,
    step: Tag<(), ()>,
    budget: u32,
) -> Result<Option<i32>, Trap> {
    let mut k = Cont::new(s, job)?;
    for _ in 0..budget {
        match k.resume((), &[step.on()]) {
            Ok(Resumed::Returned(v)) => return Ok(Some(v)),
            Ok(Resumed::Suspended(turn)) => k = turn.take(step)?.1,
            Err(_) => return Ok(None),
        }
    }
    drop(k);
    Ok(None)
}
