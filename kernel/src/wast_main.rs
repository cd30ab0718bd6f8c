//! The kernel of `./qemu-run.sh wast FILE-or-DIR...`: runs `.wast`
//! scripts that the host packed into a bundle and the bootloader loaded
//! as its ramdisk, so that no script needs a kernel build of its own.
//!
//! It prints one line per command (`wast <file>:<line> <command> ...
//! ok` or `... FAILED: <why>`), a count per script, then one result
//! line per script together (`wast result <file>: N of M passed`, so a
//! run of many files reads at a glance) and the closing `N passed, N
//! failed`; it exits with success only if every command
//! passed. A missing or malformed bundle is reported and fails the boot.
//!
//! The timer ticks every [`PERIOD`], and each command's calls may take
//! [`COMMAND_TICKS`] ticks (10 s): a command that never ends fails with
//! "timed out" and the script goes on (`run::run_script_for`).
#![no_std]
#![no_main]

extern crate alloc;

use bootloader_api::{BootInfo, entry_point};
use core::time::Duration;
use kernel::cont::{Store, StoreLimits, limits::GUEST_HEAP_POOL};
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::KernelStacks;
use kernel::timer::Timer;
use kernel::wasm::instance::DEFAULT_STACK_BUDGET;
use kernel::wast::{bundle, run};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The size of each continuation stack: one slot of the stack region.
const STACK: usize = 64 * 1024;

/// The timer's period while scripts run.
const PERIOD: Duration = Duration::from_millis(10);
/// The ticks each command's calls may take: 10 s, far more than any
/// command of the specification's scripts needs.
const COMMAND_TICKS: u32 = 1000;

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    let Some(bytes) = kernel::ramdisk() else {
        println!("wast: no bundle: boot this kernel with `builder --ramdisk BUNDLE`");
        machine.exit(ExitCode::Failure)
    };
    // One script at a time: read, run, dropped before the next is read,
    // so that a bundle of thousands of commands never fills the heap (a
    // heap of many live blocks also makes every allocation slower).
    let scripts = match bundle::Scripts::new(bytes) {
        Ok(s) => s,
        Err(e) => {
            println!("wast: {e}");
            machine.exit(ExitCode::Failure)
        }
    };
    println!(
        "wast: {} scripts in a bundle of {} bytes",
        scripts.remaining(),
        bytes.len()
    );
    // The scripts' heap as large as a program's under `run` (the whole
    // guest pool); their memories are not heap and grow to the store's
    // memory limit (`Store::memory_limit`).
    let limits = StoreLimits {
        heap_bytes: GUEST_HEAP_POOL,
        ..StoreLimits::DEFAULT
    };
    let timer = Timer::new(&machine);
    if let Err(e) = timer.start(PERIOD) {
        println!("wast: the timer does not start: {e:?}");
        machine.exit(ExitCode::Failure)
    }
    let mut total = run::Counts::default();
    let mut per_file = alloc::vec::Vec::with_capacity(scripts.remaining());
    for script in scripts {
        let script = match script {
            Ok(s) => s,
            Err(e) => {
                println!("wast: {e}");
                machine.exit(ExitCode::Failure)
            }
        };
        let c = run::run_script_for(
            &script,
            Store::with_limits(KernelStacks, STACK, limits),
            DEFAULT_STACK_BUDGET,
            COMMAND_TICKS,
            &mut |line: &str| println!("{line}"),
        );
        println!(
            "wast {}: {} passed, {} failed",
            script.name, c.passed, c.failed
        );
        total.passed += c.passed;
        total.failed += c.failed;
        per_file.push((script.name, c));
    }
    for (name, c) in &per_file {
        println!(
            "wast result {name}: {} of {} passed",
            c.passed,
            c.passed + c.failed
        );
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    machine.exit(if total.failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}
