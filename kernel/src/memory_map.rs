//! The virtual memory map: where everything the kernel maps lives, as one
//! table and the constants that say it.
//!
//! This file holds only the map, as xv6's `memlayout.h` does; the code
//! that builds the page tables from it is in `boot_tables.rs`, and the stack
//! slots of the continuation-stack region are cut in `stacks.rs`. A test
//! (`kernel/tests/doc_figures/`) checks that `docs/boot.md` quotes the same addresses.
//!
//! ```text
//!  start                  end (exclusive)         size     contents                    permissions
//!  ---------------------  ----------------------  -------  --------------------------  -----------
//!  0x0000_0000_0000_0000  0x0000_8000_0000_0000   128 TiB  lower half: nothing mapped  -
//!                                                          (a null dereference faults)
//!  0x0000_8000_0000_0000  0xffff_8000_0000_0000   -        non-canonical hole          -
//!  0xffff_8000_0000_0000  0xffff_c000_0000_0000   64 TiB   bootloader's dynamic range  see below
//!                                                          (level-4 entries 256..383)
//!      kernel image       where the bootloader put it      .text                       R + X
//!                                                          .rodata                     R + NX
//!                                                          .data/.bss (RELRO: R)       RW + NX
//!      kernel stack       256 KiB, bootloader's choice     the stack                   RW + NX
//!                                                          4 KiB guard page below it   unmapped
//!      physical memory    0 .. max(4 GiB, end of RAM)      2 MiB pages                 RW + NX
//!      window             at the bootloader's offset
//!  0xffff_c000_0000_0000  0xffff_c000_0200_0000   32 MiB   kernel heap                 RW + NX
//!  0xffff_c000_0200_0000  0xffff_d000_0000_0000   -        unused                      -
//!  0xffff_d000_0000_0000  0xffff_d080_0000_0000   512 GiB  continuation stacks: slots  on demand
//!                                                          of guard page(s) + stack    (RW + NX)
//!  0xffff_d080_0000_0000  0xffff_e000_0000_0000   -        unused                      -
//!  0xffff_e000_0000_0000  0xffff_f000_0000_0000   16 TiB   Wasm linear memories: slots at grow time
//!                                                          of 4 GiB + 4 GiB guard      (RW + NX)
//!  0xffff_f000_0000_0000  0xffff_ffff_ffff_ffff   -        unused                      -
//! ```
//!
//! ### The continuation-stack region
//!
//! `stacks.rs` cuts the region into equal slots; slot `i` starts at
//! `CONT_STACKS_START + i * (guard_size + stack_size)`:
//!
//! ```text
//!  offset in slot          contents                               mapped
//!  ----------------------  -------------------------------------  ----------------------
//!  0 .. guard_size         guard                                  never
//!  guard_size .. top-4K    stack, growing down                    on first touch (zeroed)
//!  top-4K .. top           top page: `docs/spec.md` §1 header, first frames at allocation
//!
//!  defaults: guard_size 4 KiB, stack_size 64 KiB, 16 Ki slots = 1.06 GiB of
//!  the 512 GiB; a freed slot keeps only its (zeroed) top page, in a pool
//! ```
//!
//! ### The linear-memory region
//!
//! `wasm/memory.rs` cuts the region into 2048 slots of 8 GiB, one per Wasm
//! linear memory: the memory's whole 32-bit index space (4 GiB), then 4 GiB
//! that are never mapped, so that no address plus offset a Wasm access can
//! form reaches the next slot. A memory's pages are mapped, zeroed, when it
//! grows, and unmapped (frames and emptied page tables given back) when it
//! drops:
//!
//! ```text
//!  offset in slot          contents                               mapped
//!  ----------------------  -------------------------------------  ----------------------
//!  0 .. size               the memory's bytes                     at creation and grow
//!  size .. 4 GiB           room to grow                           not yet
//!  4 GiB .. 8 GiB          guard                                  never
//! ```
//!
//! The kernel image, its stack and the physical-memory window are placed by
//! the bootloader ("dynamic" mappings). `boot::BOOTLOADER_CONFIG` confines
//! them to the dynamic range above, so they can never land on the heap or the
//! continuation-stack region; [`init`] re-checks that at boot, prints where
//! everything ended up, and panics if anything overlaps.
//!

use x86_64::VirtAddr;
use x86_64::structures::paging::{PageSize, PageTableFlags, Size1GiB, Size4KiB};

/// Size of a page, and of a physical frame: the `x86_64` crate's 4 KiB
/// (`Size4KiB::SIZE`), as a plain number for code that counts bytes.
pub const PAGE_SIZE: u64 = Size4KiB::SIZE;
/// Bytes covered by one level-4 entry (512 GiB: 512 level-3 entries of 1 GiB).
pub const P4_ENTRY_SIZE: u64 = 512 * Size1GiB::SIZE;

/// Start of the range in which the bootloader may place its mappings.
pub const DYNAMIC_START: VirtAddr = VirtAddr::new(0xffff_8000_0000_0000);
/// End (exclusive) of the bootloader's dynamic range.
pub const DYNAMIC_END: VirtAddr = VirtAddr::new(0xffff_c000_0000_0000);
/// Start of the kernel heap.
pub const HEAP_START: VirtAddr = VirtAddr::new(0xffff_c000_0000_0000);
/// Size of the kernel heap: room for the bookkeeping of thousands of
/// continuations, well inside the guest's 512 MiB.
pub const HEAP_SIZE: u64 = 32 * 1024 * 1024;
/// Start of the region reserved for continuation stacks.
pub const CONT_STACKS_START: VirtAddr = VirtAddr::new(0xffff_d000_0000_0000);
/// Size of the continuation-stack region: one level-4 entry of its own.
pub const CONT_STACKS_SIZE: u64 = P4_ENTRY_SIZE;

/// Start of the region reserved for Wasm linear memories.
pub const WASM_MEMORIES_START: VirtAddr = VirtAddr::new(0xffff_e000_0000_0000);
/// Size of the linear-memory region: 32 level-4 entries (16 TiB).
pub const WASM_MEMORIES_SIZE: u64 = 32 * P4_ENTRY_SIZE;
/// Bytes of one linear memory's slot: its 4 GiB index space and a 4 GiB
/// guard behind it.
pub const WASM_MEMORY_SLOT_SIZE: u64 = 8 << 30;

/// Flags of an ordinary kernel data page.
pub const DATA_FLAGS: PageTableFlags = PageTableFlags::PRESENT
    .union(PageTableFlags::WRITABLE)
    .union(PageTableFlags::NO_EXECUTE);

/// A named range of virtual addresses, `start..end`. Both bounds are
/// `VirtAddr`s, so both are canonical by construction; [`check_layout`]
/// checks the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: &'static str,
    pub start: VirtAddr,
    pub end: VirtAddr,
}

impl Region {
    /// The `size` bytes from `start`, or [`LayoutError::NonCanonical`] if
    /// the end is not a canonical address (it runs into the non-canonical
    /// hole, or past the top of the address space).
    pub const fn new(name: &'static str, start: VirtAddr, size: u64) -> Result<Self, LayoutError> {
        let Some(end) = start.as_u64().checked_add(size) else {
            return Err(LayoutError::NonCanonical(name));
        };
        match VirtAddr::try_new(end) {
            Ok(end) => Ok(Self { name, start, end }),
            Err(_) => Err(LayoutError::NonCanonical(name)),
        }
    }

    /// [`Self::new`] for the fixed regions, checked when the constant is
    /// evaluated: a bad constant does not compile.
    const fn fixed(name: &'static str, start: VirtAddr, size: u64) -> Self {
        match Self::new(name, start, size) {
            Ok(region) => region,
            Err(_) => panic!("a fixed region ends at a non-canonical address"),
        }
    }

    /// Whether the two ranges share at least one byte.
    pub fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains_region(&self, other: &Region) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn contains(&self, addr: VirtAddr) -> bool {
        (self.start..self.end).contains(&addr)
    }
}

/// The fixed regions of the map (the table in the module docs).
pub const FIXED_REGIONS: [Region; 4] = [
    Region::fixed(
        "bootloader dynamic range",
        DYNAMIC_START,
        DYNAMIC_END.as_u64() - DYNAMIC_START.as_u64(),
    ),
    Region::fixed("kernel heap", HEAP_START, HEAP_SIZE),
    Region::fixed("continuation stacks", CONT_STACKS_START, CONT_STACKS_SIZE),
    Region::fixed(
        "Wasm linear memories",
        WASM_MEMORIES_START,
        WASM_MEMORIES_SIZE,
    ),
];

/// What is wrong with a set of regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// `start >= end`.
    Empty(&'static str),
    /// A bound is not page aligned.
    Unaligned(&'static str),
    /// The region ends at a non-canonical address, or straddles the
    /// non-canonical hole (starts in the lower half, ends in the upper).
    NonCanonical(&'static str),
    /// Two regions share addresses.
    Overlap(&'static str, &'static str),
}

/// Checks that every region is non-empty, page aligned, within one half of
/// the address space, and that no two overlap.
pub fn check_layout(regions: &[Region]) -> Result<(), LayoutError> {
    for (i, r) in regions.iter().enumerate() {
        if r.start >= r.end {
            return Err(LayoutError::Empty(r.name));
        }
        if !r.start.is_aligned(Size4KiB::SIZE) || !r.end.is_aligned(Size4KiB::SIZE) {
            return Err(LayoutError::Unaligned(r.name));
        }
        // Bit 63 tells the halves apart; the last byte must be in the half
        // the first one is in.
        let last = r.end.as_u64() - 1;
        if (r.start.as_u64() >> 63) != (last >> 63) {
            return Err(LayoutError::NonCanonical(r.name));
        }
        if let Some(other) = regions[..i].iter().find(|o| o.overlaps(r)) {
            return Err(LayoutError::Overlap(other.name, r.name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn va(addr: u64) -> VirtAddr {
        VirtAddr::new(addr)
    }

    fn region(name: &'static str, start: u64, size: u64) -> Region {
        Region::new(name, va(start), size).expect("a canonical test region")
    }

    #[test]
    fn fixed_regions_are_aligned_canonical_and_disjoint() {
        assert_eq!(check_layout(&FIXED_REGIONS), Ok(()));
        for r in &FIXED_REGIONS {
            assert!(
                r.start.is_aligned(P4_ENTRY_SIZE),
                "{} starts on a level-4 boundary",
                r.name
            );
        }
    }

    #[test]
    fn fixed_regions_use_their_own_level_4_entries() {
        let entries = |r: &Region| {
            let first = u16::from(r.start.p4_index());
            let last = u16::from(va(r.end.as_u64() - 1).p4_index());
            first..=last
        };
        let got: Vec<_> = FIXED_REGIONS.iter().map(entries).collect();
        assert_eq!(got, [256..=383, 384..=384, 416..=416, 448..=479]);
    }

    #[test]
    fn check_layout_reports_overlaps_and_bad_bounds() {
        let a = region("a", 0xffff_c000_0000_0000, 0x2000);
        let b = region("b", 0xffff_c000_0000_1000, 0x1000);
        assert_eq!(check_layout(&[a, b]), Err(LayoutError::Overlap("a", "b")));
        let touching = region("c", 0xffff_c000_0000_2000, 0x1000);
        assert_eq!(check_layout(&[a, touching]), Ok(()));
        let odd = region("odd", 0xffff_c000_0000_0800, 0x1000);
        assert_eq!(check_layout(&[odd]), Err(LayoutError::Unaligned("odd")));
        let straddle = Region {
            name: "straddle",
            start: va(0x0000_7fff_ffff_f000),
            end: va(0xffff_8000_0000_1000),
        };
        assert_eq!(
            check_layout(&[straddle]),
            Err(LayoutError::NonCanonical("straddle"))
        );
        let empty = region("empty", 0xffff_c000_0000_0000, 0);
        assert_eq!(check_layout(&[empty]), Err(LayoutError::Empty("empty")));
    }

    #[test]
    fn a_region_running_into_the_hole_or_past_the_top_is_refused() {
        assert_eq!(
            Region::new("hole", va(0x0000_7fff_ffff_f000), 0x2000),
            Err(LayoutError::NonCanonical("hole"))
        );
        assert_eq!(
            Region::new("top", va(0xffff_ffff_ffff_f000), 0x2000),
            Err(LayoutError::NonCanonical("top"))
        );
        assert_eq!(
            Region::new("last", va(0x0000_7fff_ffff_e000), 0x1000).map(|r| r.end),
            Ok(va(0x0000_7fff_ffff_f000))
        );
    }
}
