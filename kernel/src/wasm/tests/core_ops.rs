//! Core instructions: integers, control flow, locals, globals, memory.

use super::{call, instance, trap};
use crate::wasm::Val::{self, I32, I64};

#[test]
fn i32_add_returns_the_sum() {
    let i = instance(r#"(module (func (export "add") (param i32 i32) (result i32)
        local.get 0 local.get 1 i32.add))"#);
    assert_eq!(call(&i, "add", &[I32(2), I32(40)]), [I32(42)]);
}

#[test]
fn unreachable_traps_with_its_reason() {
    let i = instance(r#"(module (func (export "f") unreachable))"#);
    assert_eq!(trap(&i, "f", &[]), "unreachable");
    let _: Option<Val> = None;
    let _ = I64(0);
}
