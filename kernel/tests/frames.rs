//! Host tests of the frame allocator's bookkeeping (`kernel/src/frames/`):
//! memory maps clean and broken, allocation order, double frees, the hint.
//!
//! Written against the public `FrameAllocator`, as any user of the
//! allocator sees it; the kernel's one instance is tested in the suites.

use kernel::frames::*;
use std::vec::Vec;
use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

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

/// The boot log's line for the PC's usual map (conventional memory ends at
/// 0x9fc00) says what was done, not that something failed.
#[test]
fn an_unaligned_region_is_logged_as_what_the_allocator_did() {
    let note = MapProblem::Unaligned {
        start: 0,
        end: 0x9fc00,
    };
    assert_eq!(
        std::format!("{note}"),
        "usable region 0x0..0x9fc00 does not start and end on 4 KiB frames: \
         only its whole frames are used"
    );
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
