//! The harness every lab shares: `say!`, which prints a line and remembers
//! which stack said it, and `lab!`, the entry point of a lab's checker.
//!
//! A lab is a kernel of its own (`labN/check.rs`) built around one file a
//! student edits (`labN/student.rs`), or around its reference solution
//! (`solutions/labN.rs`, with the feature `lab-solutions`). The checker
//! calls the student's function, then judges it by what it said and where:
//! every `say!` line is printed on serial as it happens and kept in a log
//! with the stack slot it was said from (`None`: the kernel's own stack),
//! so a checker can tell "the tasks took turns on three stacks" from "a
//! loop on the kernel stack printed the same words". It ends the boot with
//! one verdict line, `lab N: PASS` or `lab N: FAIL: <why>` (and QEMU's exit
//! status to match), which `./qemu-run.sh lab N` and `labs-check` read.
//! `docs/labs/README.md` is the index of the labs.
#![no_std]
// One module reads memory (`snapshot`, for lab 6); everything else, and
// every lab kernel (each `#![forbid(unsafe_code)]`), is safe Rust, but
// lab 7's, whose student file is assembly and whose harness
// (`lab7/harness.rs`) runs it: that kernel denies `unsafe` and allows it
// in those two modules only.
#![deny(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use kernel::Machine;
use kernel::cont::{Trap, TrapKind};
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks;
use kernel::sync::Mutex;
use kernel::timer::{Timer, TimerError};
use x86_64::VirtAddr;

pub mod snapshot;

/// Re-exported for `lab!`, so that a lab's files need not name it.
pub use kernel;

#[doc(hidden)]
pub use alloc::format as __format;

/// One line a lab said: its text, the stack slot it was said from
/// (`None`: the kernel's own stack), and how deep in a chain of
/// continuations (0: on the kernel's stack; 1: in a continuation the
/// kernel resumed or switched to; 2: in one that continuation resumed...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub stack: Option<usize>,
    pub depth: usize,
    pub text: String,
}

/// Every line said since the checker last took them.
static LOG: Mutex<Vec<Line>> = Mutex::new("lab log", Vec::new());

/// Prints `text` on serial and keeps it, with the stack it was said from,
/// for the checker. Callable from any stack: the lock is held only for the
/// push, and the stack the push may need is touched before it is taken
/// (`kernel::stacks`' rule for locks on continuation stacks).
pub fn say(text: String) {
    let rsp = VirtAddr::new(kernel::cont::switch::stack_pointer() as u64);
    let stack = stacks::slot_of(rsp);
    let depth = chain_depth();
    println!("{text}");
    stacks::touch_stack(stacks::LOCKED_SECTION_STACK);
    LOG.lock().push(Line { stack, depth, text });
}

/// How many continuations deep the caller runs: the continuation stacks a
/// backtrace taken here crosses on its way out to the kernel's stack (the
/// kernel's own walk, the one a trap's report shows). A checker reads it
/// to tell a task the kernel switched to (depth 1) from one another task
/// resumed inside itself (depth 2).
#[inline(never)]
pub fn chain_depth() -> usize {
    let probe = Trap::guest("labs: a backtrace to count the stacks of the chain");
    let Some(trace) = probe.backtrace().trace() else {
        return 0;
    };
    trace.groups().filter(|g| g.stack_top != 0).count()
}

/// `say!("task {name}: round {r}")`: formats, prints and keeps one line
/// (see [`say`]).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say($crate::__format!($($arg)*))
    };
}

/// The lines said since the last call, oldest first; the log is emptied.
pub fn take_log() -> Vec<Line> {
    core::mem::take(&mut *LOG.lock())
}

/// What a lab's starting skeleton returns: the trap a student sees until
/// the function is written.
pub fn not_done_yet() -> Trap {
    Trap::guest("not done yet: this is the lab's starting skeleton, write it (docs/labs/)")
}

/// A trap kind's name without its fields: `StackOverflow` for
/// `StackOverflow { addr: .. }`, so that a printed line does not depend on
/// addresses.
pub fn kind_name(kind: TrapKind) -> String {
    let full = alloc::format!("{kind:?}");
    let name = full.split([' ', '{', '(']).next().unwrap_or("");
    String::from(name)
}

/// Compares the texts of `got` with `want`, line by line, naming the first
/// difference.
pub fn same_lines(got: &[Line], want: &[String]) -> Result<(), String> {
    for (i, w) in want.iter().enumerate() {
        match got.get(i) {
            Some(g) if g.text == *w => {}
            Some(g) => {
                return Err(alloc::format!(
                    "line {} of this run: expected `{w}`, got `{}`",
                    i + 1,
                    g.text
                ));
            }
            None => {
                return Err(alloc::format!(
                    "line {} of this run: expected `{w}`, got nothing more ({} lines said)",
                    i + 1,
                    got.len()
                ));
            }
        }
    }
    if let Some(extra) = got.get(want.len()) {
        return Err(alloc::format!(
            "line {} of this run: expected no more lines, got `{}`",
            want.len() + 1,
            extra.text
        ));
    }
    Ok(())
}

/// The body of a lab's kernel: prints `lab N: <title>`, runs `check`, and
/// ends the boot with the verdict line and the exit status to match (with
/// the boot's [`Machine`]: the lab's own code is never given it).
pub fn run(machine: Machine, lab: u32, title: &str, check: fn() -> Result<(), String>) -> ! {
    println!("lab {lab}: {title}");
    match check() {
        Ok(()) => {
            println!("lab {lab}: PASS");
            machine.exit(ExitCode::Success)
        }
        Err(why) => {
            println!("lab {lab}: FAIL: {why}");
            machine.exit(ExitCode::Failure)
        }
    }
}

/// The clock of a lab that asked for one (`lab!(N, "title", check,
/// timer)`): made from the boot's [`Machine`] before the lab's first line.
static TIMER: Mutex<Option<Timer>> = Mutex::new("lab timer", None);

/// [`run`] for a lab that uses the timer: makes the [`Timer`] (which
/// calibrates, and prints its line, before the lab's first), then runs.
pub fn run_with_timer(
    machine: Machine,
    lab: u32,
    title: &str,
    check: fn() -> Result<(), String>,
) -> ! {
    *TIMER.lock() = Some(Timer::new(&machine));
    run(machine, lab, title, check)
}

/// Starts the lab's timer ticking every `period` (see [`Timer::start`]).
pub fn start_ticking(period: Duration) -> Result<(), TimerError> {
    lab_timer(|t| t.start(period))
}

/// Stops the lab's timer (see [`Timer::stop`]).
pub fn stop_ticking() -> Result<(), TimerError> {
    lab_timer(|t| t.stop())
}

/// Time-stamp-counter increments in `period`, as calibrated.
pub fn tsc_per(period: Duration) -> u64 {
    lab_timer(|t| t.calibration().tsc_per(period))
}

/// Runs `f` on the lab's timer. The lock is not held while it runs: a
/// tick must be able to land inside `start`'s and `stop`'s windows.
fn lab_timer<T>(f: impl FnOnce(&Timer) -> T) -> T {
    let timer = TIMER
        .lock()
        .take()
        .expect("the lab asked for a timer: lab!(N, \"title\", check, timer)");
    let out = f(&timer);
    *TIMER.lock() = Some(timer);
    out
}

/// The whole entry point of a lab's checker: `lab!(1, "title", check)`
/// boots the kernel and calls [`run`]; `lab!(8, "title", check, timer)`
/// makes the lab's timer first ([`run_with_timer`]).
#[macro_export]
macro_rules! lab {
    ($lab:literal, $title:literal, $check:path, timer) => {
        $crate::kernel::bootloader_api::entry_point!(
            lab_main,
            config = &$crate::kernel::BOOTLOADER_CONFIG
        );

        fn lab_main(boot_info: &'static mut $crate::kernel::bootloader_api::BootInfo) -> ! {
            let machine = $crate::kernel::init(boot_info);
            $crate::run_with_timer(machine, $lab, $title, $check)
        }
    };
    ($lab:literal, $title:literal, $check:path) => {
        $crate::kernel::bootloader_api::entry_point!(
            lab_main,
            config = &$crate::kernel::BOOTLOADER_CONFIG
        );

        fn lab_main(boot_info: &'static mut $crate::kernel::bootloader_api::BootInfo) -> ! {
            let machine = $crate::kernel::init(boot_info);
            $crate::run(machine, $lab, $title, $check)
        }
    };
}
