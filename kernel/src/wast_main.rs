//! The kernel of `./qemu-run.sh wast FILE-or-DIR...`: runs `.wast`
//! scripts that the host packed into a bundle and the bootloader loaded
//! as its ramdisk, so that no script needs a kernel build of its own.
//!
//! It prints one line per command (`wast <file>:<line> <command> ...
//! ok` or `... FAILED: <why>`), a count per script, and the closing `N
//! passed, N failed`; it exits with success only if every command
//! passed. A missing or malformed bundle is reported and fails the boot.
#![no_std]
#![no_main]

use bootloader_api::{BootInfo, entry_point};
use kernel::cont::Store;
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::KernelStacks;
use kernel::wasm::instance::DEFAULT_STACK_BUDGET;
use kernel::wast::{bundle, run};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The size of each continuation stack: one slot of the stack region.
const STACK: usize = 64 * 1024;

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    let Some(bytes) = kernel::ramdisk() else {
        println!("wast: no bundle: boot this kernel with `builder --ramdisk BUNDLE`");
        machine.exit(ExitCode::Failure)
    };
    let b = match bundle::decode(bytes) {
        Ok(b) => b,
        Err(e) => {
            println!("wast: {e}");
            machine.exit(ExitCode::Failure)
        }
    };
    println!(
        "wast: {} scripts in a bundle of {} bytes",
        b.scripts.len(),
        bytes.len()
    );
    let mut total = run::Counts::default();
    for script in &b.scripts {
        let c = run::run_script(
            script,
            Store::new(KernelStacks, STACK),
            DEFAULT_STACK_BUDGET,
            &mut |line: &str| println!("{line}"),
        );
        println!(
            "wast {}: {} passed, {} failed",
            script.name, c.passed, c.failed
        );
        total.passed += c.passed;
        total.failed += c.failed;
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    machine.exit(if total.failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}
