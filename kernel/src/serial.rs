//! The serial console: COM1 through `uart_16550`, and the `print!`/`println!`
//! macros every other module reports with.
//!
//! Serial is the kernel's only output. QEMU connects COM1 to its standard
//! output, so what the kernel prints is what `qemu-run.sh` reads and parses
//! (`docs/spec.md` §5). The port sits behind a lock so that
//! bytes from different places never mix inside one piece of text.
//!
//! **Format first, lock only to write.** A `println!` argument's `Display`
//! is other code: a guest's, which may `suspend` or trap in the middle of
//! it. If the console lock were held while it ran, control would leave the
//! continuation with the lock taken and the kernel's next `println!` could
//! never get it. So [`write_fmt`] formats into a small buffer on the
//! caller's stack, and takes the lock only to send finished text to the
//! UART, code that calls nothing else. A line longer than the buffer goes
//! out in pieces, each under the lock on its own.
//!
//! Interrupt handlers that must print while the lock may be held use
//! [`force_unlock`] first: they are about to end the boot, or to end the
//! chain of the continuation that held it.

use core::fmt;
#[cfg(target_os = "none")]
use core::fmt::Write;

/// COM1's base I/O port on every PC-compatible machine.
#[cfg(target_os = "none")]
const COM1: u16 = 0x3f8;

/// The console. `None` until the first print initialises it.
#[cfg(target_os = "none")]
static CONSOLE: crate::sync::Mutex<
    Option<uart_16550::Uart16550Tty<uart_16550::backend::PioBackend>>,
> = crate::sync::Mutex::kernel("console", None);

/// Bytes of formatted text gathered on the caller's stack before the
/// console lock is taken to send them.
#[cfg(target_os = "none")]
const BUFFER: usize = 160;

/// Formatted text waiting to be sent: see the module docs.
#[cfg(target_os = "none")]
struct Pending {
    bytes: [u8; BUFFER],
    len: usize,
}

#[cfg(target_os = "none")]
impl Pending {
    /// Sends what is gathered, under the lock.
    fn flush(&mut self) {
        if self.len > 0 {
            // Only whole `&str`s are ever appended, so this is UTF-8.
            let text = core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?");
            send(text);
            self.len = 0;
        }
    }
}

#[cfg(target_os = "none")]
impl Write for Pending {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > BUFFER {
            self.flush();
        }
        if s.len() > BUFFER {
            send(s);
        } else {
            self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        }
        Ok(())
    }
}

/// Sends finished text to COM1 under the console lock, initialising the
/// UART on first use. Runs no code but the UART driver's.
#[cfg(target_os = "none")]
fn send(text: &str) {
    // Guest code prints from continuation stacks: fault in the stack that
    // the locked section needs before taking the lock (see `stacks`).
    crate::stacks::touch_stack(crate::stacks::LOCKED_SECTION_STACK);
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut console = CONSOLE.lock();
        let tty = console.get_or_insert_with(|| {
            // SAFETY: COM1 is the standard serial port of a PC; this lock is
            // the only code that touches its I/O ports.
            unsafe { uart_16550::Uart16550Tty::new_port(COM1, uart_16550::Config::default()) }
                .expect("COM1 is present")
        });
        let _ = tty.write_str(text);
    });
}

/// Writes formatted text to COM1: formats first, on this stack, and takes
/// the console lock only to send (see the module docs).
#[cfg(target_os = "none")]
pub fn write_fmt(args: fmt::Arguments) {
    let mut pending = Pending {
        bytes: [0; BUFFER],
        len: 0,
    };
    let _ = pending.write_fmt(args);
    pending.flush();
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
/// handler can still report: on paths that end the boot, and when a guest
/// fault ends the continuation whose code held it.
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
