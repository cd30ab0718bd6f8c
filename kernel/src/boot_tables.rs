//! The boot-time switch from the bootloader's page tables to the kernel's
//! own: what is copied out of `BootInfo`, and the new level-4 table built
//! one region of the map at a time (`memory_map.rs`), checked, printed and
//! loaded into CR3.
//!
//! The bootloader leaves the kernel running on page tables it built for
//! itself: identity mappings of its own code, the boot info, a frame buffer,
//! and the kernel image mapped with the permissions its ELF asks for. Rather
//! than inherit that, [`init`] builds a fresh table holding exactly what the
//! kernel needs, with permissions chosen here. After the switch nothing the
//! bootloader mapped is reachable unless it appears in the map, so
//! `BootInfo` must be copied out before [`init`]. The tables are then used
//! through `paging.rs`.

use core::sync::atomic::Ordering;

use bootloader_api::BootInfo;
use bootloader_api::info::MemoryRegionKind;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr3};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::mapper::{MappedFrame, Mapper, TranslateResult};
use x86_64::structures::paging::page::PageRange;
use x86_64::structures::paging::{
    OffsetPageTable, Page, PageSize, PageTable, PageTableFlags, PhysFrame, Size2MiB, Size4KiB,
    Translate,
};
use x86_64::{PhysAddr, VirtAddr, align_up};

use crate::elf::parse_elf;
use crate::frames;
use crate::memory_map::*;
use crate::paging::{
    ACTIVE, BOOTLOADER_CR3, KERNEL_CR3, KERNEL_STACK, PHYS_OFFSET, PHYS_WINDOW, StackRange,
    WaitingFrames, kernel_stack, map_with,
};

/// Where the bootloader placed things, copied out of `BootInfo`.
struct BootLayout {
    /// Where the physical-memory window starts.
    phys_offset: VirtAddr,
    /// Bytes of physical memory the window covers, from address 0.
    phys_end: u64,
    /// The kernel's ELF file, as the bootloader left it in memory.
    kernel_addr: PhysAddr,
    kernel_len: u64,
    /// Where the kernel image was loaded: added to every ELF address.
    image_offset: u64,
    stack: StackRange,
}

/// The pages that hold the `size` bytes from `start`: from the page of the
/// first byte up to, not including, the page-aligned end.
fn pages_of(start: VirtAddr, size: u64) -> PageRange {
    Page::range(
        Page::containing_address(start),
        Page::containing_address((start + size).align_up(Size4KiB::SIZE)),
    )
}

/// The bootloader's table, reached through the physical window.
///
/// # Safety
/// CR3 must still hold the bootloader's table, and the caller only reads
/// through the result.
unsafe fn bootloader_table(phys_offset: VirtAddr) -> OffsetPageTable<'static> {
    let (boot_l4, _) = Cr3::read();
    // SAFETY: the window at `phys_offset` maps the level-4 frame in CR3;
    // the caller promises not to write through it.
    unsafe {
        let l4 = &mut *(phys_offset + boot_l4.start_address().as_u64()).as_mut_ptr::<PageTable>();
        OffsetPageTable::new(l4, phys_offset)
    }
}

fn window_offset(boot_info: &BootInfo) -> VirtAddr {
    let offset = boot_info
        .physical_memory_offset
        .into_option()
        .expect("BOOTLOADER_CONFIG asks for the physical memory window");
    VirtAddr::new(offset)
}

/// Where the bootloader's ramdisk (a file the disk image carries, e.g.
/// the `.wast` bundle) is in physical memory, and its length. The
/// bootloader maps it at a virtual address in its own table only, which
/// the kernel's table does not keep; it loads it into contiguous frames
/// and marks them used in the memory map, so after the switch the
/// physical window reaches it. Called before [`init`].
pub fn ramdisk_phys(boot_info: &BootInfo) -> Option<(PhysAddr, u64)> {
    let virt = VirtAddr::new(boot_info.ramdisk_addr.into_option()?);
    // SAFETY: called at boot, before `init` switches CR3; read only.
    let boot = unsafe { bootloader_table(window_offset(boot_info)) };
    Some((boot.translate_addr(virt)?, boot_info.ramdisk_len))
}

/// Finds the kernel stack and its guard page and records them, so that
/// the page-fault handler can recognise an overflow from here on. Runs
/// right after the IDT, before anything deep is called.
///
/// The stack is the mapped run of pages around the current RSP in the
/// bootloader's table, bounded by unmapped pages; it is cross-checked
/// with what `BootInfo` reports.
pub fn record_kernel_stack(boot_info: &BootInfo) {
    // SAFETY: called at boot, before `init` switches CR3; read only.
    let boot = unsafe { bootloader_table(window_offset(boot_info)) };
    let mapped = |page: Page| boot.translate_addr(page.start_address()).is_some();
    let rsp = VirtAddr::new(crate::cont::switch::stack_pointer() as u64);
    let rsp_page = Page::<Size4KiB>::containing_address(rsp);
    let mut bottom = rsp_page;
    while mapped(bottom - 1) {
        bottom -= 1;
    }
    let mut top = rsp_page + 1;
    while mapped(top) {
        top += 1;
    }
    let stack = StackRange::new(Page::range(bottom, top));
    let reported_bottom = VirtAddr::new(boot_info.kernel_stack_bottom);
    let reported_top = reported_bottom + boot_info.kernel_stack_len;
    assert!(
        stack.bottom() == reported_bottom && stack.top() == reported_top.align_up(Size4KiB::SIZE),
        "kernel stack found by translation ({:#x}..{:#x}) differs from BootInfo \
         ({reported_bottom:#x}..{reported_top:#x})",
        stack.bottom(),
        stack.top(),
    );
    KERNEL_STACK.call_once(|| stack);
}

/// Builds the kernel's own page tables from what the bootloader reports,
/// loads them into CR3, and records the window and both CR3 values.
/// Needs the frame allocator and [`record_kernel_stack`]. After this
/// returns, `boot_info` is no longer mapped: the caller must not touch it
/// again.
pub fn init(boot_info: &BootInfo) {
    let phys_offset = window_offset(boot_info);
    // The window covers RAM (usable, or holding what the bootloader
    // loaded) and at least the first 4 GiB, where the MMIO of a PC lives.
    // Reserved ranges high above RAM (QEMU reports one ending at 1 TiB)
    // are left out: mapping them would cost megabytes of page tables.
    let ram_end = boot_info
        .memory_regions
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                MemoryRegionKind::Usable | MemoryRegionKind::Bootloader
            )
        })
        .map(|r| r.end)
        .max()
        .unwrap_or(0);
    BOOTLOADER_CR3.store(Cr3::read().0.start_address().as_u64(), Ordering::Relaxed);
    PHYS_OFFSET.store(phys_offset.as_u64(), Ordering::Relaxed);
    let layout = BootLayout {
        phys_offset,
        phys_end: align_up(ram_end.max(1 << 32), Size2MiB::SIZE),
        kernel_addr: PhysAddr::new(boot_info.kernel_addr),
        kernel_len: boot_info.kernel_len,
        image_offset: boot_info.kernel_image_offset,
        stack: kernel_stack().expect("record_kernel_stack ran before paging::init"),
    };
    // SAFETY: CR3 still holds the bootloader's table; only read.
    let boot_table = unsafe { bootloader_table(phys_offset) };
    build_and_switch(&layout, &boot_table);
}

/// Reads `len` bytes of physical memory at `phys` through the window.
///
/// # Safety
/// The range must be RAM that nothing writes while the slice lives.
unsafe fn phys_slice<'a>(window: VirtAddr, phys: PhysAddr, len: u64) -> &'a [u8] {
    // SAFETY: forwarded to the caller.
    unsafe { core::slice::from_raw_parts((window + phys.as_u64()).as_ptr(), len as usize) }
}

/// Builds the kernel's own level-4 table, one call per region of the
/// map, checks and prints the result, and switches CR3 to it.
fn build_and_switch(layout: &BootLayout, boot_table: &OffsetPageTable) {
    let (l4_frame, mut table) = new_table(layout.phys_offset);
    let image = map_kernel_image(&mut table, boot_table, layout);
    let stack = map_kernel_stack(&mut table, boot_table, layout);
    let window = map_physical_window(&mut table, layout);
    map_heap(&mut table);
    check_and_print([
        image,
        stack,
        window,
        FIXED_REGIONS[1],
        FIXED_REGIONS[2],
        FIXED_REGIONS[3],
    ]);
    switch_to(l4_frame, table, window);
}

/// An empty level-4 table in a fresh frame, reached through the
/// physical-memory window at `phys_offset` (both tables share it).
fn new_table(phys_offset: VirtAddr) -> (PhysFrame, OffsetPageTable<'static>) {
    let l4_frame = frames::allocate().expect("a frame for the level-4 table");
    let l4 = (phys_offset + l4_frame.start_address().as_u64()).as_mut_ptr::<PageTable>();
    // SAFETY: the frame is fresh from the allocator, so nothing else uses
    // it; the window maps it. Zeroing makes every entry "not present".
    let table = unsafe {
        let l4: &'static mut PageTable = &mut *l4;
        l4.zero();
        OffsetPageTable::new(l4, phys_offset)
    };
    (l4_frame, table)
}

/// The kernel image, segment by segment, with the ELF's permissions (the
/// same frames the bootloader loaded), and its RELRO range read-only.
fn map_kernel_image(
    table: &mut OffsetPageTable<'static>,
    boot_table: &OffsetPageTable,
    layout: &BootLayout,
) -> Region {
    // SAFETY: the bootloader keeps the kernel ELF file in memory it marks
    // as in use; nothing writes it.
    let elf = unsafe { phys_slice(layout.phys_offset, layout.kernel_addr, layout.kernel_len) };
    let elf = parse_elf(elf).expect("the kernel's own ELF file parses");
    let loaded = |vaddr: u64| VirtAddr::new(layout.image_offset + vaddr);
    let mut image: Option<Region> = None;
    for segment in elf.segments.iter().flatten() {
        let pages = pages_of(loaded(segment.vaddr), segment.mem_size);
        let (start, end) = (pages.start.start_address(), pages.end.start_address());
        image = Some(match image {
            None => Region {
                name: "kernel image",
                start,
                end,
            },
            Some(image) => Region {
                start: image.start.min(start),
                end: image.end.max(end),
                ..image
            },
        });
        let mut flags = PageTableFlags::PRESENT;
        if segment.writable {
            flags |= PageTableFlags::WRITABLE;
        }
        if !segment.executable {
            flags |= PageTableFlags::NO_EXECUTE;
        }
        for page in pages {
            map_copy_of(table, boot_table, page, flags, &mut WaitingFrames);
        }
    }
    if let Some((vaddr, size)) = elf.relro {
        for page in pages_of(loaded(vaddr), size) {
            if let Some(flags) = flags_of(table, page) {
                // SAFETY: only removes write permission from a page of
                // the table being built; it is not active yet.
                unsafe {
                    table
                        .update_flags(page, flags & !PageTableFlags::WRITABLE)
                        .expect("RELRO page was just mapped")
                        .ignore();
                }
            }
        }
    }
    image.expect("the kernel's ELF file has a loadable segment")
}

/// The kernel stack, same frames; the guard page below stays unmapped.
fn map_kernel_stack(
    table: &mut OffsetPageTable<'static>,
    boot_table: &OffsetPageTable,
    layout: &BootLayout,
) -> Region {
    let stack = layout.stack;
    for page in stack.pages {
        map_copy_of(table, boot_table, page, DATA_FLAGS, &mut WaitingFrames);
    }
    Region {
        name: "kernel stack + guard",
        start: stack.guard.start_address(),
        end: stack.top(),
    }
}

/// The physical-memory window, in 2 MiB pages, where the bootloader put
/// its own.
fn map_physical_window(table: &mut OffsetPageTable<'static>, layout: &BootLayout) -> Region {
    let window = Region::new(
        "physical memory window",
        layout.phys_offset,
        layout.phys_end,
    )
    .unwrap_or_else(|problem| panic!("virtual memory map is inconsistent: {problem:?}"));
    assert!(
        window.start.is_aligned(Size2MiB::SIZE),
        "physical window is 2 MiB aligned"
    );
    let frames = PhysFrame::<Size2MiB>::range(
        PhysFrame::containing_address(PhysAddr::new(0)),
        PhysFrame::containing_address(PhysAddr::new(layout.phys_end)),
    );
    for frame in frames {
        let page =
            Page::<Size2MiB>::containing_address(window.start + frame.start_address().as_u64());
        let flags = DATA_FLAGS | PageTableFlags::HUGE_PAGE;
        // SAFETY: the window aliases all of physical memory by design;
        // code reaches frames through it only via `unsafe` that argues
        // for each access. The table is not active yet.
        unsafe {
            table
                .map_to_with_table_flags(
                    page,
                    frame,
                    flags,
                    PageTableFlags::PRESENT | PageTableFlags::WRITABLE,
                    &mut WaitingFrames,
                )
                .expect("physical window page maps")
                .ignore();
        }
    }
    window
}

/// The heap, backed by fresh frames.
fn map_heap(table: &mut OffsetPageTable<'static>) {
    for page in pages_of(HEAP_START, HEAP_SIZE) {
        let frame = frames::allocate().expect("frames for the kernel heap");
        // A fresh frame at a page of the heap region, which nothing else
        // maps (`map_with`'s contract); the table is not active yet.
        map_with(table, page, frame, DATA_FLAGS, &mut WaitingFrames).expect("heap page maps");
    }
}

/// Checks that the regions the bootloader placed (the first three) lie
/// in its dynamic range and that nothing collides, and prints the map.
fn check_and_print(all: [Region; 6]) {
    for region in &all[..3] {
        assert!(
            FIXED_REGIONS[0].contains_region(region),
            "{} at {:#x}..{:#x} is outside the dynamic range {:#x}..{:#x}",
            region.name,
            region.start,
            region.end,
            DYNAMIC_START,
            DYNAMIC_END
        );
    }
    if let Err(problem) = check_layout(&all) {
        panic!("virtual memory map is inconsistent: {problem:?}");
    }
    for region in &all {
        crate::println!(
            "paging: {:#018x}..{:#018x} {}",
            region.start,
            region.end,
            region.name
        );
    }
}

/// Loads the new table into CR3 and makes it the active one.
fn switch_to(l4_frame: PhysFrame, table: OffsetPageTable<'static>, window: Region) {
    // SAFETY: NXE makes NO_EXECUTE valid (a reserved bit otherwise) and
    // WP makes read-only pages read-only for the kernel too; the
    // bootloader sets both, setting them again changes nothing else.
    unsafe {
        Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE));
        Cr0::update(|f| f.insert(Cr0Flags::WRITE_PROTECT));
    }
    let (_, cr3_flags) = Cr3::read();
    // SAFETY: the new table maps everything the kernel touches from here
    // on: its code and statics (GDT, IDT, TSS and IST stacks are
    // statics), the stack we are running on, the physical window the page
    // tables are reached through, and the heap. Same virtual addresses,
    // same frames, so no pointer changes meaning.
    unsafe { Cr3::write(l4_frame, cr3_flags) };
    KERNEL_CR3.store(l4_frame.start_address().as_u64(), Ordering::Relaxed);
    PHYS_WINDOW.call_once(|| window);
    *ACTIVE.lock() = Some(table);
}

fn flags_of(table: &OffsetPageTable, page: Page) -> Option<PageTableFlags> {
    match table.translate(page.start_address()) {
        TranslateResult::Mapped { flags, .. } => Some(flags),
        _ => None,
    }
}

/// Maps `page` in `table` to the frame the bootloader's table maps it to.
/// A page shared by two segments gets the union of their permissions.
fn map_copy_of(
    table: &mut OffsetPageTable<'static>,
    boot_table: &OffsetPageTable,
    page: Page,
    flags: PageTableFlags,
    alloc: &mut WaitingFrames,
) {
    let frame = match boot_table.translate(page.start_address()) {
        TranslateResult::Mapped {
            frame: MappedFrame::Size4KiB(frame),
            ..
        } => frame,
        other => panic!(
            "bootloader maps {:#x} as {other:?}, expected a 4 KiB page",
            page.start_address()
        ),
    };
    if let Some(existing) = flags_of(table, page) {
        let mut merged = existing | (flags & PageTableFlags::WRITABLE);
        if !flags.contains(PageTableFlags::NO_EXECUTE) {
            merged.remove(PageTableFlags::NO_EXECUTE);
        }
        // SAFETY: widens the permissions of a page of the table being
        // built (not active yet) to cover both segments that share it.
        unsafe {
            table
                .update_flags(page, merged)
                .expect("page was just mapped")
                .ignore()
        };
        return;
    }
    // The frame already backs this very address in the active table; the
    // new table (not active yet) maps it at the same place.
    map_with(table, page, frame, flags, alloc).expect("kernel page maps");
}
