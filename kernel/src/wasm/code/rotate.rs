//! Loop rotation: a loop whose first op is its exit test, and whose last
//! op jumps back to that test, is given the test at its end instead.
//!
//! Why: a `while` loop written in Wasm's structured form,
//!
//! ```text
//!  block $done
//!    loop $next
//!      br_if $done (cond)     L:   GotoIfLL { op, a, b, to: X }
//!      body ...                    ...
//!      br $next               p:   Goto(L)
//!    end                      X:   (after the loop)
//!  end
//! ```
//!
//! runs two branch ops per iteration: the `Goto` back, then the test. A
//! test of the opposite truth value in the `Goto`'s place does the same
//! with one:
//!
//! ```text
//!                             L:   GotoIfLL { op, a, b, to: X }   first time only
//!                                  ...
//!                             p:   GotoIfLL { !op, a, b, to: L + 1 }
//!                             X:
//! ```
//!
//! If the test would have left the loop, the new op falls through to `X`
//! (the op after it) as the old test jumped there; if not, it jumps past
//! the old test into the body, where the old test went on. Nothing else
//! changes: the op count and every index stay, and the back-edge is
//! still a taken branch, so still a safe point. Only a test that is a
//! fused comparison of locals ([`Op::GotoIfLL`], [`Op::GotoIfLI`]) is
//! copied: it reads no operand stack, so it means the same at `p` as at
//! `L` (the `Goto` leaves the stack at the loop's height, as it was at
//! `L`). Loops that compilers emit usually test at the end already;
//! hand-written ones, and the benchmarks', test at the start.

use super::Op;

/// Rotates every loop of `ops` that has the shape above.
pub(super) fn rotate(ops: &mut [Op]) {
    for p in 0..ops.len() {
        let Op::Goto(l) = ops[p] else { continue };
        let exit = p as u32 + 1;
        ops[p] = match ops[l as usize] {
            Op::GotoIfLL { op, a, b, to } if to == exit => match op.negated() {
                Some(op) => Op::GotoIfLL {
                    op,
                    a,
                    b,
                    to: l + 1,
                },
                None => continue,
            },
            Op::GotoIfLI { op, a, c, to } if to == exit => match op.negated() {
                Some(op) => Op::GotoIfLI {
                    op,
                    a,
                    c,
                    to: l + 1,
                },
                None => continue,
            },
            _ => continue,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::Op;
    use super::rotate;
    use crate::wasm::num::IntOp;

    /// Through the whole translation: the compare and its `br_if` fused
    /// into one op, and the `br` back rotated.
    #[test]
    fn a_while_loop_over_two_locals_tests_at_its_start_and_its_end() {
        let wat = r#"(module (func (param i64 i64)
            (block $out (loop $top
              (br_if $out (i64.ge_u (local.get 0) (local.get 1)))
              (br $top)))))"#;
        let bytes = wat::parse_str(wat).expect("the test's WAT parses");
        let module = crate::wasm::Module::new(&bytes).expect("the test's module validates");
        assert_eq!(
            module.funcs[0].code.ops,
            [
                Op::GotoIfLL {
                    op: IntOp::I64GeU,
                    a: 0,
                    b: 1,
                    to: 2
                },
                Op::GotoIfLL {
                    op: IntOp::I64LtU,
                    a: 0,
                    b: 1,
                    to: 1
                },
                Op::Return,
            ]
        );
    }

    #[test]
    fn a_back_edge_to_a_loops_exit_test_becomes_the_opposite_test_into_the_body() {
        let mut ops = [
            Op::GotoIfLI {
                op: IntOp::I32GeU,
                a: 0,
                c: 10,
                to: 3,
            },
            Op::IntLISet {
                op: IntOp::I32Add,
                a: 0,
                c: 1,
                d: 0,
            },
            Op::Goto(0),
            Op::Return,
        ];
        rotate(&mut ops);
        assert_eq!(
            ops[2],
            Op::GotoIfLI {
                op: IntOp::I32LtU,
                a: 0,
                c: 10,
                to: 1
            }
        );
        assert_eq!(
            ops[0],
            Op::GotoIfLI {
                op: IntOp::I32GeU,
                a: 0,
                c: 10,
                to: 3
            }
        );
    }

    #[test]
    fn a_back_edge_to_a_test_that_does_not_exit_just_after_it_stays() {
        // The test leaves to op 4, not to op 3 after the back-edge.
        let mut ops = [
            Op::GotoIfLL {
                op: IntOp::I64Eq,
                a: 0,
                b: 1,
                to: 4,
            },
            Op::Drop,
            Op::Goto(0),
            Op::Drop,
            Op::Return,
        ];
        let before = ops;
        rotate(&mut ops);
        assert_eq!(ops, before);
    }

    #[test]
    fn a_back_edge_to_a_test_that_is_no_comparison_stays() {
        // `br_if (i32.and a b)`: its opposite is no IntOp.
        let mut ops = [
            Op::GotoIfLL {
                op: IntOp::I32And,
                a: 0,
                b: 1,
                to: 2,
            },
            Op::Goto(0),
            Op::Return,
        ];
        let before = ops;
        rotate(&mut ops);
        assert_eq!(ops, before);
    }
}
