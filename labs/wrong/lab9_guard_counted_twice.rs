//! Lab 9, a WRONG solution (`labs-check` requires it to fail): the
//! stack's bottom worked out from the slot's end (end less the stack's
//! size), and the guard then added to it once more: the stack's lowest
//! page is taken for guard too. Every recursion that stays above it
//! works; the deepest is refused a page it had a right to, and overflows
//! a page early.
//!
//! Expected: refused a fault at

use kernel::lab_hooks::{Decision, Fault};

pub fn on_fault(f: &Fault) -> Decision {
    let offset = f.addr - f.region_start;
    let slot_end = f.region_start + (offset / f.slot_size + 1) * f.slot_size;
    let stack_size = f.slot_size - f.guard_size;
    if f.addr < slot_end - stack_size + f.guard_size {
        return Decision::Overflow;
    }
    Decision::Map {
        page: f.addr - f.addr % f.page_size,
    }
}
