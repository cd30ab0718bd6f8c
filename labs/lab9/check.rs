//! Lab 9's checker: the student's demand pager for continuation stacks
//! (`docs/labs/lab9-pager.md`), put in the kernel's page-fault path.
//!
//! The checker registers a judge as the kernel's pager hook
//! (`kernel::lab_hooks::set_pager_hook`): on every not-present fault in
//! the continuation-stack region the kernel asks the judge, which asks
//! the student's `on_fault`, compares the answer with the truth (the
//! kernel's own `stacks::in_guard`, and the page that holds the address)
//! and keeps the first disagreement, then hands the student's answer to
//! the kernel. The kernel acts on it only where it is right (it must:
//! the answer is safe code's), so a wrong answer ends in a trap, and the
//! checker reports the disagreement behind it. Two runs, each in a
//! continuation of a new store, on a stack of which only the top page is
//! mapped: a recursion 30 deep, which must return its sum with every page
//! it touched mapped on the way; and one that does not end, which must
//! trap as a stack overflow after every page of its stack was mapped and
//! the guard's fault was refused.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use core::hint::black_box;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use kernel::cont::{Cont, Func, Resumed, Store, Trap, TrapKind};
use kernel::lab_hooks::{self, Decision, Fault};
use kernel::stacks::{self, KernelStacks};
use labs::say;
use x86_64::VirtAddr;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab9.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab9.rs")]
mod student;

labs::lab!(9, "a demand pager for continuation stacks", check);

/// The first wrong answer: none yet.
const RIGHT: usize = 0;
/// A `Map` for an address in a guard.
const MAPPED_GUARD: usize = 1;
/// An `Overflow` for an address in a stack.
const REFUSED_STACK: usize = 2;
/// A `Map` of a page that does not hold the address.
const WRONG_PAGE: usize = 3;

/// What the first wrong answer was (`RIGHT`: none), for which address,
/// and the page it named.
static WRONG: AtomicUsize = AtomicUsize::new(RIGHT);
static WRONG_ADDR: AtomicUsize = AtomicUsize::new(0);
static WRONG_PAGE_AT: AtomicUsize = AtomicUsize::new(0);
/// Right answers: pages mapped, guard touches refused.
static MAPS: AtomicUsize = AtomicUsize::new(0);
static REFUSALS: AtomicUsize = AtomicUsize::new(0);

/// The kernel's pager hook: the student's answer, judged. Runs in the
/// page-fault handler: atomics only.
fn judge(f: &Fault) -> Decision {
    let decision = student::on_fault(f);
    let guard = stacks::in_guard(VirtAddr::new_truncate(f.addr as u64));
    let right_page = f.addr - f.addr % f.page_size;
    let (wrong, page) = match decision {
        Decision::Overflow if guard => {
            REFUSALS.fetch_add(1, Relaxed);
            (RIGHT, 0)
        }
        Decision::Overflow => (REFUSED_STACK, 0),
        Decision::Map { page } if guard => (MAPPED_GUARD, page),
        Decision::Map { page } if page != right_page => (WRONG_PAGE, page),
        Decision::Map { .. } => {
            MAPS.fetch_add(1, Relaxed);
            (RIGHT, 0)
        }
    };
    if wrong != RIGHT && WRONG.load(Relaxed) == RIGHT {
        WRONG_ADDR.store(f.addr, Relaxed);
        WRONG_PAGE_AT.store(page, Relaxed);
        WRONG.store(wrong, Relaxed);
    }
    decision
}

/// The guest: `depth` nested calls, each keeping a 512-byte array alive.
fn recurse(depth: i32) -> i32 {
    let frame = black_box([depth; 128]);
    if depth <= 1 {
        return frame[0];
    }
    black_box(recurse(depth - 1)) + frame[(depth % 128) as usize]
}

fn check() -> Result<(), String> {
    lab_hooks::set_pager_hook(judge)
        .map_err(|_| String::from("a pager hook was already set this boot"))?;
    let page = 4096;
    let below_top = stacks::config().stack_size / page - 1;

    let (result, maps, refusals, faults) = run(30)?;
    wrong_answer()?;
    let sum = result.map_err(|t| format!("recurse(30) trapped: {t}"))?;
    if sum != 465 {
        return Err(format!("recurse(30) returned {sum}, not 465"));
    }
    if maps == 0 || maps as u64 != faults || refusals != 0 {
        return Err(format!(
            "recurse(30): {maps} pages mapped by your pager, {faults} counted by the kernel, \
             {refusals} refused"
        ));
    }
    say!("recurse(30) = {sum}: {maps} pages mapped on first touch, each the page that faulted");

    let (result, maps, refusals, _) = run(100_000)?;
    wrong_answer()?;
    match result {
        Err(t) if matches!(t.kind(), TrapKind::StackOverflow { .. }) => {}
        Err(t) => {
            return Err(format!(
                "recurse(100000) trapped, but not as an overflow: {t}"
            ));
        }
        Ok(v) => return Err(format!("recurse(100000) returned {v}: no stack holds it")),
    }
    if maps != below_top || refusals == 0 {
        return Err(format!(
            "recurse(100000): your pager mapped {maps} pages and refused {refusals} guard \
             touches; a stack of {} pages has {below_top} below its top one, then its guard",
            below_top + 1
        ));
    }
    say!(
        "recurse(100000): {maps} pages mapped, all the stack has below its top page; then \
         the guard, refused: StackOverflow"
    );
    Ok(())
}

/// Runs `recurse(depth)` in a continuation of a new store, on a stack
/// with only its top page mapped; returns its result, the pages the
/// student's pager mapped and the guard touches it refused while it ran,
/// and the pages the kernel counted as mapped on demand.
fn run(depth: i32) -> Result<(Result<i32, Trap>, usize, usize, u64), String> {
    let s = Store::new(KernelStacks, 64 * 1024);
    let f = Func::wrap(&s, |_: &Store, d: i32| Ok(recurse(d))).map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(&s, f).map_err(|t| format!("{t}"))?;
    let (maps, refusals) = (MAPS.load(Relaxed), REFUSALS.load(Relaxed));
    let faults = stacks::demand_faults();
    let result = match k.resume(depth, &[]) {
        Ok(Resumed::Returned(v)) => Ok(v),
        Ok(Resumed::Suspended(_)) => Err(Trap::guest("recurse suspended")),
        Err(t) => Err(t),
    };
    Ok((
        result,
        MAPS.load(Relaxed) - maps,
        REFUSALS.load(Relaxed) - refusals,
        stacks::demand_faults() - faults,
    ))
}

/// The first wrong answer the judge saw, as the checker's reason.
fn wrong_answer() -> Result<(), String> {
    let addr = WRONG_ADDR.load(Relaxed);
    let page = WRONG_PAGE_AT.load(Relaxed);
    let at = VirtAddr::new_truncate(addr as u64);
    let slot = stacks::slot_of(at).unwrap_or(usize::MAX);
    let slot_start = kernel::paging::CONT_STACKS_START.as_u64() as usize
        + slot.wrapping_mul(stacks::config().slot_size());
    let guard = stacks::config().guard_size;
    match WRONG.load(Relaxed) {
        MAPPED_GUARD => Err(format!(
            "your pager mapped the guard page: the fault at {addr:#x} is {} bytes into the \
             guard of stack slot {slot}; a guard is never mapped, so that an overflow traps \
             instead of running on into the slot below (the kernel refused to map it)",
            addr - slot_start
        )),
        REFUSED_STACK => Err(format!(
            "your pager refused a fault at {addr:#x}, {} bytes above the guard of stack slot \
             {slot}: a page of the stack, which is mapped on first touch",
            addr - slot_start - guard
        )),
        WRONG_PAGE => Err(format!(
            "for a fault at {addr:#x} your pager mapped the page at {page:#x}, which does not \
             hold it (the page that does starts at {:#x}); the instruction would fault again, \
             for ever (the kernel refused to map it)",
            addr - addr % 4096
        )),
        _ => Ok(()),
    }
}
