//! How a call finds its callee, for the interpreter's call ops
//! ([`super::interp`]): a function imported from another instance, the
//! checked element of a `call_indirect`, and a tail call's callee with
//! its arguments moved down to the caller's frame.
//!
//! Why apart from the handlers: these are the cold or rarely taken parts
//! of a call, and the tail calls (`return_call` and its kin) need all
//! three; out of line they give the call ops' handlers no frame or text.

use super::instance::Instance;
use super::interp::{Thread, func_of};
use super::trap::{self, Unwind, wasm_trap};
use crate::cont::ValRaw;

/// [`Thread::tail`] when no tail call is pending.
pub(crate) const NO_TAIL: u32 = u32::MAX;

/// The function a function imported from another instance of the
/// linker is: that instance's, called on the same thread.
#[inline(never)]
pub(crate) fn linked(inst: &Instance, func: u32) -> Result<(&Instance, u32), Unwind> {
    inst.link(func)
        .ok_or_else(|| wasm_trap(trap::FOREIGN_REFERENCE))
}

/// The function a `call_indirect` (or `return_call_indirect`) of type
/// `ty` through `table` calls: the table's element at the index on top of
/// the stack, checked (in bounds, not null, of the type).
#[inline(never)]
pub(crate) fn indirect(
    inst: &Instance,
    table: u32,
    ty: u32,
    i: ValRaw,
) -> Result<(&Instance, u32), Unwind> {
    let i = match inst.module.tables[table as usize].table64 {
        true => i.i64() as u64 as usize,
        false => i.i32() as u32 as usize,
    };
    let v = trap::shared(&inst.tables[table as usize])?
        .get(i)
        .copied()
        .ok_or_else(|| wasm_trap(trap::UNDEFINED_ELEMENT))?;
    if v == ValRaw::ZERO {
        return Err(trap::uninitialized_element(i));
    }
    let (owner, f) = func_of(inst, v)?;
    let def = &owner.module.funcs[f as usize];
    let same = if core::ptr::eq(owner, inst) {
        def.type_id == inst.module.types.as_ref().core_type_at_in_module(ty)
    } else {
        // Type ids are per module: across instances the
        // signatures are compared.
        let want = inst.module.sigs[ty as usize];
        def.sig.params == want.params && def.sig.results == want.results
    };
    if !same {
        return Err(wasm_trap(trap::INDIRECT_TYPE_MISMATCH));
    }
    Ok((owner, f))
}

/// A tail call of `f` of `owner` from the frame at `fp`: its arguments,
/// the top of the stack below `sp`, moved down to the frame's start, and
/// the callee left in the thread for [`super::interp::call`] to run (the
/// instance by its id, resolved as a reference's is: no pointer kept).
#[inline(always)]
pub(crate) fn tail(owner: &Instance, f: u32, th: &mut Thread, fp: usize, sp: usize) {
    let n = owner.module.funcs[f as usize].code.nparams as usize;
    th.stack.copy_within(sp - n..sp, fp);
    th.tail = f;
    th.tail_instance = owner.id;
}
