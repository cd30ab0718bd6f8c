//! In-kernel tests of memory management: the kernel's own page tables and
//! their permissions, map/unmap, the frame allocator's accounting, and the
//! heap.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::{read_volatile, write_volatile};

use kernel::Machine;
use kernel::frames::{self, AllocError, FreeError};
use kernel::interrupts::{probe, vector};
use kernel::paging::{self, MapError, UnmapError};
use kernel::testing::TestResult;
use kernel::{check, check_eq};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{Page, PageTableFlags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

kernel::suite!(
    "memory",
    [
        cr3_holds_the_kernels_own_table_not_the_bootloaders,
        kernel_segments_have_their_own_permissions,
        kernel_stack_guard_page_stays_unmapped,
        lower_half_is_unmapped,
        continuation_stack_region_is_empty_at_boot,
        machine mapped_page_is_usable_then_faults_after_unmap,
        machine map_unmap_cycle_leaks_no_frames,
        machine map_refuses_a_mapped_page_and_unmap_an_unmapped_one,
        machine physical_window_sees_what_a_mapping_wrote,
        machine allocating_every_free_frame_then_freeing_all_restores_the_count,
        machine double_free_is_refused,
        machine freeing_a_frame_the_kernel_image_uses_is_refused,
        heap_serves_a_large_allocation,
        heap_reuses_many_small_freed_blocks,
    ]
);

/// A page in the continuation-stack region, which nothing else maps.
const SCRATCH: VirtAddr = VirtAddr::new(paging::CONT_STACKS_START.as_u64() + 0x40_0000_0000);

fn cr3_holds_the_kernels_own_table_not_the_bootloaders() -> TestResult {
    let (active, _) = Cr3::read();
    check_eq!(active, paging::kernel_cr3());
    check!(
        active != paging::bootloader_cr3(),
        "CR3 still holds the bootloader's table"
    );
    Ok(())
}

static mut WRITABLE_STATIC: u64 = 1;
static READ_ONLY_STATIC: [u8; 4] = *b"ro\0\0";

fn kernel_segments_have_their_own_permissions() -> TestResult {
    let flags = |addr: u64| paging::page_flags(VirtAddr::new(addr));
    let text = flags(kernel_segments_have_their_own_permissions as *const () as u64)
        .ok_or("kernel text is not mapped")?;
    check!(
        !text.contains(PageTableFlags::WRITABLE),
        "text is writable: {text:?}"
    );
    check!(
        !text.contains(PageTableFlags::NO_EXECUTE),
        "text is not executable: {text:?}"
    );
    let rodata = flags(READ_ONLY_STATIC.as_ptr() as u64).ok_or("rodata is not mapped")?;
    check!(
        !rodata.contains(PageTableFlags::WRITABLE),
        "rodata is writable: {rodata:?}"
    );
    check!(
        rodata.contains(PageTableFlags::NO_EXECUTE),
        "rodata is executable: {rodata:?}"
    );
    let data = flags((&raw const WRITABLE_STATIC) as u64).ok_or("data is not mapped")?;
    check!(
        data.contains(PageTableFlags::WRITABLE),
        "data is read-only: {data:?}"
    );
    check!(
        data.contains(PageTableFlags::NO_EXECUTE),
        "data is executable: {data:?}"
    );
    Ok(())
}

fn kernel_stack_guard_page_stays_unmapped() -> TestResult {
    let stack = paging::kernel_stack().ok_or("kernel stack not recorded")?;
    let here = 0u64;
    let rsp = VirtAddr::from_ptr(&raw const here);
    check!(stack.contains(rsp), "{rsp:#x} not in {stack:x?}");
    check_eq!(stack.top() - stack.bottom(), 256 * 1024);
    // The guard is the whole page below the stack's lowest mapped byte,
    // checked at both of its ends (not from how `guard` is defined).
    check_eq!(paging::translate(stack.bottom() - 4096u64), None);
    check_eq!(paging::translate(stack.bottom() - 1u64), None);
    check_eq!(paging::translate(stack.guard.start_address()), None);
    check!(
        paging::translate(stack.bottom()).is_some(),
        "stack bottom unmapped"
    );
    Ok(())
}

fn lower_half_is_unmapped() -> TestResult {
    for addr in [0u64, 0x1000, 0x10_0000, 0x7fff_ffff_f000] {
        check_eq!(paging::translate(VirtAddr::new(addr)), None);
    }
    Ok(())
}

fn continuation_stack_region_is_empty_at_boot() -> TestResult {
    for offset in [0u64, 0x1000, 0x20_0000, paging::CONT_STACKS_SIZE - 0x1000] {
        check_eq!(paging::translate(paging::CONT_STACKS_START + offset), None);
    }
    Ok(())
}

fn scratch_page() -> Page {
    Page::containing_address(SCRATCH)
}

fn mapped_page_is_usable_then_faults_after_unmap(machine: &Machine) -> TestResult {
    let frame = frames::allocate_frame(machine).map_err(|e| alloc::format!("{e:?}"))?;
    let page = scratch_page();
    // SAFETY: a fresh frame at an address nothing else uses.
    unsafe { paging::map_page(page, frame, paging::DATA_FLAGS) }
        .map_err(|e| alloc::format!("map: {e:?}"))?;
    check_eq!(
        paging::translate(SCRATCH + 0x18u64),
        Some(frame.start_address() + 0x18)
    );
    let ptr = (SCRATCH + 0x18u64).as_mut_ptr::<u64>();
    // SAFETY: the page was just mapped read-write, and nothing else uses it.
    unsafe { write_volatile(ptr, 0x1234_5678_9abc_def0) };
    // SAFETY: as above.
    let read = unsafe { read_volatile(ptr) };
    check_eq!(read, 0x1234_5678_9abc_def0);
    // SAFETY: no reference into the page is alive.
    let unmapped = unsafe { paging::unmap_page(page) }.map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(unmapped, frame);
    check_eq!(paging::translate(SCRATCH), None);
    // SAFETY: the read faults (the TLB entry was flushed); the probe
    // recovers; the closure owns nothing and never leaves this stack.
    let fault = unsafe {
        probe(|| {
            read_volatile(ptr);
        })
    };
    check_eq!(
        fault
            .map(|_| ())
            .map_err(|f| (f.vector, f.error_code, f.cr2)),
        Err((
            vector::PAGE_FAULT,
            Some(0),
            Some((SCRATCH + 0x18u64).as_u64())
        ))
    );
    // SAFETY: the frame is unmapped and nothing reaches it any more.
    unsafe { frames::free_frame(machine, frame) }.map_err(|e| alloc::format!("{e:?}"))?;
    Ok(())
}

fn map_unmap_cycle_leaks_no_frames(machine: &Machine) -> TestResult {
    // The first mapping in an empty region may allocate page tables, which
    // stay; after that, a map/unmap/free cycle returns every frame.
    for round in 0..3 {
        let before = frames::free_count();
        let frame = frames::allocate_frame(machine).map_err(|e| alloc::format!("{e:?}"))?;
        // SAFETY: a fresh frame at an address nothing else uses.
        unsafe { paging::map_page(scratch_page(), frame, paging::DATA_FLAGS) }
            .map_err(|e| alloc::format!("{e:?}"))?;
        // SAFETY: no reference into the page exists.
        let back =
            unsafe { paging::unmap_page(scratch_page()) }.map_err(|e| alloc::format!("{e:?}"))?;
        // SAFETY: the frame is unmapped and nothing reaches it any more.
        unsafe { frames::free_frame(machine, back) }.map_err(|e| alloc::format!("{e:?}"))?;
        if round > 0 {
            check_eq!(frames::free_count(), before);
        }
    }
    Ok(())
}

fn map_refuses_a_mapped_page_and_unmap_an_unmapped_one(machine: &Machine) -> TestResult {
    let frame = frames::allocate_frame(machine).map_err(|e| alloc::format!("{e:?}"))?;
    // SAFETY: a fresh frame at an address nothing else uses.
    unsafe { paging::map_page(scratch_page(), frame, paging::DATA_FLAGS) }
        .map_err(|e| alloc::format!("{e:?}"))?;
    // SAFETY: refused, so nothing is aliased.
    let again = unsafe { paging::map_page(scratch_page(), frame, paging::DATA_FLAGS) };
    check_eq!(again, Err(MapError::AlreadyMapped));
    // SAFETY: no reference into the page exists.
    let back = unsafe { paging::unmap_page(scratch_page()) };
    check_eq!(back, Ok(frame));
    // SAFETY: as above; the page is no longer mapped.
    let twice = unsafe { paging::unmap_page(scratch_page()) };
    check_eq!(twice, Err(UnmapError::NotMapped));
    // SAFETY: the frame is unmapped and nothing reaches it any more.
    unsafe { frames::free_frame(machine, frame) }.map_err(|e| alloc::format!("{e:?}"))?;
    Ok(())
}

fn physical_window_sees_what_a_mapping_wrote(machine: &Machine) -> TestResult {
    let frame = frames::allocate_frame(machine).map_err(|e| alloc::format!("{e:?}"))?;
    // SAFETY: a fresh frame at an address nothing else uses.
    unsafe { paging::map_page(scratch_page(), frame, paging::DATA_FLAGS) }
        .map_err(|e| alloc::format!("{e:?}"))?;
    let through_window = paging::phys_to_virt(frame.start_address() + 0x800).as_u64() as *const u64;
    // SAFETY: the scratch page and the window both map `frame`, which this
    // test owns; volatile accesses, no references.
    unsafe { write_volatile((SCRATCH + 0x800u64).as_mut_ptr::<u64>(), 0xfeed_f00d) };
    // SAFETY: as above.
    let seen = unsafe { read_volatile(through_window) };
    check_eq!(seen, 0xfeed_f00d);
    // SAFETY: no reference into the page exists.
    let back =
        unsafe { paging::unmap_page(scratch_page()) }.map_err(|e| alloc::format!("{e:?}"))?;
    // SAFETY: the frame is unmapped and nothing reaches it any more.
    unsafe { frames::free_frame(machine, back) }.map_err(|e| alloc::format!("{e:?}"))?;
    Ok(())
}

fn allocating_every_free_frame_then_freeing_all_restores_the_count(
    machine: &Machine,
) -> TestResult {
    let free = frames::free_count();
    check!(
        free > 100_000,
        "only {free} frames free with 512 MiB of RAM"
    );
    let mut taken: Vec<PhysFrame> = Vec::with_capacity(free);
    loop {
        match frames::allocate_frame(machine) {
            Ok(frame) => taken.push(frame),
            Err(AllocError::OutOfMemory) => break,
            Err(other) => return Err(alloc::format!("unexpected {other:?}")),
        }
    }
    check_eq!(taken.len(), free);
    check_eq!(frames::free_count(), 0);
    let in_use = [
        paging::kernel_cr3(),
        PhysFrame::containing_address(PhysAddr::new(0)),
    ];
    check!(
        !taken.iter().any(|f| in_use.contains(f)),
        "an in-use frame was handed out"
    );
    let mut sorted: Vec<u64> = taken.iter().map(|f| f.start_address().as_u64()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    check_eq!(sorted.len(), free);
    for frame in taken {
        // SAFETY: the frame is unmapped and nothing reaches it any more.
        unsafe { frames::free_frame(machine, frame) }.map_err(|e| alloc::format!("{e:?}"))?;
    }
    check_eq!(frames::free_count(), free);
    Ok(())
}

fn double_free_is_refused(machine: &Machine) -> TestResult {
    let before = frames::free_count();
    let frame = frames::allocate_frame(machine).map_err(|e| alloc::format!("{e:?}"))?;
    // SAFETY: the frame was just taken and nothing uses it; the second call
    // passes a free frame, which is refused.
    check_eq!(unsafe { frames::free_frame(machine, frame) }, Ok(()));
    // SAFETY: as above.
    let again = unsafe { frames::free_frame(machine, frame) };
    check_eq!(again, Err(FreeError::DoubleFree(frame)));
    check_eq!(frames::free_count(), before);
    Ok(())
}

fn freeing_a_frame_the_kernel_image_uses_is_refused(machine: &Machine) -> TestResult {
    let text = VirtAddr::new(double_free_is_refused as *const () as u64);
    let phys = paging::translate(text).ok_or("kernel text not mapped")?;
    let frame = PhysFrame::containing_address(phys);
    let before = frames::free_count();
    // SAFETY: refused: the frame is not usable RAM, so it is never freed.
    let refused = unsafe { frames::free_frame(machine, frame) };
    check_eq!(refused, Err(FreeError::NotUsable(frame)));
    check_eq!(frames::free_count(), before);
    Ok(())
}

fn heap_serves_a_large_allocation() -> TestResult {
    let used = kernel::heap::used_bytes();
    const LEN: usize = 8 * 1024 * 1024;
    let mut big: Vec<u64> = Vec::with_capacity(LEN / 8);
    big.extend((0..LEN as u64 / 8).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    check_eq!(big.len(), LEN / 8);
    check_eq!(big[12345], 12345u64.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    check_eq!(
        big[LEN / 8 - 1],
        (LEN as u64 / 8 - 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    check!(
        kernel::heap::used_bytes() >= used + LEN,
        "8 MiB not accounted as used"
    );
    drop(big);
    check_eq!(kernel::heap::used_bytes(), used);
    Ok(())
}

fn heap_reuses_many_small_freed_blocks() -> TestResult {
    const N: usize = 10_000;
    let mut first: Vec<usize> = Vec::with_capacity(N);
    let mut second: Vec<usize> = Vec::with_capacity(N);
    let used = kernel::heap::used_bytes();
    for addresses in [&mut first, &mut second] {
        let boxes: Vec<Box<u64>> = (0..N as u64).map(|i| Box::new(i * 3)).collect();
        for (i, b) in boxes.iter().enumerate() {
            check_eq!(**b, i as u64 * 3);
        }
        addresses.extend(boxes.iter().map(|b| &**b as *const u64 as usize));
        drop(boxes);
        check_eq!(kernel::heap::used_bytes(), used);
    }
    check!(
        first == second,
        "the second round did not reuse the freed blocks"
    );
    Ok(())
}
