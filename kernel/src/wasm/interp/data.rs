//! The handlers of data: locals and globals, constants, numbers, memory
//! and tables, references. Each ends with a tail call of the next op's
//! handler; most are leaves with no native frame.

use super::super::code::Code;
use super::super::code::Op;
use super::super::instance::{Instance, PAGE};
use super::super::num;
use super::super::trap::{self, Unwind, wasm_trap};
use super::Thread;
use super::dispatch::{
    Entry, access, at, go, idx, int_op, jump_target, local, next, offset, op_handler, operands,
    pop, push,
};
use super::memory;
use crate::cont::ValRaw;

op_handler! {
    fn drop(inst, th, code, pc, sp, fp) {
        sp = sp.sub(1);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn select(inst, th, code, pc, sp, fp) {
        let c = pop!(sp).i32();
        let b = pop!(sp);
        if c == 0 {
            *sp.sub(1) = b;
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn local_get(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::LocalGet(i));
        push!(sp, local!(fp, i));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn local_set(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::LocalSet(i));
        local!(fp, i) = pop!(sp);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn local_tee(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::LocalTee(i));
        local!(fp, i) = *sp.sub(1);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn global_get(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::GlobalGet(g));
        push!(sp, inst.globals[g as usize].get());
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn global_set(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::GlobalSet(g));
        inst.globals[g as usize].set(pop!(sp));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    /// The table instructions and the bulk memory ones, one handler: each
    /// is a call of `memory::tables_and_bulk_memory` over the stack.
    fn bulk(inst, th, code, pc, sp, fp) {
        let op = (*pc).op;
        let (sp_i, fp_i) = (idx!(th, sp), idx!(th, fp));
        let top = memory::tables_and_bulk_memory(inst, &mut th.stack, sp_i, op)?;
        let (sp, fp) = (at!(th, top), at!(th, fp_i));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn load<const A: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Load(_, offset));
        match memory::try_load(inst, access!(A), offset!(A, offset), *sp.sub(1)) {
            Some(v) => *sp.sub(1) = v,
            None => become access_fault(inst, th, code, pc, sp, fp),
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn store<const A: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Store(_, offset));
        if !memory::try_store(inst, access!(A), offset!(A, offset), *sp.sub(2), *sp.sub(1)) {
            become access_fault(inst, th, code, pc, sp, fp)
        }
        sp = sp.sub(2);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn load_l<const A: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::LoadL { offset, a, .. });
        match memory::try_load(inst, access!(A), offset!(A, offset), local!(fp, a)) {
            Some(v) => push!(sp, v),
            None => become access_fault(inst, th, code, pc, sp, fp),
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn store_li<const A: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::StoreLI { offset, a, c, .. });
        let v = ValRaw::from_i64(c as i64);
        if !memory::try_store(inst, access!(A), offset!(A, offset), local!(fp, a), v) {
            become access_fault(inst, th, code, pc, sp, fp)
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn jump_if_zero_l<const A: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::JumpIfZeroL { offset, a, to, .. });
        match memory::try_load(inst, access!(A), offset!(A, offset), local!(fp, a)) {
            Some(v) if v.i32() == 0 => go!(inst, th, code, jump_target!(code, to), sp, fp),
            Some(_) => {}
            None => become access_fault(inst, th, code, pc, sp, fp),
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn jump_if_non_zero_l<const A: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::JumpIfNonZeroL { offset, a, to, .. });
        match memory::try_load(inst, access!(A), offset!(A, offset), local!(fp, a)) {
            Some(v) if v.i32() != 0 => go!(inst, th, code, jump_target!(code, to), sp, fp),
            Some(_) => {}
            None => become access_fault(inst, th, code, pc, sp, fp),
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    /// Not an op's handler: a load or store whose common case failed (out
    /// of bounds, or the memory borrowed) comes here by a tail call, so
    /// that the handlers above make no call and need no frame. It makes
    /// the access again the long way, which gives the trap.
    #[inline(never)]
    fn access_fault(inst, th, code, pc, sp, fp) {
        match (*pc).op {
            Op::Load(acc, offset) => *sp.sub(1) = memory::load(inst, acc, offset, *sp.sub(1))?,
            Op::Store(acc, offset) => {
                let v = pop!(sp);
                let a = pop!(sp);
                memory::store(inst, acc, offset, a, v)?;
            }
            Op::LoadL { acc, offset, a } => push!(sp, memory::load(inst, acc, offset, local!(fp, a))?),
            Op::StoreLI { acc, offset, a, c } => {
                memory::store(inst, acc, offset, local!(fp, a), ValRaw::from_i64(c as i64))?
            }
            Op::JumpIfZeroL { acc, offset, a, to } => {
                if memory::load(inst, acc, offset, local!(fp, a))?.i32() == 0 {
                    go!(inst, th, code, jump_target!(code, to), sp, fp)
                }
            }
            Op::JumpIfNonZeroL { acc, offset, a, to } => {
                if memory::load(inst, acc, offset, local!(fp, a))?.i32() != 0 {
                    go!(inst, th, code, jump_target!(code, to), sp, fp)
                }
            }
            // Only the six handlers above come here (checked: this is
            // the cold path).
            other => unreachable!("`access_fault` entered from {other:?}"),
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn load_x(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::LoadX(i));
        *sp.sub(1) = memory::load_x(inst, &inst.module.memargs[i as usize], *sp.sub(1))?;
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn store_x(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::StoreX(i));
        let v = pop!(sp);
        let a = pop!(sp);
        memory::store_x(inst, &inst.module.memargs[i as usize], a, v)?;
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn memory_size(inst, th, code, pc, sp, fp) {
        push!(sp, ValRaw::from_i32((trap::shared(&inst.memory)?.len() / PAGE) as i32));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn i32_const(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::I32Const(v));
        push!(sp, ValRaw::from_i32(v));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn i64_const(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::I64Const(v));
        push!(sp, ValRaw::from_i64(v));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn f32_const(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::F32Const(v));
        push!(sp, ValRaw::from_v128(v as u128));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn f64_const(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::F64Const(v));
        push!(sp, ValRaw::from_v128(v as u128));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn unary(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Unary(u));
        *sp.sub(1) = num::unary(u, *sp.sub(1)).map_err(wasm_trap)?;
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn binary(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::Binary(b));
        let y = pop!(sp);
        *sp.sub(1) = num::binary(b, *sp.sub(1), y).map_err(wasm_trap)?;
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int<const O: usize>(inst, th, code, pc, sp, fp) {
        let o = int_op!(O);
        let y = pop!(sp);
        *sp.sub(1) = o.eval(*sp.sub(1), y);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int_ll<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::IntLL { a, b, .. });
        let op = int_op!(O);
        push!(sp, op.eval(local!(fp, a), local!(fp, b)));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int_li<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::IntLI { a, c, .. });
        let op = int_op!(O);
        push!(sp, op.eval(local!(fp, a), ValRaw::from_i64(c as i64)));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int_si<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::IntSI { c, .. });
        let op = int_op!(O);
        *sp.sub(1) = op.eval(*sp.sub(1), ValRaw::from_i64(c as i64));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int_ll_set<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::IntLLSet { a, b, d, .. });
        let op = int_op!(O);
        local!(fp, d) = op.eval(local!(fp, a), local!(fp, b));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int_li_set<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::IntLISet { a, c, d, .. });
        let op = int_op!(O);
        local!(fp, d) = op.eval(local!(fp, a), ValRaw::from_i64(c as i64));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn int_set<const O: usize>(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::IntSet { d, .. });
        let op = int_op!(O);
        let y = pop!(sp);
        let x = pop!(sp);
        local!(fp, d) = op.eval(x, y);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn ref_null(inst, th, code, pc, sp, fp) {
        push!(sp, ValRaw::ZERO);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn ref_is_null(inst, th, code, pc, sp, fp) {
        *sp.sub(1) = ValRaw::from_i32((*sp.sub(1) == ValRaw::ZERO) as i32);
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn ref_func(inst, th, code, pc, sp, fp) {
        operands!(pc, Op::RefFunc(f));
        push!(sp, inst.funcref(f));
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn ref_as_non_null(inst, th, code, pc, sp, fp) {
        if *sp.sub(1) == ValRaw::ZERO {
            return Err(wasm_trap(trap::NULL_REFERENCE));
        }
        next!(inst, th, code, pc, sp, fp)
    }
}

op_handler! {
    fn ref_eq(inst, th, code, pc, sp, fp) {
        let b = pop!(sp);
        *sp.sub(1) = ValRaw::from_i32((*sp.sub(1) == b) as i32);
        next!(inst, th, code, pc, sp, fp)
    }
}
