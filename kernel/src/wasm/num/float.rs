//! Floating-point helpers of the numeric instructions: `min`/`max`,
//! rounding in the four named ways, truncation with its range checks, and
//! a correctly rounded square root.
//!
//! Why apart: the kernel target has no `libm` and no `std` float methods,
//! so these are written out here, each to the specification's rules.

use super::{BAD_CONVERSION, OVERFLOW};

/// `min` or `max` with WebAssembly's rules: a NaN operand gives NaN, and
/// -0 is less than +0. (An f32 operand is exact as an f64, and so is the
/// result, so one function serves both widths.)
pub(super) fn min_max(x: f64, y: f64, min: bool) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == y {
        // Equal: only the signs of zeros can differ.
        let neg = if min {
            x.is_sign_negative() || y.is_sign_negative()
        } else {
            x.is_sign_negative() && y.is_sign_negative()
        };
        return if neg { -x.abs() } else { x.abs() };
    }
    if (x < y) == min { x } else { y }
}

/// The integer part of `x` if it lies strictly between `lo` and `hi`
/// (the bounds themselves are out of range); the trap otherwise.
pub(super) fn trunc(x: f64, lo: f64, hi: f64) -> Result<f64, &'static str> {
    if x.is_nan() {
        return Err(BAD_CONVERSION);
    }
    let t = round64(x, Round::Zero);
    if t <= lo || t >= hi {
        return Err(OVERFLOW);
    }
    Ok(t)
}

/// `trunc` to u64: the range is (-1, 2^64).
pub(super) fn trunc_u64(x: f64) -> Result<u64, &'static str> {
    Ok(trunc(x, -1.0, 18446744073709551616.0)? as u64)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Round {
    Up,
    Down,
    Zero,
    Even,
}

/// Rounds `x` to an integer in direction `mode`, on the bits: values of
/// 2^52 and more are integers already; smaller ones lose their fraction
/// bits. NaN stays NaN (quieted), zeros and infinities stay.
pub(super) fn round64(x: f64, mode: Round) -> f64 {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if x.is_nan() {
        return f64::from_bits(bits | 1 << 51);
    }
    if exp >= 52 {
        return x;
    }
    let neg = bits >> 63 == 1;
    let sign_zero = if neg { -0.0 } else { 0.0 };
    let one = if neg { -1.0 } else { 1.0 };
    if exp < 0 {
        // |x| < 1.
        if x == 0.0 {
            return x;
        }
        return match mode {
            Round::Zero => sign_zero,
            Round::Up => {
                if neg {
                    -0.0
                } else {
                    1.0
                }
            }
            Round::Down => {
                if neg {
                    -1.0
                } else {
                    0.0
                }
            }
            Round::Even => {
                if exp == -1 && bits & ((1 << 52) - 1) != 0 {
                    one // more than one half
                } else {
                    sign_zero // a half, or less: to the even 0
                }
            }
        };
    }
    let frac_mask = ((1u64 << 52) - 1) >> exp;
    if bits & frac_mask == 0 {
        return x;
    }
    let truncated = f64::from_bits(bits & !frac_mask);
    match mode {
        Round::Zero => truncated,
        Round::Up => {
            if neg {
                truncated
            } else {
                truncated + 1.0
            }
        }
        Round::Down => {
            if neg {
                truncated - 1.0
            } else {
                truncated
            }
        }
        Round::Even => {
            let rest = (x - truncated).abs();
            let away = rest > 0.5 || (rest == 0.5 && !is_even(truncated));
            if away { truncated + one } else { truncated }
        }
    }
}

pub(super) fn is_even(t: f64) -> bool {
    // `t` is an integer below 2^52 in magnitude.
    let half = t / 2.0;
    round64(half, Round::Zero) == half
}

/// f32 rounding through f64: every f32 is exact as an f64, and the
/// integers it rounds to are f32 values too.
pub(super) fn round32(x: f32, mode: Round) -> f32 {
    if x.is_nan() {
        return f32::from_bits(x.to_bits() | 1 << 22);
    }
    round64(x as f64, mode) as f32
}

/// The correctly rounded square root, digit by digit on the significand
/// (the classic restoring method): exact for f64, and for an f32
/// operand its f64 root rounds correctly to f32 (f64 has more than
/// twice f32's precision plus two bits).
pub(super) fn sqrt64(x: f64) -> f64 {
    if x.is_nan() {
        return f64::from_bits(x.to_bits() | 1 << 51);
    }
    if x == 0.0 || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        // Subnormal: normalize.
        while mant & (1 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        exp += 1;
        mant &= (1 << 52) - 1;
    }
    mant |= 1 << 52;
    let mut e = exp - 1023;
    if e & 1 != 0 {
        mant <<= 1;
        e -= 1;
    }
    // mant is in [2^52, 2^54), so m = mant * 2^54 is in [2^106, 2^108)
    // and its integer root in [2^53, 2^54): 53 significand bits and one
    // rounding bit; a non-zero remainder means more below.
    let m = (mant as u128) << 54;
    let mut root: u128 = 0;
    let mut rem: u128 = 0;
    let mut i = 106i32; // the bits of m, two at a time from the top
    while i >= 0 {
        rem = (rem << 2) | ((m >> i) & 3);
        let trial = (root << 2) | 1;
        root <<= 1;
        if rem >= trial {
            rem -= trial;
            root |= 1;
        }
        i -= 2;
    }
    let round_bit = root & 1;
    let sticky = rem != 0;
    let mut sig = (root >> 1) as u64;
    let lsb = sig & 1;
    if round_bit != 0 && (sticky || lsb == 1) {
        sig += 1;
    }
    let mut out_exp = e / 2 + 1023;
    if sig >> 53 != 0 {
        sig >>= 1;
        out_exp += 1;
    }
    f64::from_bits(((out_exp as u64) << 52) | (sig & ((1 << 52) - 1)))
}
