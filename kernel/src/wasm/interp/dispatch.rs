//! Threaded dispatch: each op of a function's internal form is paired with
//! the Rust function that runs it, and each such handler ends by jumping
//! to the next op's handler with a guaranteed tail call (`become`).
//!
//! Why not one `loop { match op { ... } }`: a Wasm call is a native call
//! (see the module docs of `interp`), so the native frame of whatever
//! function makes it is paid once per level of Wasm recursion. A loop
//! holding every op's code has the frame of its largest arm: 368 bytes
//! when this was measured, 10,000 nested calls needing 3.7 MB. A handler
//! has the frame of its own op only, a leaf handler none at all, and a
//! call op's handler keeps just what it needs after the callee returns.
//!
//! The interpreter's registers travel as the six arguments every handler
//! takes, which the System V ABI passes in registers, so a tail call to
//! the next handler moves nothing:
//!
//! | argument | what it is |
//! |---|---|
//! | `inst` | the instance whose function runs (globals, memory, tables) |
//! | `th` | the thread: its value stack (`Vec<ValRaw>`), native floor, tail-call slot |
//! | `code` | the function: its [`Entry`]s, branch targets, `try_table` regions |
//! | `pc` | the entry being run, a pointer into `code.entries` |
//! | `sp` | the operand stack's top, a pointer into the value stack |
//! | `fp` | the frame's first local, a pointer into the value stack |
//!
//! An entry is 24 bytes: the handler's address, then the [`Op`] with its
//! operands, which the handler reads back by pattern. In an entry's copy
//! of its op, a local is its byte offset from `fp` and a jump the byte
//! offset of its target entry ([`scaled`]).
//!
//! A fused integer form (`IntLL`, `BrIfLI`, ...) has a handler per
//! operation, and a load or store (or an `if` on a load) two per access
//! width, one for any static offset and one for offset 0, which reads
//! and adds none ([`per_access!`]): the handler is generic over the
//! index of its operation ([`INT_OPS`], [`ACCESSES`]),
//! so the operation is a constant in it and folds to its one
//! instruction, where a handler per form would dispatch a second time on
//! the operation (`docs/wasm.md`, "What it costs", has what each gave).
//!
//! The pointers `sp` and `fp` stay valid as long as the value stack's
//! buffer does not move, which only a call may make it do (the callee's
//! frame may not fit); every op that calls out with the thread turns them
//! into indices first and back after ([`idx!`], [`at!`]).

use super::super::code::{Access, Code, Op};
use super::super::instance::Instance;
use super::super::num::IntOp;
use super::super::trap::Unwind;
use super::Thread;
use super::{control, data};
use crate::cont::ValRaw;

/// What runs one op: see the module docs for the arguments.
pub(crate) type Handler = fn(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    pc: *const Entry,
    sp: *mut ValRaw,
    fp: *mut ValRaw,
) -> Result<(), Unwind>;

/// One op of a function, with the handler that runs it.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) run: Handler,
    pub(crate) op: Op,
}

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.op.fmt(f)
    }
}

/// The entries of `ops`: each op with its handler.
pub(crate) fn thread(ops: &[Op]) -> alloc::vec::Vec<Entry> {
    ops.iter()
        .map(|&op| Entry {
            run: handler(op),
            op: scaled(op),
        })
        .collect()
}

/// The bytes of one value slot: a local's index times this is its offset
/// from `fp`.
const SLOT: u32 = core::mem::size_of::<ValRaw>() as u32;

/// The bytes of one entry: a jump's op index times this is its target's
/// offset from the function's first entry.
const ENTRY: u32 = core::mem::size_of::<Entry>() as u32;

/// `op` as its handler reads it: every local's index scaled to its byte
/// offset in the frame ([`local!`]), and every jump's op index to its
/// entry's byte offset in the function, so that each is one address
/// computation, with no shift or multiply. The validator bounds a
/// function's locals at 50,000 and its body at 7,654,321 bytes (so fewer
/// ops), so no offset overflows.
fn scaled(op: Op) -> Op {
    let s = |i: u32| i * SLOT;
    let e = |to: u32| to * ENTRY;
    match op {
        Op::Jump(to) => Op::Jump(e(to)),
        Op::JumpIfZero(to) => Op::JumpIfZero(e(to)),
        Op::JumpIfNonZero(to) => Op::JumpIfNonZero(e(to)),
        Op::Goto(to) => Op::Goto(e(to)),
        Op::GotoIf(to) => Op::GotoIf(e(to)),
        Op::LocalGet(i) => Op::LocalGet(s(i)),
        Op::LocalSet(i) => Op::LocalSet(s(i)),
        Op::LocalTee(i) => Op::LocalTee(s(i)),
        Op::IntLL { op, a, b } => Op::IntLL {
            op,
            a: s(a),
            b: s(b),
        },
        Op::IntLI { op, a, c } => Op::IntLI { op, a: s(a), c },
        Op::IntLLSet { op, a, b, d } => Op::IntLLSet {
            op,
            a: s(a),
            b: s(b),
            d: s(d),
        },
        Op::IntLISet { op, a, c, d } => Op::IntLISet {
            op,
            a: s(a),
            c,
            d: s(d),
        },
        Op::IntSet { op, d } => Op::IntSet { op, d: s(d) },
        Op::BrIfLL { op, a, b, t } => Op::BrIfLL {
            op,
            a: s(a),
            b: s(b),
            t,
        },
        Op::BrIfLI { op, a, c, t } => Op::BrIfLI { op, a: s(a), c, t },
        Op::JumpUnlessLL { op, a, b, to } => Op::JumpUnlessLL {
            op,
            a: s(a),
            b: s(b),
            to: e(to),
        },
        Op::JumpUnlessLI { op, a, c, to } => Op::JumpUnlessLI {
            op,
            a: s(a),
            c,
            to: e(to),
        },
        Op::GotoIfLL { op, a, b, to } => Op::GotoIfLL {
            op,
            a: s(a),
            b: s(b),
            to: e(to),
        },
        Op::GotoIfLI { op, a, c, to } => Op::GotoIfLI {
            op,
            a: s(a),
            c,
            to: e(to),
        },
        Op::LoadL { acc, offset, a } => Op::LoadL {
            acc,
            offset,
            a: s(a),
        },
        Op::StoreLI { acc, offset, a, c } => Op::StoreLI {
            acc,
            offset,
            a: s(a),
            c,
        },
        Op::JumpIfZeroL { acc, offset, a, to } => Op::JumpIfZeroL {
            acc,
            offset,
            a: s(a),
            to: e(to),
        },
        Op::JumpIfNonZeroL { acc, offset, a, to } => Op::JumpIfNonZeroL {
            acc,
            offset,
            a: s(a),
            to: e(to),
        },
        other => other,
    }
}

/// Every [`IntOp`], each at the index of its discriminant (`op as usize`):
/// what a handler made for index `O` computes.
pub(crate) const INT_OPS: [IntOp; 38] = {
    use IntOp::*;
    [
        I32Add, I32Sub, I32Mul, I32And, I32Or, I32Xor, I32Shl, I32ShrS, I32ShrU, I32Eq, I32Ne,
        I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU, I64Add, I64Sub, I64Mul,
        I64And, I64Or, I64Xor, I64Shl, I64ShrS, I64ShrU, I64Eq, I64Ne, I64LtS, I64LtU, I64GtS,
        I64GtU, I64LeS, I64LeU, I64GeS, I64GeU,
    ]
};

/// Every [`Access`], each at the index of its discriminant: what a load or
/// store handler made for index `A` reads or writes.
pub(crate) const ACCESSES: [Access; 14] = {
    use Access::*;
    [
        I32, I64, F32, F64, I32S8, I32U8, I32S16, I32U16, I64S8, I64U8, I64S16, I64U16, I64S32,
        I64U32,
    ]
};

/// The handlers of a fused integer form, one per [`IntOp`], at the index
/// of its discriminant: each computes its own operation, with no second
/// dispatch on the operation at run time.
macro_rules! per_int_op {
    ($($f:ident)::+) => {{
        const TABLE: [Handler; 38] = [
            $($f)::+::<0>, $($f)::+::<1>, $($f)::+::<2>, $($f)::+::<3>, $($f)::+::<4>, $($f)::+::<5>, $($f)::+::<6>, $($f)::+::<7>, $($f)::+::<8>,
            $($f)::+::<9>, $($f)::+::<10>, $($f)::+::<11>, $($f)::+::<12>, $($f)::+::<13>, $($f)::+::<14>, $($f)::+::<15>, $($f)::+::<16>,
            $($f)::+::<17>, $($f)::+::<18>, $($f)::+::<19>, $($f)::+::<20>, $($f)::+::<21>, $($f)::+::<22>, $($f)::+::<23>, $($f)::+::<24>,
            $($f)::+::<25>, $($f)::+::<26>, $($f)::+::<27>, $($f)::+::<28>, $($f)::+::<29>, $($f)::+::<30>, $($f)::+::<31>, $($f)::+::<32>,
            $($f)::+::<33>, $($f)::+::<34>, $($f)::+::<35>, $($f)::+::<36>, $($f)::+::<37>,
        ];
        &TABLE
    }};
}

/// The handlers of a memory access form, two per [`Access`]: at the
/// index of its discriminant the one for any static offset, and
/// [`ZERO_OFFSET`] places on the one for offset 0, which reads no offset
/// and adds none (`*p`, the commonest access compiled code makes). Each
/// reads or writes its own width.
macro_rules! per_access {
    ($($f:ident)::+) => {{
        const TABLE: [Handler; 28] = [
            $($f)::+::<0>, $($f)::+::<1>, $($f)::+::<2>, $($f)::+::<3>, $($f)::+::<4>,
            $($f)::+::<5>, $($f)::+::<6>, $($f)::+::<7>, $($f)::+::<8>, $($f)::+::<9>,
            $($f)::+::<10>, $($f)::+::<11>, $($f)::+::<12>, $($f)::+::<13>,
            $($f)::+::<14>, $($f)::+::<15>, $($f)::+::<16>, $($f)::+::<17>, $($f)::+::<18>,
            $($f)::+::<19>, $($f)::+::<20>, $($f)::+::<21>, $($f)::+::<22>, $($f)::+::<23>,
            $($f)::+::<24>, $($f)::+::<25>, $($f)::+::<26>, $($f)::+::<27>,
        ];
        &TABLE
    }};
}

/// How far the offset-0 handlers of an access form sit from the others
/// in its [`per_access!`] table.
pub(crate) const ZERO_OFFSET: usize = ACCESSES.len();

/// The index in a [`per_access!`] table of the handler for `acc` with
/// static offset `offset`.
fn access_index(acc: Access, offset: u32) -> usize {
    acc as usize + if offset == 0 { ZERO_OFFSET } else { 0 }
}

/// The access of a handler made for index `A` of a [`per_access!`]
/// table.
macro_rules! access {
    ($a:ident) => {
        const {
            $crate::wasm::interp::dispatch::ACCESSES
                [$a % $crate::wasm::interp::dispatch::ZERO_OFFSET]
        }
    };
}
pub(super) use access;

/// The static offset a handler made for index `A` of a [`per_access!`]
/// table adds: its op's `$offset`, or 0 (a constant) for an offset-0
/// handler, which then reads nothing.
macro_rules! offset {
    ($a:ident, $offset:expr) => {
        if $a >= $crate::wasm::interp::dispatch::ZERO_OFFSET {
            0
        } else {
            $offset
        }
    };
}
pub(super) use offset;

/// The operation of a handler made for `INT_OPS[O]` (see [`per_int_op!`]).
macro_rules! int_op {
    ($o:ident) => {
        const { $crate::wasm::interp::dispatch::INT_OPS[$o] }
    };
}
pub(super) use int_op;

/// The handler of an op. Each handler reads its operands back with the
/// pattern of the variant it is given here, and of no other; a fused
/// integer form's handler is the one of its operation.
fn handler(op: Op) -> Handler {
    use control as c;
    use data as d;
    match op {
        Op::Int(o) => per_int_op!(d::int)[o as usize],
        Op::IntLL { op, .. } => per_int_op!(d::int_ll)[op as usize],
        Op::IntLI { op, .. } => per_int_op!(d::int_li)[op as usize],
        Op::IntSI { op, .. } => per_int_op!(d::int_si)[op as usize],
        Op::IntLLSet { op, .. } => per_int_op!(d::int_ll_set)[op as usize],
        Op::IntLISet { op, .. } => per_int_op!(d::int_li_set)[op as usize],
        Op::IntSet { op, .. } => per_int_op!(d::int_set)[op as usize],
        Op::BrIfLL { op, .. } => per_int_op!(c::br_if_ll)[op as usize],
        Op::BrIfLI { op, .. } => per_int_op!(c::br_if_li)[op as usize],
        Op::JumpUnlessLL { op, .. } => per_int_op!(c::jump_unless_ll)[op as usize],
        Op::JumpUnlessLI { op, .. } => per_int_op!(c::jump_unless_li)[op as usize],
        Op::GotoIfLL { op, .. } => per_int_op!(c::goto_if_ll)[op as usize],
        Op::GotoIfLI { op, .. } => per_int_op!(c::goto_if_li)[op as usize],
        Op::Unreachable => c::unreachable,
        Op::Jump(_) => c::jump,
        Op::JumpIfZero(_) => c::jump_if_zero,
        Op::JumpIfNonZero(_) => c::jump_if_non_zero,
        Op::Br(_) => c::br,
        Op::BrIf(_) => c::br_if,
        Op::Goto(_) => c::goto,
        Op::GotoIf(_) => c::goto_if,
        Op::BrTable { .. } => c::br_table,
        Op::BrOnNull(_) => c::br_on_null,
        Op::BrOnNonNull(_) => c::br_on_non_null,
        Op::Return => c::ret,
        Op::Call(_) => c::call,
        Op::CallIndirect { .. } => c::call_indirect,
        Op::CallRef(_) => c::call_ref,
        Op::ReturnCall(_) => c::return_call,
        Op::ReturnCallIndirect { .. } => c::return_call_indirect,
        Op::ReturnCallRef(_) => c::return_call_ref,
        Op::Throw(_) => c::throw,
        Op::ThrowRef => c::throw_ref,
        Op::ContNew(_) => c::cont_new,
        Op::ContBind { .. } => c::cont_bind,
        Op::Suspend(_) => c::suspend,
        Op::Resume { .. } => c::resume,
        Op::ResumeThrow { .. } => c::resume_throw,
        Op::ResumeThrowRef { .. } => c::resume_throw_ref,
        Op::Switch { .. } => c::switch,
        Op::Drop => d::drop,
        Op::Select => d::select,
        Op::LocalGet(_) => d::local_get,
        Op::LocalSet(_) => d::local_set,
        Op::LocalTee(_) => d::local_tee,
        Op::GlobalGet(_) => d::global_get,
        Op::GlobalSet(_) => d::global_set,
        Op::TableGet(_)
        | Op::TableSet(_)
        | Op::TableSize(_)
        | Op::TableGrow(_)
        | Op::TableFill(_)
        | Op::TableCopy { .. }
        | Op::TableInit { .. }
        | Op::ElemDrop(_)
        | Op::MemorySizeOf(_)
        | Op::MemoryGrow(_)
        | Op::MemoryFill(_)
        | Op::MemoryCopy { .. }
        | Op::MemoryInit { .. }
        | Op::DataDrop(_) => d::bulk,
        Op::Load(acc, offset) => per_access!(d::load)[access_index(acc, offset)],
        Op::Store(acc, offset) => per_access!(d::store)[access_index(acc, offset)],
        Op::LoadL { acc, offset, .. } => per_access!(d::load_l)[access_index(acc, offset)],
        Op::StoreLI { acc, offset, .. } => per_access!(d::store_li)[access_index(acc, offset)],
        Op::JumpIfZeroL { acc, offset, .. } => {
            per_access!(d::jump_if_zero_l)[access_index(acc, offset)]
        }
        Op::JumpIfNonZeroL { acc, offset, .. } => {
            per_access!(d::jump_if_non_zero_l)[access_index(acc, offset)]
        }
        Op::LoadX(_) => d::load_x,
        Op::StoreX(_) => d::store_x,
        Op::MemorySize => d::memory_size,
        Op::I32Const(_) => d::i32_const,
        Op::I64Const(_) => d::i64_const,
        Op::F32Const(_) => d::f32_const,
        Op::F64Const(_) => d::f64_const,
        Op::Unary(_) => d::unary,
        Op::Binary(_) => d::binary,
        Op::RefNull => d::ref_null,
        Op::RefIsNull => d::ref_is_null,
        Op::RefFunc(_) => d::ref_func,
        Op::RefAsNonNull => d::ref_as_non_null,
        Op::RefEq => d::ref_eq,
    }
}

/// Defines a handler: the six arguments named by the caller (so that the
/// body, written at the call site, can use them), its body one `unsafe`
/// block under the invariants of the module docs.
macro_rules! op_handler {
    ($(#[$m:meta])* fn $name:ident $(<const $g:ident: $gt:ty>)? ($inst:ident, $th:ident, $code:ident, $pc:ident, $sp:ident, $fp:ident) $body:block) => {
        $(#[$m])*
        #[allow(unused_mut, unused_variables, unused_unsafe, clippy::needless_return)]
        pub(super) fn $name $(<const $g: $gt>)? (
            $inst: &Instance,
            $th: &mut Thread,
            $code: &Code,
            $pc: *const Entry,
            mut $sp: *mut ValRaw,
            mut $fp: *mut ValRaw,
        ) -> Result<(), Unwind> {
            // SAFETY: the frame invariant (module docs of `dispatch`):
            // `enter` made the value stack at least `fp + frame_size +
            // SLACK` slots long, the validator proved every local index
            // below `nlocals` and every operand height below `frame_size
            // - nlocals`, so every slot a handler forms from `sp` and `fp`
            // is in the frame; `pc` and every branch target are entries of
            // `code` (its ops end with a `Return`, and translate patches
            // every jump to an op it emitted); and `sp` and `fp` are
            // rebuilt from indices after anything that may move the
            // stack's buffer.
            unsafe { $body }
        }
    };
}
pub(super) use op_handler;

/// The operands of the op at `pc`, by the pattern of its variant (the one
/// [`handler`] gave the entry this handler).
macro_rules! operands {
    ($pc:ident, $pat:pat) => {
        let $pat = (*$pc).op else {
            core::hint::unreachable_unchecked()
        };
    };
}
pub(super) use operands;

/// Runs the entry at `$to` in this frame's place (a guaranteed tail call).
macro_rules! go {
    ($inst:ident, $th:ident, $code:ident, $to:expr, $sp:expr, $fp:expr) => {{
        let to: *const Entry = $to;
        become ((*to).run)($inst, $th, $code, to, $sp, $fp)
    }};
}
pub(super) use go;

/// The entry a jump op's `to` names (a byte offset: [`scaled`]).
macro_rules! jump_target {
    ($code:ident, $to:ident) => {
        $code.entries.as_ptr().byte_add($to as usize)
    };
}
pub(super) use jump_target;

/// Runs the next entry.
macro_rules! next {
    ($inst:ident, $th:ident, $code:ident, $pc:ident, $sp:ident, $fp:ident) => {
        $crate::wasm::interp::dispatch::go!($inst, $th, $code, $pc.add(1), $sp, $fp)
    };
}
pub(super) use next;

/// Pops the operand stack's top value.
macro_rules! pop {
    ($sp:ident) => {{
        $sp = $sp.sub(1);
        *$sp
    }};
}
pub(super) use pop;

/// Pushes a value.
macro_rules! push {
    ($sp:ident, $v:expr) => {{
        let v: ValRaw = $v;
        *$sp = v;
        $sp = $sp.add(1);
    }};
}
pub(super) use push;

/// The local at byte offset `$i` of the frame (an entry's local operand,
/// scaled by [`thread`]), as a place.
macro_rules! local {
    ($fp:ident, $i:expr) => {
        *$fp.byte_add($i as usize)
    };
}
pub(super) use local;

/// The index in the thread's stack of a slot pointer.
macro_rules! idx {
    ($th:ident, $p:expr) => {
        $p.offset_from($th.stack.as_ptr()) as usize
    };
}
pub(super) use idx;

/// The slot pointer of an index in the thread's stack (after the buffer
/// may have moved).
macro_rules! at {
    ($th:ident, $i:expr) => {
        $th.stack.as_mut_ptr().add($i)
    };
}
pub(super) use at;

#[cfg(test)]
mod tests {
    use super::{ACCESSES, INT_OPS};
    use crate::wasm::code::Access;
    use crate::wasm::num::IntOp;

    #[test]
    fn every_int_op_sits_in_the_table_at_the_index_of_its_discriminant() {
        assert_eq!(INT_OPS.len(), IntOp::I64GeU as usize + 1);
        for (i, op) in INT_OPS.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op:?}");
        }
    }

    /// The module docs' "an entry is 24 bytes".
    #[test]
    fn an_entry_is_24_bytes() {
        assert_eq!(core::mem::size_of::<super::Entry>(), 24);
    }

    #[test]
    fn every_access_sits_in_the_table_at_the_index_of_its_discriminant() {
        assert_eq!(ACCESSES.len(), Access::I64U32 as usize + 1);
        for (i, a) in ACCESSES.iter().enumerate() {
            assert_eq!(*a as usize, i, "{a:?}");
        }
    }
}
