//! A trap report a person can read (the kernel's side of a trap: it names
//! stack slots and symbols, so it lives outside the continuation core): the trap's kind and message, then every
//! frame of its backtrace named by the kernel's own symbol table
//! ([`crate::symbols`]) and grouped by the stack it ran on, in chain order
//! (the continuation that trapped first, then the one that resumed it, and
//! so on), down to the kernel's stack.
//!
//! ```text
//!   trap: Guest: boom
//!     continuation on stack 2 (TOS 0xffffd00000030000):
//!       0xffff800000024d1a  test_cont::level_c+0x2a
//!       0xffff800000031b05  kernel::cont::runtime::func::array_call_shim::<..>+0x95
//!       0xffff800000028e5c  kernel::cont::machine::entry::enter_guest+0x3c
//!       0xffff80000002a1d4  cont_start_trampoline+0x14
//!     continuation on stack 1 (TOS 0xffffd00000020000):
//!       ...
//!     kernel stack:
//!       0xffff800000019a20  test_cont::three_deep_trap_is_reported+0x1f0
//!       ...
//! ```
//!
//! Formatting allocates nothing (a kernel fault or panic report uses the
//! same code, see [`FramesDisplay`]). `docs/debugging.md` reads one report
//! line by line.

use core::fmt;

use crate::cont::values::trace::{Trace, TraceFrame};
use crate::cont::values::trap::Trap;

impl Trap {
    /// The whole report: kind, message and text, then every frame of the
    /// backtrace named by the kernel's symbol table and grouped by the
    /// stack it ran on, innermost continuation first, down to the kernel's
    /// stack (see [`crate::trap_report`]).
    pub fn report(&self) -> TrapReport<'_> {
        TrapReport::new(self)
    }
}

/// What [`Trap::report`] returns: displays the whole report. It holds a
/// copy of the trap's full backtrace (about 6 KiB), taken when it was made.
pub struct TrapReport<'a> {
    trap: &'a Trap,
    trace: Option<Trace>,
}

impl<'a> TrapReport<'a> {
    fn new(trap: &'a Trap) -> TrapReport<'a> {
        TrapReport {
            trap,
            trace: trap.backtrace().trace(),
        }
    }

    /// The full backtrace, if it was still in this CPU's ring of traces
    /// when the report was made (see [`crate::cont::trace`]).
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }
}

impl fmt::Display for TrapReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.trap)?;
        match &self.trace {
            Some(trace) => write!(f, "{}", FramesDisplay(trace)),
            None => {
                // The ring has moved on: the frames the trap carries.
                let bt = self.trap.backtrace();
                writeln!(
                    f,
                    "  first {} frames (the full walk was overwritten by later traps):",
                    bt.frames().len()
                )?;
                for (i, &address) in bt.frames().iter().enumerate() {
                    let frame = TraceFrame {
                        address,
                        stack_top: 0,
                        is_return: i > 0 || !bt.first_is_ip(),
                    };
                    writeln!(f, "    {}", FrameLine(&frame))?;
                }
                Ok(())
            }
        }
    }
}

/// A full backtrace, one group of lines per stack, as in a trap report.
pub struct FramesDisplay<'a>(pub &'a Trace);

impl fmt::Display for FramesDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for group in self.0.groups() {
            writeln!(f, "  {}:", StackName(group.stack_top))?;
            let mut frames = group.frames;
            while let Some(frame) = frames.first() {
                writeln!(f, "    {}", FrameLine(frame))?;
                // A recursion shows as one line and a count.
                let same = frames.iter().take_while(|g| *g == frame).count();
                if same > 1 {
                    writeln!(f, "    ... the same frame {} more times", same - 1)?;
                }
                frames = &frames[same..];
            }
        }
        Ok(())
    }
}

/// The heading of a group: which stack.
pub struct StackName(pub usize);

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let top = self.0;
        if top == 0 {
            return write!(f, "kernel stack");
        }
        #[cfg(target_os = "none")]
        // Any `usize` may be given: an address that is not canonical is on
        // no stack (`VirtAddr::new` would panic on it).
        if let Some(slot) = x86_64::VirtAddr::try_new(top as u64 - 1)
            .ok()
            .and_then(crate::stacks::slot_of)
        {
            return write!(f, "continuation on stack {slot} (TOS {top:#x})");
        }
        write!(f, "continuation (TOS {top:#x})")
    }
}

/// One frame: its address, and the function it is in if the symbol table
/// knows it.
struct FrameLine<'a>(&'a TraceFrame);

impl fmt::Display for FrameLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0.address)?;
        match self.0.locate() {
            Some(at) => write!(f, "  {at}"),
            None => write!(f, "  ?"),
        }
    }
}

/// The backtrace of a kernel fault or panic, for its report: `ip` first
/// (the faulting instruction, if any), then the frame-pointer walk from
/// `rbp`, across the running chain if there is one. The walk starts only
/// if `rbp` lies on the kernel's stack or in a continuation stack: a
/// report must not fault again on a wild frame pointer.
///
/// The crate's own (its fault and panic handlers): past the first frame
/// the walk on the kernel stack trusts each saved RBP it reads (upward, by
/// less than 1 MiB), so a made-up `rbp` on that stack, pointing at a
/// record of the caller's making, led it off the stack into a page fault
/// that ended the boot. Safe code walks its own frames with
/// `Store::walk_here`.
#[cfg(target_os = "none")]
pub(crate) fn kernel_backtrace(ip: Option<usize>, rbp: usize) -> Option<Trace> {
    // A frame pointer that is not even a canonical address is on no stack.
    let at = x86_64::VirtAddr::try_new(rbp as u64).ok();
    let on_kernel_stack =
        at.is_some_and(|a| crate::paging::kernel_stack().is_some_and(|s| s.contains(a)));
    // Off the kernel stack, only a running chain's stacks are walked (with
    // bounds): the walk knows no bounds of any other.
    let on_cont_stack = crate::cont::runtime::backtrace::chain_running()
        && at.is_some_and(|a| crate::stacks::slot_of(a).is_some() && !crate::stacks::in_guard(a));
    let rbp = if on_kernel_stack || on_cont_stack {
        rbp
    } else {
        0
    };
    // SAFETY: if the walk is on the kernel stack, `rbp` lies on it
    // (checked above), and on a continuation stack of the running chain
    // every read is bounds-checked.
    let bt = unsafe { crate::cont::runtime::backtrace::capture_running(rbp, ip) };
    bt.trace()
}
