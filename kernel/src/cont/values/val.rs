//! Guest values: the 16-byte `ValRaw` slot and the `ValType` tags that describe it.
//!
//! Every value that crosses a boundary of the continuation machinery (the
//! arguments and results of a guest function, a tag's payload, the values a
//! `resume` hands to a suspended continuation) travels as a `ValRaw`: one
//! 16-byte slot, wide enough for the widest WebAssembly value (`v128`), so a
//! list of values is a plain array that assembly and Rust index the same way.
//! A slot carries no type of its own; the *signature* (a `&'static [ValType]`)
//! says how to read it, and the runtime checks signatures, never slots.
//!
//! Layout of one slot (little-endian, byte 0 is the lowest address):
//!
//! ```text
//! byte:  0       4       8               16
//!        +-------+-------+---------------+
//! i32    | value | 0     | 0             |
//! i64    | value         | 0             |
//! f32    | bits  | 0     | 0             |
//! f64    | bits          | 0             |
//! v128   | value (u128, little-endian)   |
//! cont   | ContRef ptr   | revision      |   (see `ContObj`)
//! ref    | pointer       | extra word    |   (null: both 0)
//!        +-------------------------------+
//! ```

/// The type of one guest value: what a slot of a signature holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    /// A continuation handle (`ContObj`): `(ref null cont)` in Wasm terms.
    ContRef,
    /// Any other reference (a WebAssembly `funcref`, `externref` or
    /// `exnref`): two words the runtime carries and never follows.
    Ref,
}

/// One 16-byte value slot. The alignment lets the args buffer on a
/// continuation stack be a plain `[ValRaw]`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(16))]
pub struct ValRaw {
    bytes: [u8; 16],
}

impl core::fmt::Debug for ValRaw {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ValRaw({:#034x})", self.v128())
    }
}

impl ValRaw {
    /// An all-zero slot.
    pub const ZERO: ValRaw = ValRaw { bytes: [0; 16] };

    #[inline]
    pub const fn v128(self) -> u128 {
        u128::from_le_bytes(self.bytes)
    }
    #[inline]
    pub const fn from_v128(v: u128) -> ValRaw {
        ValRaw {
            bytes: v.to_le_bytes(),
        }
    }
    #[inline]
    pub const fn from_i32(v: i32) -> ValRaw {
        ValRaw::from_v128(v as u32 as u128)
    }
    #[inline]
    pub const fn i32(self) -> i32 {
        self.v128() as u32 as i32
    }
    #[inline]
    pub const fn from_i64(v: i64) -> ValRaw {
        ValRaw::from_v128(v as u64 as u128)
    }
    #[inline]
    pub const fn i64(self) -> i64 {
        self.v128() as u64 as i64
    }
    /// An f32 is stored as its IEEE-754 bits (no float instruction runs: the
    /// kernel is built soft-float).
    #[inline]
    pub const fn from_f32(v: f32) -> ValRaw {
        ValRaw::from_v128(v.to_bits() as u128)
    }
    #[inline]
    pub const fn f32(self) -> f32 {
        f32::from_bits(self.v128() as u32)
    }
    #[inline]
    pub const fn from_f64(v: f64) -> ValRaw {
        ValRaw::from_v128(v.to_bits() as u128)
    }
    #[inline]
    pub const fn f64(self) -> f64 {
        f64::from_bits(self.v128() as u64)
    }
    /// A reference: a pointer in bytes 0..8 and a second word (for a
    /// continuation, its revision) in bytes 8..16.
    #[inline]
    pub const fn from_ref(ptr: usize, extra: u64) -> ValRaw {
        ValRaw::from_v128((ptr as u128) | ((extra as u128) << 64))
    }
    /// The two words of a reference: `(pointer, extra)`.
    #[inline]
    pub const fn reference(self) -> (usize, u64) {
        let v = self.v128();
        (v as u64 as usize, (v >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valraw_is_16_bytes_and_16_aligned() {
        assert_eq!(core::mem::size_of::<ValRaw>(), 16);
        assert_eq!(core::mem::align_of::<ValRaw>(), 16);
    }

    #[test]
    fn valraw_stores_each_type_little_endian() {
        assert_eq!(ValRaw::from_i32(-2).v128(), 0xffff_fffe);
        assert_eq!(ValRaw::from_i32(-2).i32(), -2);
        assert_eq!(ValRaw::from_i64(-2).v128(), 0xffff_ffff_ffff_fffe);
        assert_eq!(ValRaw::from_i64(i64::MIN).i64(), i64::MIN);
        assert_eq!(ValRaw::from_f32(1.5).v128(), 0x3fc0_0000);
        assert_eq!(ValRaw::from_f32(1.5).f32(), 1.5);
        assert_eq!(ValRaw::from_f64(-0.25).v128(), 0xbfd0_0000_0000_0000);
        assert_eq!(ValRaw::from_f64(-0.25).f64(), -0.25);
        let v = ValRaw::from_v128(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100);
        assert_eq!(
            v.bytes,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        );
        assert_eq!(
            ValRaw::from_ref(0x1234_5000, 7).reference(),
            (0x1234_5000, 7)
        );
    }
}
