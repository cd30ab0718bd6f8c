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
//! Allocation may run on a continuation stack (guest code allocates), so
//! the allocator is wrapped: before it takes its lock it touches the stack
//! the locked section may need (`stacks::touch_stack`), so that a demand
//! fault or an overflow never strikes while the lock is held.
//!
//! When the heap runs out, `alloc`'s default allocation-error handler
//! panics with the requested layout, and the panic handler (`boot`) prints
//! that report and ends the boot.

use crate::paging::{HEAP_SIZE, HEAP_START};
use crate::stacks::{LOCKED_SECTION_STACK, touch_stack};
use crate::sync::Mutex;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use linked_list_allocator::Heap;

/// The allocator behind the kernel's lock, touching the stack before it
/// locks (see the module docs).
struct KernelHeap(Mutex<Heap>);

// SAFETY: `Heap` hands out each block once until it is given back, and the
// lock serialises every use of it; touching the stack first changes nothing
// about the memory handed out.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        touch_stack(LOCKED_SECTION_STACK);
        self.0
            .lock()
            .allocate_first_fit(layout)
            .map_or(core::ptr::null_mut(), |block| block.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        touch_stack(LOCKED_SECTION_STACK);
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc`'s contract: `ptr` came from `alloc` with
            // this same layout and is given back once.
            unsafe { self.0.lock().deallocate(block, layout) }
        }
    }
}

#[global_allocator]
static ALLOCATOR: KernelHeap = KernelHeap(Mutex::new("heap", Heap::empty()));

/// Hands the mapped heap range to the allocator. Runs once, after
/// `paging::init` has mapped the range. Not public: a second call would
/// hand the allocator a range whose blocks are in use.
pub(crate) fn init() {
    // SAFETY: `paging::init` mapped HEAP_START..HEAP_START+HEAP_SIZE to
    // frames used by nothing else, and this runs once, so the allocator
    // owns the range exclusively from here on.
    unsafe {
        ALLOCATOR
            .0
            .lock()
            .init(HEAP_START.as_mut_ptr(), HEAP_SIZE as usize)
    };
}

/// Whether the allocator's lock is held (by code a fault interrupted).
pub fn locked() -> bool {
    ALLOCATOR.0.is_locked()
}

/// Bytes currently allocated from the heap.
pub fn used_bytes() -> usize {
    touch_stack(LOCKED_SECTION_STACK);
    ALLOCATOR.0.lock().used()
}
