//! A genuine double fault, in a boot of its own: the double-fault handler
//! must run on its IST stack and report, and the boot ends there.
//!
//! The page-fault gate is marked not present, then a page fault is raised.
//! Delivering the #PF finds no gate, which raises #NP (segment not present,
//! a "contributory" exception) during delivery: a page fault followed by a
//! contributory exception is a double fault (Intel SDM vol. 3, table 6-5).
//! The handler checks its own RSP lies in the double-fault IST stack and only
//! then reports `Fatal::DoubleFault`, which `expect_fatal` turns into a pass.
#![no_std]
#![no_main]

extern crate alloc;

use kernel::testing::{Fatal, TestResult, expect_fatal};

kernel::suite!(
    "double_fault",
    [missing_page_fault_gate_ends_in_a_double_fault_on_its_ist,]
);

fn missing_page_fault_gate_ends_in_a_double_fault_on_its_ist() -> TestResult {
    expect_fatal(Fatal::DoubleFault);
    // SAFETY: the boot is meant to end in the double-fault handler.
    unsafe { kernel::interrupts::unhook_page_fault() };
    let unmapped =
        (kernel::paging::HEAP_START + kernel::paging::HEAP_SIZE + 0x1000u64).as_ptr::<u64>();
    // SAFETY: the read faults; see the module docs for what follows.
    let value = unsafe { core::ptr::read_volatile(unmapped) };
    Err(alloc::format!(
        "read {value:#x} from an unmapped page without a double fault"
    ))
}
