//! The translation of one function body into [`Op`]s.
//!
//! Why it is shaped so: translation runs in step with wasmparser's
//! function validator. Each operator is first translated, reading the validator's control frames
//! (their kinds, block types and operand heights *before* the operator),
//! then validated. That gives, for every branch, where its label's values
//! go without a second analysis:
//!
//! ```text
//!  value stack of one activation (indices relative to its frame base fp)
//!  +----------+----------+-----------------------------+
//!  | params   | locals   | operands ...                |
//!  +----------+----------+-----------------------------+
//!  0          nparams    nlocals         ^ dst = nlocals + label height
//!  a branch copies the label's n values from the top down to dst,
//!  drops everything above them, and jumps to `to`
//! ```

use super::{Access, CatchClause, Clause, Code, CompileError, MemArg, Op, Target, TryRegion};
use crate::wasm::num::{self, IntOp, Numeric, Unary};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use wasmparser::{
    BlockType, Catch, FrameKind, FuncValidator, FunctionBody, Handle, MemArgTarget, Operator,
    ValidatorResources, WasmModuleResources,
};

/// Where a forward reference waits for its block's end.
#[derive(Clone, Copy)]
enum Fixup {
    Target(usize),
    Op(usize),
}

struct Ctrl {
    /// For a loop: its first op.
    start: u32,
    is_loop: bool,
    fixups: Vec<Fixup>,
    /// An `if` without (yet) an `else`: its `JumpIfZero`.
    if_jump: Option<usize>,
    /// A `try_table`: its first op and clauses.
    try_catches: Option<(u32, Vec<CatchClause>)>,
}

impl Ctrl {
    fn new(start: u32) -> Ctrl {
        Ctrl {
            start,
            is_loop: false,
            fixups: Vec::new(),
            if_jump: None,
            try_catches: None,
        }
    }
}

struct Translator<'v> {
    v: &'v mut FuncValidator<ValidatorResources>,
    code: Code,
    ctrl: Vec<Ctrl>,
    resume_tables: &'v mut Vec<Vec<Clause>>,
    memargs: &'v mut Vec<MemArg>,
    max_height: u32,
    /// The index of the op after the last control instruction: a branch
    /// may land there, so no op at or after it is fused with one before.
    label: u32,
}

/// Translates (and validates) one function body. `resume_tables` collects
/// the module's resume clause lists, `memargs` its accesses of the
/// general form ([`Op::LoadX`], [`Op::StoreX`]).
pub fn translate(
    v: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
    resume_tables: &mut Vec<Vec<Clause>>,
    memargs: &mut Vec<MemArg>,
) -> Result<Code, CompileError> {
    let id = v
        .resources()
        .type_id_of_function(v.index())
        .ok_or_else(|| err("function without a type", 0))?;
    let ty = v.resources().sub_type_at_id(id).unwrap_func();
    let (nparams, nresults) = (ty.params().len() as u32, ty.results().len() as u32);
    let mut locals = body.get_locals_reader()?;
    for _ in 0..locals.get_count() {
        let offset = locals.original_position();
        let (count, ty) = locals.read()?;
        v.define_locals(offset, count, ty)?;
    }
    let nlocals = v.len_locals();
    let mut t = Translator {
        v,
        code: Code {
            nparams,
            nlocals,
            nresults,
            ..Code::default()
        },
        ctrl: alloc::vec![Ctrl::new(0)],
        resume_tables,
        memargs,
        max_height: 0,
        label: 0,
    };
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        // Translated against the validator's state before the operator;
        // the validator's verdict is reported first, so that an invalid
        // operator is refused as invalid even where this interpreter
        // would not run it (an alignment read as a GC array's access).
        let translated = t.op(&op, offset as usize);
        t.v.op(offset, &op)?;
        translated?;
        t.max_height = t.max_height.max(t.v.operand_stack_height());
    }
    reader.finish()?;
    let mut code = t.code;
    code.frame_size = nlocals + t.max_height;
    super::rotate::rotate(&mut code.ops);
    code.entries = crate::wasm::interp::thread(&code.ops);
    Ok(code)
}

fn err(message: &str, offset: usize) -> CompileError {
    CompileError {
        message: String::from(message),
        offset,
    }
}

impl Translator<'_> {
    fn pc(&self) -> u32 {
        self.code.ops.len() as u32
    }

    /// Appends `op`, fused with the one or two ops before it where a
    /// pattern of [`Op`]'s fused forms matches and no label lies between
    /// them (see [`Translator::label`]).
    fn emit(&mut self, op: Op) {
        let n = self.code.ops.len();
        let free = n.saturating_sub(self.label as usize);
        let last = (free >= 1).then(|| self.code.ops[n - 1]);
        let last2 = (free >= 2).then(|| self.code.ops[n - 2]);
        let fused = match (last2, last, op) {
            (Some(Op::LocalGet(a)), Some(Op::LocalGet(b)), Op::Int(op)) => {
                Some((2, Op::IntLL { op, a, b }))
            }
            (Some(Op::LocalGet(a)), Some(k), Op::Int(op)) if imm(k).is_some() => {
                let c = imm(k).unwrap_or(0);
                Some((2, Op::IntLI { op, a, c }))
            }
            (_, Some(k), Op::Int(op)) if imm(k).is_some() => {
                let c = imm(k).unwrap_or(0);
                Some((1, Op::IntSI { op, c }))
            }
            (_, Some(Op::IntLL { op, a, b }), Op::LocalSet(d)) => {
                Some((1, Op::IntLLSet { op, a, b, d }))
            }
            (_, Some(Op::IntLI { op, a, c }), Op::LocalSet(d)) => {
                Some((1, Op::IntLISet { op, a, c, d }))
            }
            (_, Some(Op::Int(op)), Op::LocalSet(d)) => Some((1, Op::IntSet { op, d })),
            (_, Some(Op::IntLL { op, a, b }), Op::BrIf(t)) => Some((1, Op::BrIfLL { op, a, b, t })),
            (_, Some(Op::IntLI { op, a, c }), Op::BrIf(t)) => Some((1, Op::BrIfLI { op, a, c, t })),
            (_, Some(Op::IntLL { op, a, b }), Op::GotoIf(to)) => {
                Some((1, Op::GotoIfLL { op, a, b, to }))
            }
            (_, Some(Op::IntLI { op, a, c }), Op::GotoIf(to)) => {
                Some((1, Op::GotoIfLI { op, a, c, to }))
            }
            (_, Some(Op::IntLL { op, a, b }), Op::JumpIfZero(to)) => {
                Some((1, Op::JumpUnlessLL { op, a, b, to }))
            }
            (_, Some(Op::IntLI { op, a, c }), Op::JumpIfZero(to)) => {
                Some((1, Op::JumpUnlessLI { op, a, c, to }))
            }
            (
                Some(Op::LoadL { acc, offset, a }),
                Some(Op::Unary(Unary::I32Eqz)),
                Op::JumpIfZero(to),
            ) => Some((2, Op::JumpIfNonZeroL { acc, offset, a, to })),
            (_, Some(Op::LoadL { acc, offset, a }), Op::JumpIfZero(to)) => {
                Some((1, Op::JumpIfZeroL { acc, offset, a, to }))
            }
            (_, Some(Op::Unary(Unary::I32Eqz)), Op::JumpIfZero(to)) => {
                Some((1, Op::JumpIfNonZero(to)))
            }
            (_, Some(Op::LocalGet(a)), Op::Load(acc, offset)) => {
                Some((1, Op::LoadL { acc, offset, a }))
            }
            (Some(Op::LocalGet(a)), Some(k), Op::Store(acc, offset)) if imm(k).is_some() => {
                let c = imm(k).unwrap_or(0);
                Some((2, Op::StoreLI { acc, offset, a, c }))
            }
            _ => None,
        };
        match fused {
            Some((k, op)) => {
                self.code.ops.truncate(n - k);
                self.code.ops.push(op);
            }
            None => self.code.ops.push(op),
        }
    }

    /// Params and results of a block type.
    fn arity(&self, bt: BlockType) -> (u32, u32) {
        match bt {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(i) => match self.v.resources().sub_type_at(i).and_then(|s| match &s
                .composite_type
                .inner
            {
                wasmparser::CompositeInnerType::Func(f) => Some(f),
                _ => None,
            }) {
                Some(f) => (f.params().len() as u32, f.results().len() as u32),
                None => (0, 0),
            },
        }
    }

    /// A new target for a branch to label `depth` (before the operator's
    /// own effect on the control stack).
    fn target(&mut self, depth: u32, offset: usize) -> Result<u32, CompileError> {
        let frame = self
            .v
            .get_control_frame(depth as usize)
            .ok_or_else(|| err("branch depth out of range", offset))?;
        let (p, r) = self.arity(frame.block_type);
        let is_loop = frame.kind == FrameKind::Loop;
        let dst = self.code.nlocals + frame.height as u32;
        let index = self.code.targets.len();
        let c = self
            .ctrl
            .len()
            .checked_sub(1 + depth as usize)
            .ok_or_else(|| err("branch depth out of range", offset))?;
        let to = if is_loop {
            self.ctrl[c].start
        } else {
            self.ctrl[c].fixups.push(Fixup::Target(index));
            u32::MAX
        };
        self.code.targets.push(Target {
            to,
            dst,
            n: if is_loop { p } else { r },
        });
        Ok(index as u32)
    }

    /// A branch to label `depth` whose values are already in place, with
    /// `popped` operands (a condition) taken off first: the label's `n`
    /// values are the top `n` and start at its height. Then the branch is
    /// emitted as `op(to)` (a [`Op::Goto`] or [`Op::GotoIf`], perhaps
    /// fused with the compare before it), its target resolved into it:
    /// a loop's first op, or patched at the block's end. False (nothing
    /// emitted) if the values must move.
    fn goto(&mut self, depth: u32, popped: u32, op: fn(u32) -> Op) -> bool {
        let Some(frame) = self.v.get_control_frame(depth as usize) else {
            return false;
        };
        let (p, r) = self.arity(frame.block_type);
        let is_loop = frame.kind == FrameKind::Loop;
        let n = if is_loop { p } else { r } as usize;
        let height = self.v.operand_stack_height() as usize;
        let Some(c) = self.ctrl.len().checked_sub(1 + depth as usize) else {
            return false;
        };
        if height.checked_sub(popped as usize + n) != Some(frame.height) {
            return false;
        }
        let to = if is_loop {
            self.ctrl[c].start
        } else {
            u32::MAX
        };
        self.emit(op(to));
        if !is_loop {
            let at = self.code.ops.len() - 1;
            self.ctrl[c].fixups.push(Fixup::Op(at));
        }
        true
    }

    fn patch(&mut self, fixups: Vec<Fixup>, to: u32) {
        for f in fixups {
            match f {
                Fixup::Target(i) => self.code.targets[i].to = to,
                Fixup::Op(i) => match &mut self.code.ops[i] {
                    Op::Jump(t)
                    | Op::JumpIfZero(t)
                    | Op::JumpIfNonZero(t)
                    | Op::JumpUnlessLL { to: t, .. }
                    | Op::JumpUnlessLI { to: t, .. }
                    | Op::JumpIfZeroL { to: t, .. }
                    | Op::JumpIfNonZeroL { to: t, .. }
                    | Op::Goto(t)
                    | Op::GotoIf(t)
                    | Op::GotoIfLL { to: t, .. }
                    | Op::GotoIfLI { to: t, .. } => *t = to,
                    _ => unreachable!("only jumps are patched"),
                },
            }
        }
    }

    fn op(&mut self, op: &Operator<'_>, offset: usize) -> Result<(), CompileError> {
        let control = self.control(op, offset)?;
        if control {
            // A branch may land on the next op: nothing before it fuses
            // with it.
            self.label = self.pc();
            return Ok(());
        }
        self.plain(op, offset)
    }

    /// Translates a structured control instruction; false if `op` is not
    /// one.
    fn control(&mut self, op: &Operator<'_>, offset: usize) -> Result<bool, CompileError> {
        let reachable = !self.v.get_control_frame(0).is_none_or(|f| f.unreachable);
        // Structure is followed even in unreachable code, so that our
        // control stack stays in step with the validator's.
        match op {
            Operator::Block { .. } => {
                self.ctrl.push(Ctrl::new(self.pc()));
            }
            Operator::Loop { .. } => {
                let mut c = Ctrl::new(self.pc());
                c.is_loop = true;
                self.ctrl.push(c);
            }
            Operator::If { .. } => {
                let mut c = Ctrl::new(self.pc());
                // Possibly fused with the compare before it: the jump is
                // the last op either way.
                self.emit(Op::JumpIfZero(u32::MAX));
                c.if_jump = Some(self.code.ops.len() - 1);
                self.ctrl.push(c);
            }
            Operator::Else => {
                if reachable {
                    let at = self.code.ops.len();
                    self.emit(Op::Jump(u32::MAX));
                    self.ctrl.last_mut().unwrap().fixups.push(Fixup::Op(at));
                }
                let pc = self.pc();
                if let Some(j) = self.ctrl.last_mut().unwrap().if_jump.take() {
                    self.patch(alloc::vec![Fixup::Op(j)], pc);
                }
            }
            Operator::TryTable { try_table } => {
                let mut catches = Vec::new();
                for c in &try_table.catches {
                    let (tag, with_ref, label) = match *c {
                        Catch::One { tag, label } => (Some(tag), false, label),
                        Catch::OneRef { tag, label } => (Some(tag), true, label),
                        Catch::All { label } => (None, false, label),
                        Catch::AllRef { label } => (None, true, label),
                    };
                    let target = self.target(label, offset)?;
                    catches.push(CatchClause {
                        tag,
                        with_ref,
                        target,
                    });
                }
                let mut c = Ctrl::new(self.pc());
                c.try_catches = Some((self.pc(), catches));
                self.ctrl.push(c);
            }
            Operator::End => {
                let c = self
                    .ctrl
                    .pop()
                    .ok_or_else(|| err("unbalanced end", offset))?;
                let pc = self.pc();
                let mut fixups = c.fixups;
                if let Some(j) = c.if_jump {
                    fixups.push(Fixup::Op(j));
                }
                if !c.is_loop {
                    self.patch(fixups, pc);
                }
                if let Some((start, catches)) = c.try_catches {
                    self.code.tries.push(TryRegion {
                        start,
                        end: pc,
                        catches,
                    });
                }
                if self.ctrl.is_empty() {
                    self.label = self.pc();
                    self.emit(Op::Return);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Translates any other instruction.
    fn plain(&mut self, op: &Operator<'_>, offset: usize) -> Result<(), CompileError> {
        if self.v.get_control_frame(0).is_none_or(|f| f.unreachable) {
            return Ok(());
        }
        if let Some(n) = num::numeric(op) {
            self.emit(match n {
                Numeric::Unary(u) => Op::Unary(u),
                Numeric::Binary(b) => IntOp::of(b).map_or(Op::Binary(b), Op::Int),
            });
            return Ok(());
        }
        if let Some((acc, m, is_load)) = access(op) {
            let op = self.access(acc, m, is_load, offset)?;
            self.emit(op);
            return Ok(());
        }
        let goto = match *op {
            Operator::Br { relative_depth } => self.goto(relative_depth, 0, Op::Goto),
            Operator::BrIf { relative_depth } => self.goto(relative_depth, 1, Op::GotoIf),
            _ => false,
        };
        if goto {
            return Ok(());
        }
        let new = match *op {
            Operator::Unreachable => Op::Unreachable,
            Operator::Nop => return Ok(()),
            Operator::Br { relative_depth } => Op::Br(self.target(relative_depth, offset)?),
            Operator::BrIf { relative_depth } => Op::BrIf(self.target(relative_depth, offset)?),
            Operator::BrTable { ref targets } => {
                let first = self.code.targets.len() as u32;
                let mut len = 0;
                for d in targets.targets() {
                    self.target(d?, offset)?;
                    len += 1;
                }
                self.target(targets.default(), offset)?;
                Op::BrTable { first, len }
            }
            Operator::BrOnNull { relative_depth } => {
                Op::BrOnNull(self.target(relative_depth, offset)?)
            }
            Operator::BrOnNonNull { relative_depth } => {
                Op::BrOnNonNull(self.target(relative_depth, offset)?)
            }
            Operator::Return => Op::Return,
            Operator::Call { function_index } => Op::Call(function_index),
            Operator::CallIndirect {
                type_index,
                table_index,
            } => Op::CallIndirect {
                ty: type_index,
                table: table_index,
            },
            Operator::CallRef { type_index } => Op::CallRef(type_index),
            Operator::ReturnCall { function_index } => Op::ReturnCall(function_index),
            Operator::ReturnCallIndirect {
                type_index,
                table_index,
            } => Op::ReturnCallIndirect {
                ty: type_index,
                table: table_index,
            },
            Operator::ReturnCallRef { type_index } => Op::ReturnCallRef(type_index),
            Operator::Drop => Op::Drop,
            Operator::Select | Operator::TypedSelect { .. } => Op::Select,
            Operator::LocalGet { local_index } => Op::LocalGet(local_index),
            Operator::LocalSet { local_index } => Op::LocalSet(local_index),
            Operator::LocalTee { local_index } => Op::LocalTee(local_index),
            Operator::GlobalGet { global_index } => Op::GlobalGet(global_index),
            Operator::GlobalSet { global_index } => Op::GlobalSet(global_index),
            Operator::TableGet { table } => Op::TableGet(table),
            Operator::TableSet { table } => Op::TableSet(table),
            Operator::TableSize { table } => Op::TableSize(table),
            Operator::TableGrow { table } => Op::TableGrow(table),
            Operator::TableFill { table } => Op::TableFill(table),
            Operator::TableCopy {
                dst_table,
                src_table,
            } => Op::TableCopy {
                dst: dst_table,
                src: src_table,
            },
            Operator::TableInit { elem_index, table } => Op::TableInit {
                table,
                elem: elem_index,
            },
            Operator::ElemDrop { elem_index } => Op::ElemDrop(elem_index),
            Operator::MemorySize { mem: 0 }
                if !self.v.resources().memory_at(0).is_some_and(|t| t.memory64) =>
            {
                Op::MemorySize
            }
            Operator::MemorySize { mem } => Op::MemorySizeOf(mem),
            Operator::MemoryGrow { mem } => Op::MemoryGrow(mem),
            Operator::MemoryFill { mem } => Op::MemoryFill(mem),
            Operator::MemoryCopy { dst_mem, src_mem } => Op::MemoryCopy {
                dst: dst_mem,
                src: src_mem,
            },
            Operator::MemoryInit { data_index, mem } => Op::MemoryInit {
                memory: mem,
                data: data_index,
            },
            Operator::DataDrop { data_index } => Op::DataDrop(data_index),
            Operator::I32Const { value } => Op::I32Const(value),
            Operator::I64Const { value } => Op::I64Const(value),
            Operator::F32Const { value } => Op::F32Const(value.bits()),
            Operator::F64Const { value } => Op::F64Const(value.bits()),
            Operator::RefNull { .. } => Op::RefNull,
            Operator::RefIsNull => Op::RefIsNull,
            Operator::RefFunc { function_index } => Op::RefFunc(function_index),
            Operator::RefAsNonNull => Op::RefAsNonNull,
            Operator::RefEq => Op::RefEq,
            Operator::Throw { tag_index } => Op::Throw(tag_index),
            Operator::ThrowRef => Op::ThrowRef,
            Operator::ContNew { cont_type_index } => Op::ContNew(cont_type_index),
            Operator::ContBind {
                argument_index,
                result_index,
            } => Op::ContBind {
                from: argument_index,
                to: result_index,
            },
            Operator::Suspend { tag_index } => Op::Suspend(tag_index),
            Operator::Resume {
                cont_type_index,
                ref resume_table,
            } => Op::Resume {
                ty: cont_type_index,
                table: self.resume_table(&resume_table.handlers, offset)?,
            },
            Operator::ResumeThrow {
                cont_type_index,
                tag_index,
                ref resume_table,
            } => Op::ResumeThrow {
                ty: cont_type_index,
                tag: tag_index,
                table: self.resume_table(&resume_table.handlers, offset)?,
            },
            Operator::ResumeThrowRef {
                cont_type_index,
                ref resume_table,
            } => Op::ResumeThrowRef {
                ty: cont_type_index,
                table: self.resume_table(&resume_table.handlers, offset)?,
            },
            Operator::Switch {
                cont_type_index,
                tag_index,
            } => Op::Switch {
                ty: cont_type_index,
                tag: tag_index,
            },
            ref other => {
                return Err(CompileError {
                    message: format!("instruction not supported by this interpreter: {other:?}"),
                    offset,
                });
            }
        };
        self.emit(new);
        Ok(())
    }

    /// A load (`is_load`) or store: of the compact form for memory 0 of
    /// 32 bits, else of the general form, its [`MemArg`] recorded.
    fn access(
        &mut self,
        acc: Access,
        m: wasmparser::MemArg,
        is_load: bool,
        offset: usize,
    ) -> Result<Op, CompileError> {
        let memory = match m.target {
            MemArgTarget::Memory(i) => i,
            MemArgTarget::Array(_) => {
                return Err(err(
                    "not supported by this interpreter: an access to a GC array",
                    offset,
                ));
            }
        };
        // An index the validator is about to refuse reads as 32-bit.
        let memory64 = self
            .v
            .resources()
            .memory_at(memory)
            .is_some_and(|t| t.memory64);
        if memory == 0 && !memory64 {
            let o = mem_offset(m, offset)?;
            return Ok(if is_load {
                Op::Load(acc, o)
            } else {
                Op::Store(acc, o)
            });
        }
        let i = self.memargs.len() as u32;
        self.memargs.push(MemArg {
            acc,
            memory,
            offset: m.offset,
            memory64,
        });
        Ok(if is_load { Op::LoadX(i) } else { Op::StoreX(i) })
    }

    /// Records a resume's clauses; returns the table's index.
    fn resume_table(&mut self, handlers: &[Handle], offset: usize) -> Result<u32, CompileError> {
        let mut clauses = Vec::with_capacity(handlers.len());
        for h in handlers {
            clauses.push(match *h {
                Handle::OnLabel { tag, label } => Clause {
                    tag,
                    target: Some(self.target(label, offset)?),
                },
                Handle::OnSwitch { tag } => Clause { tag, target: None },
            });
        }
        self.resume_tables.push(clauses);
        Ok(self.resume_tables.len() as u32 - 1)
    }
}

/// The constant `k` pushes, if it is an integer constant that fits in an
/// i32 (an i64 one is sign-extended back when used).
fn imm(k: Op) -> Option<i32> {
    match k {
        Op::I32Const(c) => Some(c),
        Op::I64Const(c) => i32::try_from(c).ok(),
        _ => None,
    }
}

/// What a load or store accesses: its width and extension, its memory
/// argument, and whether it loads; `None` for any other operator.
fn access(op: &Operator<'_>) -> Option<(Access, wasmparser::MemArg, bool)> {
    use Access as A;
    Some(match *op {
        Operator::I32Load { memarg } => (A::I32, memarg, true),
        Operator::I64Load { memarg } => (A::I64, memarg, true),
        Operator::F32Load { memarg } => (A::F32, memarg, true),
        Operator::F64Load { memarg } => (A::F64, memarg, true),
        Operator::I32Load8S { memarg } => (A::I32S8, memarg, true),
        Operator::I32Load8U { memarg } => (A::I32U8, memarg, true),
        Operator::I32Load16S { memarg } => (A::I32S16, memarg, true),
        Operator::I32Load16U { memarg } => (A::I32U16, memarg, true),
        Operator::I64Load8S { memarg } => (A::I64S8, memarg, true),
        Operator::I64Load8U { memarg } => (A::I64U8, memarg, true),
        Operator::I64Load16S { memarg } => (A::I64S16, memarg, true),
        Operator::I64Load16U { memarg } => (A::I64U16, memarg, true),
        Operator::I64Load32S { memarg } => (A::I64S32, memarg, true),
        Operator::I64Load32U { memarg } => (A::I64U32, memarg, true),
        Operator::I32Store { memarg } => (A::I32, memarg, false),
        Operator::I64Store { memarg } => (A::I64, memarg, false),
        Operator::F32Store { memarg } => (A::F32, memarg, false),
        Operator::F64Store { memarg } => (A::F64, memarg, false),
        Operator::I32Store8 { memarg } => (A::I32U8, memarg, false),
        Operator::I32Store16 { memarg } => (A::I32U16, memarg, false),
        Operator::I64Store8 { memarg } => (A::I64U8, memarg, false),
        Operator::I64Store16 { memarg } => (A::I64U16, memarg, false),
        Operator::I64Store32 { memarg } => (A::I64U32, memarg, false),
        _ => return None,
    })
}

/// A static offset of a 32-bit memory's access (the validator refuses
/// one beyond 4 GiB; it is checked again here).
fn mem_offset(m: wasmparser::MemArg, offset: usize) -> Result<u32, CompileError> {
    u32::try_from(m.offset).map_err(|_| err("memory offset beyond 4 GiB", offset))
}
