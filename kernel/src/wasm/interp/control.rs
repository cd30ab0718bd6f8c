//! The handlers of control: jumps and branches (each taken branch a safe
//! point), calls and returns, exceptions, and the stack-switching
//! instructions, which call the runtime's continuations.
//!
//! A call op inlines [`super::enter`]: the callee's first handler is
//! called from the call op's own frame, which holds, while the callee
//! runs, the six words it needs after: the instance, the thread, the code,
//! the entry, and the frame and the results' place as indices (the
//! callee may move the value stack). Measured with `./qemu-run.sh run
//! examples/wasi/deep.wat`: see `docs/wasm.md`, "Native stack per call".

use super::super::callee::{indirect, tail};
use super::super::code::{Code, Op};
use super::super::instance::Instance;
use super::super::switching;
use super::super::trap::{self, Exn, Unwind, wasm_trap};
use super::dispatch::{
    Entry, at, go, idx, int_op, jump_target, local, next, op_handler, operands, pop,
};
use super::refs::typed_func_of;
use super::{Thread, catch, enter, exn_of, safe_point};
use crate::cont::ValRaw;
use crate::cont::runtime::epoch;
use alloc::boxed::Box;

/// Jumps to entry `$to`, after the safe point (module docs of `interp`):
/// if its flag is up, through [`pause`], by a tail call too, so that the
/// branch's handler makes no call and needs no frame of its own.
macro_rules! goto {
    ($inst:ident, $th:ident, $code:ident, $to:expr, $sp:ident, $fp:ident) => {{
        let to: *const Entry = $to;
        if epoch::safe_point_due() {
            become pause($inst, $th, $code, to, $sp, $fp)
        }
        go!($inst, $th, $code, to, $sp, $fp)
    }};
}

op_handler! {
    /// Not an op's handler: a taken branch whose safe point's flag was up
    /// comes here on its way to its target `pc`. Preempted and resumed
    /// here, or nothing to do, it goes on; cancelled or past its
    /// deadline, the call ends. Never inlined: its call of the safe point
    /// would give the branch's handler a frame.
    #[inline(never)]
    fn pause(inst, th, code, pc, sp, fp) {
        safe_point(inst)?;
        go!(inst, th, code, pc, sp, fp)
    }
}

/// Takes branch target `$t`: its values moved down to the label's place,
/// then [`goto!`].
macro_rules! take {
    ($inst:ident, $th:ident, $code:ident, $t:expr, $sp:ident, $fp:ident) => {{
        let i = $t as usize;
        debug_assert!(i < $code.targets.len());
        // Translate gives every branch op the index of a target it pushed.
        let t = *$code.targets.get_unchecked(i);
        let (dst, n) = ($fp.add(t.dst as usize), t.n as usize);
        if $sp.sub(n) != dst {
            for k in 0..n {
                *dst.add(k) = *$sp.sub(n).add(k);
            }
        }
        $sp = dst.add(n);
        goto!(
            $inst,
            $th,
            $code,
            $code.entries.as_ptr().add(t.to as usize),
            $sp,
            $fp
        )
    }};
}

/// Goes on after an op that called out with the thread and may have
/// raised an exception: `$r` is its result, `$fp_i` the frame's index.
/// The value stack's pointers are rebuilt; an exception goes to
/// [`caught`], in this frame's place.
macro_rules! then {
    ($inst:ident, $th:ident, $code:ident, $pc:ident, $fp_i:ident, $r:expr, |$v:pat_param| $top:expr) => {
        match $r {
            Ok($v) => {
                let sp = at!($th, $top);
                let fp = at!($th, $fp_i);
                next!($inst, $th, $code, $pc, sp, fp)
            }
            Err(Unwind::Exn(exn)) => {
                $th.exn = Some(exn);
                let fp = at!($th, $fp_i);
                become caught($inst, $th, $code, $pc, fp, fp)
            }
            Err(t) => return Err(t),
        }
    };
}

op_handler! {
    /// Not an op's handler: where an exception raised by the op at `pc`
    /// (left in `th.exn`) goes, by a tail call from that op's handler, so
    /// that a loop catching exceptions runs in constant native stack. The
    /// `catch` clause's branch is taken if a `try_table` around the op
    /// has one that matches, else the exception travels on.
    #[inline(never)]
    fn caught(inst, th, code, pc, sp, fp) {
        // Cold: a check costs nothing here, where a broken invariant
        // would otherwise be undefined behaviour.
        let Some(exn) = th.exn.take() else {
            unreachable!("`caught` entered with no exception in the thread")
        };
        let fp_i = idx!(th, fp);
        let at_op = pc.offset_from(code.entries.as_ptr()) as u32;
        let (to, top) = catch(inst, th, code, fp_i, at_op, exn)?;
        let sp = at!(th, top);
        go!(inst, th, code, code.entries.as_ptr().add(to), sp, fp)
    }
}

/// A call of function `$f` of `$owner`, its params the top `nparams`
/// operands: [`enter`] inlined, then the next op. While the callee runs,
/// the frame's index and the results' top are kept in one word (both are
/// far below 2^32), so that the handler's live values fit the registers
/// a call preserves and its native frame stays small.
macro_rules! call_op {
    ($inst:ident, $th:ident, $code:ident, $pc:ident, $sp:ident, $fp:ident, $owner:expr, $f:expr) => {{
        let (owner, f): (&Instance, u32) = ($owner, $f);
        let callee = &owner.module.funcs[f as usize].code;
        let at_i = idx!($th, $sp.sub(callee.nparams as usize));
        let back = (idx!($th, $fp) << 32) | (at_i + callee.nresults as usize);
        let r = enter(owner, $th, f, at_i);
        let (fp_i, top) = (back >> 32, back & 0xffff_ffff);
        then!($inst, $th, $code, $pc, fp_i, r, |()| top)
    }};
}

op_handler! {
    fn unreachable(inst, th, code, pc, sp, fp) {
        return Err(wasm_trap(trap::UNREACHABLE));
    }
}

op_handler! {
    fn jump(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Jump(to));
        go!(inst, th, code, jump_target!(code, to), sp, fp)
    }
}

op_handler! {
    fn jump_if_zero(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::JumpIfZero(to));
        if pop!(sp).i32() == 0 {
            go!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn jump_if_non_zero(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::JumpIfNonZero(to));
        if pop!(sp).i32() != 0 {
            go!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn jump_unless_ll<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::JumpUnlessLL { a, b, to, .. });
        let op = int_op!(O);
        if op.eval_u64(local!(fp, a).i64() as u64, local!(fp, b).i64() as u64) == 0 {
            go!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn jump_unless_li<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::JumpUnlessLI { a, c, to, .. });
        let op = int_op!(O);
        if op.eval_u64(local!(fp, a).i64() as u64, c as i64 as u64) == 0 {
            go!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn goto(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Goto(to));
        goto!(inst, th, code, jump_target!(code, to), sp, fp)
    }
}

op_handler! {
    fn goto_if(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::GotoIf(to));
        if pop!(sp).i32() != 0 {
            goto!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn goto_if_ll<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::GotoIfLL { a, b, to, .. });
        let op = int_op!(O);
        if op.eval_u64(local!(fp, a).i64() as u64, local!(fp, b).i64() as u64) != 0 {
            goto!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn goto_if_li<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::GotoIfLI { a, c, to, .. });
        let op = int_op!(O);
        if op.eval_u64(local!(fp, a).i64() as u64, c as i64 as u64) != 0 {
            goto!(inst, th, code, jump_target!(code, to), sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn br(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Br(t));
        take!(inst, th, code, t, sp, fp)
    }
}

op_handler! {
    fn br_if(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::BrIf(t));
        if pop!(sp).i32() != 0 {
            take!(inst, th, code, t, sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn br_if_ll<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::BrIfLL { a, b, t, .. });
        let op = int_op!(O);
        if op.eval_u64(local!(fp, a).i64() as u64, local!(fp, b).i64() as u64) != 0 {
            take!(inst, th, code, t, sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn br_if_li<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::BrIfLI { a, c, t, .. });
        let op = int_op!(O);
        if op.eval_u64(local!(fp, a).i64() as u64, c as i64 as u64) != 0 {
            take!(inst, th, code, t, sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn br_table(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::BrTable { first, len });
        let i = (pop!(sp).i32() as u32).min(len);
        take!(inst, th, code, first + i, sp, fp)
    }
}

op_handler! {
    fn br_on_null(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::BrOnNull(t));
        if *sp.sub(1) == ValRaw::ZERO {
            sp = sp.sub(1);
            take!(inst, th, code, t, sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn br_on_non_null(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::BrOnNonNull(t));
        if *sp.sub(1) != ValRaw::ZERO {
            take!(inst, th, code, t, sp, fp)
        }
        sp = sp.sub(1);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    /// The function's results moved down to its frame's first slots.
    fn ret(inst, th, code, pc, sp, fp) {
        let n = code.nresults as usize;
        if n == 1 {
            *fp = *sp.sub(1); // the common case, no loop
        } else if sp.sub(n) != fp {
            for k in 0..n {
                *fp.add(k) = *sp.sub(n).add(k);
            }
        }
        return Ok(());
    }
}

op_handler! {
    fn call(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Call(f));
        call_op!(inst, th, code, pc, sp, fp, inst, f)
    }
}

op_handler! {
    fn call_indirect(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::CallIndirect { ty, table });
        let (owner, f) = indirect(inst, table, ty, pop!(sp))?;
        call_op!(inst, th, code, pc, sp, fp, owner, f)
    }
}

op_handler! {
    fn call_ref(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::CallRef(ty));
        let (owner, f) = typed_func_of(inst, pop!(sp), ty)?;
        call_op!(inst, th, code, pc, sp, fp, owner, f)
    }
}

/// A tail call: the callee's params moved down to this frame's first
/// slots and the callee left in the thread for [`enter`] to run in its
/// place.
macro_rules! tail_call {
    ($th:ident, $sp:ident, $fp:ident, $owner:expr, $f:expr) => {{
        let (fp_i, sp_i) = (idx!($th, $fp), idx!($th, $sp));
        tail($owner, $f, $th, fp_i, sp_i);
        return Ok(());
    }};
}

op_handler! {
    fn return_call(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::ReturnCall(f));
        tail_call!(th, sp, fp, inst, f)
    }
}

op_handler! {
    fn return_call_indirect(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::ReturnCallIndirect { ty, table });
        let (owner, f) = indirect(inst, table, ty, pop!(sp))?;
        tail_call!(th, sp, fp, owner, f)
    }
}

op_handler! {
    fn return_call_ref(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::ReturnCallRef(ty));
        let (owner, f) = typed_func_of(inst, pop!(sp), ty)?;
        tail_call!(th, sp, fp, owner, f)
    }
}

op_handler! {
    fn throw(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Throw(tag));
        let tag = inst.tags[tag as usize];
        let n = tag.params().len();
        sp = sp.sub(n);
        let payload = core::slice::from_raw_parts(sp, n).to_vec();
        let fp_i = idx!(th, fp);
        then!(inst, th, code, pc, fp_i, Err::<(), _>(Unwind::exn(Exn { tag, payload })), |()| 0)
    }
}

op_handler! {
    fn throw_ref(inst, th, code, pc, sp, fp) {
        let exn = exn_of(inst, pop!(sp))?;
        let fp_i = idx!(th, fp);
        then!(inst, th, code, pc, fp_i, Err::<(), _>(Unwind::Exn(Box::new(exn))), |()| 0)
    }
}

op_handler! {
    fn cont_new(inst, th, code, pc, sp, fp) {
        let v = *sp.sub(1);
        *sp.sub(1) = switching::cont_new(inst, v)?;
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn cont_bind(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::ContBind { from, to });
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        let top = switching::cont_bind(inst, &mut th.stack, sp_i, from, to)?;
        let (sp, fp) = (at!(th, top), at!(th, fp_i));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn suspend(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Suspend(tag));
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        let r = switching::suspend(inst, &mut th.stack, sp_i, tag);
        then!(inst, th, code, pc, fp_i, r, |top| top)
    }
}

op_handler! {
    fn switch(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Switch { ty, tag });
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        let r = switching::switch(inst, &mut th.stack, sp_i, ty, tag);
        then!(inst, th, code, pc, fp_i, r, |top| top)
    }
}

/// Goes on after a resume: at the handler's label if the continuation
/// suspended to one, else at the next op.
macro_rules! resumed {
    ($inst:ident, $th:ident, $code:ident, $pc:ident, $fp_i:ident, $r:expr) => {{
        let r: Result<(Option<usize>, usize), Unwind> = $r;
        if let Ok((Some(to), top)) = r {
            let (sp, fp) = (at!($th, top), at!($th, $fp_i));
            go!($inst, $th, $code, $code.entries.as_ptr().add(to), sp, fp)
        }
        then!($inst, $th, $code, $pc, $fp_i, r, |(_, top)| top)
    }};
}

op_handler! {
    fn resume(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Resume { ty, table });
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        resumed!(inst, th, code, pc, fp_i, switching::resume(inst, th, code, fp_i, sp_i, ty, table))
    }
}

op_handler! {
    fn resume_throw(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::ResumeThrow { ty, tag, table });
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        let r = switching::resume_throw(inst, th, code, fp_i, sp_i, ty, tag, table);
        resumed!(inst, th, code, pc, fp_i, r)
    }
}

op_handler! {
    fn resume_throw_ref(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::ResumeThrowRef { ty, table });
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        let r = switching::resume_throw_ref(inst, th, code, fp_i, sp_i, ty, table);
        resumed!(inst, th, code, pc, fp_i, r)
    }
}
