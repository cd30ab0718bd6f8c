//! Lab 10's checker: the student's preemption stub, entered by the
//! kernel's own preempting ticks in place of `cont_preempt_stub`, and a
//! preemptive round robin on top of it (`docs/labs/lab10-preempt.md`).
//!
//! The checker registers the student's `lab10_preempt_stub` as the stub a
//! preempting tick's `iretq` enters (`kernel::lab_hooks::set_preempt_stub`)
//! and a tick hook of its own, then hands the student's `round_robin`
//! three tasks that never yield: each runs `guest::spin`, a loop in
//! assembly that keeps a value of its own in every general-purpose
//! register and compares them all on every round. The tick hook credits
//! each tick to the task it landed in (the loop writes its RSP to
//! `guest::WHO` on every round) and raises `guest::STOP` when 300 ticks
//! have landed in tasks, or 3000 in all. Then, in this order: the tasks
//! must all have returned, each found every register as it left it (a
//! stub that loses or swaps one is named, with the value it held), the
//! kernel must have found nothing wrong at any of the stub's calls of
//! `kernel::lab_hooks::preempted` (RSP a multiple of 16 at the call, RBP at
//! a frame record naming the interrupted instruction that the kernel's
//! backtrace walk follows out of the task's stack), each task's share of
//! the 300 ticks must lie between 25 % and 42 % (tasks that never yield
//! share the CPU only if they are preempted), and the preemptions must
//! have gone through the student's stub's call, not the kernel's stub.
#![no_std]
#![no_main]
// The student's file holds assembly, and so does the guest: both may use
// `unsafe`; the checker only to register the stub.
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use core::time::Duration;
use kernel::cont::{Func, Store, Trap};
use kernel::lab_hooks::{self, Eoi, StubFault};
use kernel::stacks::{self, KernelStacks};
use x86_64::VirtAddr;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab10.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab10.rs")]
#[allow(unsafe_code)]
mod student;

mod guest;

labs::lab!(
    10,
    "a preemption stub and a preemptive round robin",
    check,
    timer
);

/// The timer's period.
const PERIOD: Duration = Duration::from_millis(1);
/// The tasks.
const TASKS: usize = 3;
/// Ticks landed in tasks after which they are told to stop.
const SHARED: u64 = 300;
/// Ticks in all after which they are told to stop anyway.
const LIMIT: u64 = 3000;

/// Whether the hook counts (only while `round_robin` runs).
static COUNTING: AtomicU64 = AtomicU64::new(0);
/// Ticks since counting began.
static ALL: AtomicU64 = AtomicU64::new(0);
/// Ticks that landed in each task, until `STOP`.
static CREDIT: [AtomicU64; TASKS] = [const { AtomicU64::new(0) }; TASKS];
/// Each task's stack slot, plus 1 (0: not started).
static SLOT: [AtomicUsize; TASKS] = [const { AtomicUsize::new(0) }; TASKS];
/// What each task's loop found: 0, or 1 + the register's index, and the
/// value it held.
static FOUND: [(AtomicUsize, AtomicU64); TASKS] =
    [const { (AtomicUsize::new(0), AtomicU64::new(0)) }; TASKS];
/// The value each task returned, plus 1 (0: it did not return).
static RETURNED: [AtomicU64; TASKS] = [const { AtomicU64::new(0) }; TASKS];

/// The tick hook: ends the tick, then credits it to the task whose loop
/// said it ran last since the previous tick, and says when to stop.
fn tick(eoi: Eoi) {
    eoi.send();
    if COUNTING.load(Relaxed) == 0 {
        return;
    }
    let all = ALL.fetch_add(1, Relaxed) + 1;
    let who = guest::WHO.swap(0, Relaxed);
    let stopped = guest::STOP.load(Relaxed) != 0;
    let slot = VirtAddr::try_new(who as u64).ok().and_then(stacks::slot_of);
    if let (false, Some(slot)) = (stopped, slot) {
        for (task, credit) in SLOT.iter().zip(&CREDIT) {
            if task.load(Relaxed) == slot + 1 {
                credit.fetch_add(1, Relaxed);
            }
        }
    }
    let credited: u64 = CREDIT.iter().map(|c| c.load(Relaxed)).sum();
    if credited >= SHARED || all >= LIMIT {
        guest::STOP.store(1, Relaxed);
    }
}

/// Task `i`: notes its stack, runs the loop until told to stop, and
/// returns `100 + i` (which `round_robin` must give back in its place).
fn task(i: usize) -> i64 {
    let rsp = kernel::cont::switch::stack_pointer() as u64;
    let slot = stacks::slot_of(VirtAddr::new(rsp)).map_or(0, |s| s + 1);
    SLOT[i].store(slot, Relaxed);
    if let Some((reg, held)) = guest::spin(i) {
        FOUND[i].0.store(reg + 1, Relaxed);
        FOUND[i].1.store(held, Relaxed);
    }
    let value = 100 + i as i64;
    RETURNED[i].store(value as u64 + 1, Relaxed);
    value
}

fn check() -> Result<(), String> {
    lab_hooks::set_tick_hook(tick)
        .map_err(|_| String::from("a tick hook was already set this boot"))?;
    guest::set_student_stub()
        .map_err(|_| String::from("a preemption stub was already set this boot"))?;
    let s = Store::new(KernelStacks, 64 * 1024);
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let f = Func::wrap(&s, move |_: &Store, (): ()| -> Result<i64, Trap> {
            Ok(task(i))
        })
        .map_err(|e| format!("task refused: {e:?}"))?;
        tasks.push(f);
    }
    labs::say!("round_robin({TASKS} tasks that never yield, 1 tick per slice)");
    let calls = lab_hooks::stub_calls();
    let preemptions = kernel::cont::preempt::preemptions();
    labs::start_ticking(PERIOD).map_err(|e| format!("the timer did not start: {e:?}"))?;
    COUNTING.store(1, Relaxed);
    let got = student::round_robin(&s, &tasks);
    COUNTING.store(0, Relaxed);
    labs::stop_ticking().map_err(|e| format!("the timer did not stop: {e:?}"))?;
    let calls = lab_hooks::stub_calls() - calls;
    let preemptions = kernel::cont::preempt::preemptions() - preemptions;
    let got = got.map_err(|trap| format!("round_robin returned {trap}"))?;
    returned(&got)?;
    labs::say!("every task returned, and round_robin gave back what each returned");
    registers(preemptions)?;
    labs::say!("every task found its 14 registers and rbp as it left them, after every preemption");
    stub_faults()?;
    shares()?;
    labs::say!("every task got 25 % to 42 % of the first {SHARED} ticks");
    if calls == 0 {
        return Err(format!(
            "{preemptions} preemptions, and none called kernel::lab_hooks::preempted: the \
             work was done by the kernel's own stub (the skeleton's `jmp cont_preempt_stub`); \
             your stub must do it"
        ));
    }
    labs::say!(
        "every preemption went through your stub: aligned calls, frame records the kernel's \
         walk follows"
    );
    Ok(())
}

/// Every task returned, and `round_robin` gave back their values in order.
fn returned(got: &[i64]) -> Result<(), String> {
    let want: Vec<i64> = (0..TASKS as i64).map(|i| 100 + i).collect();
    for (i, r) in RETURNED.iter().enumerate() {
        if r.load(Relaxed) == 0 {
            return Err(format!(
                "round_robin returned, but task {i} did not: it must run every task to its end"
            ));
        }
    }
    if got != want.as_slice() {
        return Err(format!(
            "round_robin returned {got:?}; the tasks returned {want:?}, in the order of `tasks`"
        ));
    }
    Ok(())
}

/// Each task's loop found every register holding its value.
fn registers(preemptions: u64) -> Result<(), String> {
    for (i, (reg, held)) in FOUND.iter().enumerate() {
        let reg = reg.load(Relaxed);
        if reg == 0 {
            continue;
        }
        let (name, held) = (guest::REGISTERS[reg - 1], held.load(Relaxed));
        let before = if reg - 1 < 14 {
            format!("{:#x}", guest::value(i, reg - 1))
        } else {
            String::from("its frame pointer")
        };
        return Err(format!(
            "task {i}'s {name} held {before} before a preemption and {held:#x} when the task \
             went on ({preemptions} preemptions in the run): interrupted code finds every \
             register as it left it, callee-saved or not; the stub must save and restore \
             all fifteen"
        ));
    }
    Ok(())
}

/// What the kernel found wrong at the stub's calls.
fn stub_faults() -> Result<(), String> {
    match lab_hooks::stub_fault() {
        None => Ok(()),
        Some(StubFault::Misaligned { rsp }) => Err(format!(
            "your stub called kernel::lab_hooks::preempted with RSP = {:#x}: not a multiple \
             of 16 at the call ({} bytes off), which the System V ABI wants at every call; \
             count the words your stub pushes below the 16-byte aligned RSP it is entered with",
            rsp + 8,
            (rsp + 8) % 16
        )),
        Some(StubFault::FrameRecord { rbp, found, rip }) => Err(format!(
            "at a preemption, the kernel's walk from RBP = {rbp:#x} found {found:#x} as the \
             first return address, not the interrupted instruction {rip:#x}: RBP must point at \
             a frame record, [RBP] the interrupted RBP and [RBP+8] the interrupted RIP, so that \
             a backtrace goes from the kernel into the interrupted code"
        )),
        Some(StubFault::WalkStops { rbp, frames }) => Err(format!(
            "at a preemption, the kernel's walk from RBP = {rbp:#x} stopped after {frames} \
             frames without leaving the task's stack: the frame record must link to the \
             interrupted RBP, whose chain reaches the stack's top record"
        )),
        Some(StubFault::NotPreempting { rsp }) => Err(format!(
            "kernel::lab_hooks::preempted was called with RSP = {rsp:#x} where no preemption \
             was under way (or with interrupts on): only the stub calls it, once per entry"
        )),
    }
}

/// Each task's share of the ticks that landed in tasks.
fn shares() -> Result<(), String> {
    let credit: Vec<u64> = CREDIT.iter().map(|c| c.load(Relaxed)).collect();
    let total: u64 = credit.iter().sum();
    if total < SHARED {
        return Err(format!(
            "only {total} of {} ticks landed in a task: does round_robin run them?",
            ALL.load(Relaxed)
        ));
    }
    let list: Vec<String> = credit
        .iter()
        .enumerate()
        .map(|(i, n)| format!("task {i} {n} ({} %)", n * 100 / total))
        .collect();
    if credit
        .iter()
        .any(|n| !(25..=42).contains(&(n * 100 / total)))
    {
        return Err(format!(
            "of the first {total} ticks, {}: each task should get 25 % to 42 %; a task that \
             never yields keeps the CPU until a tick preempts it, so every slice must be a \
             resume_for, and the preempted task go to the back of the queue",
            list.join(", ")
        ));
    }
    Ok(())
}
