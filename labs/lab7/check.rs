//! Lab 7's checker: the student's context switch and start trampoline
//! (`docs/labs/lab7-switch.md`), run by the coroutines of `harness.rs`.
//!
//! Three scenarios, each a list of lines that must come out in order and
//! each from the stack it names: a ping-pong between the kernel's stack
//! and one coroutine (a fresh stack entered through the trampoline, then
//! resumed where it yielded, then returning through the trampoline); a
//! coroutine that resumes another from its own stack, so that a switch
//! saves a point on a coroutine stack and the inner one's return lands
//! there; and three coroutines taking turns. Every switch goes through
//! the harness's marked switch, which fails the run at the first switch
//! that does not give back RBX, R12-R15 or RBP, and every coroutine's
//! entry checks that the trampoline called it on a 16-byte aligned stack
//! with RBP at `TOS-0x10`.
#![no_std]
#![no_main]
// The student's file is assembly, and the harness calls it: both may use
// `unsafe`; the checker itself does not.
#![deny(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use kernel::stacks;
use kernel::sync::Mutex;
use x86_64::VirtAddr;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab7.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab7.rs")]
#[allow(unsafe_code)]
mod student;

mod harness;

use harness::Coroutine;

labs::lab!(7, "a context switch and a start trampoline", check);

/// The lines said in the current scenario, each with the stack slot it
/// was said from (`None`: the kernel's stack).
static LOG: Mutex<Vec<(String, Option<usize>)>> = Mutex::new("lab 7 log", Vec::new());
/// The first failure met inside a coroutine, reported by the checker.
static FAILED: Mutex<Option<String>> = Mutex::new("lab 7 failure", None);

/// Notes a line and the stack it is said from.
fn note(text: String) {
    let rsp = VirtAddr::new(kernel::cont::switch::stack_pointer() as u64);
    let slot = stacks::slot_of(rsp);
    stacks::touch_stack(stacks::LOCKED_SECTION_STACK);
    LOG.lock().push((text, slot));
}

/// Keeps the first failure met inside a coroutine.
fn failed(why: String) {
    stacks::touch_stack(stacks::LOCKED_SECTION_STACK);
    FAILED.lock().get_or_insert(why);
}

/// `resume` inside a coroutine: a failure is kept for the checker.
fn resume_inside(k: &mut Coroutine, what: &str) -> Option<bool> {
    match k.resume() {
        Ok(done) => Some(done),
        Err(why) => {
            failed(format!("{what}: {why}"));
            None
        }
    }
}

fn check() -> Result<(), String> {
    let mut switches = 0;
    ping_pong(&mut switches)?;
    cross_stack(&mut switches)?;
    taking_turns(&mut switches)?;
    labs::say!(
        "{switches} switches, each gave back rbx, r12-r15 and rbp; every entry ran on an \
         aligned stack with rbp at TOS-0x10"
    );
    if stacks::outstanding() != 0 {
        return Err(format!(
            "{} coroutine stacks were not given back",
            stacks::outstanding()
        ));
    }
    Ok(())
}

/// The kernel and coroutine A take turns: A is entered fresh, resumed
/// twice where it yielded, and returns through the trampoline.
fn ping_pong(switches: &mut u32) -> Result<(), String> {
    labs::say!("ping-pong:");
    let mut a = Coroutine::new(|y| {
        for r in 1..=3 {
            note(format!("pong {r}"));
            y.yield_now();
        }
        note(String::from("A returns"));
    })?;
    for r in 1..=3 {
        note(format!("ping {r}"));
        *switches += 2;
        if a.resume()
            .map_err(|w| format!("ping-pong, resume {r} of A: {w}"))?
        {
            return Err(format!(
                "ping-pong: A returned at resume {r}, not after 3 pongs"
            ));
        }
    }
    *switches += 2;
    if !a
        .resume()
        .map_err(|w| format!("ping-pong, resume 4 of A: {w}"))?
    {
        return Err(String::from(
            "ping-pong: A's function returned, but your trampoline did not end the coroutine \
             (its resume came back as a yield)",
        ));
    }
    note(String::from("A has returned"));
    expect(
        "ping-pong",
        &[a.slot()],
        &[
            ("ping 1", 0),
            ("pong 1", 1),
            ("ping 2", 0),
            ("pong 2", 1),
            ("ping 3", 0),
            ("pong 3", 1),
            ("A returns", 1),
            ("A has returned", 0),
        ],
    )
}

/// A resumes B from its own stack; B yields back there, and returns
/// there, through the trampoline, to a point saved on A's stack.
fn cross_stack(switches: &mut u32) -> Result<(), String> {
    labs::say!("across stacks:");
    let mut b = Coroutine::new(|y| {
        note(String::from("B yields to A"));
        y.yield_now();
        note(String::from("B returns"));
    })?;
    let b_slot = b.slot();
    let mut a = Coroutine::new(move |y| {
        note(String::from("A resumes B"));
        if resume_inside(&mut b, "A's first resume of B") != Some(false) {
            return;
        }
        note(String::from("A yields to the kernel"));
        y.yield_now();
        note(String::from("A resumes B again"));
        if resume_inside(&mut b, "A's second resume of B") != Some(true) {
            return;
        }
        note(String::from("A returns"));
    })?;
    let a_slot = a.slot();
    note(String::from("kernel resumes A"));
    *switches += 4;
    let first = a
        .resume()
        .map_err(|w| format!("across stacks, first resume of A: {w}"))?;
    if let Some(why) = FAILED.lock().take() {
        return Err(format!("across stacks: {why}"));
    }
    if first {
        return Err(String::from(
            "across stacks: A returned at its first resume",
        ));
    }
    note(String::from("kernel resumes A again"));
    *switches += 4;
    let second = a
        .resume()
        .map_err(|w| format!("across stacks, second resume of A: {w}"))?;
    if let Some(why) = FAILED.lock().take() {
        return Err(format!("across stacks: {why}"));
    }
    if !second {
        return Err(String::from(
            "across stacks: A did not return at its second resume",
        ));
    }
    note(String::from("A has returned"));
    drop(a);
    expect(
        "across stacks",
        &[a_slot, b_slot],
        &[
            ("kernel resumes A", 0),
            ("A resumes B", 1),
            ("B yields to A", 2),
            ("A yields to the kernel", 1),
            ("kernel resumes A again", 0),
            ("A resumes B again", 1),
            ("B returns", 2),
            ("A returns", 1),
            ("A has returned", 0),
        ],
    )
}

/// Three coroutines, each yielding twice, resumed in turn.
fn taking_turns(switches: &mut u32) -> Result<(), String> {
    let names = ["C", "D", "E"];
    let mut ks = Vec::new();
    for name in names {
        ks.push(Coroutine::new(move |y| {
            for r in 1..=2 {
                note(format!("{name} {r}"));
                y.yield_now();
            }
        })?);
    }
    for round in 1..=3 {
        for (k, name) in ks.iter_mut().zip(names) {
            *switches += 2;
            let done = k
                .resume()
                .map_err(|w| format!("taking turns, round {round} of {name}: {w}"))?;
            if done != (round == 3) {
                return Err(format!(
                    "taking turns: {name} {} at round {round}",
                    if done { "returned" } else { "yielded" }
                ));
            }
        }
    }
    let slots: Vec<Option<usize>> = ks.iter().map(Coroutine::slot).collect();
    let log = LOG.lock().clone();
    LOG.lock().clear();
    let mut want = Vec::new();
    for r in 1..=2 {
        for (i, name) in names.iter().enumerate() {
            want.push((format!("{name} {r}"), slots[i]));
        }
    }
    if log != want {
        return Err(format!(
            "taking turns: the coroutines said {:?}, expected {:?}",
            log.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
            want.iter().map(|l| l.0.as_str()).collect::<Vec<_>>()
        ));
    }
    labs::say!("C, D and E took 3 turns each on their own stacks");
    Ok(())
}

/// Compares the log with `want`: each line's text, and its stack (0: the
/// kernel's, i: the stack of `stacks[i - 1]`), printing the lines said.
fn expect(scenario: &str, stacks: &[Option<usize>], want: &[(&str, usize)]) -> Result<(), String> {
    let log = core::mem::take(&mut *LOG.lock());
    let name = |slot: Option<usize>| match slot {
        None => String::from("the kernel's stack"),
        Some(s) => match stacks.iter().position(|&t| t == Some(s)) {
            Some(i) => format!("{}'s stack", ["A", "B"][i]),
            None => format!("stack slot {s}"),
        },
    };
    for (text, slot) in &log {
        labs::say!("  {text}, on {}", name(*slot));
    }
    for (i, &(text, on)) in want.iter().enumerate() {
        let want_slot = if on == 0 { None } else { stacks[on - 1] };
        match log.get(i) {
            None => {
                return Err(format!(
                    "{scenario}: line {}: expected `{text}`, got nothing more",
                    i + 1
                ));
            }
            Some((t, _)) if t != text => {
                return Err(format!(
                    "{scenario}: line {}: expected `{text}`, got `{t}`",
                    i + 1
                ));
            }
            Some((_, slot)) if *slot != want_slot => {
                return Err(format!(
                    "{scenario}: `{text}` was said on {}, not on {}",
                    name(*slot),
                    name(want_slot)
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((t, _)) = log.get(want.len()) {
        return Err(format!("{scenario}: expected no more lines, got `{t}`"));
    }
    Ok(())
}
