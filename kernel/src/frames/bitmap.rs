//! The frame allocator's bookkeeping: a [`FrameAllocator`] of two bitmaps,
//! built from a memory map it checks, handing out and taking back frames.
//!
//! Why apart from the kernel's instance (the parent module): this part is
//! pure logic over a memory map, and builds and is tested on the host.
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

/// One line of plain English for the boot log: what the map said and what
/// the allocator did about it. An unaligned usable region is the common
/// case on a PC (conventional memory ends at 0x9fc00, where the BIOS data
/// area begins) and is not an error: its partial frame is simply not used.
impl core::fmt::Display for MapProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            MapProblem::Empty { start, end } => {
                write!(f, "region {start:#x}..{end:#x} is empty: ignored")
            }
            MapProblem::Unaligned { start, end } => write!(
                f,
                "usable region {start:#x}..{end:#x} does not start and end on \
                 4 KiB frames: only its whole frames are used"
            ),
            MapProblem::OverlappingUsable { first, second } => write!(
                f,
                "usable regions {:#x}..{:#x} and {:#x}..{:#x} overlap: their \
                 frames are counted once",
                first.0, first.1, second.0, second.1
            ),
            MapProblem::UsableOverlapsReserved { usable, reserved } => write!(
                f,
                "usable region {:#x}..{:#x} overlaps reserved {:#x}..{:#x}: \
                 the shared frames are not used",
                usable.0, usable.1, reserved.0, reserved.1
            ),
            MapProblem::BeyondCapacity { start, end } => write!(
                f,
                "usable memory {start:#x}..{end:#x} lies beyond what the \
                 bitmaps describe: not used"
            ),
        }
    }
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
