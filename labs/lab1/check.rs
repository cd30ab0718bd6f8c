//! Lab 1's checker: a round-robin scheduler built on `switch`, which counts
//! the switches it makes (`docs/labs/lab1-switches.md`).
//!
//! The student writes the tasks (`spawn` in `student.rs`); the checker is
//! the kernel. It spawns one task per name, puts all but the first in the
//! run queue they share, and plays the kernel's loop itself: it resumes
//! the first task, and the front of the queue each time a task returns,
//! with **only** a switch handler installed (`yld.on_switch()`). So the
//! only way for a task to hand control to another without returning is a
//! `switch`: a task that suspends to the kernel finds no handler and
//! traps. Then, line by line, where each task line was said: on a
//! continuation stack, exactly one continuation deep (`labs::Line::depth`:
//! the kernel's walk across the chain). A task that resumed the next one
//! inside itself instead of switching would make it say its lines two
//! deep. Then the lines, compared with a model of the schedule (a queue
//! of task numbers, worked out here without any continuation), the count
//! of switches, one stack per task, and every stack back with its store.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Resumed, Store, Tag};
use kernel::stacks::KernelStacks;
use labs::{Line, say};

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab1.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab1.rs")]
mod student;

/// The run queue the tasks and the kernel's loop share: the continuations
/// waiting for their turn, front first.
pub type RunQueue = Rc<RefCell<VecDeque<ContObj>>>;

labs::lab!(1, "count the switches of a round-robin scheduler", check);

/// The task lists and round counts the checker tries.
const RUNS: [(&[&str], u32); 4] = [
    (&["A", "B", "C"], 3),
    (&["A", "B"], 1),
    (&["A"], 2),
    (&["P", "Q", "R", "S"], 2),
];

fn check() -> Result<(), String> {
    for (names, rounds) in RUNS {
        let heading = format!("run_tasks([{}], rounds = {rounds})", names.join(", "));
        say!("{heading}");
        let s = Store::new(KernelStacks, 64 * 1024);
        labs::take_log();
        let switches = run_tasks(&s, names, rounds).map_err(|e| format!("{heading}: {e}"))?;
        let log = labs::take_log();
        say!("switches: {switches}");
        one_level_down(&log, names).map_err(|e| format!("{heading}: {e}"))?;
        let (want, want_switches) = model(names, rounds);
        labs::same_lines(&log, &want).map_err(|e| format!("{heading}: {e}"))?;
        if switches != want_switches {
            return Err(format!(
                "{heading}: the tasks counted {switches} switches, the schedule made {want_switches}"
            ));
        }
        one_stack_per_task(&log, names).map_err(|e| format!("{heading}: {e}"))?;
        if s.outstanding_stacks() != 0 {
            return Err(format!(
                "{heading}: {} stacks still held after the last task returned (a task did not finish?)",
                s.outstanding_stacks()
            ));
        }
    }
    Ok(())
}

/// The kernel's side of the schedule: spawns the tasks (the student's
/// `spawn`), queues all but the first, resumes the first and then the
/// front of the queue each time a task returns, with only the switch
/// handler installed. Returns the switches the tasks counted.
fn run_tasks(s: &Store, names: &[&'static str], rounds: u32) -> Result<u32, String> {
    let yld = Tag::<(), ContObj>::new(s).map_err(|e| format!("tag refused: {e:?}"))?;
    let queue: RunQueue = Rc::default();
    let switches = Rc::new(Cell::new(0u32));
    let mut first = None;
    for &name in names {
        let task = student::spawn(s, yld, queue.clone(), switches.clone(), name, rounds)
            .map_err(|trap| format!("spawn({name}) returned {trap}"))?
            .into_raw();
        match first {
            None => first = Some(task),
            Some(_) => queue.borrow_mut().push_back(task),
        }
    }
    let mut next = first;
    while let Some(k) = next {
        let task = kernel::cont::Cont::<ContObj, ()>::from_raw(s, k)
            .map_err(|trap| format!("the front of the run queue is no task: {trap}"))?;
        match task.resume(ContObj::NULL, &[yld.on_switch()]) {
            Ok(Resumed::Returned(())) => {}
            Ok(Resumed::Suspended(_)) => {
                return Err(String::from(
                    "a task suspended to the kernel: tasks must pass control with `switch`",
                ));
            }
            Err(trap) => {
                return Err(format!(
                    "a task ended in {trap}; the kernel's resume handles only a switch to `yld` \
                     (`yld.on_switch()`): a task must pass control to the next with `switch`, \
                     not suspend to the kernel"
                ));
            }
        }
        next = queue.borrow_mut().pop_front();
    }
    Ok(switches.get())
}

/// Every task line was said in a continuation directly under the kernel's
/// resume: one deep. A `switch` replaces the running task by its target at
/// the same depth; a `resume` would nest the next task inside the one
/// that resumed it.
fn one_level_down(log: &[Line], names: &[&str]) -> Result<(), String> {
    for line in log {
        if !names
            .iter()
            .any(|n| line.text.starts_with(&format!("{n}:")))
        {
            continue;
        }
        match line.depth {
            1 => {}
            0 => {
                return Err(format!(
                    "`{}` was said on the kernel's stack: a task must run in a continuation",
                    line.text
                ));
            }
            d => {
                return Err(format!(
                    "`{}` was said {d} continuations deep: a task runs directly under the \
                     kernel's resume (a `switch` replaces the running task; a `resume` nests \
                     the next one inside it)",
                    line.text
                ));
            }
        }
    }
    Ok(())
}

/// What the tasks say, and how many switches they make: task 0 is resumed
/// first, the others wait in a queue in order. A running task with rounds
/// left and someone waiting says its round and switches to the front of
/// the queue, which puts the switcher at the back; otherwise it says it is
/// done and returns, and the kernel resumes the front of the queue.
fn model(names: &[&str], rounds: u32) -> (Vec<String>, u32) {
    let mut lines = Vec::new();
    let mut switches = 0;
    let mut done = alloc::vec![0u32; names.len()];
    let mut queue: VecDeque<usize> = (1..names.len()).collect();
    let mut running = 0;
    loop {
        if done[running] < rounds
            && let Some(next) = queue.pop_front()
        {
            lines.push(format!("{}: round {}", names[running], done[running]));
            done[running] += 1;
            switches += 1;
            queue.push_back(running);
            running = next;
            continue;
        }
        lines.push(format!("{}: done", names[running]));
        match queue.pop_front() {
            Some(next) => running = next,
            None => return (lines, switches),
        }
    }
}

/// Each task's lines were said on one continuation stack, and no two tasks
/// shared one.
fn one_stack_per_task(log: &[Line], names: &[&str]) -> Result<(), String> {
    let mut stacks: Vec<Option<usize>> = alloc::vec![None; names.len()];
    for line in log {
        let Some(task) = names
            .iter()
            .position(|n| line.text.starts_with(&format!("{n}:")))
        else {
            continue;
        };
        let Some(slot) = line.stack else {
            return Err(format!(
                "`{}` was said on the kernel's stack: a task must run in a continuation",
                line.text
            ));
        };
        match stacks[task] {
            None => stacks[task] = Some(slot),
            Some(first) if first != slot => {
                return Err(format!(
                    "task {} said lines on stack {first} and on stack {slot}",
                    names[task]
                ));
            }
            Some(_) => {}
        }
    }
    for (i, a) in stacks.iter().enumerate() {
        for (j, b) in stacks.iter().enumerate().skip(i + 1) {
            if a.is_some() && a == b {
                return Err(format!(
                    "tasks {} and {} ran on the same stack: they must be alive at once",
                    names[i], names[j]
                ));
            }
        }
    }
    Ok(())
}
