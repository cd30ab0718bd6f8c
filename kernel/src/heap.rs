//! The kernel heap: `alloc` (Box, Vec, String, ...) over a fixed 32 MiB
//! virtual range, managed by `linked_list_allocator`.
//!
//! `paging::init` maps `paging::HEAP_START .. HEAP_START + HEAP_SIZE` to
//! fresh frames (read-write, no-execute) before this module hands the range
//! to the allocator; see the virtual memory map in `paging`. A linked-list
//! allocator is slow for many tiny blocks but simple to read, and keeps no
//! size classes: freed blocks merge with their neighbours and are reused by
//! any later request that fits.
//!
//! When the heap runs out, `alloc`'s default allocation-error handler
//! panics with the requested layout, and the panic handler (`boot`) prints
//! that report and ends the boot.

use crate::paging::{HEAP_SIZE, HEAP_START};

#[global_allocator]
static ALLOCATOR: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();

/// Hands the mapped heap range to the allocator. Runs once, after
/// `paging::init` has mapped the range.
pub fn init() {
    // SAFETY: `paging::init` mapped HEAP_START..HEAP_START+HEAP_SIZE to
    // frames used by nothing else, and this runs once, so the allocator
    // owns the range exclusively from here on.
    unsafe {
        ALLOCATOR
            .lock()
            .init(HEAP_START as *mut u8, HEAP_SIZE as usize)
    };
}

/// Bytes currently free in the heap (fragmentation not accounted for).
pub fn free_bytes() -> usize {
    ALLOCATOR.lock().free()
}

/// Bytes currently allocated from the heap.
pub fn used_bytes() -> usize {
    ALLOCATOR.lock().used()
}
