//! Backtraces: the frame-pointer walk of the machine ([`walk`]) run across
//! the chain of continuations on this CPU, and kept (the first frames in the
//! trap, the whole walk in this CPU's ring of traces).
//!
//! The machine's walk knows stacks, not continuations: [`chain_stacks`]
//! gives it the stacks of a chain, innermost first, following each
//! `ContRef`'s parent, and the walk steps from one to the next at each
//! start trampoline's frame record.

use super::contref::ContRef;
use super::gate::running;
use super::store::Store;
use crate::cont::machine::stack::ContStack;
use crate::cont::machine::switch::frame_pointer;
use crate::cont::machine::walk::{self, Frame};
use crate::cont::values::trace::{self, TraceFrame};
use crate::cont::values::trap::Backtrace;

/// The stacks of the chain whose innermost continuation is `innermost`,
/// innermost first, then each parent's; it ends where the kernel's stack
/// begins (a null parent).
///
/// # Safety
/// `innermost` is null or a live ContRef whose parents are live, and stay
/// so while the iterator is used.
unsafe fn chain_stacks<'a>(innermost: *mut ContRef) -> impl Iterator<Item = &'a ContStack> {
    let mut c = innermost;
    core::iter::from_fn(move || {
        // SAFETY: `c` is null or live (the caller's contract).
        let r = unsafe { c.as_ref() }?;
        c = r.parent;
        Some(&r.stack)
    })
}

/// Takes a backtrace: `fault_ip` first if given (the faulting instruction,
/// on `innermost`'s stack), then the frame-pointer walk from `fp` across
/// the chain whose innermost continuation is `innermost` (null: the
/// kernel's stack). The first [`crate::cont::values::trap::MAX_FRAMES`] return addresses
/// go into the result; the whole walk goes into this CPU's ring of traces
/// ([`crate::cont::values::trace`]), whose id the result keeps. Never allocates.
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
            walk::walk(chain_stacks(innermost), fp, |f| {
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

/// [`capture`] in whatever chain runs on this CPU (that of the store in
/// `RUNNING`; none: the kernel's stack), from `fp`, `fault_ip` first if
/// given.
///
/// # Safety
/// `fp` is a live frame pointer of the stack the caller runs on, or lies on
/// a continuation stack of the running chain (every read there is checked).
pub(crate) unsafe fn capture_running(fp: usize, fault_ip: Option<usize>) -> Backtrace {
    let store = running();
    // SAFETY: a store in RUNNING has a chain running on this CPU, so it is
    // alive, and its `current` is the innermost live ContRef of that chain.
    let innermost = unsafe { store.as_ref() }.map_or(core::ptr::null_mut(), |s| s.current.get());
    // SAFETY: `fp` per the contract; `innermost` as above.
    unsafe { capture(innermost, fp, fault_ip) }
}

/// Whether a chain of continuations runs on this CPU.
#[cfg(target_os = "none")]
pub(crate) fn chain_running() -> bool {
    !running().is_null()
}

/// The usable bounds (`bottom`, `top`) of the stack of the continuation
/// running on this CPU, if `addr` lies on it: how an interpreter learns
/// how much stack is really left below it (`wasm::interp`). `None` when
/// no chain runs, or `addr` is on another stack.
pub(crate) fn running_stack_containing(addr: usize) -> Option<(usize, usize)> {
    let store = running();
    // SAFETY: a store in RUNNING has a chain running on this CPU, so it is
    // alive, and its `current` is null or the innermost live ContRef.
    let current = unsafe { store.as_ref() }?.current.get();
    // SAFETY: as above.
    let stack = &unsafe { current.as_ref() }?.stack;
    stack
        .contains(addr)
        .then(|| (stack.bottom() as usize, stack.top() as usize))
}

impl Store {
    /// Walks frame records from `start_fp`, innermost first, calling
    /// `visit` until it returns false; see [`walk`].
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
        unsafe { walk::walk(chain_stacks(self.current.get()), start_fp, visit) }
    }

    /// Walks the frames of the caller, innermost first, across
    /// continuation stacks into their parents (see [`walk`]),
    /// calling `visit` until it returns false.
    #[inline(never)]
    pub fn walk_here(&self, visit: impl FnMut(Frame) -> bool) {
        // SAFETY: this function's own frame pointer, on the stack it runs on.
        unsafe { self.walk_frames(frame_pointer(), visit) }
    }

    pub(crate) fn capture_backtrace(&self, fp: usize) -> Backtrace {
        // SAFETY: every caller passes its own frame pointer; `current` is
        // null or the innermost live ContRef of the running chain.
        unsafe { capture(self.current.get(), fp, None) }
    }
}

impl crate::cont::values::trap::Trap {
    /// What a guest closure returns to trap: kind
    /// [`TrapKind::Guest`](crate::cont::TrapKind::Guest), with a backtrace
    /// taken here, so that its first frame is the function that called
    /// `guest`.
    #[inline(never)]
    pub fn guest(message: &'static str) -> Self {
        let mut trap = Self::new(crate::cont::values::trap::TrapKind::Guest, message);
        // SAFETY: this function's own frame pointer, on the stack it runs on.
        trap.set_backtrace(unsafe { capture_running(frame_pointer(), None) });
        trap
    }
}
