//! The entry into a guest: the Rust half of the start trampoline, the first
//! code that runs on a fresh continuation stack.
//!
//! It runs the guest function through the array call ([`super::call`]) over
//! the args buffer and tells the trampoline which effect to send back to the
//! parent: *return* when the guest returned, or *trap*, with the reason in
//! the effect's kind, when it reported failure or returned holding a
//! kernel lock. The machine knows nothing of the store that made the
//! continuation: it signals the trap through the effect word it writes
//! anyway, and the `resume` that receives it (one floor up) makes the trap.

use super::call::{FuncRecord, VMContext};
use super::stack::ArgsObject;
use super::switch::ControlEffect;

/// Runs the function of a fresh continuation and returns the effect the
/// start trampoline sends to the parent (in RAX, which the trampoline moves
/// to RDI): [`ControlEffect::RETURN`] with the results in the args buffer
/// (`args.length` set to their count), [`ControlEffect::GUEST_FAILED`] if
/// the array call returned `false`, or
/// [`ControlEffect::RETURNED_HOLDING_LOCK`] if the guest returned with a
/// kernel lock still taken (a guard it forgot: ending the continuation
/// would leave the lock held by code that is gone).
///
/// # Safety
/// Only the start trampoline calls this, with the launch words written by
/// [`super::stack::ContStack::initialize`]: the function record and the args
/// object of the continuation, alive while it runs, whose buffer holds
/// `capacity` slots.
pub(crate) unsafe extern "C" fn enter_guest(
    return_value_count: usize,
    args: *mut ArgsObject,
    caller_vmctx: *mut VMContext,
    func_ref: *const FuncRecord,
) -> u64 {
    // SAFETY: per the contract, the record and the args object are live.
    unsafe {
        let f = &*func_ref;
        if !(f.array_call)(
            f.callee_vmctx,
            caller_vmctx,
            (*args).data,
            (*args).capacity as usize,
        ) {
            return ControlEffect::GUEST_FAILED.0;
        }
        if crate::sync::held() != 0 {
            return ControlEffect::RETURNED_HOLDING_LOCK.0;
        }
        (*args).length = return_value_count as u32;
    }
    ControlEffect::RETURN.0
}
