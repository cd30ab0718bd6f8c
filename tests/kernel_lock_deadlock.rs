//! Kernel code that takes a lock it already holds, in a boot of its own: it
//! must be reported, naming the lock, never spin for ever.
//!
//! The kernel runs on one CPU with interrupts disabled, so a lock found
//! taken can only be released by code that cannot run until the waiter
//! stops: waiting is always a deadlock. `sync::Mutex::lock` therefore
//! panics with the lock's name. On the kernel's own stack that panic is a
//! kernel panic (`Fatal::Panic`), reported and the end of the boot; the
//! same mistake in guest code is a trap (`tests/hostile.rs`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use kernel::sync::Mutex;
use kernel::testing::{Fatal, TestResult, expect_fatal};

kernel::suite!(
    "kernel_lock_deadlock",
    [taking_a_held_lock_on_the_kernel_stack_is_a_reported_panic_not_a_hang,]
);

static TABLE: Mutex<u32> = Mutex::new("kernel table", 0);

fn taking_a_held_lock_on_the_kernel_stack_is_a_reported_panic_not_a_hang() -> TestResult {
    expect_fatal(Fatal::Panic);
    let first = TABLE.lock();
    let second = TABLE.lock();
    Err(alloc::format!(
        "took the lock twice ({} and {})",
        *first,
        *second
    ))
}
