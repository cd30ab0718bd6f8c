//! The end of the boot after a fatal event (a kernel panic, a fault no one
//! catches, a double fault), and the hooks that may take part in it.
//!
//! Why hooks: the panic and fault handlers are production code, and the
//! test harness must not be compiled into them. The handlers print their
//! report and call [`fatal`]; a harness that wants to name the end of the
//! boot (a test that expected it passes) installs a [`FatalHook`] with
//! [`set_fatal_hook`] (`testing::run_suite` does). Without one the boot
//! ends with QEMU's failure code. In the same way, the fault handlers offer
//! a recoverable fault to the fault catcher that `probe` installs before
//! it arms, and the fault path names no probe.

/// Kinds of fatal events: what the handler that ended the boot saw, for a
/// hook (a boot-ending test expects one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fatal {
    DoubleFault,
    PageFault,
    GeneralProtection,
    InvalidOpcode,
    DivideError,
    /// A page fault in the guard page below the kernel stack: the kernel
    /// stack overflowed (reported by the page-fault handler, see `interrupts`).
    KernelStackOverflow,
    /// A continuation stack needed a page on demand while the stack pool,
    /// frame allocator or page tables were locked (see `stacks`).
    DemandFaultWhileLocked,
    Panic,
    Other,
}

#[cfg(target_os = "none")]
pub use kernel_only::*;

#[cfg(target_os = "none")]
mod kernel_only {
    use super::Fatal;
    use crate::exceptions::FaultInfo;
    use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
    use x86_64::structures::idt::InterruptStackFrame;

    /// What ends the boot once a fatal event has been reported: it is told
    /// the event's kind, and never returns.
    pub type FatalHook = fn(Fatal) -> !;

    /// The installed [`FatalHook`] as a pointer, null when none is.
    static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Set by the first [`fatal`]: a second one (the hook panicked, or
    /// faulted) skips the hook.
    static ENDING: AtomicBool = AtomicBool::new(false);

    /// Installs `hook` as the end of every later fatal event, in place of
    /// the default (exit QEMU with failure). Takes the
    /// [`Machine`](crate::Machine): the hook ends the boot, and it runs in
    /// the handler of the event (a panic, a fault on any stack, a double
    /// fault on its own stack), where the interrupted code may hold any
    /// lock. A hook that panics or faults is not called again: the boot
    /// then ends with the default.
    pub fn set_fatal_hook(_machine: &crate::Machine, hook: FatalHook) {
        HOOK.store(hook as *mut (), Ordering::SeqCst);
    }

    /// Ends the boot after a panic or fault handler printed its report:
    /// the installed hook's end, or QEMU's failure exit. The kernel's own
    /// path: code outside the crate ends the boot with the
    /// [`Machine`](crate::Machine).
    pub(crate) fn fatal(kind: Fatal) -> ! {
        let hook = HOOK.load(Ordering::SeqCst);
        if !ENDING.swap(true, Ordering::SeqCst) && !hook.is_null() {
            // SAFETY: `HOOK` holds null or a `FatalHook` that
            // `set_fatal_hook` stored; it is not null here.
            let hook = unsafe { core::mem::transmute::<*mut (), FatalHook>(hook) };
            hook(kind)
        }
        crate::qemu::exit(crate::qemu::ExitCode::Failure)
    }

    /// A catcher of recoverable faults: it may rewrite the interrupted
    /// frame so that `iretq` resumes elsewhere, and says whether it did.
    pub(crate) type FaultCatcher = fn(&mut InterruptStackFrame, FaultInfo) -> bool;

    /// The installed [`FaultCatcher`] as a pointer, null when none is.
    static CATCHER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Installs the fault catcher (`probe` installs its own before it arms).
    pub(crate) fn set_fault_catcher(catcher: FaultCatcher) {
        CATCHER.store(catcher as *mut (), Ordering::SeqCst);
    }

    /// Offers a recoverable fault to the installed catcher, if any; returns
    /// whether it took the fault (and rewrote `frame`).
    pub(crate) fn catch_fault(frame: &mut InterruptStackFrame, info: FaultInfo) -> bool {
        let catcher = CATCHER.load(Ordering::SeqCst);
        if catcher.is_null() {
            return false;
        }
        // SAFETY: `CATCHER` holds null or a `FaultCatcher` that
        // `set_fault_catcher` stored; it is not null here.
        let catcher = unsafe { core::mem::transmute::<*mut (), FaultCatcher>(catcher) };
        catcher(frame, info)
    }
}
