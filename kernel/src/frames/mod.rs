//! The physical frame allocator: hands out and takes back 4 KiB frames of
//! RAM, built from the memory map the firmware reported.
//!
//! Everything that needs physical memory after boot (page tables, the heap's
//! backing, continuation stacks paged in on demand) gets it here, so the
//! allocator must never hand out a frame twice, never hand out a frame that
//! is not RAM the kernel may use, and must notice a frame freed twice. The
//! firmware's map is not trusted blindly: [`FrameAllocator::init`] checks it
//! and records every problem it finds, and the kernel prints them at boot.
//!//!
//! The bitmaps and their rules are `bitmap.rs`'s; this module holds the
//! kernel's one instance and the ways to it.
//!
//!
//! ## The global instance and the page-fault handler
//!
//! The kernel's allocator is `FRAMES`, behind a `sync::Mutex`, private to
//! the crate. The kernel's own code uses `allocate` and `free`, which wait
//! for the lock; code outside the crate takes frames with [`allocate_frame`]
//! and gives them back with the `unsafe` [`free_frame`], both for the
//! holder of the [`Machine`](crate::Machine) only. A page-fault handler must
//! not wait: it may have interrupted the very code that holds the lock,
//! which would then never release it. For it there is `try_allocate`,
//! which takes the lock only if it is free and
//! otherwise reports [`Busy`](AllocError::Busy), so the handler can report
//! the broken locking rule instead of deadlocking. Lock order, when both are
//! needed: the page-table lock (`paging`) first, then this one.

mod bitmap;

pub use bitmap::{
    AllocError, FrameAllocator, FreeError, MAX_PROBLEMS, MapProblem, Region, RegionKind,
};
use x86_64::structures::paging::{PhysFrame, Size4KiB};

/// Bitmap words of the kernel's allocator: 16384 words of 64 frames describe
/// 4 GiB of physical memory, in two 128 KiB bitmaps in `.bss`.
pub const KERNEL_WORDS: usize = 16 * 1024;

/// Whether the frame allocator's lock is held (by code a fault interrupted).
#[cfg(target_os = "none")]
pub fn locked() -> bool {
    FRAMES.is_locked()
}

/// The kernel's frame allocator. See the module docs for the locking rules.
/// Not public: code outside the crate that held this lock across a touch
/// of a new page of its stack would leave the demand-fault path without a
/// frame allocator, and the boot would end.
///
/// ```compile_fail,E0603
/// // A guest cannot reach the frame allocator's lock.
/// let held = kernel::frames::FRAMES.lock();
/// ```
///
/// ```compile_fail,E0603
/// // Nor the kernel's own way of giving a frame back, which takes any frame.
/// fn free(frame: x86_64::structures::paging::PhysFrame) {
///     let _ = kernel::frames::free(frame);
/// }
/// ```
///
/// ```compile_fail,E0133
/// // The public way takes the Machine and is `unsafe`: a frame that still
/// // backs a page (a suspended guest's stack, say) must not be given back.
/// fn free(machine: &kernel::Machine, frame: x86_64::structures::paging::PhysFrame) {
///     let _ = kernel::frames::free_frame(machine, frame);
/// }
/// ```
///
/// ```compile_fail,E0061
/// // Taking a frame needs the Machine.
/// let frame = kernel::frames::allocate_frame();
/// ```
///
/// ```
/// // What the four leave: the holder of the Machine takes and gives back.
/// fn cycle(machine: &kernel::Machine) {
///     if let Ok(frame) = kernel::frames::allocate_frame(machine) {
///         // SAFETY: the frame was just taken; nothing maps or uses it.
///         let _ = unsafe { kernel::frames::free_frame(machine, frame) };
///     }
/// }
/// ```
pub(crate) static FRAMES: crate::sync::Mutex<FrameAllocator<KERNEL_WORDS>> =
    crate::sync::Mutex::kernel("frame allocator", FrameAllocator::new());

/// Touches the stack a locked section may need before a public function
/// takes the lock, so that a demand fault on a continuation stack happens
/// before, never while the lock is held (`stacks`' rule). The kernel's own
/// paths (`allocate`, `free`) run inside sections that did this already.
#[inline(always)]
fn touch_before_lock() {
    #[cfg(target_os = "none")]
    crate::stacks::touch_stack(crate::stacks::LOCKED_SECTION_STACK);
}

/// Takes a free frame, waiting for the allocator's lock (the kernel's own
/// path: page tables, the heap's backing, stack pages).
pub(crate) fn allocate() -> Result<PhysFrame<Size4KiB>, AllocError> {
    FRAMES.lock().allocate()
}

/// Takes a free frame without waiting: [`AllocError::Busy`] if the lock is
/// held. This is the path for the page-fault handler.
#[cfg(target_os = "none")]
pub(crate) fn try_allocate() -> Result<PhysFrame<Size4KiB>, AllocError> {
    match FRAMES.try_lock() {
        Some(mut frames) => frames.allocate(),
        None => Err(AllocError::Busy),
    }
}

/// Gives a frame the kernel took with [`allocate`] or [`try_allocate`]
/// back (the kernel's own path).
pub(crate) fn free(frame: PhysFrame<Size4KiB>) -> Result<(), FreeError> {
    FRAMES.lock().free(frame)
}

/// Takes a free frame for the holder of the [`Machine`](crate::Machine):
/// the frame is the caller's until it gives it back with [`free_frame`].
/// Safe: a frame nobody else uses can be written through the window or
/// mapped by its owner, and one never given back is only memory lost.
pub fn allocate_frame(_machine: &crate::Machine) -> Result<PhysFrame<Size4KiB>, AllocError> {
    touch_before_lock();
    allocate()
}

/// Gives `frame` back to the kernel's allocator. A frame that is free
/// already ([`FreeError::DoubleFree`]) or that the map never called usable
/// ([`FreeError::NotUsable`]) is refused, and nothing changes.
///
/// # Safety
/// Nothing may use `frame` any more: no page maps it, no reference reaches
/// it through the physical-memory window. In practice: a frame the caller
/// took with [`allocate_frame`], unmapped again. A frame that still backs
/// a page (of a continuation stack, say) would be handed out again and
/// mapped twice. (A frame that is free already, or not usable RAM, is
/// refused with an error, whatever it is.)
pub unsafe fn free_frame(
    _machine: &crate::Machine,
    frame: PhysFrame<Size4KiB>,
) -> Result<(), FreeError> {
    touch_before_lock();
    free(frame)
}

/// Takes the allocator's lock and keeps it until the returned guard is
/// dropped: for the test that a demand fault finding the lock taken is
/// reported as a kernel bug (`tests/demand_fault_while_locked.rs`).
///
/// # Safety
/// While the guard lives, the caller must not touch a page of a
/// continuation stack that is not mapped yet, nor take or give back a
/// frame: either would find the lock taken and end the boot (the
/// page-fault handler reports it; any other path panics). The guard must
/// be dropped on the stack that took it.
pub unsafe fn hold_lock(_machine: &crate::Machine) -> impl Sized {
    touch_before_lock();
    FRAMES.lock()
}

/// Frames free right now in the kernel's allocator.
pub fn free_count() -> usize {
    touch_before_lock();
    FRAMES.lock().free_count()
}

/// Builds the kernel's allocator from the bootloader's memory map and
/// prints what it found: the usable frames, and every problem of the map
/// (at most `MAX_PROBLEMS` of them, then a count). Runs once, at boot,
/// before the heap exists: the map is read in place, entry by entry, so a
/// map of any length and any content is read whole, without a panic.
#[cfg(target_os = "none")]
pub(crate) fn init_from_boot_map(map: &[bootloader_api::info::MemoryRegion]) {
    let mut allocator = FRAMES.lock();
    allocator.init_from(regions_from_boot_map(map));
    crate::println!(
        "frames: {} usable frames ({} MiB) in {} memory map regions",
        allocator.usable_count(),
        allocator.usable_count() * 4 / 1024,
        map.len()
    );
    for problem in allocator.problems() {
        crate::println!("frames: memory map: {problem}");
    }
    if allocator.problem_count() > MAX_PROBLEMS {
        crate::println!(
            "frames: memory map: ... and {} more such notes",
            allocator.problem_count() - MAX_PROBLEMS
        );
    }
}

/// Converts the bootloader's memory map into [`Region`]s, one for each of
/// its entries (no allocation: the heap does not exist yet at this point).
/// Every kind but `Usable` is reserved.
pub fn regions_from_boot_map(
    map: &[bootloader_api::info::MemoryRegion],
) -> impl Iterator<Item = Region> + Clone + '_ {
    use bootloader_api::info::MemoryRegionKind;
    map.iter().map(|r| Region {
        start: r.start,
        end: r.end,
        kind: if r.kind == MemoryRegionKind::Usable {
            RegionKind::Usable
        } else {
            RegionKind::Reserved
        },
    })
}
