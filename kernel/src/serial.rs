//! The serial console: COM1 through `uart_16550`, and the `print!`/`println!`
//! macros every other module reports with.
//!
//! Serial is the kernel's only output. QEMU connects COM1 to its standard
//! output, so what the kernel prints is what `qemu-run.sh` reads and parses
//! (SPEC §5). The port sits behind a `spin` lock so that lines from different
//! places never interleave; interrupt handlers that must print while the lock
//! may be held use [`force_unlock`] first (they are about to end the boot).

use core::fmt::{self, Write};

/// COM1's base I/O port on every PC-compatible machine.
#[cfg(target_os = "none")]
const COM1: u16 = 0x3f8;

/// The console. `None` until the first print initialises it.
#[cfg(target_os = "none")]
static CONSOLE: spin::Mutex<Option<uart_16550::Uart16550Tty<uart_16550::backend::PioBackend>>> =
    spin::Mutex::new(None);

/// Writes formatted text to COM1, initialising the UART on first use.
#[cfg(target_os = "none")]
pub fn write_fmt(args: fmt::Arguments) {
    // Guest code prints from continuation stacks: fault in the stack that
    // formatting needs before taking the lock (see `stacks`).
    crate::stacks::touch_stack(crate::stacks::LOCKED_SECTION_STACK);
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut console = CONSOLE.lock();
        let tty = console.get_or_insert_with(|| {
            // SAFETY: COM1 is the standard serial port of a PC; this lock is
            // the only code that touches its I/O ports.
            unsafe { uart_16550::Uart16550Tty::new_port(COM1, uart_16550::Config::default()) }
                .expect("COM1 is present")
        });
        let _ = tty.write_fmt(args);
    });
}

/// On the host (unit tests, benchmarks) the console is standard output.
#[cfg(not(target_os = "none"))]
pub fn write_fmt(args: fmt::Arguments) {
    #[cfg(test)]
    std::print!("{args}");
    #[cfg(not(test))]
    let _ = args;
}

/// Releases the console lock held by code that a fault interrupted, so that a
/// fatal handler can still report. Only for paths that end the boot.
///
/// # Safety
/// The interrupted holder must never run again.
#[cfg(target_os = "none")]
pub unsafe fn force_unlock() {
    // SAFETY: the caller guarantees the interrupted holder never resumes.
    unsafe { CONSOLE.force_unlock() };
}

/// Whether the console's lock is held (by code a fault interrupted).
#[cfg(target_os = "none")]
pub fn locked() -> bool {
    CONSOLE.is_locked()
}

/// A `fmt::Write` sink for code that wants to build output piecewise.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_fmt(format_args!("{s}"));
        Ok(())
    }
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::serial::write_fmt(format_args!($($arg)*)) };
}

/// Prints to the serial console, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::serial::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
