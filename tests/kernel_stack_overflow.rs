//! Unbounded recursion on the kernel stack, in a boot of its own: it must be
//! reported as a kernel stack overflow, never end in a triple fault.
//!
//! The recursion runs into the unmapped guard page below the kernel stack.
//! The page fault that follows is delivered on the page-fault IST stack (the
//! faulting stack has no room for an interrupt frame), where the handler
//! finds CR2 inside the guard page recorded at boot and reports
//! `Fatal::KernelStackOverflow`, which `expect_fatal` turns into a pass. Had
//! the handler run on the overflowing stack, the CPU would have double
//! faulted instead, and `fatal` would report the test as failed.
#![no_std]
#![no_main]

extern crate alloc;

use kernel::testing::{Fatal, TestResult, expect_fatal};

kernel::suite!(
    "kernel_stack_overflow",
    [unbounded_recursion_is_reported_as_kernel_stack_overflow,]
);

/// Recurses forever, using 1 KiB of stack per level; `black_box` keeps the
/// frame and the recursion from being optimised away.
#[allow(unconditional_recursion)] // the point: it never returns
fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 1024];
    core::hint::black_box(&frame);
    recurse(core::hint::black_box(depth + 1)) + frame[0] as u64
}

fn unbounded_recursion_is_reported_as_kernel_stack_overflow() -> TestResult {
    expect_fatal(Fatal::KernelStackOverflow);
    let depth = recurse(0);
    Err(alloc::format!(
        "recursion returned {depth} instead of overflowing"
    ))
}
