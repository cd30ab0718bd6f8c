//! Traps: raising one, ending a continuation with one (one parent up), and
//! the entry function every continuation starts in.
//!
//! A trap raised by an operation is simply an `Err` for its caller. A
//! continuation *ends* with a trap when its guest returns `Err`, returns
//! holding a lock, faults or panics: `unwind` records the trap and switches
//! to the continuation's own control context, the `resume` that ran it,
//! which frees it and returns the `Err` one parent up.

use super::contref::ContRef;
use super::func::{FuncRecord, VMContext};
use super::stack::ArgsObject;
use super::store::{RUNNING, Store};
use super::switch::{ControlEffect, frame_pointer, leave};
use super::trace::{self, TraceFrame};
use super::trap::{Backtrace, Trap, TrapKind};
use super::walk::{self, Frame};

/// Takes a backtrace: `fault_ip` first if given (the faulting instruction,
/// on `innermost`'s stack), then the frame-pointer walk from `fp` across
/// the chain whose innermost continuation is `innermost` (null: the
/// kernel's stack). The first [`super::trap::MAX_FRAMES`] return addresses
/// go into the result; the whole walk goes into this CPU's ring of traces
/// ([`super::trace`]), whose id the result keeps. Never allocates.
///
/// # Safety
/// As for [`walk::walk`]: `innermost` is null or a live ContRef whose
/// parents are live; outside a continuation, `fp` is a live frame pointer
/// of the stack this code runs on.
pub(crate) unsafe fn capture(
    innermost: *mut ContRef,
    fp: usize,
    fault_ip: Option<usize>,
) -> Backtrace {
    let mut bt = Backtrace::EMPTY;
    let id = trace::record(|t| {
        if let Some(ip) = fault_ip {
            // SAFETY: `innermost` is null or live (the caller's contract).
            let stack_top = unsafe { innermost.as_ref() }.map_or(0, |c| c.stack.top() as usize);
            bt.push(ip);
            bt.set_first_is_ip();
            t.push(TraceFrame {
                address: ip,
                stack_top,
                is_return: false,
            });
        }
        // SAFETY: forwarded to the caller.
        unsafe {
            walk::walk(innermost, fp, |f| {
                bt.push(f.return_address);
                t.push(TraceFrame {
                    address: f.return_address,
                    stack_top: f.stack_top,
                    is_return: true,
                })
            })
        };
    });
    bt.set_trace(id);
    bt
}

/// [`capture`] from `fp`, in whatever chain runs on this CPU (that of the
/// store in `RUNNING`; none: the kernel's stack).
///
/// # Safety
/// `fp` is a live frame pointer of the stack the caller runs on.
pub(crate) unsafe fn capture_here(fp: usize) -> Backtrace {
    let store = RUNNING.get();
    // SAFETY: a store in RUNNING has a chain running on this CPU, so it is
    // alive, and its `current` is the innermost live ContRef of that chain.
    let innermost = unsafe { store.as_ref() }.map_or(core::ptr::null_mut(), |s| s.current.get());
    // SAFETY: `fp` per the contract; `innermost` as above.
    unsafe { capture(innermost, fp, None) }
}

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
    pub(super) fn raise_trap<T>(&self, mut trap: Trap) -> Result<T, Trap> {
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
    pub(super) unsafe fn unwind(&self, mut trap: Trap) -> ! {
        // SAFETY: `current` is a live, active ContRef (the caller's
        // contract), so its control context holds its parent's resume
        // point; the frames on this stack are abandoned.
        unsafe {
            let cur = self.current.get();
            if trap.origin() == 0 {
                trap.set_origin((*cur).stack.top() as usize);
            }
            self.pending_trap.set(Some(trap));
            let ctx = (*cur).stack.control_context();
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

    /// Called by the entry when the array call returned `false`.
    #[cold]
    pub(super) fn guest_failed(&self) -> ! {
        let trap = match self.pending_trap.take() {
            Some(trap) => trap,
            None => {
                let mut trap = Trap::new(TrapKind::GuestFailure, "guest function reported failure");
                trap.set_backtrace(self.capture_backtrace(frame_pointer()));
                trap
            }
        };
        // SAFETY: the entry runs on a continuation stack: `current` is set.
        unsafe { self.unwind(trap) }
    }

    /// Traps unless this CPU holds no kernel lock: control must not leave
    /// (or enter) a continuation with a lock taken (see [`crate::sync`]).
    /// One load and one compare on the hot path.
    #[inline(always)]
    pub(crate) fn no_lock_held(&self) -> Result<(), Trap> {
        if crate::sync::held() != 0 {
            return self.raise_lock_held();
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    pub(super) fn raise_lock_held<T>(&self) -> Result<T, Trap> {
        let lock = crate::sync::innermost_held().unwrap_or("kernel");
        self.raise(TrapKind::LockHeld, lock)
    }

    /// Walks frame records from `start_fp`, innermost first, calling
    /// `visit` until it returns false; see [`super::walk`].
    ///
    /// # Safety
    /// Outside a continuation, `start_fp` is the frame pointer of a live
    /// frame on the stack this code runs on: there the walk follows saved
    /// frame pointers with no bounds it can check. (Inside a continuation
    /// every read is checked against its stack, and any value is safe.)
    /// [`Store::walk_here`] is the safe way in.
    pub unsafe fn walk_frames(&self, start_fp: usize, visit: impl FnMut(Frame) -> bool) {
        // SAFETY: `current` is null or the innermost live ContRef of the
        // running chain, whose parents are live too; `start_fp` per the
        // contract.
        unsafe { walk::walk(self.current.get(), start_fp, visit) }
    }

    /// Walks the frames of the caller, innermost first, across
    /// continuation stacks into their parents (see [`super::walk`]),
    /// calling `visit` until it returns false.
    #[inline(never)]
    pub fn walk_here(&self, visit: impl FnMut(Frame) -> bool) {
        // SAFETY: this function's own frame pointer, on the stack it runs on.
        unsafe { self.walk_frames(frame_pointer(), visit) }
    }

    pub(super) fn capture_backtrace(&self, fp: usize) -> Backtrace {
        // SAFETY: every caller passes its own frame pointer; `current` is
        // null or the innermost live ContRef of the running chain.
        unsafe { capture(self.current.get(), fp, None) }
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
            RUNNING.set(self);
        }
    }

    /// Traps if a continuation of another store runs on this CPU: stores
    /// do not nest (see `RUNNING`).
    #[inline(always)]
    pub(crate) fn no_other_store_running(&self) -> Result<(), Trap> {
        // Another store's chain runs on this CPU: RUNNING names a store
        // that is not this one (when it is this one, we are in our chain).
        let running = RUNNING.get();
        if !running.is_null() && !core::ptr::eq(running, self) {
            return self.raise(
                TrapKind::OtherStoreRunning,
                "resume while another store's continuation runs on this CPU",
            );
        }
        Ok(())
    }
}

/// The Rust half of the start trampoline: runs the guest function over the
/// args buffer, then records that the results are there. On a guest
/// failure it never returns (the chain traps).
///
/// # Safety
/// Only the start trampoline calls this, with the launch words written by
/// [`ContStack::initialize`].
pub(crate) unsafe extern "C" fn cont_entry(
    return_value_count: usize,
    args: *mut ArgsObject,
    caller_vmctx: *mut VMContext,
    func_ref: *const FuncRecord,
) {
    // SAFETY: the launch words point at the function record and args object
    // of this continuation's ContRef, and at its store, all alive while it
    // runs; the args buffer holds `capacity` slots.
    unsafe {
        let f = &*func_ref;
        if !(f.array_call)(
            f.callee_vmctx,
            caller_vmctx,
            (*args).data,
            (*args).capacity as usize,
        ) {
            (*(caller_vmctx as *const Store)).guest_failed();
        }
        if crate::sync::held() != 0 {
            // The guest returns holding a lock (a guard it forgot): ending
            // the continuation would leave it taken by code that is gone.
            let store = &*(caller_vmctx as *const Store);
            if let Err(trap) = store.raise_lock_held::<()>() {
                store.unwind(trap);
            }
        }
        (*args).length = return_value_count as u32;
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
