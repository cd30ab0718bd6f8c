//! The kernel of `./qemu-run.sh run [--link NAME=LIB]... FILE [ARGS...]`:
//! runs one WASI program (a binary from a stock toolchain, or a `.wat`),
//! its stdout and stderr on serial, and reports its exit code for the
//! host to return. The libraries are instantiated first, in a linker
//! (one store for all), each registered under its name, and the
//! program's imports link to them (`examples/wasi/fiber.wat`, whose
//! fibers a C program uses).
//!
//! The program arrives as the bootloader's ramdisk, a program image
//! (`bundle::program`: the module's binary with its command line), so
//! this kernel is built once for every program and argument. Its
//! `_start` (or `main`) runs on a continuation of a store whose heap
//! quota is the whole guest pool, so `memory.grow` goes as far as the
//! kernel heap allows (`wasi::start`).
//!
//! What serial shows, after the boot log (the runner prints only the part
//! between the two markers; each marker line begins with the byte 0x01):
//!
//! ```text
//!  \x01run: start
//!  ...whatever the program wrote to fds 1 and 2, byte for byte...
//!  \n\x01run: exit N          the exit code (proc_exit's, or main's)
//!  \n\x01run: trap REASON     it trapped (the host's status is 134)
//!  \x01run: refused WHY       the image, module or instantiation failed
//! ```
//!
//! The newline before an end marker is always the kernel's, so the runner
//! takes the program's output to be exactly what precedes it.
//!
//! A program may run for [`RUN_TICKS`] ticks of a [`PERIOD`] timer (30 s,
//! well inside the runner's 180 s boot timeout): one still running then
//! stops at the interpreter's next safe point and ends as `run: trap
//! timed out` (`Instance::set_tick_budget`), instead of holding the boot
//! until QEMU is killed.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use bootloader_api::{BootInfo, entry_point};
use core::time::Duration;
use kernel::cont::{Store, StoreLimits, limits::GUEST_HEAP_POOL};
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::KernelStacks;
use kernel::timer::Timer;
use kernel::wasm::wasi::{self, RunError};
use kernel::wasm::{Linker, Module};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The size of each continuation stack of the program's store: 1 MiB,
/// where the other kernels' stores have 64 KiB. Real programs recurse:
/// an interpreted Wasm call takes 96 bytes of native stack here
/// (`docs/wasm.md`, "Native stack per call"), so
/// `examples/wasi/deep.wat`'s 10,000 nested calls need some 960 KB.
/// The stack region is cut into slots of this size at boot; they are
/// mapped page by page as they are touched, so the 16,384 slots reserve
/// 16 GiB of the region's virtual space and cost frames only where a
/// program really goes deep.
const STACK: usize = 1024 * 1024;

/// The timer's period while the program runs.
const PERIOD: Duration = Duration::from_millis(10);
/// The ticks the program may run: 30 s (by the calibrated clock: a
/// host busy while the kernel calibrated has measured the APIC three
/// times too fast, so the real limit may be some 100 s).
const RUN_TICKS: u32 = 3000;

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    let slots = kernel::stacks::Config {
        stack_size: STACK,
        ..kernel::stacks::Config::DEFAULT
    };
    if let Err(e) = kernel::stacks::configure(slots) {
        println!("run: cannot cut the stack region into {STACK}-byte stacks: {e:?}");
        machine.exit(ExitCode::Failure)
    }
    let refuse = |why: &dyn core::fmt::Display| -> ! {
        println!("\u{1}run: refused {why}");
        machine.exit(ExitCode::Failure)
    };
    let Some(image) = kernel::ramdisk() else {
        refuse(&"no program: boot this kernel with a program image as its ramdisk")
    };
    let program = match bundle::program::decode(image) {
        Ok(p) => p,
        Err(e) => refuse(&e),
    };
    let compile = |what: &dyn core::fmt::Display, bytes: &[u8]| match Module::new(bytes) {
        Ok(m) => Arc::new(m),
        Err(e) => refuse(&format_args!(
            "{what} is invalid at offset {}: {}",
            e.offset, e.message
        )),
    };
    let limits = StoreLimits {
        heap_bytes: GUEST_HEAP_POOL,
        ..StoreLimits::DEFAULT
    };
    let mut linker = Linker::new(Store::with_limits(KernelStacks, STACK, limits));
    for (name, bytes) in &program.libs {
        let name = core::str::from_utf8(name).unwrap_or("?");
        let what = format_args!("the library {name}");
        let lib = compile(&what, bytes);
        let made = linker
            .instantiate(lib)
            .and_then(|i| linker.register(name, i));
        if let Err(e) = made {
            refuse(&format_args!(
                "instantiation of the library {name} failed: {e:?}"
            ))
        }
    }
    let module = compile(&"the module", program.module);
    let instance = match linker.instantiate(module) {
        Ok(i) => match linker.instance(i) {
            Some(inst) => inst,
            None => refuse(&"the linker lost the instance it made"),
        },
        Err(e) => refuse(&format_args!("instantiation failed: {e:?}")),
    };
    let owned = |list: &[&[u8]]| list.iter().map(|s| s.to_vec()).collect::<Vec<_>>();
    instance.set_wasi_args(owned(&program.args), owned(&program.env));
    instance.set_tick_budget(Some(RUN_TICKS));
    if let Err(e) = Timer::new(&machine).start(PERIOD) {
        refuse(&format_args!("the timer does not start: {e:?}"))
    }
    println!("\u{1}run: start");
    let ended = wasi::start(instance);
    drop(linker);
    match ended {
        Ok(code) => println!("\n\u{1}run: exit {code}"),
        Err(RunError::Trap(why)) => println!("\n\u{1}run: trap {why}"),
        Err(RunError::NoEntry) => {
            refuse(&"the module exports no `_start` or `main` of type [] -> [] or [] -> [i32]")
        }
    }
    machine.exit(ExitCode::Success)
}
