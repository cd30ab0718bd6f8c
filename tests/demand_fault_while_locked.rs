//! A demand fault that finds a lock held, in a boot of its own: it must be
//! reported as the kernel bug it is, and end the boot, never hang.
//!
//! Continuation stacks are mapped on first touch by the page-fault handler,
//! which needs the stack pool, the frame allocator and the page tables.
//! `stacks.rs` makes sure that code never holds one of their locks while it
//! may touch a new page of a continuation stack (it touches the stack
//! first), so a handler that finds a lock taken is looking at a broken rule.
//! It only ever `try_lock`s: waiting would hang the CPU for good, and
//! trapping would need the same locks to free the chain. This test breaks
//! the rule on purpose: it holds the frame allocator's lock and touches an
//! unmapped page of a stack it holds.
#![no_std]
#![no_main]

extern crate alloc;

use kernel::Machine;
use kernel::cont::StackProvider;
use kernel::paging::PAGE_SIZE;
use kernel::stacks::KernelStacks;
use kernel::testing::{Fatal, TestResult, expect_fatal};

kernel::suite!(
    "demand_fault_while_locked",
    [machine demand_fault_with_the_frame_lock_held_is_reported_not_waited_for,]
);

fn demand_fault_with_the_frame_lock_held_is_reported_not_waited_for(
    machine: &Machine,
) -> TestResult {
    let stack = KernelStacks
        .allocate(64 * 1024, core::ptr::null())
        .map_err(|e| alloc::format!("allocate: {e:?}"))?;
    // Page 3 below the top: in the stack part of a slot in use, unmapped.
    let target = stack.top() as usize - 3 * PAGE_SIZE as usize - 8;
    expect_fatal(Fatal::DemandFaultWhileLocked);
    // SAFETY: breaks `hold_lock`'s rule on purpose: the touch below needs
    // a page; the handler must report it and end the boot.
    let held = unsafe { kernel::frames::hold_lock(machine) };
    // SAFETY: the read faults; the handler reports and the boot ends.
    let value = unsafe { core::ptr::read_volatile(target as *const u64) };
    drop(held);
    Err(alloc::format!(
        "the touch returned {value:#x}: the page was mapped with the lock held"
    ))
}
