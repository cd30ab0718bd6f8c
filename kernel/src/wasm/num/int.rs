//! The integer operators that cannot trap, as one small enum the
//! interpreter evaluates inline, with no call: the arithmetic,
//! bitwise and comparison instructions of i32 and i64 that loops, counters
//! and addresses are made of.
//!
//! Why apart from [`super::Binary`]: an op of the internal form carries
//! an [`IntOp`] beside the places of its operands (a local, an immediate,
//! the stack), and the handler computes it by [`IntOp::eval`], a match
//! that folds to one operation in a handler made for that operation.
//! Division and remainder (which trap) and the float operators stay with
//! [`super::binary`], out of line.

use super::Binary;
use crate::cont::ValRaw;

/// A non-trapping two-operand integer instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntOp {
    I32Add,
    I32Sub,
    I32Mul,
    I32And,
    I32Or,
    I32Xor,
    I32Shl,
    I32ShrS,
    I32ShrU,
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
    I64Add,
    I64Sub,
    I64Mul,
    I64And,
    I64Or,
    I64Xor,
    I64Shl,
    I64ShrS,
    I64ShrU,
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
}

impl IntOp {
    /// The [`IntOp`] a [`Binary`] is, if it is one.
    pub fn of(b: Binary) -> Option<IntOp> {
        macro_rules! same {
            ($($v:ident),* $(,)?) => {
                match b {
                    $(Binary::$v => Some(IntOp::$v),)*
                    _ => None,
                }
            };
        }
        same!(
            I32Add, I32Sub, I32Mul, I32And, I32Or, I32Xor, I32Shl, I32ShrS, I32ShrU, I32Eq, I32Ne,
            I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU, I64Add, I64Sub, I64Mul,
            I64And, I64Or, I64Xor, I64Shl, I64ShrS, I64ShrU, I64Eq, I64Ne, I64LtS, I64LtU, I64GtS,
            I64GtU, I64LeS, I64LeU, I64GeS, I64GeU,
        )
    }

    /// Whether the result is an i32 truth value (a comparison).
    pub fn is_compare(self) -> bool {
        use IntOp::*;
        matches!(
            self,
            I32Eq
                | I32Ne
                | I32LtS
                | I32LtU
                | I32GtS
                | I32GtU
                | I32LeS
                | I32LeU
                | I32GeS
                | I32GeU
                | I64Eq
                | I64Ne
                | I64LtS
                | I64LtU
                | I64GtS
                | I64GtU
                | I64LeS
                | I64LeU
                | I64GeS
                | I64GeU
        )
    }

    /// The comparison true exactly where this one is false (`lt_s` for
    /// `ge_s`, `ne` for `eq`), or `None` for an operation that is not a
    /// comparison.
    pub fn negated(self) -> Option<IntOp> {
        use IntOp::*;
        Some(match self {
            I32Eq => I32Ne,
            I32Ne => I32Eq,
            I32LtS => I32GeS,
            I32GeS => I32LtS,
            I32LtU => I32GeU,
            I32GeU => I32LtU,
            I32GtS => I32LeS,
            I32LeS => I32GtS,
            I32GtU => I32LeU,
            I32LeU => I32GtU,
            I64Eq => I64Ne,
            I64Ne => I64Eq,
            I64LtS => I64GeS,
            I64GeS => I64LtS,
            I64LtU => I64GeU,
            I64GeU => I64LtU,
            I64GtS => I64LeS,
            I64LeS => I64GtS,
            I64GtU => I64LeU,
            I64LeU => I64GtU,
            _ => return None,
        })
    }

    /// `x op y`, with the same bits as [`super::binary`] gives.
    #[inline(always)]
    pub fn eval(self, x: ValRaw, y: ValRaw) -> ValRaw {
        ValRaw::from_i64(self.eval_u64(x.i64() as u64, y.i64() as u64) as i64)
    }

    /// `x op y` on the low 64 bits of two slots; an i32 result is
    /// zero-extended, as a slot holds it.
    #[inline(always)]
    pub fn eval_u64(self, x: u64, y: u64) -> u64 {
        use IntOp::*;
        let (a, c) = (x as u32, y as u32);
        let w = |v: u32| v as u64;
        let t = |v: bool| v as u64;
        match self {
            I32Add => w(a.wrapping_add(c)),
            I32Sub => w(a.wrapping_sub(c)),
            I32Mul => w(a.wrapping_mul(c)),
            I32And => w(a & c),
            I32Or => w(a | c),
            I32Xor => w(a ^ c),
            I32Shl => w(a.wrapping_shl(c)),
            I32ShrS => w((a as i32).wrapping_shr(c) as u32),
            I32ShrU => w(a.wrapping_shr(c)),
            I32Eq => t(a == c),
            I32Ne => t(a != c),
            I32LtS => t((a as i32) < c as i32),
            I32LtU => t(a < c),
            I32GtS => t(a as i32 > c as i32),
            I32GtU => t(a > c),
            I32LeS => t(a as i32 <= c as i32),
            I32LeU => t(a <= c),
            I32GeS => t(a as i32 >= c as i32),
            I32GeU => t(a >= c),
            I64Add => x.wrapping_add(y),
            I64Sub => x.wrapping_sub(y),
            I64Mul => x.wrapping_mul(y),
            I64And => x & y,
            I64Or => x | y,
            I64Xor => x ^ y,
            I64Shl => x.wrapping_shl(y as u32),
            I64ShrS => (x as i64).wrapping_shr(y as u32) as u64,
            I64ShrU => x.wrapping_shr(y as u32),
            I64Eq => t(x == y),
            I64Ne => t(x != y),
            I64LtS => t((x as i64) < y as i64),
            I64LtU => t(x < y),
            I64GtS => t(x as i64 > y as i64),
            I64GtU => t(x > y),
            I64LeS => t(x as i64 <= y as i64),
            I64LeU => t(x <= y),
            I64GeS => t(x as i64 >= y as i64),
            I64GeU => t(x >= y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `IntOp` gives the bits `num::binary` gives, on operands that
    /// reach the edges (signs, wrap-around, shift counts past the width).
    #[test]
    fn every_int_op_computes_what_the_out_of_line_binary_computes() {
        let values: [u64; 9] = [
            0,
            1,
            2,
            31,
            33,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x8000_0000_0000_0001,
        ];
        let mut checked = 0;
        use Binary::*;
        let all = [
            I32Add, I32Sub, I32Mul, I32And, I32Or, I32Xor, I32Shl, I32ShrS, I32ShrU, I32Eq, I32Ne,
            I32LtS, I32LtU, I32GtS, I32GtU, I32LeS, I32LeU, I32GeS, I32GeU, I64Add, I64Sub, I64Mul,
            I64And, I64Or, I64Xor, I64Shl, I64ShrS, I64ShrU, I64Eq, I64Ne, I64LtS, I64LtU, I64GtS,
            I64GtU, I64LeS, I64LeU, I64GeS, I64GeU, I32DivS, I64RemU, F32Add,
        ];
        for b in all {
            let Some(op) = IntOp::of(b) else { continue };
            for &x in &values {
                for &y in &values {
                    let (vx, vy) = if (op as u8) < IntOp::I64Add as u8 {
                        (ValRaw::from_i32(x as i32), ValRaw::from_i32(y as i32))
                    } else {
                        (ValRaw::from_i64(x as i64), ValRaw::from_i64(y as i64))
                    };
                    assert_eq!(
                        op.eval(vx, vy),
                        super::super::binary(b, vx, vy).unwrap(),
                        "{b:?} {x:#x} {y:#x}"
                    );
                }
            }
            checked += 1;
        }
        assert_eq!(checked, 38);
    }

    /// `negated` gives, for each of the twenty comparisons, the one whose
    /// result is the other truth value on every pair of operands, and
    /// nothing for the eighteen other operations.
    #[test]
    fn a_negated_comparison_is_true_exactly_where_the_comparison_is_false() {
        let values: [u64; 6] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 63];
        let mut compares = 0;
        for op in crate::wasm::interp::INT_OPS {
            let Some(not) = op.negated() else {
                assert!(!op.is_compare(), "{op:?}");
                continue;
            };
            compares += 1;
            for &x in &values {
                for &y in &values {
                    assert_eq!(
                        op.eval_u64(x, y) ^ 1,
                        not.eval_u64(x, y),
                        "{op:?} {x:#x} {y:#x}"
                    );
                }
            }
        }
        assert_eq!(compares, 20);
    }
}
