//! Lab 9, YOUR FILE: the decision at the heart of demand paging of
//! continuation stacks: map the page a fault touched, or call the touch
//! an overflow. The task, hints and the output the checker expects are in
//! `docs/labs/lab9-pager.md`; `check.rs` next to this file is the checker
//! (read it, do not edit it).
//!
//! Run the checker with `./qemu-run.sh lab 9`.

use kernel::lab_hooks::{Decision, Fault};

/// Decides a not-present fault at `f.addr`, an address in the
/// continuation-stack region. The region is cut into slots of
/// `f.slot_size` bytes from `f.region_start`; each slot is a guard of
/// `f.guard_size` bytes at its bottom, then its stack. A touch of a
/// stack is served by mapping the page (`f.page_size` bytes, aligned)
/// that holds the address: `Decision::Map { page }` with that page's
/// first address. A touch of a guard is a stack overflow:
/// `Decision::Overflow`, and nothing is mapped.
///
/// Runs in the page-fault handler, with interrupts off: no allocation,
/// no locks, no printing; arithmetic only.
pub fn on_fault(f: &Fault) -> Decision {
    let _ = f;
    Decision::Overflow
}
