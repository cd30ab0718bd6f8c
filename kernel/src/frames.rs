//! The physical frame allocator: hands out and takes back 4 KiB frames of
//! RAM, built from the memory map the firmware reported.
//!
//! Everything that needs physical memory after boot (page tables, the heap's
//! backing, continuation stacks paged in on demand) gets it here, so the
//! allocator must never hand out a frame twice, never hand out a frame that
//! is not RAM the kernel may use, and must notice a frame freed twice. The
//! firmware's map is not trusted blindly: [`FrameAllocator::init`] checks it
//! and records every problem it finds, and the kernel prints them at boot.
//!
//! ## Bookkeeping
//!
//! Two bitmaps with one bit per frame, frame `n` being physical address
//! `n * 4096`:
//!
//! ```text
//!   word w of a bitmap covers frames 64*w .. 64*w + 63, bit b = frame 64*w + b
//!
//!   usable  1 = the map says this frame is RAM the kernel may hand out
//!   free    1 = usable and not handed out right now   (free implies usable)
//!
//!             frame:  0 1 2 3 4 5 6 7 ...
//!   usable            0 0 1 1 1 1 1 0      <- from the memory map, fixed
//!   free              0 0 0 1 0 1 1 0      <- frames 2 and 4 are in use
//!                           ^
//!                     hint: no word before this one has a free bit
//! ```
//!
//! [`FrameAllocator::allocate`] scans from the hint word for a non-zero word
//! and takes its lowest set bit. Words before the hint are known to be empty,
//! so a scan skips each exhausted word at most once until a free below the
//! hint moves the hint back: allocation is amortised O(1) in practice, which
//! matters once stacks are paged in from the page-fault handler. Freeing sets
//! the bit back, after checking the frame is usable and not already free.
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

use x86_64::structures::paging::{PageSize, PhysFrame, Size4KiB};
use x86_64::{PhysAddr, align_down};

/// What the memory map says about a physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM the kernel may use.
    Usable,
    /// Anything else: firmware, bootloader, MMIO, ACPI, holes.
    Reserved,
}

/// One entry of a memory map: `start..end` in bytes, as reported. Plain
/// numbers, not `PhysAddr`s: the firmware's values are what is checked
/// here (they may be unaligned, inverted, or beyond what a `PhysAddr` can
/// hold), and a bad one must become a [`MapProblem`], not a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub kind: RegionKind,
}

/// Something wrong with the memory map. None of these stops the boot; each
/// is handled conservatively (as described per variant) and reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapProblem {
    /// `start >= end`: the region is ignored.
    Empty { start: u64, end: u64 },
    /// A usable region whose bounds are not frame aligned: it is shrunk to
    /// the whole frames inside it (possibly to nothing).
    Unaligned { start: u64, end: u64 },
    /// Two usable regions overlap: their frames are counted once.
    OverlappingUsable {
        first: (u64, u64),
        second: (u64, u64),
    },
    /// A usable region overlaps a reserved one: the shared frames are not
    /// handed out (reserved wins).
    UsableOverlapsReserved {
        usable: (u64, u64),
        reserved: (u64, u64),
    },
    /// Usable memory beyond what the bitmaps can describe: not used.
    BeyondCapacity { start: u64, end: u64 },
}

/// How many problems are kept; further ones are only counted.
pub const MAX_PROBLEMS: usize = 32;

/// Why a frame could not be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// No free frame is left.
    OutOfMemory,
    /// The allocator's lock is held (only from the page-fault handler's
    /// `try_allocate`).
    Busy,
}

/// Why a frame could not be freed. The allocator's state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The frame is already free: a double free.
    DoubleFree(PhysFrame),
    /// The memory map never said this frame was usable.
    NotUsable(PhysFrame),
}

/// A bitmap frame allocator for the first `WORDS * 64` frames of physical
/// memory (`WORDS * 64 * 4 KiB` bytes). Build it with [`Self::new`] (empty,
/// usable in a `static`) and fill it with [`Self::init`].
pub struct FrameAllocator<const WORDS: usize> {
    usable: [u64; WORDS],
    free: [u64; WORDS],
    /// Every word before this index has no free bit.
    hint: usize,
    free_count: usize,
    usable_count: usize,
    problems: [Option<MapProblem>; MAX_PROBLEMS],
    problem_count: usize,
}

impl<const WORDS: usize> Default for FrameAllocator<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> FrameAllocator<WORDS> {
    /// Number of frames the bitmaps can describe.
    pub const CAPACITY_FRAMES: u64 = WORDS as u64 * 64;

    /// An allocator that owns no memory yet.
    pub const fn new() -> Self {
        Self {
            usable: [0; WORDS],
            free: [0; WORDS],
            hint: 0,
            free_count: 0,
            usable_count: 0,
            problems: [None; MAX_PROBLEMS],
            problem_count: 0,
        }
    }

    /// Replaces the allocator's state with the frames `regions` declares
    /// usable, minus any frame that a reserved region touches. Every frame
    /// starts free. Problems with the map are recorded (see [`Self::problems`]).
    pub fn init(&mut self, regions: &[Region]) {
        self.init_from(regions.iter().copied());
    }

    /// [`Self::init`] from regions read one by one (the map is walked a
    /// few times, so the iterator is cloned): no buffer, so a map of any
    /// length is read whole. Any region is accepted: empty, inverted,
    /// unaligned, overlapping, reaching to the top of the address space.
    pub fn init_from(&mut self, regions: impl Iterator<Item = Region> + Clone) {
        // Reset in place: a fresh `Self::new()` would be a temporary as large
        // as the bitmaps (256 KiB for the kernel's), too big for the stack.
        self.usable.fill(0);
        self.free.fill(0);
        self.problems.fill(None);
        self.hint = 0;
        self.free_count = 0;
        self.usable_count = 0;
        self.problem_count = 0;
        let capacity_end = Self::CAPACITY_FRAMES * Size4KiB::SIZE;
        // Pass 1: usable regions, shrunk to whole frames.
        for (i, region) in regions.clone().enumerate() {
            if region.start >= region.end {
                self.report(MapProblem::Empty {
                    start: region.start,
                    end: region.end,
                });
                continue;
            }
            if region.kind != RegionKind::Usable {
                continue;
            }
            for earlier in regions.clone().take(i) {
                if earlier.kind == RegionKind::Usable
                    && earlier.start < earlier.end
                    && earlier.start < region.end
                    && region.start < earlier.end
                {
                    self.report(MapProblem::OverlappingUsable {
                        first: (earlier.start, earlier.end),
                        second: (region.start, region.end),
                    });
                }
            }
            // A start in the last, partial frame of the address space has
            // no whole frame above it: `u64::MAX` makes the range empty.
            let start = region
                .start
                .checked_next_multiple_of(Size4KiB::SIZE)
                .unwrap_or(u64::MAX);
            let end = align_down(region.end, Size4KiB::SIZE);
            if start != region.start || end != region.end {
                self.report(MapProblem::Unaligned {
                    start: region.start,
                    end: region.end,
                });
            }
            if end > capacity_end && start < end {
                self.report(MapProblem::BeyondCapacity {
                    start: start.max(capacity_end),
                    end,
                });
            }
            let end = end.min(capacity_end);
            // Frame 0 is never handed out, even when the map calls it
            // usable: a physical address of 0 then always means a bug.
            for frame in (start / Size4KiB::SIZE).max(1)..(end.max(start) / Size4KiB::SIZE) {
                let (word, bit) = Self::position(frame);
                if self.usable[word] & bit == 0 {
                    self.usable[word] |= bit;
                    self.free[word] |= bit;
                    self.usable_count += 1;
                    self.free_count += 1;
                }
            }
        }
        // Pass 2: every frame a reserved region touches, even partly, is
        // taken away again, whatever order the map listed the regions in.
        for region in regions.clone() {
            if region.kind != RegionKind::Reserved || region.start >= region.end {
                continue;
            }
            let first = region.start / Size4KiB::SIZE;
            let last = region
                .end
                .div_ceil(Size4KiB::SIZE)
                .min(Self::CAPACITY_FRAMES);
            let mut clashed = false;
            for frame in first..last {
                let (word, bit) = Self::position(frame);
                if self.usable[word] & bit != 0 {
                    clashed = true;
                    self.usable[word] &= !bit;
                    self.free[word] &= !bit;
                    self.usable_count -= 1;
                    self.free_count -= 1;
                }
            }
            if clashed {
                for usable in regions.clone().filter(|r| r.kind == RegionKind::Usable) {
                    if usable.start < region.end && region.start < usable.end {
                        self.report(MapProblem::UsableOverlapsReserved {
                            usable: (usable.start, usable.end),
                            reserved: (region.start, region.end),
                        });
                    }
                }
            }
        }
    }

    fn report(&mut self, problem: MapProblem) {
        if let Some(slot) = self.problems.get_mut(self.problem_count) {
            *slot = Some(problem);
        }
        self.problem_count += 1;
    }

    /// The word index and bit mask of frame number `frame`.
    fn position(frame: u64) -> (usize, u64) {
        ((frame / 64) as usize, 1 << (frame % 64))
    }

    /// The problems found in the map by [`Self::init`] (at most
    /// [`MAX_PROBLEMS`]; see [`Self::problem_count`] for the total).
    pub fn problems(&self) -> impl Iterator<Item = MapProblem> + '_ {
        self.problems.iter().flatten().copied()
    }

    /// How many problems were found, including any not kept.
    pub fn problem_count(&self) -> usize {
        self.problem_count
    }

    /// Frames free right now.
    pub fn free_count(&self) -> usize {
        self.free_count
    }

    /// Frames the map made available in total (free or handed out).
    pub fn usable_count(&self) -> usize {
        self.usable_count
    }

    /// Takes a free frame: the lowest-numbered free frame at or after the
    /// hint.
    pub fn allocate(&mut self) -> Result<PhysFrame, AllocError> {
        while self.hint < WORDS {
            let word = self.free[self.hint];
            if word != 0 {
                let bit = word.trailing_zeros() as u64;
                self.free[self.hint] &= !(1 << bit);
                self.free_count -= 1;
                let number = self.hint as u64 * 64 + bit;
                return Ok(PhysFrame::containing_address(PhysAddr::new(
                    number * Size4KiB::SIZE,
                )));
            }
            self.hint += 1;
        }
        Err(AllocError::OutOfMemory)
    }

    /// Gives `frame` back.
    pub fn free(&mut self, frame: PhysFrame) -> Result<(), FreeError> {
        let number = frame.start_address().as_u64() / Size4KiB::SIZE;
        if number >= Self::CAPACITY_FRAMES {
            return Err(FreeError::NotUsable(frame));
        }
        let (word, bit) = Self::position(number);
        if self.usable[word] & bit == 0 {
            return Err(FreeError::NotUsable(frame));
        }
        if self.free[word] & bit != 0 {
            return Err(FreeError::DoubleFree(frame));
        }
        self.free[word] |= bit;
        self.free_count += 1;
        self.hint = self.hint.min(word);
        Ok(())
    }
}

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
    crate::sync::Mutex::new("frame allocator", FrameAllocator::new());

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
        crate::println!("frames: memory map problem: {problem:x?}");
    }
    if allocator.problem_count() > MAX_PROBLEMS {
        crate::println!(
            "frames: ... and {} more problems",
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const U: RegionKind = RegionKind::Usable;
    const R: RegionKind = RegionKind::Reserved;

    fn region(start: u64, end: u64, kind: RegionKind) -> Region {
        Region { start, end, kind }
    }

    /// 4 words: 256 frames, 1 MiB of physical memory.
    fn allocator(regions: &[Region]) -> std::boxed::Box<FrameAllocator<4>> {
        let mut a = std::boxed::Box::new(FrameAllocator::<4>::new());
        a.init(regions);
        a
    }

    /// The frame at physical address `addr`.
    fn frame(addr: u64) -> PhysFrame {
        PhysFrame::from_start_address(PhysAddr::new(addr)).expect("a frame-aligned address")
    }

    /// The start address of what `allocate` returned.
    fn allocated<const W: usize>(a: &mut FrameAllocator<W>) -> Result<u64, AllocError> {
        a.allocate().map(|f| f.start_address().as_u64())
    }

    /// Every frame left, by start address, in the order handed out.
    fn drain<const W: usize>(a: &mut FrameAllocator<W>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(addr) = allocated(a) {
            out.push(addr);
        }
        out
    }

    #[test]
    fn clean_map_counts_exactly_the_usable_frames() {
        let a = allocator(&[
            region(0, 0x1000, R),
            region(0x1000, 0x5000, U),
            region(0x5000, 0x8000, R),
            region(0x8000, 0xa000, U),
        ]);
        assert_eq!(a.free_count(), 6);
        assert_eq!(a.usable_count(), 6);
        assert_eq!(a.problem_count(), 0);
    }

    #[test]
    fn allocation_returns_each_usable_frame_once_in_address_order() {
        let mut a = allocator(&[region(0x1000, 0x3000, U), region(0x8000, 0x9000, U)]);
        assert_eq!(drain(&mut a), [0x1000, 0x2000, 0x8000]);
        assert_eq!(allocated(&mut a), Err(AllocError::OutOfMemory));
        assert_eq!(a.free_count(), 0);
    }

    #[test]
    fn freed_frame_is_reused_and_count_restored() {
        let mut a = allocator(&[region(0x1000, 0x4000, U)]);
        let first = a.allocate().unwrap();
        let second = a.allocate().unwrap();
        assert_eq!((first, second), (frame(0x1000), frame(0x2000)));
        assert_eq!(a.free_count(), 1);
        a.free(first).unwrap();
        assert_eq!(a.free_count(), 2);
        assert_eq!(allocated(&mut a), Ok(0x1000));
    }

    #[test]
    fn double_free_is_refused_and_changes_nothing() {
        let mut a = allocator(&[region(0x1000, 0x3000, U)]);
        let taken = a.allocate().unwrap();
        a.free(taken).unwrap();
        assert_eq!(a.free(taken), Err(FreeError::DoubleFree(frame(0x1000))));
        assert_eq!(a.free_count(), 2);
        assert_eq!(drain(&mut a), [0x1000, 0x2000]);
    }

    #[test]
    fn freeing_a_frame_that_was_never_usable_is_refused() {
        let mut a = allocator(&[region(0x1000, 0x2000, U), region(0x2000, 0x3000, R)]);
        assert_eq!(
            a.free(frame(0x2000)),
            Err(FreeError::NotUsable(frame(0x2000)))
        );
        assert_eq!(
            a.free(frame(0x4000_0000)),
            Err(FreeError::NotUsable(frame(0x4000_0000)))
        );
        assert_eq!(a.free_count(), 1);
    }

    #[test]
    fn unaligned_usable_region_shrinks_to_whole_frames() {
        let mut a = allocator(&[region(0x1234, 0x5010, U)]);
        assert_eq!(
            a.problems().collect::<Vec<_>>(),
            [MapProblem::Unaligned {
                start: 0x1234,
                end: 0x5010
            }]
        );
        assert_eq!(drain(&mut a), [0x2000, 0x3000, 0x4000]);
    }

    #[test]
    fn unaligned_region_smaller_than_a_frame_gives_nothing() {
        let a = allocator(&[region(0x1010, 0x1ff0, U)]);
        assert_eq!(a.free_count(), 0);
        assert_eq!(a.problem_count(), 1);
    }

    #[test]
    fn empty_and_inverted_regions_are_reported_and_ignored() {
        let a = allocator(&[
            region(0x3000, 0x3000, U),
            region(0x6000, 0x2000, U),
            region(0x9000, 0x1000, R),
            region(0x1000, 0x2000, U),
        ]);
        assert_eq!(
            a.problems().collect::<Vec<_>>(),
            [
                MapProblem::Empty {
                    start: 0x3000,
                    end: 0x3000
                },
                MapProblem::Empty {
                    start: 0x6000,
                    end: 0x2000
                },
                MapProblem::Empty {
                    start: 0x9000,
                    end: 0x1000
                },
            ]
        );
        assert_eq!(a.free_count(), 1);
    }

    #[test]
    fn overlapping_usable_regions_count_each_frame_once() {
        let mut a = allocator(&[region(0x1000, 0x4000, U), region(0x3000, 0x6000, U)]);
        assert_eq!(
            a.problems().collect::<Vec<_>>(),
            [MapProblem::OverlappingUsable {
                first: (0x1000, 0x4000),
                second: (0x3000, 0x6000)
            }]
        );
        assert_eq!(a.free_count(), 5);
        assert_eq!(drain(&mut a), [0x1000, 0x2000, 0x3000, 0x4000, 0x5000]);
    }

    #[test]
    fn reserved_region_wins_over_an_overlapping_usable_one_in_any_order() {
        for regions in [
            [region(0x1000, 0x6000, U), region(0x2800, 0x4000, R)],
            [region(0x2800, 0x4000, R), region(0x1000, 0x6000, U)],
        ] {
            let mut a = allocator(&regions);
            assert_eq!(
                a.problems().collect::<Vec<_>>(),
                [MapProblem::UsableOverlapsReserved {
                    usable: (0x1000, 0x6000),
                    reserved: (0x2800, 0x4000)
                }]
            );
            // 0x2000 is only partly reserved, but a shared frame is never handed out.
            assert_eq!(drain(&mut a), [0x1000, 0x4000, 0x5000]);
        }
    }

    #[test]
    fn memory_beyond_the_bitmap_is_reported_and_unused() {
        // Capacity of FrameAllocator<4> is 256 frames = 0x10_0000 bytes.
        let mut a = allocator(&[region(0xfe000, 0x104000, U)]);
        assert_eq!(
            a.problems().collect::<Vec<_>>(),
            [MapProblem::BeyondCapacity {
                start: 0x100000,
                end: 0x104000
            }]
        );
        assert_eq!(drain(&mut a), [0xfe000, 0xff000]);
    }

    #[test]
    fn problems_past_the_limit_are_counted_not_kept() {
        let regions: Vec<Region> = (0..40).map(|i| region(i * 0x1000, i * 0x1000, U)).collect();
        let a = allocator(&regions);
        assert_eq!(a.problem_count(), 40);
        assert_eq!(a.problems().count(), MAX_PROBLEMS);
    }

    #[test]
    fn free_below_the_hint_is_found_again() {
        // Frames in words 0 and 2: exhaust word 0 so the hint moves past it.
        let mut a = allocator(&[
            region(0, 64 * 0x1000, U),
            region(128 * 0x1000, 130 * 0x1000, U),
        ]);
        let all = drain(&mut a);
        assert_eq!(all.len(), 65);
        a.free(frame(5 * 0x1000)).unwrap();
        a.free(frame(129 * 0x1000)).unwrap();
        assert_eq!(allocated(&mut a), Ok(5 * 0x1000));
        assert_eq!(allocated(&mut a), Ok(129 * 0x1000));
        assert_eq!(allocated(&mut a), Err(AllocError::OutOfMemory));
    }

    #[test]
    fn allocate_all_then_free_all_restores_the_count() {
        let mut a = allocator(&[region(0x1000, 0x20000, U), region(0x40000, 0x41000, U)]);
        let before = a.free_count();
        assert_eq!(before, 32);
        let frames = drain(&mut a);
        assert_eq!(frames.len(), 32);
        for &f in &frames {
            a.free(frame(f)).unwrap();
        }
        assert_eq!(a.free_count(), before);
        let mut again = drain(&mut a);
        again.sort();
        assert_eq!(again, frames);
    }

    #[test]
    fn frame_zero_is_never_handed_out() {
        let mut a = allocator(&[region(0, 0x3000, U)]);
        assert_eq!(a.free_count(), 2);
        assert_eq!(drain(&mut a), [0x1000, 0x2000]);
        assert_eq!(a.free(frame(0)), Err(FreeError::NotUsable(frame(0))));
    }

    #[test]
    fn init_replaces_previous_state() {
        let mut a = allocator(&[region(0x1000, 0x9000, U)]);
        a.allocate().unwrap();
        a.init(&[region(0x2000, 0x3000, U)]);
        assert_eq!(a.free_count(), 1);
        assert_eq!(a.problem_count(), 0);
        assert_eq!(allocated(&mut a), Ok(0x2000));
    }

    #[test]
    fn a_usable_region_in_the_last_frame_of_the_address_space_is_reported_not_a_panic() {
        // Its start rounds up past u64::MAX: no whole frame lies in it.
        let a = allocator(&[
            region(u64::MAX - 0x10, u64::MAX, U),
            region(0x1000, 0x2000, U),
        ]);
        assert_eq!(
            a.problems().collect::<Vec<_>>(),
            [MapProblem::Unaligned {
                start: u64::MAX - 0x10,
                end: u64::MAX
            }]
        );
        assert_eq!(a.free_count(), 1);
    }

    #[test]
    fn a_reserved_region_reaching_the_top_of_the_address_space_takes_only_its_frames() {
        let mut a = allocator(&[region(0x1000, 0x4000, U), region(0x3000, u64::MAX, R)]);
        assert_eq!(drain(&mut a), [0x1000, 0x2000]);
    }

    #[test]
    fn a_boot_map_of_300_regions_is_read_whole() {
        // Once copied into a buffer of 256 regions, and a longer map
        // ended the boot with an assertion.
        use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
        let map: Vec<MemoryRegion> = (1..=300)
            .map(|i| MemoryRegion {
                start: 0x20_0000 + i * 0x1000,
                end: 0x20_0000 + i * 0x1000 + 0x800,
                kind: MemoryRegionKind::Bootloader,
            })
            .chain([MemoryRegion {
                start: 0xf0000,
                end: 0xf1000,
                kind: MemoryRegionKind::Usable,
            }])
            .collect();
        let mut a = std::boxed::Box::new(FrameAllocator::<4>::new());
        a.init_from(regions_from_boot_map(&map));
        assert_eq!(a.problem_count(), 0);
        // The 301st entry, the only usable one, is read.
        assert_eq!(drain(&mut a), [0xf0000]);
    }
}
