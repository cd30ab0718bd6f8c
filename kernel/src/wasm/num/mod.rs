//! Numeric instructions: every integer and floating-point operator of the
//! core instruction set, as two flat enums (one operand, two operands)
//! and the function that computes each.
//!
//! Kept apart from the interpreter so that its handlers only move values
//! and the arithmetic, with WebAssembly's exact rules (wrapping, traps on
//! division by zero and on unrepresentable conversions, NaN propagation of
//! `min`/`max`, round-half-to-even `nearest`), sits in one place. On the
//! kernel target the float operators compute in software (the target is
//! soft-float): Rust's `f32`/`f64` arithmetic lowers to calls into
//! `compiler_builtins`; rounding and square root are written out here,
//! on the bits, because `core` offers them only with `std`.

mod float;
mod int;

pub use int::IntOp;

use crate::cont::ValRaw;
use float::{Round, min_max, round32, round64, sqrt64, trunc, trunc_u64};
use wasmparser::Operator;

/// A one-operand numeric instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    I32Eqz,
    I32Clz,
    I32Ctz,
    I32Popcnt,
    I32Extend8S,
    I32Extend16S,
    I32WrapI64,
    I64Eqz,
    I64Clz,
    I64Ctz,
    I64Popcnt,
    I64Extend8S,
    I64Extend16S,
    I64Extend32S,
    I64ExtendI32S,
    I64ExtendI32U,
    F32Abs,
    F32Neg,
    F32Ceil,
    F32Floor,
    F32Trunc,
    F32Nearest,
    F32Sqrt,
    F64Abs,
    F64Neg,
    F64Ceil,
    F64Floor,
    F64Trunc,
    F64Nearest,
    F64Sqrt,
    I32TruncF32S,
    I32TruncF32U,
    I32TruncF64S,
    I32TruncF64U,
    I64TruncF32S,
    I64TruncF32U,
    I64TruncF64S,
    I64TruncF64U,
    I32TruncSatF32S,
    I32TruncSatF32U,
    I32TruncSatF64S,
    I32TruncSatF64U,
    I64TruncSatF32S,
    I64TruncSatF32U,
    I64TruncSatF64S,
    I64TruncSatF64U,
    F32ConvertI32S,
    F32ConvertI32U,
    F32ConvertI64S,
    F32ConvertI64U,
    F32DemoteF64,
    F64ConvertI32S,
    F64ConvertI32U,
    F64ConvertI64S,
    F64ConvertI64U,
    F64PromoteF32,
    /// The reinterpretations keep the bits: the slot is the same.
    Reinterpret,
}

/// A two-operand numeric instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    I32Eq,
    I32Ne,
    I32LtS,
    I32LtU,
    I32GtS,
    I32GtU,
    I32LeS,
    I32LeU,
    I32GeS,
    I32GeU,
    I32Add,
    I32Sub,
    I32Mul,
    I32DivS,
    I32DivU,
    I32RemS,
    I32RemU,
    I32And,
    I32Or,
    I32Xor,
    I32Shl,
    I32ShrS,
    I32ShrU,
    I32Rotl,
    I32Rotr,
    I64Eq,
    I64Ne,
    I64LtS,
    I64LtU,
    I64GtS,
    I64GtU,
    I64LeS,
    I64LeU,
    I64GeS,
    I64GeU,
    I64Add,
    I64Sub,
    I64Mul,
    I64DivS,
    I64DivU,
    I64RemS,
    I64RemU,
    I64And,
    I64Or,
    I64Xor,
    I64Shl,
    I64ShrS,
    I64ShrU,
    I64Rotl,
    I64Rotr,
    F32Eq,
    F32Ne,
    F32Lt,
    F32Gt,
    F32Le,
    F32Ge,
    F32Add,
    F32Sub,
    F32Mul,
    F32Div,
    F32Min,
    F32Max,
    F32Copysign,
    F64Eq,
    F64Ne,
    F64Lt,
    F64Gt,
    F64Le,
    F64Ge,
    F64Add,
    F64Sub,
    F64Mul,
    F64Div,
    F64Min,
    F64Max,
    F64Copysign,
}

/// A numeric instruction, if `op` is one.
pub enum Numeric {
    Unary(Unary),
    Binary(Binary),
}

/// The numeric instruction `op` is, if it is one.
pub fn numeric(op: &Operator<'_>) -> Option<Numeric> {
    use Binary as B;
    use Unary as U;
    macro_rules! map {
        ($($o:ident => $kind:ident :: $v:ident),* $(,)?) => {
            match op {
                $(Operator::$o => Some(Numeric::$kind($kind::$v)),)*
                _ => None,
            }
        };
    }
    let _ = (U::I32Eqz, B::I32Eq);
    map! {
        I32Eqz => Unary::I32Eqz, I32Clz => Unary::I32Clz, I32Ctz => Unary::I32Ctz,
        I32Popcnt => Unary::I32Popcnt, I32Extend8S => Unary::I32Extend8S,
        I32Extend16S => Unary::I32Extend16S, I32WrapI64 => Unary::I32WrapI64,
        I64Eqz => Unary::I64Eqz, I64Clz => Unary::I64Clz, I64Ctz => Unary::I64Ctz,
        I64Popcnt => Unary::I64Popcnt, I64Extend8S => Unary::I64Extend8S,
        I64Extend16S => Unary::I64Extend16S, I64Extend32S => Unary::I64Extend32S,
        I64ExtendI32S => Unary::I64ExtendI32S, I64ExtendI32U => Unary::I64ExtendI32U,
        F32Abs => Unary::F32Abs, F32Neg => Unary::F32Neg, F32Ceil => Unary::F32Ceil,
        F32Floor => Unary::F32Floor, F32Trunc => Unary::F32Trunc,
        F32Nearest => Unary::F32Nearest, F32Sqrt => Unary::F32Sqrt,
        F64Abs => Unary::F64Abs, F64Neg => Unary::F64Neg, F64Ceil => Unary::F64Ceil,
        F64Floor => Unary::F64Floor, F64Trunc => Unary::F64Trunc,
        F64Nearest => Unary::F64Nearest, F64Sqrt => Unary::F64Sqrt,
        I32TruncF32S => Unary::I32TruncF32S, I32TruncF32U => Unary::I32TruncF32U,
        I32TruncF64S => Unary::I32TruncF64S, I32TruncF64U => Unary::I32TruncF64U,
        I64TruncF32S => Unary::I64TruncF32S, I64TruncF32U => Unary::I64TruncF32U,
        I64TruncF64S => Unary::I64TruncF64S, I64TruncF64U => Unary::I64TruncF64U,
        I32TruncSatF32S => Unary::I32TruncSatF32S, I32TruncSatF32U => Unary::I32TruncSatF32U,
        I32TruncSatF64S => Unary::I32TruncSatF64S, I32TruncSatF64U => Unary::I32TruncSatF64U,
        I64TruncSatF32S => Unary::I64TruncSatF32S, I64TruncSatF32U => Unary::I64TruncSatF32U,
        I64TruncSatF64S => Unary::I64TruncSatF64S, I64TruncSatF64U => Unary::I64TruncSatF64U,
        F32ConvertI32S => Unary::F32ConvertI32S, F32ConvertI32U => Unary::F32ConvertI32U,
        F32ConvertI64S => Unary::F32ConvertI64S, F32ConvertI64U => Unary::F32ConvertI64U,
        F32DemoteF64 => Unary::F32DemoteF64,
        F64ConvertI32S => Unary::F64ConvertI32S, F64ConvertI32U => Unary::F64ConvertI32U,
        F64ConvertI64S => Unary::F64ConvertI64S, F64ConvertI64U => Unary::F64ConvertI64U,
        F64PromoteF32 => Unary::F64PromoteF32,
        I32ReinterpretF32 => Unary::Reinterpret, I64ReinterpretF64 => Unary::Reinterpret,
        F32ReinterpretI32 => Unary::Reinterpret, F64ReinterpretI64 => Unary::Reinterpret,
        I32Eq => Binary::I32Eq, I32Ne => Binary::I32Ne, I32LtS => Binary::I32LtS,
        I32LtU => Binary::I32LtU, I32GtS => Binary::I32GtS, I32GtU => Binary::I32GtU,
        I32LeS => Binary::I32LeS, I32LeU => Binary::I32LeU, I32GeS => Binary::I32GeS,
        I32GeU => Binary::I32GeU, I32Add => Binary::I32Add, I32Sub => Binary::I32Sub,
        I32Mul => Binary::I32Mul, I32DivS => Binary::I32DivS, I32DivU => Binary::I32DivU,
        I32RemS => Binary::I32RemS, I32RemU => Binary::I32RemU, I32And => Binary::I32And,
        I32Or => Binary::I32Or, I32Xor => Binary::I32Xor, I32Shl => Binary::I32Shl,
        I32ShrS => Binary::I32ShrS, I32ShrU => Binary::I32ShrU, I32Rotl => Binary::I32Rotl,
        I32Rotr => Binary::I32Rotr,
        I64Eq => Binary::I64Eq, I64Ne => Binary::I64Ne, I64LtS => Binary::I64LtS,
        I64LtU => Binary::I64LtU, I64GtS => Binary::I64GtS, I64GtU => Binary::I64GtU,
        I64LeS => Binary::I64LeS, I64LeU => Binary::I64LeU, I64GeS => Binary::I64GeS,
        I64GeU => Binary::I64GeU, I64Add => Binary::I64Add, I64Sub => Binary::I64Sub,
        I64Mul => Binary::I64Mul, I64DivS => Binary::I64DivS, I64DivU => Binary::I64DivU,
        I64RemS => Binary::I64RemS, I64RemU => Binary::I64RemU, I64And => Binary::I64And,
        I64Or => Binary::I64Or, I64Xor => Binary::I64Xor, I64Shl => Binary::I64Shl,
        I64ShrS => Binary::I64ShrS, I64ShrU => Binary::I64ShrU, I64Rotl => Binary::I64Rotl,
        I64Rotr => Binary::I64Rotr,
        F32Eq => Binary::F32Eq, F32Ne => Binary::F32Ne, F32Lt => Binary::F32Lt,
        F32Gt => Binary::F32Gt, F32Le => Binary::F32Le, F32Ge => Binary::F32Ge,
        F32Add => Binary::F32Add, F32Sub => Binary::F32Sub, F32Mul => Binary::F32Mul,
        F32Div => Binary::F32Div, F32Min => Binary::F32Min, F32Max => Binary::F32Max,
        F32Copysign => Binary::F32Copysign,
        F64Eq => Binary::F64Eq, F64Ne => Binary::F64Ne, F64Lt => Binary::F64Lt,
        F64Gt => Binary::F64Gt, F64Le => Binary::F64Le, F64Ge => Binary::F64Ge,
        F64Add => Binary::F64Add, F64Sub => Binary::F64Sub, F64Mul => Binary::F64Mul,
        F64Div => Binary::F64Div, F64Min => Binary::F64Min, F64Max => Binary::F64Max,
        F64Copysign => Binary::F64Copysign,
    }
}

/// Why a numeric instruction traps, in the words of the specification.
pub const DIVIDE_BY_ZERO: &str = "integer divide by zero";
pub const OVERFLOW: &str = "integer overflow";
pub const BAD_CONVERSION: &str = "invalid conversion to integer";

fn b(v: bool) -> ValRaw {
    ValRaw::from_i32(v as i32)
}
fn i32v(v: i32) -> ValRaw {
    ValRaw::from_i32(v)
}
fn i64v(v: i64) -> ValRaw {
    ValRaw::from_i64(v)
}
fn f32v(v: f32) -> ValRaw {
    ValRaw::from_f32(v)
}
fn f64v(v: f64) -> ValRaw {
    ValRaw::from_f64(v)
}

/// `op` applied to `x`.
pub fn unary(op: Unary, x: ValRaw) -> Result<ValRaw, &'static str> {
    use Unary::*;
    let (i, l, f, d) = (x.i32(), x.i64(), x.f32(), x.f64());
    Ok(match op {
        I32Eqz => b(i == 0),
        I32Clz => i32v(i.leading_zeros() as i32),
        I32Ctz => i32v(i.trailing_zeros() as i32),
        I32Popcnt => i32v(i.count_ones() as i32),
        I32Extend8S => i32v(i as i8 as i32),
        I32Extend16S => i32v(i as i16 as i32),
        I32WrapI64 => i32v(l as i32),
        I64Eqz => b(l == 0),
        I64Clz => i64v(l.leading_zeros() as i64),
        I64Ctz => i64v(l.trailing_zeros() as i64),
        I64Popcnt => i64v(l.count_ones() as i64),
        I64Extend8S => i64v(l as i8 as i64),
        I64Extend16S => i64v(l as i16 as i64),
        I64Extend32S => i64v(l as i32 as i64),
        I64ExtendI32S => i64v(i as i64),
        I64ExtendI32U => i64v(i as u32 as i64),
        F32Abs => ValRaw::from_i32(i & 0x7fff_ffff),
        F32Neg => ValRaw::from_i32(i ^ i32::MIN),
        F32Ceil => f32v(round32(f, Round::Up)),
        F32Floor => f32v(round32(f, Round::Down)),
        F32Trunc => f32v(round32(f, Round::Zero)),
        F32Nearest => f32v(round32(f, Round::Even)),
        F32Sqrt => f32v(sqrt64(f as f64) as f32),
        F64Abs => ValRaw::from_i64(l & i64::MAX),
        F64Neg => ValRaw::from_i64(l ^ i64::MIN),
        F64Ceil => f64v(round64(d, Round::Up)),
        F64Floor => f64v(round64(d, Round::Down)),
        F64Trunc => f64v(round64(d, Round::Zero)),
        F64Nearest => f64v(round64(d, Round::Even)),
        F64Sqrt => f64v(sqrt64(d)),
        I32TruncF32S => i32v(trunc(f as f64, -2147483649.0, 2147483648.0)? as i32),
        I32TruncF32U => i32v(trunc(f as f64, -1.0, 4294967296.0)? as u32 as i32),
        I32TruncF64S => i32v(trunc(d, -2147483649.0, 2147483648.0)? as i32),
        I32TruncF64U => i32v(trunc(d, -1.0, 4294967296.0)? as u32 as i32),
        I64TruncF32S => {
            i64v(trunc(f as f64, -9223372036854777856.0, 9223372036854775808.0)? as i64)
        }
        I64TruncF32U => i64v(trunc_u64(f as f64)? as i64),
        I64TruncF64S => i64v(trunc(d, -9223372036854777856.0, 9223372036854775808.0)? as i64),
        I64TruncF64U => i64v(trunc_u64(d)? as i64),
        // Rust's `as` from float to integer saturates and maps NaN to 0:
        // exactly the `trunc_sat` rule.
        I32TruncSatF32S => i32v(f as i32),
        I32TruncSatF32U => i32v(f as u32 as i32),
        I32TruncSatF64S => i32v(d as i32),
        I32TruncSatF64U => i32v(d as u32 as i32),
        I64TruncSatF32S => i64v(f as i64),
        I64TruncSatF32U => i64v(f as u64 as i64),
        I64TruncSatF64S => i64v(d as i64),
        I64TruncSatF64U => i64v(d as u64 as i64),
        F32ConvertI32S => f32v(i as f32),
        F32ConvertI32U => f32v(i as u32 as f32),
        F32ConvertI64S => f32v(l as f32),
        F32ConvertI64U => f32v(l as u64 as f32),
        F32DemoteF64 => f32v(demote(d)),
        F64ConvertI32S => f64v(i as f64),
        F64ConvertI32U => f64v(i as u32 as f64),
        F64ConvertI64S => f64v(l as f64),
        F64ConvertI64U => f64v(l as u64 as f64),
        F64PromoteF32 => f64v(promote(f)),
        Reinterpret => x,
    })
}

/// `f64.promote_f32`: `f as f64`, but a NaN comes out quiet, its payload
/// kept (the specification allows only an arithmetic NaN here). The
/// hardware conversion quiets a signalling NaN; the kernel's soft-float
/// widening copies it as it is, so the quiet bit is set on the bits.
pub fn promote(f: f32) -> f64 {
    if f.is_nan() {
        let b = f.to_bits() as u64;
        let sign = (b >> 31) << 63;
        let payload = (b & 0x007f_ffff) << 29;
        return f64::from_bits(sign | 0x7ff8_0000_0000_0000 | payload);
    }
    f as f64
}

/// `f32.demote_f64`: `d as f32`, a NaN quiet, the top of its payload
/// kept (as [`promote`], whatever the conversion underneath does).
pub fn demote(d: f64) -> f32 {
    if d.is_nan() {
        let b = d.to_bits();
        let sign = ((b >> 63) as u32) << 31;
        let payload = ((b >> 29) & 0x007f_ffff) as u32;
        return f32::from_bits(sign | 0x7fc0_0000 | payload);
    }
    d as f32
}

/// `op` applied to `x` and `y` (`y` was on top of the stack).
pub fn binary(op: Binary, x: ValRaw, y: ValRaw) -> Result<ValRaw, &'static str> {
    use Binary::*;
    let (a, c) = (x.i32(), y.i32());
    let (l, m) = (x.i64(), y.i64());
    let (f, g) = (x.f32(), y.f32());
    let (d, e) = (x.f64(), y.f64());
    Ok(match op {
        I32Eq => b(a == c),
        I32Ne => b(a != c),
        I32LtS => b(a < c),
        I32LtU => b((a as u32) < c as u32),
        I32GtS => b(a > c),
        I32GtU => b(a as u32 > c as u32),
        I32LeS => b(a <= c),
        I32LeU => b(a as u32 <= c as u32),
        I32GeS => b(a >= c),
        I32GeU => b(a as u32 >= c as u32),
        I32Add => i32v(a.wrapping_add(c)),
        I32Sub => i32v(a.wrapping_sub(c)),
        I32Mul => i32v(a.wrapping_mul(c)),
        I32DivS => i32v(match (a, c) {
            (_, 0) => return Err(DIVIDE_BY_ZERO),
            (i32::MIN, -1) => return Err(OVERFLOW),
            _ => a / c,
        }),
        I32DivU => i32v((a as u32).checked_div(c as u32).ok_or(DIVIDE_BY_ZERO)? as i32),
        I32RemS => i32v(if c == 0 {
            return Err(DIVIDE_BY_ZERO);
        } else {
            a.wrapping_rem(c)
        }),
        I32RemU => i32v((a as u32).checked_rem(c as u32).ok_or(DIVIDE_BY_ZERO)? as i32),
        I32And => i32v(a & c),
        I32Or => i32v(a | c),
        I32Xor => i32v(a ^ c),
        I32Shl => i32v(a.wrapping_shl(c as u32)),
        I32ShrS => i32v(a.wrapping_shr(c as u32)),
        I32ShrU => i32v((a as u32).wrapping_shr(c as u32) as i32),
        I32Rotl => i32v(a.rotate_left(c as u32 % 32)),
        I32Rotr => i32v(a.rotate_right(c as u32 % 32)),
        I64Eq => b(l == m),
        I64Ne => b(l != m),
        I64LtS => b(l < m),
        I64LtU => b((l as u64) < m as u64),
        I64GtS => b(l > m),
        I64GtU => b(l as u64 > m as u64),
        I64LeS => b(l <= m),
        I64LeU => b(l as u64 <= m as u64),
        I64GeS => b(l >= m),
        I64GeU => b(l as u64 >= m as u64),
        I64Add => i64v(l.wrapping_add(m)),
        I64Sub => i64v(l.wrapping_sub(m)),
        I64Mul => i64v(l.wrapping_mul(m)),
        I64DivS => i64v(match (l, m) {
            (_, 0) => return Err(DIVIDE_BY_ZERO),
            (i64::MIN, -1) => return Err(OVERFLOW),
            _ => l / m,
        }),
        I64DivU => i64v((l as u64).checked_div(m as u64).ok_or(DIVIDE_BY_ZERO)? as i64),
        I64RemS => i64v(if m == 0 {
            return Err(DIVIDE_BY_ZERO);
        } else {
            l.wrapping_rem(m)
        }),
        I64RemU => i64v((l as u64).checked_rem(m as u64).ok_or(DIVIDE_BY_ZERO)? as i64),
        I64And => i64v(l & m),
        I64Or => i64v(l | m),
        I64Xor => i64v(l ^ m),
        I64Shl => i64v(l.wrapping_shl(m as u32)),
        I64ShrS => i64v(l.wrapping_shr(m as u32)),
        I64ShrU => i64v((l as u64).wrapping_shr(m as u32) as i64),
        I64Rotl => i64v(l.rotate_left((m as u64 % 64) as u32)),
        I64Rotr => i64v(l.rotate_right((m as u64 % 64) as u32)),
        F32Eq => b(f == g),
        F32Ne => b(f != g),
        F32Lt => b(f < g),
        F32Gt => b(f > g),
        F32Le => b(f <= g),
        F32Ge => b(f >= g),
        F32Add => f32v(f + g),
        F32Sub => f32v(f - g),
        F32Mul => f32v(f * g),
        F32Div => f32v(f / g),
        F32Min => f32v(min_max(f as f64, g as f64, true) as f32),
        F32Max => f32v(min_max(f as f64, g as f64, false) as f32),
        F32Copysign => ValRaw::from_i32((a & 0x7fff_ffff) | (c & i32::MIN)),
        F64Eq => b(d == e),
        F64Ne => b(d != e),
        F64Lt => b(d < e),
        F64Gt => b(d > e),
        F64Le => b(d <= e),
        F64Ge => b(d >= e),
        F64Add => f64v(d + e),
        F64Sub => f64v(d - e),
        F64Mul => f64v(d * e),
        F64Div => f64v(d / e),
        F64Min => f64v(min_max(d, e, true)),
        F64Max => f64v(min_max(d, e, false)),
        F64Copysign => ValRaw::from_i64((l & i64::MAX) | (m & i64::MIN)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promote_of_a_signalling_nan_is_a_quiet_nan_with_its_payload() {
        let snan = f32::from_bits(0xff80_0001);
        assert_eq!(promote(snan).to_bits(), 0xfff8_0000_2000_0000);
        assert_eq!(
            promote(f32::from_bits(0x7fa0_0000)).to_bits(),
            0x7ffc_0000_0000_0000
        );
        assert_eq!(promote(1.5).to_bits(), 1.5f64.to_bits());
    }

    #[test]
    fn demote_of_a_signalling_nan_is_a_quiet_nan_with_its_payload() {
        let snan = f64::from_bits(0x7ff0_0000_2000_0000);
        assert_eq!(demote(snan).to_bits(), 0x7fc0_0001);
        assert_eq!(demote(-2.5).to_bits(), (-2.5f32).to_bits());
    }

    #[test]
    fn nearest_rounds_halves_to_even() {
        assert_eq!(round64(2.5, Round::Even), 2.0);
        assert_eq!(round64(3.5, Round::Even), 4.0);
        assert_eq!(round64(-0.5, Round::Even).to_bits(), (-0.0f64).to_bits());
        assert_eq!(round64(0.75, Round::Even), 1.0);
        assert_eq!(round32(-1.5, Round::Even), -2.0);
    }

    #[test]
    fn floor_ceil_trunc_round_the_named_way() {
        assert_eq!(round64(-1.25, Round::Down), -2.0);
        assert_eq!(round64(-1.25, Round::Up), -1.0);
        assert_eq!(round64(-1.25, Round::Zero), -1.0);
        assert_eq!(round64(0.25, Round::Up), 1.0);
        assert_eq!(round64(-0.25, Round::Up).to_bits(), (-0.0f64).to_bits());
        assert_eq!(round64(1e300, Round::Down), 1e300);
    }

    #[test]
    fn sqrt_is_correctly_rounded() {
        // The host's hardware square root is correctly rounded: ours must
        // agree with it bit for bit, on normal and subnormal operands.
        let xs = [
            4.0,
            2.0,
            0.25,
            1e-310,
            5e-324,
            3.0e300,
            123456.789,
            1.0 + f64::EPSILON,
        ];
        for x in xs {
            assert_eq!(
                sqrt64(x).to_bits(),
                std::primitive::f64::sqrt(x).to_bits(),
                "sqrt({x})"
            );
        }
        assert!(sqrt64(-1.0).is_nan());
        assert_eq!(sqrt64(2.0f32 as f64) as f32, core::f32::consts::SQRT_2);
    }

    #[test]
    fn min_of_zeros_is_negative_zero_and_nan_wins() {
        assert_eq!(min_max(0.0, -0.0, true).to_bits(), (-0.0f64).to_bits());
        assert_eq!(min_max(0.0, -0.0, false).to_bits(), 0.0f64.to_bits());
        assert!(min_max(f64::NAN, 1.0, true).is_nan());
        assert_eq!(min_max(1.0, 2.0, false), 2.0);
    }

    #[test]
    fn integer_division_traps_on_zero_and_overflow() {
        let r = |a, b_| binary(Binary::I32DivS, ValRaw::from_i32(a), ValRaw::from_i32(b_));
        assert_eq!(r(7, 0), Err(DIVIDE_BY_ZERO));
        assert_eq!(r(i32::MIN, -1), Err(OVERFLOW));
        assert_eq!(r(-7, 2).map(|v| v.i32()), Ok(-3));
        let rem = binary(
            Binary::I32RemS,
            ValRaw::from_i32(i32::MIN),
            ValRaw::from_i32(-1),
        );
        assert_eq!(rem.map(|v| v.i32()), Ok(0));
    }

    #[test]
    fn float_to_integer_truncation_traps_outside_the_range() {
        let t = |x: f64| unary(Unary::I32TruncF64S, ValRaw::from_f64(x)).map(|v| v.i32());
        assert_eq!(t(-2147483648.9), Ok(i32::MIN));
        assert_eq!(t(2147483648.0), Err(OVERFLOW));
        assert_eq!(t(f64::NAN), Err(BAD_CONVERSION));
        let u = |x: f64| unary(Unary::I64TruncF64U, ValRaw::from_f64(x)).map(|v| v.i64());
        assert_eq!(u(-0.9), Ok(0));
        assert_eq!(u(18446744073709549568.0), Ok(-2048));
    }
}
