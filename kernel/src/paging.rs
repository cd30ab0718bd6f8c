//! The kernel's page tables in use: `map_page`, `unmap_page` and
//! `translate` for everything that maps memory after boot, the address
//! arithmetic of the four levels, and where the boot put things (the kernel
//! stack, the physical-memory window). The map they follow is
//! `memory_map.rs` (re-exported here); the table itself is built at boot by
//! `boot_tables.rs` (whose `init` and `record_kernel_stack` are re-exported
//! here); the kernel image's segments come from `elf.rs`.
//!
//! ## Locking
//!
//! The active table is behind a `sync::Mutex`. Lock order: this lock, then
//! the frame allocator's. The `try_` functions never wait, for use from the
//! page-fault handler, which may have interrupted a holder of either lock.

pub use crate::memory_map::*;

/// Whether bits 63..48 of `addr` are copies of bit 47, as x86_64 requires of
/// every address it translates.
pub const fn is_canonical(addr: u64) -> bool {
    canonical(addr) == addr
}

/// `addr` with bits 63..48 set to copies of bit 47.
pub const fn canonical(addr: u64) -> u64 {
    (((addr << 16) as i64) >> 16) as u64
}

/// The four table indices of `addr`, level 4 first, and its offset in the
/// 4 KiB page:
///
/// ```text
///  63      48 47    39 38    30 29    21 20    12 11         0
/// +----------+--------+--------+--------+--------+------------+
/// | sign ext | P4 idx | P3 idx | P2 idx | P1 idx |   offset   |
/// +----------+--------+--------+--------+--------+------------+
/// ```
pub const fn table_indices(addr: u64) -> ([usize; 4], u64) {
    const fn index(addr: u64, shift: u32) -> usize {
        ((addr >> shift) & 0x1ff) as usize
    }
    (
        [
            index(addr, 39),
            index(addr, 30),
            index(addr, 21),
            index(addr, 12),
        ],
        addr & 0xfff,
    )
}

/// The canonical address with the given table indices and page offset (the
/// inverse of [`table_indices`]).
pub const fn address_of(indices: [usize; 4], offset: u64) -> u64 {
    let raw = ((indices[0] as u64) << 39)
        | ((indices[1] as u64) << 30)
        | ((indices[2] as u64) << 21)
        | ((indices[3] as u64) << 12)
        | (offset & 0xfff);
    canonical(raw)
}

/// The bootloader's kernel stack: usable `bottom..top`, and the unmapped
/// guard page `guard_start..bottom` below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackRange {
    pub guard_start: u64,
    pub bottom: u64,
    pub top: u64,
}

impl StackRange {
    /// Whether `addr` falls in the guard page: a kernel stack overflow.
    pub fn guard_contains(&self, addr: u64) -> bool {
        (self.guard_start..self.bottom).contains(&addr)
    }
}

#[cfg(target_os = "none")]
pub use crate::boot_tables::{init, record_kernel_stack};
#[cfg(target_os = "none")]
pub use kernel_only::*;

#[cfg(target_os = "none")]
mod kernel_only {
    use core::sync::atomic::{AtomicU64, Ordering};

    use crate::sync::Mutex;
    use spin::Once;
    use x86_64::structures::paging::mapper::{
        MapToError, Mapper, TranslateResult, UnmapError as X86UnmapError,
    };
    use x86_64::structures::paging::{
        FrameAllocator, OffsetPageTable, Page, PageTableFlags, PhysFrame, Size4KiB, Translate,
    };
    use x86_64::{PhysAddr, VirtAddr};

    use super::*;
    use crate::frames;

    /// Why [`map_page`] failed. Nothing was changed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum MapError {
        /// The page is already mapped.
        AlreadyMapped,
        /// No frame for a new page table.
        OutOfFrames,
        /// A huge page covers the address.
        HugePage,
        /// A lock was held (only from the `try_` functions).
        Busy,
    }

    /// Why [`unmap_page`] failed. Nothing was changed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum UnmapError {
        /// The page is not mapped.
        NotMapped,
        /// A huge page covers the address.
        HugePage,
        /// A lock was held (only from the `try_` functions).
        Busy,
    }

    /// Page-table frames from the kernel's frame allocator, waiting for it.
    pub(crate) struct WaitingFrames;

    // SAFETY: the frames come from `frames`, which hands each out once and
    // only usable RAM.
    unsafe impl FrameAllocator<Size4KiB> for WaitingFrames {
        fn allocate_frame(&mut self) -> Option<PhysFrame> {
            frames::allocate_frame().ok()
        }
    }

    /// Page-table frames without waiting: fails if the allocator is locked.
    struct NonWaitingFrames;

    // SAFETY: as for `WaitingFrames`.
    unsafe impl FrameAllocator<Size4KiB> for NonWaitingFrames {
        fn allocate_frame(&mut self) -> Option<PhysFrame> {
            frames::try_allocate_frame().ok()
        }
    }

    pub(crate) static ACTIVE: Mutex<Option<OffsetPageTable<'static>>> =
        Mutex::new("page table", None);
    pub(crate) static PHYS_OFFSET: AtomicU64 = AtomicU64::new(0);
    pub(crate) static BOOTLOADER_CR3: AtomicU64 = AtomicU64::new(0);
    pub(crate) static KERNEL_CR3: AtomicU64 = AtomicU64::new(0);
    pub(crate) static KERNEL_STACK: Once<StackRange> = Once::new();
    pub(crate) static PHYS_WINDOW: Once<Region> = Once::new();

    /// The bootloader's kernel stack and its guard page, once [`init`] has
    /// found them. Never waits: safe to call from a fault handler.
    pub fn kernel_stack() -> Option<StackRange> {
        KERNEL_STACK.get().copied()
    }

    /// The virtual address at which physical address `phys` can be reached.
    pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
        VirtAddr::new(PHYS_OFFSET.load(Ordering::Relaxed) + phys.as_u64())
    }

    /// The level-4 table the bootloader left in CR3.
    pub fn bootloader_cr3() -> PhysFrame {
        PhysFrame::containing_address(PhysAddr::new(BOOTLOADER_CR3.load(Ordering::Relaxed)))
    }

    /// The level-4 table [`init`] built and loaded.
    pub fn kernel_cr3() -> PhysFrame {
        PhysFrame::containing_address(PhysAddr::new(KERNEL_CR3.load(Ordering::Relaxed)))
    }

    fn with_table<R>(f: impl FnOnce(&mut OffsetPageTable<'static>) -> R) -> R {
        f(ACTIVE.lock().as_mut().expect("paging::init has run"))
    }

    pub(crate) fn map_with(
        table: &mut OffsetPageTable<'static>,
        page: Page,
        frame: PhysFrame,
        flags: PageTableFlags,
        allocator: &mut impl FrameAllocator<Size4KiB>,
    ) -> Result<(), MapError> {
        let parents = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        // SAFETY: the callers' contract: `frame` is owned by the caller and
        // not mapped elsewhere in a way that aliases Rust references; `page`
        // is unmapped (checked by map_to), so no existing reference dangles.
        let result = unsafe {
            table.map_to_with_table_flags(
                page,
                frame,
                flags | PageTableFlags::PRESENT,
                parents,
                allocator,
            )
        };
        match result {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(MapToError::PageAlreadyMapped(_)) => Err(MapError::AlreadyMapped),
            Err(MapToError::FrameAllocationFailed) => Err(MapError::OutOfFrames),
            Err(MapToError::ParentEntryHugePage) => Err(MapError::HugePage),
        }
    }

    /// Maps `page` to `frame` with `flags` (PRESENT is added) in the active
    /// table, allocating page tables as needed.
    ///
    /// # Safety
    /// The caller owns `frame`, and mapping it at `page` must not create an
    /// alias that breaks Rust's aliasing rules for existing references.
    pub unsafe fn map_page(
        page: Page,
        frame: PhysFrame,
        flags: PageTableFlags,
    ) -> Result<(), MapError> {
        with_table(|table| map_with(table, page, frame, flags, &mut WaitingFrames))
    }

    /// [`map_page`] without waiting for any lock: for the page-fault handler.
    ///
    /// # Safety
    /// As for [`map_page`].
    pub unsafe fn try_map_page(
        page: Page,
        frame: PhysFrame,
        flags: PageTableFlags,
    ) -> Result<(), MapError> {
        let mut guard = ACTIVE.try_lock().ok_or(MapError::Busy)?;
        let table = guard.as_mut().expect("paging::init has run");
        map_with(table, page, frame, flags, &mut NonWaitingFrames)
    }

    fn unmap_with(
        table: &mut OffsetPageTable<'static>,
        page: Page,
    ) -> Result<PhysFrame, UnmapError> {
        match table.unmap(page) {
            Ok((frame, flush)) => {
                flush.flush();
                Ok(frame)
            }
            Err(X86UnmapError::ParentEntryHugePage) => Err(UnmapError::HugePage),
            Err(_) => Err(UnmapError::NotMapped),
        }
    }

    /// Unmaps `page`, flushes its TLB entry and returns the frame it mapped
    /// (still owned by the caller: free it or reuse it). Page tables left
    /// empty are kept.
    ///
    /// # Safety
    /// No live reference may point into `page`.
    pub unsafe fn unmap_page(page: Page) -> Result<PhysFrame, UnmapError> {
        with_table(|table| unmap_with(table, page))
    }

    /// [`unmap_page`] without waiting for the lock.
    ///
    /// # Safety
    /// As for [`unmap_page`].
    pub unsafe fn try_unmap_page(page: Page) -> Result<PhysFrame, UnmapError> {
        let mut guard = ACTIVE.try_lock().ok_or(UnmapError::Busy)?;
        unmap_with(guard.as_mut().expect("paging::init has run"), page)
    }

    /// Whether the active table's lock is held (by code a fault interrupted).
    pub fn table_locked() -> bool {
        ACTIVE.is_locked()
    }

    /// The physical address `addr` maps to in the active table, if any.
    pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
        with_table(|table| table.translate_addr(addr))
    }

    /// The flags of the 4 KiB or huge page that maps `addr`, if any.
    pub fn page_flags(addr: VirtAddr) -> Option<PageTableFlags> {
        with_table(|table| match table.translate(addr) {
            TranslateResult::Mapped { flags, .. } => Some(flags),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_indices_split_an_upper_half_address() {
        assert_eq!(
            table_indices(0xffff_c000_0020_3abc),
            ([384, 0, 1, 3], 0xabc)
        );
        assert_eq!(
            table_indices(0xffff_ffff_ffff_ffff),
            ([511, 511, 511, 511], 0xfff)
        );
        assert_eq!(table_indices(0x0000_0080_4020_1007), ([1, 1, 1, 1], 0x007));
    }

    #[test]
    fn address_of_inverts_table_indices_and_sign_extends() {
        assert_eq!(address_of([384, 0, 1, 3], 0xabc), 0xffff_c000_0020_3abc);
        assert_eq!(address_of([256, 0, 0, 0], 0), 0xffff_8000_0000_0000);
        assert_eq!(
            address_of([255, 511, 511, 511], 0xfff),
            0x0000_7fff_ffff_ffff
        );
        for addr in [CONT_STACKS_START, HEAP_START + 0x1234, 0x1000] {
            let (idx, off) = table_indices(addr);
            assert_eq!(address_of(idx, off), addr);
        }
    }

    #[test]
    fn canonical_form_copies_bit_47_upwards() {
        assert!(is_canonical(0x0000_7fff_ffff_ffff));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(!is_canonical(0x0000_8000_0000_0000));
        assert!(!is_canonical(0xffff_7fff_ffff_ffff));
        assert_eq!(canonical(0x0000_8000_0000_0000), 0xffff_8000_0000_0000);
        assert_eq!(canonical(0x1234), 0x1234);
    }

    #[test]
    fn stack_guard_is_the_page_below_the_bottom() {
        let s = StackRange {
            guard_start: 0x1000,
            bottom: 0x2000,
            top: 0x6000,
        };
        assert!(s.guard_contains(0x1000));
        assert!(s.guard_contains(0x1ff8));
        assert!(!s.guard_contains(0x2000));
        assert!(!s.guard_contains(0x0fff));
    }
}
