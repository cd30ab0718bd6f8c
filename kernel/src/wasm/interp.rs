//! The interpreter loop: runs one function's internal form
//! ([`super::code::Code`]) over a value stack.
//!
//! A Wasm call is a Rust call of [`call`]: the callee's frame starts where
//! the caller's arguments are (they become its first locals), and its
//! results end up where they were. So the *native* frames of interpreted
//! code are ordinary Rust frames on whatever stack runs the interpreter:
//! the caller's for [`super::Instance::invoke`], a continuation's own
//! stack for code that `cont.new` started there (each continuation gets a
//! [`Thread`], a value stack of its own, when its function is entered).
//!
//! ```text
//!  Thread::stack (one per native stack)
//!  +--------------------+--------------------+-----------
//!  | caller's frame     | callee's frame     |
//!  | locals | operands  | params=args|locals | operands ...
//!  +--------------------+--------------------+-----------
//!                       ^ callee fp = caller sp - nparams
//! ```
//!
//! Before each call the native stack left is compared with the thread's
//! floor, so deep recursion ends as the trap "call stack exhausted" and
//! never reaches a guard page (or, on the kernel's own stack, a double
//! fault). The floor is the budget's, but never below what the stack it
//! runs on really has ([`stack_floor`]): a budget larger than the stack
//! cannot overflow it. The stack-switching instructions are in [`super::switching`].
//!
//! Every branch taken (so every loop back-edge) and every call is a *safe
//! point*: the interpreter's state is whole there, so a continuation run
//! with a budget (`resume_for`) is preempted there once the budget is
//! spent, and a deadline (`Instance::set_tick_budget`) ends the call
//! there with the trap "timed out". The test on the way through is one
//! load and compare of a byte the tick raises
//! (`cont::runtime::epoch`). At a branch, [`run`] does
//! not call anything when the byte is up: it leaves, its branch taken and
//! its place (`pc`, `sp`) in the thread, as it leaves for a tail call,
//! and [`call`] takes the safe point and runs it on from there. A call
//! in the loop would make the compiler keep the loop's registers where
//! a call preserves them, and every iteration would pay for it.

mod memory;
mod refs;

use super::callee::{NO_TAIL, indirect, linked, tail};
use super::code::{Code, Op};
use super::host::HostFunc;
use super::instance::{Instance, PAGE, STACK_RESERVE};
use super::num;
use super::switching;
use super::trap::{self, Exn, Unwind, wasm_trap};
use super::val::{EXN_REF, ref_word};
use super::wasi;
use crate::cont::ValRaw;
use crate::cont::runtime::epoch::{self, SafePoint};
use alloc::boxed::Box;
use alloc::vec::Vec;
use memory::{load, load_x, store, store_x, tables_and_bulk_memory};
pub(crate) use refs::{exn_of, func_of};

/// Value slots kept free above every frame, for the values a
/// stack-switching instruction stages (a mailbox's worth and a handle).
const SLACK: usize = crate::cont::MAX_VALUES + 2;

/// The interpreter's state on one native stack. Crate-private, as is
/// [`call`]: their slots hold continuation handles as raw bits, which the
/// interpreter hands to the runtime's raw door, so code that could write
/// a slot or pick a frame pointer could forge a handle or index past the
/// stack (the module docs of `switching.rs`).
pub(crate) struct Thread {
    pub(crate) stack: Vec<ValRaw>,
    /// Below this native stack address no new call is made.
    floor: usize,
    /// A tail call's callee, left by [`run`] for [`call`]: its function
    /// index ([`NO_TAIL`]: none) and its instance's id.
    pub(crate) tail: u32,
    pub(crate) tail_instance: u64,
    /// Where [`run`] left its frame at a safe point (`tail` is then
    /// [`PAUSED`]): the op to go on at, and the operand stack's top.
    paused: (usize, usize),
}

/// `Thread::tail` when [`run`] left at a safe point rather than for a tail
/// call (no function index is this large: a module's function count
/// is far below it).
const PAUSED: u32 = NO_TAIL - 1;

impl Thread {
    /// A thread that may use `budget` bytes of native stack below here,
    /// and never more than the stack it runs on has: the floor is at
    /// least [`stack_floor`], whatever the budget says.
    pub(crate) fn new(budget: usize) -> Thread {
        let sp = native_sp();
        Thread {
            stack: Vec::new(),
            floor: sp.saturating_sub(budget).max(stack_floor(sp)),
            tail: NO_TAIL,
            tail_instance: 0,
            paused: (0, 0),
        }
    }
}

/// Native stack the interpreter may use on a host thread that is not in a
/// continuation, whatever the budget: half of the 2 MiB a Rust thread
/// gets by default (the main thread has 8 MiB).
pub const HOST_THREAD_STACK: usize = 1024 * 1024;

/// The lowest address interpreted frames may reach on the native stack
/// `sp` is on, keeping [`STACK_RESERVE`] free below for the runtime's own
/// calls (a trap's backtrace, a print, the heap):
///
/// * a continuation's stack (the running chain's, on the host or in the
///   kernel): its bottom plus the reserve;
/// * in the kernel, the kernel's own stack (`paging::kernel_stack`): its
///   bottom plus the reserve; any other stack (an interrupt stack) is not
///   one the interpreter runs on, so its floor is above every address and
///   the first call traps;
/// * on the host, a thread's own stack, whose bounds this `no_std` crate
///   cannot read: [`HOST_THREAD_STACK`] below `sp`. A host program that
///   runs Wasm on a thread with less stack sets a smaller budget; if it
///   does not, std's guard page ends the process, never memory.
pub fn stack_floor(sp: usize) -> usize {
    if let Some((bottom, _)) = crate::cont::runtime::backtrace::running_stack_containing(sp) {
        return bottom.saturating_add(STACK_RESERVE);
    }
    #[cfg(target_os = "none")]
    {
        let on_kernel_stack = crate::paging::kernel_stack()
            .filter(|k| x86_64::VirtAddr::try_new(sp as u64).is_ok_and(|a| k.contains(a)));
        match on_kernel_stack {
            Some(k) => (k.bottom().as_u64() as usize).saturating_add(STACK_RESERVE),
            None => usize::MAX,
        }
    }
    #[cfg(not(target_os = "none"))]
    {
        sp.saturating_sub(HOST_THREAD_STACK)
    }
}

/// An address in the current native frame.
#[inline(always)]
fn native_sp() -> usize {
    let marker = 0u8;
    core::hint::black_box(&marker) as *const u8 as usize
}

/// A safe point whose flag was raised: preempted and resumed here (or
/// nothing to do), or the call ends: cancelled (its preempted continuation
/// was dropped) or past its deadline.
#[cold]
#[inline(never)]
fn safe_point(inst: &Instance) -> Result<(), Unwind> {
    match epoch::safe_point() {
        SafePoint::Continue => Ok(()),
        SafePoint::TimedOut => Err(wasm_trap(trap::TIMED_OUT)),
        SafePoint::Cancelled => inst
            .store
            .raise::<()>(
                crate::cont::TrapKind::Cancelled,
                "the preempted continuation was dropped",
            )
            .map_err(Unwind::trap),
    }
}

/// Calls function `func` of `inst` with its params at `th.stack[fp..]`;
/// its results are left at `th.stack[fp..]`.
///
/// A tail call (`return_call` and its kin) does not nest: [`run`] leaves
/// the callee in the thread and this loop runs it in the same frame, on the same
/// native stack, so a chain of tail calls of any length runs in constant
/// stack, as the specification requires.
pub(crate) fn call(
    mut inst: &Instance,
    th: &mut Thread,
    mut func: u32,
    fp: usize,
) -> Result<(), Unwind> {
    loop {
        if native_sp() < th.floor {
            return Err(wasm_trap(trap::STACK_EXHAUSTED));
        }
        if epoch::safe_point_due() {
            safe_point(inst)?;
        }
        let def = &inst.module.funcs[func as usize];
        if let Some(h) = def.host {
            return host_call(inst, h, th, fp);
        }
        if def.linked {
            (inst, func) = linked(inst, func)?;
            continue;
        }
        let code = &def.code;
        let need = fp + code.frame_size as usize + SLACK;
        if th.stack.len() < need {
            if th.stack.try_reserve(need - th.stack.len()).is_err() {
                return Err(wasm_trap(trap::STACK_EXHAUSTED));
            }
            th.stack.resize(need, ValRaw::ZERO);
        }
        if code.nlocals > code.nparams {
            th.stack[fp + code.nparams as usize..fp + code.nlocals as usize].fill(ValRaw::ZERO);
        }
        let mut at = (0, fp + code.nlocals as usize);
        loop {
            run(inst, th, code, fp, at)?;
            if th.tail != PAUSED {
                break;
            }
            th.tail = NO_TAIL;
            safe_point(inst)?;
            at = th.paused;
        }
        if th.tail == NO_TAIL {
            return Ok(());
        }
        func = core::mem::replace(&mut th.tail, NO_TAIL);
        if th.tail_instance != inst.id {
            inst = inst
                .resolve(th.tail_instance)
                .ok_or_else(|| wasm_trap(trap::FOREIGN_REFERENCE))?;
        }
    }
}

/// A call of a host function: a `spectest` one prints its line, a WASI
/// one leaves its errno (if it returns) where its params were. Out of
/// line, so that its work does not grow the frame of every interpreted
/// call.
#[cold]
#[inline(never)]
fn host_call(inst: &Instance, h: HostFunc, th: &mut Thread, fp: usize) -> Result<(), Unwind> {
    let HostFunc::Wasi(w) = h else {
        inst.print(&h.line(&th.stack[fp..fp + h.params().len()]));
        return Ok(());
    };
    let errno = wasi::call(inst, w, &th.stack[fp..])?;
    if th.stack.len() <= fp {
        // Only an `invoke` of an exported import of no params gets here.
        th.stack.resize(fp + 1, ValRaw::ZERO);
    }
    th.stack[fp] = ValRaw::from_i32(errno);
    Ok(())
}

#[cold]
#[inline(never)]
/// Where an exception raised by op `at` is caught in this function: the
/// catch clause's branch taken (payload, and the reference for
/// `catch_ref`, at the label's place); or the exception back if no
/// `try_table` around `at` catches it.
fn catch(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    at: u32,
    exn: Box<Exn>,
) -> Result<(usize, usize), Unwind> {
    for region in code.tries.iter().filter(|r| r.start <= at && at < r.end) {
        for c in &region.catches {
            if c.tag.is_some_and(|t| inst.tags[t as usize] != exn.tag) {
                continue;
            }
            let t = code.targets[c.target as usize];
            let mut at = fp + t.dst as usize;
            if c.tag.is_some() {
                th.stack[at..at + exn.payload.len()].copy_from_slice(&exn.payload);
                at += exn.payload.len();
            }
            if c.with_ref {
                let mut exns = inst.exns.borrow_mut();
                if exns.try_reserve(1).is_err() {
                    return Err(wasm_trap(trap::OUT_OF_MEMORY));
                }
                exns.push(*exn);
                th.stack[at] = ValRaw::from_ref(exns.len(), ref_word(inst.id, EXN_REF));
            }
            return Ok((t.to as usize, fp + t.dst as usize + t.n as usize));
        }
    }
    Err(Unwind::Exn(exn))
}

/// Runs `code` in the frame at `fp` from op `pc` with the operand stack's
/// top at `sp` (a fresh frame: op 0, its locals' end) until it returns,
/// makes a tail call (the callee left in `th.tail`, for [`call`] to run in
/// this frame), or comes to a safe point whose flag is up (`th.tail` is
/// [`PAUSED`], its place in `th.paused`, for [`call`] to run on from).
///
/// The hot path reads and writes slots through a raw pointer to the
/// thread's stack, without a bounds check per access: [`call`] made the
/// stack at least `fp + frame_size + SLACK` slots long, and the validator
/// proved every local index below `nlocals` and every operand height
/// below `frame_size - nlocals`, so every slot the loop touches is inside.
/// Anything that may grow the stack (a call, a stack-switching
/// instruction, a caught exception) is followed by `reload!`. Inlined into its one caller.
#[inline(always)]
fn run(
    inst: &Instance,
    th: &mut Thread,
    code: &Code,
    fp: usize,
    (mut pc, mut sp): (usize, usize),
) -> Result<(), Unwind> {
    let mut stk: *mut ValRaw = th.stack.as_mut_ptr();
    let limit = fp + code.frame_size as usize + SLACK;
    debug_assert!(th.stack.len() >= limit);
    // The slot at index `i` of the thread's stack, as a place.
    macro_rules! at {
        ($i:expr) => {
            *{
                let i: usize = $i;
                debug_assert!(i < limit);
                // SAFETY: every index the loop forms is below `limit`, and
                // `limit <= th.stack.len()` (see above); `stk` is reloaded
                // after anything that may move the stack's buffer.
                unsafe { &mut *stk.add(i) }
            }
        };
    }
    macro_rules! reload {
        () => {
            stk = th.stack.as_mut_ptr()
        };
    }
    macro_rules! pop {
        () => {{
            sp -= 1;
            at!(sp)
        }};
    }
    macro_rules! push {
        ($v:expr) => {{
            let v = $v;
            at!(sp) = v;
            sp += 1;
        }};
    }
    macro_rules! local {
        ($i:expr) => {
            at!(fp + $i as usize)
        };
    }
    // Jumps to op `to`, then the safe point (module docs): `Op::Goto`.
    macro_rules! goto {
        ($to:expr) => {{
            pc = $to as usize;
            if epoch::safe_point_due() {
                th.paused = (pc, sp);
                th.tail = PAUSED;
                return Ok(());
            }
        }};
    }
    // Jumps to target `t`, moving its values down first, as `goto!`.
    macro_rules! take {
        ($t:expr) => {{
            let i = $t as usize;
            debug_assert!(i < code.targets.len());
            // SAFETY: translate gives every branch op the index of a
            // target it pushed to `code.targets`.
            let t = *unsafe { code.targets.get_unchecked(i) };
            let (dst, n) = (fp + t.dst as usize, t.n as usize);
            if sp - n != dst {
                for k in 0..n {
                    at!(dst + k) = at!(sp - n + k);
                }
            }
            sp = dst + n;
            goto!(t.to);
        }};
    }
    // An operation that may raise an exception: caught here if a
    // `try_table` around it says so.
    macro_rules! catching {
        ($e:expr) => {
            match $e {
                Ok(v) => {
                    reload!();
                    v
                }
                Err(Unwind::Exn(exn)) => {
                    let (to, top) = catch(inst, th, code, fp, pc as u32 - 1, exn)?;
                    reload!();
                    pc = to;
                    sp = top;
                    continue;
                }
                Err(t) => return Err(t),
            }
        };
    }
    let ops = &code.ops[..];
    loop {
        debug_assert!(pc < ops.len());
        // SAFETY: every function's ops end with a `Return`, and every jump
        // and branch target is an op index of the function (translate
        // patches each one to an index it emitted or is about to).
        let op = *unsafe { ops.get_unchecked(pc) };
        pc += 1;
        match op {
            Op::Int(o) => {
                let y = pop!();
                at!(sp - 1) = o.eval(at!(sp - 1), y);
            }
            Op::IntLL { op, a, b } => push!(op.eval(local!(a), local!(b))),
            Op::IntLI { op, a, c } => push!(op.eval(local!(a), ValRaw::from_i64(c as i64))),
            Op::IntSI { op, c } => at!(sp - 1) = op.eval(at!(sp - 1), ValRaw::from_i64(c as i64)),
            Op::IntLLSet { op, a, b, d } => local!(d) = op.eval(local!(a), local!(b)),
            Op::IntLISet { op, a, c, d } => {
                local!(d) = op.eval(local!(a), ValRaw::from_i64(c as i64))
            }
            Op::IntSet { op, d } => {
                let y = pop!();
                let x = pop!();
                local!(d) = op.eval(x, y);
            }
            Op::BrIfLL { op, a, b, t } => {
                if op.eval_u64(local!(a).i64() as u64, local!(b).i64() as u64) != 0 {
                    take!(t);
                }
            }
            Op::BrIfLI { op, a, c, t } => {
                if op.eval_u64(local!(a).i64() as u64, c as i64 as u64) != 0 {
                    take!(t);
                }
            }
            Op::JumpUnlessLL { op, a, b, to } => {
                if op.eval_u64(local!(a).i64() as u64, local!(b).i64() as u64) == 0 {
                    pc = to as usize;
                }
            }
            Op::JumpUnlessLI { op, a, c, to } => {
                if op.eval_u64(local!(a).i64() as u64, c as i64 as u64) == 0 {
                    pc = to as usize;
                }
            }
            Op::GotoIfLL { op, a, b, to } => {
                if op.eval_u64(local!(a).i64() as u64, local!(b).i64() as u64) != 0 {
                    goto!(to);
                }
            }
            Op::GotoIfLI { op, a, c, to } => {
                if op.eval_u64(local!(a).i64() as u64, c as i64 as u64) != 0 {
                    goto!(to);
                }
            }
            Op::Goto(to) => goto!(to),
            Op::GotoIf(to) => {
                if pop!().i32() != 0 {
                    goto!(to);
                }
            }
            Op::Unreachable => return Err(wasm_trap(trap::UNREACHABLE)),
            Op::Jump(to) => pc = to as usize,
            Op::JumpIfZero(to) => {
                if pop!().i32() == 0 {
                    pc = to as usize;
                }
            }
            Op::JumpIfNonZero(to) => {
                if pop!().i32() != 0 {
                    pc = to as usize;
                }
            }
            Op::Br(t) => take!(t),
            Op::BrIf(t) => {
                if pop!().i32() != 0 {
                    take!(t);
                }
            }
            Op::BrTable { first, len } => {
                let i = (pop!().i32() as u32).min(len);
                take!(first + i);
            }
            Op::BrOnNull(t) => {
                if at!(sp - 1) == ValRaw::ZERO {
                    sp -= 1;
                    take!(t);
                }
            }
            Op::BrOnNonNull(t) => {
                if at!(sp - 1) != ValRaw::ZERO {
                    take!(t);
                } else {
                    sp -= 1;
                }
            }
            Op::Return => {
                let n = code.nresults as usize;
                if n == 1 {
                    at!(fp) = at!(sp - 1); // the common case, no loop
                } else if sp - n != fp {
                    for k in 0..n {
                        at!(fp + k) = at!(sp - n + k);
                    }
                }
                return Ok(());
            }
            Op::Call(f) => {
                let callee = &inst.module.funcs[f as usize].code;
                let at = sp - callee.nparams as usize;
                catching!(call(inst, th, f, at));
                sp = at + callee.nresults as usize;
            }
            Op::CallIndirect { ty, table } => {
                let (owner, f) = indirect(inst, table, ty, pop!())?;
                let def = &owner.module.funcs[f as usize];
                let at = sp - def.code.nparams as usize;
                catching!(call(owner, th, f, at));
                sp = at + def.code.nresults as usize;
            }
            Op::CallRef => {
                let (owner, f) = func_of(inst, pop!())?;
                let callee = &owner.module.funcs[f as usize].code;
                let at = sp - callee.nparams as usize;
                catching!(call(owner, th, f, at));
                sp = at + callee.nresults as usize;
            }
            Op::ReturnCall(f) => {
                tail(inst, f, th, fp, sp);
                return Ok(());
            }
            Op::ReturnCallIndirect { ty, table } => {
                let (owner, f) = indirect(inst, table, ty, pop!())?;
                tail(owner, f, th, fp, sp);
                return Ok(());
            }
            Op::ReturnCallRef => {
                let (owner, f) = func_of(inst, pop!())?;
                tail(owner, f, th, fp, sp);
                return Ok(());
            }
            Op::Drop => sp -= 1,
            Op::Select => {
                let c = pop!().i32();
                let b = pop!();
                if c == 0 {
                    at!(sp - 1) = b;
                }
            }
            Op::LocalGet(i) => push!(local!(i)),
            Op::LocalSet(i) => {
                let v = pop!();
                local!(i) = v;
            }
            Op::LocalTee(i) => local!(i) = at!(sp - 1),
            Op::GlobalGet(g) => push!(inst.globals[g as usize].get()),
            Op::GlobalSet(g) => {
                let v = pop!();
                inst.globals[g as usize].set(v);
            }
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
            | Op::DataDrop(_) => {
                sp = tables_and_bulk_memory(inst, &mut th.stack, sp, op)?;
                reload!();
            }
            Op::Load(acc, offset) => {
                let a = pop!();
                push!(load(inst, acc, offset, a)?);
            }
            Op::Store(acc, offset) => {
                let v = pop!();
                let a = pop!();
                store(inst, acc, offset, a, v)?;
            }
            Op::LoadL { acc, offset, a } => push!(load(inst, acc, offset, local!(a))?),
            Op::StoreLI { acc, offset, a, c } => {
                store(inst, acc, offset, local!(a), ValRaw::from_i64(c as i64))?
            }
            Op::LoadX(i) => {
                let a = pop!();
                push!(load_x(inst, &inst.module.memargs[i as usize], a)?);
            }
            Op::StoreX(i) => {
                let v = pop!();
                let a = pop!();
                store_x(inst, &inst.module.memargs[i as usize], a, v)?;
            }
            Op::MemorySize => {
                push!(ValRaw::from_i32((inst.memory.borrow().len() / PAGE) as i32))
            }
            Op::I32Const(v) => push!(ValRaw::from_i32(v)),
            Op::I64Const(v) => push!(ValRaw::from_i64(v)),
            Op::F32Const(v) => push!(ValRaw::from_v128(v as u128)),
            Op::F64Const(v) => push!(ValRaw::from_v128(v as u128)),
            Op::Unary(u) => {
                let x = at!(sp - 1);
                at!(sp - 1) = num::unary(u, x).map_err(wasm_trap)?;
            }
            Op::Binary(b) => {
                let y = pop!();
                let x = at!(sp - 1);
                at!(sp - 1) = num::binary(b, x, y).map_err(wasm_trap)?;
            }
            Op::RefNull => push!(ValRaw::ZERO),
            Op::RefIsNull => {
                let v = at!(sp - 1);
                at!(sp - 1) = ValRaw::from_i32((v == ValRaw::ZERO) as i32);
            }
            Op::RefFunc(f) => push!(inst.funcref(f)),
            Op::RefAsNonNull => {
                if at!(sp - 1) == ValRaw::ZERO {
                    return Err(wasm_trap(trap::NULL_REFERENCE));
                }
            }
            Op::RefEq => {
                let b = pop!();
                let a = at!(sp - 1);
                at!(sp - 1) = ValRaw::from_i32((a == b) as i32);
            }
            Op::Throw(tag) => {
                let tag = inst.tags[tag as usize];
                let n = tag.params().len();
                sp -= n;
                let payload = th.stack[sp..sp + n].to_vec();
                catching!(Err::<(), _>(Unwind::exn(Exn { tag, payload })));
            }
            Op::ThrowRef => {
                let exn = exn_of(inst, pop!())?;
                catching!(Err::<(), _>(Unwind::exn(exn)));
            }
            Op::ContNew(_) => {
                let v = pop!();
                push!(switching::cont_new(inst, v)?);
            }
            Op::ContBind { from, to } => {
                sp = switching::cont_bind(inst, &mut th.stack, sp, from, to)?;
                reload!();
            }
            Op::Suspend(tag) => {
                sp = catching!(switching::suspend(inst, &mut th.stack, sp, tag));
            }
            Op::Resume { ty, table } => {
                let (to, top) = catching!(switching::resume(inst, th, code, fp, sp, ty, table));
                if let Some(to) = to {
                    pc = to;
                }
                sp = top;
            }
            Op::ResumeThrow { ty, tag, table } => {
                let (to, top) = catching!(switching::resume_throw(
                    inst, th, code, fp, sp, ty, tag, table
                ));
                if let Some(to) = to {
                    pc = to;
                }
                sp = top;
            }
            Op::ResumeThrowRef { table } => {
                let (to, top) =
                    catching!(switching::resume_throw_ref(inst, th, code, fp, sp, table));
                if let Some(to) = to {
                    pc = to;
                }
                sp = top;
            }
            Op::Switch { ty, tag } => {
                sp = catching!(switching::switch(inst, &mut th.stack, sp, ty, tag));
            }
        }
    }
}
