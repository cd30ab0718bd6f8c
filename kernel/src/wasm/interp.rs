//! The interpreter: runs a function's internal form ([`super::code::Code`],
//! whose entries pair each op with its handler: [`dispatch`]) over a
//! value stack.
//!
//! A Wasm call is a native call: the call op's handler runs the callee's
//! first handler from its own frame ([`enter`], inlined there), and the
//! callee's frame on the value stack starts where the caller's arguments
//! are (they become its first locals), its results ending up where they
//! were. So the *native* frames of interpreted code are the call ops'
//! frames, one per Wasm call, on whatever stack runs the interpreter:
//! the caller's for [`super::Instance::invoke`], a continuation's own
//! stack for code that `cont.new` started there (each continuation gets a
//! [`Thread`], a value stack of its own, when its function is entered).
//!
//! ```text
//!  Thread::stack (one per native stack)
//!  +--------------------+--------------------+-----------
//!  | caller's frame     | callee's frame     |
//!  | locals | operands  | params=args|locals | operands ...
//!  +--------------------+--------------------+-----------
//!                       ^ callee fp = caller sp - nparams
//! ```
//!
//! Before each call the native stack left is compared with the thread's
//! floor, so deep recursion ends as the trap "call stack exhausted" and
//! never reaches a guard page (or, on the kernel's own stack, a double
//! fault). The floor is the budget's, but never below what the stack it
//! runs on really has ([`stack_floor`]): a budget larger than the stack
//! cannot overflow it. The stack-switching instructions are in [`super::switching`].
//!
//! Every branch taken (so every loop back-edge) and every call is a *safe
//! point*: the interpreter's state is whole there, so a continuation run
//! with a budget (`resume_for`) is preempted there once the budget is
//! spent, and a deadline (`Instance::set_tick_budget`) ends the call
//! there with the trap "timed out". The test on the way through is one
//! load and compare of a byte the tick raises
//! (`cont::runtime::epoch`); a branch whose byte is up goes on through the
//! handler `control::pause` by a tail call, which calls [`safe_point`], so
//! that no branch handler makes a call of its own and needs a frame.

mod control;
mod data;
pub(crate) mod dispatch;
mod memory;
mod refs;

use super::callee::{NO_TAIL, linked};
use super::code::Code;
use super::host::HostFunc;
use super::instance::{Instance, STACK_RESERVE};
use super::trap::{self, Exn, Unwind, wasm_trap};
use super::val::{EXN_REF, ref_word};
use super::wasi;
use crate::cont::ValRaw;
use crate::cont::runtime::epoch::{self, SafePoint};
use alloc::boxed::Box;
use alloc::vec::Vec;
#[cfg(test)]
pub(crate) use dispatch::INT_OPS;
pub(crate) use dispatch::{Entry, thread};
pub(crate) use refs::{exn_of, func_of};

/// Value slots kept free above every frame, for the values a
/// stack-switching instruction stages (a mailbox's worth and a handle).
const SLACK: usize = crate::cont::MAX_VALUES + 2;

/// The interpreter's state on one native stack. Crate-private, as is
/// [`call`]: their slots hold continuation handles as raw bits, which the
/// interpreter hands to the runtime's raw door, so code that could write
/// a slot or pick a frame pointer could forge a handle or index past the
/// stack (the module docs of `switching.rs`).
pub(crate) struct Thread {
    pub(crate) stack: Vec<ValRaw>,
    /// Below this native stack address no new call is made.
    floor: usize,
    /// A tail call's callee, left by its op for [`enter`]: its function
    /// index ([`NO_TAIL`]: none) and its instance's id.
    pub(crate) tail: u32,
    pub(crate) tail_instance: u64,
    /// An exception on its way from the op that raised it to the
    /// handler that looks for its `catch` clause (`control::caught`).
    exn: Option<Box<Exn>>,
}

impl Thread {
    /// A thread that may use `budget` bytes of native stack below here,
    /// and never more than the stack it runs on has: the floor is at
    /// least [`stack_floor`], whatever the budget says.
    pub(crate) fn new(budget: usize) -> Thread {
        let sp = native_sp();
        Thread {
            stack: Vec::new(),
            floor: sp.saturating_sub(budget).max(stack_floor(sp)),
            tail: NO_TAIL,
            tail_instance: 0,
            exn: None,
        }
    }
}

/// Native stack the interpreter may use on a host thread that is not in a
/// continuation, whatever the budget: half of the 2 MiB a Rust thread
/// gets by default (the main thread has 8 MiB).
pub const HOST_THREAD_STACK: usize = 1024 * 1024;

/// The lowest address interpreted frames may reach on the native stack
/// `sp` is on, keeping [`STACK_RESERVE`] free below for the runtime's own
/// calls (a trap's backtrace, a print, the heap):
///
/// * a continuation's stack (the running chain's, on the host or in the
///   kernel): its bottom plus the reserve;
/// * in the kernel, the kernel's own stack (`paging::kernel_stack`): its
///   bottom plus the reserve; any other stack (an interrupt stack) is not
///   one the interpreter runs on, so its floor is above every address and
///   the first call traps;
/// * on the host, a thread's own stack, whose bounds this `no_std` crate
///   cannot read: [`HOST_THREAD_STACK`] below `sp`. A host program that
///   runs Wasm on a thread with less stack sets a smaller budget; if it
///   does not, std's guard page ends the process, never memory.
pub fn stack_floor(sp: usize) -> usize {
    if let Some((bottom, _)) = crate::cont::runtime::backtrace::running_stack_containing(sp) {
        return bottom.saturating_add(STACK_RESERVE);
    }
    #[cfg(target_os = "none")]
    {
        let on_kernel_stack = crate::paging::kernel_stack()
            .filter(|k| x86_64::VirtAddr::try_new(sp as u64).is_ok_and(|a| k.contains(a)));
        match on_kernel_stack {
            Some(k) => (k.bottom().as_u64() as usize).saturating_add(STACK_RESERVE),
            None => usize::MAX,
        }
    }
    #[cfg(not(target_os = "none"))]
    {
        sp.saturating_sub(HOST_THREAD_STACK)
    }
}

/// The native stack pointer: read from RSP, so that the check costs no
/// slot in the frame of the call op that makes it.
#[inline(always)]
fn native_sp() -> usize {
    let sp: usize;
    // SAFETY: copies RSP into a register; touches no memory or flags.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
    };
    sp
}

/// A safe point whose flag was raised: preempted and resumed here (or
/// nothing to do), or the call ends: cancelled (its preempted continuation
/// was dropped) or past its deadline.
#[cold]
#[inline(never)]
fn safe_point(inst: &Instance) -> Result<(), Unwind> {
    match epoch::safe_point() {
        SafePoint::Continue => Ok(()),
        SafePoint::TimedOut => Err(wasm_trap(trap::TIMED_OUT)),
        SafePoint::Cancelled => inst
            .store
            .raise::<()>(
                crate::cont::TrapKind::Cancelled,
                "the preempted continuation was dropped",
            )
            .map_err(Unwind::trap),
    }
}

/// Calls function `func` of `inst` with its params at `th.stack[fp..]`;
/// its results are left at `th.stack[fp..]`.
///
/// The whole call, every case: the entry from outside the interpreter (an
/// export's call, a continuation's start), and a call op's way when its
/// fast path ([`enter`]) does not apply. A tail call (`return_call` and
/// its kin) does not nest: its op leaves the callee in the thread and
/// this loop runs it in the same native frame, so a chain of tail calls
/// of any length runs in constant stack, as the specification requires.
#[inline(never)]
pub(crate) fn call(
    mut inst: &Instance,
    th: &mut Thread,
    mut func: u32,
    fp: usize,
) -> Result<(), Unwind> {
    loop {
        if native_sp() < th.floor {
            return Err(wasm_trap(trap::STACK_EXHAUSTED));
        }
        if epoch::safe_point_due() {
            safe_point(inst)?;
        }
        let def = &inst.module.funcs[func as usize];
        if let Some(h) = def.host {
            return host_call(inst, h, th, fp);
        }
        if def.linked {
            (inst, func) = linked(inst, func)?;
            continue;
        }
        let code = &def.code;
        let need = fp + code.frame_size as usize + SLACK;
        if th.stack.len() < need {
            grow(th, need)?;
        }
        run(inst, th, code, fp)?;
        if th.tail == NO_TAIL {
            return Ok(());
        }
        (inst, func) = take_tail(inst, th)?;
    }
}

/// A call op's call: the common case (an interpreted function of a frame
/// that fits, no safe point due) inline, everything else through
/// [`call`]. Inlined into every call op, whose native frame is what one
/// level of Wasm recursion costs: what needs memory of its own is out of
/// line.
#[inline(always)]
fn enter(inst: &Instance, th: &mut Thread, func: u32, fp: usize) -> Result<(), Unwind> {
    let def = &inst.module.funcs[func as usize];
    if native_sp() < th.floor || epoch::safe_point_due() || def.host.is_some() || def.linked {
        return call(inst, th, func, fp);
    }
    let code = &def.code;
    let need = fp + code.frame_size as usize + SLACK;
    if th.stack.len() < need {
        grow(th, need)?;
    }
    run(inst, th, code, fp)?;
    if th.tail != NO_TAIL {
        return call_tail(inst, th, fp);
    }
    Ok(())
}

/// Runs `code` in a frame at `fp` whose slots the stack has (`fp +
/// frame_size + SLACK` of them): its declared locals zeroed, then its
/// first op, whose handler runs the rest (`dispatch`).
#[inline(always)]
fn run(inst: &Instance, th: &mut Thread, code: &Code, fp: usize) -> Result<(), Unwind> {
    debug_assert!(th.stack.len() >= fp + code.frame_size as usize + SLACK);
    let base = th.stack.as_mut_ptr();
    // SAFETY: the frame's slots are in the stack (the caller made sure),
    // and `nparams <= nlocals <= frame_size`.
    let (frame, top) = unsafe { (base.add(fp), base.add(fp + code.nlocals as usize)) };
    if code.nlocals > code.nparams {
        // SAFETY: the declared locals' slots, inside the frame (above).
        unsafe {
            let locals = frame.add(code.nparams as usize);
            core::ptr::write_bytes(locals, 0, (code.nlocals - code.nparams) as usize);
        }
    }
    let first = code.entries.as_ptr();
    // SAFETY: every function's entries end with a `Return`, so there is a
    // first one; its handler runs under the frame invariant `dispatch`
    // states, which the frame above meets.
    unsafe { ((*first).run)(inst, th, code, first, top, frame) }
}

/// The callee a tail call left in the thread, run through [`call`].
#[cold]
#[inline(never)]
fn call_tail(inst: &Instance, th: &mut Thread, fp: usize) -> Result<(), Unwind> {
    let (inst, func) = take_tail(inst, th)?;
    call(inst, th, func, fp)
}

/// The callee a tail call of code in `inst` left in the thread, taken out
/// of it: its instance (`inst`, or one it links to) and its index.
#[inline(always)]
fn take_tail<'i>(inst: &'i Instance, th: &mut Thread) -> Result<(&'i Instance, u32), Unwind> {
    let func = core::mem::replace(&mut th.tail, NO_TAIL);
    if th.tail_instance == inst.id {
        return Ok((inst, func));
    }
    let owner = inst
        .resolve(th.tail_instance)
        .ok_or_else(|| wasm_trap(trap::FOREIGN_REFERENCE))?;
    Ok((owner, func))
}

/// Makes the thread's stack at least `need` slots long (twice as long as
/// it was, if that is more: a recursion going deeper grows it a few
/// times, not at every level), or the trap "call stack exhausted" if the
/// heap has no room.
#[cold]
#[inline(never)]
fn grow(th: &mut Thread, need: usize) -> Result<(), Unwind> {
    let len = need.max(th.stack.len() * 2);
    if th.stack.try_reserve_exact(len - th.stack.len()).is_err() {
        // Not twice: only what this frame needs.
        if th.stack.try_reserve_exact(need - th.stack.len()).is_err() {
            return Err(wasm_trap(trap::STACK_EXHAUSTED));
        }
        th.stack.resize(need, ValRaw::ZERO);
        return Ok(());
    }
    th.stack.resize(len, ValRaw::ZERO);
    Ok(())
}

/// A call of a host function: a `spectest` one prints its line, a WASI
/// one leaves its errno (if it returns) where its params were. Out of
/// line, so that its work does not grow the frame of every interpreted
/// call.
#[cold]
#[inline(never)]
fn host_call(inst: &Instance, h: HostFunc, th: &mut Thread, fp: usize) -> Result<(), Unwind> {
    let HostFunc::Wasi(w) = h else {
        inst.print(&h.line(&th.stack[fp..fp + h.params().len()]));
        return Ok(());
    };
    let errno = wasi::call(inst, w, &th.stack[fp..])?;
    if th.stack.len() <= fp {
        // Only an `invoke` of an exported import of no params gets here.
        th.stack.resize(fp + 1, ValRaw::ZERO);
    }
    th.stack[fp] = ValRaw::from_i32(errno);
    Ok(())
}

#[cold]
#[inline(never)]
/// Where an exception raised by op `at` is caught in this function: the
/// catch clause's branch taken (payload, and the reference for
/// `catch_ref`, at the label's place); or the exception back if no
/// `try_table` around `at` catches it.
fn catch(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    at: u32,
    exn: Box<Exn>,
) -> Result<(usize, usize), Unwind> {
    for region in code.tries.iter().filter(|r| r.start <= at && at < r.end) {
        for c in &region.catches {
            if c.tag.is_some_and(|t| inst.tags[t as usize] != exn.tag) {
                continue;
            }
            let t = code.targets[c.target as usize];
            let mut at = fp + t.dst as usize;
            if c.tag.is_some() {
                th.stack[at..at + exn.payload.len()].copy_from_slice(&exn.payload);
                at += exn.payload.len();
            }
            if c.with_ref {
                let mut exns = trap::shared_mut(&inst.exns)?;
                if exns.try_reserve(1).is_err() {
                    return Err(wasm_trap(trap::OUT_OF_MEMORY));
                }
                exns.push(*exn);
                th.stack[at] = ValRaw::from_ref(exns.len(), ref_word(inst.id, EXN_REF));
            }
            return Ok((t.to as usize, fp + t.dst as usize + t.n as usize));
        }
    }
    Err(Unwind::Exn(exn))
}
