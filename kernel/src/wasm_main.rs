//! The kernel of `./qemu-run.sh wasm FILE.wat`: runs the exported `main`
//! of one WebAssembly module, its `spectest` prints on serial, and reports
//! what `main` returned, or how it trapped.
//!
//! The module arrives as the bootloader's ramdisk, as `wast-main`'s
//! scripts do: the host turns the `.wat` file into a binary (`builder
//! wat`) and puts it on the disk image (`builder --ramdisk`), so this
//! kernel is built once for every module. Its continuations run on the
//! kernel's continuation stacks.
//!
//! `main` runs under a budget of [`MAIN_TICKS`] ticks of a 10 ms timer
//! (30 s, as `./qemu-run.sh run` gives a WASI program): a `main` that
//! never ends stops at its next safe point with "wasm: main timed out",
//! instead of holding the boot until QEMU's timeout.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use bootloader_api::{BootInfo, entry_point};
use core::time::Duration;
use kernel::cont::Store;
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::KernelStacks;
use kernel::timer::Timer;
use kernel::wasm::{Error, Instance, Module};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The size of each continuation stack: one slot of the stack region.
const STACK: usize = 64 * 1024;

/// The timer's period while `main` runs.
const PERIOD: Duration = Duration::from_millis(10);
/// The ticks `main` may run: 30 s by the calibrated clock.
const MAIN_TICKS: u32 = 3000;

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    let Some(bytes) = kernel::ramdisk() else {
        println!("wasm: no module: boot this kernel with `builder --ramdisk MODULE.wasm`");
        machine.exit(ExitCode::Failure)
    };
    println!("wasm: {} bytes of module", bytes.len());
    let module = match Module::new(bytes) {
        Ok(m) => m,
        Err(e) => {
            println!(
                "wasm: the module is refused at offset {}: {}",
                e.offset, e.message
            );
            machine.exit(ExitCode::Failure)
        }
    };
    let instance = match Instance::new(Arc::new(module), Store::new(KernelStacks, STACK)) {
        Ok(i) => i,
        Err(e) => {
            println!("wasm: instantiation failed: {e:?}");
            machine.exit(ExitCode::Failure)
        }
    };
    instance.set_tick_budget(Some(MAIN_TICKS));
    if let Err(e) = Timer::new(&machine).start(PERIOD) {
        println!("wasm: the timer does not start: {e:?}");
        machine.exit(ExitCode::Failure)
    }
    match instance.invoke("main", &[]) {
        Ok(results) => {
            println!("wasm: main returned {results:?}");
            drop(instance);
            machine.exit(ExitCode::Success)
        }
        Err(e @ Error::Trap(_)) if e.trap_reason() == Some(kernel::wasm::trap::TIMED_OUT) => {
            println!(
                "wasm: main timed out: it ran past its budget of {MAIN_TICKS} ticks ({PERIOD:?} each)"
            );
            machine.exit(ExitCode::Failure)
        }
        Err(e @ Error::Trap(_)) => {
            println!("wasm: main trapped: {}", e.trap_reason().unwrap_or("?"));
            machine.exit(ExitCode::Failure)
        }
        Err(e) => {
            println!("wasm: main failed: {e:?}");
            machine.exit(ExitCode::Failure)
        }
    }
}
