//! Lab 5's checker: how many pages of its stack a recursive guest touches,
//! and where it overflows (`docs/labs/lab5-stack-pages.md`).
//!
//! The checker writes the guest: a recursion of a given depth whose every
//! call keeps a 512-byte frame, and which notes the stack slot it runs on.
//! The student's `measure` runs it in a continuation and reports the slot,
//! how many pages were mapped on demand while it ran (the kernel counts
//! them: `kernel::stacks::demand_faults`), and whether it overflowed. The
//! checker compares the report with what it sees itself: the slot the
//! recursion noted; the pages a run of the same depth touches on a stack
//! no one has used since it was paged out (measured here, after the
//! student's run, in a store of its own); for an overflow, every page of
//! the stack below the top one (which is mapped when a stack is handed
//! out), and the slot whose guard page the trap names.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use core::hint::black_box;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::cont::{Cont, Func, Store, TrapKind};
use kernel::stacks::{self, KernelStacks};
use labs::say;
use x86_64::VirtAddr;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab5.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab5.rs")]
mod student;

labs::lab!(
    5,
    "stack pages a recursion touches, and its overflow",
    check
);

/// What `measure` reports about one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The slot of the continuation-stack region the recursion ran on.
    pub stack: usize,
    /// Pages mapped on demand while it ran.
    pub pages: u64,
    /// Whether it ended in a stack overflow (a touch of the guard page).
    pub overflow: bool,
}

/// The depths the checker tries; the last is more than a stack holds.
const DEPTHS: [i32; 4] = [1, 10, 30, 100_000];

/// The slot the last call of `recurse` ran on (`usize::MAX`: none).
static SLOT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The guest: `depth` nested calls, each keeping a 512-byte array alive
/// (its frame holds more: the array is copied, registers are saved).
fn recurse(depth: i32) -> i32 {
    let frame = black_box([depth; 128]);
    let rsp = VirtAddr::new(kernel::cont::switch::stack_pointer() as u64);
    SLOT.store(
        stacks::slot_of(rsp).unwrap_or(usize::MAX),
        Ordering::Relaxed,
    );
    if depth <= 1 {
        return frame[0];
    }
    black_box(recurse(depth - 1)) + frame[(depth % 128) as usize]
}

fn check() -> Result<(), String> {
    let page = 4096;
    let all_pages = (stacks::config().stack_size / page) as u64 - 1;
    for depth in DEPTHS {
        let heading = format!("measure(depth = {depth})");
        SLOT.store(usize::MAX, Ordering::Relaxed);
        let faults_before = stacks::demand_faults();
        let r = student::measure(depth, recurse)
            .map_err(|trap| format!("{heading}: measure returned {trap}"))?;
        let faults = stacks::demand_faults() - faults_before;
        let slot = SLOT.load(Ordering::Relaxed);
        if r.overflow {
            say!(
                "depth {depth}: stack {}, {} pages touched, then its guard: overflow",
                r.stack,
                r.pages
            );
        } else {
            say!(
                "depth {depth}: stack {}, {} pages touched",
                r.stack,
                r.pages
            );
        }
        if slot == usize::MAX {
            return Err(format!(
                "{heading}: the recursion did not run on a continuation stack"
            ));
        }
        if r.stack != slot {
            return Err(format!(
                "{heading}: reported stack {}, the recursion ran on stack {slot}",
                r.stack
            ));
        }
        let (pages, overflow) = fresh_run(depth)?;
        if r.overflow != overflow {
            return Err(format!(
                "{heading}: reported overflow = {}, it is {overflow}",
                r.overflow
            ));
        }
        if overflow && pages != all_pages {
            return Err(format!(
                "{heading}: the checker's own run overflowed after {pages} pages, not all {all_pages}"
            ));
        }
        if r.pages != pages {
            return Err(format!(
                "{heading}: reported {} pages, a run on a freshly paged-out stack touches {pages} \
                 (fewer: was the stack already paged in? a store keeps the stacks of its ended \
                 continuations, cont::STACK_CACHE)",
                r.pages
            ));
        }
        if faults != pages {
            return Err(format!(
                "{heading}: {faults} pages were mapped on demand during measure, the recursion needs {pages}"
            ));
        }
    }
    Ok(())
}

/// The checker's own run: pages mapped on demand by `recurse(depth)` in a
/// continuation of a new store, whose stack comes straight from the pool
/// (which unmaps all but the top page of a stack it gets back), and
/// whether it overflowed.
fn fresh_run(depth: i32) -> Result<(u64, bool), String> {
    let s = Store::new(KernelStacks, 64 * 1024);
    let f = Func::wrap(&s, |_: &Store, d: i32| Ok(recurse(d))).map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(&s, f).map_err(|t| format!("{t}"))?;
    let before = stacks::demand_faults();
    let overflow = match k.resume(depth, &[]) {
        Ok(_) => false,
        Err(t) if matches!(t.kind(), TrapKind::StackOverflow { .. }) => true,
        Err(t) => {
            return Err(format!(
                "the checker's own run of depth {depth} trapped: {t}"
            ));
        }
    };
    Ok((stacks::demand_faults() - before, overflow))
}
