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
//! operands, which the handler reads back by pattern.
//!
//! The pointers `sp` and `fp` stay valid as long as the value stack's
//! buffer does not move, which only a call may make it do (the callee's
//! frame may not fit); every op that calls out with the thread turns them
//! into indices first and back after ([`idx!`], [`at!`]).

use super::super::code::{Code, Op};
use super::super::instance::Instance;
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
            op,
        })
        .collect()
}

/// The handler of an op. Each handler reads its operands back with the
/// pattern of the variant it is given here, and of no other.
fn handler(op: Op) -> Handler {
    use control as c;
    use data as d;
    match op {
        Op::Unreachable => c::unreachable,
        Op::Jump(_) => c::jump,
        Op::JumpIfZero(_) => c::jump_if_zero,
        Op::JumpIfNonZero(_) => c::jump_if_non_zero,
        Op::Br(_) => c::br,
        Op::BrIf(_) => c::br_if,
        Op::Goto(_) => c::goto,
        Op::GotoIf(_) => c::goto_if,
        Op::GotoIfLL { .. } => c::goto_if_ll,
        Op::GotoIfLI { .. } => c::goto_if_li,
        Op::BrTable { .. } => c::br_table,
        Op::BrOnNull(_) => c::br_on_null,
        Op::BrOnNonNull(_) => c::br_on_non_null,
        Op::BrIfLL { .. } => c::br_if_ll,
        Op::BrIfLI { .. } => c::br_if_li,
        Op::JumpUnlessLL { .. } => c::jump_unless_ll,
        Op::JumpUnlessLI { .. } => c::jump_unless_li,
        Op::Return => c::ret,
        Op::Call(_) => c::call,
        Op::CallIndirect { .. } => c::call_indirect,
        Op::CallRef => c::call_ref,
        Op::ReturnCall(_) => c::return_call,
        Op::ReturnCallIndirect { .. } => c::return_call_indirect,
        Op::ReturnCallRef => c::return_call_ref,
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
        Op::Load(..) => d::load,
        Op::Store(..) => d::store,
        Op::LoadL { .. } => d::load_l,
        Op::StoreLI { .. } => d::store_li,
        Op::LoadX(_) => d::load_x,
        Op::StoreX(_) => d::store_x,
        Op::MemorySize => d::memory_size,
        Op::I32Const(_) => d::i32_const,
        Op::I64Const(_) => d::i64_const,
        Op::F32Const(_) => d::f32_const,
        Op::F64Const(_) => d::f64_const,
        Op::Unary(_) => d::unary,
        Op::Binary(_) => d::binary,
        Op::Int(_) => d::int,
        Op::IntLL { .. } => d::int_ll,
        Op::IntLI { .. } => d::int_li,
        Op::IntSI { .. } => d::int_si,
        Op::IntLLSet { .. } => d::int_ll_set,
        Op::IntLISet { .. } => d::int_li_set,
        Op::IntSet { .. } => d::int_set,
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
    ($(#[$m:meta])* fn $name:ident($inst:ident, $th:ident, $code:ident, $pc:ident, $sp:ident, $fp:ident) $body:block) => {
        $(#[$m])*
        #[allow(unused_mut, unused_variables, unused_unsafe, clippy::needless_return)]
        pub(super) fn $name(
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

/// Local `$i` of the frame, as a place.
macro_rules! local {
    ($fp:ident, $i:expr) => {
        *$fp.add($i as usize)
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
