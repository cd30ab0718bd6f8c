//! The demo kernel that `./qemu-run.sh` boots.
#![no_std]
#![no_main]

use bootloader_api::{BootInfo, entry_point};
use kernel::println;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

fn main(boot_info: &'static mut BootInfo) -> ! {
    kernel::init(boot_info);
    println!("demo: done");
    kernel::qemu::exit(kernel::qemu::ExitCode::Success)
}
