//! The stack-switching instructions: `cont.new`, `resume` with handler
//! clauses, `suspend`, `switch`, `cont.bind`, `resume_throw`, and every
//! trap they raise.

use super::{call, instance, trap};
use kernel::wasm::Val::I32;

/// A generator of squares `0, 1, 4, ...` below `n`: the consumer sums
/// what it yields.
const GENERATOR: &str = include_str!("../../wat/generator.wat");

#[test]
fn a_generator_yields_each_value_to_the_resume_that_handles_its_tag() {
    let i = instance(GENERATOR);
    assert_eq!(call(&i, "sum_squares", &[I32(4)]), [I32(14_004)]);
    assert_eq!(call(&i, "sum_squares", &[I32(0)]), [I32(0)]);
    assert_eq!(call(&i, "sum_squares", &[I32(10)]), [I32(285_010)]);
    assert_eq!(i.store().outstanding_stacks(), 0);
}

#[test]
fn resume_passes_values_in_and_suspend_returns_them() {
    // An accumulator: each resume sends a number, each suspend hands the
    // running total out.
    let i = instance(
        r#"(module
        (type $f (func (param i32) (result i32)))
        (type $c (cont $f))
        (tag $total (param i32) (result i32))
        (func $acc (param $x i32) (result i32) (local $sum i32)
          (loop $l
            (local.set $sum (i32.add (local.get $sum) (local.get $x)))
            (local.set $x (suspend $total (local.get $sum)))
            (br_if $l (local.get $x)))
          (i32.mul (local.get $sum) (i32.const -1)))
        (elem declare func $acc)
        (func (export "run") (result i32) (local $k (ref null $c)) (local $log i32)
          (local.set $k (cont.new $c (ref.func $acc)))
          ;; send 5, 6, 7, then 0 ends it
          (block $b (result i32 (ref $c))
            (resume $c (on $total $b) (i32.const 5) (local.get $k)) (unreachable))
          (local.set $k) (local.set $log)
          (block $b (result i32 (ref $c))
            (resume $c (on $total $b) (i32.const 6) (local.get $k)) (unreachable))
          (local.set $k) (local.set $log (i32.add (i32.mul (local.get $log) (i32.const 100))))
          (block $b (result i32 (ref $c))
            (resume $c (on $total $b) (i32.const 7) (local.get $k)) (unreachable))
          (local.set $k) (local.set $log (i32.add (i32.mul (local.get $log) (i32.const 100))))
          ;; the function's result comes out of the last resume
          (resume $c (i32.const 0) (local.get $k))
          (i32.add (i32.mul (local.get $log) (i32.const 1000)))))"#,
    );
    // totals 5, 11, 18 logged as 51118; the return is -18
    assert_eq!(call(&i, "run", &[]), [I32(51118 * 1000 - 18)]);
}

#[test]
fn resuming_a_continuation_twice_traps_as_already_consumed() {
    let i = instance(
        r#"(module
        (type $f (func)) (type $c (cont $f))
        (tag $t)
        (func $body (suspend $t))
        (elem declare func $body)
        (func (export "twice") (local $k (ref null $c)) (local $k2 (ref null $c))
          (local.set $k (cont.new $c (ref.func $body)))
          (block $h (result (ref $c))
            (resume $c (on $t $h) (local.get $k)) (unreachable))
          (local.set $k2)
          (resume $c (local.get $k))))"#,
    );
    assert_eq!(trap(&i, "twice", &[]), "continuation already consumed");
    assert_eq!(
        i.store().outstanding_stacks(),
        1,
        "the suspended k2 is still alive"
    );
}

#[test]
fn resuming_a_returned_continuation_traps_as_already_consumed() {
    let i = instance(
        r#"(module
        (type $f (func)) (type $c (cont $f))
        (func $nothing)
        (elem declare func $nothing)
        (func (export "f") (local $k (ref null $c))
          (local.set $k (cont.new $c (ref.func $nothing)))
          (resume $c (local.get $k))
          (resume $c (local.get $k))))"#,
    );
    assert_eq!(trap(&i, "f", &[]), "continuation already consumed");
}

#[test]
fn resuming_null_traps_as_null_continuation_reference() {
    let i = instance(
        r#"(module
        (type $f (func)) (type $c (cont $f))
        (func (export "f") (resume $c (ref.null $c))))"#,
    );
    assert_eq!(trap(&i, "f", &[]), "null continuation reference");
}

#[test]
fn cont_new_of_a_null_function_traps_as_null_function_reference() {
    let i = instance(
        r#"(module
        (type $f (func)) (type $c (cont $f))
        (func (export "f") (drop (cont.new $c (ref.null $f)))))"#,
    );
    assert_eq!(trap(&i, "f", &[]), "null function reference");
}

#[test]
fn suspend_without_a_handler_traps_as_unhandled() {
    let i = instance(
        r#"(module
        (type $f (func)) (type $c (cont $f))
        (tag $t) (tag $other)
        (func $body (suspend $t))
        (elem declare func $body)
        (func (export "outside") (suspend $t))
        (func (export "wrong_tag")
          (block $h (result (ref $c))
            (resume $c (on $other $h) (cont.new $c (ref.func $body))) (return))
          (drop)))"#,
    );
    assert_eq!(trap(&i, "outside", &[]), "unhandled tag");
    assert_eq!(trap(&i, "wrong_tag", &[]), "unhandled tag");
    assert_eq!(i.store().outstanding_stacks(), 0);
}

#[test]
fn a_trap_inside_a_continuation_reaches_the_invoker_and_frees_its_stack() {
    let i = instance(
        r#"(module
        (type $f (func (param i32) (result i32))) (type $c (cont $f))
        (func $div (param i32) (result i32) (i32.div_u (i32.const 10) (local.get 0)))
        (elem declare func $div)
        (func (export "f") (param i32) (result i32)
          (resume $c (local.get 0) (cont.new $c (ref.func $div)))))"#,
    );
    assert_eq!(call(&i, "f", &[I32(3)]), [I32(3)]);
    assert_eq!(trap(&i, "f", &[I32(0)]), "integer divide by zero");
    assert_eq!(i.store().outstanding_stacks(), 0);
}

#[test]
fn a_suspend_passes_through_resumes_that_do_not_handle_its_tag() {
    // outer handles $a, inner handles $b; the innermost suspends $a and
    // is resumed by outer, which sees the whole two-level segment.
    let i = instance(
        r#"(module
        (type $f (func (result i32))) (type $c (cont $f))
        (type $g (func (param i32) (result i32))) (type $gc (cont $g))
        (tag $a (param i32) (result i32))
        (tag $b)
        (func $innermost (result i32)
          (i32.add (i32.const 1) (suspend $a (i32.const 10))))
        (func $middle (result i32)
          (block $h (result (ref $c))
            (return (i32.mul (i32.const 2)
              (resume $c (on $b $h) (cont.new $c (ref.func $innermost))))))
          (drop) (i32.const -1))
        (elem declare func $innermost $middle)
        (func (export "f") (result i32) (local $k (ref null $gc))
          (block $h (result i32 (ref $gc))
            (return (resume $c (on $a $h) (cont.new $c (ref.func $middle)))))
          (local.set $k)
          ;; payload 10: send back 10 + 5
          (i32.add (i32.const 5))
          (resume $gc (local.get $k))))"#,
    );
    // innermost returns 1 + 15 = 16, middle doubles it
    assert_eq!(call(&i, "f", &[]), [I32(32)]);
}

#[test]
fn cont_bind_supplies_arguments_ahead_of_the_resume() {
    let i = instance(
        r#"(module
        (type $f3 (func (param i32 i32 i32) (result i32))) (type $c3 (cont $f3))
        (type $f1 (func (param i32) (result i32))) (type $c1 (cont $f1))
        (type $f0 (func (result i32))) (type $c0 (cont $f0))
        (func $digits (param i32 i32 i32) (result i32)
          (i32.add (i32.mul (local.get 0) (i32.const 100))
            (i32.add (i32.mul (local.get 1) (i32.const 10)) (local.get 2))))
        (elem declare func $digits)
        (func (export "bind2") (result i32)
          (resume $c1 (i32.const 3)
            (cont.bind $c3 $c1 (i32.const 1) (i32.const 2)
              (cont.new $c3 (ref.func $digits)))))
        (func (export "bind_all") (result i32)
          (resume $c0
            (cont.bind $c1 $c0 (i32.const 9)
              (cont.bind $c3 $c1 (i32.const 7) (i32.const 8)
                (cont.new $c3 (ref.func $digits))))))
        (func (export "bind_consumed") (result i32) (local $k (ref null $c3))
          (local.set $k (cont.new $c3 (ref.func $digits)))
          (drop (cont.bind $c3 $c1 (i32.const 1) (i32.const 2) (local.get $k)))
          (resume $c1 (i32.const 3)
            (cont.bind $c3 $c1 (i32.const 1) (i32.const 2) (local.get $k))))
        (func (export "bind_null") (result i32)
          (resume $c1 (i32.const 3)
            (cont.bind $c3 $c1 (i32.const 1) (i32.const 2) (ref.null $c3)))))"#,
    );
    assert_eq!(call(&i, "bind2", &[]), [I32(123)]);
    assert_eq!(call(&i, "bind_all", &[]), [I32(789)]);
    assert_eq!(
        trap(&i, "bind_consumed", &[]),
        "continuation already consumed"
    );
    assert_eq!(trap(&i, "bind_null", &[]), "null continuation reference");
}

#[test]
fn cont_bind_of_a_suspended_continuation_fills_what_suspend_returns() {
    let i = instance(
        r#"(module
        (type $f (func (result i32))) (type $c (cont $f))
        (type $g (func (param i32) (result i32))) (type $gc (cont $g))
        (tag $ask (result i32))
        (func $asker (result i32) (i32.mul (suspend $ask) (i32.const 3)))
        (elem declare func $asker)
        (func (export "g") (result i32) (local $k (ref null $gc))
          (block $h (result (ref $gc))
            (return (resume $c (on $ask $h) (cont.new $c (ref.func $asker)))))
          (local.set $k)
          (resume $c (cont.bind $gc $c (i32.const 14) (local.get $k)))))"#,
    );
    assert_eq!(call(&i, "g", &[]), [I32(42)]);
}

/// Two tasks take turns with `switch`: each adds its step to a shared
/// total and switches to the other, handing its own continuation over.
const PING_PONG: &str = include_str!("../../wat/ping_pong.wat");

#[test]
fn switch_hands_control_and_the_continuation_to_the_peer() {
    let i = instance(PING_PONG);
    // Task 1 runs first, then 2, 1, 2, 1 (its third round ends it), and
    // its return ends the resume.
    assert_eq!(call(&i, "run", &[]), [I32(12121)]);
    assert_eq!(
        i.store().outstanding_stacks(),
        1,
        "task 2 is left suspended"
    );
}

#[test]
fn switch_to_null_traps_and_without_handler_traps_as_unhandled() {
    let i = instance(
        r#"(module
        (rec (type $tf (func (param (ref null $tc)))) (type $tc (cont $tf)))
        (type $f (func)) (type $c (cont $f))
        (tag $sw)
        (func $to_null (switch $tc $sw (ref.null $tc)) (drop))
        (func $target (type $tf))
        (func $no_handler (switch $tc $sw (cont.new $tc (ref.func $target))) (drop))
        (elem declare func $to_null $no_handler $target)
        (func (export "null")
          (resume $c (on $sw switch) (cont.new $c (ref.func $to_null))))
        (func (export "unhandled")
          (resume $c (cont.new $c (ref.func $no_handler)))))"#,
    );
    assert_eq!(trap(&i, "null", &[]), "null continuation reference");
    assert_eq!(trap(&i, "unhandled", &[]), "unhandled tag");
}

#[test]
fn resume_throw_raises_the_exception_at_the_suspension_point() {
    let i = instance(
        r#"(module
        (type $f (func (result i32))) (type $c (cont $f))
        (tag $wait)
        (tag $stop (param i32))
        (func $catcher (result i32)
          (block $caught (result i32)
            (try_table (catch $stop $caught) (suspend $wait))
            (return (i32.const -1)))
          (i32.add (i32.const 100)))
        (func $ignorer (result i32) (suspend $wait) (i32.const -1))
        (elem declare func $catcher $ignorer)
        (func $park (param $f (ref null $f)) (result (ref null $c))
          (block $h (result (ref $c))
            (drop (resume $c (on $wait $h) (cont.new $c (local.get $f))))
            (return (ref.null $c)))
          (return))
        (func (export "caught_inside") (result i32)
          (resume_throw $c $stop (i32.const 7) (call $park (ref.func $catcher))))
        (func (export "passes_out") (result i32)
          (block $out (result i32)
            (try_table (catch $stop $out)
              (drop (resume_throw $c $stop (i32.const 9) (call $park (ref.func $ignorer)))))
            (return (i32.const -1)))
          (i32.add (i32.const 1000)))
        (func (export "fresh") (result i32)
          (block $out (result i32)
            (try_table (catch $stop $out)
              (drop (resume_throw $c $stop (i32.const 3) (cont.new $c (ref.func $ignorer)))))
            (return (i32.const -1))))
        (func (export "null") (result i32)
          (resume_throw $c $stop (i32.const 3) (ref.null $c)))
        (func (export "consumed") (result i32) (local $k (ref null $c))
          (local.set $k (call $park (ref.func $catcher)))
          (drop (resume_throw $c $stop (i32.const 1) (local.get $k)))
          (resume_throw $c $stop (i32.const 2) (local.get $k))))"#,
    );
    assert_eq!(call(&i, "caught_inside", &[]), [I32(107)]);
    assert_eq!(call(&i, "passes_out", &[]), [I32(1009)]);
    assert_eq!(call(&i, "fresh", &[]), [I32(3)]);
    assert_eq!(trap(&i, "null", &[]), "null continuation reference");
    assert_eq!(trap(&i, "consumed", &[]), "continuation already consumed");
    assert_eq!(i.store().outstanding_stacks(), 0);
}

#[test]
fn an_exception_thrown_in_a_continuation_is_caught_by_the_resumer() {
    let i = instance(
        r#"(module
        (type $f (func)) (type $c (cont $f))
        (tag $boom (param i32 i64))
        (func $thrower (throw $boom (i32.const 4) (i64.const 5)))
        (elem declare func $thrower)
        (func (export "f") (result i64) (local $x i32) (local $y i64)
          (block $caught (result i32 i64)
            (try_table (catch $boom $caught)
              (resume $c (cont.new $c (ref.func $thrower))))
            (return (i64.const -1)))
          (local.set $y) (local.set $x)
          (i64.add (i64.extend_i32_u (local.get $x)) (local.get $y))))"#,
    );
    assert_eq!(call(&i, "f", &[]), [kernel::wasm::Val::I64(9)]);
    assert_eq!(i.store().outstanding_stacks(), 0);
}

/// A scheduler: three tasks in a table of continuations, each yielding
/// after every step; the scheduler resumes them in turn until all have
/// returned, logging each task's id at each step into memory.
const SCHEDULER: &str = include_str!("../../wat/scheduler.wat");

#[test]
fn a_round_robin_scheduler_runs_tasks_from_a_table_until_all_return() {
    let i = instance(SCHEDULER);
    assert_eq!(call(&i, "run", &[]), [I32(6)]);
    let log: std::vec::Vec<u8> = (0..6)
        .map(|at| match call(&i, "log", &[I32(at)])[..] {
            [I32(b)] => b as u8,
            ref other => panic!("log returned {other:?}"),
        })
        .collect();
    assert_eq!(&log, b"ABCBCC");
    assert_eq!(i.store().outstanding_stacks(), 0);
}

#[test]
fn dropping_an_instance_cancels_its_suspended_continuations_and_frees_their_stacks() {
    use core::cell::Cell;
    use std::rc::Rc;
    let live = Rc::new(Cell::new(0));
    let i = super::instance_counting(GENERATOR_PARKED, live.clone());
    assert_eq!(call(&i, "park", &[]), []);
    assert_eq!(call(&i, "park", &[]), []);
    assert_eq!(live.get(), 2);
    drop(i);
    assert_eq!(live.get(), 0);
}

/// Parks a generator, suspended inside two nested calls, in a table.
const GENERATOR_PARKED: &str = r#"(module
  (type $f (func)) (type $c (cont $f))
  (tag $t)
  (table $parked 2 (ref null $c))
  (global $n (mut i32) (i32.const 0))
  (func $deep (suspend $t))
  (func $body (call $deep) (unreachable))
  (elem declare func $body)
  (func (export "park") (local $k (ref null $c))
    (block $h (result (ref $c))
      (resume $c (on $t $h) (cont.new $c (ref.func $body)))
      (return))
    (local.set $k)
    (table.set $parked (global.get $n) (local.get $k))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))))"#;

#[test]
fn resume_throw_ref_raises_a_caught_exception_again_in_a_continuation() {
    let i = instance(
        r#"(module
        (type $f (func (result i32))) (type $c (cont $f))
        (tag $wait)
        (tag $e (param i32))
        (func $catcher (result i32)
          (block $caught (result i32)
            (try_table (catch $e $caught) (suspend $wait))
            (return (i32.const -1)))
          (i32.add (i32.const 100)))
        (elem declare func $catcher)
        (func (export "f") (result i32) (local $k (ref null $c)) (local $x exnref)
          (block $h (result (ref $c))
            (drop (resume $c (on $wait $h) (cont.new $c (ref.func $catcher))))
            (return (i32.const -2)))
          (local.set $k)
          (block $r (result exnref)
            (try_table (catch_all_ref $r) (throw $e (i32.const 5)))
            (return (i32.const -3)))
          (local.set $x)
          (resume_throw_ref $c (local.get $x) (local.get $k)))
        (func (export "null") (result i32)
          (resume_throw_ref $c (ref.null exn) (ref.null $c))))"#,
    );
    assert_eq!(call(&i, "f", &[]), [I32(105)]);
    assert_eq!(trap(&i, "null", &[]), "null exception reference");
}
