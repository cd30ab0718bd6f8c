//! The header `ContStack::initialize` writes at the top of a fresh stack,
//! checked at a stack from `mmap` (the in-kernel `cont` suite checks it at a
//! slot of the kernel's pool).

use super::*;

#[test]
fn initialize_writes_every_header_slot_for_capacity_0_1_2_5() {
    let mut stacks = MmapStacks::new();
    let stack = stacks.allocate(64 * 1024, core::ptr::null()).unwrap();
    let checked = crate::scenarios_shared::fresh_header_matches_the_layout(&stack);
    stacks.free(stack);
    assert_eq!(checked, Ok(()));
    assert_eq!(stacks.outstanding(), 0);
}
