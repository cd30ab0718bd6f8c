//! The memory and table instructions of the interpreter: loads and
//! stores, `memory.grow`, the bulk memory and the table instructions.
//!
//! Apart from the handlers (`data.rs`), which call them: a load or store
//! of memory 0 in two halves, the common case (`try_load`, `try_store`)
//! inlined into its handler with no call, and the rest (a trap, another
//! memory, the bulk and table instructions) out of line, so that their
//! temporaries and calls give no frame to the handlers.

use super::super::code::{Access, MemArg, Op};
use super::super::instance::Instance;
use super::super::trap::{self, Unwind, shared, shared_mut, wasm_trap};
use crate::cont::ValRaw;

/// A load of a 32-bit memory 0, the common case: `None` if it is out of
/// bounds or the memory is borrowed mutably (then [`load`] says why).
/// Inlined into its handlers, two per access (`dispatch::per_access!`),
/// where `acc` is a constant; it makes no call, so they need no frame.
///
/// It looks at the memory's borrow flag but takes no borrow: a borrow
/// taken and given back is two writes of the flag per access, which the
/// compiler cannot drop (the access itself might write the flag, as far
/// as it knows). Looking is enough, because no other code of this store
/// runs between the look and the end of the access: the handler calls
/// nothing, and no interrupt handler touches a linear memory. The one
/// exception is the preemption stub (`docs/interrupts.md`), which may
/// stop any instruction of a guest whose safe point is a whole period
/// late. Stopped between the look and the access, the access completes
/// after whatever ran meanwhile, which may have borrowed the memory
/// (a WASI call) and been stopped in turn: the two then overlap, where a
/// borrow held across the access would have made the other one trap
/// (except in the two instructions between a `RefCell`'s look and its
/// write of the flag). The overlap is of plain bytes, which have no
/// invariant to break, and on the kernel the bytes never move while the
/// memory lives (its slot is fixed, a grow only adds pages), so the
/// delayed access still lands in the memory; the host has no stub.
#[inline(always)]
pub(super) fn try_load(inst: &Instance, acc: Access, offset: u32, addr: ValRaw) -> Option<ValRaw> {
    let ea = addr.i32() as u32 as usize + offset as usize;
    // SAFETY: `Ok` means no `RefMut` of the memory is out, and none is
    // made while `mem` lives: it is dropped before the handler goes on,
    // and nothing runs in between (above).
    let mem = unsafe { inst.memory.try_borrow_unguarded() }.ok()?;
    let bytes = mem.get(ea..ea + acc.width())?;
    Some(value(acc, bytes))
}

/// A load of a 32-bit memory 0, or the trap it makes.
#[cold]
#[inline(never)]
pub(super) fn load(
    inst: &Instance,
    acc: Access,
    offset: u32,
    addr: ValRaw,
) -> Result<ValRaw, Unwind> {
    let ea = addr.i32() as u32 as usize + offset as usize;
    let w = acc.width();
    let mem = shared(&inst.memory)?;
    let bytes = mem
        .get(ea..ea + w)
        .ok_or_else(|| wasm_trap(trap::OUT_OF_BOUNDS_MEMORY))?;
    Ok(value(acc, bytes))
}

/// The value a load of kind `acc` makes of the little-endian `bytes` it
/// read (as many as its width): zero- or sign-extended to its type.
#[inline(always)]
fn value(acc: Access, bytes: &[u8]) -> ValRaw {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    let raw = u64::from_le_bytes(buf);
    match acc {
        Access::I32 | Access::F32 | Access::I32U8 | Access::I32U16 => {
            ValRaw::from_i32(raw as u32 as i32)
        }
        Access::I64 | Access::F64 | Access::I64U8 | Access::I64U16 | Access::I64U32 => {
            ValRaw::from_i64(raw as i64)
        }
        Access::I32S8 => ValRaw::from_i32(raw as i8 as i32),
        Access::I32S16 => ValRaw::from_i32(raw as i16 as i32),
        Access::I64S8 => ValRaw::from_i64(raw as i8 as i64),
        Access::I64S16 => ValRaw::from_i64(raw as i16 as i64),
        Access::I64S32 => ValRaw::from_i64(raw as i32 as i64),
    }
}

/// A store to a 32-bit memory 0, the common case, as [`try_load`]:
/// `false` if it is out of bounds or the memory is borrowed at all, and
/// nothing is written. It looks at the borrow flag and takes no borrow,
/// as [`try_load`] does.
#[inline(always)]
pub(super) fn try_store(
    inst: &Instance,
    acc: Access,
    offset: u32,
    addr: ValRaw,
    v: ValRaw,
) -> bool {
    let ea = addr.i32() as u32 as usize + offset as usize;
    let w = acc.width();
    // A borrow taken and dropped at once: the flag's writes cancel out,
    // and what is left is the look (the compiler keeps no dead write).
    if inst.memory.try_borrow_mut().is_err() {
        return false;
    }
    // SAFETY: no `Ref` or `RefMut` of the memory is out (just looked),
    // and none is made while `mem` lives: nothing runs between the look
    // and the end of the store (see `try_load`).
    let mem = unsafe { &mut *inst.memory.as_ptr() };
    let Some(bytes) = mem.get_mut(ea..ea + w) else {
        return false;
    };
    bytes.copy_from_slice(&(v.v128() as u64).to_le_bytes()[..w]);
    true
}

/// A store to a 32-bit memory 0, or the trap it makes.
#[cold]
#[inline(never)]
pub(super) fn store(
    inst: &Instance,
    acc: Access,
    offset: u32,
    addr: ValRaw,
    v: ValRaw,
) -> Result<(), Unwind> {
    let ea = addr.i32() as u32 as usize + offset as usize;
    let w = acc.width();
    let mut mem = shared_mut(&inst.memory)?;
    let bytes = mem
        .get_mut(ea..ea + w)
        .ok_or_else(|| wasm_trap(trap::OUT_OF_BOUNDS_MEMORY))?;
    bytes.copy_from_slice(&(v.v128() as u64).to_le_bytes()[..w]);
    Ok(())
}

/// The bytes a general access `m` of `width` bytes at `addr` reaches, in
/// `mem`'s `len` bytes: the address (an i64 for a 64-bit memory) plus
/// the static offset plus the width, summed without wrapping, must not
/// pass the end.
#[inline(always)]
fn reach(m: &MemArg, addr: ValRaw, len: usize) -> Result<usize, Unwind> {
    let a = index(addr, m.memory64);
    let w = m.acc.width() as u64;
    match a
        .checked_add(m.offset)
        .filter(|ea| ea.checked_add(w).is_some_and(|e| e <= len as u64))
    {
        Some(ea) => Ok(ea as usize),
        None => Err(wasm_trap(trap::OUT_OF_BOUNDS_MEMORY)),
    }
}

/// A load of the general form: any memory, 32- or 64-bit.
#[inline(never)]
pub(super) fn load_x(inst: &Instance, m: &MemArg, addr: ValRaw) -> Result<ValRaw, Unwind> {
    let mem = shared(&inst.memories[m.memory as usize])?;
    let ea = reach(m, addr, mem.len())?;
    let w = m.acc.width();
    Ok(value(m.acc, &mem[ea..ea + w]))
}

/// A store of the general form.
#[inline(never)]
pub(super) fn store_x(inst: &Instance, m: &MemArg, addr: ValRaw, v: ValRaw) -> Result<(), Unwind> {
    let mut mem = shared_mut(&inst.memories[m.memory as usize])?;
    let ea = reach(m, addr, mem.len())?;
    let w = m.acc.width();
    mem[ea..ea + w].copy_from_slice(&(v.v128() as u64).to_le_bytes()[..w]);
    Ok(())
}

/// An address, length or table index: an i64 for a 64-bit memory or
/// table, else an i32 (zero-extended).
#[inline(always)]
fn index(v: ValRaw, wide: bool) -> u64 {
    if wide {
        v.i64() as u64
    } else {
        v.i32() as u32 as u64
    }
}

/// A size, an old size or -1, as an i64 for a 64-bit memory or table,
/// else as an i32.
fn sized(v: i64, wide: bool) -> ValRaw {
    if wide {
        ValRaw::from_i64(v)
    } else {
        ValRaw::from_i32(v as i32)
    }
}

/// `start..start + len` within `size`, or the trap (the sum is formed
/// without wrapping: a 64-bit start and length may be anything).
fn range(start: u64, len: u64, size: usize, why: &'static str) -> Result<(usize, usize), Unwind> {
    match start.checked_add(len) {
        Some(end) if end <= size as u64 => Ok((start as usize, end as usize)),
        _ => Err(wasm_trap(why)),
    }
}

/// The table instructions and the bulk memory ones, over the stack
/// below `sp`; returns
/// the new top. Out of line: their temporaries would otherwise widen the
/// native frame of every interpreted call, and their arms lengthen the
/// loop's own code.
#[inline(never)]
pub(super) fn tables_and_bulk_memory(
    inst: &Instance,
    stack: &mut [ValRaw],
    mut sp: usize,
    op: Op,
) -> Result<usize, Unwind> {
    macro_rules! pop {
        () => {{
            sp -= 1;
            stack[sp]
        }};
    }
    macro_rules! push {
        ($v:expr) => {{
            let v = $v;
            stack[sp] = v;
            sp += 1;
        }};
    }
    let t64 = |t: u32| inst.module.tables[t as usize].table64;
    let m64 = |m: u32| inst.module.memories[m as usize].memory64;
    match op {
        Op::TableGet(t) => {
            let i = index(pop!(), t64(t));
            let table = shared(&inst.tables[t as usize])?;
            let (i, _) = range(i, 1, table.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            push!(table[i]);
        }
        Op::TableSet(t) => {
            let v = pop!();
            let i = index(pop!(), t64(t));
            let mut table = shared_mut(&inst.tables[t as usize])?;
            let (i, _) = range(i, 1, table.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            table[i] = v;
        }
        Op::TableSize(t) => {
            let n = shared(&inst.tables[t as usize])?.len() as i64;
            push!(sized(n, t64(t)))
        }
        Op::TableGrow(t) => {
            let n = index(pop!(), t64(t));
            let init = pop!();
            let mut table = shared_mut(&inst.tables[t as usize])?;
            let old = table.len() as u64;
            let r = match old.checked_add(n) {
                Some(new)
                    if new <= inst.table_max[t as usize]
                        && table.try_reserve_exact(n as usize).is_ok() =>
                {
                    table.resize(new as usize, init);
                    old as i64
                }
                _ => -1,
            };
            push!(sized(r, t64(t)));
        }
        Op::TableFill(t) => {
            let n = index(pop!(), t64(t));
            let v = pop!();
            let i = index(pop!(), t64(t));
            let mut table = shared_mut(&inst.tables[t as usize])?;
            let (s, e) = range(i, n, table.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            table[s..e].fill(v);
        }
        Op::TableCopy { dst, src } => {
            let n = index(pop!(), t64(dst) && t64(src));
            let s = index(pop!(), t64(src));
            let d = index(pop!(), t64(dst));
            let mut to = shared_mut(&inst.tables[dst as usize])?;
            let (ds, de) = range(d, n, to.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            if src == dst {
                let (ss, se) = range(s, n, to.len(), trap::OUT_OF_BOUNDS_TABLE)?;
                to.copy_within(ss..se, ds);
            } else {
                let from = shared(&inst.tables[src as usize])?;
                let (ss, se) = range(s, n, from.len(), trap::OUT_OF_BOUNDS_TABLE)?;
                to[ds..de].copy_from_slice(&from[ss..se]);
            }
        }
        Op::TableInit { table, elem } => {
            let n = index(pop!(), false);
            let s = index(pop!(), false);
            let d = index(pop!(), t64(table));
            let items = shared(&inst.elems[elem as usize])?;
            let mut to = shared_mut(&inst.tables[table as usize])?;
            let (ss, se) = range(s, n, items.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            let (ds, de) = range(d, n, to.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            to[ds..de].copy_from_slice(&items[ss..se]);
        }
        Op::ElemDrop(e) => shared_mut(&inst.elems[e as usize])?.clear(),
        Op::MemorySizeOf(m) => {
            let pages = shared(&inst.memories[m as usize])?.pages();
            push!(sized(pages as i64, m64(m)));
        }
        Op::MemoryGrow(m) => {
            let delta = index(pop!(), m64(m));
            let old = shared_mut(&inst.memories[m as usize])?.grow(delta);
            push!(sized(old.map_or(-1, |o| o as i64), m64(m)));
        }
        Op::MemoryFill(m) => {
            let n = index(pop!(), m64(m));
            let v = pop!().i32() as u8;
            let d = index(pop!(), m64(m));
            let mut mem = shared_mut(&inst.memories[m as usize])?;
            let (s, e) = range(d, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            mem[s..e].fill(v);
        }
        Op::MemoryCopy { dst, src } => {
            let n = index(pop!(), m64(dst) && m64(src));
            let s = index(pop!(), m64(src));
            let d = index(pop!(), m64(dst));
            let (to, from) = (&inst.memories[dst as usize], &inst.memories[src as usize]);
            // Two indices may name one memory (imported twice): one borrow.
            if alloc::rc::Rc::ptr_eq(to, from) {
                let mut mem = shared_mut(to)?;
                let (ss, se) = range(s, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
                let (ds, _) = range(d, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
                mem.copy_within(ss..se, ds);
            } else {
                let (mut to, from) = (shared_mut(to)?, shared(from)?);
                let (ss, se) = range(s, n, from.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
                let (ds, de) = range(d, n, to.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
                to[ds..de].copy_from_slice(&from[ss..se]);
            }
        }
        Op::MemoryInit { memory, data: seg } => {
            let n = index(pop!(), false);
            let s = index(pop!(), false);
            let d = index(pop!(), m64(memory));
            let data: &[u8] = if inst.data_live[seg as usize].get() {
                &inst.module.datas[seg as usize].bytes
            } else {
                &[]
            };
            let mut mem = shared_mut(&inst.memories[memory as usize])?;
            let (ss, se) = range(s, n, data.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            let (ds, de) = range(d, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            mem[ds..de].copy_from_slice(&data[ss..se]);
        }
        Op::DataDrop(seg) => inst.data_live[seg as usize].set(false),
        _ => unreachable!("not a table or bulk memory instruction: {op:?}"),
    }
    Ok(sp)
}
