//! Lab 9, a WRONG solution (`labs-check` requires it to fail): the guard
//! is told right, but the page is the address rounded *up* to a page
//! boundary, which is the page above the one that faulted (unless the
//! address is the first of its page). Mapping it would leave the faulting
//! page unmapped, and the instruction would fault again, for ever.
//!
//! Expected: which does not hold it

use kernel::lab_hooks::{Decision, Fault};

pub fn on_fault(f: &Fault) -> Decision {
    let offset = f.addr - f.region_start;
    let slot_start = f.region_start + offset / f.slot_size * f.slot_size;
    if f.addr - slot_start < f.guard_size {
        return Decision::Overflow;
    }
    Decision::Map {
        page: (f.addr + f.page_size - 1) / f.page_size * f.page_size,
    }
}
