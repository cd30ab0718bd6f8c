//! Raising traps: an `Err` with a backtrace for the caller of an operation,
//! or the end of the running continuation (one parent up).
//!
//! A trap raised by an operation is simply an `Err` for its caller. A
//! continuation *ends* with a trap when its guest returns `Err`, returns
//! holding a lock, faults or panics. A fault or panic (`trap_current`) and
//! the runtime's own refusals inside a guest (`unwind`) record the trap and
//! switch to the continuation's own control context, the `resume` that ran
//! it, which frees it and returns the `Err` one parent up. A guest that
//! returns `Err` or returns holding a lock ends through the start
//! trampoline instead: the machine sends the trap effect with its reason,
//! and the resume makes the trap (`Store::machine_trap`).

use super::backtrace::capture;
use super::contref::ContRef;
use super::gate::set_running;
use super::store::Store;
use crate::cont::machine::switch::{ControlEffect, frame_pointer, leave};
use crate::cont::values::trap::{Trap, TrapKind};

impl Store {
    /// Raises a trap at the caller: an `Err` with a backtrace from here and,
    /// inside a continuation, that continuation as its origin. The caller
    /// (kernel or guest code) decides what to do with it.
    #[cold]
    #[inline(never)]
    pub(crate) fn raise<T>(&self, kind: TrapKind, message: &'static str) -> Result<T, Trap> {
        self.raise_trap(Trap::new(kind, message))
    }

    /// [`Store::raise`] of a trap already made.
    #[cold]
    #[inline(never)]
    pub(crate) fn raise_trap<T>(&self, mut trap: Trap) -> Result<T, Trap> {
        trap.set_backtrace(self.capture_backtrace(frame_pointer()));
        let c = self.current.get();
        if !c.is_null() {
            // SAFETY: the running continuation is a live ContRef.
            trap.set_origin(unsafe { (*c).stack.top() } as usize);
        }
        Err(trap)
    }

    /// Ends the running continuation with `trap`: records it and switches,
    /// with the trap effect, to where the continuation would return to (its
    /// control context: the `resume` or `switch` that ran it). That resume
    /// frees it and returns `Err(trap)`, one parent up; the frames on this
    /// stack are abandoned.
    ///
    /// # Safety
    /// A continuation must be running (`current` non-null), and this code
    /// must run on its stack.
    pub(crate) unsafe fn unwind(&self, mut trap: Trap) -> ! {
        // SAFETY: `current` is a live, active ContRef (the caller's
        // contract), so its control context holds its parent's resume
        // point; the frames on this stack are abandoned.
        unsafe {
            let cur = self.current.get();
            if trap.origin() == 0 {
                trap.set_origin((*cur).stack.top() as usize);
            }
            self.pending_trap.set(Some(trap));
            let ctx = (*cur).ctx;
            leave(ControlEffect::TRAP, ctx)
        }
    }

    /// Called by the shim when a guest closure returns `Err(trap)`.
    pub(crate) fn record_guest_trap(&self, mut trap: Trap) {
        if trap.backtrace().frames().is_empty() {
            trap.set_backtrace(self.capture_backtrace(frame_pointer()));
        }
        self.pending_trap.set(Some(trap));
    }

    /// Whether this store has a chain on this CPU: running, or set aside
    /// while a store dropped inside it cancels its guests on top of it
    /// (`cancel::SetAside`). The fault and panic handlers ask this of the
    /// store that owns the faulting stack.
    pub(crate) fn has_chain(&self) -> bool {
        !self.current.get().is_null() || !self.shadowed.get().is_null()
    }

    /// Takes back this store's chain if it is set aside: `current` and
    /// `RUNNING` are this store's again. For a fault or panic in this
    /// store's own code (on its stack) while it is set aside: the only
    /// code that runs then on its stacks is the dropping one.
    pub(crate) fn take_back_set_aside(&self) {
        let c = self.shadowed.replace(core::ptr::null_mut());
        if !c.is_null() {
            self.current.set(c);
            set_running(self);
        }
    }

    /// The trap a continuation `back` ended with, from the kind of the trap
    /// effect it sent (`kind`): the trap the runtime recorded, or for the
    /// start trampoline's kinds ([`ControlEffect::GUEST_FAILED_TAG`],
    /// [`ControlEffect::RETURNED_HOLDING_LOCK_TAG`]) the trap its
    /// guest returned if the shim recorded one, else a guest failure, or a
    /// lock held at return. Made by the resume it came back to, so its
    /// backtrace starts there; its origin is `back`'s stack. Called before
    /// the lock count is forgotten, so the lock can be named.
    ///
    /// # Safety
    /// `back` is the live ContRef that sent `effect`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn machine_trap(&self, kind: u32, back: *mut ContRef) -> Trap {
        let mut trap = match self.pending_trap.take() {
            Some(trap) => trap,
            None if kind == ControlEffect::RETURNED_HOLDING_LOCK_TAG => {
                let lock = crate::sync::innermost_held().unwrap_or("kernel");
                Trap::new(TrapKind::LockHeld, lock)
            }
            None if kind == ControlEffect::GUEST_FAILED_TAG => {
                Trap::new(TrapKind::GuestFailure, "guest function reported failure")
            }
            None => Trap::new(TrapKind::GuestFailure, "trap"),
        };
        if trap.backtrace().frames().is_empty() {
            trap.set_backtrace(self.capture_backtrace(frame_pointer()));
        }
        if trap.origin() == 0 {
            // SAFETY: per the contract.
            trap.set_origin(unsafe { (*back).stack.top() } as usize);
        }
        trap
    }
}

/// Turns a CPU fault (or a panic) in guest code into a trap of the running
/// continuation: it is ended, and `Err(trap)` comes out of the `resume`
/// that ran it, one parent up.
/// The backtrace starts at `fault_rip` and walks from `fault_rbp` (the
/// interrupted RBP). Interrupts stay as the caller left them.
///
/// # Safety
/// `store` must be the store that owns the stack the fault happened on (the
/// kernel's stack pool records it per slot), with a continuation running;
/// the fault must have happened in that continuation's code (on its stack),
/// and the caller's own stack is
/// abandoned (e.g. an IST stack that the next fault resets).
pub unsafe fn trap_current(
    store: *const Store,
    mut trap: Trap,
    fault_rip: Option<usize>,
    fault_rbp: usize,
) -> ! {
    // SAFETY: per the contract, `store` is alive and inside a chain.
    let store = unsafe { &*store };
    assert!(store.has_chain(), "trap_current outside a continuation");
    // Its code faulted while its chain was set aside for the drop of a
    // store inside it (`cancel::SetAside`): the chain is taken back, and
    // that drop is abandoned with the faulting frames.
    store.take_back_set_aside();
    // SAFETY: the interrupted frame pointer of code on the running
    // continuation's stack (the caller's contract), whose ContRef is
    // `current`; every read there is checked against the stack.
    let bt = unsafe { capture(store.current.get(), fault_rbp, fault_rip) };
    trap.set_backtrace(bt);
    // SAFETY: a continuation is running (asserted).
    unsafe { store.unwind(trap) }
}
