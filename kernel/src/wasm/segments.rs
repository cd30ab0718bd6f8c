//! Instantiation's data: an instance's own memories made, constant
//! expressions evaluated, and the active segments written.
//!
//! Apart from `instance.rs` so that each file stays readable: these are
//! the steps of instantiation that deal in addresses and sizes, where a
//! 64-bit memory or table (memory64) takes its offsets as i64 values and
//! every sum is checked without wrapping.

use super::instance::{Error, Instance, MAX_PAGES, page_limit};
use super::memory::{LinearMemory, MemoryError};
use super::module::{ConstOp, MemoryDef, SegmentMode};
use super::trap;
use super::val::{FUNC_REF, ref_word};
use crate::cont::{Store, Trap, TrapKind, ValRaw};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

/// A memory the module defines, and the most pages it may grow to: its
/// maximum (none: the index space), at most the store's limit
/// ([`page_limit`]), whatever its index type says (a 64-bit memory's
/// maximum may be far beyond; the store's limit still holds).
pub(crate) fn make_memory(
    m: &MemoryDef,
    store: &Store,
) -> Result<(Rc<RefCell<LinearMemory>>, u64), Error> {
    let max = m.maximum.unwrap_or(MAX_PAGES).min(page_limit(store));
    if m.initial > max {
        return Err(Error::Instantiate("memory larger than this kernel allows"));
    }
    let memory = LinearMemory::new(m.initial, max).map_err(|e| {
        Error::Instantiate(match e {
            MemoryError::TooLarge => "memory larger than this kernel allows",
            MemoryError::NoSlot => "no slot left for the memory",
            MemoryError::NoFrames => "no frames for the memory",
        })
    })?;
    Ok((Rc::new(RefCell::new(memory)), max))
}

/// The trap of an active segment out of bounds at instantiation.
#[cold]
fn segment_trap(reason: &'static str) -> Error {
    Error::Trap(Trap::new(TrapKind::Guest, reason))
}

/// A borrow of an imported table or memory, or the trap `trap::IN_USE`
/// if a call of its owner, preempted in the middle of a bulk
/// instruction, holds it (a panic of `borrow_mut` would end the kernel).
fn in_use<R, E>(r: Result<R, E>) -> Result<R, Error> {
    r.map_err(|_| segment_trap(trap::IN_USE))
}

/// An offset: an i64 for a 64-bit memory or table, else an i32.
fn offset_of(v: ValRaw, wide: bool) -> u64 {
    if wide {
        v.i64() as u64
    } else {
        v.i32() as u32 as u64
    }
}

/// `at..at + len` if it lies within `size`, summed without wrapping.
fn fits(at: u64, len: usize, size: usize) -> Option<(usize, usize)> {
    let end = at.checked_add(len as u64).filter(|&e| e <= size as u64)?;
    Some((at as usize, end as usize))
}

impl Instance {
    /// Writes the active element and data segments, in order, into their
    /// tables and memories (which may be other instances'); each one
    /// written is dropped. One that does not fit traps, as the
    /// specification's `table.init` and `memory.init` would: the
    /// segments before it stay written.
    pub(crate) fn write_segments(&self) -> Result<(), Error> {
        for (i, e) in self.module.elems.iter().enumerate() {
            match &e.mode {
                SegmentMode::Active { index, offset } => {
                    let wide = self.module.tables[*index as usize].table64;
                    let at = offset_of(self.eval(offset)?, wide);
                    let items = core::mem::take(&mut *self.elems[i].borrow_mut());
                    let mut table = in_use(self.tables[*index as usize].try_borrow_mut())?;
                    let (s, e) = fits(at, items.len(), table.len())
                        .ok_or_else(|| segment_trap(trap::OUT_OF_BOUNDS_TABLE))?;
                    table[s..e].copy_from_slice(&items);
                }
                SegmentMode::Declared => self.elems[i].borrow_mut().clear(),
                SegmentMode::Passive => {}
            }
        }
        for (i, d) in self.module.datas.iter().enumerate() {
            if let SegmentMode::Active { index, offset } = &d.mode {
                let wide = self.module.memories[*index as usize].memory64;
                let at = offset_of(self.eval(offset)?, wide);
                let mut mem = in_use(self.memories[*index as usize].try_borrow_mut())?;
                let (s, e) = fits(at, d.bytes.len(), mem.len())
                    .ok_or_else(|| segment_trap(trap::OUT_OF_BOUNDS_MEMORY))?;
                mem[s..e].copy_from_slice(&d.bytes);
                self.data_live[i].set(false);
            }
        }
        Ok(())
    }

    /// A constant expression's value.
    pub(crate) fn eval(&self, expr: &[ConstOp]) -> Result<ValRaw, Error> {
        let mut st: Vec<ValRaw> = Vec::new();
        let bad = Error::Instantiate("malformed constant expression");
        for op in expr {
            let v = match *op {
                ConstOp::I32(v) => ValRaw::from_i32(v),
                ConstOp::I64(v) => ValRaw::from_i64(v),
                ConstOp::F32(v) => ValRaw::from_v128(v as u128),
                ConstOp::F64(v) => ValRaw::from_v128(v as u128),
                ConstOp::GlobalGet(g) => self
                    .globals
                    .get(g as usize)
                    .map(|g| g.get())
                    .ok_or(Error::Instantiate("global read before it is set"))?,
                ConstOp::RefNull => ValRaw::ZERO,
                ConstOp::RefFunc(f) => self.funcref(f),
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let (b, a) = (st.pop(), st.pop());
                    let (Some(a), Some(b)) = (a, b) else {
                        return Err(bad);
                    };
                    let (a, b) = (a.i32(), b.i32());
                    ValRaw::from_i32(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let (b, a) = (st.pop(), st.pop());
                    let (Some(a), Some(b)) = (a, b) else {
                        return Err(bad);
                    };
                    let (a, b) = (a.i64(), b.i64());
                    ValRaw::from_i64(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
            };
            st.push(v);
        }
        st.pop().ok_or(bad)
    }

    /// The `funcref` of function `f`: for an imported one, the
    /// reference its own instance makes (one function, one reference).
    pub(crate) fn funcref(&self, f: u32) -> ValRaw {
        if let Some((other, g)) = self.link(f) {
            return other.funcref(g);
        }
        ValRaw::from_ref(f as usize + 1, ref_word(self.id, FUNC_REF))
    }
}
