//! The compact internal form: each function body translated once, at load
//! time, into a flat array of [`Op`]s whose branches name their targets
//! directly, so the interpreter never decodes bytes or searches for an
//! `end`.
//!
//! [`translate`] makes it, in step with wasmparser's validator.
//!
//! A branch is one [`Target`] (`to`, `dst`, `n`); forward targets are
//! patched when their block's `end` is reached. Code after an
//! unconditional branch (which the validator marks unreachable) is not
//! emitted. `try_table` emits nothing: it becomes a [`TryRegion`], a range
//! of op indices with its catch clauses, searched when an exception comes
//! out of an op inside it. A `resume`'s `(on ...)` clauses become a list
//! of [`Clause`]s that the instance turns into the runtime's handler list.

mod rotate;
mod translate;

pub use translate::translate;

use super::num::{Binary, IntOp, Unary};
use alloc::string::String;
use alloc::vec::Vec;

/// Where a branch goes: jump to op `to`, with the label's `n` values moved
/// down to `dst` (relative to the frame base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub to: u32,
    pub dst: u32,
    pub n: u32,
}

/// One catch clause of a `try_table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatchClause {
    /// The tag caught (`None`: `catch_all`).
    pub tag: Option<u32>,
    /// Whether the exception reference is pushed too (`catch_ref`).
    pub with_ref: bool,
    /// Index into the function's targets.
    pub target: u32,
}

/// The ops `start..end` of a function, covered by a `try_table`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryRegion {
    pub start: u32,
    pub end: u32,
    pub catches: Vec<CatchClause>,
}

/// One `(on $tag $label)` (`target: Some`) or `(on $tag switch)` clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clause {
    pub tag: u32,
    pub target: Option<u32>,
}

/// A memory access: width, and for loads how the value is extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    I32,
    I64,
    F32,
    F64,
    I32S8,
    I32U8,
    I32S16,
    I32U16,
    I64S8,
    I64U8,
    I64S16,
    I64U16,
    I64S32,
    I64U32,
}

impl Access {
    /// Bytes read or written.
    pub fn width(self) -> usize {
        match self {
            Access::I32S8 | Access::I32U8 | Access::I64S8 | Access::I64U8 => 1,
            Access::I32S16 | Access::I32U16 | Access::I64S16 | Access::I64U16 => 2,
            Access::I32 | Access::F32 | Access::I64S32 | Access::I64U32 => 4,
            Access::I64 | Access::F64 => 8,
        }
    }
}

/// A memory access of the general form ([`Op::LoadX`], [`Op::StoreX`]):
/// to any memory, 32- or 64-bit, at any static offset. Accesses to memory
/// 0 of a 32-bit memory (nearly all) stay [`Op::Load`] and [`Op::Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemArg {
    pub acc: Access,
    /// The memory's index in the module.
    pub memory: u32,
    pub offset: u64,
    /// The address is an i64 (a 64-bit memory), else an i32.
    pub memory64: bool,
}

/// One instruction of the internal form. Indices are the module's
/// (functions, globals, tables, types, tags, segments); `u32` targets index
/// the function's [`Code::targets`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Unreachable,
    /// Jump to op `to` (the end of an `if`'s then-branch).
    Jump(u32),
    /// Pop an i32; jump to op `to` if it is zero (an `if`).
    JumpIfZero(u32),
    /// Fused `i32.eqz` and an `if`: pop an i32; jump to op `to` if it is
    /// not zero.
    JumpIfNonZero(u32),
    Br(u32),
    BrIf(u32),
    /// A `br` whose label's values are already where the label wants them
    /// (so is every branch with none, to a label at the current height):
    /// the target resolved into the op, nothing to move. Jumps to op `to`
    /// and takes the safe point of a branch.
    Goto(u32),
    /// A `br_if` with its values in place: pops an i32; if it is not
    /// zero, as [`Op::Goto`].
    GotoIf(u32),
    /// Fused [`Op::IntLL`] and a [`Op::GotoIf`].
    GotoIfLL {
        op: IntOp,
        a: u32,
        b: u32,
        to: u32,
    },
    /// Fused [`Op::IntLI`] and a [`Op::GotoIf`].
    GotoIfLI {
        op: IntOp,
        a: u32,
        c: i32,
        to: u32,
    },
    /// Targets `first .. first + len` are the table, then the default.
    BrTable {
        first: u32,
        len: u32,
    },
    BrOnNull(u32),
    BrOnNonNull(u32),
    Return,
    Call(u32),
    CallIndirect {
        ty: u32,
        table: u32,
    },
    /// `call_ref $ty`: the callee's type is checked against `ty` (a
    /// host may pass a function reference of any type).
    CallRef(u32),
    /// The tail calls: the callee replaces the running function, its
    /// arguments moved down to the frame's start (constant stack).
    ReturnCall(u32),
    ReturnCallIndirect {
        ty: u32,
        table: u32,
    },
    ReturnCallRef(u32),
    Drop,
    Select,
    LocalGet(u32),
    LocalSet(u32),
    LocalTee(u32),
    GlobalGet(u32),
    GlobalSet(u32),
    TableGet(u32),
    TableSet(u32),
    TableSize(u32),
    TableGrow(u32),
    TableFill(u32),
    TableCopy {
        dst: u32,
        src: u32,
    },
    TableInit {
        table: u32,
        elem: u32,
    },
    ElemDrop(u32),
    Load(Access, u32),
    Store(Access, u32),
    /// Fused `local.get a` and a load: pushes what is at local `a` plus
    /// `offset`.
    LoadL {
        acc: Access,
        offset: u32,
        a: u32,
    },
    /// Fused `local.get a; const c` and a store: stores `c` (sign-extended
    /// from an i32, as in [`Op::IntLI`]) at local `a` plus `offset`.
    StoreLI {
        acc: Access,
        offset: u32,
        a: u32,
        c: i32,
    },
    /// Fused [`Op::LoadL`] and a [`Op::JumpIfZero`], an `if` on a loaded
    /// i32: jumps to op `to` if the value at local `a` plus `offset` is
    /// zero.
    JumpIfZeroL {
        acc: Access,
        offset: u32,
        a: u32,
        to: u32,
    },
    /// Fused [`Op::LoadL`] and a [`Op::JumpIfNonZero`], `if (i32.eqz
    /// (load ...))`: jumps to op `to` if the value is not zero.
    JumpIfNonZeroL {
        acc: Access,
        offset: u32,
        a: u32,
        to: u32,
    },
    /// A load or a store of the general form: the module's `memargs[i]`
    /// says which memory, where and how wide.
    LoadX(u32),
    StoreX(u32),
    /// `memory.size` of memory 0 of 32 bits.
    MemorySize,
    /// The other memory instructions, with their memory's index.
    MemorySizeOf(u32),
    MemoryGrow(u32),
    MemoryFill(u32),
    MemoryCopy {
        dst: u32,
        src: u32,
    },
    MemoryInit {
        memory: u32,
        data: u32,
    },
    DataDrop(u32),
    I32Const(i32),
    I64Const(i64),
    F32Const(u32),
    F64Const(u64),
    Unary(Unary),
    Binary(Binary),
    /// A non-trapping integer operator on the top two values, computed in
    /// the loop itself (no call).
    Int(IntOp),
    /// Fused `local.get a; local.get b; op`: pushes `local a op local b`.
    IntLL {
        op: IntOp,
        a: u32,
        b: u32,
    },
    /// Fused `local.get a; const c; op` (an i64 constant only if it fits
    /// in an i32; it is sign-extended back): pushes `local a op c`.
    IntLI {
        op: IntOp,
        a: u32,
        c: i32,
    },
    /// Fused `const c; op`: the top value becomes `top op c`.
    IntSI {
        op: IntOp,
        c: i32,
    },
    /// [`Op::IntLL`] with its result stored in local `d` (a fused
    /// `local.set d`), never pushed.
    IntLLSet {
        op: IntOp,
        a: u32,
        b: u32,
        d: u32,
    },
    /// [`Op::IntLI`] with its result stored in local `d`.
    IntLISet {
        op: IntOp,
        a: u32,
        c: i32,
        d: u32,
    },
    /// [`Op::Int`] with its result stored in local `d`.
    IntSet {
        op: IntOp,
        d: u32,
    },
    /// Fused [`Op::IntLL`] and `br_if t`: branches if the result is not zero.
    BrIfLL {
        op: IntOp,
        a: u32,
        b: u32,
        t: u32,
    },
    /// Fused [`Op::IntLI`] and `br_if t`.
    BrIfLI {
        op: IntOp,
        a: u32,
        c: i32,
        t: u32,
    },
    /// Fused [`Op::IntLL`] and an `if`: jumps to op `to` if the result is
    /// zero.
    JumpUnlessLL {
        op: IntOp,
        a: u32,
        b: u32,
        to: u32,
    },
    /// Fused [`Op::IntLI`] and an `if`.
    JumpUnlessLI {
        op: IntOp,
        a: u32,
        c: i32,
        to: u32,
    },
    RefNull,
    RefIsNull,
    RefFunc(u32),
    RefAsNonNull,
    RefEq,
    Throw(u32),
    ThrowRef,
    ContNew(u32),
    ContBind {
        from: u32,
        to: u32,
    },
    Suspend(u32),
    /// `table` indexes the module's resume tables.
    Resume {
        ty: u32,
        table: u32,
    },
    ResumeThrow {
        ty: u32,
        tag: u32,
        table: u32,
    },
    ResumeThrowRef {
        ty: u32,
        table: u32,
    },
    Switch {
        ty: u32,
        tag: u32,
    },
}

/// A translated function body.
#[derive(Debug, Default)]
pub struct Code {
    pub ops: Vec<Op>,
    /// The ops with their handlers, as the interpreter runs them
    /// (`interp::dispatch`).
    pub(crate) entries: Vec<crate::wasm::interp::Entry>,
    pub targets: Vec<Target>,
    pub tries: Vec<TryRegion>,
    pub nparams: u32,
    /// Params and declared locals.
    pub nlocals: u32,
    pub nresults: u32,
    /// Value-stack slots one activation needs: locals and the deepest
    /// operand stack.
    pub frame_size: u32,
}

/// A translation failure: the validator's message, or an instruction this
/// interpreter does not implement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    pub offset: usize,
}

impl From<wasmparser::BinaryReaderError> for CompileError {
    fn from(e: wasmparser::BinaryReaderError) -> CompileError {
        CompileError {
            message: String::from(e.message()),
            offset: e.offset() as usize,
        }
    }
}

#[cfg(test)]
mod tests;
