//! From the bootloader's hand-off to a kernel ready to run code: the order in
//! which the kernel's own structures come up, and the panic handler.
//!
//! The bootloader (`bootloader` 0.11, BIOS or UEFI) loads the kernel ELF,
//! maps it, sets up a stack and a window onto all physical memory, and jumps
//! to the `entry_point!` of one of the binaries with a `BootInfo`. [`init`]
//! then builds everything else, in an order where each step only needs the
//! ones before it (`docs/boot.md` tells the whole story from power-on).

use bootloader_api::BootInfo;
use bootloader_api::config::{BootloaderConfig, Mapping};
use x86_64::PhysAddr;

use crate::{Machine, frames, gdt, heap, interrupts, paging};

/// What every kernel binary asks of the bootloader: a window onto physical
/// memory (the frame allocator and page-table code reach frames through it),
/// a kernel stack large enough for deep test recursion, and every mapping it
/// chooses itself kept inside the dynamic range of the virtual memory map
/// (see `paging`), away from the heap and continuation-stack regions.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.mappings.dynamic_range_start = Some(paging::DYNAMIC_START.as_u64());
    config.mappings.dynamic_range_end = Some(paging::DYNAMIC_END.as_u64() - 1);
    config.kernel_stack_size = 256 * 1024;
    config
};

/// Brings the kernel up. Every binary calls this first, with the `BootInfo`
/// it was given; interrupts stay disabled throughout (the clock is started
/// later, if at all, with `timer::Timer`).
///
/// 1. serial: the first print initialises COM1, so every later step can report;
/// 2. GDT + TSS: kernel segments and the IST stacks the IDT gates name;
/// 3. IDT: every exception has a handler from here on;
/// 4. the kernel stack's range is recorded, so that an overflow is
///    reported as one;
/// 5. frames: the allocator over the memory map, problems printed;
/// 6. paging: the kernel's own tables, CR3 switched (`boot_info` is unmapped after this);
///    then the symbol table of the kernel's own ELF file is found, for
///    reports that name functions (`symbols`);
/// 7. heap: `alloc` works;
/// 8. stacks: the continuation-stack pool, empty (slots are mapped as
///    continuations are made).
///
/// Returns the boot's one [`Machine`]: the capability to end the boot and
/// take physical frames (see `machine`). A second call panics before it
/// touches anything: the kernel's structures are built once.
pub fn init(boot_info: &'static mut BootInfo) -> Machine {
    let machine = Machine::take().expect("kernel::init runs once per boot");
    crate::println!(
        "kernel: booted, bootloader {}.{}.{}",
        boot_info.api_version.version_major(),
        boot_info.api_version.version_minor(),
        boot_info.api_version.version_patch()
    );
    gdt::init();
    interrupts::init();
    paging::record_kernel_stack(boot_info);

    frames::init_from_boot_map(&boot_info.memory_regions);

    // Copied out now: `boot_info` is unmapped once paging switches tables.
    let (elf_addr, elf_len) = (boot_info.kernel_addr, boot_info.kernel_len);
    let image_offset = boot_info.kernel_image_offset;
    if let Some(r) = paging::ramdisk_phys(boot_info) {
        RAMDISK.call_once(|| r);
    }
    paging::init(boot_info);
    crate::println!(
        "paging: CR3 switched from the bootloader's table {:#x} to the kernel's {:#x}",
        paging::bootloader_cr3().start_address().as_u64(),
        paging::kernel_cr3().start_address().as_u64()
    );
    // The kernel's ELF file stays where the bootloader loaded it (in
    // memory it marks as in use), reached through the physical window.
    let elf_start = paging::phys_to_virt(PhysAddr::new(elf_addr));
    // SAFETY: the bootloader keeps the file there for the whole boot and
    // nothing writes it; the window maps all RAM.
    let elf = unsafe { core::slice::from_raw_parts(elf_start.as_ptr::<u8>(), elf_len as usize) };
    match crate::symbols::init(elf, image_offset) {
        Ok(()) => crate::println!(
            "symbols: the kernel's own symbol table, ELF at {:#x}, {} KiB, image offset {:#x}",
            elf_start.as_u64(),
            elf_len / 1024,
            image_offset
        ),
        Err(why) => crate::println!("symbols: none ({why}): reports show addresses only"),
    }
    heap::init();
    crate::println!(
        "heap: {} MiB at {:#x}; {} frames free",
        paging::HEAP_SIZE / (1024 * 1024),
        paging::HEAP_START,
        frames::free_count()
    );
    crate::stacks::init();
    let stacks = crate::stacks::config();
    crate::println!(
        "stacks: {} slots of {} KiB + {} KiB guard at {:#x}, mapped on demand",
        stacks.slots,
        stacks.stack_size / 1024,
        stacks.guard_size / 1024,
        paging::CONT_STACKS_START
    );
    machine
}

/// The ramdisk's physical address and length, found before the switch
/// of page tables (see [`ramdisk`]).
static RAMDISK: spin::Once<(PhysAddr, u64)> = spin::Once::new();

/// The file the disk image carries as the bootloader's ramdisk (`builder
/// --ramdisk`), if any, read through the physical-memory window: the
/// bootloader's own mapping of it is gone with its page tables.
pub fn ramdisk() -> Option<&'static [u8]> {
    let &(phys, len) = RAMDISK.get()?;
    let start = paging::phys_to_virt(phys);
    // SAFETY: the bootloader loaded the file into contiguous frames it
    // marks as used, so the frame allocator never hands them out; the
    // window maps all RAM, and nothing writes the ramdisk.
    Some(unsafe { core::slice::from_raw_parts(start.as_ptr::<u8>(), len as usize) })
}

/// A panic in guest code (on a continuation stack of a running chain) is a
/// trap of that chain, and the boot goes on; any other panic is the
/// kernel's: it is reported and ends the boot.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    crate::interrupts::trap_guest_panic(info);
    // SAFETY: the boot ends here; whatever held the console never runs again.
    unsafe { crate::serial::force_unlock() };
    match info.location() {
        Some(location) => crate::println!(
            "kernel panic at {}:{}:{}: {}",
            location.file(),
            location.line(),
            location.column(),
            info.message()
        ),
        None => crate::println!("kernel panic: {}", info.message()),
    }
    let rbp = crate::cont::switch::frame_pointer();
    if let Some(trace) = crate::trap_report::kernel_backtrace(None, rbp) {
        crate::print!("{}", crate::trap_report::FramesDisplay(&trace));
    }
    crate::fatal::fatal(crate::fatal::Fatal::Panic)
}
