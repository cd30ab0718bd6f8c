//! Lab 4, a WRONG solution (`labs-check` requires it to fail): when the
//! budget runs out, the job's handle is forgotten (`core::mem::forget`)
//! rather than dropped, as if no longer resuming it were enough. The job
//! stays suspended: its guard is never dropped, and its stack stays
//! taken until the store goes.
//!
//! Expected: expected `job: guard dropped`, got nothing more

use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};

pub fn run_with_budget(
    s: &Store,
    job: Func<(), i32>,
    step: Tag<(), ()>,
    budget: u32,
) -> Result<Option<i32>, Trap> {
    let mut k = Cont::new(s, job)?;
    for _ in 0..budget {
        match k.resume((), &[step.on()])? {
            Resumed::Returned(v) => return Ok(Some(v)),
            Resumed::Suspended(turn) => k = turn.take(step)?.1,
        }
    }
    core::mem::forget(k);
    Ok(None)
}
