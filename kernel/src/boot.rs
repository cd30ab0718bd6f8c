//! From the bootloader's hand-off to a kernel ready to run code: the order in
//! which the kernel's own structures come up, and the panic handler.
//!
//! The bootloader (`bootloader` 0.11, BIOS or UEFI) loads the kernel ELF,
//! maps it, sets up a stack and a window onto all physical memory, and jumps
//! to the `entry_point!` of one of the binaries with a `BootInfo`. [`init`]
//! then builds everything else, in an order where each step only needs the
//! ones before it.

use bootloader_api::BootInfo;
use bootloader_api::config::{BootloaderConfig, Mapping};

/// What every kernel binary asks of the bootloader: a window onto physical
/// memory (the frame allocator and page-table code reach frames through it)
/// and a kernel stack large enough for deep test recursion.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = 256 * 1024;
    config
};

/// Brings the kernel up. Every binary calls this first.
pub fn init(boot_info: &'static mut BootInfo) {
    crate::println!("kernel: booted, bootloader {}.{}.{}",
        boot_info.api_version.version_major(),
        boot_info.api_version.version_minor(),
        boot_info.api_version.version_patch());
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the boot ends here; whatever held the console never runs again.
    unsafe { crate::serial::force_unlock() };
    crate::println!("kernel panic: {info}");
    crate::testing::fatal(crate::testing::Fatal::Panic)
}
