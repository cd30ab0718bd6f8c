//! The memory and table instructions of the interpreter loop: loads and
//! stores, `memory.grow`, the bulk memory and the table instructions.
//!
//! Apart from [`super::run`] because each is one out-of-line call there:
//! their temporaries and bounds checks stay out of the loop's own frame,
//! which every interpreted call pays for.

use super::super::code::{Access, Op};
use super::super::instance::Instance;
use super::super::trap::{self, Unwind, wasm_trap};
use crate::cont::ValRaw;

#[inline(never)]
pub(super) fn load(
    inst: &Instance,
    acc: Access,
    offset: u32,
    addr: ValRaw,
) -> Result<ValRaw, Unwind> {
    let ea = addr.i32() as u32 as usize + offset as usize;
    let w = acc.width();
    let mem = inst.memory.borrow();
    let bytes = mem
        .get(ea..ea + w)
        .ok_or_else(|| wasm_trap(trap::OUT_OF_BOUNDS_MEMORY))?;
    let mut buf = [0u8; 8];
    buf[..w].copy_from_slice(bytes);
    let raw = u64::from_le_bytes(buf);
    Ok(match acc {
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
    })
}

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
    let mut mem = inst.memory.borrow_mut();
    let bytes = mem
        .get_mut(ea..ea + w)
        .ok_or_else(|| wasm_trap(trap::OUT_OF_BOUNDS_MEMORY))?;
    bytes.copy_from_slice(&(v.v128() as u64).to_le_bytes()[..w]);
    Ok(())
}

/// `memory.grow`: the old size in pages, or -1.
fn memory_grow(inst: &Instance, delta: u32) -> i32 {
    match inst.memory.borrow_mut().grow(delta as u64) {
        Some(old) => old as i32,
        None => -1,
    }
}

/// `start..start + len` within `size`, or the trap.
fn range(start: u32, len: u32, size: usize, why: &'static str) -> Result<(usize, usize), Unwind> {
    let (s, l) = (start as usize, len as usize);
    if s + l > size {
        return Err(wasm_trap(why));
    }
    Ok((s, s + l))
}

/// The table instructions and the bulk memory ones, over the stack
/// below `sp`; returns the new top. Out of line: their temporaries would
/// otherwise widen the native frame of every interpreted call.
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
    match op {
        Op::TableGet(t) => {
            let i = pop!().i32() as u32 as usize;
            let v = inst.tables[t as usize].borrow().get(i).copied();
            push!(v.ok_or_else(|| wasm_trap(trap::OUT_OF_BOUNDS_TABLE))?);
        }
        Op::TableSet(t) => {
            let v = pop!();
            let i = pop!().i32() as u32 as usize;
            let mut table = inst.tables[t as usize].borrow_mut();
            *table
                .get_mut(i)
                .ok_or_else(|| wasm_trap(trap::OUT_OF_BOUNDS_TABLE))? = v;
        }
        Op::TableSize(t) => {
            push!(ValRaw::from_i32(
                inst.tables[t as usize].borrow().len() as i32
            ))
        }
        Op::TableGrow(t) => {
            let n = pop!().i32() as u32 as u64;
            let init = pop!();
            let mut table = inst.tables[t as usize].borrow_mut();
            let old = table.len() as u64;
            let r = if old + n > inst.table_max[t as usize]
                || table.try_reserve_exact(n as usize).is_err()
            {
                -1
            } else {
                table.resize((old + n) as usize, init);
                old as i32
            };
            push!(ValRaw::from_i32(r));
        }
        Op::TableFill(t) => {
            let n = pop!().i32() as u32;
            let v = pop!();
            let i = pop!().i32() as u32;
            let mut table = inst.tables[t as usize].borrow_mut();
            let (s, e) = range(i, n, table.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            table[s..e].fill(v);
        }
        Op::TableCopy { dst, src } => {
            let n = pop!().i32() as u32;
            let s = pop!().i32() as u32;
            let d = pop!().i32() as u32;
            let mut to = inst.tables[dst as usize].borrow_mut();
            let (ds, de) = range(d, n, to.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            if src == dst {
                let (ss, se) = range(s, n, to.len(), trap::OUT_OF_BOUNDS_TABLE)?;
                to.copy_within(ss..se, ds);
            } else {
                let from = inst.tables[src as usize].borrow();
                let (ss, se) = range(s, n, from.len(), trap::OUT_OF_BOUNDS_TABLE)?;
                to[ds..de].copy_from_slice(&from[ss..se]);
            }
        }
        Op::TableInit { table, elem } => {
            let n = pop!().i32() as u32;
            let s = pop!().i32() as u32;
            let d = pop!().i32() as u32;
            let items = inst.elems[elem as usize].borrow();
            let mut to = inst.tables[table as usize].borrow_mut();
            let (ss, se) = range(s, n, items.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            let (ds, de) = range(d, n, to.len(), trap::OUT_OF_BOUNDS_TABLE)?;
            to[ds..de].copy_from_slice(&items[ss..se]);
        }
        Op::ElemDrop(e) => inst.elems[e as usize].borrow_mut().clear(),
        Op::MemoryGrow => {
            let delta = pop!().i32() as u32;
            push!(ValRaw::from_i32(memory_grow(inst, delta)));
        }
        Op::MemoryFill => {
            let n = pop!().i32() as u32;
            let v = pop!().i32() as u8;
            let d = pop!().i32() as u32;
            let mut mem = inst.memory.borrow_mut();
            let (s, e) = range(d, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            mem[s..e].fill(v);
        }
        Op::MemoryCopy => {
            let n = pop!().i32() as u32;
            let s = pop!().i32() as u32;
            let d = pop!().i32() as u32;
            let mut mem = inst.memory.borrow_mut();
            let (ss, se) = range(s, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            let (ds, _) = range(d, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            mem.copy_within(ss..se, ds);
        }
        Op::MemoryInit(seg) => {
            let n = pop!().i32() as u32;
            let s = pop!().i32() as u32;
            let d = pop!().i32() as u32;
            let data: &[u8] = if inst.data_live[seg as usize].get() {
                &inst.module.datas[seg as usize].bytes
            } else {
                &[]
            };
            let mut mem = inst.memory.borrow_mut();
            let (ss, se) = range(s, n, data.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            let (ds, de) = range(d, n, mem.len(), trap::OUT_OF_BOUNDS_MEMORY)?;
            mem[ds..de].copy_from_slice(&data[ss..se]);
        }
        Op::DataDrop(seg) => inst.data_live[seg as usize].set(false),
        _ => unreachable!("not a table or bulk memory instruction: {op:?}"),
    }
    Ok(sp)
}
