//! Reading reference slots: the function a `funcref` names and the
//! exception an `exnref` names, each checked against the instance that
//! reads it.
//!
//! Apart from the handlers (`control.rs`) because every caller is cold: a
//! `call_ref`, `return_call_ref`, a table's `call_indirect` once resolved,
//! a `throw_ref`. A slot of another instance or kind traps; so does null.

use crate::cont::ValRaw;
use crate::wasm::instance::Instance;
use crate::wasm::trap::{self, Exn, Unwind, wasm_trap};
use crate::wasm::val::{EXN_REF, FUNC_REF, ref_word};

/// The instance and function index a `funcref` slot names (a null one
/// traps, and so does one of another kind, or of an instance outside this
/// one's linker).
#[inline(never)]
pub(crate) fn func_of(inst: &Instance, v: ValRaw) -> Result<(&Instance, u32), Unwind> {
    let (index, word) = v.reference();
    if index == 0 {
        return Err(wasm_trap(trap::NULL_FUNCTION));
    }
    let owner = if word == ref_word(inst.id, FUNC_REF) {
        Some(inst)
    } else if word & 3 == FUNC_REF {
        inst.resolve(word >> 2)
    } else {
        None
    };
    match owner {
        Some(o) if index <= o.module.funcs.len() => Ok((o, index as u32 - 1)),
        _ => Err(wasm_trap(trap::FOREIGN_REFERENCE)),
    }
}

/// The instance and function index a `funcref` slot names, as
/// [`func_of`], for a `call_ref $ty` or `return_call_ref $ty`: a
/// function whose params and results are not those of type `ty` traps.
/// Validation types the slot, but a host passing a reference in
/// (`Val::Ref`) is checked only for its kind, so a function of another
/// type could come this far; called, it would take and leave other
/// counts of values than the caller's frame was laid out for.
#[inline(never)]
pub(crate) fn typed_func_of(
    inst: &Instance,
    v: ValRaw,
    ty: u32,
) -> Result<(&Instance, u32), Unwind> {
    let (owner, f) = func_of(inst, v)?;
    if owner.module.funcs[f as usize].sig != inst.module.sigs[ty as usize] {
        return Err(wasm_trap(trap::FUNCTION_TYPE_MISMATCH));
    }
    Ok((owner, f))
}

/// The exception an `exnref` slot names (a null one traps, and so does
/// one of another instance or kind).
#[cold]
#[inline(never)]
pub(crate) fn exn_of(inst: &Instance, v: ValRaw) -> Result<Exn, Unwind> {
    let (index, word) = v.reference();
    if index == 0 {
        return Err(wasm_trap(trap::NULL_EXCEPTION));
    }
    let owner = match inst.resolve(word >> 2) {
        Some(o) if word & 3 == EXN_REF => o,
        _ => return Err(wasm_trap(trap::FOREIGN_REFERENCE)),
    };
    let exns = trap::shared(&owner.exns)?;
    match exns.get(index - 1) {
        Some(e) => Ok(e.clone()),
        None => Err(wasm_trap(trap::FOREIGN_REFERENCE)),
    }
}
