//! Exceptions (`throw`, `throw_ref`, `try_table`), tables and
//! `call_indirect`, typed function references, and floating point.

use super::{call, instance, trap};
use kernel::wasm::Error;
use kernel::wasm::Val::{F32, F64, I32, I64};

const EXCEPTIONS: &str = r#"(module
  (tag $e (param i32))
  (tag $other)
  (func $thrower (param i32) (throw $e (local.get 0)))
  (func (export "catch_one") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (call $thrower (local.get 0)))
      (i32.const -1))
    (i32.add (i32.const 1)))
  (func (export "first_matching_clause") (result i32)
    (block $all
      (block $one (result i32)
        (try_table (catch $other $all) (catch $e $one) (catch_all $all)
          (throw $e (i32.const 5)))
        (return (i32.const -1)))
      (return (i32.mul (i32.const 10))))
    (i32.const -2))
  (func (export "catch_all") (result i32)
    (block $h
      (try_table (catch_all $h) (throw $other))
      (return (i32.const -1)))
    (i32.const 77))
  (func (export "nested_inner_first") (result i32)
    (block $outer (result i32)
      (try_table (catch $e $outer)
        (block $inner (result i32)
          (try_table (catch $e $inner) (throw $e (i32.const 1)))
          (return (i32.const -1)))
        (i32.add (i32.const 100))
        (throw $e))
      (return (i32.const -2)))
    (i32.add (i32.const 1000)))
  (func (export "rethrow_ref") (result i32)
    (block $h (result i32)
      (try_table (catch $e $h)
        (block $r (result i32 exnref)
          (try_table (catch_ref $e $r) (throw $e (i32.const 9)))
          (unreachable))
        (throw_ref))
      (unreachable))
    (i32.const 1) (i32.add))
  (func (export "throw_null") (throw_ref (ref.null exn)))
  (func (export "uncaught") (call $thrower (i32.const 3))))"#;

#[test]
fn try_table_catches_a_throw_from_a_callee_with_its_payload() {
    let i = instance(EXCEPTIONS);
    assert_eq!(call(&i, "catch_one", &[I32(41)]), [I32(42)]);
}

#[test]
fn the_first_matching_catch_clause_wins() {
    let i = instance(EXCEPTIONS);
    assert_eq!(call(&i, "first_matching_clause", &[]), [I32(50)]);
    assert_eq!(call(&i, "catch_all", &[]), [I32(77)]);
}

#[test]
fn the_innermost_try_table_catches_first_and_may_throw_on() {
    let i = instance(EXCEPTIONS);
    assert_eq!(call(&i, "nested_inner_first", &[]), [I32(1101)]);
}

#[test]
fn catch_ref_keeps_the_exception_for_throw_ref() {
    let i = instance(EXCEPTIONS);
    assert_eq!(call(&i, "rethrow_ref", &[]), [I32(10)]);
    assert_eq!(trap(&i, "throw_null", &[]), "null exception reference");
}

#[test]
fn an_uncaught_exception_reaches_the_invoker_with_tag_and_payload() {
    let i = instance(EXCEPTIONS);
    match i.invoke("uncaught", &[]) {
        Err(Error::Exception { tag: 0, payload }) => {
            assert_eq!(payload.len(), 1);
            assert_eq!(payload[0].i32(), 3);
        }
        other => panic!("expected the exception, got {other:?}"),
    }
}

const TABLES: &str = r#"(module
  (type $bin (func (param i32 i32) (result i32)))
  (type $un (func (param i32) (result i32)))
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $neg (type $un) (i32.sub (i32.const 0) (local.get 0)))
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $add $sub $neg)
  (elem $passive func $sub $add)
  (func (export "apply") (param i32 i32 i32) (result i32)
    (call_indirect $t (type $bin) (local.get 1) (local.get 2) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "set_add") (param i32) (table.set $t (local.get 0) (ref.func $add)))
  (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func (export "init_copy") (result i32)
    (table.init $t $passive (i32.const 2) (i32.const 0) (i32.const 2))
    (table.copy $t $t (i32.const 0) (i32.const 2) (i32.const 2))
    (elem.drop $passive)
    (call_indirect $t (type $bin) (i32.const 10) (i32.const 3) (i32.const 0)))
  (func (export "fill") (table.fill $t (i32.const 0) (ref.func $neg) (i32.const 4))))"#;

#[test]
fn call_indirect_calls_through_the_table_and_checks_the_type() {
    let i = instance(TABLES);
    assert_eq!(call(&i, "apply", &[I32(0), I32(5), I32(3)]), [I32(8)]);
    assert_eq!(call(&i, "apply", &[I32(1), I32(5), I32(3)]), [I32(2)]);
    assert_eq!(
        trap(&i, "apply", &[I32(2), I32(5), I32(3)]),
        "indirect call type mismatch"
    );
    assert_eq!(
        trap(&i, "apply", &[I32(3), I32(5), I32(3)]),
        "uninitialized element"
    );
    assert_eq!(
        trap(&i, "apply", &[I32(4), I32(5), I32(3)]),
        "undefined element"
    );
}

#[test]
fn tables_grow_set_get_init_copy_and_fill() {
    let i = instance(TABLES);
    assert_eq!(call(&i, "size", &[]), [I32(4)]);
    assert_eq!(call(&i, "grow", &[I32(2)]), [I32(4)]);
    assert_eq!(call(&i, "size", &[]), [I32(6)]);
    assert_eq!(call(&i, "is_null", &[I32(5)]), [I32(1)]);
    call(&i, "set_add", &[I32(5)]);
    assert_eq!(call(&i, "is_null", &[I32(5)]), [I32(0)]);
    assert_eq!(call(&i, "apply", &[I32(5), I32(1), I32(2)]), [I32(3)]);
    assert_eq!(trap(&i, "set_add", &[I32(6)]), "out of bounds table access");
    // init puts $sub $add at 2..4, copy moves them to 0..2: slot 0 is $sub
    assert_eq!(call(&i, "init_copy", &[]), [I32(7)]);
    assert_eq!(trap(&i, "init_copy", &[]), "out of bounds table access");
    call(&i, "fill", &[]);
    assert_eq!(
        trap(&i, "apply", &[I32(0), I32(1), I32(2)]),
        "indirect call type mismatch"
    );
}

#[test]
fn typed_function_references_call_test_and_branch_on_null() {
    let i = instance(
        r#"(module
        (type $un (func (param i32) (result i32)))
        (func $double (type $un) (i32.mul (local.get 0) (i32.const 2)))
        (elem declare func $double)
        (global $f (mut (ref null $un)) (ref.null $un))
        (func (export "arm") (global.set $f (ref.func $double)))
        (func (export "call_ref") (param i32) (result i32)
          (call_ref $un (local.get 0) (global.get $f)))
        (func (export "as_non_null") (param i32) (result i32)
          (call_ref $un (local.get 0) (ref.as_non_null (global.get $f))))
        (func (export "on_null") (param i32) (result i32)
          (block $null
            (return (call_ref $un (local.get 0) (br_on_null $null (global.get $f)))))
          (i32.const -1))
        (func (export "on_non_null") (param i32) (result i32) (local $g (ref null $un))
          (block $some (result (ref $un))
            (br_on_non_null $some (global.get $f))
            (return (i32.const -1)))
          (local.set $g)
          (call_ref $un (i32.add (local.get 0) (i32.const 1)) (local.get $g)))
        (func (export "is_null") (result i32) (ref.is_null (global.get $f))))"#,
    );
    assert_eq!(call(&i, "is_null", &[]), [I32(1)]);
    assert_eq!(trap(&i, "call_ref", &[I32(4)]), "null function reference");
    assert_eq!(trap(&i, "as_non_null", &[I32(4)]), "null reference");
    assert_eq!(call(&i, "on_null", &[I32(4)]), [I32(-1)]);
    assert_eq!(call(&i, "on_non_null", &[I32(4)]), [I32(-1)]);
    call(&i, "arm", &[]);
    assert_eq!(call(&i, "is_null", &[]), [I32(0)]);
    assert_eq!(call(&i, "call_ref", &[I32(4)]), [I32(8)]);
    assert_eq!(call(&i, "as_non_null", &[I32(5)]), [I32(10)]);
    assert_eq!(call(&i, "on_null", &[I32(6)]), [I32(12)]);
    assert_eq!(call(&i, "on_non_null", &[I32(4)]), [I32(10)]);
}

#[test]
fn floats_compute_with_the_specifications_rounding_and_nan_rules() {
    let i = instance(
        r#"(module
        (func (export "f64_ops") (param f64 f64) (result f64)
          (f64.add (f64.mul (local.get 0) (local.get 1)) (f64.div (local.get 0) (local.get 1))))
        (func (export "sqrt") (param f64) (result f64) (f64.sqrt (local.get 0)))
        (func (export "nearest") (param f32) (result f32) (f32.nearest (local.get 0)))
        (func (export "floor") (param f64) (result f64) (f64.floor (local.get 0)))
        (func (export "min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
        (func (export "lt") (param f64 f64) (result i32) (f64.lt (local.get 0) (local.get 1)))
        (func (export "trunc_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
        (func (export "sat_u") (param f64) (result i64) (i64.trunc_sat_f64_u (local.get 0)))
        (func (export "convert") (param i64) (result f64) (f64.convert_i64_u (local.get 0)))
        (func (export "bits") (param f32) (result i32) (i32.reinterpret_f32 (local.get 0)))
        (func (export "neg") (param f64) (result f64) (f64.neg (local.get 0)))
        (func (export "demote") (param f64) (result f32) (f32.demote_f64 (local.get 0))))"#,
    );
    assert_eq!(call(&i, "f64_ops", &[F64(3.0), F64(2.0)]), [F64(7.5)]);
    assert_eq!(
        call(&i, "sqrt", &[F64(2.0)]),
        [F64(std::primitive::f64::sqrt(2.0))]
    );
    assert_eq!(call(&i, "nearest", &[F32(2.5)]), [F32(2.0)]);
    assert_eq!(call(&i, "nearest", &[F32(-3.5)]), [F32(-4.0)]);
    assert_eq!(call(&i, "floor", &[F64(-0.5)]), [F64(-1.0)]);
    assert_eq!(call(&i, "lt", &[F64(f64::NAN), F64(1.0)]), [I32(0)]);
    assert_eq!(call(&i, "trunc_s", &[F32(-7.9)]), [I32(-7)]);
    assert_eq!(
        trap(&i, "trunc_s", &[F32(f32::NAN)]),
        "invalid conversion to integer"
    );
    assert_eq!(trap(&i, "trunc_s", &[F32(3e9)]), "integer overflow");
    assert_eq!(call(&i, "sat_u", &[F64(-5.0)]), [I64(0)]);
    assert_eq!(call(&i, "sat_u", &[F64(1e30)]), [I64(-1)]);
    assert_eq!(
        call(&i, "convert", &[I64(-1)]),
        [F64(18446744073709551616.0)]
    );
    assert_eq!(call(&i, "bits", &[F32(1.0)]), [I32(0x3f80_0000)]);
    assert_eq!(call(&i, "demote", &[F64(0.1)]), [F32(0.1)]);
    match call(&i, "min", &[F32(f32::NAN), F32(1.0)])[..] {
        [F32(x)] => assert!(x.is_nan()),
        ref other => panic!("{other:?}"),
    }
    match call(&i, "neg", &[F64(0.0)])[..] {
        [F64(x)] => assert_eq!(x.to_bits(), (-0.0f64).to_bits()),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn a_host_extern_reference_comes_back_unchanged_through_a_resume_throw() {
    // The host's reference travels as an exception's payload raised at a
    // continuation's suspension point, and is caught outside it.
    let i = instance(
        r#"(module
      (type $f (func))
      (type $k (cont $f))
      (tag $carry (param externref))
      (tag $wait)
      (func $waits (suspend $wait))
      (elem declare func $waits)
      (func (export "carry") (param $x externref) (result externref)
        (local $k (ref null $k))
        (block $suspended (result (ref $k))
          (resume $k (on $wait $suspended) (cont.new $k (ref.func $waits)))
          (unreachable))
        (local.set $k)
        (block $caught (result externref)
          (try_table (catch $carry $caught)
            (resume_throw $k $carry (local.get $x) (local.get $k)))
          (unreachable))))"#,
    );
    assert_eq!(
        call(&i, "carry", &[kernel::wasm::Val::Extern(41)]),
        [kernel::wasm::Val::Extern(41)]
    );
    assert_eq!(
        call(&i, "carry", &[kernel::wasm::Val::NullRef]),
        [kernel::wasm::Val::NullRef]
    );
}
