//! Guest functions and the array-call shim (`docs/spec.md` §3): the one calling
//! convention by which the runtime runs any guest code.
//!
//! A continuation does not know what it runs. Its stack holds a `func_ref`
//! (a [`FuncRecord`]) and an args buffer, and the entry function calls
//!
//! ```text
//! array_call(callee_vmctx, caller_vmctx, values, len) -> bool
//! ```
//!
//! which reads the parameters from `values[0..params]`, runs, writes the
//! results to `values[0..results]` (the same slots: `len` is
//! `max(params, results)`) and returns `false` if it trapped. One convention
//! for every function means the stack layout, the trampoline and the runtime
//! never depend on a signature.
//!
//! Guest code here is ordinary Rust: [`Store::func_wrap`] takes a
//! closure `Fn(&Store, P) -> Result<R, Trap>` and builds the shim for it.
//! The shim is one monomorphised `extern "C" fn` per closure type that loads
//! `P` from the slots, calls the closure with the `&Store` it finds in
//! `caller_vmctx`, and stores `R` back. `P` and `R` are types implementing
//! [`WasmValues`]: `()`, a scalar, or a tuple of up to 16 scalars, each of
//! which knows its signature as a `&'static [ValType]`, so the signature is
//! fixed (and checked against the runtime's limits) once, when wrapping.

use super::contref::ContObj;
use super::store::Store;
pub use crate::cont::machine::call::{ArrayCallFn, FuncRecord, VMContext};
use crate::cont::values::trap::Trap;
use crate::cont::values::val::{ValRaw, ValType};

/// A handle to a guest function of one [`Store`]: `Copy`, and good only
/// in the store that made it.
///
/// It names its record and the id of its store, and carries the
/// function's types itself. `cont.new` compares the id with its own store's
/// before it looks at the record: a `Func` of another store, or of a store
/// that is gone (ids are never reused in a boot), traps
/// ([`crate::cont::TrapKind::ForeignFunc`]) and its record is never read, so a
/// freed record can never be called. [`Func::params`] and
/// [`Func::results`] read the handle, not the record, for the same reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    pub(crate) record: *const FuncRecord,
    /// The id of the store that made it (see `Store::id`).
    pub(crate) store: u32,
    params: &'static [ValType],
    results: &'static [ValType],
}

impl Func {
    /// The handle of `record`, a record boxed in the store with id `store`.
    pub(crate) fn new(record: &FuncRecord, store: u32) -> Func {
        Func {
            record,
            store,
            params: record.params,
            results: record.results,
        }
    }
    /// The function's parameter types.
    pub fn params(self) -> &'static [ValType] {
        self.params
    }
    /// The function's result types.
    pub fn results(self) -> &'static [ValType] {
        self.results
    }
}

/// Why a function or tag was refused when it was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefineError {
    /// More results (functions) or payload/result values (tags) than a
    /// continuation's mailbox holds ([`crate::cont::MAX_VALUES`]).
    TooManyValues { count: usize, max: usize },
    /// Every tag id (2^32 - 1 per boot, shared by all stores) is taken.
    TooManyTags,
}

impl core::fmt::Display for DefineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DefineError::TooManyValues { count, max } => write!(
                f,
                "{count} values, more than a continuation's mailbox holds ({max})"
            ),
            DefineError::TooManyTags => f.write_str("every tag id of this boot is taken"),
        }
    }
}

/// A guest that defines a function or a tag can pass a refusal on with `?`:
/// it becomes a [`TrapKind::Guest`](crate::cont::TrapKind::Guest) trap whose
/// message says which refusal and whose [`Trap::text`] carries the counts.
impl From<DefineError> for Trap {
    fn from(e: DefineError) -> Trap {
        use crate::cont::values::trap::{TrapKind, TrapText};
        use core::fmt::Write;
        let message = match e {
            DefineError::TooManyValues { .. } => "a function or tag was refused: too many values",
            DefineError::TooManyTags => "a tag was refused: no tag id left",
        };
        let mut text = TrapText::EMPTY;
        // Writing into a `TrapText` cannot fail: it keeps what fits.
        let _ = write!(text, "{e}");
        Trap::new(TrapKind::Guest, message).with_text(text)
    }
}

/// The seal on [`WasmValue`] and [`WasmValues`]: a public trait in a private
/// module, so code outside this crate can name the value traits but never
/// implement them. Were they open, a type of its own declaring
/// `TYPE = ValType::ContRef` could write any bits into a slot that a guest
/// then reads back as a real `ContObj`: a forged handle, from safe code.
mod sealed {
    pub trait Sealed {}
}

/// One scalar guest value that Rust code can pass or receive. Sealed: the
/// types listed here are all there are.
///
/// ```compile_fail,E0277
/// // A type of one's own cannot pose as a guest value (here, as a
/// // continuation handle with bits of its choosing).
/// use kernel::cont::{ValRaw, ValType, WasmValue};
/// #[derive(Clone, Copy)]
/// struct Forged(usize);
/// impl WasmValue for Forged {
///     const TYPE: ValType = ValType::ContRef;
///     fn to_raw(self) -> ValRaw { ValRaw::from_ref(self.0, 0) }
///     unsafe fn from_raw(_: ValRaw) -> Self { Forged(0) }
/// }
/// ```
pub trait WasmValue: Copy + sealed::Sealed {
    const TYPE: ValType;
    fn to_raw(self) -> ValRaw;
    /// The value in a slot.
    ///
    /// # Safety
    /// `raw` must hold a value of this type written by [`to_raw`](Self::to_raw)
    /// (the runtime checks every slot's type before it reads one). For a
    /// continuation handle this is what keeps handles unforgeable: a
    /// `ContObj` made from arbitrary bits would point anywhere.
    unsafe fn from_raw(raw: ValRaw) -> Self;
}

macro_rules! wasm_value {
    ($t:ty, $vt:ident, $to:ident, $from:ident) => {
        impl sealed::Sealed for $t {}
        impl WasmValue for $t {
            const TYPE: ValType = ValType::$vt;
            #[inline]
            fn to_raw(self) -> ValRaw {
                ValRaw::$to(self)
            }
            #[inline]
            unsafe fn from_raw(raw: ValRaw) -> Self {
                raw.$from()
            }
        }
    };
}
wasm_value!(i32, I32, from_i32, i32);
wasm_value!(i64, I64, from_i64, i64);
wasm_value!(f32, F32, from_f32, f32);
wasm_value!(f64, F64, from_f64, f64);
wasm_value!(u128, V128, from_v128, v128);

impl sealed::Sealed for ContObj {}
impl WasmValue for ContObj {
    const TYPE: ValType = ValType::ContRef;
    #[inline]
    fn to_raw(self) -> ValRaw {
        ValRaw::from_ref(self.contref as usize, self.revision)
    }
    #[inline]
    unsafe fn from_raw(raw: ValRaw) -> Self {
        let (ptr, revision) = raw.reference();
        ContObj {
            contref: ptr as *mut _,
            revision,
        }
    }
}

/// A fixed list of guest values with a static signature: parameters,
/// results, payloads. Implemented for `()`, every [`WasmValue`] and tuples
/// of up to 16 of them (`MAX_VALUES`); sealed, like [`WasmValue`].
///
/// ```compile_fail,E0277
/// // A list of one's own cannot write a handle's slot either.
/// use kernel::cont::{ValRaw, ValType, WasmValues};
/// struct Forged;
/// impl WasmValues for Forged {
///     const TYPES: &'static [ValType] = &[ValType::ContRef];
///     unsafe fn load(_: *const ValRaw) -> Self { Forged }
///     unsafe fn store(self, dst: *mut ValRaw) {
///         unsafe { *dst = ValRaw::from_ref(0xdead_0000, 1 << 40) }
///     }
/// }
/// ```
///
/// ```
/// // The sealed traits still serve every signature the runtime offers.
/// use kernel::cont::dynamic::ContObj;
/// use kernel::cont::{ValType, WasmValues};
/// assert_eq!(<(i32, ContObj)>::TYPES, &[ValType::I32, ValType::ContRef]);
/// ```
pub trait WasmValues: Sized + sealed::Sealed {
    /// The signature, one entry per value.
    const TYPES: &'static [ValType];
    /// Reads the values from `TYPES.len()` consecutive slots.
    ///
    /// # Safety
    /// `src` must point at `TYPES.len()` readable slots (any pointer if 0).
    unsafe fn load(src: *const ValRaw) -> Self;
    /// Writes the values into `TYPES.len()` consecutive slots.
    ///
    /// # Safety
    /// `dst` must point at `TYPES.len()` writable slots (any pointer if 0).
    unsafe fn store(self, dst: *mut ValRaw);
}

impl sealed::Sealed for () {}
impl WasmValues for () {
    const TYPES: &'static [ValType] = &[];
    #[inline]
    unsafe fn load(_: *const ValRaw) {}
    #[inline]
    unsafe fn store(self, _: *mut ValRaw) {}
}

macro_rules! scalar_values {
    ($($t:ty),*) => {$(
        impl WasmValues for $t {
            const TYPES: &'static [ValType] = &[<$t as WasmValue>::TYPE];
            #[inline]
            unsafe fn load(src: *const ValRaw) -> Self {
                // SAFETY: the caller provides one readable slot holding a
                // value of this type.
                unsafe { <$t>::from_raw(*src) }
            }
            #[inline]
            unsafe fn store(self, dst: *mut ValRaw) {
                // SAFETY: the caller provides one writable slot.
                unsafe { *dst = self.to_raw() }
            }
        }
    )*};
}
scalar_values!(i32, i64, f32, f64, u128, ContObj);

macro_rules! tuple_values {
    ($($name:ident : $idx:tt),+) => {
        impl<$($name: WasmValue),+> sealed::Sealed for ($($name,)+) {}
        impl<$($name: WasmValue),+> WasmValues for ($($name,)+) {
            const TYPES: &'static [ValType] = &[$($name::TYPE),+];
            #[inline]
            unsafe fn load(src: *const ValRaw) -> Self {
                // SAFETY: the caller provides one readable slot per element,
                // each holding a value of that element's type.
                unsafe { ($($name::from_raw(*src.add($idx)),)+) }
            }
            #[inline]
            unsafe fn store(self, dst: *mut ValRaw) {
                // SAFETY: the caller provides one writable slot per element.
                unsafe { $(*dst.add($idx) = self.$idx.to_raw();)+ }
            }
        }
    };
}
tuple_values!(A: 0);
tuple_values!(A: 0, B: 1);
tuple_values!(A: 0, B: 1, C: 2);
tuple_values!(A: 0, B: 1, C: 2, D: 3);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12);
tuple_values!(A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12, N: 13);
tuple_values!(
    A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12, N: 13, O: 14
);
tuple_values!(
    A: 0, B: 1, C: 2, D: 3, E: 4, F: 5, G: 6, H: 7, I: 8, J: 9, K: 10, L: 11, M: 12, N: 13, O: 14,
    P: 15
);

/// The shim [`Store::func_wrap`] builds for closure type `F`: the
/// array-call convention on the outside, `F(&Store, P) -> Result<R, Trap>`
/// on the inside.
///
/// # Safety
/// `callee_vmctx` must point at an `F`, `caller_vmctx` at the live [`Store`]
/// that owns it, and `values` at `len >= max(P, R)` slots.
pub(crate) unsafe extern "C" fn array_call_shim<P, R, F>(
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool
where
    P: WasmValues,
    R: WasmValues,
    F: Fn(&Store, P) -> Result<R, Trap> + 'static,
{
    debug_assert!(len >= P::TYPES.len().max(R::TYPES.len()));
    // SAFETY: per this function's contract: the closure and the store are
    // alive (the store owns the closure), and `values` holds `len` slots.
    unsafe {
        let f = &*(callee_vmctx as *const F);
        let store = &*(caller_vmctx as *const Store);
        let params = P::load(values);
        match f(store, params) {
            Ok(results) => {
                results.store(values);
                true
            }
            Err(trap) => {
                store.record_guest_trap(trap);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_signatures_list_each_element_type_in_order() {
        assert_eq!(<()>::TYPES, &[] as &[ValType]);
        assert_eq!(<i64 as WasmValues>::TYPES, &[ValType::I64]);
        assert_eq!(
            <(i32, i64, f32, f64, u128, ContObj)>::TYPES,
            &[
                ValType::I32,
                ValType::I64,
                ValType::F32,
                ValType::F64,
                ValType::V128,
                ValType::ContRef
            ]
        );
    }

    #[test]
    fn tuple_values_round_trip_through_slots() {
        let mut slots = [ValRaw::ZERO; 5];
        let v = (7i32, -8i64, 1.5f32, 2.25f64, 0x1234u128);
        // SAFETY: five slots for five values.
        let back = unsafe {
            v.store(slots.as_mut_ptr());
            <(i32, i64, f32, f64, u128)>::load(slots.as_ptr())
        };
        assert_eq!(back, (7, -8, 1.5, 2.25, 0x1234));
        assert_eq!(slots[1].v128(), 0xffff_ffff_ffff_fff8);
    }
}
