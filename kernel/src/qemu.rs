//! Leaving QEMU: the `isa-debug-exit` device, and halting for good.
//!
//! `qemu-run.sh` starts QEMU with `-device isa-debug-exit,iobase=0xf4`.
//! Writing a value `v` to port `0xf4` makes QEMU exit with status
//! `(v << 1) | 1`: `0x10` becomes 33 (success) and `0x11` becomes 35
//! (failure), which the script maps to its own exit status (`docs/spec.md` §5).
//!
//! Both ways out are the kernel's own: code outside the crate ends the boot
//! through [`crate::Machine::exit`], with the capability the boot handed it.

use x86_64::instructions::port::Port;

/// The values the kernel writes to the exit device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Success = 0x10,
    Failure = 0x11,
}

/// Exits QEMU with `code`. The device acts asynchronously, so the CPU halts
/// (with interrupts off) until QEMU has gone.
pub(crate) fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device that qemu-run.sh
    // attaches; on a machine without it the write is ignored and we halt.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    halt_forever()
}

/// Halts the CPU forever with interrupts disabled.
pub(crate) fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
