//! Valid modules at the edges: counts, sizes and depths far beyond what
//! our programs use. Each must decode, instantiate and run, or be refused
//! with an error naming why; none may panic or overflow. (Malformed bytes
//! are the fuzzer's, `kernel/tests/fuzz.rs`.)
#![forbid(unsafe_code)]

use super::{BUDGET, STACK, call, instance};
use core::fmt::Write;
use kernel::cont::{MmapStacks, Store, StoreLimits};
use kernel::wasm::{Error, Instance, Module, Val};
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

/// What instantiating the module written as `wat` gives.
fn instantiate(wat: &str) -> Result<(), Error> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    let module = Module::new(&bytes).expect("the test's module validates");
    Instance::new(Arc::new(module), Store::new(MmapStacks::new(), STACK)).map(drop)
}

#[test]
fn a_function_with_fifty_thousand_locals_runs() {
    // One param, one i32 local, 49,998 i64 locals: wasmparser's limit
    // is 50,000 locals in all.
    let i = instance(&std::format!(
        r#"(module (func (export "f") (param i32) (result i32)
             (local i32) (local {many})
             (local.set 1 (i32.const 7))
             (local.set 49999 (i64.const 9))
             (i32.add (local.get 0)
               (i32.add (local.get 1) (i32.wrap_i64 (local.get 49999))))))"#,
        many = "i64 ".repeat(49_998)
    ));
    assert_eq!(call(&i, "f", &[Val::I32(5)]), [Val::I32(21)]);
}

#[test]
fn ten_thousand_nested_blocks_translate_and_branch_out_of_the_deepest() {
    let depth = 10_000;
    let mut wat =
        String::from(r#"(module (func (export "f") (result i32) (block $out (result i32) "#);
    for _ in 0..depth {
        wat.push_str("(block ");
    }
    wat.push_str("(br $out (i32.const 42))");
    for _ in 0..depth {
        wat.push(')');
    }
    wat.push_str("(unreachable))))");
    let i = instance(&wat);
    assert_eq!(call(&i, "f", &[]), [Val::I32(42)]);
}

#[test]
fn a_br_table_of_a_hundred_thousand_targets_takes_the_one_indexed() {
    let mut labels = String::new();
    for k in 0..100_000 {
        let _ = write!(labels, "{} ", if k == 77_777 { 1 } else { 0 });
    }
    let i = instance(&std::format!(
        r#"(module (func (export "f") (param i32) (result i32)
             (block (block (br_table {labels} 0 (local.get 0))) (return (i32.const 10)))
             (i32.const 20)))"#
    ));
    assert_eq!(call(&i, "f", &[Val::I32(77_777)]), [Val::I32(20)]);
    assert_eq!(call(&i, "f", &[Val::I32(3)]), [Val::I32(10)]);
    assert_eq!(call(&i, "f", &[Val::I32(-1)]), [Val::I32(10)]);
}

#[test]
fn a_function_of_a_thousand_params_and_a_thousand_results_is_called() {
    let n = 1000;
    let params = "i32 ".repeat(n);
    let i = instance(&std::format!(
        r#"(module
             (func $f (param {params}) (result {params})
               {gets})
             (func (export "g") (param {params}) (result i32) (local $top i32)
               {gets} (call $f) (local.set $top) {drops}
               (i32.add) (local.get $top) (i32.add)))"#,
        gets = (0..n)
            .map(|k| std::format!("(local.get {k})"))
            .collect::<Vec<_>>()
            .join(" "),
        drops = "(drop) ".repeat(n - 3),
    ));
    let args: Vec<Val> = (0..n as i32).map(|k| Val::I32(2 * k + 1)).collect();
    // The first two results and the last: 1 + 3 + 1999.
    assert_eq!(call(&i, "g", &args), [Val::I32(1 + 3 + 1999)]);
}

#[test]
fn ten_thousand_functions_globals_and_types_instantiate() {
    let mut wat = String::from("(module ");
    for k in 0..10_000 {
        let _ = write!(
            wat,
            "(type (func (result i32 i64 f32 f64 i32 i32 i32 i32 i32 i32 {})))",
            "i64 ".repeat(k % 7)
        );
        let _ = write!(
            wat,
            "(global (mut i32) (i32.const {k})) (func (result i32) (i32.const {k}))"
        );
    }
    wat.push_str(r#"(func (export "last") (result i32) (global.get 9999)))"#);
    let i = instance(&wat);
    assert_eq!(call(&i, "last", &[]), [Val::I32(9999)]);
}

#[test]
fn a_memory_larger_than_the_kernel_allows_is_an_instantiation_error() {
    // The default store's memory limit is 1 GiB: 16,384 pages.
    for pages in [16_385u64, 65_536] {
        let result = instantiate(&std::format!("(module (memory {pages}))"));
        assert!(
            matches!(
                result,
                Err(Error::Instantiate("memory larger than this kernel allows"))
            ),
            "{pages} pages: {result:?}"
        );
    }
    assert!(instantiate("(module (memory 256))").is_ok());
}

/// `memory.grow` by `delta` pages of a one-page memory (no maximum) in a
/// store whose memory limit is `limit` bytes.
fn grow_with_limit(limit: usize, delta: i32) -> Vec<Val> {
    let wat = r#"(module (memory 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let module = Module::new(&wat::parse_str(wat).unwrap()).unwrap();
    let mut store = Store::new(MmapStacks::new(), STACK);
    store.as_mut().set_memory_limit(limit);
    let i = Instance::new(Arc::new(module), store).expect("instantiates");
    call(&i, "grow", &[Val::I32(delta)])
}

#[test]
fn memory_grow_goes_up_to_the_stores_memory_limit() {
    // 40 MiB of limit: 640 pages; the memory has 1.
    assert_eq!(grow_with_limit(40 << 20, 639), [Val::I32(1)]);
    assert_eq!(grow_with_limit(40 << 20, 640), [Val::I32(-1)]);
}

#[test]
fn the_stores_heap_quota_no_longer_bounds_a_memory() {
    // Memories are not heap: a 1 MiB heap quota does not stop a grow to
    // 301 pages (about 19 MiB); while memories lived in the heap, a store
    // of that quota stopped at 256.
    let wat = r#"(module (memory 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let module = Module::new(&wat::parse_str(wat).unwrap()).unwrap();
    let limits = StoreLimits {
        heap_bytes: 1 << 20,
        ..StoreLimits::DEFAULT
    };
    let store = Store::with_limits(MmapStacks::new(), STACK, limits);
    let i = Instance::new(Arc::new(module), store).expect("instantiates");
    assert_eq!(call(&i, "grow", &[Val::I32(300)]), [Val::I32(1)]);
}

#[test]
fn memory_grow_stops_at_the_modules_maximum() {
    let wat = r#"(module (memory 1 3)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#;
    let i = instance(wat);
    assert_eq!(call(&i, "grow", &[Val::I32(3)]), [Val::I32(-1)]);
    assert_eq!(call(&i, "grow", &[Val::I32(2)]), [Val::I32(1)]);
}

#[test]
fn a_table_of_four_billion_elements_is_an_instantiation_error() {
    let result = instantiate("(module (table 0xffffffff funcref))");
    assert!(
        matches!(
            result,
            Err(Error::Instantiate("table larger than this kernel allows"))
        ),
        "{result:?}"
    );
}

#[test]
fn a_table_of_sixty_four_bit_size_is_refused_or_bounded() {
    let bytes = wat::parse_str("(module (table i64 0xffff_ffff_ffff funcref))")
        .expect("the test's WAT parses");
    match Module::new(&bytes) {
        Err(_) => {}
        Ok(m) => {
            let r = Instance::new(Arc::new(m), Store::new(MmapStacks::new(), STACK));
            assert!(
                matches!(
                    r,
                    Err(Error::Instantiate("table larger than this kernel allows"))
                ),
                "{:?}",
                r.err()
            );
        }
    }
}

#[test]
fn data_and_element_segments_at_the_top_of_the_address_range_trap_out_of_bounds() {
    let data = instantiate(r#"(module (memory 1) (data (i32.const -1) "ab"))"#);
    let reason = data.as_ref().err().and_then(|e| e.trap_reason());
    assert_eq!(reason, Some("out of bounds memory access"), "{data:?}");
    let elem = instantiate("(module (table 1 funcref) (func $f) (elem (i32.const -1) func $f $f))");
    let reason = elem.as_ref().err().and_then(|e| e.trap_reason());
    assert_eq!(reason, Some("out of bounds table access"), "{elem:?}");
}

#[test]
fn memory_grow_by_four_billion_pages_fails_with_minus_one() {
    let i = instance(
        r#"(module (memory 1) (func (export "grow") (param i32) (result i32)
             (memory.grow (local.get 0))))"#,
    );
    assert_eq!(call(&i, "grow", &[Val::I32(-1)]), [Val::I32(-1)]);
    assert_eq!(call(&i, "grow", &[Val::I32(1)]), [Val::I32(1)]);
}

#[test]
fn deep_recursion_under_the_largest_budget_is_a_clean_trap() {
    let i = instance(
        r#"(module (func $down (export "down") (param i32) (result i32)
             (call $down (i32.add (local.get 0) (i32.const 1)))))"#,
    );
    i.set_stack_budget(usize::MAX);
    assert_eq!(
        super::trap(&i, "down", &[Val::I32(0)]),
        "call stack exhausted"
    );
    i.set_stack_budget(BUDGET);
    assert_eq!(
        super::trap(&i, "down", &[Val::I32(0)]),
        "call stack exhausted"
    );
}
