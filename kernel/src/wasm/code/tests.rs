//! The internal form's tests: what `translate` makes of small functions,
//! op by op.

use super::*;
use crate::wasm::Module;

/// The internal form of the only function of `wat`.
fn code_of(wat: &str) -> Code {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let mut module = Module::new(&bytes).expect("the test's module validates");
    core::mem::take(&mut module.funcs[0].code)
}

#[test]
fn a_loop_jumps_back_to_its_first_op_and_a_block_forward_past_its_end() {
    let code = code_of(
        r#"(module (func (param i32) (result i32)
        (block $out (loop $top
          (br_if $out (i32.eqz (local.get 0)))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br $top)))
        (i32.const 7)))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::LocalGet(0),
            Op::Unary(Unary::I32Eqz),
            Op::GotoIf(5),
            Op::IntLISet {
                op: IntOp::I32Sub,
                a: 0,
                c: 1,
                d: 0
            },
            Op::Goto(0),
            Op::I32Const(7),
            Op::Return,
        ]
    );
    // Neither branch moves a value: $out goes past the loop's end
    // (op 5), $top to op 0, both resolved into their ops.
    assert_eq!(code.targets, []);
    assert_eq!((code.nparams, code.nlocals, code.nresults), (1, 1, 1));
}

#[test]
fn a_branch_names_where_its_values_go_and_code_after_it_is_not_emitted() {
    let code = code_of(
        r#"(module (func (result i32) (local i64)
        (i32.const 1)
        (block (result i32)
          (i32.const 2) (i32.const 3)
          (br 0)
          (drop) (unreachable))
        (i32.add)))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::I32Const(1),
            Op::I32Const(2),
            Op::I32Const(3),
            Op::Br(0),
            Op::Int(IntOp::I32Add),
            Op::Return,
        ]
    );
    // One local; the block's height is 1 (the outer 1 below it): its
    // one value goes to slot 1 + 1 = 2 of the frame.
    assert_eq!(
        code.targets,
        [Target {
            to: 4,
            dst: 2,
            n: 1
        }]
    );
    assert_eq!(code.frame_size, 1 + 3);
}

#[test]
fn a_br_if_whose_value_is_in_place_jumps_and_one_above_others_moves_it() {
    // The first br_if's value is the block's only operand: in place.
    // The second's sits above a dropped operand: it moves down to the
    // block's height, through a target.
    let code = code_of(
        r#"(module (func (param i32) (result i32)
        (block (result i32) (i32.const 5) (br_if 0 (local.get 0)))
        (block (result i32)
          (i32.const 1) (i32.const 6) (br_if 1 (local.get 0)) (drop) (drop)
          (i32.const 2))
        (i32.add)))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::I32Const(5),
            Op::LocalGet(0),
            Op::GotoIf(3),
            Op::I32Const(1),
            Op::I32Const(6),
            Op::LocalGet(0),
            Op::BrIf(0),
            Op::Drop,
            Op::Drop,
            Op::I32Const(2),
            Op::Int(IntOp::I32Add),
            Op::Return,
        ]
    );
    // Function label: the value goes to height 0 (slot 1), the result.
    assert_eq!(
        code.targets,
        [Target {
            to: 11,
            dst: 1,
            n: 1
        }]
    );
}

#[test]
fn a_compare_with_a_constant_and_its_if_become_one_jump() {
    let code = code_of(
        r#"(module (func (param i32) (result i32)
        (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
          (then (i32.const 1)) (else (i32.const 2)))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::JumpUnlessLI {
                op: IntOp::I32LtS,
                a: 0,
                c: 2,
                to: 3
            },
            Op::I32Const(1),
            Op::Jump(4),
            Op::I32Const(2),
            Op::Return,
        ]
    );
}

#[test]
fn ops_on_either_side_of_a_loop_start_are_not_fused() {
    // The loop's first op is a branch target: the `local.get` before
    // the loop and the `i32.add` inside stay apart.
    let code = code_of(
        r#"(module (func (param i32) (result i32)
        (local.get 0) (local.get 0)
        (loop (param i32 i32) (result i32) (i32.add))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::LocalGet(0),
            Op::LocalGet(0),
            Op::Int(IntOp::I32Add),
            Op::Return,
        ]
    );
}

#[test]
fn an_eqz_and_its_if_become_one_jump_if_not_zero() {
    let code = code_of(
        r#"(module (func (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
          (then (i32.const 1)) (else (i32.const 2)))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::LocalGet(0),
            Op::JumpIfNonZero(4),
            Op::I32Const(1),
            Op::Jump(5),
            Op::I32Const(2),
            Op::Return,
        ]
    );
}

#[test]
fn a_load_from_a_local_address_and_a_store_of_a_constant_there_are_one_op_each() {
    let code = code_of(
        r#"(module (memory 1) (func (param i32) (result i32)
        (i32.store8 offset=3 (local.get 0) (i32.const 1))
        (i32.load8_u offset=3 (local.get 0))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::StoreLI {
                acc: Access::I32U8,
                offset: 3,
                a: 0,
                c: 1
            },
            Op::LoadL {
                acc: Access::I32U8,
                offset: 3,
                a: 0
            },
            Op::Return,
        ]
    );
}

#[test]
fn an_access_to_a_second_or_a_64_bit_memory_takes_the_general_form() {
    let wat = r#"(module (memory 1) (memory $w i64 1) (func (param i32 i64) (result i32)
        (i32.store8 offset=3 (local.get 0) (i32.const 1))
        (i32.load16_s $w offset=0x100000000 (local.get 1))))"#;
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let module = Module::new(&bytes).expect("the test's module validates");
    let code = &module.funcs[0].code;
    assert_eq!(
        code.ops,
        [
            Op::StoreLI {
                acc: Access::I32U8,
                offset: 3,
                a: 0,
                c: 1
            },
            Op::LocalGet(1),
            Op::LoadX(0),
            Op::Return,
        ]
    );
    assert_eq!(
        module.memargs,
        [MemArg {
            acc: Access::I32S16,
            memory: 1,
            offset: 0x1_0000_0000,
            memory64: true
        }]
    );
}

#[test]
fn a_constant_too_wide_for_an_i32_is_not_fused() {
    let code = code_of(
        r#"(module (func (param i64) (result i64)
        (i64.add (local.get 0) (i64.const 0x100000000))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::LocalGet(0),
            Op::I64Const(0x1_0000_0000),
            Op::Int(IntOp::I64Add),
            Op::Return,
        ]
    );
}

#[test]
fn an_if_jumps_over_its_then_branch_and_the_then_branch_over_the_else() {
    let code = code_of(
        r#"(module (func (param i32) (result i32)
        (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2)))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::LocalGet(0),
            Op::JumpIfZero(4),
            Op::I32Const(1),
            Op::Jump(5),
            Op::I32Const(2),
            Op::Return,
        ]
    );
}

#[test]
fn try_table_becomes_a_region_of_ops_with_its_catch_clauses() {
    let code = code_of(
        r#"(module (tag $e (param i32)) (func (result i32)
        (block $h (result i32)
          (try_table (catch $e $h) (throw $e (i32.const 5)))
          (i32.const 0))))"#,
    );
    assert_eq!(
        code.ops,
        [Op::I32Const(5), Op::Throw(0), Op::I32Const(0), Op::Return]
    );
    assert_eq!(
        code.tries,
        [TryRegion {
            start: 0,
            end: 2,
            catches: alloc::vec![CatchClause {
                tag: Some(0),
                with_ref: false,
                target: 0
            }],
        }]
    );
    assert_eq!(
        code.targets,
        [Target {
            to: 3,
            dst: 0,
            n: 1
        }]
    );
}

#[test]
fn an_if_on_a_load_from_a_local_address_is_one_op_either_way() {
    let code = code_of(
        r#"(module (memory 1) (func (param i32)
        (if (i32.load8_u (local.get 0)) (then (nop)))
        (if (i32.eqz (i32.load offset=4 (local.get 0))) (then (nop)))))"#,
    );
    assert_eq!(
        code.ops,
        [
            Op::JumpIfZeroL {
                acc: Access::I32U8,
                offset: 0,
                a: 0,
                to: 1
            },
            Op::JumpIfNonZeroL {
                acc: Access::I32,
                offset: 4,
                a: 0,
                to: 2
            },
            Op::Return,
        ]
    );
}
