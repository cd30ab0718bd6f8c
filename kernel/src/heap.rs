//! The kernel heap: a `linked_list_allocator` over a fixed virtual range.
#[global_allocator]
static ALLOCATOR: linked_list_allocator::LockedHeap = linked_list_allocator::LockedHeap::empty();
