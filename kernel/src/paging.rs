//! The kernel's page tables in use: `map_page`, `unmap_page` and
//! `translate` for everything that maps memory after boot, and where the
//! boot put things (the kernel stack, the physical-memory window). Pages,
//! frames and addresses are the `x86_64` crate's `Page`, `PhysFrame` and
//! `VirtAddr`/`PhysAddr`, whose methods do the index and alignment
//! arithmetic of the four levels. The map they follow is
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

use x86_64::VirtAddr;
use x86_64::structures::paging::Page;
use x86_64::structures::paging::page::PageRange;

/// The bootloader's kernel stack: its pages, and the unmapped guard page
/// right below them.
///
/// ```text
///   guard         pages.start ... pages.end (exclusive)
///  +-------------+-------------------------------------+
///  | unmapped    | the stack, growing down from top()  |
///  +-------------+-------------------------------------+
///                ^ bottom()                            ^ top()
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackRange {
    pub guard: Page,
    pub pages: PageRange,
}

impl StackRange {
    /// The stack's mapped pages `bottom..top`, with the guard the page
    /// below `bottom`.
    pub fn new(pages: PageRange) -> Self {
        Self {
            guard: pages.start - 1,
            pages,
        }
    }

    /// The lowest byte of the stack.
    pub fn bottom(&self) -> VirtAddr {
        self.pages.start.start_address()
    }

    /// One past the highest byte of the stack: where it starts growing down.
    pub fn top(&self) -> VirtAddr {
        self.pages.end.start_address()
    }

    /// Whether `addr` is on the stack.
    pub fn contains(&self, addr: VirtAddr) -> bool {
        (self.bottom()..self.top()).contains(&addr)
    }

    /// Whether `addr` falls in the guard page: a kernel stack overflow.
    pub fn guard_contains(&self, addr: VirtAddr) -> bool {
        Page::containing_address(addr) == self.guard
    }
}

#[cfg(target_os = "none")]
pub(crate) use crate::boot_tables::{init, ramdisk_phys, record_kernel_stack};
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
        FrameAllocator, FrameDeallocator, OffsetPageTable, Page, PageTableFlags, PhysFrame,
        Size4KiB, Translate,
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
            frames::allocate().ok()
        }
    }

    /// Page-table frames without waiting: fails if the allocator is locked.
    struct NonWaitingFrames;

    // SAFETY: as for `WaitingFrames`.
    unsafe impl FrameAllocator<Size4KiB> for NonWaitingFrames {
        fn allocate_frame(&mut self) -> Option<PhysFrame> {
            frames::try_allocate().ok()
        }
    }

    pub(crate) static ACTIVE: Mutex<Option<OffsetPageTable<'static>>> =
        Mutex::kernel("page table", None);
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

    /// Gives the frames of the page tables in `range` that map nothing
    /// any more back to the frame allocator (level 1 to 3; a level-3
    /// table's entry in the level-4 table is cleared with it), then flushes
    /// the whole TLB, so that no paging-structure cache still names a freed
    /// table.
    ///
    /// # Safety
    /// Every table that lies in `range` and is empty must be free to go:
    /// nothing holds on to it to map something later (tables are used by
    /// this one active table only, never shared, in this kernel).
    pub unsafe fn free_empty_tables(range: x86_64::structures::paging::page::PageRangeInclusive) {
        use x86_64::structures::paging::mapper::CleanUp;
        with_table(|table| {
            // SAFETY: the caller's contract; the deallocator gives each
            // frame back to the allocator that handed it out.
            unsafe { table.clean_up_addr_range(range, &mut FreedTables) }
        });
        x86_64::instructions::tlb::flush_all();
    }

    /// Page-table frames going back to the kernel's frame allocator.
    struct FreedTables;

    impl FrameDeallocator<Size4KiB> for FreedTables {
        unsafe fn deallocate_frame(&mut self, frame: PhysFrame) {
            frames::free(frame).expect("a page table's frame came from the allocator");
        }
    }

    /// Whether the active table's lock is held (by code a fault interrupted).
    pub fn table_locked() -> bool {
        ACTIVE.is_locked()
    }

    /// The physical address `addr` maps to in the active table, if any.
    pub fn translate(addr: VirtAddr) -> Option<PhysAddr> {
        crate::stacks::touch_stack(crate::stacks::LOCKED_SECTION_STACK);
        with_table(|table| table.translate_addr(addr))
    }

    /// The flags of the 4 KiB or huge page that maps `addr`, if any.
    pub fn page_flags(addr: VirtAddr) -> Option<PageTableFlags> {
        crate::stacks::touch_stack(crate::stacks::LOCKED_SECTION_STACK);
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
    fn stack_guard_is_the_page_below_the_bottom() {
        let page = |addr: u64| Page::containing_address(VirtAddr::new(addr));
        let s = StackRange::new(Page::range(page(0x2000), page(0x6000)));
        assert_eq!(s.guard, page(0x1000));
        assert_eq!(
            (s.bottom(), s.top()),
            (VirtAddr::new(0x2000), VirtAddr::new(0x6000))
        );
        assert!(s.guard_contains(VirtAddr::new(0x1000)));
        assert!(s.guard_contains(VirtAddr::new(0x1ff8)));
        assert!(!s.guard_contains(VirtAddr::new(0x2000)));
        assert!(!s.guard_contains(VirtAddr::new(0x0fff)));
        assert!(s.contains(VirtAddr::new(0x5fff)));
        assert!(!s.contains(VirtAddr::new(0x6000)));
    }
}
