//! A WebAssembly linear memory: on the kernel, pages of its own slot of the
//! linear-memory region, mapped from the frame allocator as it grows; on the
//! host, a `Vec`.
//!
//! Why not the kernel heap: the heap is 32 MiB, shared by the kernel and
//! every store, and a memory in it is one block that a grow copies into a
//! larger one. Here each memory owns an 8 GiB slot of virtual address space
//! (`memory_map.rs`: its 4 GiB index space, then a 4 GiB guard), so it grows
//! in place, as far as free RAM goes, and the heap holds only the small
//! [`LinearMemory`] record.
//!
//! * **Grow maps eagerly.** A grow takes a frame per 4 KiB page at once,
//!   zeroes it through the physical-memory window and maps it at the end of
//!   the memory; every byte of `0..len` is mapped while the memory lives, so
//!   the slice view ([`Deref`]) is an ordinary slice and no access into it
//!   can fault. A grow that cannot have all its frames undoes the pages it
//!   mapped and fails (`memory.grow` returns -1), as does one that would
//!   leave fewer than [`FRAME_RESERVE`] frames free for the kernel's own page
//!   tables and stacks.
//! * **Bounds stay explicit.** The interpreter checks every access against
//!   the slice's length, as before, and traps `out of bounds memory
//!   access`. The guard behind each slot is there so that a later
//!   interpreter could leave a 32-bit access unchecked (any `u32` address
//!   plus `u32` offset lands inside the slot); nothing relies on it yet.
//! * **Drop gives everything back.** The pages are unmapped and their frames
//!   freed, then the page tables the slot no longer needs, and the slot goes
//!   back to the free set, so the frame allocator's free count is what it
//!   was before the memory was made. This holds even after a grow that
//!   never finished (a guest preempted in it, then dropped with its frames
//!   abandoned): each page is mapped and counted in one `no_preempt`
//!   section, so the count the drop unmaps by is never behind the pages.
//!
//! Locking: making, growing and dropping a memory take the slot set's lock,
//! then the page-table and frame-allocator locks one page at a time. Each
//! public entry touches the stack those sections need first
//! (`stacks::touch_stack`), as every locked section on a continuation stack
//! must.

use core::ops::{Deref, DerefMut};

/// Bytes of a page of linear memory.
pub const PAGE: usize = 65536;
/// The most pages a memory may have: the 32-bit index space (4 GiB), a
/// 64-bit memory's too (its slot is the same; an address beyond is out of
/// bounds, and a grow past it fails).
pub const MAX_PAGES: u64 = 65536;
/// Frames a grow always leaves free (16 MiB): the kernel's own page tables,
/// continuation stacks paged in on demand and the heap's needs are never
/// starved by linear memories.
pub const FRAME_RESERVE: usize = 4096;

/// Why a memory could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// More initial pages than the maximum, or a maximum over [`MAX_PAGES`].
    TooLarge,
    /// Every slot of the linear-memory region is in use.
    NoSlot,
    /// Not enough free frames for the initial pages.
    NoFrames,
}

/// One linear memory: `pages() * PAGE` bytes, all zero when new, that may
/// grow up to `maximum()` pages. Derefs to its bytes.
pub struct LinearMemory {
    /// Byte 0 and the length in bytes, kept beside each other as a
    /// slice's two words, so that the slice view is two loads.
    base: *mut u8,
    len: usize,
    pages: u64,
    maximum: u64,
    backing: Backing,
}

impl LinearMemory {
    /// A memory of `initial` zeroed pages that may grow to `maximum`.
    pub fn new(initial: u64, maximum: u64) -> Result<LinearMemory, MemoryError> {
        if maximum > MAX_PAGES || initial > maximum {
            return Err(MemoryError::TooLarge);
        }
        let mut backing = Backing::new(maximum)?;
        let mut memory = LinearMemory {
            base: backing.base(),
            len: 0,
            pages: 0,
            maximum,
            backing,
        };
        if memory.grow(initial).is_none() {
            return Err(MemoryError::NoFrames);
        }
        Ok(memory)
    }

    /// A memory of no pages that cannot grow: what an instance without a
    /// memory has. Takes no slot.
    pub fn empty() -> LinearMemory {
        LinearMemory::new(0, 0).expect("an empty memory needs nothing")
    }

    /// The memory's size in pages.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The most pages it may grow to.
    pub fn maximum(&self) -> u64 {
        self.maximum
    }

    /// Adds `delta` zeroed pages: the old size in pages, or `None` (and no
    /// change) past the maximum or when the frames are not there.
    pub fn grow(&mut self, delta: u64) -> Option<u64> {
        let old = self.pages;
        let new = old.checked_add(delta).filter(|&n| n <= self.maximum)?;
        if delta > 0 {
            self.backing
                .grow(old as usize * PAGE, new as usize * PAGE)?;
        }
        self.pages = new;
        // The host's vector may have moved; the kernel's slot never does.
        self.base = self.backing.base();
        self.len = new as usize * PAGE;
        Some(old)
    }

    /// Where byte 0 is (on the kernel: the start of the memory's slot).
    pub fn base(&self) -> *const u8 {
        self.base
    }
}

impl Deref for LinearMemory {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `base..base + len` is the memory's bytes: mapped
        // (kernel) or the vector's initialised elements (host), and
        // borrowed with `self`.
        unsafe { core::slice::from_raw_parts(self.base, self.len) }
    }
}

impl DerefMut for LinearMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, borrowed mutably with `self`.
        unsafe { core::slice::from_raw_parts_mut(self.base, self.len) }
    }
}

impl core::fmt::Debug for LinearMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinearMemory")
            .field("pages", &self.pages)
            .field("maximum", &self.maximum)
            .finish()
    }
}

#[cfg(not(target_os = "none"))]
use host::Backing;
#[cfg(target_os = "none")]
use paged::Backing;

/// The host's backing: a vector, grown by a fallible reservation.
#[cfg(not(target_os = "none"))]
mod host {
    use super::MemoryError;
    use alloc::vec::Vec;

    pub(super) struct Backing(Vec<u8>);

    impl Backing {
        pub(super) fn new(_maximum: u64) -> Result<Backing, MemoryError> {
            Ok(Backing(Vec::new()))
        }

        pub(super) fn grow(&mut self, old: usize, new: usize) -> Option<()> {
            debug_assert_eq!(self.0.len(), old);
            self.0.try_reserve_exact(new - old).ok()?;
            self.0.resize(new, 0);
            Some(())
        }

        pub(super) fn base(&mut self) -> *mut u8 {
            self.0.as_mut_ptr()
        }
    }
}

/// The kernel's backing: a slot of the linear-memory region.
#[cfg(target_os = "none")]
mod paged {
    use super::{FRAME_RESERVE, MemoryError};
    use crate::frames;
    use crate::paging::{
        self, DATA_FLAGS, PAGE_SIZE, WASM_MEMORIES_SIZE, WASM_MEMORIES_START, WASM_MEMORY_SLOT_SIZE,
    };
    use crate::stacks::{LOCKED_SECTION_STACK, touch_stack};
    use x86_64::VirtAddr;
    use x86_64::structures::paging::Page;

    /// Slots in the region.
    pub(crate) const SLOTS: usize = (WASM_MEMORIES_SIZE / WASM_MEMORY_SLOT_SIZE) as usize;

    /// Which slots are taken, a bit per slot.
    static TAKEN: crate::sync::Mutex<[u64; SLOTS / 64]> =
        crate::sync::Mutex::kernel("linear-memory slots", [0; SLOTS / 64]);

    /// Slots in use now.
    pub fn slots_in_use() -> usize {
        touch_stack(LOCKED_SECTION_STACK);
        TAKEN.lock().iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The lowest free slot, now taken; `None` if all are.
    fn take_slot() -> Option<usize> {
        let mut taken = TAKEN.lock();
        let (word, bits) = taken
            .iter_mut()
            .enumerate()
            .find(|(_, w)| **w != u64::MAX)?;
        let bit = bits.trailing_ones() as usize;
        *bits |= 1 << bit;
        Some(word * 64 + bit)
    }

    fn give_slot(slot: usize) {
        TAKEN.lock()[slot / 64] &= !(1 << (slot % 64));
    }

    /// A memory's slot (`None`: a memory that may never hold a byte takes
    /// none) and the bytes mapped from its start.
    pub(super) struct Backing {
        slot: Option<usize>,
        mapped: usize,
    }

    impl Backing {
        pub(super) fn new(maximum: u64) -> Result<Backing, MemoryError> {
            let slot = if maximum == 0 {
                None
            } else {
                touch_stack(LOCKED_SECTION_STACK);
                Some(take_slot().ok_or(MemoryError::NoSlot)?)
            };
            Ok(Backing { slot, mapped: 0 })
        }

        fn start(&self) -> VirtAddr {
            let slot = self.slot.unwrap_or(0) as u64;
            WASM_MEMORIES_START + slot * WASM_MEMORY_SLOT_SIZE
        }

        pub(super) fn base(&mut self) -> *mut u8 {
            match self.slot {
                Some(_) => self.start().as_mut_ptr(),
                // An empty slice's address: never read.
                None => core::ptr::NonNull::dangling().as_ptr(),
            }
        }

        /// Maps zeroed frames up to `new`; on any failure unmaps back to
        /// `old` and returns `None`.
        ///
        /// A page at a time, each in a `no_preempt` section that ends with
        /// `mapped` counting it: a guest preempted in a grow and then
        /// dropped may have its frames abandoned (`preempt.rs`), and a
        /// memory it did not own is then dropped by its owner, whose
        /// `unmap` must find every page the grow mapped. Pages such a grow
        /// left mapped past the length are zero and reachable by no slice:
        /// the next grow keeps them.
        pub(super) fn grow(&mut self, old: usize, new: usize) -> Option<()> {
            debug_assert!(self.mapped >= old);
            self.slot?;
            touch_stack(LOCKED_SECTION_STACK);
            let frames_needed = new.saturating_sub(self.mapped) / PAGE_SIZE as usize;
            // The page tables for them: one level-1 table per 2 MiB, and
            // a level-2 table per GiB, rounded up generously.
            let tables = frames_needed / 512 + 4;
            if frames::free_count() < frames_needed + tables + FRAME_RESERVE {
                return None;
            }
            let start = self.start();
            while self.mapped < new {
                let page = Page::containing_address(start + self.mapped as u64);
                let section = crate::sync::no_preempt();
                if map_zeroed(page).is_none() {
                    drop(section);
                    self.unmap_to(old);
                    return None;
                }
                self.mapped += PAGE_SIZE as usize;
                drop(section);
            }
            Some(())
        }

        /// Unmaps the slot's pages from `mapped` down to `to` and frees
        /// their frames, a page at a time as [`Backing::grow`] maps them.
        fn unmap_to(&mut self, to: usize) {
            let start = self.start();
            while self.mapped > to {
                let page =
                    Page::containing_address(start + (self.mapped - PAGE_SIZE as usize) as u64);
                let _section = crate::sync::no_preempt();
                // SAFETY: the page is beyond the memory's length (a grow
                // undone) or the memory is being dropped: no slice of the
                // memory reaches it.
                let frame = unsafe { paging::unmap_page(page) }
                    .expect("a linear-memory page mapped by its grow");
                frames::free(frame).expect("a linear-memory frame is ours to free");
                self.mapped -= PAGE_SIZE as usize;
            }
        }
    }

    /// Maps a fresh zeroed frame at `page`.
    fn map_zeroed(page: Page) -> Option<()> {
        let frame = frames::allocate().ok()?;
        let window = paging::phys_to_virt(frame.start_address());
        // SAFETY: the frame was just allocated: nobody else uses it, and
        // the physical-memory window maps all of it.
        unsafe { core::ptr::write_bytes(window.as_mut_ptr::<u8>(), 0, PAGE_SIZE as usize) };
        // SAFETY: the frame is ours and mapped nowhere else; the page lies
        // in this memory's slot beyond its current length, so no reference
        // reaches it.
        match unsafe { paging::map_page(page, frame, DATA_FLAGS) } {
            Ok(()) => Some(()),
            Err(_) => {
                frames::free(frame).expect("a frame just allocated is ours to free");
                None
            }
        }
    }

    impl Drop for Backing {
        fn drop(&mut self) {
            let Some(slot) = self.slot else { return };
            touch_stack(LOCKED_SECTION_STACK);
            self.unmap_to(0);
            let start = self.start();
            let last = start + (WASM_MEMORY_SLOT_SIZE - 1);
            // SAFETY: the slot's page tables serve only this slot (it is
            // aligned to its 8 GiB, so no level-1 or level-2 table is
            // shared with another slot), and nothing is mapped in it any
            // more; a level-3 table is freed only when it is empty, that
            // is, no other slot uses it either.
            unsafe {
                paging::free_empty_tables(Page::range_inclusive(
                    Page::containing_address(start),
                    Page::containing_address(last),
                ))
            };
            give_slot(slot);
        }
    }
}

#[cfg(target_os = "none")]
pub use paged::slots_in_use;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_memory_is_its_initial_pages_of_zeros() {
        let m = LinearMemory::new(2, 3).unwrap();
        assert_eq!((m.pages(), m.len()), (2, 2 * PAGE));
        assert!(m.iter().all(|&b| b == 0));
    }

    #[test]
    fn grow_returns_the_old_size_and_keeps_the_bytes() {
        let mut m = LinearMemory::new(1, 4).unwrap();
        m[PAGE - 1] = 7;
        assert_eq!(m.grow(2), Some(1));
        assert_eq!((m.len(), m[PAGE - 1], m[3 * PAGE - 1]), (3 * PAGE, 7, 0));
    }

    #[test]
    fn grow_past_the_maximum_fails_and_changes_nothing() {
        let mut m = LinearMemory::new(1, 2).unwrap();
        assert_eq!(m.grow(2), None);
        assert_eq!(m.pages(), 1);
        assert_eq!(m.grow(u64::MAX), None);
        assert_eq!(m.grow(0), Some(1));
    }

    #[test]
    fn more_initial_pages_than_the_maximum_or_the_index_space_is_refused() {
        assert_eq!(LinearMemory::new(3, 2).err(), Some(MemoryError::TooLarge));
        assert_eq!(
            LinearMemory::new(0, MAX_PAGES + 1).err(),
            Some(MemoryError::TooLarge)
        );
    }
}
