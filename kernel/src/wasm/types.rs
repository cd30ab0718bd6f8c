//! Value types: which runtime slot type ([`crate::cont::ValType`]) each
//! WebAssembly value type travels as, and the lists of them the runtime
//! keeps.
//!
//! The runtime checks the signatures of continuations and tags as
//! `&'static [ValType]` lists (see `cont::val`). A module learns its
//! signatures only when it is decoded, so its lists are *interned*: each
//! distinct list is allocated once, for the life of the kernel, and every
//! module that needs it gets the same slice. The memory this keeps is
//! bounded by the number of distinct signatures ever seen, not by the
//! number of modules loaded.
//!
//! Reference types fold onto two slot types: anything whose heap type is a
//! continuation type is `ContRef` (a handle the runtime checks when it is
//! used), every other reference is `Ref` (a pointer the runtime carries and
//! never follows). Validation has already proved the finer types right.

use crate::cont::ValType;
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::vec::Vec;
use wasmparser::types::{CoreTypeId, Types};
use wasmparser::{AbstractHeapType, CompositeInnerType, HeapType, UnpackedIndex};

/// Every list handed out so far.
static INTERNED: Mutex<Vec<&'static [ValType]>> = Mutex::kernel("wasm signatures", Vec::new());

/// The one `'static` copy of `list`.
///
/// Nothing is allocated while the list's lock is held: a module may be
/// loaded by a guest, whose allocation is refused past its store's quota,
/// and that refusal's panic abandons the guest's frames, a lock guard among
/// them included; the lock would stay taken, and the next load anywhere
/// would end the boot. So the copy is made, and the list grown, with the
/// lock free; under it, only what cannot allocate.
pub fn intern(list: &[ValType]) -> &'static [ValType] {
    if list.is_empty() {
        return &[];
    }
    if let Some(found) = find(&INTERNED.lock(), list) {
        return found;
    }
    let fresh: Box<[ValType]> = Box::from(list);
    loop {
        let mut all = INTERNED.lock();
        if let Some(found) = find(&all, list) {
            return found;
        }
        if all.len() < all.capacity() {
            let leaked: &'static [ValType] = Box::leak(fresh);
            // Room for it: no allocation.
            all.push(leaked);
            return leaked;
        }
        let room = all.capacity().max(4) * 2;
        drop(all);
        let mut bigger: Vec<&'static [ValType]> = Vec::with_capacity(room);
        let mut all = INTERNED.lock();
        if all.capacity() < room {
            // Copied into room it has: the list holds at most its
            // capacity, less than `room`.
            bigger.extend_from_slice(&all);
            core::mem::swap(&mut *all, &mut bigger);
        }
        drop(all);
        // The old buffer (or the unused new one) goes with the lock free.
        drop(bigger);
    }
}

/// The interned copy of `list` in `all`, if there is one.
fn find(all: &[&'static [ValType]], list: &[ValType]) -> Option<&'static [ValType]> {
    all.iter().find(|l| ***l == *list).copied()
}

/// Whether the type `id` is a continuation type.
pub fn is_cont_type(types: &Types, id: CoreTypeId) -> bool {
    matches!(types[id].composite_type.inner, CompositeInnerType::Cont(_))
}

/// The slot type a value of Wasm type `t` travels as.
pub fn slot_type(types: &Types, t: wasmparser::ValType) -> ValType {
    match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(r) => match r.heap_type() {
            HeapType::Abstract {
                ty: AbstractHeapType::Cont | AbstractHeapType::NoCont,
                ..
            } => ValType::ContRef,
            HeapType::Concrete(UnpackedIndex::Id(id)) | HeapType::Exact(UnpackedIndex::Id(id))
                if is_cont_type(types, id) =>
            {
                ValType::ContRef
            }
            _ => ValType::Ref,
        },
    }
}

/// The interned slot types of a list of Wasm types.
pub fn slot_types(types: &Types, list: &[wasmparser::ValType]) -> &'static [ValType] {
    let mapped: Vec<ValType> = list.iter().map(|t| slot_type(types, *t)).collect();
    intern(&mapped)
}

/// A function type in slot types: what a call, a tag or a continuation
/// takes and gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sig {
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}

impl Sig {
    pub const EMPTY: Sig = Sig {
        params: &[],
        results: &[],
    };
}

/// The signature of type `id`: a function type's own, or, for a
/// continuation type, its function type's. Other types (structs, arrays)
/// have none.
pub fn sig_of(types: &Types, id: CoreTypeId) -> Option<Sig> {
    let f = match &types[id].composite_type.inner {
        CompositeInnerType::Func(f) => f,
        CompositeInnerType::Cont(c) => {
            let fid = c.0.as_core_type_id()?;
            match &types[fid].composite_type.inner {
                CompositeInnerType::Func(f) => f,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Sig {
        params: slot_types(types, f.params()),
        results: slot_types(types, f.results()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_the_same_list_twice_gives_the_same_slice() {
        let a = intern(&[ValType::I32, ValType::ContRef]);
        let b = intern(&[ValType::I32, ValType::ContRef]);
        assert!(core::ptr::eq(a, b));
        assert_eq!(a, &[ValType::I32, ValType::ContRef]);
        assert!(intern(&[]).is_empty());
    }
}
