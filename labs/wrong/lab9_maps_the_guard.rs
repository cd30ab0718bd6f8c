//! Lab 9, a WRONG solution (`labs-check` requires it to fail): every
//! fault in the region is a page to map, the guard's too. The recursion
//! that works passes; the one that does not end is never stopped at the
//! guard, and would run on into the stack of the slot below (the kernel
//! refuses to act on the decision, and the checker names it).
//!
//! Expected: your pager mapped the guard page

use kernel::lab_hooks::{Decision, Fault};

pub fn on_fault(f: &Fault) -> Decision {
    Decision::Map {
        page: f.addr - f.addr % f.page_size,
    }
}
