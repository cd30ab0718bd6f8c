//! Lab 4's checker: a step budget for a continuation, and its cancellation
//! when the budget runs out (`docs/labs/lab4-deadline.md`).
//!
//! The checker writes the job: it takes a guard (a value whose destructor
//! says `job: guard dropped`), then does its steps, each one a `suspend`
//! of the step tag, then returns. The student's `run_with_budget` resumes
//! the job at most `budget` times. For each pair of step count and budget
//! the checker compares the lines with what must happen: a job that
//! fits its budget returns and its value comes back; one that does not is
//! cancelled after exactly `budget` resumes, and the cancellation lets its
//! frames return, so that its guard is dropped on its own stack, once,
//! before `run_with_budget` returns, and its stack is back by then. A job
//! given no resume at all never starts: nothing of it runs. A job that
//! traps within its budget is not cancelled but failed: its trap must come
//! back as `run_with_budget`'s `Err`, the job's own (kind and message),
//! not as `None`, which would report a failure as a timeout.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use kernel::cont::{Func, Store, Tag, Trap, TrapKind};
use kernel::stacks::KernelStacks;
use labs::say;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab4.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab4.rs")]
mod student;

labs::lab!(4, "a step budget, and cancelling what overruns it", check);

/// (steps the job takes, budget of resumes, the step at which it traps
/// instead of suspending, if any).
const RUNS: [(i32, u32, Option<i32>); 5] = [
    (2, 5, None),
    (3, 4, None),
    (6, 3, None),
    (1, 0, None),
    (4, 6, Some(2)),
];

/// The message of the trap the failing job returns.
const FAILED: &str = "the job failed";

/// The job's guard: says so when it is dropped, and counts it.
struct Guard(Rc<Cell<u32>>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        say!("job: guard dropped");
    }
}

fn check() -> Result<(), String> {
    for (steps, budget, fails_at) in RUNS {
        let heading = match fails_at {
            None => format!("run_with_budget(job of steps = {steps}, budget = {budget})"),
            Some(f) => format!(
                "run_with_budget(job of steps = {steps}, budget = {budget}, trapping at step {f})"
            ),
        };
        say!("{heading}");
        let s = Store::new(KernelStacks, 64 * 1024);
        let step = Tag::<(), ()>::new(&s).map_err(|e| format!("tag refused: {e:?}"))?;
        let dropped = Rc::new(Cell::new(0u32));
        let seen: Rc<Cell<Option<TrapKind>>> = Rc::default();
        let (d, seen_in) = (dropped.clone(), seen.clone());
        let job = Func::wrap(&s, move |s: &Store, ()| -> Result<i32, Trap> {
            let _guard = Guard(d.clone());
            for i in 0..steps {
                say!("job: step {i}");
                if fails_at == Some(i) {
                    return Err(Trap::guest(FAILED));
                }
                if let Err(trap) = step.suspend(s, ()) {
                    seen_in.set(Some(trap.kind()));
                    return Err(trap);
                }
            }
            Ok(100 + steps)
        })
        .map_err(|e| format!("job refused: {e:?}"))?;
        labs::take_log();
        let outcome = student::run_with_budget(&s, job, step, budget);
        let log = labs::take_log();
        let stacks_held = s.outstanding_stacks();
        let drops = dropped.get();
        let got = match (outcome, fails_at) {
            (Ok(got), None) => got,
            (Err(trap), None) => {
                return Err(format!("{heading}: run_with_budget returned {trap}"));
            }
            (Err(trap), Some(_)) if trap.kind() == TrapKind::Guest && trap.message() == FAILED => {
                say!(
                    "trapped: {}: {}",
                    labs::kind_name(trap.kind()),
                    trap.message()
                );
                None
            }
            (Err(trap), Some(_)) => {
                return Err(format!(
                    "{heading}: run_with_budget returned {trap}, expected the job's own trap \
                     (Guest: {FAILED})"
                ));
            }
            (Ok(got), Some(_)) => {
                return Err(format!(
                    "{heading}: returned Ok({got:?}), but the job trapped: a job's trap is not a \
                     timeout, run_with_budget must pass it on as its Err"
                ));
            }
        };
        match (got, fails_at) {
            (_, Some(_)) => {}
            (Some(v), None) => say!("finished: {v}"),
            (None, None) => say!("cancelled"),
        }
        let fits = (steps as u32) < budget || fails_at.is_some();
        let runs = budget > 0;
        let said = match fails_at {
            Some(f) => f + 1,
            None => steps.min(budget as i32),
        };
        let mut want: Vec<String> = (0..said).map(|i| format!("job: step {i}")).collect();
        if runs {
            want.push(String::from("job: guard dropped"));
        }
        labs::same_lines(&log, &want).map_err(|e| format!("{heading}: {e}"))?;
        let want_value = (fits && fails_at.is_none()).then_some(100 + steps);
        if got != want_value {
            return Err(format!(
                "{heading}: returned {got:?}, expected {want_value:?}"
            ));
        }
        if drops != u32::from(runs) {
            return Err(format!(
                "{heading}: the job's guard was dropped {drops} times before run_with_budget returned, expected {}",
                u32::from(runs)
            ));
        }
        if let Some(line) = log
            .iter()
            .find(|l| l.text.starts_with("job:") && l.stack.is_none())
        {
            return Err(format!(
                "{heading}: `{}` was said on the kernel's stack: the job must run in a continuation",
                line.text
            ));
        }
        let want_seen = (runs && !fits).then_some(TrapKind::Cancelled);
        // (A job that traps within its budget is never cancelled.)
        if seen.get() != want_seen {
            return Err(format!(
                "{heading}: the job's pending suspend returned {:?}, expected {want_seen:?} \
                 (a job that overruns its budget is cancelled by dropping its handle)",
                seen.get()
            ));
        }
        if stacks_held != 0 {
            return Err(format!(
                "{heading}: {stacks_held} stacks still held when run_with_budget returned"
            ));
        }
    }
    Ok(())
}
