//! Lab 3's checker: a round-robin scheduler, itself a guest, that survives
//! tasks that trap (`docs/labs/lab3-survive.md`).
//!
//! The checker writes the tasks. Each follows a script: report progress a
//! number of times (a `suspend` with the progress value), then end one way:
//! return a value, divide by zero (Rust's checked `/` panics, which
//! becomes a `Panic` trap), recurse until the stack's guard page (a
//! `StackOverflow` trap), or return a guest trap. The student's
//! `scheduler` gives the scheduler's function; the checker makes its
//! continuation and resumes it once, with no handler. Before that, the
//! store must hold no stack at all: every task's continuation is made by
//! the scheduler, inside it (one made outside and passed in shows here).
//! The scheduler must run the tasks round robin and say what each turn
//! brought. The checker compares the lines with a model of the round robin
//! worked out from the scripts alone, checks that they were all said on
//! one continuation stack one deep (the scheduler's), that the scheduler
//! returned the count of tasks that returned, that every stack is back
//! afterwards, and that the store still runs a new continuation.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
use kernel::stacks::KernelStacks;
use labs::say;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab3.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab3.rs")]
mod student;

labs::lab!(3, "a scheduler guest that survives its tasks' traps", check);

/// How a task ends, once it has reported its progress.
#[derive(Clone, Copy)]
enum End {
    Return(i32),
    DivideByZero,
    StackOverflow,
    GuestTrap,
}

/// The tasks: how many times each reports progress, and how it ends.
const SCRIPTS: [(i32, End); 5] = [
    (3, End::Return(7)),
    (1, End::DivideByZero),
    (2, End::StackOverflow),
    (0, End::GuestTrap),
    (2, End::Return(9)),
];

fn check() -> Result<(), String> {
    let s = Store::new(KernelStacks, 64 * 1024);
    let progress = Tag::<i32, ()>::new(&s).map_err(|e| format!("tag refused: {e:?}"))?;
    let mut tasks = Vec::new();
    for (id, (steps, end)) in SCRIPTS.into_iter().enumerate() {
        let f = Func::wrap(&s, move |s: &Store, ()| {
            task(s, progress, id as i32, steps, end)
        })
        .map_err(|e| format!("task refused: {e:?}"))?;
        tasks.push(f);
    }
    say!("schedule({} tasks)", tasks.len());
    labs::take_log();
    let scheduler = student::scheduler(&s, progress, &tasks)
        .map_err(|trap| format!("scheduler returned {trap}"))?;
    let early = s.outstanding_stacks();
    if early != 0 {
        return Err(format!(
            "{early} continuations existed before the scheduler ran: the scheduler must make \
             the tasks' continuations itself, inside its own continuation"
        ));
    }
    let k = Cont::new(&s, scheduler).map_err(|t| format!("the scheduler's continuation: {t}"))?;
    let returned = match k.resume((), &[]) {
        Ok(Resumed::Returned(n)) => n,
        Ok(Resumed::Suspended(_)) => {
            return Err(String::from("the scheduler suspended to the kernel"));
        }
        Err(trap) => {
            return Err(format!(
                "the scheduler trapped ({trap}) after saying {} lines: a task's trap must end \
                 that task only, not be passed on",
                labs::take_log().len()
            ));
        }
    };
    let log = labs::take_log();
    say!("tasks that returned: {returned}");
    let (want, want_returned) = model();
    labs::same_lines(&log, &want)?;
    if returned != want_returned {
        return Err(format!(
            "the scheduler counted {returned} tasks that returned, {want_returned} did"
        ));
    }
    let stacks: Vec<Option<usize>> = log.iter().map(|l| l.stack).collect();
    match stacks.first() {
        Some(None) => {
            return Err(String::from(
                "the scheduler said its lines on the kernel's stack: it must run as a guest, in a continuation",
            ));
        }
        Some(first) if stacks.iter().any(|s| s != first) => {
            return Err(String::from(
                "the lines were said on more than one stack: the scheduler alone should say them",
            ));
        }
        _ => {}
    }
    if let Some(line) = log.iter().find(|l| l.depth != 1) {
        return Err(format!(
            "`{}` was said {} continuations deep: the scheduler runs directly under the kernel",
            line.text, line.depth
        ));
    }
    if s.outstanding_stacks() != 0 {
        return Err(format!(
            "{} stacks still held after the scheduler returned",
            s.outstanding_stacks()
        ));
    }
    still_runs(&s)
}

/// One task: reports `id * 10 + i` for i in 0..steps, then ends as told.
fn task(s: &Store, progress: Tag<i32, ()>, id: i32, steps: i32, end: End) -> Result<i32, Trap> {
    for i in 0..steps {
        progress.suspend(s, id * 10 + i)?;
    }
    match end {
        End::Return(v) => Ok(v),
        End::DivideByZero => Ok(black_box(100) / black_box(0)),
        End::StackOverflow => Ok(recurse(black_box(1))),
        End::GuestTrap => Err(Trap::guest("the task gave up")),
    }
}

/// Recursion with no end (`black_box` hides that `n` never reaches 0):
/// each call keeps a 256-byte array alive until the guard page below the
/// stack is touched.
fn recurse(n: i32) -> i32 {
    if black_box(n) == 0 {
        return 0;
    }
    let frame = black_box([n; 64]);
    recurse(frame[n as usize % 64] + 1) + frame[0]
}

/// The lines a round robin over the scripts says, and how many tasks
/// return: the queue starts in task order; a task that reports progress
/// goes to the back, one that ends leaves it.
fn model() -> (Vec<String>, i32) {
    let mut lines = Vec::new();
    let mut returned = 0;
    let mut done = [0i32; SCRIPTS.len()];
    let mut queue: VecDeque<usize> = (0..SCRIPTS.len()).collect();
    while let Some(id) = queue.pop_front() {
        let (steps, end) = SCRIPTS[id];
        if done[id] < steps {
            lines.push(format!("task {id}: progress {}", id as i32 * 10 + done[id]));
            done[id] += 1;
            queue.push_back(id);
            continue;
        }
        lines.push(match end {
            End::Return(v) => {
                returned += 1;
                format!("task {id}: returned {v}")
            }
            End::DivideByZero => format!("task {id}: trapped: Panic"),
            End::StackOverflow => format!("task {id}: trapped: StackOverflow"),
            End::GuestTrap => format!("task {id}: trapped: Guest"),
        });
    }
    (lines, returned)
}

/// After all that, a new continuation of the same store runs to its end.
fn still_runs(s: &Store) -> Result<(), String> {
    let f = Func::wrap(s, |_: &Store, x: i32| Ok(x + 1)).map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(s, f).map_err(|t| format!("{t}"))?;
    match k.resume(41, &[]) {
        Ok(Resumed::Returned(42)) => Ok(()),
        Ok(_) => Err(String::from(
            "after schedule, a new continuation did not return 42",
        )),
        Err(t) => Err(format!("after schedule, a new continuation trapped: {t}")),
    }
}
