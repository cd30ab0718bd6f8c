//! The stack-switching instructions, each one call of the runtime's
//! dynamic door (`Store::*_raw`, `cont_new`): the interpreter only moves
//! values between its value stack and the runtime's slots.
//!
//! | Wasm                         | runtime                                  |
//! |------------------------------|------------------------------------------|
//! | `cont.new $ct`               | `Store::cont_new` of the function's `Func` (array call: the interpreter's `interpreter_array_call`) |
//! | `cont.bind $ct1 $ct2`        | `Store::bind_raw`                        |
//! | `resume $ct (on ...)*`       | `Store::resume_raw` with the instance's handler list for this site |
//! | `resume_throw $ct $tag (on ...)*` | `Store::resume_throw_raw`           |
//! | `resume_throw_ref $ct (on ...)*` | the same, with the tag and payload of the exception referenced |
//! | `suspend $tag`               | `Store::suspend_raw`                     |
//! | `switch $ct $tag`            | `Store::switch_raw`                      |
//!
//! A `resume` that comes back `Suspended { handler: i, cont }` takes clause
//! `i`'s branch with the payload (`Store::payload_raw`) and `cont` as the
//! label's values. A trap the runtime raises comes back as the runtime's
//! `Trap` (its kind kept; see `trap::reason` for the Wasm words), an
//! exception that left the continuation becomes a Wasm exception again.
//!
//! Every slot the runtime is handed with type `ContRef` holds a handle the
//! runtime made, or null: the interpreter only ever stores handles it got
//! from the runtime, validation guarantees that a slot typed as a
//! continuation reference holds one, and a host cannot pass one in that it
//! did not get out (`Val::Ref` is opaque and typed). That is the promise
//! the raw door's `unsafe` asks for.
//!
//! That promise holds only for the interpreter's own value stack, so this
//! module is crate-private, as are the stack ([`Thread`]) and
//! [`interp::call`](super::interp): public, they let safe code outside
//! hand the raw door a slot it filled itself, a "handle" with a real
//! store id and a pointer of its choosing, which the runtime follows.
//!
//! ```compile_fail,E0603
//! // A guest cannot pass a slot of its own making as a continuation.
//! use kernel::cont::{ValRaw, WasmValue};
//! fn forge(inst: &kernel::wasm::Instance, k: kernel::cont::dynamic::ContObj) {
//!     let (_, revision) = k.to_raw().reference();
//!     let mut slots = [ValRaw::from_ref(0xdead_0000, revision)];
//!     let _ = kernel::wasm::switching::cont_bind(inst, &mut slots, 1, 1, 1);
//! }
//! ```
//!
//! ```compile_fail,E0603
//! // Nor call the interpreter at a frame pointer of its choosing, where
//! // `fp + frame_size` wraps and the frame lands before the stack.
//! fn call(inst: &kernel::wasm::Instance, th: &mut kernel::wasm::interp::Thread) {
//!     let _ = kernel::wasm::interp::call(inst, th, 0, usize::MAX - 3);
//! }
//! ```

use super::code::Code;
use super::instance::Instance;
use super::interp::{Thread, exn_of, func_of};
use super::trap::{self, Unwind, wasm_trap};
use crate::cont::dynamic::ContObj;
use crate::cont::raw;
use crate::cont::{ValRaw, WasmValue};

/// The continuation a slot holds.
fn cont_of(v: ValRaw) -> ContObj {
    // SAFETY: only called on slots validation types as continuation
    // references, which hold runtime-made handles or null (module docs).
    unsafe { ContObj::from_raw(v) }
}

/// `cont.new`: a continuation that will run the function `f` names.
#[inline(never)]
pub fn cont_new(inst: &Instance, f: ValRaw) -> Result<ValRaw, Unwind> {
    let (owner, index) = func_of(inst, f)?;
    let func = owner.funcs[index as usize]
        .ok_or_else(|| wasm_trap("function has more results than a continuation holds"))?;
    let k = inst.store.cont_new(func).map_err(Unwind::trap)?;
    Ok(k.to_raw())
}

/// `cont.bind $from $to` over `stack[..sp]`; returns the new top.
#[inline(never)]
pub fn cont_bind(
    inst: &Instance,
    stack: &mut [ValRaw],
    sp: usize,
    from: u32,
    to: u32,
) -> Result<usize, Unwind> {
    let have = inst.module.sigs[from as usize].params;
    let left = inst.module.sigs[to as usize].params.len();
    let n = have.len() - left;
    let k = cont_of(stack[sp - 1]);
    let args = sp - 1 - n;
    // SAFETY: the argument slots hold values of `have[..n]` (validated).
    let bound = unsafe { inst.store.bind_raw(k, &stack[args..sp - 1], &have[..n]) }
        .map_err(Unwind::trap)?;
    stack[args] = bound.to_raw();
    Ok(args + 1)
}

/// `suspend $tag`: the payload from `stack[..sp]`, the values the next
/// resume sends pushed in its place; returns the new top.
///
/// The values sent back land in the slack above `sp` (every frame has
/// [`crate::cont::MAX_VALUES`] free slots above its deepest operand, see
/// `interp::SLACK`) and move down a few slots: no scratch array to clear.
/// Inlined into its op's handler, its one caller, as are [`resume`] and
/// [`switch`]: a handler of its own, with no other op's code, gains
/// nothing from the call, which cost the interpreted round trip about a
/// hundred instructions of saved and restored registers.
///
/// Its slots are reached by pointer, with no bounds check: what the
/// checks would test, validation proved (below), and each check was
/// three or four instructions of the round trip.
///
/// # Safety
/// `tag` is the op's (validated), `sp` the top of its operands in
/// `stack`, the value stack of the running frame (the frame invariant
/// of `interp::dispatch`).
#[inline(always)]
pub unsafe fn suspend(
    inst: &Instance,
    stack: &mut [ValRaw],
    sp: usize,
    tag: u32,
) -> Result<usize, Unwind> {
    // SAFETY: validation proved `tag` one of the module's tags (one
    // runtime tag each in `inst.tags`) and the tag's params the top
    // operands below `sp`, which is inside `stack` (the frame invariant
    // of `interp::dispatch`); `sp..` is the rest of the stack, at least
    // `SLACK` slots.
    unsafe {
        let tag = *inst.tags.get_unchecked(tag as usize);
        let at = sp - tag.params().len();
        let base = stack.as_mut_ptr();
        let payload = core::slice::from_raw_parts(base.add(at), sp - at);
        let above = core::slice::from_raw_parts_mut(base.add(sp), stack.len() - sp);
        // The payload slots hold values of the tag's params.
        let n = inst
            .store
            .suspend_raw(tag, payload, above)
            .map_err(|t| inst.unwind_of(t))?
            .len();
        move_down(base, sp, at, n);
        Ok(at + n)
    }
}

/// Moves `n` slots of the stack at `base` from `from` down to `to` (`to
/// <= from`, so a forward copy is right even where the two overlap). The
/// counts are a value or two: a loop, not a call of `memmove`.
///
/// # Safety
/// The `n` slots from each of `from` and `to` are in the stack.
#[inline(always)]
unsafe fn move_down(base: *mut ValRaw, from: usize, to: usize, n: usize) {
    debug_assert!(to <= from);
    for k in 0..n {
        // SAFETY: the caller's promise.
        unsafe { *base.add(to + k) = *base.add(from + k) };
    }
}

/// `switch $ct $tag`: the target and its args from `stack[..sp]`, the
/// values this continuation is later sent pushed in their place (by way
/// of the slack above `sp`, as for [`suspend`]).
///
/// # Safety
/// As for [`suspend`], and `ty` is the op's (validated).
#[inline(always)]
pub unsafe fn switch(
    inst: &Instance,
    stack: &mut [ValRaw],
    sp: usize,
    ty: u32,
    tag: u32,
) -> Result<usize, Unwind> {
    // SAFETY: validation proved `tag` one of the module's tags, `ty` a
    // continuation type (one `Sig` and one switch-return list per type)
    // whose function takes the continuation switched from last, so at
    // least one param, and the target and its other args the top
    // operands below `sp`; `sp..` is the rest of the stack, at least
    // `SLACK` slots, where the switch writes what this continuation is
    // later sent.
    unsafe {
        let tag = *inst.tags.get_unchecked(tag as usize);
        let params = inst.module.sigs.get_unchecked(ty as usize).params;
        let n = params.len() - 1;
        let ret = *inst.module.switch_returns.get_unchecked(ty as usize);
        let base = stack.as_mut_ptr();
        let target = cont_of(*base.add(sp - 1));
        let at = sp - 1 - n;
        let args = core::slice::from_raw_parts(base.add(at), n);
        let above = core::slice::from_raw_parts_mut(base.add(sp), stack.len() - sp);
        // The argument slots hold values of `params[..n]`.
        inst.store
            .switch_raw(target, tag, args, params.get_unchecked(..n), ret, above)
            .map_err(|t| inst.unwind_of(t))?;
        move_down(base, sp, at, ret.len());
        Ok(at + ret.len())
    }
}

/// What a resume's outcome does to the interpreter: the results pushed
/// (no jump), or a handler's branch taken (jump to the op, new top).
type Outcome = (Option<usize>, usize);

/// The outcome of a raw resume whose arguments started at `at` and whose
/// results, if the function returned, the runtime wrote at `from` (the
/// slack above the operands). A function that returned results of other
/// types than those of continuation type `ty` traps: validation types
/// the continuation, but a host passing one in (`Val::Ref`) is checked
/// only for its kind, and the runtime checks a resume's arguments only,
/// so a continuation of another type could come this far; its results
/// pushed, the operand stack would be off the height validation proved.
///
/// # Safety
/// `table` is the op's resume table (an index the translator made), `ty`
/// its continuation type (validated), and
/// `fp`, `at` and `from` are the frame, the arguments' first slot and
/// the top of the resuming op's operands in `th.stack` (the frame
/// invariant of `interp::dispatch`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn outcome(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    at: usize,
    from: usize,
    table: u32,
    ty: u32,
    r: raw::Resumed,
) -> Result<Outcome, Unwind> {
    let base = th.stack.as_mut_ptr();
    match r {
        raw::Resumed::Returned(types) => {
            // SAFETY: `ty` is the op's continuation type (validated).
            let expect = unsafe { inst.module.sigs.get_unchecked(ty as usize).results };
            // Type lists are interned: the same list is the same slice.
            if !core::ptr::eq(types, expect) && types != expect {
                return Err(wasm_trap(trap::CONTINUATION_TYPE_MISMATCH));
            }
            // SAFETY: the runtime wrote the results (the continuation
            // type's, which fit the slack) at `from`, above `at`.
            unsafe { move_down(base, from, at, types.len()) };
            Ok((None, at + types.len()))
        }
        raw::Resumed::Suspended { handler, cont } => {
            // SAFETY: the runtime reports the index of a clause of the
            // handler list it was given, `inst.handlers[table]`, made one
            // for one from `resume_tables[table]`; a clause's target is
            // one the translator pushed to the function's targets; the
            // label's slots (`dst` and the `t.n` after it, the payload
            // and the continuation) are in the frame, the stack reaching
            // past them.
            unsafe {
                let clauses = inst.module.resume_tables.get_unchecked(table as usize);
                debug_assert!(handler < clauses.len());
                let clause = *clauses.get_unchecked(handler);
                let Some(target) = clause.target else {
                    // A switch clause is never reported as a suspension.
                    return Err(wasm_trap(trap::UNHANDLED));
                };
                let t = *code.targets.get_unchecked(target as usize);
                let dst = fp + t.dst as usize;
                let len = th.stack.len() - dst;
                let out = core::slice::from_raw_parts_mut(base.add(dst), len);
                let n = inst
                    .store
                    .payload_raw(cont, out)
                    .map_err(Unwind::trap)?
                    .len();
                *base.add(dst + n) = cont.to_raw();
                Ok((Some(t.to as usize), dst + t.n as usize))
            }
        }
    }
}

/// `resume $ct (on ...)*`, arguments and the continuation on top of the
/// stack at `sp`. Its slots are reached by pointer, as in [`suspend`].
///
/// # Safety
/// `ty` and `table` are the op's (validated, and made by the translator),
/// `fp` and `sp` its frame and the top of its operands in `th.stack`
/// (the frame invariant of `interp::dispatch`).
#[inline(always)]
pub unsafe fn resume(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    sp: usize,
    ty: u32,
    table: u32,
) -> Result<Outcome, Unwind> {
    // SAFETY: validation proved `ty` a continuation type of the module
    // (one `Sig` per type in `sigs`) and its params and the continuation
    // the top operands below `sp`; `table` indexes `inst.handlers` (one
    // list per resume table); `sp..` is the rest of the stack, at least
    // `SLACK` slots.
    unsafe {
        let params = inst.module.sigs.get_unchecked(ty as usize).params;
        let base = th.stack.as_mut_ptr();
        let k = cont_of(*base.add(sp - 1));
        let at = sp - 1 - params.len();
        let handlers = inst.handlers.get_unchecked(table as usize);
        let args = core::slice::from_raw_parts(base.add(at), params.len());
        let above = core::slice::from_raw_parts_mut(base.add(sp), th.stack.len() - sp);
        // The argument slots hold values of `params`.
        let r = inst
            .store
            .resume_raw(k, args, params, handlers, above)
            .map_err(|t| inst.unwind_of(t))?;
        outcome(inst, th, code, fp, at, sp, table, ty, r)
    }
}

/// `resume_throw $ct $tag (on ...)*`: the exception's payload and the
/// continuation on top of the stack at `sp`.
///
/// # Safety
/// As for [`resume`].
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub unsafe fn resume_throw(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    sp: usize,
    ty: u32,
    tag: u32,
    table: u32,
) -> Result<Outcome, Unwind> {
    let tag = inst.tags[tag as usize];
    let k = cont_of(th.stack[sp - 1]);
    let at = sp - 1 - tag.params().len();
    let handlers = &inst.handlers[table as usize];
    let (below, above) = th.stack.split_at_mut(sp);
    // SAFETY: the payload slots hold values of the tag's params.
    let r = unsafe {
        inst.store
            .resume_throw_raw(k, tag, &below[at..sp - 1], handlers, above)
    }
    .map_err(|t| inst.unwind_of(t))?;
    // SAFETY: the op's table, frame and operands (its handler's).
    unsafe { outcome(inst, th, code, fp, at, sp, table, ty, r) }
}

/// `resume_throw_ref $ct (on ...)*`: an exception reference and the
/// continuation on top of the stack at `sp`; the exception it names is
/// raised at the suspension point, as `resume_throw` raises a new one.
///
/// # Safety
/// As for [`resume`].
#[inline(never)]
pub unsafe fn resume_throw_ref(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    sp: usize,
    ty: u32,
    table: u32,
) -> Result<Outcome, Unwind> {
    let k = cont_of(th.stack[sp - 1]);
    let exn = exn_of(inst, th.stack[sp - 2])?;
    let at = sp - 2;
    let handlers = &inst.handlers[table as usize];
    // SAFETY: the payload slots were filled by a `throw` of this tag.
    let r = unsafe {
        inst.store
            .resume_throw_raw(k, exn.tag, &exn.payload, handlers, &mut th.stack[sp..])
    }
    .map_err(|t| inst.unwind_of(t))?;
    // SAFETY: the op's table, frame and operands (its handler's).
    unsafe { outcome(inst, th, code, fp, at, sp, table, ty, r) }
}
