//! Values as the host passes them ([`Val`], [`RefVal`]) and as the
//! interpreter's slots hold them, and the conversions between the two.
//!
//! Why apart: a reference's second slot word carries its kind and the
//! instance that made it, and only these conversions decide what a host
//! value may become, so the rule is read in one place.

use crate::cont::{ValRaw, ValType};

/// The kinds of reference the second word of a slot names.
pub(crate) const FUNC_REF: u64 = 1;
pub(crate) const EXN_REF: u64 = 2;
/// A host's external reference (`Val::Extern`): no instance made it.
pub(crate) const EXTERN_REF: u64 = 3;

/// The second word of a reference of `kind` made by instance `id`.
pub(crate) fn ref_word(id: u64, kind: u64) -> u64 {
    (id << 2) | kind
}

/// A value passed to or returned from [`Instance::invoke`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    V128(u128),
    /// A null reference of any reference type.
    NullRef,
    /// A non-null reference the module returned; it can be passed back
    /// only where a reference of the same kind is expected.
    Ref(RefVal),
    /// A host's non-null `externref`, a number the module can only pass
    /// on and compare.
    Extern(u32),
}

/// An opaque non-null reference: its slot and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefVal {
    raw: ValRaw,
    ty: ValType,
}

impl RefVal {
    /// Whether it is a function reference (not a continuation, not an
    /// exception).
    pub fn is_func(&self) -> bool {
        self.ty == ValType::Ref && self.raw.reference().1 & 3 == FUNC_REF
    }
}

/// The slot for a host value of slot type `t`, if it is one.
pub(crate) fn to_slot(v: Val, t: ValType) -> Option<ValRaw> {
    Some(match (v, t) {
        (Val::I32(x), ValType::I32) => ValRaw::from_i32(x),
        (Val::I64(x), ValType::I64) => ValRaw::from_i64(x),
        (Val::F32(x), ValType::F32) => ValRaw::from_f32(x),
        (Val::F64(x), ValType::F64) => ValRaw::from_f64(x),
        (Val::V128(x), ValType::V128) => ValRaw::from_v128(x),
        (Val::NullRef, ValType::Ref | ValType::ContRef) => ValRaw::ZERO,
        (Val::Extern(n), ValType::Ref) => ValRaw::from_ref(n as usize + 1, ref_word(0, EXTERN_REF)),
        (Val::Ref(r), _) if r.ty == t => r.raw,
        _ => return None,
    })
}

/// The host value of a slot of type `t`.
pub(crate) fn from_slot(v: ValRaw, t: ValType) -> Val {
    match t {
        ValType::I32 => Val::I32(v.i32()),
        ValType::I64 => Val::I64(v.i64()),
        ValType::F32 => Val::F32(v.f32()),
        ValType::F64 => Val::F64(v.f64()),
        ValType::V128 => Val::V128(v.v128()),
        ValType::Ref | ValType::ContRef if v == ValRaw::ZERO => Val::NullRef,
        ValType::Ref if v.reference().1 == ref_word(0, EXTERN_REF) => {
            Val::Extern(v.reference().0.wrapping_sub(1) as u32)
        }
        ValType::Ref | ValType::ContRef => Val::Ref(RefVal { raw: v, ty: t }),
    }
}
