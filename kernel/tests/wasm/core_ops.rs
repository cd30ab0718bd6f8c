//! Core instructions: integers, control flow, locals, globals, memory.

use super::{call, instance, trap};
use kernel::wasm::Val::{I32, I64};

#[test]
fn i32_arithmetic_wraps_around() {
    let i = instance(
        r#"(module
        (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
        (func (export "sub") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub)
        (func (export "mul") (param i32 i32) (result i32) local.get 0 local.get 1 i32.mul))"#,
    );
    assert_eq!(call(&i, "add", &[I32(2), I32(40)]), [I32(42)]);
    assert_eq!(call(&i, "add", &[I32(i32::MAX), I32(1)]), [I32(i32::MIN)]);
    assert_eq!(call(&i, "sub", &[I32(0), I32(1)]), [I32(-1)]);
    assert_eq!(call(&i, "mul", &[I32(0x10000), I32(0x10000)]), [I32(0)]);
}

#[test]
fn i32_division_and_remainder_follow_the_sign_rules() {
    let i = instance(
        r#"(module
        (func (export "div_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
        (func (export "div_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_u)
        (func (export "rem_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_s)
        (func (export "rem_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_u))"#,
    );
    assert_eq!(call(&i, "div_s", &[I32(-7), I32(2)]), [I32(-3)]);
    assert_eq!(call(&i, "div_u", &[I32(-7), I32(2)]), [I32(0x7fff_fffc)]);
    assert_eq!(call(&i, "rem_s", &[I32(-7), I32(2)]), [I32(-1)]);
    assert_eq!(call(&i, "rem_u", &[I32(-7), I32(2)]), [I32(1)]);
    assert_eq!(
        trap(&i, "div_s", &[I32(1), I32(0)]),
        "integer divide by zero"
    );
    assert_eq!(
        trap(&i, "rem_u", &[I32(1), I32(0)]),
        "integer divide by zero"
    );
    assert_eq!(
        trap(&i, "div_s", &[I32(i32::MIN), I32(-1)]),
        "integer overflow"
    );
}

#[test]
fn i32_bit_operations_count_shift_and_rotate() {
    let i = instance(
        r#"(module
        (func (export "clz") (param i32) (result i32) local.get 0 i32.clz)
        (func (export "ctz") (param i32) (result i32) local.get 0 i32.ctz)
        (func (export "popcnt") (param i32) (result i32) local.get 0 i32.popcnt)
        (func (export "shl") (param i32 i32) (result i32) local.get 0 local.get 1 i32.shl)
        (func (export "shr_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.shr_s)
        (func (export "shr_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.shr_u)
        (func (export "rotl") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rotl)
        (func (export "rotr") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rotr)
        (func (export "and_or_xor") (param i32 i32) (result i32)
          local.get 0 local.get 1 i32.and
          local.get 0 local.get 1 i32.or
          i32.xor)
        (func (export "extend8") (param i32) (result i32) local.get 0 i32.extend8_s)
        (func (export "eqz") (param i32) (result i32) local.get 0 i32.eqz))"#,
    );
    assert_eq!(call(&i, "clz", &[I32(1)]), [I32(31)]);
    assert_eq!(call(&i, "clz", &[I32(0)]), [I32(32)]);
    assert_eq!(call(&i, "ctz", &[I32(0x80)]), [I32(7)]);
    assert_eq!(call(&i, "popcnt", &[I32(-1)]), [I32(32)]);
    assert_eq!(call(&i, "shl", &[I32(1), I32(33)]), [I32(2)]);
    assert_eq!(call(&i, "shr_s", &[I32(-8), I32(1)]), [I32(-4)]);
    assert_eq!(call(&i, "shr_u", &[I32(-8), I32(1)]), [I32(0x7fff_fffc)]);
    assert_eq!(
        call(&i, "rotl", &[I32(0x8000_0001u32 as i32), I32(1)]),
        [I32(3)]
    );
    assert_eq!(
        call(&i, "rotr", &[I32(3), I32(1)]),
        [I32(0x8000_0001u32 as i32)]
    );
    assert_eq!(
        call(&i, "and_or_xor", &[I32(0b1100), I32(0b1010)]),
        [I32(0b0110)]
    );
    assert_eq!(call(&i, "extend8", &[I32(0xff)]), [I32(-1)]);
    assert_eq!(call(&i, "eqz", &[I32(0)]), [I32(1)]);
    assert_eq!(call(&i, "eqz", &[I32(5)]), [I32(0)]);
}

#[test]
fn i32_comparisons_distinguish_signed_and_unsigned() {
    let i = instance(
        r#"(module
        (func (export "lt_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.lt_s)
        (func (export "lt_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.lt_u)
        (func (export "ge_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.ge_s)
        (func (export "gt_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.gt_u)
        (func (export "ne") (param i32 i32) (result i32) local.get 0 local.get 1 i32.ne))"#,
    );
    assert_eq!(call(&i, "lt_s", &[I32(-1), I32(1)]), [I32(1)]);
    assert_eq!(call(&i, "lt_u", &[I32(-1), I32(1)]), [I32(0)]);
    assert_eq!(call(&i, "ge_s", &[I32(3), I32(3)]), [I32(1)]);
    assert_eq!(call(&i, "gt_u", &[I32(-1), I32(1)]), [I32(1)]);
    assert_eq!(call(&i, "ne", &[I32(3), I32(3)]), [I32(0)]);
}

#[test]
fn i64_operations_use_all_64_bits() {
    let i = instance(
        r#"(module
        (func (export "mul") (param i64 i64) (result i64) local.get 0 local.get 1 i64.mul)
        (func (export "div_u") (param i64 i64) (result i64) local.get 0 local.get 1 i64.div_u)
        (func (export "rem_s") (param i64 i64) (result i64) local.get 0 local.get 1 i64.rem_s)
        (func (export "shr_u") (param i64 i64) (result i64) local.get 0 local.get 1 i64.shr_u)
        (func (export "rotl") (param i64 i64) (result i64) local.get 0 local.get 1 i64.rotl)
        (func (export "clz") (param i64) (result i64) local.get 0 i64.clz)
        (func (export "lt_u") (param i64 i64) (result i32) local.get 0 local.get 1 i64.lt_u)
        (func (export "extend_s") (param i32) (result i64) local.get 0 i64.extend_i32_s)
        (func (export "extend_u") (param i32) (result i64) local.get 0 i64.extend_i32_u)
        (func (export "wrap") (param i64) (result i32) local.get 0 i32.wrap_i64))"#,
    );
    assert_eq!(call(&i, "mul", &[I64(1 << 32), I64(3)]), [I64(3 << 32)]);
    assert_eq!(call(&i, "div_u", &[I64(-1), I64(2)]), [I64(i64::MAX)]);
    assert_eq!(call(&i, "rem_s", &[I64(-7), I64(3)]), [I64(-1)]);
    assert_eq!(call(&i, "shr_u", &[I64(-1), I64(60)]), [I64(15)]);
    assert_eq!(call(&i, "rotl", &[I64(i64::MIN), I64(1)]), [I64(1)]);
    assert_eq!(call(&i, "clz", &[I64(1)]), [I64(63)]);
    assert_eq!(call(&i, "lt_u", &[I64(1), I64(-1)]), [I32(1)]);
    assert_eq!(call(&i, "extend_s", &[I32(-2)]), [I64(-2)]);
    assert_eq!(call(&i, "extend_u", &[I32(-2)]), [I64(0xffff_fffe)]);
    assert_eq!(call(&i, "wrap", &[I64(0x1_0000_0005)]), [I32(5)]);
    assert_eq!(
        trap(&i, "div_u", &[I64(1), I64(0)]),
        "integer divide by zero"
    );
}

#[test]
fn loop_with_br_if_sums_one_to_n() {
    let i = instance(
        r#"(module (func (export "sum") (param $n i32) (result i32) (local $acc i32)
        (block $done
          (loop $next
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $acc (i32.add (local.get $acc) (local.get $n)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $next)))
        (local.get $acc)))"#,
    );
    assert_eq!(call(&i, "sum", &[I32(100)]), [I32(5050)]);
    assert_eq!(call(&i, "sum", &[I32(0)]), [I32(0)]);
}

#[test]
fn if_else_picks_a_branch_and_yields_its_value() {
    let i = instance(
        r#"(module
        (func (export "sign") (param i32) (result i32)
          (if (result i32) (i32.lt_s (local.get 0) (i32.const 0))
            (then (i32.const -1))
            (else (if (result i32) (i32.eqz (local.get 0))
              (then (i32.const 0)) (else (i32.const 1))))))
        (func (export "no_else") (param i32) (result i32) (local $r i32)
          (local.set $r (i32.const 10))
          (if (local.get 0) (then (local.set $r (i32.const 20))))
          (local.get $r)))"#,
    );
    assert_eq!(call(&i, "sign", &[I32(-5)]), [I32(-1)]);
    assert_eq!(call(&i, "sign", &[I32(0)]), [I32(0)]);
    assert_eq!(call(&i, "sign", &[I32(9)]), [I32(1)]);
    assert_eq!(call(&i, "no_else", &[I32(0)]), [I32(10)]);
    assert_eq!(call(&i, "no_else", &[I32(1)]), [I32(20)]);
}

#[test]
fn br_table_jumps_by_index_and_clamps_to_the_default() {
    let i = instance(
        r#"(module (func (export "pick") (param i32) (result i32)
        (block $d (block $c (block $b (block $a
          (br_table $a $b $c $d (local.get 0)))
          (return (i32.const 100)))
          (return (i32.const 101)))
          (return (i32.const 102)))
        (i32.const 103)))"#,
    );
    assert_eq!(call(&i, "pick", &[I32(0)]), [I32(100)]);
    assert_eq!(call(&i, "pick", &[I32(1)]), [I32(101)]);
    assert_eq!(call(&i, "pick", &[I32(2)]), [I32(102)]);
    assert_eq!(call(&i, "pick", &[I32(3)]), [I32(103)]);
    assert_eq!(call(&i, "pick", &[I32(-1)]), [I32(103)]);
}

#[test]
fn branches_carry_values_out_of_blocks_and_drop_the_rest() {
    let i = instance(
        r#"(module (func (export "f") (param i32) (result i32)
        (i32.add (i32.const 1000)
          (block $out (result i32)
            (i32.const 1) (i32.const 2) (drop) (drop)
            (i32.const 7) (i32.const 8)
            (br_if $out (local.get 0))
            (drop)))))"#,
    );
    assert_eq!(call(&i, "f", &[I32(1)]), [I32(1008)]);
    assert_eq!(call(&i, "f", &[I32(0)]), [I32(1007)]);
}

#[test]
fn blocks_with_params_and_multiple_results() {
    let i = instance(
        r#"(module
        (type $pair (func (param i32 i32) (result i32 i32)))
        (func (export "swap_sub") (param i32 i32) (result i32)
          (local.get 0) (local.get 1)
          (block (type $pair)
            (local.set 0) (local.set 1) (local.get 0) (local.get 1))
          (i32.sub))
        (func (export "loop_params") (param i32) (result i32)
          (i32.const 0)
          (loop $l (param i32) (result i32)
            (i32.add (local.get 0))
            (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
            (br_if $l (local.get 0))))
        (func (export "multi") (result i32 i64) (i32.const 3) (i64.const 4)))"#,
    );
    assert_eq!(call(&i, "swap_sub", &[I32(10), I32(3)]), [I32(-7)]);
    assert_eq!(call(&i, "multi", &[]), [I32(3), I64(4)]);
    assert_eq!(call(&i, "loop_params", &[I32(4)]), [I32(10)]);
}

#[test]
fn calls_pass_arguments_and_recursion_computes_factorial() {
    let i = instance(
        r#"(module
        (func $fac (export "fac") (param i64) (result i64)
          (if (result i64) (i64.eqz (local.get 0))
            (then (i64.const 1))
            (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
        (func $sub3 (param i32 i32 i32) (result i32)
          (i32.sub (i32.sub (local.get 0) (local.get 1)) (local.get 2)))
        (func (export "order") (result i32)
          (i32.add (i32.const 1000) (call $sub3 (i32.const 100) (i32.const 10) (i32.const 1))))
        (func $tail (param i32 i32) (result i32)
          (if (result i32) (i32.eqz (local.get 0)) (then (local.get 1))
            (else (return_call $tail (i32.sub (local.get 0) (i32.const 1))
                                     (i32.add (local.get 1) (local.get 0))))))
        (func (export "tail") (param i32) (result i32) (call $tail (local.get 0) (i32.const 0))))"#,
    );
    assert_eq!(call(&i, "fac", &[I64(20)]), [I64(2432902008176640000)]);
    assert_eq!(call(&i, "order", &[]), [I32(1089)]);
    assert_eq!(call(&i, "tail", &[I32(10)]), [I32(55)]);
}

#[test]
fn a_million_tail_calls_run_in_constant_stack() {
    // Direct, indirect and by reference, mutually recursive: each would
    // need a native frame per call if a tail call were a call and a return.
    let i = instance(
        r#"(module
        (type $t (func (param i64 i64) (result i64)))
        (table funcref (elem $odd))
        (elem declare func $even)
        (func $even (type $t)
          (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))
            (else (return_call_indirect (type $t)
                     (i64.sub (local.get 0) (i64.const 1)) (i64.add (local.get 1) (i64.const 2))
                     (i32.const 0)))))
        (func $odd (type $t)
          (if (result i64) (i64.eqz (local.get 0)) (then (local.get 1))
            (else (return_call_ref $t
                     (i64.sub (local.get 0) (i64.const 1)) (i64.add (local.get 1) (i64.const 1))
                     (ref.func $even)))))
        (func (export "run") (param i64) (result i64)
          (return_call $even (local.get 0) (i64.const 0))))"#,
    );
    // Half the steps add 2, half add 1.
    assert_eq!(call(&i, "run", &[I64(1_000_000)]), [I64(1_500_000)]);
}

#[test]
fn an_exception_from_a_tail_callee_is_not_caught_by_the_callers_handler() {
    // The caller's frame is gone when its callee runs: its try_table
    // cannot catch what the callee throws; the outer caller's does.
    let i = instance(
        r#"(module
        (tag $e (param i32))
        (func $boom (result i32) (throw $e (i32.const 5)))
        (func $mid (result i32)
          (block $h (result i32)
            (try_table (result i32) (catch $e $h) (return_call $boom)))
          (i32.add (i32.const 100)))
        (func (export "outer") (result i32)
          (block $h (result i32)
            (try_table (result i32) (catch $e $h) (call $mid)))
          (i32.add (i32.const 1000))))"#,
    );
    assert_eq!(call(&i, "outer", &[]), [I32(1005)]);
}

#[test]
fn return_leaves_from_inside_nested_blocks() {
    let i = instance(
        r#"(module (func (export "f") (param i32) (result i32)
        (block (loop (block
          (if (local.get 0) (then (return (i32.const 42))))
          (br 2))))
        (i32.const 7)))"#,
    );
    assert_eq!(call(&i, "f", &[I32(1)]), [I32(42)]);
    assert_eq!(call(&i, "f", &[I32(0)]), [I32(7)]);
}

#[test]
fn declared_locals_start_at_zero_where_an_earlier_call_left_values() {
    // `dirty` leaves 7s in the value-stack slots that `fresh`'s declared
    // locals then occupy; `fresh` must read zeros there, and a function
    // with params alone must keep its arguments.
    let i = instance(
        r#"(module
        (func $dirty (param i32) (result i32)
          (local i32 i32) (local.set 1 (i32.const 7)) (local.set 2 (i32.const 7))
          (i32.add (local.get 1) (local.get 2)))
        (func $fresh (param i32) (result i32) (local i32 i64)
          (i32.add (local.get 1) (i32.wrap_i64 (local.get 2))))
        (func $id (param i32) (result i32) (local.get 0))
        (func (export "f") (result i32)
          (drop (call $dirty (i32.const 0)))
          (i32.add (call $fresh (i32.const 0)) (call $id (i32.const 5)))))"#,
    );
    assert_eq!(call(&i, "f", &[]), [I32(5)]);
}

#[test]
fn select_and_local_tee() {
    let i = instance(
        r#"(module
        (func (export "sel") (param i32) (result i32)
          (select (i32.const 10) (i32.const 20) (local.get 0)))
        (func (export "tee") (param i32) (result i32) (local i32)
          (i32.add (local.tee 1 (i32.mul (local.get 0) (i32.const 2))) (local.get 1))))"#,
    );
    assert_eq!(call(&i, "sel", &[I32(1)]), [I32(10)]);
    assert_eq!(call(&i, "sel", &[I32(0)]), [I32(20)]);
    assert_eq!(call(&i, "tee", &[I32(5)]), [I32(20)]);
}

#[test]
fn globals_keep_state_between_calls_and_start_runs_first() {
    let i = instance(
        r#"(module
        (global $base i32 (i32.const 40))
        (global $count (mut i32) (global.get $base))
        (global $big (mut i64) (i64.const 0))
        (func $start (global.set $count (i32.add (global.get $count) (i32.const 2))))
        (start $start)
        (func (export "next") (result i32)
          (global.set $count (i32.add (global.get $count) (i32.const 1)))
          (global.get $count))
        (func (export "big") (result i64)
          (global.set $big (i64.add (global.get $big) (i64.const 0x100000000)))
          (global.get $big)))"#,
    );
    assert_eq!(call(&i, "next", &[]), [I32(43)]);
    assert_eq!(call(&i, "next", &[]), [I32(44)]);
    assert_eq!(call(&i, "big", &[]), [I64(1 << 32)]);
    assert_eq!(call(&i, "big", &[]), [I64(2 << 32)]);
}

#[test]
fn memory_loads_and_stores_are_little_endian_and_extend() {
    let i = instance(
        r#"(module (memory 1)
        (data (i32.const 16) "\01\02\03\04\ff\ff")
        (func (export "load32") (param i32) (result i32) (i32.load (local.get 0)))
        (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
        (func (export "load8_u") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "load16_s") (param i32) (result i64) (i64.load16_s (local.get 0)))
        (func (export "store_load64") (param i64) (result i64)
          (i64.store offset=100 (i32.const 4) (local.get 0))
          (i64.load (i32.const 104)))
        (func (export "store8") (param i32) (result i32)
          (i32.store8 (i32.const 0) (local.get 0))
          (i32.load (i32.const 0))))"#,
    );
    assert_eq!(call(&i, "load32", &[I32(16)]), [I32(0x0403_0201)]);
    assert_eq!(call(&i, "load8_s", &[I32(20)]), [I32(-1)]);
    assert_eq!(call(&i, "load8_u", &[I32(20)]), [I32(255)]);
    assert_eq!(call(&i, "load16_s", &[I32(20)]), [I64(-1)]);
    assert_eq!(
        call(&i, "store_load64", &[I64(0x1122_3344_5566_7788)]),
        [I64(0x1122_3344_5566_7788)]
    );
    assert_eq!(call(&i, "store8", &[I32(0x1ff)]), [I32(0xff)]);
}

#[test]
fn memory_access_past_the_end_traps() {
    let i = instance(
        r#"(module (memory 1)
        (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
        (func (export "store") (param i32) (i64.store (local.get 0) (i64.const 1))))"#,
    );
    assert_eq!(call(&i, "load", &[I32(65532)]), [I32(0)]);
    assert_eq!(
        trap(&i, "load", &[I32(65533)]),
        "out of bounds memory access"
    );
    assert_eq!(trap(&i, "load", &[I32(-1)]), "out of bounds memory access");
    assert_eq!(
        trap(&i, "store", &[I32(65529)]),
        "out of bounds memory access"
    );
}

#[test]
fn a_negative_i64_constant_stored_at_a_local_address_keeps_all_64_bits() {
    // `local.get; i64.const; i64.store` is one fused op holding the
    // constant as an i32: it must come back sign-extended.
    let i = instance(
        r#"(module (memory 1)
        (func (export "f") (param i32) (result i64)
          (i64.store offset=8 (local.get 0) (i64.const -2))
          (i64.load offset=8 (local.get 0))))"#,
    );
    assert_eq!(call(&i, "f", &[I32(16)]), [I64(-2)]);
}

#[test]
fn an_if_on_eqz_takes_the_then_branch_only_for_zero() {
    let i = instance(
        r#"(module (func (export "f") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
          (then (i32.const 10)) (else (i32.const 20)))))"#,
    );
    assert_eq!(call(&i, "f", &[I32(0)]), [I32(10)]);
    assert_eq!(call(&i, "f", &[I32(7)]), [I32(20)]);
    assert_eq!(call(&i, "f", &[I32(i32::MIN)]), [I32(20)]);
}

/// `if` on a load of a local's address (one fused op each way): the
/// branch taken by the loaded value, at offset 0 and past it, and the
/// trap of an address past the end.
#[test]
fn an_if_on_a_loaded_value_branches_on_the_value_and_traps_past_the_end() {
    let i = instance(
        r#"(module (memory 1) (data (i32.const 8) "\00\07\00\00\00")
        (func (export "if") (param i32) (result i32)
          (if (result i32) (i32.load8_u (local.get 0))
            (then (i32.const 10)) (else (i32.const 20))))
        (func (export "unless") (param i32) (result i32)
          (if (result i32) (i32.eqz (i32.load offset=1 (local.get 0)))
            (then (i32.const 30)) (else (i32.const 40)))))"#,
    );
    assert_eq!(call(&i, "if", &[I32(9)]), [I32(10)]);
    assert_eq!(call(&i, "if", &[I32(8)]), [I32(20)]);
    assert_eq!(call(&i, "unless", &[I32(8)]), [I32(40)]);
    assert_eq!(call(&i, "unless", &[I32(9)]), [I32(30)]);
    assert_eq!(trap(&i, "if", &[I32(65536)]), "out of bounds memory access");
    assert_eq!(
        trap(&i, "unless", &[I32(65532)]),
        "out of bounds memory access"
    );
}

#[test]
fn memory_grow_adds_pages_up_to_the_maximum() {
    let i = instance(
        r#"(module (memory 1 3)
        (func (export "size") (result i32) (memory.size))
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
        (func (export "poke") (param i32) (result i32)
          (i32.store (local.get 0) (i32.const 77)) (i32.load (local.get 0))))"#,
    );
    assert_eq!(call(&i, "size", &[]), [I32(1)]);
    assert_eq!(
        trap(&i, "poke", &[I32(65536)]),
        "out of bounds memory access"
    );
    assert_eq!(call(&i, "grow", &[I32(1)]), [I32(1)]);
    assert_eq!(call(&i, "poke", &[I32(65536)]), [I32(77)]);
    assert_eq!(call(&i, "grow", &[I32(2)]), [I32(-1)]);
    assert_eq!(call(&i, "grow", &[I32(1)]), [I32(2)]);
    assert_eq!(call(&i, "size", &[]), [I32(3)]);
}

#[test]
fn bulk_memory_fills_copies_and_initializes() {
    let i = instance(
        r#"(module (memory 1)
        (data $d "hello")
        (func (export "f") (result i64)
          (memory.fill (i32.const 0) (i32.const 0x41) (i32.const 8))
          (memory.init $d (i32.const 2) (i32.const 1) (i32.const 3))
          (memory.copy (i32.const 5) (i32.const 1) (i32.const 3))
          (i64.load (i32.const 0)))
        (func (export "init_dropped")
          (data.drop $d)
          (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))))"#,
    );
    // "AAellAAA" then bytes 1..4 ("Ael") copied to 5: "AAellAel".
    assert_eq!(call(&i, "f", &[]), [I64(i64::from_le_bytes(*b"AAellAel"))]);
    assert_eq!(trap(&i, "init_dropped", &[]), "out of bounds memory access");
}

#[test]
fn deep_recursion_traps_as_call_stack_exhausted() {
    let i = instance(
        r#"(module (func $down (export "down") (param i32) (result i32)
        (i32.add (i32.const 1) (call $down (local.get 0)))))"#,
    );
    assert_eq!(trap(&i, "down", &[I32(0)]), "call stack exhausted");
}

#[test]
fn invalid_modules_are_refused_with_the_validators_message() {
    let bytes = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#).unwrap();
    let e = kernel::wasm::Module::new(&bytes).unwrap_err();
    assert!(e.message.contains("type mismatch"), "{}", e.message);
    let e = kernel::wasm::Module::new(b"\0asm\x01\0\0\0\x01").unwrap_err();
    assert!(!e.message.is_empty());
}

#[test]
fn imports_other_than_spectest_are_refused_by_a_lone_instance() {
    let lone = |wat: &str| {
        let bytes = wat::parse_str(wat).unwrap();
        let module = kernel::wasm::Module::new(&bytes).expect("a linkable module compiles");
        match kernel::wasm::Instance::new(
            std::sync::Arc::new(module),
            kernel::cont::Store::new(kernel::cont::MmapStacks::new(), super::STACK),
        ) {
            Err(kernel::wasm::Error::Unlinkable(why)) => why,
            other => panic!("expected Unlinkable, got {:?}", other.map(|_| ())),
        }
    };
    assert_eq!(
        lone(r#"(module (import "env" "f" (func)))"#),
        "unknown import env.f (a lone instance links only spectest and wasi_snapshot_preview1)"
    );
    // Unknown spectest names, and known ones of another type, compile
    // and are unlinkable, as the test suite's `imports.wast` expects.
    assert_eq!(
        lone(r#"(module (import "spectest" "nope" (func)))"#),
        "unknown import spectest.nope (a lone instance links only spectest and wasi_snapshot_preview1)"
    );
    assert_eq!(
        lone(r#"(module (import "spectest" "print_i32" (func (param i64))))"#),
        "unknown import spectest.print_i32 (a lone instance links only spectest and wasi_snapshot_preview1)"
    );
}

#[test]
fn spectest_prints_and_globals_are_importable() {
    use core::cell::RefCell;
    use std::rc::Rc;
    use std::string::String;
    let i = instance(
        r#"(module
        (import "spectest" "print_i32" (func $print_i32 (param i32)))
        (import "spectest" "print_f64_f64" (func $print2 (param f64 f64)))
        (import "spectest" "global_i32" (global $g i32))
        (func (export "main") (result i32)
          (call $print_i32 (global.get $g))
          (call $print2 (f64.const 1.5) (f64.const -2))
          (i32.const 7)))"#,
    );
    let out = Rc::new(RefCell::new(String::new()));
    let sink = out.clone();
    i.set_print(move |line| {
        sink.borrow_mut().push_str(line);
        sink.borrow_mut().push('\n');
    });
    assert_eq!(call(&i, "main", &[]), [I32(7)]);
    assert_eq!(*out.borrow(), "666 : i32\n1.5 : f64 -2.0 : f64\n");
}

#[test]
fn module_start_names_the_start_function_by_its_index_and_is_none_without_one() {
    let module = |wat: &str| kernel::wasm::Module::new(&wat::parse_str(wat).unwrap()).unwrap();
    let with_start = module(r#"(module (func) (func $init) (start $init))"#);
    assert_eq!(with_start.start(), Some(1));
    let without = module(r#"(module (func))"#);
    assert_eq!(without.start(), None);
}
