//! Exact types across modules: the import checks of a linker compare
//! the WebAssembly types an import declares with those of the export it
//! names, reference types included, and subtyping where the
//! specification allows it.
//!
//! Why a form of its own: the interpreter folds every reference onto one
//! or two slot types (`types::slot_type`), which is all a call needs, but
//! an import of `(ref null $t)` must not link to a global of `externref`
//! nor of `(ref null func)`. And wasmparser's type ids are per module: two
//! modules that both declare `(type $t (func))` have ids that cannot be
//! compared. So a concrete type is described by its *structure*: its
//! whole recursion group written out, with references inside the group
//! by position and references to earlier groups by their own description
//! (groups only refer backwards, so this ends), then its place in the
//! group. Two modules' types are the same type exactly when their
//! descriptions are equal: the specification's iso-recursive equivalence.
//!
//! A subtype relation is checked as the specification defines it for
//! imports: an immutable global or a function may be a subtype of what
//! the import asks (a concrete type's declared supertypes count), a
//! mutable global, a table's element type and a tag must match exactly.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use wasmparser::types::{CoreTypeId, TypesRef};
use wasmparser::{
    AbstractHeapType, CompositeInnerType, HeapType, StorageType, UnpackedIndex, ValType,
};

/// Descriptions nested deeper than this (through references to earlier
/// recursion groups) are cut short: a bound on the work a hostile module
/// can cause. Types that differ only below it compare equal.
const MAX_DEPTH: u32 = 16;

/// What kind of composite type a concrete type is: which abstract heap
/// types are above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Func,
    Cont,
    Struct,
    Array,
}

/// A heap type, independent of the module it was read in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heap {
    Abstract(AbstractHeapType),
    /// A concrete type: its family, its description, then those of its
    /// declared supertypes, nearest first.
    Concrete {
        family: Family,
        chain: Vec<String>,
    },
}

/// A value type, independent of the module it was read in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exact {
    /// A number or vector type (`i32` ... `v128`), by its name.
    Plain(&'static str),
    Ref {
        nullable: bool,
        heap: Heap,
    },
}

/// The module-independent form of `t`, a type read in the module whose
/// types are `types`.
pub fn of_val(types: TypesRef<'_>, t: ValType) -> Exact {
    match t {
        ValType::I32 => Exact::Plain("i32"),
        ValType::I64 => Exact::Plain("i64"),
        ValType::F32 => Exact::Plain("f32"),
        ValType::F64 => Exact::Plain("f64"),
        ValType::V128 => Exact::Plain("v128"),
        ValType::Ref(r) => Exact::Ref {
            nullable: r.is_nullable(),
            heap: heap_of(types, r.heap_type()),
        },
    }
}

/// The module-independent form of the concrete type `id` (with its
/// declared supertypes).
fn concrete(types: TypesRef<'_>, id: CoreTypeId) -> Heap {
    let family = match &types[id].composite_type.inner {
        CompositeInnerType::Func(_) => Family::Func,
        CompositeInnerType::Cont(_) => Family::Cont,
        CompositeInnerType::Struct(_) => Family::Struct,
        CompositeInnerType::Array(_) => Family::Array,
    };
    let mut chain = Vec::new();
    let mut at = Some(id);
    while let Some(t) = at {
        if chain.len() > MAX_DEPTH as usize {
            break;
        }
        chain.push(describe(types, t, 0));
        at = types.supertype_of(t);
    }
    Heap::Concrete { family, chain }
}

fn heap_of(types: TypesRef<'_>, h: HeapType) -> Heap {
    match h {
        HeapType::Abstract { ty, .. } => Heap::Abstract(ty),
        HeapType::Concrete(i) | HeapType::Exact(i) => match id_of(types, i) {
            Some(id) => concrete(types, id),
            None => Heap::Abstract(AbstractHeapType::None),
        },
    }
}

/// The type id an index names (a module's type index, or an id already).
fn id_of(types: TypesRef<'_>, i: UnpackedIndex) -> Option<CoreTypeId> {
    match i {
        UnpackedIndex::Module(m) if m < types.core_type_count_in_module() => {
            Some(types.core_type_at_in_module(m))
        }
        UnpackedIndex::Id(id) => Some(id),
        _ => None,
    }
}

/// The structural description of type `id`: its recursion group written
/// out, and its position in it.
fn describe(types: TypesRef<'_>, id: CoreTypeId, depth: u32) -> String {
    if depth > MAX_DEPTH {
        return String::from("...");
    }
    let group: Vec<CoreTypeId> = types
        .rec_group_elements(types.rec_group_id_of(id))
        .collect();
    let mut out = String::from("rec(");
    for &member in &group {
        let sub = &types[member];
        out.push_str(if sub.is_final { "final " } else { "open " });
        if let Some(sup) = types.supertype_of(member) {
            out.push_str("sub ");
            out.push_str(&reference(types, &group, sup, depth));
            out.push(' ');
        }
        match &sub.composite_type.inner {
            CompositeInnerType::Func(f) => {
                out.push_str("func(");
                list(types, &group, f.params(), depth, &mut out);
                out.push_str(")->(");
                list(types, &group, f.results(), depth, &mut out);
                out.push(')');
            }
            CompositeInnerType::Cont(c) => {
                out.push_str("cont ");
                match c.0.as_core_type_id() {
                    Some(f) => out.push_str(&reference(types, &group, f, depth)),
                    None => out.push('?'),
                }
            }
            CompositeInnerType::Struct(s) => {
                out.push_str("struct(");
                for f in s.fields.iter() {
                    field(types, &group, f.element_type, f.mutable, depth, &mut out);
                }
                out.push(')');
            }
            CompositeInnerType::Array(a) => {
                out.push_str("array ");
                field(
                    types,
                    &group,
                    a.0.element_type,
                    a.0.mutable,
                    depth,
                    &mut out,
                );
            }
        }
        out.push(';');
    }
    let place = group.iter().position(|&m| m == id).unwrap_or(0);
    out.push_str(&format!(")#{place}"));
    out
}

/// A reference to type `to` from inside `group`: its position if it is
/// a member, else its own description.
fn reference(types: TypesRef<'_>, group: &[CoreTypeId], to: CoreTypeId, depth: u32) -> String {
    match group.iter().position(|&m| m == to) {
        Some(i) => format!("r{i}"),
        None => describe(types, to, depth + 1),
    }
}

fn list(types: TypesRef<'_>, group: &[CoreTypeId], ts: &[ValType], depth: u32, out: &mut String) {
    for &t in ts {
        val(types, group, t, depth, out);
        out.push(',');
    }
}

fn field(
    types: TypesRef<'_>,
    group: &[CoreTypeId],
    t: StorageType,
    mutable: bool,
    depth: u32,
    out: &mut String,
) {
    out.push_str(if mutable { "mut " } else { "" });
    match t {
        StorageType::I8 => out.push_str("i8"),
        StorageType::I16 => out.push_str("i16"),
        StorageType::Val(v) => val(types, group, v, depth, out),
    }
    out.push(',');
}

fn val(types: TypesRef<'_>, group: &[CoreTypeId], t: ValType, depth: u32, out: &mut String) {
    let ValType::Ref(r) = t else {
        out.push_str(&format!("{t}"));
        return;
    };
    out.push_str(if r.is_nullable() { "ref null " } else { "ref " });
    match r.heap_type() {
        HeapType::Abstract { ty, shared } => {
            out.push_str(&format!("{}{ty:?}", if shared { "shared " } else { "" }))
        }
        HeapType::Concrete(i) | HeapType::Exact(i) => match id_of(types, i) {
            Some(id) => out.push_str(&reference(types, group, id, depth)),
            None => out.push('?'),
        },
    }
}

/// Whether a value of type `a` is also of type `b`.
pub fn is_subtype(a: &Exact, b: &Exact) -> bool {
    match (a, b) {
        (Exact::Plain(x), Exact::Plain(y)) => x == y,
        (
            Exact::Ref {
                nullable: an,
                heap: ah,
            },
            Exact::Ref {
                nullable: bn,
                heap: bh,
            },
        ) => (!*an || *bn) && heap_subtype(ah, bh),
        _ => false,
    }
}

/// Whether `a` and `b` are the same type (each a subtype of the other).
pub fn same(a: &Exact, b: &Exact) -> bool {
    is_subtype(a, b) && is_subtype(b, a)
}

fn heap_subtype(a: &Heap, b: &Heap) -> bool {
    use AbstractHeapType as A;
    match (a, b) {
        (Heap::Abstract(x), Heap::Abstract(y)) => x == y || abstract_below(*x, *y),
        (Heap::Concrete { chain, .. }, Heap::Concrete { chain: other, .. }) => {
            other.first().is_some_and(|want| chain.contains(want))
        }
        (Heap::Concrete { family, .. }, Heap::Abstract(y)) => match family {
            Family::Func => *y == A::Func,
            Family::Cont => *y == A::Cont,
            Family::Struct => matches!(y, A::Struct | A::Eq | A::Any),
            Family::Array => matches!(y, A::Array | A::Eq | A::Any),
        },
        (Heap::Abstract(x), Heap::Concrete { family, .. }) => match family {
            Family::Func => *x == A::NoFunc,
            Family::Cont => *x == A::NoCont,
            Family::Struct | Family::Array => *x == A::None,
        },
    }
}

/// The abstract heap types' order, below the identity.
fn abstract_below(x: AbstractHeapType, y: AbstractHeapType) -> bool {
    use AbstractHeapType as A;
    match x {
        A::None => matches!(y, A::Any | A::Eq | A::Struct | A::Array | A::I31),
        A::Eq => y == A::Any,
        A::Struct | A::Array | A::I31 => matches!(y, A::Eq | A::Any),
        A::NoFunc => y == A::Func,
        A::NoExtern => y == A::Extern,
        A::NoExn => y == A::Exn,
        A::NoCont => y == A::Cont,
        _ => false,
    }
}

/// Whether the function (or tag) type `have` of one module may be
/// imported as type `want` of another: the same type, or one of its
/// declared supertypes.
pub fn func_matches(
    have_types: TypesRef<'_>,
    have: CoreTypeId,
    want_types: TypesRef<'_>,
    want: CoreTypeId,
) -> bool {
    heap_subtype(&concrete(have_types, have), &concrete(want_types, want))
}

/// Whether the types `a` and `b` of two modules are the same type.
pub fn same_type(
    a_types: TypesRef<'_>,
    a: CoreTypeId,
    b_types: TypesRef<'_>,
    b: CoreTypeId,
) -> bool {
    describe(a_types, a, 0) == describe(b_types, b, 0)
}

/// `funcref`: `(ref null func)`.
pub fn funcref() -> Exact {
    Exact::Ref {
        nullable: true,
        heap: Heap::Abstract(AbstractHeapType::Func),
    }
}
