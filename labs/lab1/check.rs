//! Lab 1's checker: a round-robin scheduler built on `switch`, which counts
//! the switches it makes (`docs/labs/lab1-switches.md`).
//!
//! It runs the student's `run_tasks` (in `student.rs`) for several task
//! lists and round counts, each in a store of its own, and compares what
//! the tasks said with a model of the schedule: a queue of task numbers,
//! worked out here without any continuation. Then it checks where the
//! lines were said: each task on one continuation stack of its own (so the
//! tasks really were continuations, alive at the same time), none on the
//! kernel's. Last, every stack must be back with its store.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kernel::cont::Store;
use kernel::stacks::KernelStacks;
use labs::{Line, say};

#[cfg_attr(not(feature = "lab-solutions"), path = "student.rs")]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab1.rs")]
mod student;

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
        let switches = student::run_tasks(&s, names, rounds)
            .map_err(|trap| format!("{heading}: run_tasks returned {trap}"))?;
        let log = labs::take_log();
        say!("switches: {switches}");
        let (want, want_switches) = model(names, rounds);
        labs::same_lines(&log, &want).map_err(|e| format!("{heading}: {e}"))?;
        if switches != want_switches {
            return Err(format!(
                "{heading}: run_tasks counted {switches} switches, the schedule made {want_switches}"
            ));
        }
        one_stack_per_task(&log, names).map_err(|e| format!("{heading}: {e}"))?;
        if s.outstanding_stacks() != 0 {
            return Err(format!(
                "{heading}: {} stacks still held after run_tasks returned (a task did not finish?)",
                s.outstanding_stacks()
            ));
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
