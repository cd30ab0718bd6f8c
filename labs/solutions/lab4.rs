//! Lab 4, reference solution: one resume per unit of budget. When the
//! budget runs out, the handle of the suspended job is dropped: the typed
//! door cancels the continuation (its pending `suspend` returns `Err` of
//! kind `Cancelled`, the job passes it on with `?`, its frames return and
//! their destructors run), then gives its stack back, all within the drop.
//! A job never resumed is still fresh: dropping it frees it unrun.

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
    drop(k);
    Ok(None)
}
